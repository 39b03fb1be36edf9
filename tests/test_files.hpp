// Shared helpers of the tests that write files or compare whole models: a scratch directory,
// whole-file reads and writes, a model's parameter values and their bitwise comparison.
#ifndef SEQ2SEQ_TESTS_TEST_FILES_HPP
#define SEQ2SEQ_TESTS_TEST_FILES_HPP

#include <seq2seq/config.hpp>
#include <seq2seq/param.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <system_error>
#include <vector>

namespace seq2seq::test {

/// A fresh directory under the system temp dir, seq2seq_test_<tag>_<pid>_<n> (n counts every
/// TempDir of the process), removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "tmp") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("seq2seq_test_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// The path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  /// The names of the entries in the directory.
  std::set<std::string> listing() const {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) out.insert(e.path().filename().string());
    return out;
  }

 private:
  std::filesystem::path path_;
};

/// The whole file as bytes ("" when it cannot be opened).
inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Writes a fresh file (removing the old one first: ext4 flushes a truncated-and-rewritten file on
/// close, which makes thousands of rewrites of one name very slow).
inline void spit(const std::string& path, const std::string& bytes) {
  std::remove(path.c_str());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Every parameter value of a model, in visitor order.
template <typename Model>
auto values_of(const Model& m) {
  using S = typename Model::Scalar;
  std::vector<Matrix<S>> out;
  m.visit_parameters([&](const ParamName&, const Param<S>& p) { out.push_back(p.value); });
  return out;
}

/// Bitwise equality of parameter lists (== would also accept -0 == +0 and reject NaN == NaN).
template <typename S>
bool bit_equal(const std::vector<Matrix<S>>& a, const std::vector<Matrix<S>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].rows() != b[i].rows() || a[i].cols() != b[i].cols()) return false;
    if (std::memcmp(a[i].data(), b[i].data(), sizeof(S) * static_cast<std::size_t>(a[i].size())) != 0) return false;
  }
  return true;
}

}  // namespace seq2seq::test

#endif  // SEQ2SEQ_TESTS_TEST_FILES_HPP

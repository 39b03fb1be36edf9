// Crash-safe saving (DESIGN.md section 5): a child process saves two checkpoints A and B of a
// 1.6 MB model to the same path, alternately (starting with A or B in turn) and without pause; the
// parent kills it with SIGKILL at a random moment, 100 to 150 times. After every kill the file at the path
// must be A or B exactly (bytes and loaded values), never a mix or a truncated file. A kill
// mid-save leaves the child's temporary file (path.tmp.<pid>.<n>) behind: nothing can remove it
// after SIGKILL. The test checks that such leftovers never replace or break the target and removes
// them itself, as a user would.
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/seq2seq.hpp>

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_files.hpp"

namespace {

using namespace seq2seq;
namespace fs = std::filesystem;
using seq2seq::test::TempDir;
using seq2seq::test::slurp;

using Model = Seq2Seq<Encoder<StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic>>,
                      Decoder<StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic>>>;

// At least kMinKills kills; more, up to kMaxKills, while the time budget lasts.
constexpr int kMinKills = 100;
constexpr int kMaxKills = 150;
constexpr double kBudgetSeconds = 15.0;

/// 406k parameters: 1.6 MB of float data, so one save takes milliseconds (write, checksum, fsync).
ModelConfig crash_config() {
  ModelConfig c;
  c.source_vocab = 600;
  c.target_vocab = 600;
  c.embed = 64;
  c.hidden = 96;
  c.layers = 2;
  return c;
}

std::string values_bytes(const Model& m) {
  std::string out;
  m.visit_parameters([&](const ParamName&, const Param<float>& p) {
    out.append(reinterpret_cast<const char*>(p.value.data()), sizeof(float) * static_cast<std::size_t>(p.value.size()));
  });
  return out;
}

/// The child: writes one byte to `fd` (it is running), then saves `first`, `second`, `first`, ...
/// to `path` until killed. Never returns.
[[noreturn]] void save_forever(const std::string& path, const Model& first, const Model& second, const char* first_tag,
                               const char* second_tag, int fd) {
  try {
    const char byte = 'S';
    if (::write(fd, &byte, 1) != 1) ::_exit(4);
    for (std::uint64_t k = 0;; ++k) {
      const bool is_first = k % 2 == 0;
      io::save_parameters(path, is_first ? first : second, {{"which", is_first ? first_tag : second_tag}});
    }
  } catch (...) {
    ::_exit(3);
  }
}

}  // namespace

TEST_CASE("crash-safe saving: SIGKILL at random moments of repeated saves leaves the old or the new checkpoint, whole") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::string name = fs::path(path).filename().string();
  Model a(crash_config()), b(crash_config());
  {
    Rng rng(1);
    init_uniform(a, rng);
    init_uniform(b, rng);
  }
  io::save_parameters(dir.file("a.ref"), a, {{"which", "A"}});
  io::save_parameters(dir.file("b.ref"), b, {{"which", "B"}});
  const std::string bytes_a = slurp(dir.file("a.ref")), bytes_b = slurp(dir.file("b.ref"));
  REQUIRE(bytes_a.size() > 1500000);
  REQUIRE(bytes_a.size() == bytes_b.size());  // same layout, so a torn file could not tell by its size
  REQUIRE(bytes_a != bytes_b);
  const std::string values_a = values_bytes(a), values_b = values_bytes(b);
  io::save_parameters(path, a, {{"which", "A"}});

  // How long saves take in a child like the ones killed below (its fsync dominates: a few ms on an
  // idle disk, 100 ms and more on a busy one; a sanitizer build is slower still, and a forked child
  // pays for copy-on-write faults the parent does not). A calibration child reports after each of
  // its first two saves; kills are then spread over 0 .. max(20 ms, 1.5 x those two saves) after a
  // child starts, so they land in every phase of its first and second save whatever the machine.
  const auto child_two_saves = [&] {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      try {
        const char s = 'S', d = 'D';
        if (::write(fds[1], &s, 1) != 1) ::_exit(4);
        io::save_parameters(dir.file("calibration"), a, {{"which", "A"}});
        if (::write(fds[1], &d, 1) != 1) ::_exit(4);
        io::save_parameters(dir.file("calibration"), b, {{"which", "B"}});
        if (::write(fds[1], &d, 1) != 1) ::_exit(4);
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    const auto read_byte = [&] {
      char c = 0;
      ssize_t got;
      do got = ::read(fds[0], &c, 1);
      while (got < 0 && errno == EINTR);
      return got == 1 ? c : '\0';
    };
    REQUIRE(read_byte() == 'S');
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(read_byte() == 'D');
    REQUIRE(read_byte() == 'D');
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    ::close(fds[0]);
    REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    return seconds;
  };
  std::vector<double> save_seconds;
  for (int k = 0; k < 3; ++k) save_seconds.push_back(child_two_saves() / 2);
  std::sort(save_seconds.begin(), save_seconds.end());
  fs::remove(dir.file("calibration"));
  const auto max_delay_us = static_cast<std::uint64_t>(std::max(20000.0, 3e6 * save_seconds[1]));

  Rng delays(20240601);
  Model probe(crash_config());
  std::map<std::string, int> seen;  // "A" / "B" -> count
  int interrupted = 0, bad_files = 0, bad_children = 0;
  std::set<std::string> previous_leftovers;
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  int kills = 0;
  for (int kill_no = 0; kill_no < kMaxKills && (kill_no < kMinKills || elapsed() < kBudgetSeconds); ++kill_no) {
    CAPTURE(kill_no);
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(pipe_fds[0]);
      // Odd rounds start with B, so the file changes whether a kill lands in the first save or later.
      if (kill_no % 2 == 0)
        save_forever(path, a, b, "A", "B", pipe_fds[1]);
      else
        save_forever(path, b, a, "B", "A", pipe_fds[1]);
    }
    ::close(pipe_fds[1]);
    // Wait until the child runs, then let it save for a random time.
    char first = 0;
    ssize_t got;
    do got = ::read(pipe_fds[0], &first, 1);
    while (got < 0 && errno == EINTR);
    std::this_thread::sleep_for(std::chrono::microseconds(delays.below(max_delay_us + 1)));
    ::kill(pid, SIGKILL);
    ++kills;
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    ::close(pipe_fds[0]);
    if (got != 1 || first != 'S' || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      ++bad_children;
      continue;
    }

    // The target is exactly A or B, and it loads.
    const std::string bytes = slurp(path);
    const bool is_a = bytes == bytes_a, is_b = bytes == bytes_b;
    if (!is_a && !is_b) ++bad_files;
    std::map<std::string, std::string> meta;
    CHECK_NOTHROW(meta = io::load_parameters(path, probe));
    const std::string loaded = values_bytes(probe);
    CHECK((is_a ? loaded == values_a && meta["which"] == "A" : loaded == values_b && meta["which"] == "B"));
    ++seen[is_a ? "A" : is_b ? "B" : "torn"];

    // Anything else in the directory is a temporary of this child (at most one: it saves one file
    // at a time). The previous child's leftovers were kept through this round, to show that they
    // did not disturb its saves or the load above; now they go.
    std::set<std::string> leftovers;
    const std::string prefix = name + ".tmp." + std::to_string(pid) + ".";
    for (const auto& e : fs::directory_iterator(dir.path())) {
      const std::string f = e.path().filename().string();
      if (f == name || f == "a.ref" || f == "b.ref" || f == "calibration" || previous_leftovers.count(f)) continue;
      CHECK_MESSAGE(f.rfind(prefix, 0) == 0, "unexpected file ", f);
      leftovers.insert(f);
    }
    CHECK(leftovers.size() <= 1);
    interrupted += static_cast<int>(leftovers.size());
    for (const std::string& f : previous_leftovers) fs::remove(dir.path() / f);
    previous_leftovers = leftovers;
  }
  const double seconds = elapsed();
  CHECK(kills >= kMinKills);
  CHECK(bad_children == 0);
  CHECK(bad_files == 0);
  // Both outcomes happened and kills did land inside saves, so the test exercised what it claims.
  CHECK(seen["A"] > 0);
  CHECK(seen["B"] > 0);
  CHECK(interrupted > 0);
  MESSAGE("crash-safe saving: ", kills, " SIGKILLs survived in ", seconds, " s (", bytes_a.size(),
          "-byte checkpoints, one save in a child ", save_seconds[1] * 1000, " ms, kills 0-", max_delay_us / 1000,
          " ms after the child started; file was A ", seen["A"], " times, B ", seen["B"], " times; ", interrupted,
          " kills interrupted a save after it created its temporary file)");
}

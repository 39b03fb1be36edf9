// seq2seq: parallel corpora: the tab-separated reader, leak-free train/valid/test splits, and
// reference groups for multi-reference BLEU.
#ifndef SEQ2SEQ_DATA_CORPUS_HPP
#define SEQ2SEQ_DATA_CORPUS_HPP

#include "../rng.hpp"
#include "shuffle.hpp"
#include "tokenizer.hpp"
#include "utf8.hpp"

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace seq2seq {

/// One sentence pair, as raw text (not tokenized).
struct Pair {
  std::string source, target;
  friend bool operator==(const Pair& a, const Pair& b) { return a.source == b.source && a.target == b.target; }
  friend bool operator!=(const Pair& a, const Pair& b) { return !(a == b); }
};

namespace detail {

/// True when `field` holds nothing but whitespace in the tokenizer's sense (it is valid UTF-8).
inline bool is_blank_text(std::string_view field) {
  char32_t cp = 0;
  for (std::size_t pos = 0; pos < field.size();) {
    const std::size_t len = utf8::decode(field, pos, cp);
    if (len == 0 || !is_space_code_point(cp)) return false;
    pos += len;
  }
  return true;
}

inline bool is_blank_line(std::string_view line) {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\v' && c != '\f') return false;
  return true;
}

}  // namespace detail

/// Reads a parallel corpus in the Tatoeba/manythings format: one pair per line,
/// `source<TAB>target[<TAB>anything]`; the third and later fields (attribution) are ignored.
/// - line ends may be LF or CR LF (the carriage return is removed); a UTF-8 byte order mark at the start
///   of the input is skipped;
/// - blank lines (nothing but ASCII spaces, tabs, CR, VT, FF) are skipped;
/// - a line without a tab, or whose source or target is empty or only whitespace, or which is not
///   valid UTF-8, throws std::invalid_argument "seq2seq: NAME:LINE: ..." (LINE counts from 1 and
///   counts every line, blank ones included), e.g. "seq2seq: corpus.tsv:17: no tab separating source
///   and target";
/// - a stream that fails while reading throws std::runtime_error; no pair at all throws
///   std::invalid_argument "seq2seq: NAME: empty corpus (no sentence pairs)".
/// The fields are kept verbatim: tokenization is a separate step.
inline std::vector<Pair> read_tsv(std::istream& in, const std::string& name_for_errors) {
  std::vector<Pair> pairs;
  std::string line;
  std::size_t line_number = 0;
  const auto where = [&] { return "seq2seq: " + name_for_errors + ":" + std::to_string(line_number) + ": "; };
  while (std::getline(in, line)) {
    ++line_number;
    if (line_number == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (detail::is_blank_line(line)) continue;
    if (const auto e = utf8::find_error(line))
      throw std::invalid_argument(where() + "invalid UTF-8 at byte " + std::to_string(e->offset) + " of the line: " +
                                  e->reason);
    const std::size_t tab = line.find('\t');
    if (tab == std::string::npos) throw std::invalid_argument(where() + "no tab separating source and target");
    std::size_t end = line.find('\t', tab + 1);
    if (end == std::string::npos) end = line.size();
    Pair p{line.substr(0, tab), line.substr(tab + 1, end - tab - 1)};
    if (detail::is_blank_text(p.source)) throw std::invalid_argument(where() + "empty source sentence");
    if (detail::is_blank_text(p.target)) throw std::invalid_argument(where() + "empty target sentence");
    pairs.push_back(std::move(p));
  }
  if (in.bad() || !in.eof())
    throw std::runtime_error("seq2seq: " + name_for_errors + ": read error after line " + std::to_string(line_number));
  if (pairs.empty()) throw std::invalid_argument("seq2seq: " + name_for_errors + ": empty corpus (no sentence pairs)");
  return pairs;
}

/// read_tsv on the file at `path` (errors name the path as given). A missing, unreadable or
/// directory path throws std::runtime_error "seq2seq: cannot read corpus 'PATH': reason".
inline std::vector<Pair> read_tsv_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw std::runtime_error("seq2seq: cannot read corpus '" + path + "': it is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw std::runtime_error("seq2seq: cannot read corpus '" + path + "': " +
                             (err ? std::strerror(err) : "cannot open the file"));
  }
  return read_tsv(in, path);
}

/// Three disjoint parts of a corpus.
struct CorpusSplit {
  std::vector<Pair> train, valid, test;
};

/// Splits `pairs` into train / valid / test so that no source sentence appears in two parts: pairs
/// are grouped by their exact source string, and whole groups are assigned. The groups are put in a
/// random order drawn from Rng(seed) (seq2seq::shuffle); the first round(test_fraction * G) of the G
/// groups go to test, the next round(valid_fraction * G) to valid, the rest to train. A positive
/// fraction always gets at least one group. The fractions therefore count distinct source
/// sentences, not pairs. Inside each part the pairs keep their corpus order.
/// The result depends only on `pairs` and `seed`. Throws std::invalid_argument when a fraction is
/// outside [0, 1), or when nothing would be left for training.
inline CorpusSplit split(const std::vector<Pair>& pairs, double valid_fraction, double test_fraction,
                         std::uint64_t seed) {
  const auto check_fraction = [](double f, const char* name) {
    if (!(f >= 0.0 && f < 1.0))
      throw std::invalid_argument(std::string("seq2seq: split: ") + name + " fraction " + std::to_string(f) +
                                  " is not in [0, 1)");
  };
  check_fraction(valid_fraction, "validation");
  check_fraction(test_fraction, "test");
  // Group ids in order of first appearance.
  std::unordered_map<std::string_view, std::size_t> group_of;
  std::vector<std::size_t> pair_group(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto [it, inserted] = group_of.try_emplace(pairs[i].source, group_of.size());
    pair_group[i] = it->second;
    (void)inserted;
  }
  const std::size_t groups = group_of.size();
  const auto share = [groups](double f) {
    if (f <= 0.0) return std::size_t{0};
    const auto n = static_cast<std::size_t>(std::llround(f * static_cast<double>(groups)));
    return n == 0 ? std::size_t{1} : n;
  };
  const std::size_t n_test = share(test_fraction), n_valid = share(valid_fraction);
  if (n_test + n_valid >= groups)
    throw std::invalid_argument("seq2seq: split: " + std::to_string(groups) + " distinct source sentences leave none " +
                                "for training after " + std::to_string(n_valid) + " for validation and " +
                                std::to_string(n_test) + " for test");
  std::vector<std::size_t> order(groups);
  for (std::size_t g = 0; g < groups; ++g) order[g] = g;
  Rng rng(seed);
  shuffle(order, rng);
  enum Part : unsigned char { train_part, valid_part, test_part };
  std::vector<Part> part_of(groups, train_part);
  for (std::size_t k = 0; k < n_test; ++k) part_of[order[k]] = test_part;
  for (std::size_t k = n_test; k < n_test + n_valid; ++k) part_of[order[k]] = valid_part;
  CorpusSplit out;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    switch (part_of[pair_group[i]]) {
      case train_part: out.train.push_back(pairs[i]); break;
      case valid_part: out.valid.push_back(pairs[i]); break;
      case test_part: out.test.push_back(pairs[i]); break;
    }
  }
  return out;
}

/// One source sentence and all its distinct targets: the references of multi-reference BLEU.
struct ReferenceGroup {
  std::string source;
  std::vector<std::string> targets;
};

/// Groups `pairs` by exact source string: one entry per distinct source, in order of first
/// appearance, each with its distinct targets in order of first appearance (a pair repeated in the
/// corpus adds nothing). Evaluation translates each source once and scores it against all targets.
inline std::vector<ReferenceGroup> group_references(const std::vector<Pair>& pairs) {
  std::vector<ReferenceGroup> groups;
  std::unordered_map<std::string_view, std::size_t> group_of;
  for (const Pair& p : pairs) {
    const auto [it, inserted] = group_of.try_emplace(p.source, groups.size());
    if (inserted) groups.push_back(ReferenceGroup{p.source, {}});
    auto& targets = groups[it->second].targets;
    bool seen = false;
    for (const std::string& t : targets) seen = seen || t == p.target;
    if (!seen) targets.push_back(p.target);
  }
  return groups;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_CORPUS_HPP

// seq2seq: a target-vocabulary shortlist for decoding: the words a batch of sources can plausibly
// be translated into, learned from a parallel corpus (IBM Model 1) or read from a file.
#ifndef SEQ2SEQ_DATA_SHORTLIST_HPP
#define SEQ2SEQ_DATA_SHORTLIST_HPP

#include "../detail/require.hpp"
#include "types.hpp"
#include "vocab.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seq2seq {

/// How Shortlist::learn chooses the words.
struct ShortlistOptions {
  std::int64_t k = 20;          // target words kept per source word (the k most likely translations)
  std::int64_t frequent = 100;  // the most frequent target words, kept for every batch
  int iterations = 5;    // EM iterations of IBM Model 1
};

/// For every source word, the k target words most likely to translate it, plus a list of target
/// words kept for every sentence (the most frequent ones, <unk> and <EOS>). Decoding with a
/// shortlist (DecodeOptions::shortlist) computes the softmax of each batch only over the union of
/// the lists of its source words: rows_for() gives that union, sorted by id. Probabilities are
/// then normalised over the shortlist, so log-probabilities are approximate (higher than the full
/// softmax's), which is why beam search keeps the exact softmax unless a shortlist is asked for.
///
/// learn() fits IBM Model 1 (Brown et al. 1993: t(f | e) by expectation-maximisation over the
/// sentence pairs, a NULL source word included, t initialised uniform over the co-occurring
/// words) and keeps, for every source word e, the k words f with the largest t(f | e) (ties: the
/// lower id). Deterministic: the same pairs give the same lists.
///
/// Text form (to_text / from_text / load / save), UTF-8, one line per source word:
///   # seq2seq shortlist 1 ...          first line, the rest of it free text
///   TAB w1 w2 ...                      empty source field (the line starts with a tab): the words
///                                      kept for every batch
///   source_word TAB t1 t2 ...          the target words of one source word, best first (TAB: a tab)
/// Lines that are empty are skipped. Words are the vocabularies' spellings; a word neither
/// vocabulary knows, a repeated source word or a line without a tab is an error naming the line.
class Shortlist {
 public:
  /// An empty shortlist for vocabularies of the given sizes (every batch keeps only <unk> and <EOS>).
  explicit Shortlist(std::size_t source_vocab = 0, std::size_t target_vocab = 0)
      : source_vocab_(source_vocab), target_vocab_(target_vocab), candidates_(source_vocab) {}

  static Shortlist learn(const std::vector<Sentence>& sources, const std::vector<Sentence>& targets,
                         std::size_t source_vocab, std::size_t target_vocab, const ShortlistOptions& options = {});

  std::size_t source_vocab() const { return source_vocab_; }
  std::size_t target_vocab() const { return target_vocab_; }
  /// Target words kept for every batch (besides <unk> and <EOS>).
  const std::vector<TokenId>& always() const { return always_; }
  /// Target words of one source word, best first.
  const std::vector<TokenId>& candidates(TokenId source_word) const {
    check_source(source_word);
    return candidates_[static_cast<std::size_t>(source_word)];
  }
  /// Sets the lists (ids are checked against the vocabulary sizes).
  void set_always(std::vector<TokenId> words) {
    for (TokenId w : words) check_target(w);
    always_ = std::move(words);
  }
  void set_candidates(TokenId source_word, std::vector<TokenId> words) {
    check_source(source_word);
    for (TokenId w : words) check_target(w);
    candidates_[static_cast<std::size_t>(source_word)] = std::move(words);
  }

  /// The sorted union of <unk>, <EOS>, always() and the candidates of every word of `sources`.
  /// `marks` is scratch of the caller (one byte per target word), so a steady state allocates
  /// nothing once `rows` and `marks` have their size.
  template <typename Sources>
  void rows_for(const Sources& sources, std::vector<TokenId>& rows, std::vector<char>& marks) const {
    marks.assign(target_vocab_, 0);
    const auto mark = [&](TokenId w) { marks[static_cast<std::size_t>(w)] = 1; };
    mark(Special::unk);
    mark(Special::eos);
    for (TokenId w : always_) mark(w);
    for (const auto& s : sources)
      for (TokenId w : deref(s)) {
        check_source(w);
        for (TokenId t : candidates_[static_cast<std::size_t>(w)]) mark(t);
      }
    rows.clear();
    for (std::size_t t = 0; t < marks.size(); ++t)
      if (marks[t]) rows.push_back(static_cast<TokenId>(t));
  }

  std::string to_text(const Vocab& source, const Vocab& target) const;
  /// Parses to_text's form; `where` names the text in error messages (a file name).
  static Shortlist from_text(const std::string& text, const Vocab& source, const Vocab& target,
                             const std::string& where = "shortlist");
  static Shortlist load(const std::string& path, const Vocab& source, const Vocab& target);
  void save(const std::string& path, const Vocab& source, const Vocab& target) const;

  friend bool operator==(const Shortlist& a, const Shortlist& b) {
    return a.source_vocab_ == b.source_vocab_ && a.target_vocab_ == b.target_vocab_ && a.always_ == b.always_ &&
           a.candidates_ == b.candidates_;
  }

 private:
  static const Sentence& deref(const Sentence& s) { return s; }
  static const Sentence& deref(const Sentence* s) { return *s; }

  void check_source(TokenId w) const {
    if (w < 0 || static_cast<std::size_t>(w) >= source_vocab_)
      throw std::invalid_argument("seq2seq: Shortlist: source id " + std::to_string(w) + " is outside the vocabulary of " +
                                  std::to_string(source_vocab_) + " words");
  }
  void check_target(TokenId w) const {
    if (w < 0 || static_cast<std::size_t>(w) >= target_vocab_)
      throw std::invalid_argument("seq2seq: Shortlist: target id " + std::to_string(w) + " is outside the vocabulary of " +
                                  std::to_string(target_vocab_) + " words");
    if (w == Special::pad || w == Special::bos)
      throw std::invalid_argument("seq2seq: Shortlist: <pad> and <s> are never translations");
  }

  std::size_t source_vocab_ = 0, target_vocab_ = 0;
  std::vector<TokenId> always_;
  std::vector<std::vector<TokenId>> candidates_;
};

// ---------------------------------------------------------------------------------------------

inline Shortlist Shortlist::learn(const std::vector<Sentence>& sources, const std::vector<Sentence>& targets,
                                  std::size_t source_vocab, std::size_t target_vocab, const ShortlistOptions& options) {
  detail::require(sources.size() == targets.size(), "Shortlist::learn: as many sources as targets are needed");
  detail::require(options.k >= 1, [&] { return "Shortlist::learn: k must be at least 1, got " + std::to_string(options.k); });
  detail::require(options.frequent >= 0, "Shortlist::learn: frequent must not be negative");
  detail::require(options.iterations >= 1, "Shortlist::learn: at least one EM iteration is needed");
  Shortlist out(source_vocab, target_vocab);
  const auto is_word = [](TokenId t) { return t != Special::pad && t != Special::bos && t != Special::eos; };
  for (std::size_t p = 0; p < sources.size(); ++p) {
    for (TokenId w : sources[p]) out.check_source(w);
    for (TokenId w : targets[p])
      if (w < 0 || static_cast<std::size_t>(w) >= target_vocab)
        throw std::invalid_argument("seq2seq: Shortlist::learn: target id " + std::to_string(w) +
                                    " is outside the vocabulary of " + std::to_string(target_vocab) + " words");
  }

  // The most frequent target words.
  std::vector<std::int64_t> count(target_vocab, 0);
  for (const Sentence& y : targets)
    for (TokenId w : y) ++count[static_cast<std::size_t>(w)];
  std::vector<TokenId> by_count;
  for (std::size_t w = 0; w < target_vocab; ++w)
    if (count[w] > 0 && is_word(static_cast<TokenId>(w))) by_count.push_back(static_cast<TokenId>(w));
  std::stable_sort(by_count.begin(), by_count.end(),
                   [&](TokenId a, TokenId b) { return count[static_cast<std::size_t>(a)] > count[static_cast<std::size_t>(b)]; });
  if (static_cast<std::int64_t>(by_count.size()) > options.frequent) by_count.resize(static_cast<std::size_t>(options.frequent));
  std::sort(by_count.begin(), by_count.end());
  out.always_ = by_count;

  // IBM Model 1. Source word `null` (= source_vocab) is the NULL word; t(f | e) is stored for the
  // pairs (e, f) that occur in one sentence pair, sorted by f, so one binary search finds it.
  const std::size_t null = source_vocab;
  std::vector<std::vector<TokenId>> cooc(source_vocab + 1);
  for (std::size_t p = 0; p < sources.size(); ++p)
    for (TokenId f : targets[p]) {
      if (!is_word(f)) continue;
      for (TokenId e : sources[p]) cooc[static_cast<std::size_t>(e)].push_back(f);
      cooc[null].push_back(f);
    }
  std::vector<std::vector<double>> t(source_vocab + 1), c(source_vocab + 1);
  for (std::size_t e = 0; e <= source_vocab; ++e) {
    auto& v = cooc[e];
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    t[e].assign(v.size(), v.empty() ? 0.0 : 1.0 / static_cast<double>(v.size()));
    c[e].assign(v.size(), 0.0);
  }
  const auto slot = [&](std::size_t e, TokenId f) {
    const auto& v = cooc[e];
    return static_cast<std::size_t>(std::lower_bound(v.begin(), v.end(), f) - v.begin());
  };
  std::vector<double> total(source_vocab + 1);
  for (int it = 0; it < options.iterations; ++it) {
    for (auto& v : c) std::fill(v.begin(), v.end(), 0.0);
    std::fill(total.begin(), total.end(), 0.0);
    for (std::size_t p = 0; p < sources.size(); ++p) {
      const Sentence& x = sources[p];
      for (TokenId f : targets[p]) {
        if (!is_word(f)) continue;
        double z = t[null][slot(null, f)];
        for (TokenId e : x) z += t[static_cast<std::size_t>(e)][slot(static_cast<std::size_t>(e), f)];
        if (z <= 0) continue;
        const auto add = [&](std::size_t e) {
          const std::size_t s = slot(e, f);
          const double share = t[e][s] / z;
          c[e][s] += share;
          total[e] += share;
        };
        add(null);
        for (TokenId e : x) add(static_cast<std::size_t>(e));
      }
    }
    for (std::size_t e = 0; e <= source_vocab; ++e)
      for (std::size_t s = 0; s < t[e].size(); ++s) t[e][s] = total[e] > 0 ? c[e][s] / total[e] : 0.0;
  }
  for (std::size_t e = 0; e < source_vocab; ++e) {
    std::vector<std::size_t> order(cooc[e].size());
    for (std::size_t s = 0; s < order.size(); ++s) order[s] = s;
    const std::size_t keep = std::min(order.size(), static_cast<std::size_t>(options.k));
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                      [&](std::size_t a, std::size_t b) {
                        if (t[e][a] != t[e][b]) return t[e][a] > t[e][b];
                        return cooc[e][a] < cooc[e][b];
                      });
    auto& list = out.candidates_[e];
    for (std::size_t s = 0; s < keep; ++s) list.push_back(cooc[e][order[s]]);
  }
  return out;
}

inline std::string Shortlist::to_text(const Vocab& source, const Vocab& target) const {
  detail::require(source.size() == source_vocab_ && target.size() == target_vocab_,
                  "Shortlist::to_text: the vocabularies have other sizes than the shortlist");
  const auto word = [](const Vocab& v, TokenId id) -> const std::string& {
    const std::string& w = v.word(id);
    if (w.find_first_of(" \t\r\n") != std::string::npos)
      throw std::invalid_argument("seq2seq: Shortlist::to_text: the word '" + w + "' holds white space");
    return w;
  };
  std::string out = "# seq2seq shortlist 1: " + std::to_string(source_vocab_) + " source words, " +
                    std::to_string(target_vocab_) + " target words\n";
  const auto line = [&](const std::string& head, const std::vector<TokenId>& words) {
    out += head;
    out += '\t';
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (i) out += ' ';
      out += word(target, words[i]);
    }
    out += '\n';
  };
  line("", always_);
  for (std::size_t e = 0; e < candidates_.size(); ++e)
    if (!candidates_[e].empty()) line(word(source, static_cast<TokenId>(e)), candidates_[e]);
  return out;
}

inline Shortlist Shortlist::from_text(const std::string& text, const Vocab& source, const Vocab& target,
                                      const std::string& where) {
  Shortlist out(source.size(), target.size());
  std::istringstream in(text);
  std::string line;
  std::size_t number = 0;
  const auto fail = [&](const std::string& what) {
    return std::invalid_argument("seq2seq: shortlist '" + where + "' line " + std::to_string(number) + ": " + what);
  };
  std::vector<char> seen(source.size(), 0);
  bool header = false;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!header) {
      if (line.rfind("# seq2seq shortlist 1", 0) != 0)
        throw fail("not a shortlist (the first line must start with '# seq2seq shortlist 1')");
      header = true;
      continue;
    }
    if (line.empty()) continue;
    const std::size_t tab = line.find('\t');
    if (tab == std::string::npos) throw fail("no tab between the source word and its target words");
    if (line.find('\t', tab + 1) != std::string::npos) throw fail("more than one tab");
    const std::string head = line.substr(0, tab);
    std::vector<TokenId> words;
    std::istringstream ws(line.substr(tab + 1));
    std::string w;
    while (ws >> w) {
      if (!target.contains(w)) throw fail("unknown target word '" + w + "'");
      const TokenId id = target.id(w);
      if (id == Special::pad || id == Special::bos) throw fail("'" + w + "' is never a translation");
      words.push_back(id);
    }
    if (head.empty()) {
      out.always_.insert(out.always_.end(), words.begin(), words.end());
      continue;
    }
    if (!source.contains(head)) throw fail("unknown source word '" + head + "'");
    const TokenId e = source.id(head);
    if (seen[static_cast<std::size_t>(e)]) throw fail("source word '" + head + "' listed twice");
    seen[static_cast<std::size_t>(e)] = 1;
    out.candidates_[static_cast<std::size_t>(e)] = std::move(words);
  }
  if (!header) {
    number = 1;
    throw fail("empty (the first line must start with '# seq2seq shortlist 1')");
  }
  std::sort(out.always_.begin(), out.always_.end());
  out.always_.erase(std::unique(out.always_.begin(), out.always_.end()), out.always_.end());
  return out;
}

inline Shortlist Shortlist::load(const std::string& path, const Vocab& source, const Vocab& target) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::invalid_argument("seq2seq: cannot open shortlist '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  return from_text(ss.str(), source, target, path);
}

inline void Shortlist::save(const std::string& path, const Vocab& source, const Vocab& target) const {
  const std::string text = to_text(source, target);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f || !(f << text) || !f.flush()) throw std::runtime_error("seq2seq: cannot write shortlist '" + path + "'");
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_SHORTLIST_HPP

// seq2seq: corpus-level BLEU-4 (Papineni, Roukos, Ward & Zhu 2002), multi-reference.
#ifndef SEQ2SEQ_EVAL_BLEU_HPP
#define SEQ2SEQ_EVAL_BLEU_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace seq2seq {

/// Maximum n-gram order of BLEU-4.
constexpr int bleu_max_order = 4;

/// How a zero n-gram precision is treated.
enum class BleuSmoothing {
  none,    ///< the paper's BLEU: any order with no match gives BLEU 0
  add_one  ///< orders n >= 2 use (matches + 1) / (total + 1) (sacrebleu's "add-k" with k = 1)
};

/// Corpus BLEU and the statistics it is computed from.
///   p_n  = (sum over sentences of clipped n-gram matches) / (sum of hypothesis n-grams), n = 1..4
///   BP   = 1 if c > r else exp(1 - r / c), c = hypothesis length, r = effective reference length
///          (both summed over the corpus; BP = 0 when c = 0)
///   BLEU = 100 * BP * exp((log p_1 + ... + log p_4) / 4), and 0 when some p_n is 0.
struct BleuResult {
  double bleu = 0;                       ///< 0..100
  double precisions[bleu_max_order] = {};  ///< p_1..p_4 in percent (smoothed ones when smoothing)
  double brevity_penalty = 0;            ///< BP, 0..1
  std::size_t hyp_len = 0, ref_len = 0;  ///< c and r
  std::size_t matches[bleu_max_order] = {};  ///< clipped n-gram matches, summed over the corpus
  std::size_t totals[bleu_max_order] = {};   ///< hypothesis n-grams, summed over the corpus
};

/// Sufficient statistics of corpus BLEU, accumulated one sentence at a time (so an evaluation loop
/// need not keep every hypothesis). corpus_bleu is `add` over the corpus and then `result`.
struct BleuStats {
  std::size_t matches[bleu_max_order] = {};
  std::size_t totals[bleu_max_order] = {};
  std::size_t hyp_len = 0, ref_len = 0;
  std::size_t sentences = 0;

  /// Adds one hypothesis and its references (at least one). For each order n, each n-gram of the
  /// hypothesis counts as matched at most as many times as it occurs in the reference that holds it
  /// most often (clipping). The effective reference length is the reference length closest to the
  /// hypothesis length, the shorter one on a tie. Tokens need only operator< and operator==.
  template <typename Token>
  void add(const std::vector<Token>& hyp, const std::vector<std::vector<Token>>& refs);

  /// BLEU of everything added so far. Throws std::invalid_argument when nothing was added.
  BleuResult result(BleuSmoothing smoothing = BleuSmoothing::none) const;
};

/// Corpus BLEU-4 of `hyps` against `refs` (refs[i] = the references of hyps[i], at least one each).
/// Works on words (std::string) and on token ids alike. Throws std::invalid_argument when the two
/// lists differ in length, a sentence has no reference, or the corpus is empty.
template <typename Token>
BleuResult corpus_bleu(const std::vector<std::vector<Token>>& hyps,
                       const std::vector<std::vector<std::vector<Token>>>& refs,
                       BleuSmoothing smoothing = BleuSmoothing::none) {
  if (hyps.size() != refs.size())
    throw std::invalid_argument("seq2seq: corpus_bleu: " + std::to_string(hyps.size()) + " hypotheses but " +
                                std::to_string(refs.size()) + " reference sets");
  BleuStats stats;
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    if (refs[i].empty())
      throw std::invalid_argument("seq2seq: corpus_bleu: sentence " + std::to_string(i) + " has no reference");
    stats.add(hyps[i], refs[i]);
  }
  return stats.result(smoothing);
}

namespace detail {

/// Start pointers of every n-gram of `s`, sorted so that equal n-grams are adjacent.
template <typename Token>
void sorted_ngrams(const std::vector<Token>& s, std::size_t n, std::vector<const Token*>& out) {
  out.clear();
  if (s.size() < n) return;
  for (std::size_t i = 0; i + n <= s.size(); ++i) out.push_back(s.data() + i);
  std::sort(out.begin(), out.end(),
            [n](const Token* a, const Token* b) { return std::lexicographical_compare(a, a + n, b, b + n); });
}

}  // namespace detail

template <typename Token>
void BleuStats::add(const std::vector<Token>& hyp, const std::vector<std::vector<Token>>& refs) {
  if (refs.empty()) throw std::invalid_argument("seq2seq: BLEU: a hypothesis needs at least one reference");
  const std::size_t c = hyp.size();
  std::size_t r = refs[0].size();
  for (const auto& ref : refs) {
    const std::size_t len = ref.size();
    const std::size_t d = len > c ? len - c : c - len, best = r > c ? r - c : c - r;
    if (d < best || (d == best && len < r)) r = len;
  }
  hyp_len += c;
  ref_len += r;
  ++sentences;

  std::vector<const Token*> hyp_grams;
  std::vector<std::vector<const Token*>> ref_grams(refs.size());
  for (std::size_t n = 1; n <= static_cast<std::size_t>(bleu_max_order); ++n) {
    if (c < n) break;
    totals[n - 1] += c - n + 1;
    const auto less = [n](const Token* a, const Token* b) { return std::lexicographical_compare(a, a + n, b, b + n); };
    detail::sorted_ngrams(hyp, n, hyp_grams);
    for (std::size_t k = 0; k < refs.size(); ++k) detail::sorted_ngrams(refs[k], n, ref_grams[k]);
    // Walk the runs of equal hypothesis n-grams; clip each run by its largest count in one reference.
    for (std::size_t begin = 0; begin < hyp_grams.size();) {
      std::size_t end = begin + 1;
      while (end < hyp_grams.size() && !less(hyp_grams[begin], hyp_grams[end])) ++end;
      const std::size_t count = end - begin;
      std::size_t max_ref = 0;
      for (const auto& grams : ref_grams) {
        const auto range = std::equal_range(grams.begin(), grams.end(), hyp_grams[begin], less);
        max_ref = std::max(max_ref, static_cast<std::size_t>(range.second - range.first));
      }
      matches[n - 1] += std::min(count, max_ref);
      begin = end;
    }
  }
}

inline BleuResult BleuStats::result(BleuSmoothing smoothing) const {
  if (sentences == 0) throw std::invalid_argument("seq2seq: corpus_bleu: empty corpus");
  BleuResult res;
  res.hyp_len = hyp_len;
  res.ref_len = ref_len;
  double log_sum = 0;
  bool zero = false;
  for (int k = 0; k < bleu_max_order; ++k) {
    res.matches[k] = matches[k];
    res.totals[k] = totals[k];
    double m = static_cast<double>(matches[k]), t = static_cast<double>(totals[k]);
    if (smoothing == BleuSmoothing::add_one && k >= 1) m += 1, t += 1;
    const double p = t > 0 ? m / t : 0.0;
    res.precisions[k] = 100.0 * p;
    if (p > 0)
      log_sum += std::log(p);
    else
      zero = true;
  }
  if (hyp_len == 0)
    res.brevity_penalty = 0;
  else if (hyp_len > ref_len)
    res.brevity_penalty = 1;
  else
    res.brevity_penalty = std::exp(1.0 - static_cast<double>(ref_len) / static_cast<double>(hyp_len));
  res.bleu = zero ? 0.0 : 100.0 * res.brevity_penalty * std::exp(log_sum / bleu_max_order);
  return res;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_EVAL_BLEU_HPP

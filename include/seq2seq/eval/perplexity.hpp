// seq2seq: perplexity from summed negative log-likelihoods, and the exact-match rate of translations.
#ifndef SEQ2SEQ_EVAL_PERPLEXITY_HPP
#define SEQ2SEQ_EVAL_PERPLEXITY_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace seq2seq {

/// exp(total_nll / tokens): the perplexity of `tokens` predicted tokens whose negative natural-log
/// likelihoods sum to `total_nll` (count every token the model predicts, <EOS> included, as the paper
/// does). Throws std::invalid_argument when tokens is 0 or total_nll is NaN, infinite or negative
/// (a tolerance of 1e-6 per token absorbs rounding in a log-softmax; such a result is clamped to 1).
/// May return +infinity when the mean exceeds about 709 nats.
inline double perplexity(double total_nll, std::size_t tokens) {
  if (tokens == 0) throw std::invalid_argument("seq2seq: perplexity of zero tokens");
  if (!std::isfinite(total_nll))
    throw std::invalid_argument("seq2seq: perplexity: negative log-likelihood is " + std::to_string(total_nll));
  const double mean = total_nll / static_cast<double>(tokens);
  if (mean < -1e-6)
    throw std::invalid_argument("seq2seq: perplexity: negative log-likelihood " + std::to_string(total_nll) +
                                " is negative");
  return std::exp(std::max(mean, 0.0));
}

/// Running sum of token negative log-likelihoods, for perplexity over many batches.
struct NllAccumulator {
  double total_nll = 0;
  std::size_t tokens = 0;

  /// Adds `nll`, the summed negative log-likelihood of `count` tokens.
  void add(double nll, std::size_t count) {
    total_nll += nll;
    tokens += count;
  }
  /// Mean negative log-likelihood per token (nats); throws when no token was added.
  double mean() const {
    if (tokens == 0) throw std::invalid_argument("seq2seq: mean negative log-likelihood of zero tokens");
    return total_nll / static_cast<double>(tokens);
  }
  double perplexity() const { return seq2seq::perplexity(total_nll, tokens); }
};

/// Fraction (0..1) of hypotheses equal, token for token, to at least one of their references.
/// Throws std::invalid_argument when the lists differ in length or are empty.
template <typename Token>
double exact_match_rate(const std::vector<std::vector<Token>>& hyps,
                        const std::vector<std::vector<std::vector<Token>>>& refs) {
  if (hyps.size() != refs.size())
    throw std::invalid_argument("seq2seq: exact_match_rate: " + std::to_string(hyps.size()) + " hypotheses but " +
                                std::to_string(refs.size()) + " reference sets");
  if (hyps.empty()) throw std::invalid_argument("seq2seq: exact_match_rate of an empty corpus");
  std::size_t hits = 0;
  for (std::size_t i = 0; i < hyps.size(); ++i)
    if (std::find(refs[i].begin(), refs[i].end(), hyps[i]) != refs[i].end()) ++hits;
  return static_cast<double>(hits) / static_cast<double>(hyps.size());
}

/// Single-reference form: refs[i] is the one reference of hyps[i].
template <typename Token>
double exact_match_rate(const std::vector<std::vector<Token>>& hyps, const std::vector<std::vector<Token>>& refs) {
  if (hyps.size() != refs.size())
    throw std::invalid_argument("seq2seq: exact_match_rate: " + std::to_string(hyps.size()) + " hypotheses but " +
                                std::to_string(refs.size()) + " references");
  if (hyps.empty()) throw std::invalid_argument("seq2seq: exact_match_rate of an empty corpus");
  std::size_t hits = 0;
  for (std::size_t i = 0; i < hyps.size(); ++i)
    if (hyps[i] == refs[i]) ++hits;
  return static_cast<double>(hits) / static_cast<double>(hyps.size());
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_EVAL_PERPLEXITY_HPP

// seq2seq: left-to-right beam search over any next-word scorer (one model or an ensemble).
#ifndef SEQ2SEQ_BEAM_SEARCH_HPP
#define SEQ2SEQ_BEAM_SEARCH_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.hpp"
#include "data/types.hpp"

namespace seq2seq {

class Shortlist;  // data/shortlist.hpp

/// How to decode. The defaults are the paper's: no length normalisation.
struct DecodeOptions {
  Index beam = 1;           // hypotheses kept per step (the paper: 1, 2, 12)
  Index nbest = 1;          // complete hypotheses returned (at most `beam`; with `sample`, the draws)
  Index max_length = 0;     // most words before <EOS>; 0 = 2 * source length + 10
  double length_alpha = 0;  // > 0: rank complete hypotheses by log p / (words + 1)^alpha
  // Sampling (back-translation): with `sample`, translating a list of sentences draws `nbest`
  // translations of each, word by word from p(word | ...)^(1 / temperature), renormalised over
  // the top_k most likely words when top_k > 0 (never <pad> or <s>), instead of searching; beam is
  // not used. Sentence i of the list draws from its own generator, seeded from `seed` and i, so a
  // seed gives the same translations whatever the batch size.
  bool sample = false;
  double temperature = 1.0;  // > 0
  Index top_k = 0;           // 0 = every word
  std::uint64_t seed = 0;
  // Translating a list: sentences decoded together (sorted by length, their hypotheses as the
  // columns of one batch), and an optional target-vocabulary shortlist (not owned; it must outlive
  // the call): each batch's softmax then covers only the shortlist's words for its sources, and
  // log-probabilities are normalised over those words.
  Index batch_size = 64;
  const Shortlist* shortlist = nullptr;
};

/// Throws std::invalid_argument naming the first option out of range.
inline void check_decode_options(const DecodeOptions& opt) {
  detail::require(opt.beam >= 1,
                  [&] { return "decoding: beam size must be at least 1, got " + std::to_string(opt.beam); });
  if (opt.sample)
    detail::require(opt.nbest >= 1, [&] { return "decoding: nbest must be at least 1, got " + std::to_string(opt.nbest); });
  else
    detail::require(opt.nbest >= 1 && opt.nbest <= opt.beam, [&] {
      return "decoding: nbest must be between 1 and the beam size (" + std::to_string(opt.beam) + "), got " +
             std::to_string(opt.nbest);
    });
  detail::require(opt.max_length >= 0, [&] {
    return "decoding: max_length must not be negative, got " + std::to_string(opt.max_length);
  });
  detail::require(std::isfinite(opt.length_alpha), "decoding: length_alpha must be finite");
  detail::require(std::isfinite(opt.temperature) && opt.temperature > 0, [&] {
    return "decoding: temperature must be positive and finite, got " + std::to_string(opt.temperature);
  });
  detail::require(opt.top_k >= 0, [&] { return "decoding: top_k must not be negative, got " + std::to_string(opt.top_k); });
  detail::require(opt.batch_size >= 1,
                  [&] { return "decoding: batch_size must be at least 1, got " + std::to_string(opt.batch_size); });
}

/// A complete translation: words without <EOS>, log p(words, <EOS> | source), the ranking score.
struct Hypothesis {
  Sentence tokens;
  double log_prob = 0;
  double score = 0;
};

namespace detail {
struct Candidate {
  double score;
  Index parent;
  TokenId token;
};
}  // namespace detail

/// Left-to-right beam search (Sutskever et al. 2014, section 3.2). `scorer` provides
///   `Index vocab_size() const;`
///   `void start(Index K);`                                      K copies of the initial state
///   `template <class M> void step(const std::vector<TokenId>& last, M& log_probs);`  V x K
///   `void reorder(const std::vector<Index>& parents);`          column j <- old column parents[j]
/// Each step extends every live hypothesis by every word except <pad> and <s>, ranks the extensions
/// by total log-probability (ties: lower parent index, then lower token id), and walks them in that
/// order: an extension ending in <EOS> joins the complete set, any other joins the next beam, until
/// the beam is full. At max_length words only <EOS> may follow. Without length normalisation the
/// search stops as soon as `nbest` complete hypotheses score at least the best live one, which
/// cannot improve (log-probabilities only fall). With a beam larger than the number of partial
/// hypotheses of max_length words nothing is pruned, so the search is exact; at exactly that number
/// the beam fills on the last step and <EOS> extensions ranked below every kept one are dropped.
template <typename Scorer, typename Mat>
std::vector<Hypothesis> beam_search(Scorer& scorer, const DecodeOptions& opt, Index max_length, Mat& log_probs) {
  detail::require(opt.beam >= 1,
                  [&] { return "beam_search: beam size must be at least 1, got " + std::to_string(opt.beam); });
  detail::require(opt.nbest >= 1 && opt.nbest <= opt.beam, [&] {
    return "beam_search: nbest must be between 1 and the beam size (" + std::to_string(opt.beam) + "), got " +
           std::to_string(opt.nbest);
  });
  detail::require(max_length >= 0, "beam_search: negative maximum length");
  const Index V = scorer.vocab_size();
  const Index beam = opt.beam;
  const double alpha = opt.length_alpha;
  const auto rank = [alpha](double logp, Index words) {
    return alpha > 0 ? logp / std::pow(static_cast<double>(words + 1), alpha) : logp;
  };

  // Every buffer is sized once here, so the steps below allocate nothing: hypotheses are kept as
  // back-pointers (token and parent of live hypothesis k after step t) and spelled out at the end.
  const auto steps = static_cast<std::size_t>(max_length + 1);
  std::vector<TokenId> hist_token(steps * static_cast<std::size_t>(beam));
  std::vector<Index> hist_parent(steps * static_cast<std::size_t>(beam));
  struct Done {
    double log_prob, score;
    Index step, parent;  // <EOS> appended at `step` to live hypothesis `parent` of step - 1
  };
  std::vector<Done> done;
  done.reserve(steps * static_cast<std::size_t>(beam));
  std::vector<double> alive_logp(1, 0.0), next_logp;
  next_logp.reserve(static_cast<std::size_t>(beam));
  alive_logp.reserve(static_cast<std::size_t>(beam));
  std::vector<TokenId> last(1, Special::bos);
  last.reserve(static_cast<std::size_t>(beam));
  std::vector<detail::Candidate> cand;
  cand.reserve(static_cast<std::size_t>(beam * V));
  std::vector<Index> parents;
  parents.reserve(static_cast<std::size_t>(beam));
  std::vector<double> done_scores;
  done_scores.reserve(steps * static_cast<std::size_t>(beam));
  const auto better = [](const detail::Candidate& a, const detail::Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.parent != b.parent) return a.parent < b.parent;
    return a.token < b.token;
  };
  scorer.start(1);

  for (Index t = 0; !alive_logp.empty(); ++t) {
    scorer.step(last, log_probs);
    const auto K = static_cast<Index>(alive_logp.size());
    cand.clear();
    const bool must_end = t >= max_length;
    for (Index k = 0; k < K; ++k) {
      for (Index v = 0; v < V; ++v) {
        const auto tok = static_cast<TokenId>(v);
        if (tok == Special::pad || tok == Special::bos) continue;
        if (must_end && tok != Special::eos) continue;
        const double s = alive_logp[static_cast<std::size_t>(k)] + static_cast<double>(log_probs(v, k));
        if (std::isnan(s)) throw std::runtime_error("seq2seq: beam_search: the model produced NaN log-probabilities");
        cand.push_back({s, k, tok});
      }
    }
    // Enough extensions to refill the beam even if every <EOS> extension leaves it.
    const auto need = static_cast<std::size_t>(std::min<Index>(static_cast<Index>(cand.size()), beam + K));
    std::partial_sort(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(need), cand.end(), better);

    next_logp.clear();
    parents.clear();
    last.clear();
    const auto row = static_cast<std::size_t>(t) * static_cast<std::size_t>(beam);
    for (std::size_t c = 0; c < need && static_cast<Index>(next_logp.size()) < beam; ++c) {
      const auto& x = cand[c];
      if (x.token == Special::eos) {
        done.push_back({x.score, rank(x.score, t), t, x.parent});
      } else {
        const std::size_t j = next_logp.size();
        hist_token[row + j] = x.token;
        hist_parent[row + j] = x.parent;
        next_logp.push_back(x.score);
        parents.push_back(x.parent);
        last.push_back(x.token);
      }
    }
    alive_logp.swap(next_logp);
    if (alive_logp.empty()) break;
    scorer.reorder(parents);
    if (alpha <= 0 && static_cast<Index>(done.size()) >= opt.nbest) {
      done_scores.clear();
      for (const auto& d : done) done_scores.push_back(d.score);
      std::nth_element(done_scores.begin(), done_scores.begin() + (opt.nbest - 1), done_scores.end(),
                       std::greater<double>());
      const double nth_best = done_scores[static_cast<std::size_t>(opt.nbest - 1)];
      const double best_alive = *std::max_element(alive_logp.begin(), alive_logp.end());
      if (nth_best >= best_alive) break;
    }
    if (alpha > 0 && static_cast<Index>(done.size()) >= beam) break;
  }
  std::stable_sort(done.begin(), done.end(), [](const Done& a, const Done& b) { return a.score > b.score; });
  if (static_cast<Index>(done.size()) > opt.nbest) done.resize(static_cast<std::size_t>(opt.nbest));

  std::vector<Hypothesis> out;
  out.reserve(done.size());
  for (const auto& d : done) {
    Hypothesis h;
    h.log_prob = d.log_prob;
    h.score = d.score;
    h.tokens.resize(static_cast<std::size_t>(d.step));
    Index k = d.parent;
    for (Index t = d.step - 1; t >= 0; --t) {
      const auto at = static_cast<std::size_t>(t) * static_cast<std::size_t>(beam) + static_cast<std::size_t>(k);
      h.tokens[static_cast<std::size_t>(t)] = hist_token[at];
      k = hist_parent[at];
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_BEAM_SEARCH_HPP

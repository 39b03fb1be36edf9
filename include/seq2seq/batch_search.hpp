// seq2seq: searches over many sentences at once: beam search, greedy search and sampling, the
// live hypotheses of every sentence as the columns of one scorer batch. Finished sentences and
// hypotheses leave the batch, so its columns shrink as the search goes on.
#ifndef SEQ2SEQ_BATCH_SEARCH_HPP
#define SEQ2SEQ_BATCH_SEARCH_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "beam_search.hpp"
#include "config.hpp"
#include "data/types.hpp"
#include "rng.hpp"

namespace seq2seq {

// A batch scorer (BatchModelScorer in decoding.hpp, Ensemble::BatchScorer) provides
//   Index rows() const;                  rows of its score matrix (the vocabulary or a shortlist)
//   TokenId token(Index row) const;      the word of a row; words increase with the row
//   Index columns() const;               live columns (at the start: the sentences, each once,
//                                        or `nbest` times for sampling; sentence-major)
//   bool step(const std::vector<TokenId>& last, bool normalise);   feeds one word per column;
//                                        false when a log-probability would be NaN (normalise only)
//   auto scores();                       rows x columns: the logits (a monotone image of the
//                                        log-probabilities of a column)
//   Scalar normaliser(Index column) const;   after step(.., true): log-probability = score - this
//   void reorder(const std::vector<Index>& parents);   column j <- old column parents[j]

namespace detail {

/// The rows a search may extend a hypothesis with: every row but those of <pad> and <s>, as
/// ranges; and the row of <EOS>.
struct OutputRows {
  std::vector<std::pair<Index, Index>> ranges;  // [begin, end)
  Index eos = -1;
  Index count = 0;

  template <typename Scorer>
  explicit OutputRows(const Scorer& s) {
    Index begin = 0;
    for (Index r = 0; r < s.rows(); ++r) {
      const TokenId t = s.token(r);
      if (t == Special::eos) eos = r;
      if (t == Special::pad || t == Special::bos) {
        if (r > begin) ranges.emplace_back(begin, r);
        begin = r + 1;
      }
    }
    if (s.rows() > begin) ranges.emplace_back(begin, s.rows());
    for (const auto& r : ranges) count += r.second - r.first;
    require(eos >= 0, "decoding: the output rows hold no <EOS>");
  }
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& r : ranges)
      for (Index row = r.first; row < r.second; ++row) f(row);
  }
};

[[noreturn]] inline void throw_nan(const char* who) {
  throw std::runtime_error(std::string("seq2seq: ") + who + ": the model produced NaN log-probabilities");
}

/// splitmix64: the generator seed of one sampling stream.
inline std::uint64_t mix_seed(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace detail

/// Beam search of every sentence of the scorer's batch (one column each at the start), sentence i
/// producing at most max_lengths[i] words. Per sentence it is beam_search (beam_search.hpp) step
/// for step: the same extensions in the same order (ties: lower parent, then lower word), the same
/// n-best list, length normalisation and stopping rules, so with the same log-probabilities it
/// returns the same hypotheses. The K live hypotheses of each sentence are K columns of one
/// batch; a sentence that stops leaves it. Each step keeps only the best beam + K extensions of a
/// sentence (a bounded heap over its K x rows scores) instead of sorting them all.
template <typename Scorer>
std::vector<std::vector<Hypothesis>> batch_beam_search(Scorer& scorer, const std::vector<Index>& max_lengths,
                                                       const DecodeOptions& opt) {
  check_decode_options(opt);
  const auto S = static_cast<Index>(max_lengths.size());
  std::vector<std::vector<Hypothesis>> out(static_cast<std::size_t>(S));
  if (S == 0) return out;
  detail::require(scorer.columns() == S, "batch_beam_search: the scorer must start with one column per sentence");
  for (Index m : max_lengths) detail::require(m >= 0, "batch_beam_search: negative maximum length");
  const detail::OutputRows allowed(scorer);
  const Index beam = opt.beam;
  const double alpha = opt.length_alpha;
  const auto rank = [alpha](double logp, Index words) {
    return alpha > 0 ? logp / std::pow(static_cast<double>(words + 1), alpha) : logp;
  };
  struct Done {
    double log_prob, score;
    Index step, parent;  // <EOS> appended at `step` to live hypothesis `parent` of step - 1
  };
  struct Beam {
    std::vector<TokenId> hist_token;  // token and parent of live hypothesis k after step t
    std::vector<Index> hist_parent;
    std::vector<Done> done;
    std::vector<double> alive;  // log p of the live hypotheses
    bool finished = false;
  };
  // Every buffer is sized here, so the steps below allocate nothing.
  std::vector<Beam> beams(static_cast<std::size_t>(S));
  std::size_t most_steps = 0;
  for (Index s = 0; s < S; ++s) {
    Beam& b = beams[static_cast<std::size_t>(s)];
    const auto steps = static_cast<std::size_t>(max_lengths[static_cast<std::size_t>(s)] + 1);
    most_steps = std::max(most_steps, steps);
    b.hist_token.resize(steps * static_cast<std::size_t>(beam));
    b.hist_parent.resize(steps * static_cast<std::size_t>(beam));
    b.done.reserve(steps * static_cast<std::size_t>(beam));
    b.alive.reserve(static_cast<std::size_t>(beam));
    b.alive.assign(1, 0.0);
  }
  std::vector<TokenId> last(static_cast<std::size_t>(S), Special::bos), next_last;
  next_last.reserve(static_cast<std::size_t>(S * beam));
  last.reserve(static_cast<std::size_t>(S * beam));
  std::vector<Index> parents;
  parents.reserve(static_cast<std::size_t>(S * beam));
  std::vector<double> next_alive, done_scores;
  next_alive.reserve(static_cast<std::size_t>(beam));
  done_scores.reserve(most_steps * static_cast<std::size_t>(beam));
  struct Candidate {
    double score;
    Index parent, row;
  };
  const auto better = [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.parent != b.parent) return a.parent < b.parent;
    return a.row < b.row;
  };
  std::vector<Candidate> heap;  // the best `need` candidates so far; front: the worst of them
  heap.reserve(static_cast<std::size_t>(2 * beam));

  Index live = S;
  for (Index t = 0; live > 0; ++t) {
    if (!scorer.step(last, true)) detail::throw_nan("beam search");
    const auto Z = scorer.scores();
    using Scalar = typename std::decay_t<decltype(Z)>::Scalar;
    parents.clear();
    next_last.clear();
    Index offset = 0;
    for (Index s = 0; s < S; ++s) {
      Beam& b = beams[static_cast<std::size_t>(s)];
      if (b.finished) continue;
      const auto K = static_cast<Index>(b.alive.size());
      const bool must_end = t >= max_lengths[static_cast<std::size_t>(s)];
      // Enough extensions to refill the beam even if every <EOS> extension leaves it.
      const auto need = static_cast<std::size_t>(std::min<Index>(K * (must_end ? 1 : allowed.count), beam + K));
      heap.clear();
      const auto consider = [&](double score, Index k, Index row) {
        if (heap.size() < need) {
          heap.push_back({score, k, row});
          std::push_heap(heap.begin(), heap.end(), better);
        } else if (score > heap.front().score) {  // later candidates lose ties: they come later in the order
          std::pop_heap(heap.begin(), heap.end(), better);
          heap.back() = {score, k, row};
          std::push_heap(heap.begin(), heap.end(), better);
        }
      };
      for (Index k = 0; k < K; ++k) {
        const double base = b.alive[static_cast<std::size_t>(k)];
        const auto z = Z.col(offset + k);
        const Scalar lse = scorer.normaliser(offset + k);
        // The score exactly as beam_search forms it: log p in Scalar, then the double sum.
        const auto score_of = [&](Index r) { return base + static_cast<double>(static_cast<Scalar>(z(r) - lse)); };
        if (must_end) {
          consider(score_of(allowed.eos), k, allowed.eos);
          continue;
        }
        for (const auto& range : allowed.ranges) {
          Index r = range.first;
          for (; r < range.second && heap.size() < need; ++r) consider(score_of(r), k, r);
          if (r == range.second) continue;
          // A full heap: only a logit above `bar` can beat its worst. `bar` is a little below the
          // exact boundary (relative 1e-5, many float steps), so the exact test decides.
          const auto bar_of = [&] {
            const Scalar edge = static_cast<Scalar>(heap.front().score - base) + lse;
            return edge - (std::abs(edge) + std::abs(lse)) * Scalar(1e-5);
          };
          Scalar bar = bar_of();
          for (; r < range.second; ++r)
            if (z(r) > bar) {
              const double score = score_of(r);
              if (score > heap.front().score) {
                consider(score, k, r);
                bar = bar_of();
              }
            }
        }
      }
      std::sort_heap(heap.begin(), heap.end(), better);  // best first

      next_alive.clear();
      const std::size_t first_parent = parents.size();
      const auto row = static_cast<std::size_t>(t) * static_cast<std::size_t>(beam);
      for (std::size_t c = 0; c < heap.size() && static_cast<Index>(next_alive.size()) < beam; ++c) {
        const Candidate& x = heap[c];
        const TokenId token = scorer.token(x.row);
        if (token == Special::eos) {
          b.done.push_back({x.score, rank(x.score, t), t, x.parent});
        } else {
          const std::size_t j = next_alive.size();
          b.hist_token[row + j] = token;
          b.hist_parent[row + j] = x.parent;
          next_alive.push_back(x.score);
          parents.push_back(offset + x.parent);
          next_last.push_back(token);
        }
      }
      offset += K;
      b.alive.swap(next_alive);
      bool stop = b.alive.empty();
      if (!stop && alpha <= 0 && static_cast<Index>(b.done.size()) >= opt.nbest) {
        done_scores.clear();
        for (const Done& d : b.done) done_scores.push_back(d.score);
        std::nth_element(done_scores.begin(), done_scores.begin() + (opt.nbest - 1), done_scores.end(),
                         std::greater<double>());
        const double nth_best = done_scores[static_cast<std::size_t>(opt.nbest - 1)];
        const double best_alive = *std::max_element(b.alive.begin(), b.alive.end());
        stop = nth_best >= best_alive;
      }
      if (!stop && alpha > 0 && static_cast<Index>(b.done.size()) >= beam) stop = true;
      if (stop) {
        b.finished = true;
        --live;
        parents.resize(first_parent);  // its hypotheses leave the batch
        next_last.resize(first_parent);
      }
    }
    if (live == 0) break;
    scorer.reorder(parents);
    last.swap(next_last);
  }

  for (Index s = 0; s < S; ++s) {
    Beam& b = beams[static_cast<std::size_t>(s)];
    std::stable_sort(b.done.begin(), b.done.end(), [](const Done& x, const Done& y) { return x.score > y.score; });
    if (static_cast<Index>(b.done.size()) > opt.nbest) b.done.resize(static_cast<std::size_t>(opt.nbest));
    auto& hyps = out[static_cast<std::size_t>(s)];
    hyps.reserve(b.done.size());
    for (const Done& d : b.done) {
      Hypothesis h;
      h.log_prob = d.log_prob;
      h.score = d.score;
      h.tokens.resize(static_cast<std::size_t>(d.step));
      Index k = d.parent;
      for (Index u = d.step - 1; u >= 0; --u) {
        const auto at = static_cast<std::size_t>(u) * static_cast<std::size_t>(beam) + static_cast<std::size_t>(k);
        h.tokens[static_cast<std::size_t>(u)] = b.hist_token[at];
        k = b.hist_parent[at];
      }
      hyps.push_back(std::move(h));
    }
  }
  return out;
}

/// Greedy search of every sentence of the scorer's batch (one column each): each column takes the
/// word with the largest logit (no softmax: the arg-max is the same; ties to the lower word, never
/// <pad> or <s>) until <EOS> or max_lengths[i] words, and leaves the batch when it ends.
template <typename Scorer>
std::vector<Sentence> batch_greedy_search(Scorer& scorer, const std::vector<Index>& max_lengths) {
  const auto S = static_cast<Index>(max_lengths.size());
  std::vector<Sentence> out(static_cast<std::size_t>(S));
  if (S == 0) return out;
  detail::require(scorer.columns() == S, "batch_greedy_search: the scorer must start with one column per sentence");
  const detail::OutputRows allowed(scorer);
  for (Index s = 0; s < S; ++s) out[static_cast<std::size_t>(s)].reserve(static_cast<std::size_t>(max_lengths[static_cast<std::size_t>(s)]));
  std::vector<TokenId> last(static_cast<std::size_t>(S), Special::bos), next_last;
  std::vector<Index> sentence(static_cast<std::size_t>(S)), next_sentence, parents;
  for (Index s = 0; s < S; ++s) sentence[static_cast<std::size_t>(s)] = s;
  next_last.reserve(static_cast<std::size_t>(S));
  next_sentence.reserve(static_cast<std::size_t>(S));
  parents.reserve(static_cast<std::size_t>(S));
  for (Index t = 0; !last.empty(); ++t) {
    scorer.step(last, false);
    const auto Z = scorer.scores();
    using Scalar = typename std::decay_t<decltype(Z)>::Scalar;
    parents.clear();
    next_last.clear();
    next_sentence.clear();
    for (Index j = 0; j < Z.cols(); ++j) {
      const Index s = sentence[static_cast<std::size_t>(j)];
      Index best = allowed.eos;
      const auto z = Z.col(j);
      // NaN, or +Inf (whose softmax is Inf - Inf), would make every log-probability NaN.
      if (!(z.array() < std::numeric_limits<Scalar>::infinity()).all()) detail::throw_nan("translate_greedy");
      if (t < max_lengths[static_cast<std::size_t>(s)]) {
        Scalar best_z = -std::numeric_limits<Scalar>::infinity();
        allowed.for_each([&](Index r) {
          if (z(r) > best_z) {  // strict: ties go to the lower word, as in beam_search
            best_z = z(r);
            best = r;
          }
        });
      }
      const TokenId token = scorer.token(best);
      if (token == Special::eos) continue;  // this sentence leaves the batch
      out[static_cast<std::size_t>(s)].push_back(token);
      parents.push_back(j);
      next_last.push_back(token);
      next_sentence.push_back(s);
    }
    if (parents.empty()) break;
    if (static_cast<Index>(parents.size()) != Z.cols()) scorer.reorder(parents);
    last.swap(next_last);
    sentence.swap(next_sentence);
  }
  return out;
}

/// Draws opt.nbest translations of every sentence of the scorer's batch (which starts with nbest
/// columns per sentence, sentence-major): each word from the logits z over every row but <pad> and
/// <s>, with p proportional to exp(z / temperature), over the top_k largest z only when
/// top_k > 0 (ties: the lower word), until <EOS> or max_lengths[i] words. Draw d of sentence i
/// uses its own generator, seeded from (opt.seed, streams[i], d) (batch_translate: streams[i]
/// hashes the sentence's words). log_prob is the model's own
/// log p of the drawn words and <EOS> (temperature 1, every row); the draws of a sentence come
/// back best score first (score as in beam search).
template <typename Scorer>
std::vector<std::vector<Hypothesis>> batch_sample(Scorer& scorer, const std::vector<Index>& max_lengths,
                                                  const DecodeOptions& opt, const std::vector<std::uint64_t>& streams) {
  check_decode_options(opt);
  const auto S = static_cast<Index>(max_lengths.size());
  const Index D = opt.nbest;
  std::vector<std::vector<Hypothesis>> out(static_cast<std::size_t>(S));
  if (S == 0) return out;
  detail::require(streams.size() == max_lengths.size(), "batch_sample: one stream id per sentence is needed");
  detail::require(scorer.columns() == S * D, "batch_sample: the scorer must start with nbest columns per sentence");
  const detail::OutputRows allowed(scorer);
  const double inv_t = 1.0 / opt.temperature;
  const auto n_draws = static_cast<std::size_t>(S * D);
  std::vector<Rng> rng;
  rng.reserve(n_draws);
  std::vector<Hypothesis> draws(n_draws);
  for (Index s = 0; s < S; ++s)
    for (Index d = 0; d < D; ++d) {
      rng.emplace_back(detail::mix_seed(opt.seed ^ detail::mix_seed(streams[static_cast<std::size_t>(s)] * 0x100000001B3ULL +
                                                                     static_cast<std::uint64_t>(d))));
      draws[static_cast<std::size_t>(s * D + d)].tokens.reserve(
          static_cast<std::size_t>(max_lengths[static_cast<std::size_t>(s)]));
    }
  std::vector<TokenId> last(n_draws, Special::bos), next_last;
  std::vector<Index> column_draw(n_draws), next_draw, parents, order;
  for (std::size_t j = 0; j < n_draws; ++j) column_draw[j] = static_cast<Index>(j);
  next_last.reserve(n_draws);
  next_draw.reserve(n_draws);
  parents.reserve(n_draws);
  order.reserve(static_cast<std::size_t>(allowed.count));
  const bool top = opt.top_k > 0 && opt.top_k < allowed.count;
  for (Index t = 0; !last.empty(); ++t) {
    if (!scorer.step(last, true)) detail::throw_nan("sampling");
    const auto Z = scorer.scores();
    using Scalar = typename std::decay_t<decltype(Z)>::Scalar;
    parents.clear();
    next_last.clear();
    next_draw.clear();
    for (Index j = 0; j < Z.cols(); ++j) {
      const Index g = column_draw[static_cast<std::size_t>(j)];
      const Index s = g / D;
      const auto z = Z.col(j);
      const Scalar lse = scorer.normaliser(j);
      Index pick = allowed.eos;
      if (t < max_lengths[static_cast<std::size_t>(s)]) {
        order.clear();
        allowed.for_each([&](Index r) { order.push_back(r); });
        if (top) {
          const auto by_logit = [&](Index a, Index b) { return z(a) != z(b) ? z(a) > z(b) : a < b; };
          std::nth_element(order.begin(), order.begin() + (opt.top_k - 1), order.end(), by_logit);
          order.resize(static_cast<std::size_t>(opt.top_k));
          std::sort(order.begin(), order.end());
        }
        double zm = -std::numeric_limits<double>::infinity();
        for (Index r : order) zm = std::max(zm, static_cast<double>(z(r)));
        double total = 0;
        for (Index r : order) total += std::exp((static_cast<double>(z(r)) - zm) * inv_t);
        const double u = rng[static_cast<std::size_t>(g)].uniform(0.0, 1.0) * total;
        double acc = 0;
        for (Index r : order) {
          const double w = std::exp((static_cast<double>(z(r)) - zm) * inv_t);
          if (w <= 0) continue;
          pick = r;  // the last row of positive weight, should rounding leave u beyond the sum
          acc += w;
          if (u < acc) break;
        }
      }
      Hypothesis& h = draws[static_cast<std::size_t>(g)];
      h.log_prob += static_cast<double>(static_cast<Scalar>(z(pick) - lse));
      const TokenId token = scorer.token(pick);
      if (token == Special::eos) continue;
      h.tokens.push_back(token);
      parents.push_back(j);
      next_last.push_back(token);
      next_draw.push_back(g);
    }
    if (parents.empty()) break;
    if (static_cast<Index>(parents.size()) != Z.cols()) scorer.reorder(parents);
    last.swap(next_last);
    column_draw.swap(next_draw);
  }
  const double alpha = opt.length_alpha;
  for (Index s = 0; s < S; ++s) {
    auto& hyps = out[static_cast<std::size_t>(s)];
    for (Index d = 0; d < D; ++d) {
      Hypothesis& h = draws[static_cast<std::size_t>(s * D + d)];
      h.score = alpha > 0 ? h.log_prob / std::pow(static_cast<double>(h.tokens.size() + 1), alpha) : h.log_prob;
      hyps.push_back(std::move(h));
    }
    std::stable_sort(hyps.begin(), hyps.end(), [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
  }
  return out;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_BATCH_SEARCH_HPP

// seq2seq: length-bucketed, shuffled mini-batches of sentence pairs, and the length filter.
#ifndef SEQ2SEQ_DATA_BATCHER_HPP
#define SEQ2SEQ_DATA_BATCHER_HPP

#include "../rng.hpp"
#include "shuffle.hpp"
#include "types.hpp"

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seq2seq {

/// What plan_batches sorts a window by.
enum class LengthKey {
  /// (source length, target length): the least padding.
  source_then_target,
  /// The source length alone, ties in shuffled order: batches of equal source length but varied
  /// targets. With a window of the whole corpus this is the batching of PyTorch's usual recipe,
  /// and on the Tatoeba corpus it learned faster than the other key (examples/toy_translation's
  /// README has the measurements).
  source,
};

/// The example indices of each batch of one epoch (see make_batches for the recipe).
///
/// 1. the indices 0..N-1 are shuffled with `rng` (seq2seq::shuffle);
/// 2. the shuffled list is cut into windows of W examples, W = `bucket_window` rounded up to a
///    multiple of `batch_size` (0 means 100 * batch_size; a window larger than N is the whole
///    corpus); inside each window the examples are sorted by `key` (LengthKey), ties kept in
///    shuffled order, so a batch holds sentences of roughly equal length and little padding (the
///    paper's 2x speed-up). A window of one batch (`bucket_window` <= `batch_size`) turns length
///    grouping off;
/// 3. each window is cut into batches of `batch_size`: only the last cut of the last window may be
///    smaller (step 4 may move it anywhere);
/// 4. the order of the batches is shuffled with `rng`, so an epoch does not run from short to long.
/// The result depends only on the lengths, `batch_size`, `bucket_window` and the state of `rng`
/// (it calls rng.below() N - 1 times for the examples and B - 1 times for the B batches). Every index appears exactly once.
/// Throws std::invalid_argument when the lists differ in length or batch_size is 0; no example
/// gives no batch.
inline std::vector<std::vector<std::size_t>> plan_batches(const std::vector<Sentence>& src,
                                                          const std::vector<Sentence>& tgt, std::size_t batch_size,
                                                          Rng& rng, std::size_t bucket_window = 0,
                                                          LengthKey key = LengthKey::source_then_target) {
  if (src.size() != tgt.size())
    throw std::invalid_argument("seq2seq: batches: " + std::to_string(src.size()) + " source sentences but " +
                                std::to_string(tgt.size()) + " target sentences");
  if (batch_size == 0) throw std::invalid_argument("seq2seq: batches: batch_size must be positive");
  const std::size_t n = src.size();
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  shuffle(order, rng);

  std::size_t window = bucket_window == 0 ? 100 * batch_size : std::min(bucket_window, std::max<std::size_t>(n, 1));
  window = (window + batch_size - 1) / batch_size * batch_size;
  const auto shorter = [&](std::size_t a, std::size_t b) {
    if (src[a].size() != src[b].size()) return src[a].size() < src[b].size();
    return key == LengthKey::source_then_target && tgt[a].size() < tgt[b].size();
  };
  for (std::size_t begin = 0; begin < n; begin += window) {
    const std::size_t end = std::min(n, begin + window);
    // stable_sort: equal lengths keep their shuffled order, identically on every library.
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(begin), order.begin() + static_cast<std::ptrdiff_t>(end),
                     shorter);
  }

  std::vector<std::vector<std::size_t>> batches;
  batches.reserve((n + batch_size - 1) / batch_size);
  for (std::size_t begin = 0; begin < n; begin += batch_size) {
    const std::size_t end = std::min(n, begin + batch_size);
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(begin), order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  shuffle(batches, rng);
  return batches;
}

/// The batches of one epoch, as plan_batches orders them, with the sentences copied in:
/// batch.source[b] = src[i], batch.target[b] = tgt[i] for the b-th index i of the batch.
/// Deterministic for a given state of `rng`.
inline std::vector<PairBatch> make_batches(const std::vector<Sentence>& src, const std::vector<Sentence>& tgt,
                                           std::size_t batch_size, Rng& rng, std::size_t bucket_window = 0,
                                           LengthKey key = LengthKey::source_then_target) {
  const auto plan = plan_batches(src, tgt, batch_size, rng, bucket_window, key);
  std::vector<PairBatch> batches(plan.size());
  for (std::size_t k = 0; k < plan.size(); ++k) {
    batches[k].source.reserve(plan[k].size());
    batches[k].target.reserve(plan[k].size());
    for (std::size_t i : plan[k]) {
      batches[k].source.push_back(src[i]);
      batches[k].target.push_back(tgt[i]);
    }
  }
  return batches;
}

/// Batches for decoding or scoring, without randomness: the indices sorted by source length
/// (ascending, ties in input order) and cut into batches of `batch_size`. Results computed per
/// batch go back to input position plan[k][b].
inline std::vector<std::vector<std::size_t>> inference_batches(const std::vector<Sentence>& src,
                                                               std::size_t batch_size) {
  if (batch_size == 0) throw std::invalid_argument("seq2seq: batches: batch_size must be positive");
  std::vector<std::size_t> order(src.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return src[a].size() < src[b].size(); });
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t begin = 0; begin < order.size(); begin += batch_size) {
    const std::size_t end = std::min(order.size(), begin + batch_size);
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(begin), order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return batches;
}

/// What max_length_filter does with a pair over the limit.
enum class OverLength {
  drop,   ///< remove the pair and count it
  reject  ///< throw std::invalid_argument naming the first such pair
};

/// Keeps the pairs whose source has at most `max_source` tokens and whose target has at most
/// `max_target` tokens (0 = no limit on that side), erasing the others from both lists in place and
/// keeping the order of the rest. Lengths count the sentence's own tokens: the <s> and <EOS> the
/// model adds are not included. With OverLength::reject nothing is erased and the first offending
/// pair throws "seq2seq: pair 12 has a source of 83 tokens, over the limit of 50" (pairs counted
/// from 0). Returns the number of pairs dropped. Works on token ids and on token strings.
template <typename Token>
std::size_t max_length_filter(std::vector<std::vector<Token>>& src, std::vector<std::vector<Token>>& tgt,
                              std::size_t max_source, std::size_t max_target, OverLength action = OverLength::drop) {
  if (src.size() != tgt.size())
    throw std::invalid_argument("seq2seq: length filter: " + std::to_string(src.size()) + " source sentences but " +
                                std::to_string(tgt.size()) + " target sentences");
  const auto too_long = [](std::size_t len, std::size_t limit) { return limit != 0 && len > limit; };
  if (action == OverLength::reject) {
    for (std::size_t i = 0; i < src.size(); ++i) {
      const bool s = too_long(src[i].size(), max_source);
      if (s || too_long(tgt[i].size(), max_target))
        throw std::invalid_argument("seq2seq: pair " + std::to_string(i) + " has a " + (s ? "source" : "target") +
                                    " of " + std::to_string(s ? src[i].size() : tgt[i].size()) +
                                    " tokens, over the limit of " + std::to_string(s ? max_source : max_target));
    }
    return 0;
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < src.size(); ++i) {
    if (too_long(src[i].size(), max_source) || too_long(tgt[i].size(), max_target)) continue;
    if (kept != i) {
      src[kept] = std::move(src[i]);
      tgt[kept] = std::move(tgt[i]);
    }
    ++kept;
  }
  const std::size_t dropped = src.size() - kept;
  src.resize(kept);
  tgt.resize(kept);
  return dropped;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_BATCHER_HPP

// seq2seq: a Fisher-Yates shuffle on seq2seq::Rng, the same permutation on every standard library.
#ifndef SEQ2SEQ_DATA_SHUFFLE_HPP
#define SEQ2SEQ_DATA_SHUFFLE_HPP

#include "../rng.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace seq2seq {

/// Shuffles `items` uniformly (Fisher-Yates, Durstenfeld's form: for i = n-1 down to 1, swap item i
/// with item rng.below(i + 1)). std::shuffle is not used because the permutation it draws from a
/// given engine state is implementation-defined, and data order must be reproducible everywhere.
/// Draws exactly n - 1 numbers (none when n < 2).
template <typename T>
void shuffle(std::vector<T>& items, Rng& rng) {
  using std::swap;
  for (std::size_t i = items.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(i)));
    swap(items[i - 1], items[j]);
  }
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_SHUFFLE_HPP

// seq2seq: inverted-dropout masks for training, counter-based so a step's masks follow from (seed, step).
#ifndef SEQ2SEQ_DROPOUT_HPP
#define SEQ2SEQ_DROPOUT_HPP

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>

#include "config.hpp"

namespace seq2seq {

/// Dropout of one training step (Zaremba, Sutskever & Vinyals 2014, "Recurrent neural network
/// regularization"): only the non-recurrent connections are dropped, i.e. the input of every layer
/// (layer 0: the embedding outputs; layer l >= 1: the outputs h of layer l-1) and the decoder's top
/// outputs before the softmax. The recurrent path h_{t-1} -> gates and the cell c never are.
///
/// Inverted dropout: a unit is kept with probability 1 - rate and a kept value is multiplied by
/// 1 / (1 - rate), so the expected input is unchanged and inference, which never drops, needs no
/// rescaling. A training setting, not part of the model: the rate changes neither the parameters
/// nor the checkpoint format, and only Seq2Seq::train_batch (and the layers' training forward
/// passes) take it.
///
/// Masks are counter-based: the mask entry of one unit is a pure function of
///   (seed, step, site, layer, t, n, i)
/// so the same options always give the same masks, whatever was drawn before. A run resumed at
/// step k needs only k (no generator state is saved), and masks do not depend on how a batch is
/// padded or split: n is the sequence's index in the global batch (first_sequence + its column b),
/// so a data-parallel rank whose shard starts at pair `offset` and sets first_sequence = offset
/// draws exactly the masks that a single process training the whole batch draws for those pairs.
///
/// The rule, with mix(x) = splitmix64's output for the state x (z = x + G; z = (z ^ z >> 30) *
/// 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB; mix = z ^ z >> 31), G =
/// 0x9E3779B97F4A7C15, all arithmetic modulo 2^64:
///   (K1) key  = mix(mix(mix(mix(seed) ^ step) ^ site) ^ layer)     one per mask
///   (K2) col  = mix(mix(key ^ t) ^ n)                               one per time step and sequence
///   (K3) u    = mix(col + i * G) >> 11                              53 bits for unit i (row i)
///   (K4) keep = u >= ceil(rate * 2^53);  mask = keep ? 1 / (1 - rate) : 0
/// site is DropoutSite (encoder 1, decoder 2), layer the index of the layer whose input is dropped
/// (the decoder's top outputs are layer L, its depth), t the time step of the tape's layout (the
/// encoder's reversed order included). u is uniform on [0, 2^53), so P(keep) = 1 - rate to within
/// 2^-53. tests/reference/dropout_masks.py implements the rule independently (the golden test).
struct DropoutOptions {
  double rate = 0;           // p in [0, 1): the probability of dropping a unit; 0 turns dropout off
  std::uint64_t seed = 0;    // the run's seed
  std::uint64_t step = 0;    // the training step counter: a different value gives different masks
  Index first_sequence = 0;  // the global index of the batch's first pair (a data-parallel shard's offset)
};

/// Which stack a mask belongs to (the `site` of rule K1).
enum class DropoutSite : std::uint64_t { encoder = 1, decoder = 2 };

namespace detail {

constexpr std::uint64_t kSplitMixGamma = 0x9E3779B97F4A7C15ull;

/// splitmix64's output function (Steele, Lea & Flood 2014; Stafford's mix13): the value the
/// generator returns from state x.
constexpr std::uint64_t mix64(std::uint64_t x) {
  std::uint64_t z = x + kSplitMixGamma;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// "NaN", "inf", "-inf" or the shortest decimal that round-trips v (for messages).
inline std::string describe_rate(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

}  // namespace detail

/// Throws std::invalid_argument unless 0 <= rate < 1 (NaN included) and first_sequence >= 0.
inline void check_dropout(const DropoutOptions& d) {
  detail::require(d.rate >= 0 && d.rate < 1, [&] {
    return "dropout rate must be in [0, 1) (the probability of dropping a unit), got " + detail::describe_rate(d.rate);
  });
  detail::require(d.first_sequence >= 0, [&] {
    return "dropout first_sequence must not be negative, got " + std::to_string(d.first_sequence);
  });
}

/// The masks of one stack (one site) in one training step: rule K1 up to `layer`, with the rate's
/// threshold and scale. Cheap to make (a few multiplications); default-constructed, it drops nothing.
class DropoutStream {
 public:
  DropoutStream() = default;
  /// Checks the options (check_dropout).
  DropoutStream(const DropoutOptions& options, DropoutSite site)
      : rate_(checked_rate(options)),
        first_(static_cast<std::uint64_t>(options.first_sequence)),
        key_(detail::mix64(detail::mix64(detail::mix64(options.seed) ^ options.step) ^
                           static_cast<std::uint64_t>(site))),
        threshold_(static_cast<std::uint64_t>(std::ceil(options.rate * 9007199254740992.0))) {}  // (K4) 2^53

  double rate() const { return rate_; }
  /// True when masks drop anything (rate > 0).
  bool active() const { return rate_ > 0; }
  /// The value of a kept entry, 1 / (1 - rate), rounded once to Scalar.
  template <typename Scalar>
  Scalar scale() const {
    return static_cast<Scalar>(1.0 / (1.0 - rate_));
  }

  /// Rules K1-K4 for one entry: unit i of column b (time step t) of `layer`'s mask.
  bool keep(Index layer, Index t, Index b, Index i) const {
    return bits(column_key(layer_key(layer), t, b), i) >= threshold_;
  }

  /// The mask of `layer` for a rows x (steps * batch) input in the T*B layout (column t*B + b):
  /// entries 1 / (1 - rate) (kept) or 0 (dropped). Keeps out's allocation when the shape is unchanged.
  template <typename Scalar>
  void fill(Index layer, Index rows, Index steps, Index batch, Matrix<Scalar>& out) const {
    detail::ensure_shape(out, rows, steps * batch);
    const Scalar kept = scale<Scalar>();
    const std::uint64_t key = layer_key(layer);
    for (Index t = 0; t < steps; ++t)
      for (Index b = 0; b < batch; ++b) {
        const std::uint64_t col = column_key(key, t, b);
        Scalar* m = out.col(t * batch + b).data();
        for (Index i = 0; i < rows; ++i) m[i] = bits(col, i) >= threshold_ ? kept : Scalar(0);
      }
  }

 private:
  static double checked_rate(const DropoutOptions& options) {
    check_dropout(options);
    return options.rate;
  }
  std::uint64_t layer_key(Index layer) const {  // (K1)
    return detail::mix64(key_ ^ static_cast<std::uint64_t>(layer));
  }
  std::uint64_t column_key(std::uint64_t key, Index t, Index b) const {  // (K2)
    return detail::mix64(detail::mix64(key ^ static_cast<std::uint64_t>(t)) ^ (first_ + static_cast<std::uint64_t>(b)));
  }
  static std::uint64_t bits(std::uint64_t col, Index i) {  // (K3)
    return detail::mix64(col + static_cast<std::uint64_t>(i) * detail::kSplitMixGamma) >> 11;
  }

  double rate_ = 0;
  std::uint64_t first_ = 0;
  std::uint64_t key_ = 0;
  std::uint64_t threshold_ = 0;
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_DROPOUT_HPP

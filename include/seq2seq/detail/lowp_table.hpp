// seq2seq: an embedding table in a reduced precision (int8 with a scale per word, or bf16), the
// decoding copy of a model's embeddings (inference.hpp); the conversions are detail/lowp_tiles.hpp's,
// so a looked-up vector is the same number the products would see.
#ifndef SEQ2SEQ_DETAIL_LOWP_TABLE_HPP
#define SEQ2SEQ_DETAIL_LOWP_TABLE_HPP

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../precision.hpp"
#include "lowp_tiles.hpp"

namespace seq2seq::detail {

/// An embedding table E (Dim x V, one column per word) in a reduced precision: int8 with one
/// scale per word, or bf16. lookup() writes the stored vector of a word back as Scalar.
class LowpTable {
 public:
  using Index = Eigen::Index;
  LowpTable() = default;
  template <typename Derived>
  LowpTable(const Eigen::MatrixBase<Derived>& E, Precision p) : precision_(p), dim_(E.rows()), words_(E.cols()) {
    if (p == Precision::float32) throw std::invalid_argument("seq2seq: LowpTable: float32 is not a reduced precision");
    const auto n = static_cast<std::size_t>(dim_ * words_);
    if (p == Precision::int8) {
      int8_.resize(n);
      scale_.resize(static_cast<std::size_t>(words_));
    } else {
      bf16_.resize(n);
    }
    for (Index v = 0; v < words_; ++v) {
      float amax = 0;
      for (Index d = 0; d < dim_; ++d) {
        const float x = static_cast<float>(E(d, v));
        if (!std::isfinite(x)) throw std::invalid_argument("seq2seq: LowpTable: the embeddings hold NaN or Inf");
        amax = std::max(amax, std::abs(x));
      }
      const float s = int8_scale(amax), inv = 1.0f / s;
      for (Index d = 0; d < dim_; ++d) {
        const auto at = static_cast<std::size_t>(v * dim_ + d);
        if (p == Precision::int8)
          int8_[at] = static_cast<std::int8_t>(quantize_int8(static_cast<float>(E(d, v)), inv));
        else
          bf16_[at] = float_to_bf16(static_cast<float>(E(d, v)));
      }
      if (p == Precision::int8) scale_[static_cast<std::size_t>(v)] = s;
    }
  }
  Index dim() const { return dim_; }
  Index vocab_size() const { return words_; }
  std::size_t bytes() const { return int8_.size() + 4 * scale_.size() + 2 * bf16_.size(); }

  /// x (Dim) = the stored vector of `word` (checked by the caller).
  template <typename Out>
  void lookup(Index word, Out&& x) const {
    const auto base = static_cast<std::size_t>(word * dim_);
    using Scalar = typename std::decay_t<Out>::Scalar;
    if (precision_ == Precision::int8) {
      const float s = scale_[static_cast<std::size_t>(word)];
      for (Index d = 0; d < dim_; ++d) x(d) = static_cast<Scalar>(s * static_cast<float>(int8_[base + static_cast<std::size_t>(d)]));
    } else {
      for (Index d = 0; d < dim_; ++d) x(d) = static_cast<Scalar>(bf16_to_float(bf16_[base + static_cast<std::size_t>(d)]));
    }
  }

 private:
  Precision precision_ = Precision::int8;
  Index dim_ = 0, words_ = 0;
  std::vector<std::int8_t> int8_;
  std::vector<float> scale_;
  std::vector<std::uint16_t> bf16_;
};


}  // namespace seq2seq::detail

#endif  // SEQ2SEQ_DETAIL_LOWP_TABLE_HPP

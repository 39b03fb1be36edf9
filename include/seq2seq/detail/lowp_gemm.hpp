// seq2seq: reduced-precision weight matrices for decoding (Precision::int8 and Precision::bf16)
// and their products Y (+)= A X, with A the stored weights (M x K) and X float activations (K x N).
//
// int8 (Int8Matrix): each row m of A is stored as q = round(A(m, :) / s_m) in [-127, 127] with
// s_m = max|A(m, :)| / 127. Each column n of X is quantized when the product runs, to
// u = round(X(:, n) / t_n) + 128 in [1, 255] with t_n = max|X(:, n)| / 127 (zero point 128), so
//   Y(m, n) = s_m t_n (sum_k q(m, k) u(k, n) - 128 sum_k q(m, k))
// with the sum an exact s32 (u8 x s8 -> s32). Error: at most half a step of each factor, about
// 0.4% of the largest |A(m, :)| times |X(:, n)| per term, before cancellation.
//
// bf16 (Bf16Matrix): A rounded to bfloat16 (round to nearest even, 8 significant bits), X rounded
// to bf16 when the product runs; each product of two bf16 numbers is exact in float and the sums
// accumulate in float, pair by pair (the order of AVX512_BF16's vdpbf16ps).
//
//
// The kernels (AVX-512 tiles, oneDNN, portable loops) and their choice: detail/lowp_tiles.hpp;
// embedding tables in these precisions: detail/lowp_table.hpp.
#ifndef SEQ2SEQ_DETAIL_LOWP_GEMM_HPP
#define SEQ2SEQ_DETAIL_LOWP_GEMM_HPP

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../precision.hpp"
#include "gemm.hpp"
#include "lowp_tiles.hpp"

#if defined(SEQ2SEQ_USE_DNNL)
#include <oneapi/dnnl/dnnl.h>
#endif

namespace seq2seq::detail {

/// Checks of the operands of a product (the messages name the product's shapes).
template <typename DX, typename DY>
void check_lowp_operands(const char* what, Eigen::Index M, Eigen::Index K, const DX& X, const DY& Y) {
  if (X.rows() != K || Y.rows() != M || Y.cols() != X.cols())
    throw std::invalid_argument(std::string("seq2seq: ") + what + ": a " + std::to_string(M) + " x " +
                                std::to_string(K) + " matrix times " + std::to_string(X.rows()) + " x " +
                                std::to_string(X.cols()) + " into " + std::to_string(Y.rows()) + " x " +
                                std::to_string(Y.cols()));
  if (X.innerStride() != 1 || Y.innerStride() != 1)
    throw std::invalid_argument(std::string("seq2seq: ") + what + ": operands need unit inner stride");
}

/// Where a kernel writes its float results for Y (M x N, float or double): Y itself when it is
/// float, else a buffer of the calling thread that finish() adds into Y.
template <typename DY>
class FloatOutput {
 public:
  FloatOutput(DY& Y, bool accumulate) : Y_(Y), accumulate_(accumulate) {
    if constexpr (direct) {
      y = Y.data();
      ldy = Y.outerStride();
    } else {
      y = thread_buffer<float, 2>(static_cast<std::size_t>(Y.rows() * Y.cols()));
      ldy = Y.rows();
    }
  }
  /// Whether the kernel adds into `y` (only when `y` is Y itself) or overwrites it.
  bool kernel_accumulates() const { return direct && accumulate_; }
  void finish() const {
    if constexpr (!direct) {
      using Scalar = typename std::decay_t<DY>::Scalar;
      const Eigen::Map<const Eigen::MatrixXf> R(y, Y_.rows(), Y_.cols());
      if (accumulate_)
        Y_ += R.template cast<Scalar>();
      else
        Y_ = R.template cast<Scalar>();
    }
  }

  float* y = nullptr;
  Eigen::Index ldy = 0;

 private:
  static constexpr bool direct = std::is_same<typename std::decay_t<DY>::Scalar, float>::value;
  DY& Y_;
  bool accumulate_;
};

/// Weights (M x K) as int8 with a scale per row (see the file comment).
class Int8Matrix {
 public:
  using Index = Eigen::Index;
  Int8Matrix() = default;

  template <typename Derived>
  explicit Int8Matrix(const Eigen::MatrixBase<Derived>& A, LowpKernel kernel = default_int8_kernel()) {
    assign(A, kernel);
  }

  /// Quantizes A into this matrix, reusing its storage when it is large enough.
  template <typename Derived>
  void assign(const Eigen::MatrixBase<Derived>& A, LowpKernel kernel = default_int8_kernel()) {
    rows_ = A.rows();
    cols_ = A.cols();
    kernel_ = kernel;
#if !defined(SEQ2SEQ_USE_DNNL)
    if (kernel_ == LowpKernel::onednn) kernel_ = LowpKernel::portable;  // not built in
#endif
    // Both fast kernels need AVX512_VNNI: our tiles for the instruction, oneDNN's for exact sums
    // (lowp_tiles.hpp, "onednn").
    if (kernel_ != LowpKernel::portable && !cpu_has_avx512_vnni()) kernel_ = LowpKernel::portable;
    row_blocks_ = (rows_ + 15) / 16;
    quads_ = (cols_ + 3) / 4;
    scale_.assign(static_cast<std::size_t>(row_blocks_ * 16), 0.0f);
    row_sum_.assign(static_cast<std::size_t>(row_blocks_ * 16), 0);
    if (kernel_ == LowpKernel::onednn)
      data_.assign(static_cast<std::size_t>(rows_ * cols_), 0);
    else
      data_.assign(static_cast<std::size_t>(row_blocks_ * quads_ * 64), 0);
    for (Index m = 0; m < rows_; ++m) {
      float amax = 0;
      for (Index k = 0; k < cols_; ++k) {
        const float a = static_cast<float>(A(m, k));
        // Checked one by one: std::max skips a NaN.
        if (!std::isfinite(a)) throw std::invalid_argument("seq2seq: Int8Matrix: the weights hold NaN or Inf");
        amax = std::max(amax, std::abs(a));
      }
      const float s = int8_scale(amax), inv = 1.0f / s;
      std::int32_t sum = 0;
      for (Index k = 0; k < cols_; ++k) {
        const int q = quantize_int8(static_cast<float>(A(m, k)), inv);
        sum += q;
        data_[static_cast<std::size_t>(index(m, k))] = static_cast<std::int8_t>(q);
      }
      scale_[static_cast<std::size_t>(m)] = s;
      row_sum_[static_cast<std::size_t>(m)] = sum;
    }
  }

  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  LowpKernel kernel() const { return kernel_; }
  /// The stored weight (m, k) as a float: scale * q.
  float value(Index m, Index k) const {
    return scale_[static_cast<std::size_t>(m)] * static_cast<float>(data_[static_cast<std::size_t>(index(m, k))]);
  }
  std::size_t bytes() const { return data_.size() + 8 * scale_.size(); }

  /// Y (M x N) = A X, or Y += A X with `accumulate`; X is K x N. Scalar float or double.
  template <typename DX, typename DY>
  void multiply(const DX& X, DY&& Y, bool accumulate) const {
    check_lowp_operands("Int8Matrix::multiply", rows_, cols_, X, Y);
    const Index N = X.cols();
    if (N == 0 || rows_ == 0) return;
    const Index ldx = quads_ * 4;
    std::uint8_t* xq = thread_buffer<std::uint8_t, 0>(static_cast<std::size_t>(ldx * N));
    float* xs = thread_buffer<float, 1>(static_cast<std::size_t>(N));
    quantize_columns(X, xq, ldx, xs);
    const FloatOutput<std::remove_reference_t<DY>> out(Y, accumulate);
    run(xq, ldx, xs, N, out.y, out.ldy, out.kernel_accumulates());
    out.finish();
  }

 private:
  Index index(Index m, Index k) const {
    if (kernel_ == LowpKernel::onednn) return m * cols_ + k;
    return ((m / 16) * quads_ + k / 4) * 64 + (m % 16) * 4 + k % 4;
  }

  template <typename DX>
  void quantize_columns(const DX& X, std::uint8_t* xq, Index ldx, float* xs) const {
#if SEQ2SEQ_LOWP_X86
    if constexpr (std::is_same<typename DX::Scalar, float>::value) {
      if (kernel_ == LowpKernel::avx512) {
        for (Index n = 0; n < X.cols(); ++n) {
          xs[n] = quantize_column_avx512(X.data() + n * X.outerStride(), cols_, ldx, xq + n * ldx);
          if (xs[n] < 0) throw NonFiniteInputError("seq2seq: Int8Matrix::multiply: the input holds NaN or Inf");
        }
        return;
      }
    }
#endif
    for (Index n = 0; n < X.cols(); ++n) {
      float amax = 0;
      bool finite = true;  // checked one by one: std::max skips a NaN
      for (Index k = 0; k < cols_; ++k) {
        const float x = static_cast<float>(X(k, n));
        finite = finite && std::isfinite(x);
        amax = std::max(amax, std::abs(x));
      }
      if (!finite) throw NonFiniteInputError("seq2seq: Int8Matrix::multiply: the input holds NaN or Inf");
      const float s = int8_scale(amax), inv = 1.0f / s;
      std::uint8_t* col = xq + n * ldx;
      for (Index k = 0; k < cols_; ++k) col[k] = static_cast<std::uint8_t>(quantize_int8(static_cast<float>(X(k, n)), inv) + 128);
      for (Index k = cols_; k < ldx; ++k) col[k] = 128;
      xs[n] = s;
    }
  }

  void run(const std::uint8_t* xq, Index ldx, const float* xs, Index N, float* y, Index ldy, bool accumulate) const {
    switch (kernel_) {
      case LowpKernel::onednn: run_onednn(xq, ldx, xs, N, y, ldy, accumulate); return;
      case LowpKernel::avx512: run_avx512(xq, ldx, xs, N, y, ldy, accumulate); return;
      case LowpKernel::portable: run_portable(xq, ldx, xs, N, y, ldy, accumulate); return;
    }
  }

  void run_portable(const std::uint8_t* xq, Index ldx, const float* xs, Index N, float* y, Index ldy,
                    bool accumulate) const {
    for_row_panels(row_blocks_, rows_ * N * cols_, [&](Index first, Index blocks) {
      std::int32_t acc[16];
      for (Index mb = first; mb < first + blocks; ++mb) {
        const std::int8_t* wb = data_.data() + mb * quads_ * 64;
        const Index m0 = mb * 16, rows = std::min<Index>(16, rows_ - m0);
        for (Index n = 0; n < N; ++n) {
          const std::uint8_t* xc = xq + n * ldx;
          for (int lane = 0; lane < 16; ++lane) acc[lane] = 0;
          for (Index kq = 0; kq < quads_; ++kq) {
            const std::int8_t* w = wb + kq * 64;
            const std::uint8_t* x = xc + kq * 4;
            for (int lane = 0; lane < 16; ++lane)
              acc[lane] += w[lane * 4] * x[0] + w[lane * 4 + 1] * x[1] + w[lane * 4 + 2] * x[2] + w[lane * 4 + 3] * x[3];
          }
          float* out = y + n * ldy + m0;
          for (Index r = 0; r < rows; ++r) {
            const auto mr = static_cast<std::size_t>(m0 + r);
            const float v = static_cast<float>(acc[r] - 128 * row_sum_[mr]) * (scale_[mr] * xs[n]);
            out[r] = accumulate ? out[r] + v : v;
          }
        }
      }
    });
  }

  void run_avx512(const std::uint8_t* xq, Index ldx, const float* xs, Index N, float* y, Index ldy,
                  bool accumulate) const {
#if SEQ2SEQ_LOWP_X86
    for_row_panels(row_blocks_, rows_ * N * cols_, [&](Index first, Index blocks) {
      const std::int8_t* w = data_.data() + first * quads_ * 64;
      const Index m0 = first * 16, rows = std::min<Index>(16 * blocks, rows_ - m0);
      const auto tile = [&](auto mb, auto nr, Index n) {
        int8_tile_avx512<decltype(mb)::value, decltype(nr)::value>(
            w, quads_, xq + n * ldx, ldx, scale_.data() + m0, row_sum_.data() + m0, xs + n, y + n * ldy + m0, ldy, rows,
            accumulate);
      };
      for_tiles(blocks, N, tile);
    });
#else
    run_portable(xq, ldx, xs, N, y, ldy, accumulate);
#endif
  }

  void run_onednn(const std::uint8_t* xq, Index ldx, const float* xs, Index N, float* y, Index ldy,
                  bool accumulate) const {
#if defined(SEQ2SEQ_USE_DNNL)
    // Row-major view: C^T (N x M) = (U^T - 128) Q^T with U^T = the quantized columns (N x K, lda = ldx).
    std::int32_t* c = thread_buffer<std::int32_t, 3>(static_cast<std::size_t>(rows_ * N));
    const std::int32_t co = 0;
    const DnnlThreadScope threads;
    const dnnl_status_t st = dnnl_gemm_u8s8s32('N', 'T', 'F', N, rows_, cols_, 1.0f, xq, ldx, 128, data_.data(), cols_,
                                               0, 0.0f, c, rows_, &co);
    if (st != dnnl_success) throw std::runtime_error("seq2seq: dnnl_gemm_u8s8s32 failed");
    for (Index n = 0; n < N; ++n)
      for (Index m = 0; m < rows_; ++m) {
        const float v = static_cast<float>(c[n * rows_ + m]) * (scale_[static_cast<std::size_t>(m)] * xs[n]);
        float& out = y[n * ldy + m];
        out = accumulate ? out + v : v;
      }
#else
    run_portable(xq, ldx, xs, N, y, ldy, accumulate);
#endif
  }

  Index rows_ = 0, cols_ = 0, row_blocks_ = 0, quads_ = 0;
  LowpKernel kernel_ = LowpKernel::portable;
  std::vector<std::int8_t> data_;
  std::vector<float> scale_;
  std::vector<std::int32_t> row_sum_;
};

/// Weights (M x K) as bfloat16 (see the file comment).
class Bf16Matrix {
 public:
  using Index = Eigen::Index;
  Bf16Matrix() = default;

  template <typename Derived>
  explicit Bf16Matrix(const Eigen::MatrixBase<Derived>& A, LowpKernel kernel = default_bf16_kernel()) {
    assign(A, kernel);
  }

  /// Rounds A into this matrix, reusing its storage when it is large enough.
  template <typename Derived>
  void assign(const Eigen::MatrixBase<Derived>& A, LowpKernel kernel = default_bf16_kernel()) {
    rows_ = A.rows();
    cols_ = A.cols();
    kernel_ = kernel;
    if (kernel_ != LowpKernel::avx512 || !cpu_has_avx512_bf16()) kernel_ = LowpKernel::portable;
    row_blocks_ = (rows_ + 15) / 16;
    pairs_ = (cols_ + 1) / 2;
    data_.assign(static_cast<std::size_t>(row_blocks_ * pairs_ * 32), 0);
    for (Index m = 0; m < rows_; ++m)
      for (Index k = 0; k < cols_; ++k) {
        const float a = static_cast<float>(A(m, k));
        if (!std::isfinite(a)) throw std::invalid_argument("seq2seq: Bf16Matrix: the weights hold NaN or Inf");
        data_[static_cast<std::size_t>(index(m, k))] = float_to_bf16(a);
      }
  }

  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  LowpKernel kernel() const { return kernel_; }
  float value(Index m, Index k) const { return bf16_to_float(data_[static_cast<std::size_t>(index(m, k))]); }
  std::size_t bytes() const { return 2 * data_.size(); }

  /// Y (M x N) = A X, or Y += A X with `accumulate`; X is K x N. Scalar float or double.
  template <typename DX, typename DY>
  void multiply(const DX& X, DY&& Y, bool accumulate) const {
    check_lowp_operands("Bf16Matrix::multiply", rows_, cols_, X, Y);
    const Index N = X.cols();
    if (N == 0 || rows_ == 0) return;
    const Index ldx = pairs_ * 2;
    std::uint16_t* xb = thread_buffer<std::uint16_t, 0>(static_cast<std::size_t>(ldx * N));
    bool converted = false;
#if SEQ2SEQ_LOWP_X86
    if constexpr (std::is_same<typename std::decay_t<DX>::Scalar, float>::value) {
      if (kernel_ == LowpKernel::avx512) {
        for (Index n = 0; n < N; ++n)
          if (!bf16_column_avx512(X.data() + n * X.outerStride(), cols_, ldx, xb + n * ldx))
            throw NonFiniteInputError("seq2seq: Bf16Matrix::multiply: the input holds NaN or Inf");
        converted = true;
      }
    }
#endif
    for (Index n = 0; n < N && !converted; ++n) {
      std::uint16_t* col = xb + n * ldx;
      for (Index k = 0; k < cols_; ++k) {
        const float v = static_cast<float>(X(k, n));
        if (!std::isfinite(v)) throw NonFiniteInputError("seq2seq: Bf16Matrix::multiply: the input holds NaN or Inf");
        col[k] = float_to_bf16(v);
      }
      for (Index k = cols_; k < ldx; ++k) col[k] = 0;
    }
    const FloatOutput<std::remove_reference_t<DY>> out(Y, accumulate);
    if (kernel_ == LowpKernel::avx512)
      run_avx512(xb, ldx, N, out.y, out.ldy, out.kernel_accumulates());
    else
      run_portable(xb, ldx, N, out.y, out.ldy, out.kernel_accumulates());
    out.finish();
  }

 private:
  Index index(Index m, Index k) const { return ((m / 16) * pairs_ + k / 2) * 32 + (m % 16) * 2 + k % 2; }

  void run_portable(const std::uint16_t* xb, Index ldx, Index N, float* y, Index ldy, bool accumulate) const {
    for_row_panels(row_blocks_, rows_ * N * cols_, [&](Index first, Index blocks) {
      float acc[16];
      for (Index mb = first; mb < first + blocks; ++mb) {
        const std::uint16_t* wb = data_.data() + mb * pairs_ * 32;
        const Index m0 = mb * 16, rows = std::min<Index>(16, rows_ - m0);
        for (Index n = 0; n < N; ++n) {
          const std::uint16_t* xc = xb + n * ldx;
          for (int lane = 0; lane < 16; ++lane) acc[lane] = 0;
          for (Index kp = 0; kp < pairs_; ++kp) {
            const std::uint16_t* w = wb + kp * 32;
            const float x0 = bf16_to_float(xc[2 * kp]), x1 = bf16_to_float(xc[2 * kp + 1]);
            for (int lane = 0; lane < 16; ++lane) {
              // vdpbf16ps order: the odd element first. Each product is exact in float.
              acc[lane] += bf16_to_float(w[2 * lane + 1]) * x1;
              acc[lane] += bf16_to_float(w[2 * lane]) * x0;
            }
          }
          float* out = y + n * ldy + m0;
          for (Index r = 0; r < rows; ++r) out[r] = accumulate ? out[r] + acc[r] : acc[r];
        }
      }
    });
  }

  void run_avx512(const std::uint16_t* xb, Index ldx, Index N, float* y, Index ldy, bool accumulate) const {
#if SEQ2SEQ_LOWP_X86
    for_row_panels(row_blocks_, rows_ * N * cols_, [&](Index first, Index blocks) {
      const std::uint16_t* w = data_.data() + first * pairs_ * 32;
      const Index m0 = first * 16, rows = std::min<Index>(16 * blocks, rows_ - m0);
      const auto tile = [&](auto mb, auto nr, Index n) {
        bf16_tile_avx512<decltype(mb)::value, decltype(nr)::value>(w, pairs_, xb + n * ldx, ldx, y + n * ldy + m0, ldy,
                                                                   rows, accumulate);
      };
      for_tiles(blocks, N, tile);
    });
#else
    run_portable(xb, ldx, N, y, ldy, accumulate);
#endif
  }

  Index rows_ = 0, cols_ = 0, row_blocks_ = 0, pairs_ = 0;
  LowpKernel kernel_ = LowpKernel::portable;
  std::vector<std::uint16_t> data_;
};

/// Float weights (M x K) packed in blocks of 16 rows (one 16-float column per depth) for the
/// AVX-512 float tile; only made on CPUs with AVX-512F (Fp32Matrix::available), where it is
/// decoding's float32 kernel (detail::PackedMatrix, Eigen's kernel, elsewhere). Y += A X reads
/// X in place (no packing of the activations).
class Fp32Matrix {
 public:
  using Index = Eigen::Index;
  static bool available() { return !lowp_force_portable() && cpu_has_avx512f(); }
  Fp32Matrix() = default;
  template <typename Derived>
  void assign(const Eigen::MatrixBase<Derived>& A) {
    if (!available()) throw std::logic_error("seq2seq: Fp32Matrix: this CPU has no AVX-512F");
    rows_ = A.rows();
    cols_ = A.cols();
    row_blocks_ = (rows_ + 15) / 16;
    data_.assign(static_cast<std::size_t>(row_blocks_ * cols_ * 16), 0.0f);
    for (Index m = 0; m < rows_; ++m)
      for (Index k = 0; k < cols_; ++k)
        data_[static_cast<std::size_t>(((m / 16) * cols_ + k) * 16 + m % 16)] = static_cast<float>(A(m, k));
  }
  Index rows() const { return rows_; }
  Index cols() const { return cols_; }

  /// Y (M x N) += A X; X K x N, both float, column-major with unit inner stride.
  template <typename DX, typename DY>
  void add(const DX& X, DY&& Y) const {
    check_lowp_operands("Fp32Matrix::add", rows_, cols_, X, Y);
    const Index N = X.cols();
    if (N == 0 || rows_ == 0) return;
#if SEQ2SEQ_LOWP_X86
    const float* x = X.data();
    const Index ldx = X.outerStride(), ldy = Y.outerStride();
    float* y = Y.data();
    for_row_panels(row_blocks_, rows_ * N * cols_, [&](Index first, Index blocks) {
      const float* w = data_.data() + first * cols_ * 16;
      const Index m0 = first * 16, rows = std::min<Index>(16 * blocks, rows_ - m0);
      const auto tile = [&](auto mb, auto nr, Index n) {
        f32_tile_avx512<decltype(mb)::value, decltype(nr)::value>(w, cols_, x + n * ldx, ldx, y + n * ldy + m0, ldy, rows);
      };
      for_tiles(blocks, N, tile);
    });
#endif
  }

 private:
  Index rows_ = 0, cols_ = 0, row_blocks_ = 0;
  std::vector<float> data_;
};

/// A weight matrix in one of the reduced precisions (int8 or bf16), chosen at run time.
class LowpMatrix {
 public:
  using Index = Eigen::Index;
  LowpMatrix() = default;
  template <typename Derived>
  LowpMatrix(const Eigen::MatrixBase<Derived>& A, Precision p) {
    assign(A, p);
  }
  template <typename Derived>
  void assign(const Eigen::MatrixBase<Derived>& A, Precision p) {
    precision_ = p;
    if (p == Precision::int8)
      int8_.assign(A);
    else if (p == Precision::bf16)
      bf16_.assign(A);
    else
      throw std::invalid_argument("seq2seq: LowpMatrix: float32 is not a reduced precision");
  }
  Precision precision() const { return precision_; }
  Index rows() const { return precision_ == Precision::int8 ? int8_.rows() : bf16_.rows(); }
  Index cols() const { return precision_ == Precision::int8 ? int8_.cols() : bf16_.cols(); }
  LowpKernel kernel() const { return precision_ == Precision::int8 ? int8_.kernel() : bf16_.kernel(); }
  std::size_t bytes() const { return precision_ == Precision::int8 ? int8_.bytes() : bf16_.bytes(); }
  float value(Index m, Index k) const { return precision_ == Precision::int8 ? int8_.value(m, k) : bf16_.value(m, k); }
  template <typename DX, typename DY>
  void multiply(const DX& X, DY&& Y, bool accumulate) const {
    if (precision_ == Precision::int8)
      int8_.multiply(X, Y, accumulate);
    else
      bf16_.multiply(X, Y, accumulate);
  }

 private:
  Precision precision_ = Precision::int8;
  Int8Matrix int8_;
  Bf16Matrix bf16_;
};

}  // namespace seq2seq::detail

#endif  // SEQ2SEQ_DETAIL_LOWP_GEMM_HPP

// seq2seq: bf16 training products (set_bf16_products): the large float products of the
// forward and backward passes (detail::gemm, the recurrence) with operands rounded to bfloat16
// and sums kept in float, on oneDNN's AVX512_BF16 matmul. The parameters, gradients, optimizer
// state and every elementwise pass stay in float: only what goes into a product is rounded.
//
// Available with the oneDNN backend (SEQ2SEQ_USE_DNNL) on CPUs with AVX512_BF16; elsewhere
// set_bf16_products(true) throws. Rounding is to nearest even (vcvtneps2bf16); a NaN stays a NaN
// and an Inf an Inf, so the training step's non-finite rule sees them as in float.
#ifndef SEQ2SEQ_DETAIL_BF16_PRODUCTS_HPP
#define SEQ2SEQ_DETAIL_BF16_PRODUCTS_HPP

#include <Eigen/Core>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../config.hpp"
#include "cpu_features.hpp"
#include "dnnl_matmul.hpp"

namespace seq2seq {

namespace detail {
inline std::atomic<bool>& bf16_products_flag() {
  static std::atomic<bool> on{false};
  return on;
}
}  // namespace detail

/// Why bf16 training products cannot be switched on in this build on this CPU, as the end of a
/// sentence "... need <reason>"; empty when they can (the oneDNN backend and AVX512_BF16).
inline std::string bf16_products_unavailable_reason() {
#if defined(SEQ2SEQ_USE_DNNL)
  return detail::cpu_has_avx512_bf16() ? std::string() : std::string("a CPU with AVX512_BF16, which this one has not");
#else
  return std::string("the oneDNN backend (build with libdnnl-dev installed, -DSEQ2SEQ_GEMM_BACKEND=auto or dnnl); "
                     "this build multiplies with ") + gemm_backend();
#endif
}

/// Whether bf16 training products can be switched on in this build on this CPU.
inline bool bf16_products_available() { return bf16_products_unavailable_reason().empty(); }

/// Whether float products run with bf16 operands (process-wide; off by default).
inline bool bf16_products() { return detail::bf16_products_flag().load(std::memory_order_relaxed); }

/// Switches bf16 products on or off for the whole process. Set it between training steps, not
/// during one. Switching on where bf16_products_available() is false throws std::runtime_error
/// naming what is missing.
inline void set_bf16_products(bool on) {
  if (on && !bf16_products_available())
    throw std::runtime_error("seq2seq: bf16 products need " + bf16_products_unavailable_reason());
  detail::bf16_products_flag().store(on, std::memory_order_relaxed);
}

/// Sets bf16 products for a scope and gives the earlier setting back at its end.
class Bf16ProductsScope {
 public:
  explicit Bf16ProductsScope(bool on) : before_(bf16_products()) { set_bf16_products(on); }
  Bf16ProductsScope(const Bf16ProductsScope&) = delete;
  Bf16ProductsScope& operator=(const Bf16ProductsScope&) = delete;
  ~Bf16ProductsScope() { detail::bf16_products_flag().store(before_, std::memory_order_relaxed); }

 private:
  bool before_;
};

namespace detail {

#if defined(SEQ2SEQ_USE_DNNL)

/// A grow-only buffer of bf16 values of the calling thread, one per operand (Slot 0: A, 1: B).
template <int Slot>
inline std::uint16_t* bf16_operand_buffer(std::size_t n) {
  thread_local std::uint16_t* data = nullptr;
  thread_local std::size_t size = 0;
  struct Free {
    std::uint16_t** p;
    ~Free() { Eigen::internal::aligned_free(*p); }
  };
  thread_local Free free_at_exit{&data};
  if (n > size) {
    Eigen::internal::aligned_free(data);
    data = static_cast<std::uint16_t*>(Eigen::internal::aligned_malloc(n * sizeof(std::uint16_t)));
    size = n;
  }
  return data;
}

/// Rounds the rows x cols float matrix at x (column-major, ld apart) into out (column-major,
/// rows apart), to nearest even.
#if SEQ2SEQ_LOWP_X86
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void round_to_bf16(
    const float* x, Eigen::Index rows, Eigen::Index cols, Eigen::Index ld, std::uint16_t* out) {
  for (Eigen::Index j = 0; j < cols; ++j) {
    const float* col = x + j * ld;
    std::uint16_t* o = out + j * rows;
    Eigen::Index i = 0;
    for (; i + 32 <= rows; i += 32) {
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(col + i + 16), _mm512_loadu_ps(col + i));
      _mm512_storeu_si512(o + i, reinterpret_cast<__m512i>(v));
    }
    for (; i < rows; i += 16) {
      const __mmask16 m = static_cast<__mmask16>(rows - i >= 16 ? 0xffffu : (1u << (rows - i)) - 1u);
      const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, col + i));
      _mm256_mask_storeu_epi16(o + i, m, reinterpret_cast<__m256i>(v));
    }
  }
}
#else
inline void round_to_bf16(const float*, Eigen::Index, Eigen::Index, Eigen::Index, std::uint16_t*) {
  throw std::logic_error("seq2seq: bf16 products are x86-64 only");  // bf16_products_available() is false
}
#endif

/// C (M x N) = op(A) op(B) (op = transpose when ta / tb), or += with `accumulate`, with A and B rounded to bf16 (a_bf16: A
/// already rounded, column-major with A's rows apart, or null). A, B, C column-major with unit
/// inner stride. The product runs dnnl_matmul (dnnl_matmul.hpp) on the rounded copies.
inline void bf16_gemm(bool ta, const float* a, Eigen::Index a_rows, Eigen::Index a_cols, Eigen::Index lda, bool tb,
                      const float* b, Eigen::Index b_rows, Eigen::Index b_cols, Eigen::Index ldb, float* c,
                      Eigen::Index M, Eigen::Index N, Eigen::Index ldc, bool accumulate,
                      const std::uint16_t* a_bf16 = nullptr) {
  const Eigen::Index K = ta ? a_rows : a_cols;
  if (a_bf16 == nullptr) {
    std::uint16_t* pa = bf16_operand_buffer<0>(static_cast<std::size_t>(a_rows * a_cols));
    round_to_bf16(a, a_rows, a_cols, lda, pa);
    a_bf16 = pa;
  }
  std::uint16_t* pb = bf16_operand_buffer<1>(static_cast<std::size_t>(b_rows * b_cols));
  round_to_bf16(b, b_rows, b_cols, ldb, pb);
  dnnl_matmul(dnnl::memory::data_type::bf16, ta, a_bf16, a_rows, tb, pb, b_rows, c, M, N, K, ldc, accumulate);
}

#endif  // SEQ2SEQ_USE_DNNL

}  // namespace detail
}  // namespace seq2seq

#endif  // SEQ2SEQ_DETAIL_BF16_PRODUCTS_HPP

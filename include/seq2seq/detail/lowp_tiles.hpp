// seq2seq: the building blocks of the reduced-precision products (detail/lowp_gemm.hpp): the
// CPU checks and the choice of kernel, the scalar conversions every kernel shares, the AVX-512
// tiles and the loops that run them over a product.
//
// Kernels, chosen when a matrix is made (LowpKernel):
//   avx512    hand-written AVX-512 tiles (64 rows x 6 columns in registers) over A packed in blocks of
//             16 rows x 4 depths (int8: one vpdpbusd per block) or 16 rows x 2 depths (bf16: one
//             vdpbf16ps). Compiled with function target attributes on x86-64 GCC/Clang and used
//             only when the CPU reports AVX512_VNNI / AVX512_BF16 at run time, so the library
//             needs no -march flag and runs on any x86-64 CPU.
//   onednn    int8 only, with -DSEQ2SEQ_GEMM_BACKEND=dnnl (SEQ2SEQ_USE_DNNL): dnnl_gemm_u8s8s32 on
//             A stored row-major, the zero point passed as oneDNN's A offset. Only on CPUs with
//             AVX512_VNNI: without it oneDNN adds the u8 x s8 products in pairs in saturating
//             16-bit arithmetic (vpmaddubsw), so 255 x 127 + 255 x 127 overflows (4 such terms
//             gave 65,534 for 129,540 on an AVX2 CPU); there the portable kernel runs instead.
//   portable  plain C++ loops over the packed layout, for every other CPU and compiler. Its int8
//             sums are the same integers as the other kernels' (exact arithmetic), so its results are
//             the same bits; its bf16 sums add in the same order as vdpbf16ps (equal up to
//             subnormals, which vdpbf16ps flushes to zero).
// force_portable_kernels(true) makes later matrices portable (tests use it to check the portable
// path on a CPU that has the instructions).
//
// The quantized activations go to a grow-only buffer of the calling thread, so a steady state of
// products allocates nothing.
#ifndef SEQ2SEQ_DETAIL_LOWP_TILES_HPP
#define SEQ2SEQ_DETAIL_LOWP_TILES_HPP

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../precision.hpp"
#include "cpu_features.hpp"
#include "gemm.hpp"


namespace seq2seq::detail {

/// Which code multiplies a low-precision matrix (see the file comment).
enum class LowpKernel { portable, avx512, onednn };

inline const char* lowp_kernel_name(LowpKernel k) {
  switch (k) {
    case LowpKernel::portable: return "portable";
    case LowpKernel::avx512: return "avx512";
    case LowpKernel::onednn: return "onednn";
  }
  return "?";
}

/// While on, matrices made from then on use the portable kernels (tests check that path on CPUs
/// that have the instructions). Not synchronised: set it before decoding threads start.
inline bool& lowp_force_portable() {
  static bool force = false;
  return force;
}
inline void force_portable_kernels(bool on) { lowp_force_portable() = on; }

inline LowpKernel default_int8_kernel() {
  if (lowp_force_portable()) return LowpKernel::portable;
#if defined(SEQ2SEQ_USE_DNNL)
  return cpu_has_avx512_vnni() ? LowpKernel::onednn : LowpKernel::portable;
#else
  return cpu_has_avx512_vnni() ? LowpKernel::avx512 : LowpKernel::portable;
#endif
}
inline LowpKernel default_bf16_kernel() {
  if (lowp_force_portable()) return LowpKernel::portable;
  return cpu_has_avx512_bf16() ? LowpKernel::avx512 : LowpKernel::portable;
}

// ---------------------------------------------------------------------------------------------
// Scalar conversions shared by every kernel (so every kernel sees the same quantized operands).

/// float -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN.
inline std::uint16_t float_to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}
inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// The int8 step of a row or column whose largest magnitude is `amax` (1 for an all-zero one).
inline float int8_scale(float amax) { return amax > 0 ? amax / 127.0f : 1.0f; }
inline int quantize_int8(float x, float inv_scale) {
  const float r = std::nearbyint(x * inv_scale);
  return static_cast<int>(std::max(-127.0f, std::min(127.0f, r)));
}

/// A grow-only aligned buffer of the calling thread, one per element type and purpose `Tag`.
template <typename T, int Tag>
T* thread_buffer(std::size_t n) {
  thread_local ScratchBuffer<T> buffer;
  return buffer.get(std::max<std::size_t>(n, 1));
}

// ---------------------------------------------------------------------------------------------
// The AVX-512 tiles (compiled for AVX-512 by target attributes; called only after a CPU check).

#if SEQ2SEQ_LOWP_X86
// GCC 12 (bug 105593) warns that '__Y' "is used uninitialized" in the _mm512_undefined_*
// placeholders of nearly every AVX-512 intrinsic; in translation units built without -mavx512f
// (the tests) even the definite form fires. The warnings are false: silenced for these functions.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define SEQ2SEQ_TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define SEQ2SEQ_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define SEQ2SEQ_TARGET_F32 __attribute__((target("avx512f")))

// The tiles keep MB x NR accumulators (at most 4 x 6) in named registers: GCC leaves an array
// of vectors in memory even when every index is a constant, which made the kernel 2x slower.
#define SEQ2SEQ_TILE_ROW(T, i, zero) T a##i##0 = zero, a##i##1 = zero, a##i##2 = zero, a##i##3 = zero, a##i##4 = zero, a##i##5 = zero;
#define SEQ2SEQ_TILE_ALL(F) F(0, 0) F(0, 1) F(0, 2) F(0, 3) F(0, 4) F(0, 5) F(1, 0) F(1, 1) F(1, 2) F(1, 3) F(1, 4) \
  F(1, 5) F(2, 0) F(2, 1) F(2, 2) F(2, 3) F(2, 4) F(2, 5) F(3, 0) F(3, 1) F(3, 2) F(3, 3) F(3, 4) F(3, 5)

/// Writes one 16-row block of an int8 tile: y (+)= row_scale * col_scale * (acc - 128 row_sum).
SEQ2SEQ_TARGET_VNNI inline __attribute__((always_inline)) void int8_store(__m512i acc, __mmask16 mask,
                                                                           const float* row_scale,
                                                                           const std::int32_t* row_sum, float col_scale,
                                                                           float* out, bool accumulate) {
  const __m512i comp = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(mask, row_sum), 7);  // 128 * row_sum
  __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, comp));
  v = _mm512_mul_ps(v, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, row_scale), _mm512_set1_ps(col_scale)));
  if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));
  _mm512_mask_storeu_ps(out, mask, v);
}

inline __mmask16 rows_mask(Eigen::Index left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
}

/// Y(rows of MB blocks, NR columns) (+)= the int8 product; w: first block of the tile, Kq depth
/// quads per block; x: first column (ldx bytes apart); rows: real rows in the tile (<= 16 MB).
template <int MB, int NR>
SEQ2SEQ_TARGET_VNNI void int8_tile_avx512(const std::int8_t* w, Eigen::Index Kq, const std::uint8_t* x, Eigen::Index ldx,
                                          const float* row_scale, const std::int32_t* row_sum, const float* col_scale,
                                          float* y, Eigen::Index ldy, Eigen::Index rows, bool accumulate) {
  static_assert(MB >= 1 && MB <= 4 && NR >= 1 && NR <= 6, "int8_tile_avx512: tiles are at most 4 x 6");
  const __m512i zero = _mm512_setzero_si512();
  SEQ2SEQ_TILE_ROW(__m512i, 0, zero)
  SEQ2SEQ_TILE_ROW(__m512i, 1, zero)
  SEQ2SEQ_TILE_ROW(__m512i, 2, zero)
  SEQ2SEQ_TILE_ROW(__m512i, 3, zero)
  const Eigen::Index bs = Kq * 64;
  for (Eigen::Index kq = 0; kq < Kq; ++kq) {
    const std::int8_t* wk = w + kq * 64;
    const __m512i w0 = _mm512_loadu_si512(static_cast<const void*>(wk));
    const __m512i w1 = MB > 1 ? _mm512_loadu_si512(static_cast<const void*>(wk + bs)) : zero;
    const __m512i w2 = MB > 2 ? _mm512_loadu_si512(static_cast<const void*>(wk + 2 * bs)) : zero;
    const __m512i w3 = MB > 3 ? _mm512_loadu_si512(static_cast<const void*>(wk + 3 * bs)) : zero;
#define SEQ2SEQ_COLUMN(j)                                                      \
  if constexpr (NR > j) {                                                      \
    std::int32_t quad;                                                         \
    std::memcpy(&quad, x + j * ldx + kq * 4, 4);                               \
    const __m512i b = _mm512_set1_epi32(quad);                                 \
    a0##j = _mm512_dpbusd_epi32(a0##j, b, w0);                                 \
    if constexpr (MB > 1) a1##j = _mm512_dpbusd_epi32(a1##j, b, w1);           \
    if constexpr (MB > 2) a2##j = _mm512_dpbusd_epi32(a2##j, b, w2);           \
    if constexpr (MB > 3) a3##j = _mm512_dpbusd_epi32(a3##j, b, w3);           \
  }
    SEQ2SEQ_COLUMN(0) SEQ2SEQ_COLUMN(1) SEQ2SEQ_COLUMN(2) SEQ2SEQ_COLUMN(3) SEQ2SEQ_COLUMN(4) SEQ2SEQ_COLUMN(5)
#undef SEQ2SEQ_COLUMN
  }
  // The sums leave the registers first: with the scaling in the same register allocation GCC
  // spilled accumulators inside the loop.
  alignas(64) std::int32_t sums[MB * NR * 16];
#define SEQ2SEQ_STORE(i, j) \
  if constexpr (MB > i && NR > j) _mm512_store_si512(static_cast<void*>(sums + 16 * (i * NR + j)), a##i##j);
  SEQ2SEQ_TILE_ALL(SEQ2SEQ_STORE)
#undef SEQ2SEQ_STORE
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NR; ++j)
      int8_store(_mm512_load_si512(static_cast<const void*>(sums + 16 * (i * NR + j))), rows_mask(rows - 16 * i),
                 row_scale + 16 * i, row_sum + 16 * i, col_scale[j], y + j * ldy + 16 * i, accumulate);
}

SEQ2SEQ_TARGET_F32 inline __attribute__((always_inline)) void f32_store(__m512 acc, __mmask16 mask, float* out) {
  _mm512_mask_storeu_ps(out, mask, _mm512_add_ps(acc, _mm512_maskz_loadu_ps(mask, out)));
}

SEQ2SEQ_TARGET_BF16 inline __attribute__((always_inline)) void bf16_store(__m512 acc, __mmask16 mask, float* out,
                                                                           bool accumulate) {
  if (accumulate) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(mask, out));
  _mm512_mask_storeu_ps(out, mask, acc);
}

/// The bf16 tile: w first block (Kp depth pairs per block), x first column of bf16 (ldx elements apart).
template <int MB, int NR>
SEQ2SEQ_TARGET_BF16 void bf16_tile_avx512(const std::uint16_t* w, Eigen::Index Kp, const std::uint16_t* x,
                                          Eigen::Index ldx, float* y, Eigen::Index ldy, Eigen::Index rows,
                                          bool accumulate) {
  static_assert(MB >= 1 && MB <= 4 && NR >= 1 && NR <= 6, "bf16_tile_avx512: tiles are at most 4 x 6");
  const __m512 zero = _mm512_setzero_ps();
  SEQ2SEQ_TILE_ROW(__m512, 0, zero)
  SEQ2SEQ_TILE_ROW(__m512, 1, zero)
  SEQ2SEQ_TILE_ROW(__m512, 2, zero)
  SEQ2SEQ_TILE_ROW(__m512, 3, zero)
  const Eigen::Index bs = Kp * 32;
  const __m512i none = _mm512_setzero_si512();
  for (Eigen::Index kp = 0; kp < Kp; ++kp) {
    const std::uint16_t* wk = w + kp * 32;
    const __m512bh w0 = (__m512bh)_mm512_loadu_si512(static_cast<const void*>(wk));
    const __m512bh w1 = (__m512bh)(MB > 1 ? _mm512_loadu_si512(static_cast<const void*>(wk + bs)) : none);
    const __m512bh w2 = (__m512bh)(MB > 2 ? _mm512_loadu_si512(static_cast<const void*>(wk + 2 * bs)) : none);
    const __m512bh w3 = (__m512bh)(MB > 3 ? _mm512_loadu_si512(static_cast<const void*>(wk + 3 * bs)) : none);
#define SEQ2SEQ_COLUMN(j)                                                      \
  if constexpr (NR > j) {                                                      \
    std::int32_t pair;                                                         \
    std::memcpy(&pair, x + j * ldx + kp * 2, 4);                               \
    const __m512bh b = (__m512bh)_mm512_set1_epi32(pair);                      \
    a0##j = _mm512_dpbf16_ps(a0##j, w0, b);                                    \
    if constexpr (MB > 1) a1##j = _mm512_dpbf16_ps(a1##j, w1, b);              \
    if constexpr (MB > 2) a2##j = _mm512_dpbf16_ps(a2##j, w2, b);              \
    if constexpr (MB > 3) a3##j = _mm512_dpbf16_ps(a3##j, w3, b);              \
  }
    SEQ2SEQ_COLUMN(0) SEQ2SEQ_COLUMN(1) SEQ2SEQ_COLUMN(2) SEQ2SEQ_COLUMN(3) SEQ2SEQ_COLUMN(4) SEQ2SEQ_COLUMN(5)
#undef SEQ2SEQ_COLUMN
  }
  alignas(64) float sums[MB * NR * 16];
#define SEQ2SEQ_STORE(i, j) \
  if constexpr (MB > i && NR > j) _mm512_store_ps(sums + 16 * (i * NR + j), a##i##j);
  SEQ2SEQ_TILE_ALL(SEQ2SEQ_STORE)
#undef SEQ2SEQ_STORE
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NR; ++j)
      bf16_store(_mm512_load_ps(sums + 16 * (i * NR + j)), rows_mask(rows - 16 * i), y + j * ldy + 16 * i, accumulate);
}
/// The float tile: w first block (16 rows x K, one 16-float column per depth), x first column
/// (ldx floats apart); y += the product, always.
template <int MB, int NR>
SEQ2SEQ_TARGET_F32 void f32_tile_avx512(const float* w, Eigen::Index K, const float* x, Eigen::Index ldx, float* y,
                                        Eigen::Index ldy, Eigen::Index rows) {
  static_assert(MB >= 1 && MB <= 4 && NR >= 1 && NR <= 6, "f32_tile_avx512: tiles are at most 4 x 6");
  const __m512 zero = _mm512_setzero_ps();
  SEQ2SEQ_TILE_ROW(__m512, 0, zero)
  SEQ2SEQ_TILE_ROW(__m512, 1, zero)
  SEQ2SEQ_TILE_ROW(__m512, 2, zero)
  SEQ2SEQ_TILE_ROW(__m512, 3, zero)
  const Eigen::Index bs = K * 16;
  for (Eigen::Index k = 0; k < K; ++k) {
    const float* wk = w + k * 16;
    const __m512 w0 = _mm512_loadu_ps(wk);
    const __m512 w1 = MB > 1 ? _mm512_loadu_ps(wk + bs) : zero;
    const __m512 w2 = MB > 2 ? _mm512_loadu_ps(wk + 2 * bs) : zero;
    const __m512 w3 = MB > 3 ? _mm512_loadu_ps(wk + 3 * bs) : zero;
#define SEQ2SEQ_COLUMN(j)                                                \
  if constexpr (NR > j) {                                                \
    const __m512 b = _mm512_set1_ps(x[j * ldx + k]);                     \
    a0##j = _mm512_fmadd_ps(w0, b, a0##j);                               \
    if constexpr (MB > 1) a1##j = _mm512_fmadd_ps(w1, b, a1##j);         \
    if constexpr (MB > 2) a2##j = _mm512_fmadd_ps(w2, b, a2##j);         \
    if constexpr (MB > 3) a3##j = _mm512_fmadd_ps(w3, b, a3##j);         \
  }
    SEQ2SEQ_COLUMN(0) SEQ2SEQ_COLUMN(1) SEQ2SEQ_COLUMN(2) SEQ2SEQ_COLUMN(3) SEQ2SEQ_COLUMN(4) SEQ2SEQ_COLUMN(5)
#undef SEQ2SEQ_COLUMN
  }
  alignas(64) float sums[MB * NR * 16];
#define SEQ2SEQ_STORE(i, j) \
  if constexpr (MB > i && NR > j) _mm512_store_ps(sums + 16 * (i * NR + j), a##i##j);
  SEQ2SEQ_TILE_ALL(SEQ2SEQ_STORE)
#undef SEQ2SEQ_STORE
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NR; ++j)
      f32_store(_mm512_load_ps(sums + 16 * (i * NR + j)), rows_mask(rows - 16 * i), y + j * ldy + 16 * i);
}

#undef SEQ2SEQ_TILE_ROW
#undef SEQ2SEQ_TILE_ALL

/// Quantizes one float column x (K) to u8 in `out` (K, then 128 up to Kpad) with the scale of
/// int8_scale / quantize_int8, so the same numbers as the scalar code; returns the scale, or -1
/// when x holds NaN or Inf.
SEQ2SEQ_TARGET_VNNI inline float quantize_column_avx512(const float* x, Eigen::Index K, Eigen::Index Kpad,
                                                        std::uint8_t* out) {
  __m512 amax = _mm512_setzero_ps();
  __mmask16 bad = 0;
  const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
  for (Eigen::Index k = 0; k < K; k += 16) {
    const __mmask16 m = rows_mask(K - k);
    const __m512 v = _mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + k));
    bad |= _mm512_cmp_ps_mask(v, inf, _CMP_NLT_UQ);  // NaN or Inf
    amax = _mm512_max_ps(amax, v);
  }
  if (bad) return -1.0f;
  const float s = int8_scale(_mm512_reduce_max_ps(amax));
  const __m512 inv = _mm512_set1_ps(1.0f / s), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  const __m512i zero_point = _mm512_set1_epi32(128);
  for (Eigen::Index k = 0; k < K; k += 16) {
    const __mmask16 m = rows_mask(K - k);
    __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), inv),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_max_ps(lo, _mm512_min_ps(hi, r));
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(r), zero_point);
    _mm_mask_storeu_epi8(out + k, m, _mm512_cvtepi32_epi8(q));
  }
  for (Eigen::Index k = K; k < Kpad; ++k) out[k] = 128;
  return s;
}

/// Rounds one float column x (K) to bf16 in `out` (K, then 0 up to Kpad), as float_to_bf16;
/// returns false when x holds NaN or Inf.
SEQ2SEQ_TARGET_BF16 inline bool bf16_column_avx512(const float* x, Eigen::Index K, Eigen::Index Kpad, std::uint16_t* out) {
  const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
  const __m512i round = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
  __mmask16 bad = 0;
  for (Eigen::Index k = 0; k < K; k += 16) {
    const __mmask16 m = rows_mask(K - k);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + k);
    bad |= _mm512_cmp_ps_mask(_mm512_abs_ps(v), inf, _CMP_NLT_UQ);
    const __m512i u = _mm512_castps_si512(v);
    const __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(u, round), _mm512_and_si512(_mm512_srli_epi32(u, 16), one)), 16);
    _mm256_mask_storeu_epi16(out + k, m, _mm512_cvtepi32_epi16(r));
  }
  for (Eigen::Index k = K; k < Kpad; ++k) out[k] = 0;
  return bad == 0;
}

/// Runs `tile<MB, NR>` over the columns of one panel of MB row blocks, 6 columns at a time.
template <int MB, typename Tile>
inline void for_columns(Eigen::Index N, Tile&& tile) {
  Eigen::Index n = 0;
  for (; n + 6 <= N; n += 6) tile(std::integral_constant<int, MB>(), std::integral_constant<int, 6>(), n);
  switch (N - n) {
    case 5: tile(std::integral_constant<int, MB>(), std::integral_constant<int, 5>(), n); break;
    case 4: tile(std::integral_constant<int, MB>(), std::integral_constant<int, 4>(), n); break;
    case 3: tile(std::integral_constant<int, MB>(), std::integral_constant<int, 3>(), n); break;
    case 2: tile(std::integral_constant<int, MB>(), std::integral_constant<int, 2>(), n); break;
    case 1: tile(std::integral_constant<int, MB>(), std::integral_constant<int, 1>(), n); break;
    default: break;
  }
}

/// Runs `tile<MB, NR>` over every tile of a panel of `blocks` (1 to 4) row blocks: the block
/// count becomes the compile-time MB of the kernels.
template <typename Tile>
inline void for_tiles(Eigen::Index blocks, Eigen::Index N, Tile&& tile) {
  switch (blocks) {
    case 4: for_columns<4>(N, tile); break;
    case 3: for_columns<3>(N, tile); break;
    case 2: for_columns<2>(N, tile); break;
    default: for_columns<1>(N, tile); break;
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // SEQ2SEQ_LOWP_X86

/// Calls f(first_block, blocks) for panels of up to 4 row blocks, split over the OpenMP threads
/// when the product is large (the same rule as detail::gemm).
template <typename F>
void for_row_panels(Eigen::Index row_blocks, Eigen::Index work, F&& f) {
  const Eigen::Index panels = (row_blocks + 3) / 4;
  int threads = 1;
#if defined(_OPENMP)
  if (work >= kParallelMinWork && !omp_in_parallel()) threads = std::max(1, Eigen::nbThreads());
#endif
  if (threads <= 1 || panels < 2) {
    for (Eigen::Index p = 0; p < panels; ++p) f(4 * p, std::min<Eigen::Index>(4, row_blocks - 4 * p));
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static)
  for (Eigen::Index p = 0; p < panels; ++p) f(4 * p, std::min<Eigen::Index>(4, row_blocks - 4 * p));
#else
  (void)work;
#endif
}

}  // namespace seq2seq::detail

#endif  // SEQ2SEQ_DETAIL_LOWP_TILES_HPP

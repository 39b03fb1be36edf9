// seq2seq: what the CPU can do, asked at run time (the reduced-precision kernels and bf16
// training products use instructions the library is not compiled to require).
#ifndef SEQ2SEQ_DETAIL_CPU_FEATURES_HPP
#define SEQ2SEQ_DETAIL_CPU_FEATURES_HPP

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SEQ2SEQ_LOWP_X86 1
#include <immintrin.h>
#else
#define SEQ2SEQ_LOWP_X86 0
#endif

namespace seq2seq::detail {

/// The CPU's AVX512_VNNI (int8 dot products) and AVX512_BF16 (bf16 dot products), with AVX512BW/VL.
inline bool cpu_has_avx512_vnni() {
#if SEQ2SEQ_LOWP_X86
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}
inline bool cpu_has_avx512_bf16() {
#if SEQ2SEQ_LOWP_X86
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
  return has;
#else
  return false;
#endif
}

inline bool cpu_has_avx512f() {
#if SEQ2SEQ_LOWP_X86
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
#else
  return false;
#endif
}

}  // namespace seq2seq::detail

#endif  // SEQ2SEQ_DETAIL_CPU_FEATURES_HPP

// The machine's FMA peak: the float multiply-adds per second one core (and every thread running
// at once) sustains with no memory traffic, the ceiling the training step's GFLOP/s is read
// against (bench/compare_train.py prints the fraction).
//
//   peak/fma/threads:N   N threads, each 16 independent chains of vector FMAs (acc = acc * m + a)
//                        in registers; counter GFLOPS = 2 flops per lane per FMA, all threads, per
//                        second of wall time
//
// The widest vectors the build targets: AVX-512 (16 floats), AVX2+FMA (8), else scalar std::fma.
// Sixteen chains cover the FMA latency (4 cycles) on both FMA ports (2 per cycle) with room to spare.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

namespace {

constexpr int kChains = 16;
constexpr std::int64_t kStepsPerIteration = 1 << 16;

#if defined(__AVX512F__)
constexpr int kLanes = 16;
using Vec = __m512;
inline Vec splat(float x) { return _mm512_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float sum(Vec v) { return _mm512_reduce_add_ps(v); }
#elif defined(__FMA__)
constexpr int kLanes = 8;
using Vec = __m256;
inline Vec splat(float x) { return _mm256_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float sum(Vec v) {
  alignas(32) float x[8];
  _mm256_store_ps(x, v);
  float s = 0;
  for (float f : x) s += f;
  return s;
}
#else
constexpr int kLanes = 1;
using Vec = float;
inline Vec splat(float x) { return x; }
inline Vec fma(Vec a, Vec b, Vec c) { return std::fma(a, b, c); }
inline float sum(Vec v) { return v; }
#endif

/// kChains x steps FMAs; the multiplier and addend keep the values bounded (|acc| stays near 1).
float fma_chains(std::int64_t steps, float seed) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = splat(seed + 0.001f * static_cast<float>(c));
  const Vec m = splat(0.999999f), a = splat(1e-6f);
  for (std::int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = fma(acc[c], m, a);
  }
  Vec total = acc[0];
  for (int c = 1; c < kChains; ++c) total = fma(total, splat(1.0f), acc[c]);
  return sum(total);
}

void BM_peak_fma(benchmark::State& state) {
  float seed = 1.0f + 0.01f * static_cast<float>(state.thread_index());
  for (auto _ : state) {
    seed = fma_chains(kStepsPerIteration, seed) / (kChains * kLanes);
    benchmark::DoNotOptimize(seed);
  }
  const double flops = 2.0 * kLanes * kChains * static_cast<double>(kStepsPerIteration);
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9 * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
  state.SetLabel(std::to_string(kLanes) + " float lanes");
}

}  // namespace

BENCHMARK(BM_peak_fma)->Name("peak/fma")->Threads(1)->Threads(2)->UseRealTime();

// Cell throughput: one LSTM layer (E = H, T = 32, float) forward and forward+backward over the
// grid H in {64, 256, 512, 1000} x B in {1, 32, 128}, at 1 and 2 threads, for seq2seq with
// compile-time and Dynamic sizes, and, when installed, oneDNN's LSTM primitive and torch::nn::LSTM,
// all in one binary so every comparison is a ratio measured in one run.
//
// Names: lstm/<pass>/<impl>/H:<H>/B:<B>/threads:<n>. Counter GFLOPS counts the matrix products only
// (peers::lstm_flops). bench/compare.py turns --benchmark_format=json output into ratio tables.
#include <seq2seq/seq2seq.hpp>

#include "peers/flops.hpp"
#include "peers/onednn_lstm.hpp"
#include "peers/torch_lstm.hpp"

#include <benchmark/benchmark.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <memory>
#include <string>

namespace {

constexpr long kSteps = 32;

void set_threads(int n) {
  Eigen::setNbThreads(n);
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
#if defined(SEQ2SEQ_BENCH_HAVE_TORCH)
  peers::TorchLstm::set_threads(n);
#endif
}

void set_counters(benchmark::State& state, long H, long B, bool backward) {
  state.counters["GFLOPS"] = benchmark::Counter(peers::lstm_flops(H, B, kSteps, backward) * 1e-9 *
                                                    static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
  state.counters["us_per_seq"] = benchmark::Counter(static_cast<double>(B) * static_cast<double>(state.iterations()),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

/// seq2seq's LSTMCell with sizes fixed at compile time (Hidden_ > 0) or Dynamic (Hidden_ = -1).
template <int Hidden_>
void bm_seq2seq(benchmark::State& state, long H, long B, int threads, bool backward) {
  using Cell = seq2seq::LSTMCell<float, Hidden_, Hidden_>;
  set_threads(threads);
  seq2seq::Rng rng(42);
  Cell cell(H, H);
  seq2seq::init_uniform(cell, rng, 0.08);
  const seq2seq::Matrix<float> X = seq2seq::Matrix<float>::Random(H, kSteps * B);
  const seq2seq::Matrix<float> dH = seq2seq::Matrix<float>::Random(H, kSteps * B);
  const seq2seq::Matrix<float> none;
  seq2seq::Matrix<float> dX;
  typename Cell::Tape tape;
  for (auto _ : state) {
    cell.forward(X, B, tape);
    if (backward) cell.backward(X, tape, dH, none, none, &dX);
    benchmark::DoNotOptimize(tape.h.data());
    benchmark::DoNotOptimize(dX.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, H, B, backward);
}

#if defined(SEQ2SEQ_BENCH_HAVE_DNNL)
void bm_onednn(benchmark::State& state, long H, long B, int threads, bool backward) {
  set_threads(threads);
  peers::OneDnnLstm lstm(H, B, kSteps);
  for (auto _ : state) {
    if (backward) lstm.forward_backward();
    else lstm.forward();
    benchmark::ClobberMemory();
  }
  set_counters(state, H, B, backward);
}
#endif

#if defined(SEQ2SEQ_BENCH_HAVE_TORCH)
void bm_torch(benchmark::State& state, long H, long B, int threads, bool backward) {
  set_threads(threads);
  if (!peers::TorchLstm::set_threads(threads, threads)) state.SetLabel("OpenBLAS threads not set");
  peers::TorchLstm lstm(H, B, kSteps);
  for (auto _ : state) {
    if (backward) lstm.forward_backward();
    else lstm.forward();
    benchmark::ClobberMemory();
  }
  set_counters(state, H, B, backward);
}

/// torch's other best setting at 2 threads (ANCHORS.md): 1 torch thread over 2 OpenBLAS threads.
/// compare.py takes the faster of the two per shape as "libtorch".
void bm_torch_blas2(benchmark::State& state, long H, long B, int threads, bool backward) {
  set_threads(threads);
  if (!peers::TorchLstm::set_threads(1, threads)) state.SetLabel("OpenBLAS threads not set");
  peers::TorchLstm lstm(H, B, kSteps);
  for (auto _ : state) {
    if (backward) lstm.forward_backward();
    else lstm.forward();
    benchmark::ClobberMemory();
  }
  set_counters(state, H, B, backward);
}
#endif

using BenchFn = void (*)(benchmark::State&, long, long, int, bool);

void register_one(const char* impl, BenchFn fn, long H, long B, int threads, bool backward) {
  const std::string name = std::string("lstm/") + (backward ? "fwdbwd/" : "fwd/") + impl + "/H:" + std::to_string(H) +
                           "/B:" + std::to_string(B) + "/threads:" + std::to_string(threads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { fn(s, H, B, threads, backward); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

BenchFn fixed_for(long H) {
  switch (H) {
    case 64: return &bm_seq2seq<64>;
    case 256: return &bm_seq2seq<256>;
    case 512: return &bm_seq2seq<512>;
    case 1000: return &bm_seq2seq<1000>;
    default: return nullptr;
  }
}

const bool registered = [] {
  for (bool backward : {false, true})
    for (int threads : {1, 2})
      for (long H : {64L, 256L, 512L, 1000L})
        for (long B : {1L, 32L, 128L}) {
          register_one("seq2seq_fixed", fixed_for(H), H, B, threads, backward);
          register_one("seq2seq_dynamic", &bm_seq2seq<seq2seq::Dynamic>, H, B, threads, backward);
#if defined(SEQ2SEQ_BENCH_HAVE_DNNL)
          register_one("onednn", &bm_onednn, H, B, threads, backward);
#endif
#if defined(SEQ2SEQ_BENCH_HAVE_TORCH)
          register_one("libtorch", &bm_torch, H, B, threads, backward);
          if (threads > 1) register_one("libtorch_1x2", &bm_torch_blas2, H, B, threads, backward);
#endif
        }
  return true;
}();

}  // namespace

// A full training step and decoding of the issue-5 model, to compare with bench/train_step_torch.py
// (the same model in PyTorch): embeddings 256, hidden 256, 2 layers, vocabularies of 8,000 words on
// each side, batch 64, 20 source and 20 target words per sentence, Adam, global-norm clipping at 5.
//
//   train/threads:N    one Trainer::step (forward, backward, clip, Adam); counter target_tokens/s
//                      counts the 20 target words of each of the 64 sentences, GFLOPS the matrix
//                      products' flops (step_flops, about 33 GFLOP a step)
//   train_bf16/...     the same step with bf16 products (set_bf16_products; skipped where unavailable)
//   decode_beam5/...   beam search (beam 5) of one 20-word source; counter sentences/s
//   decode_greedy64/.. batched greedy decoding of 64 sources; counter sentences/s
//
// Before the benchmarks, main() prints the memory of a training step: the growth of the peak
// resident set (VmHWM) over the first steps, beside the bytes that backward must read (stored
// gates, c and h of every layer and step, the embedded inputs).
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/seq2seq.hpp>
#include <seq2seq/train.hpp>

#include <benchmark/benchmark.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

using Stack = seq2seq::StackedLSTM<seq2seq::LSTMCell<float, 256, 256>, 2>;
using Model = seq2seq::Seq2Seq<seq2seq::Encoder<Stack>, seq2seq::Decoder<Stack>>;

constexpr seq2seq::Index kVocab = 8000, kBatch = 64, kWords = 20;

seq2seq::ModelConfig config() {
  seq2seq::ModelConfig c;
  c.source_vocab = kVocab;
  c.target_vocab = kVocab;
  c.embed = 256;
  c.hidden = 256;
  c.layers = 2;
  return c;
}

seq2seq::PairBatch make_batch(seq2seq::Rng& rng) {
  seq2seq::PairBatch b;
  for (seq2seq::Index s = 0; s < kBatch; ++s) {
    seq2seq::Sentence x, y;
    for (seq2seq::Index t = 0; t < kWords; ++t) {
      x.push_back(static_cast<seq2seq::TokenId>(seq2seq::Special::count + rng.below(kVocab - seq2seq::Special::count)));
      y.push_back(static_cast<seq2seq::TokenId>(seq2seq::Special::count + rng.below(kVocab - seq2seq::Special::count)));
    }
    b.source.push_back(x);
    b.target.push_back(y);
  }
  return b;
}

void set_threads(int n) {
  Eigen::setNbThreads(n);
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
}

/// The multiply-adds of one training step, as flops (2 per multiply-add), counting the matrix
/// products only: every LSTM layer's 4H x (input + H) product per sentence and step (the encoder
/// reads the 20 words and <EOS>, the decoder <s> and the 20 words), the 8000 x 256 softmax product of
/// each of the 21 decoder outputs, and backward's two products for each forward one.
void train_step(benchmark::State& state);

double step_flops() {
  const double steps = kWords + 1, H = 256, E = 256, layers = 2, V = kVocab, B = kBatch;
  const double lstm = 2 * B * steps * 4 * H * ((E + H) + (layers - 1) * (H + H));  // one side's stack
  const double softmax = 2 * B * steps * V * H;
  return 3 * (2 * lstm + softmax);
}

void BM_train(benchmark::State& state) {
  set_threads(static_cast<int>(state.range(0)));
  train_step(state);
}

/// The same step with bf16 products (seq2seq::set_bf16_products; oneDNN backend, AVX512_BF16).
void BM_train_bf16(benchmark::State& state) {
  if (!seq2seq::bf16_products_available()) {
    state.SkipWithError("bf16 products unavailable (they need the oneDNN backend and AVX512_BF16)");
    return;
  }
  set_threads(static_cast<int>(state.range(0)));
  const seq2seq::Bf16ProductsScope bf16(true);
  train_step(state);
}

void train_step(benchmark::State& state) {
  Model model(config());
  seq2seq::Rng rng(1);
  seq2seq::init_uniform(model, rng, 0.08);
  seq2seq::Optimizer<seq2seq::Adam, float> opt;
  seq2seq::Trainer<Model, seq2seq::Adam> trainer(model, opt);
  const seq2seq::PairBatch batch = make_batch(rng);
  trainer.step(batch, 1e-3);  // warm-up: buffers reach their steady-state size
  for (auto _ : state) {
    auto r = trainer.step(batch, 1e-3);
    benchmark::DoNotOptimize(r.stats.loss);
  }
  state.counters["target_tokens/s"] =
      benchmark::Counter(static_cast<double>(kBatch * kWords) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.counters["GFLOPS"] = benchmark::Counter(step_flops() * 1e-9 * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
}

void BM_decode_beam5(benchmark::State& state) {
  set_threads(static_cast<int>(state.range(0)));
  Model model(config());
  seq2seq::Rng rng(2);
  seq2seq::init_uniform(model, rng, 0.08);
  const seq2seq::PairBatch batch = make_batch(rng);
  seq2seq::DecodeOptions opt;
  opt.beam = 5;
  opt.max_length = kWords;  // untrained: every hypothesis runs to the limit, a fixed amount of work
  Model::DecodeWorkspace ws;
  std::size_t k = 0;
  for (auto _ : state) {
    auto h = model.translate(batch.source[k++ % batch.source.size()], opt, ws);
    benchmark::DoNotOptimize(h.data());
  }
  state.counters["sentences/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_decode_greedy64(benchmark::State& state) {
  set_threads(static_cast<int>(state.range(0)));
  Model model(config());
  seq2seq::Rng rng(3);
  seq2seq::init_uniform(model, rng, 0.08);
  const seq2seq::PairBatch batch = make_batch(rng);
  Model::DecodeWorkspace ws;
  for (auto _ : state) {
    auto out = model.translate_greedy(batch.source, ws, kWords);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["sentences/s"] = benchmark::Counter(static_cast<double>(kBatch) * static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate);
}

BENCHMARK(BM_train)->Name("train")->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_train_bf16)->Name("train_bf16")->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_decode_beam5)->Name("decode_beam5")->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_decode_greedy64)->Name("decode_greedy64")->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

/// Peak resident set size in bytes (VmHWM), 0 when /proc is not there.
double peak_rss() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmHWM:") {
      double kb = 0;
      in >> kb;
      return kb * 1024.0;
    }
    in.ignore(1 << 12, '\n');
  }
  return 0;
}

void memory_report() {
  Model model(config());
  seq2seq::Rng rng(1);
  seq2seq::init_uniform(model, rng, 0.08);
  seq2seq::Optimizer<seq2seq::Adam, float> opt;
  opt.initialize(model);  // Adam's state exists before the measurement
  const seq2seq::PairBatch batch = make_batch(rng);
  seq2seq::Trainer<Model, seq2seq::Adam> trainer(model, opt);
  const double before = peak_rss();
  // The backend's one-time set-up (oneDNN's JIT code and per-process state, which the first
  // product of the process pays for) is not a cost of the step: one small product first, then
  // the peak is reset (Linux: "5" into /proc/self/clear_refs) and measured again.
  {
    const seq2seq::Matrix<float> a = seq2seq::Matrix<float>::Ones(128, 128);
    seq2seq::Matrix<float> c(128, 128);
    seq2seq::detail::gemm(seq2seq::detail::Op::N, a, seq2seq::detail::Op::N, a, c, false);
    benchmark::DoNotOptimize(c.data());
  }
  const double warm_peak = peak_rss();
  const bool reset = static_cast<bool>(std::ofstream("/proc/self/clear_refs") << "5" << std::flush);
  const double warm_before = peak_rss();
  for (int i = 0; i < 3; ++i) trainer.step(batch, 1e-3);
  const double after = std::max(peak_rss(), warm_peak);
  const double warm_after = peak_rss();
  auto& ws = trainer.workspace();
  // What backward must read: per layer gates (4H), c and h with the initial state, plus the
  // embedded inputs of layer 0 (the tapes' cached_scalars), for encoder and decoder.
  const double cache = static_cast<double>(ws.encoder.stack.cached_scalars() + ws.encoder.X.size() +
                                           ws.decoder.stack.cached_scalars() + ws.decoder.X.size()) *
                       sizeof(float);
  std::printf("memory of a training step: peak RSS grew by %.1f MiB; BPTT cache %.1f MiB; ratio %.2f\n",
              (after - before) / 1048576.0, cache / 1048576.0, (after - before) / cache);
  if (reset)
    std::printf("  after the backend's set-up (one 128^3 product, then the peak reset): grew by %.1f MiB; ratio %.2f\n",
                (warm_after - warm_before) / 1048576.0, (warm_after - warm_before) / cache);
  else
    std::printf("  (the peak could not be reset here, so the figure without the backend's set-up is missing)\n");
}

}  // namespace

int main(int argc, char** argv) {
  memory_report();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

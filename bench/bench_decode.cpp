// Translation speed (issue 14), to compare with bench/decode_torch.py (PyTorch, float and
// torch.quantization.quantize_dynamic) and oneDNN's int8 LSTM primitive. One thread throughout.
//
//   corpus/<search>/<precision>/<how>   sentences/s translating the test sources of a corpus
//        with a model trained on it; given by SEQ2SEQ_BENCH_MODEL (a toy_translation model file)
//        and SEQ2SEQ_BENCH_SOURCES (one sentence per line); skipped without them. The shortlist is
//        the model's stored one (train --shortlist-k) or the file SEQ2SEQ_BENCH_SHORTLIST names.
//   vocab8k/<search>/<precision>/<how>  the same for bench_train's model (embeddings 256, hidden
//        256, 2 layers, 8,000-word vocabularies, random weights) on 64 random 20-word sources,
//        at most 20 words out (random weights rarely end a sentence early).
//     search     beam5 (beam 5, 1-best) or greedy
//     precision  params (the parameters themselves: decoding as before issue 14), float (packed
//                copies, Seq2Seq::set_precision(float32)), bf16, int8; +shortlist: the softmax
//                over the model's stored shortlist only (corpus, when the model has one)
//     how        batched (translate of the list: batches of 64 sources) or one (one sentence at
//                a time, Seq2Seq::translate(sentence): today's search with params)
//   cell/<impl>/H:256/B:64/T:20         one LSTM layer's inference over 20 steps of 64 sequences:
//        ours (detail::inference_layer) in float, bf16 and int8 beside oneDNN's LSTM primitive
//        in f32 and in int8 (u8 x s8, peers/onednn_lstm_int8.hpp).
//
// With SEQ2SEQ_BENCH_OUT=DIR, main() first writes DIR/sources.ids (the corpus sources as token
// ids, for decode_torch.py) and DIR/translations/<search>-<precision>.txt (ours, detokenized, for
// reference/bleu.py), then runs the benchmarks.
#include <seq2seq/seq2seq.hpp>

#include <benchmark/benchmark.h>

#include "peers/onednn_lstm.hpp"
#include "peers/onednn_lstm_int8.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;
using Cell = LSTMCell<float, Dynamic, Dynamic>;
using Stack = StackedLSTM<Cell, Dynamic>;
using Model = Seq2Seq<Encoder<Stack>, Decoder<Stack>>;

/// A model, its sources, its shortlist (when stored) and copies of it in every precision.
struct Workload {
  std::string name;
  Model base;
  std::vector<Sentence> sources;
  Index max_length = 0;
  std::unique_ptr<Shortlist> shortlist;
  std::map<std::string, std::unique_ptr<Model>> by_precision;

  explicit Workload(Model m) : base(std::move(m)) {}
  const Model& model(const std::string& precision) {
    if (precision == "params") return base;
    auto& slot = by_precision[precision];
    if (!slot) {
      slot = std::make_unique<Model>(base);
      slot->set_precision(parse_precision(precision));
    }
    return *slot;
  }
};

std::unique_ptr<Workload> g_corpus, g_vocab8k;
Vocab g_target_vocab;

std::unique_ptr<Workload> load_corpus() {
  const char* model = std::getenv("SEQ2SEQ_BENCH_MODEL");
  const char* sources = std::getenv("SEQ2SEQ_BENCH_SOURCES");
  if (model == nullptr || sources == nullptr) return nullptr;
  io::LoadedModel<Model> loaded = io::load_model<Model>(model);
  auto w = std::make_unique<Workload>(std::move(loaded.model));
  w->name = "corpus";
  std::ifstream in(sources);
  std::string line;
  while (std::getline(in, line)) w->sources.push_back(loaded.source_vocab.encode(tokenize(line)));
  const auto sl = loaded.metadata.find("shortlist");
  if (const char* file = std::getenv("SEQ2SEQ_BENCH_SHORTLIST"); file != nullptr && *file != '\0')
    w->shortlist = std::make_unique<Shortlist>(Shortlist::load(file, loaded.source_vocab, loaded.target_vocab));
  else if (sl != loaded.metadata.end())
    w->shortlist = std::make_unique<Shortlist>(Shortlist::from_text(sl->second, loaded.source_vocab, loaded.target_vocab));
  g_target_vocab = loaded.target_vocab;
  return w;
}

std::unique_ptr<Workload> make_vocab8k() {
  ModelConfig c;
  c.source_vocab = c.target_vocab = 8000;
  c.embed = c.hidden = 256;
  c.layers = 2;
  Model m(c);
  Rng rng(2);
  init_uniform(m, rng, 0.08);
  auto w = std::make_unique<Workload>(std::move(m));
  w->name = "vocab8k";
  for (int s = 0; s < 64; ++s) {
    Sentence x;
    for (int t = 0; t < 20; ++t) x.push_back(static_cast<TokenId>(Special::count + rng.below(8000 - Special::count)));
    w->sources.push_back(x);
  }
  w->max_length = 20;
  return w;
}

void set_threads(int n) {
  Eigen::setNbThreads(n);
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
}

/// Translates every source of `w` once: beam 5 or greedy, batched or one at a time.
std::vector<Sentence> translate_all(Workload& w, const std::string& search, const std::string& precision, bool one,
                                    bool shortlist, Model::DecodeWorkspace& ws) {
  const Model& m = w.model(precision);
  std::vector<Sentence> out(w.sources.size());
  DecodeOptions opt;
  opt.beam = search == "beam5" ? 5 : 1;
  opt.max_length = w.max_length;
  opt.shortlist = shortlist ? w.shortlist.get() : nullptr;
  if (one) {
    for (std::size_t i = 0; i < w.sources.size(); ++i) out[i] = m.translate(w.sources[i], opt, ws).front().tokens;
  } else if (search == "beam5") {
    const auto h = m.translate(w.sources, opt, ws);
    for (std::size_t i = 0; i < h.size(); ++i) out[i] = h[i].front().tokens;
  } else {
    for (const auto& idx : inference_batches(w.sources, 64)) {
      std::vector<Sentence> chunk;
      for (std::size_t i : idx) chunk.push_back(w.sources[i]);
      const std::vector<Sentence> g = m.translate_greedy(chunk, ws, opt.max_length, opt.shortlist);
      for (std::size_t k = 0; k < idx.size(); ++k) out[idx[k]] = g[k];
    }
  }
  return out;
}

void BM_translate(benchmark::State& state, Workload* w, std::string search, std::string precision, bool one,
                  bool shortlist) {
  set_threads(1);
  Model::DecodeWorkspace ws;
  translate_all(*w, search, precision, one, shortlist, ws);  // warm-up: copies made, buffers sized
  for (auto _ : state) {
    auto out = translate_all(*w, search, precision, one, shortlist, ws);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["sentences/s"] = benchmark::Counter(
      static_cast<double>(w->sources.size()) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

constexpr long kCellH = 256, kCellB = 64, kCellT = 20;

void BM_cell_ours(benchmark::State& state, std::string precision) {
  set_threads(1);
  Cell cell(kCellH, kCellH);
  Rng rng(42);
  init_uniform(cell, rng, 0.08);
  std::unique_ptr<detail::DecodeMatrix<float>> W, U;
  if (precision != "params") {
    W = std::make_unique<detail::DecodeMatrix<float>>(cell.W().value, parse_precision(precision));
    U = std::make_unique<detail::DecodeMatrix<float>>(cell.U().value, parse_precision(precision));
  }
  Matrix<float> X(kCellH, kCellT * kCellB), G(4 * kCellH, kCellT * kCellB), H(kCellH, (kCellT + 1) * kCellB),
      C(kCellH, (kCellT + 1) * kCellB);
  for (Index j = 0; j < X.cols(); ++j)
    for (Index i = 0; i < X.rows(); ++i) X(i, j) = static_cast<float>(rng.uniform(-1, 1));
  const Mask<float>* no_mask = nullptr;
  for (auto _ : state) {
    detail::inference_layer(cell, W.get(), U.get(), X, kCellB, no_mask, G, H, C);
    benchmark::DoNotOptimize(H.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * kCellB * kCellT * 4 * kCellH * 2 * kCellH * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

#if defined(SEQ2SEQ_BENCH_HAVE_DNNL)
template <typename Peer>
void BM_cell_onednn(benchmark::State& state) {
  set_threads(1);
  Peer net(kCellH, kCellB, kCellT);
  net.forward();
  for (auto _ : state) net.forward();
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * kCellB * kCellT * 4 * kCellH * 2 * kCellH * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
#endif

void register_translations(Workload* w) {
  for (const char* search : {"beam5", "greedy"}) {
    for (const char* precision : {"params", "float", "bf16", "int8"})
      benchmark::RegisterBenchmark((w->name + "/" + search + "/" + precision + "/batched").c_str(), BM_translate, w,
                                   std::string(search), std::string(precision), false, false)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    if (w->shortlist)
      for (const char* precision : {"float", "int8"})
        benchmark::RegisterBenchmark((w->name + "/" + search + "/" + precision + "+shortlist/batched").c_str(), BM_translate,
                                     w, std::string(search), std::string(precision), false, true)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
  }
  // Today's one-sentence search (the parameters, one sentence at a time).
  benchmark::RegisterBenchmark((w->name + "/beam5/params/one").c_str(), BM_translate, w, std::string("beam5"),
                               std::string("params"), true, false)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

void register_cells() {
  const std::string shape = "/H:" + std::to_string(kCellH) + "/B:" + std::to_string(kCellB) + "/T:" + std::to_string(kCellT);
  for (const char* precision : {"params", "float", "bf16", "int8"})
    benchmark::RegisterBenchmark(("cell/ours-" + std::string(precision) + shape).c_str(), BM_cell_ours, std::string(precision))
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
#if defined(SEQ2SEQ_BENCH_HAVE_DNNL)
  benchmark::RegisterBenchmark(("cell/onednn-f32" + shape).c_str(), BM_cell_onednn<peers::OneDnnLstm>)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark(("cell/onednn-int8" + shape).c_str(), BM_cell_onednn<peers::OneDnnLstmInt8>)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
#endif
}

/// SEQ2SEQ_BENCH_OUT: the sources as ids (decode_torch.py) and our translations (bleu.py).
void write_outputs(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(fs::path(dir) / "translations");
  std::ofstream ids(fs::path(dir) / "sources.ids");
  for (const Sentence& s : g_corpus->sources) {
    for (std::size_t k = 0; k < s.size(); ++k) ids << (k ? " " : "") << s[k];
    ids << "\n";
  }
  Model::DecodeWorkspace ws;
  set_threads(1);
  std::vector<std::pair<std::string, bool>> precisions = {{"params", false}, {"float", false}, {"bf16", false}, {"int8", false}};
  if (g_corpus->shortlist) precisions.insert(precisions.end(), {{"float", true}, {"int8", true}});
  for (const char* search : {"beam5", "greedy"})
    for (const auto& [precision, shortlist] : precisions) {
      const std::vector<Sentence> out = translate_all(*g_corpus, search, precision, false, shortlist, ws);
      std::ofstream f(fs::path(dir) / "translations" / (std::string(search) + "-" + precision + (shortlist ? "+shortlist" : "") + ".txt"));
      for (const Sentence& s : out) f << detokenize(g_target_vocab.decode(s)) << "\n";
    }
  const std::vector<Sentence> one = translate_all(*g_corpus, "beam5", "params", true, false, ws);
  std::ofstream f(fs::path(dir) / "translations" / "beam5-params-one.txt");
  for (const Sentence& s : one) f << detokenize(g_target_vocab.decode(s)) << "\n";
  std::printf("wrote %s/sources.ids and %s/translations/\n", dir.c_str(), dir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  g_corpus = load_corpus();
  g_vocab8k = make_vocab8k();
  if (const char* out = std::getenv("SEQ2SEQ_BENCH_OUT"); out != nullptr && g_corpus) write_outputs(out);
  if (g_corpus) register_translations(g_corpus.get());
  register_translations(g_vocab8k.get());
  register_cells();
  std::printf("int8 kernel: %s, bf16 kernel: %s\n", detail::lowp_kernel_name(detail::default_int8_kernel()),
              detail::lowp_kernel_name(detail::default_bf16_kernel()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

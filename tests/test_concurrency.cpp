// One const model serving several threads at once (DESIGN.md section 5): greedy and beam-search
// translation, scoring and an ensemble, from 4 threads, each with its own workspaces, with results
// bit-identical to a single thread. CI also runs this file under ThreadSanitizer (.ci/run), which
// fails on any data race inside the library.
#include <seq2seq/seq2seq.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace seq2seq;

template <typename Cell, int Layers>
using ModelOf = Seq2Seq<Encoder<StackedLSTM<Cell, Layers>>, Decoder<StackedLSTM<Cell, Layers>>>;
using DynamicFloatModel = ModelOf<LSTMCell<float, Dynamic, Dynamic>, Dynamic>;
using FixedDoubleModel = ModelOf<LSTMCell<double, 12, 8, true>, 2>;

constexpr int kThreads = 4;
constexpr std::size_t kSentences = 60;

template <typename Model>
ModelConfig concurrency_config() {
  ModelConfig c;
  c.source_vocab = 40;
  c.target_vocab = 36;
  c.embed = Model::EncoderType::Embed == Dynamic ? 16 : Model::EncoderType::Embed;
  c.hidden = Model::EncoderType::Hidden == Dynamic ? 32 : Model::EncoderType::Hidden;
  c.layers = 2;
  c.peephole = Model::EncoderType::StackType::Peephole;
  c.max_length = 20;
  return c;
}

/// Everything one pass over the sentences produces, compared bit for bit.
struct Results {
  std::vector<Sentence> greedy;
  std::vector<std::vector<Hypothesis>> beam;
  std::vector<double> score;
  std::vector<std::vector<Hypothesis>> ensemble;
};

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool same(const std::vector<Hypothesis>& a, const std::vector<Hypothesis>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].tokens != b[i].tokens || !same_bits(a[i].log_prob, b[i].log_prob) || !same_bits(a[i].score, b[i].score))
      return false;
  return true;
}

/// Translates and scores sentence `i` into slot i of `out`, with this caller's own workspaces.
template <typename Model>
struct Worker {
  const Model& model;
  const Ensemble<Model>& ensemble;
  const std::vector<Sentence>& sources;
  typename Model::DecodeWorkspace dws;
  typename Model::Workspace ws;

  void run(std::size_t i, Results& out) {
    const Sentence& s = sources[i];
    out.greedy[i] = model.translate_greedy(std::vector<Sentence>{s}, dws).front();
    DecodeOptions opt;
    opt.beam = 3;
    opt.nbest = 3;
    out.beam[i] = model.translate(s, opt, dws);
    PairBatch b;
    b.source = {s, s};
    b.target = {out.greedy[i], out.beam[i].front().tokens};
    out.score[i] = model.score(b, ws)[0];
    opt.nbest = 1;
    out.ensemble[i] = ensemble.translate(s, opt);
  }
};

Results empty_results() {
  Results r;
  r.greedy.resize(kSentences);
  r.beam.resize(kSentences);
  r.score.resize(kSentences);
  r.ensemble.resize(kSentences);
  return r;
}

}  // namespace

TEST_CASE_TEMPLATE("concurrency: one const model translates and scores from 4 threads, identical to one thread", Model,
                   DynamicFloatModel, FixedDoubleModel) {
  const ModelConfig config = concurrency_config<Model>();
  Model first(config), second(config);
  Rng rng(2024);
  // Larger weights than the paper's 0.08 so translations vary from sentence to sentence.
  init_uniform(first, rng, 0.4);
  init_uniform(second, rng, 0.4);
  const Model& model = first;
  const Ensemble<Model> ensemble({&first, &second});

  std::vector<Sentence> sources(kSentences);
  for (auto& s : sources) {
    s.resize(1 + rng.below(8));
    for (auto& w : s) w = static_cast<TokenId>(Special::count + rng.below(static_cast<std::uint64_t>(config.source_vocab - Special::count)));
  }

  // The single-threaded reference.
  Results reference = empty_results();
  {
    Worker<Model> w{model, ensemble, sources, {}, {}};
    for (std::size_t i = 0; i < kSentences; ++i) w.run(i, reference);
  }
  // The model is not degenerate: different sentences get different translations.
  std::size_t distinct = 0;
  for (std::size_t i = 1; i < kSentences; ++i) distinct += reference.greedy[i] != reference.greedy[0];
  CHECK(distinct > kSentences / 2);

  // 4 threads released together; thread t starts at sentence t * 15 so different threads work on
  // different sentences at the same moment, and every thread does all of them.
  std::vector<Results> results(kThreads, empty_results());
  std::vector<std::string> errors(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        Worker<Model> w{model, ensemble, sources, {}, {}};
        ++ready;
        while (ready.load() < kThreads) std::this_thread::yield();
        for (std::size_t k = 0; k < kSentences; ++k)
          w.run((k + static_cast<std::size_t>(t) * (kSentences / kThreads)) % kSentences, results[static_cast<std::size_t>(t)]);
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();

  for (int t = 0; t < kThreads; ++t) {
    CAPTURE(t);
    const Results& r = results[static_cast<std::size_t>(t)];
    CHECK(errors[static_cast<std::size_t>(t)].empty());
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < kSentences; ++i) {
      mismatches += r.greedy[i] != reference.greedy[i];
      mismatches += !same(r.beam[i], reference.beam[i]);
      mismatches += !same_bits(r.score[i], reference.score[i]);
      mismatches += !same(r.ensemble[i], reference.ensemble[i]);
    }
    CHECK(mismatches == 0);
  }
  MESSAGE(kThreads, " threads x ", kSentences, " sentences, each translated greedily, with beam 3 (3-best), "
          "by a 2-model ensemble and scored: ", kThreads * kSentences * 4, " concurrent calls, all identical to one thread");
}

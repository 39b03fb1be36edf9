// Tests of batched decoding (batch_search.hpp, decoding.hpp's BatchModelScorer and
// batch_translate, Ensemble's BatchScorer): many sentences decoded together give the one-sentence
// search's hypotheses (double: the same words, log-probabilities equal to rounding; float on a
// model trained on real text), finished sentences and hypotheses leave the batch, n-best lists,
// length normalisation and maximum lengths are honoured, ensembles, greedy search on logits,
// sampling (deterministic for a seed, distributed as the model says), reduced precisions against
// float, shortlists, and bad options.
#include "test_util.hpp"

#include <seq2seq/batch_search.hpp>
#include <seq2seq/data/shortlist.hpp>
#include <seq2seq/data/tokenizer.hpp>
#include <seq2seq/decoding.hpp>
#include <seq2seq/detail/lowp_gemm.hpp>
#include <seq2seq/ensemble.hpp>
#include <seq2seq/io/model_file.hpp>
#include <seq2seq/model.hpp>
#include <seq2seq/precision.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;

using DynamicModel = Seq2Seq<Encoder<StackedLSTM<LSTMCell<double, Dynamic, Dynamic>, Dynamic>>,
                             Decoder<StackedLSTM<LSTMCell<double, Dynamic, Dynamic>, Dynamic>>>;
using FixedModel =
    Seq2Seq<Encoder<StackedLSTM<LSTMCell<double, 4, 3>, 2>>, Decoder<StackedLSTM<LSTMCell<double, 4, 3>, 2>>>;
using FloatModel = Seq2Seq<Encoder<StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic>>,
                           Decoder<StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic>>>;

template <typename Model>
Model random_model(Index source_vocab, Index target_vocab, std::uint64_t seed, double range, Index hidden = 4) {
  ModelConfig c;
  c.source_vocab = source_vocab;
  c.target_vocab = target_vocab;
  c.embed = 3;
  c.hidden = hidden;
  c.layers = 2;
  Model m(c);
  Rng rng(seed);
  init_uniform(m, rng, range);
  return m;
}

std::vector<Sentence> random_sentences(Rng& rng, Index n, Index vocab, Index min_len, Index max_len) {
  std::vector<Sentence> out;
  for (Index i = 0; i < n; ++i) {
    const auto len = min_len + static_cast<Index>(rng.below(static_cast<std::uint64_t>(max_len - min_len + 1)));
    Sentence s;
    for (Index k = 0; k < len; ++k) s.push_back(static_cast<TokenId>(1 + rng.below(static_cast<std::uint64_t>(vocab - 1))));
    out.push_back(s);
  }
  return out;
}

/// Hypothesis lists equal word for word, log_prob and score within `tol`.
bool same_hypotheses(const std::vector<Hypothesis>& a, const std::vector<Hypothesis>& b, double tol) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (a[k].tokens != b[k].tokens || std::abs(a[k].log_prob - b[k].log_prob) > tol ||
        std::abs(a[k].score - b[k].score) > tol)
      return false;
  return true;
}

std::vector<DecodeOptions> option_grid() {
  std::vector<DecodeOptions> grid;
  const auto add = [&](Index beam, Index nbest, double alpha, Index max_length, Index batch) {
    DecodeOptions o;
    o.beam = beam;
    o.nbest = nbest;
    o.length_alpha = alpha;
    o.max_length = max_length;
    o.batch_size = batch;
    grid.push_back(o);
  };
  add(1, 1, 0, 0, 64);
  add(2, 2, 0, 0, 5);
  add(3, 1, 0, 0, 1);
  add(5, 5, 0, 0, 7);
  add(5, 3, 0.7, 0, 64);
  add(4, 4, 1.0, 3, 3);
  add(6, 2, 0, 2, 64);
  add(8, 8, 0, 0, 64);
  return grid;
}

TEST_CASE_TEMPLATE("batch_translate: many sentences together give the one-sentence search's hypotheses (double)", Model,
                   FixedModel, DynamicModel) {
  Rng rng(21);
  std::size_t compared = 0;
  for (std::uint64_t seed : {501u, 502u, 503u}) {
    const double range = 0.5 + 0.5 * static_cast<double>(seed - 501);  // flat to peaked distributions
    const Model m = random_model<Model>(10, 9, seed, range);
    const std::vector<Sentence> sources = random_sentences(rng, 23, 10, 1, 7);
    for (const DecodeOptions& opt : option_grid()) {
      CAPTURE(seed);
      CAPTURE(opt.beam);
      CAPTURE(opt.nbest);
      CAPTURE(opt.length_alpha);
      CAPTURE(opt.max_length);
      CAPTURE(opt.batch_size);
      typename Model::DecodeWorkspace ws;  // one workspace for every batch: buffers are reused
      const std::vector<std::vector<Hypothesis>> batched = m.translate(sources, opt, ws);
      REQUIRE(batched.size() == sources.size());
      for (std::size_t i = 0; i < sources.size(); ++i) {
        CAPTURE(i);
        const std::vector<Hypothesis> one = m.translate(sources[i], opt);  // beam_translate
        CHECK(same_hypotheses(batched[i], one, 1e-12));
        compared += one.size();
      }
    }
  }
  MESSAGE(compared, " hypotheses compared");
}

/// A batch scorer that records how many columns each step had.
template <typename Inner>
struct CountingScorer {
  Inner inner;
  std::vector<Index> columns_per_step;
  Index rows() const { return inner.rows(); }
  TokenId token(Index r) const { return inner.token(r); }
  Index columns() const { return inner.columns(); }
  bool step(const std::vector<TokenId>& last, bool normalise) {
    columns_per_step.push_back(inner.columns());
    return inner.step(last, normalise);
  }
  auto scores() { return inner.scores(); }
  auto normaliser(Index j) const { return inner.normaliser(j); }
  void reorder(const std::vector<Index>& parents) { inner.reorder(parents); }
};

TEST_CASE("batch_beam_search: finished sentences and hypotheses leave the batch; limits per sentence") {
  const DynamicModel m = random_model<DynamicModel>(10, 9, 601, 1.0);
  Rng rng(22);
  const std::vector<Sentence> sources = random_sentences(rng, 4, 10, 2, 5);
  const std::vector<Index> limits = {0, 1, 6, 4};
  DecodeOptions opt;
  opt.beam = 3;
  opt.nbest = 2;
  DynamicModel::DecodeWorkspace ws;
  CountingScorer<BatchModelScorer<DynamicModel>> scorer{
      BatchModelScorer<DynamicModel>(m, sources, nullptr, 1, 4 * opt.beam, ws), {}};
  const std::vector<std::vector<Hypothesis>> batched = batch_beam_search(scorer, limits, opt);
  const std::vector<Index>& cols = scorer.columns_per_step;
  REQUIRE(cols.size() >= 3);
  CHECK(cols[0] == 4);                 // one column per sentence at the start
  CHECK(cols[1] <= 3 * opt.beam);      // sentence 0 (at most 0 words) ended at step 0
  CHECK(cols[2] <= 2 * opt.beam);      // sentence 1 (at most 1 word) ended at step 1
  CHECK(cols.size() <= 7);             // nothing runs past the longest limit (6 words, then <EOS>)
  for (std::size_t t = 1; t < cols.size(); ++t) CHECK(cols[t] <= 4 * opt.beam);
  CHECK(batched[0].size() == 1);  // only the empty translation exists
  CHECK(batched[0][0].tokens.empty());
  for (std::size_t i = 0; i < sources.size(); ++i) {
    CAPTURE(i);
    for (const Hypothesis& h : batched[i]) CHECK(static_cast<Index>(h.tokens.size()) <= limits[i]);
    // The same search of this sentence alone, with its limit.
    ModelScorer<DynamicModel> one(m, sources[i], ws);
    Matrix<double> lp;
    CHECK(same_hypotheses(batched[i], beam_search(one, opt, limits[i], lp), 1e-12));
  }
}

TEST_CASE("translate_greedy: arg-max of the logits, finished sentences leave, equal to beam 1") {
  for (std::uint64_t seed = 611; seed < 615; ++seed) {
    const DynamicModel m = random_model<DynamicModel>(10, 9, seed, 0.6 + 0.4 * static_cast<double>(seed - 611));
    Rng rng(seed);
    const std::vector<Sentence> sources = random_sentences(rng, 17, 10, 1, 6);
    DynamicModel::DecodeWorkspace ws;
    CountingScorer<BatchModelScorer<DynamicModel>> scorer{
        BatchModelScorer<DynamicModel>(m, sources, nullptr, 1, 17, ws), {}};
    std::vector<Index> limits;
    for (const Sentence& s : sources) limits.push_back(m.output_limit(static_cast<Index>(s.size()), 0));
    const std::vector<Sentence> greedy = batch_greedy_search(scorer, limits);
    CHECK(greedy == m.translate_greedy(sources));
    for (std::size_t t = 1; t < scorer.columns_per_step.size(); ++t)
      CHECK(scorer.columns_per_step[t] <= scorer.columns_per_step[t - 1]);
    std::size_t done_after = 0;  // sentences whose translation ended before the last step
    for (const Sentence& g : greedy) done_after += g.size() + 1 < scorer.columns_per_step.size() ? 1 : 0;
    if (done_after > 0) CHECK(scorer.columns_per_step.back() < 17);
    for (std::size_t i = 0; i < sources.size(); ++i) {
      CAPTURE(i);
      CHECK(greedy[i] == m.translate(sources[i]).front().tokens);  // the one-sentence beam 1
    }
  }
}

TEST_CASE("Ensemble::translate of a list equals the one-sentence ensemble search") {
  const DynamicModel a = random_model<DynamicModel>(10, 9, 621, 1.0, 4);
  const DynamicModel b = random_model<DynamicModel>(10, 9, 622, 1.2, 6);  // another hidden size
  const Ensemble<DynamicModel> e({&a, &b});
  Rng rng(23);
  const std::vector<Sentence> sources = random_sentences(rng, 12, 10, 1, 6);
  for (const DecodeOptions& opt : option_grid()) {
    CAPTURE(opt.beam);
    CAPTURE(opt.nbest);
    const std::vector<std::vector<Hypothesis>> batched = e.translate(sources, opt);
    for (std::size_t i = 0; i < sources.size(); ++i) {
      CAPTURE(i);
      CHECK(same_hypotheses(batched[i], e.translate(sources[i], opt), 1e-12));
    }
  }
  // One member: the model's own batched search.
  const Ensemble<DynamicModel> one({&a});
  DecodeOptions opt;
  opt.beam = 4;
  opt.nbest = 2;
  const auto x = one.translate(sources, opt), y = a.translate(sources, opt);
  for (std::size_t i = 0; i < sources.size(); ++i) CHECK(same_hypotheses(x[i], y[i], 0.0));
}

TEST_CASE("sampling: deterministic for a seed, independent of the batch, scored by the model") {
  const DynamicModel m = random_model<DynamicModel>(10, 9, 631, 0.8);
  Rng rng(24);
  const std::vector<Sentence> sources = random_sentences(rng, 15, 10, 1, 6);
  DecodeOptions opt;
  opt.sample = true;
  opt.nbest = 3;
  opt.seed = 99;
  opt.temperature = 1.0;
  const auto a = m.translate(sources, opt);
  opt.batch_size = 4;
  const auto b = m.translate(sources, opt);
  opt.batch_size = 1;
  const auto c = m.translate(sources, opt);
  std::size_t differ_from_greedy = 0;
  const std::vector<Sentence> greedy = m.translate_greedy(sources);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    CAPTURE(i);
    REQUIRE(a[i].size() == 3);
    CHECK(same_hypotheses(a[i], b[i], 1e-12));
    CHECK(same_hypotheses(a[i], c[i], 1e-12));
    for (std::size_t k = 1; k < a[i].size(); ++k) CHECK(a[i][k - 1].score >= a[i][k].score);
    for (const Hypothesis& h : a[i]) {
      CHECK(std::abs(h.log_prob - m.score(sources[i], h.tokens)) <= 1e-9);  // the model's own log p
      CHECK(static_cast<Index>(h.tokens.size()) <= m.output_limit(static_cast<Index>(sources[i].size()), 0));
      for (TokenId w : h.tokens) CHECK((w != Special::pad && w != Special::bos && w != Special::eos));
      differ_from_greedy += h.tokens != greedy[i] ? 1 : 0;
    }
  }
  CHECK(differ_from_greedy > 0);
  // The one-sentence API samples too, and a sentence draws the same wherever it stands.
  CHECK(same_hypotheses(m.translate(sources[4], opt), a[4], 1e-12));
  std::vector<Sentence> reversed(sources.rbegin(), sources.rend());
  const auto r = m.translate(reversed, opt);
  CHECK(same_hypotheses(r.back(), a.front(), 1e-12));
  opt.seed = 100;
  const auto d = m.translate(sources, opt);
  std::size_t same = 0;
  for (std::size_t i = 0; i < sources.size(); ++i) same += same_hypotheses(a[i], d[i], 1e-12) ? 1 : 0;
  CHECK(same < sources.size());  // another seed, other draws
  // top_k = 1, or a temperature near 0: the greedy translation.
  opt.top_k = 1;
  opt.nbest = 1;
  const auto top1 = m.translate(sources, opt);
  opt.top_k = 0;
  opt.temperature = 1e-4;
  const auto cold = m.translate(sources, opt);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    CHECK(top1[i].front().tokens == greedy[i]);
    CHECK(cold[i].front().tokens == greedy[i]);
  }
}

TEST_CASE("sampling: the first word is drawn from the model's distribution (temperature, top_k)") {
  // Target words <unk>, 4, 5, 6, 7 and <EOS> may come first; p from one decoder step.
  const DynamicModel m = random_model<DynamicModel>(10, 8, 641, 1.0);
  const Sentence src{4, 5, 6};
  DynamicModel::DecodeWorkspace ws;
  BatchModelScorer<DynamicModel> scorer(m, {src}, nullptr, 1, 1, ws);
  REQUIRE(scorer.step({Special::bos}, true));
  std::vector<double> logit(8), p(8, 0.0);
  for (Index r = 0; r < 8; ++r) logit[static_cast<std::size_t>(r)] = scorer.scores()(r, 0);
  const auto distribution = [&](double temperature, Index top_k) {
    std::vector<TokenId> allowed;
    for (TokenId w = 0; w < 8; ++w)
      if (w != Special::pad && w != Special::bos) allowed.push_back(w);
    std::stable_sort(allowed.begin(), allowed.end(), [&](TokenId x, TokenId y) { return logit[x] > logit[y]; });
    if (top_k > 0) allowed.resize(static_cast<std::size_t>(top_k));
    std::vector<double> q(8, 0.0);
    double total = 0;
    for (TokenId w : allowed) total += q[w] = std::exp(logit[w] / temperature);
    for (double& x : q) x /= total;
    return q;
  };
  for (const auto& setting : std::vector<std::pair<double, Index>>{{1.0, 0}, {0.5, 0}, {2.0, 3}, {1.0, 2}}) {
    const double temperature = setting.first;  // (no structured binding: CAPTURE's lambda cannot capture one in C++17)
    const Index top_k = setting.second;
    CAPTURE(temperature);
    CAPTURE(top_k);
    const std::vector<double> q = distribution(temperature, top_k);
    DecodeOptions opt;
    opt.sample = true;
    opt.nbest = 4000;
    opt.temperature = temperature;
    opt.top_k = top_k;
    opt.seed = 7;
    opt.max_length = 1;
    const std::vector<Hypothesis> draws = m.translate(std::vector<Sentence>{src}, opt).front();
    REQUIRE(draws.size() == 4000);
    std::vector<double> freq(8, 0.0);
    for (const Hypothesis& h : draws) freq[h.tokens.empty() ? Special::eos : h.tokens.front()] += 1.0 / 4000;
    for (TokenId w = 0; w < 8; ++w) {
      CAPTURE(w);
      const double sd = std::sqrt(q[w] * (1 - q[w]) / 4000);
      CHECK(std::abs(freq[w] - q[w]) <= 4.5 * sd + 1e-12);  // |z| < 4.5 for each of 8 words
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A model trained on real text (tests/reference/README.md), in float.

struct TinyModel {
  io::LoadedModel<FloatModel> loaded;
  std::vector<Sentence> sources;
  TinyModel() : loaded(io::load_model<FloatModel>(SEQ2SEQ_TEST_DATA_DIR "/reference/tatoeba_tiny.safetensors")) {
    std::ifstream in(SEQ2SEQ_TEST_DATA_DIR "/reference/tatoeba_tiny_sources.txt");
    std::string line;
    while (std::getline(in, line)) sources.push_back(loaded.source_vocab.encode(tokenize(line)));
  }
};

/// Share of sentences whose best translations are equal; where they differ, both must be within
/// `gap` of each other under the float model (a near tie, not a different search).
template <typename M>
double agreement(const M& reference, const std::vector<Sentence>& sources, const std::vector<std::vector<Hypothesis>>& a,
                 const std::vector<std::vector<Hypothesis>>& b, double gap) {
  std::size_t same = 0;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (a[i].front().tokens == b[i].front().tokens) {
      ++same;
      continue;
    }
    if (gap > 0) {
      CAPTURE(i);
      CHECK(std::abs(reference.score(sources[i], a[i].front().tokens) - reference.score(sources[i], b[i].front().tokens)) <= gap);
    }
  }
  return static_cast<double>(same) / static_cast<double>(sources.size());
}

TEST_CASE("batch_translate on a model trained on real text: float equals the one-sentence search") {
  const TinyModel tiny;
  REQUIRE(tiny.sources.size() == 200);
  const FloatModel& m = tiny.loaded.model;
  DecodeOptions opt;
  opt.beam = 5;
  std::vector<std::vector<Hypothesis>> one;
  FloatModel::DecodeWorkspace ws;
  for (const Sentence& s : tiny.sources) one.push_back(m.translate(s, opt, ws));
  const auto batched = m.translate(tiny.sources, opt, ws);
  // Float rounding differs with the batch's shape; a different result must be a near tie.
  const double same = agreement(m, tiny.sources, batched, one, 1e-3);
  MESSAGE("float, beam 5: ", same * 200, " of 200 translations identical batched and one at a time");
  CHECK(same >= 0.99);
  FloatModel packed = m;
  packed.set_precision(Precision::float32);  // weights packed once for the kernel: the same values
  CHECK(agreement(m, tiny.sources, packed.translate(tiny.sources, opt), one, 1e-3) >= 0.99);
  CHECK(packed.precision() == Precision::float32);
  CHECK(packed.decode_weights() != nullptr);
  detail::force_portable_kernels(true);  // Eigen's kernel for the copies
  packed.set_precision(Precision::float32);
  detail::force_portable_kernels(false);
  CHECK(agreement(m, tiny.sources, packed.translate(tiny.sources, opt), one, 1e-3) >= 0.99);
}

TEST_CASE("int8 and bf16 translations agree with float on a model trained on real text") {
  const TinyModel tiny;
  const FloatModel& m = tiny.loaded.model;
  DecodeOptions opt;
  opt.beam = 5;
  const auto ref = m.translate(tiny.sources, opt);
  const std::vector<Sentence> greedy = m.translate_greedy(tiny.sources);
  for (const auto& setting : std::vector<std::pair<Precision, bool>>{
           {Precision::bf16, false}, {Precision::int8, false}, {Precision::bf16, true}, {Precision::int8, true}}) {
    const Precision p = setting.first;  // (no structured binding: CAPTURE's lambda cannot capture one in C++17)
    const bool portable = setting.second;
    const std::string name = precision_name(p);  // doctest prints a const char* as a pointer
    CAPTURE(name);
    CAPTURE(portable);
    FloatModel q = m;
    if (portable) detail::force_portable_kernels(true);
    q.set_precision(p);
    detail::force_portable_kernels(false);
    CHECK(q.precision() == p);
    const double beam_same = agreement(m, tiny.sources, q.translate(tiny.sources, opt), ref, 0);
    std::size_t greedy_same = 0;
    const std::vector<Sentence> g = q.translate_greedy(tiny.sources);
    for (std::size_t i = 0; i < g.size(); ++i) greedy_same += g[i] == greedy[i] ? 1 : 0;
    MESSAGE(name, std::string(portable ? " (portable kernel)" : ""), ": beam 5 ", beam_same * 200, " / 200, greedy ",
            greedy_same, " / 200 translations identical to float");
    CHECK(beam_same >= (p == Precision::bf16 ? 0.9 : 0.8));
    CHECK(greedy_same >= (p == Precision::bf16 ? 180u : 160u));
    // The precision reaches the one-sentence API and scoring stays in float.
    CHECK(same_hypotheses(q.translate(tiny.sources[3], opt), q.translate(std::vector<Sentence>{tiny.sources[3]}, opt).front(), 0.0));
    CHECK(q.score(tiny.sources[3], ref[3].front().tokens) == m.score(tiny.sources[3], ref[3].front().tokens));
  }
  const auto loaded = io::load_model<FloatModel>(SEQ2SEQ_TEST_DATA_DIR "/reference/tatoeba_tiny.safetensors", Precision::int8);
  CHECK(loaded.model.precision() == Precision::int8);
  FloatModel back = loaded.model;
  back.clear_precision();
  CHECK(back.precision() == Precision::float32);
  CHECK(back.decode_weights() == nullptr);
}

TEST_CASE("a shortlist restricts every batch's words, and a full one changes nothing") {
  const TinyModel tiny;
  const FloatModel& m = tiny.loaded.model;
  const auto V = static_cast<std::size_t>(m.config().target_vocab);
  Shortlist everything(static_cast<std::size_t>(m.config().source_vocab), V);
  std::vector<TokenId> all;
  for (TokenId w = Special::count; w < static_cast<TokenId>(V); ++w) all.push_back(w);
  everything.set_always(all);
  DecodeOptions opt;
  opt.beam = 3;
  opt.nbest = 2;
  const auto ref = m.translate(tiny.sources, opt);
  opt.shortlist = &everything;  // every word but <pad> and <s>: the same softmax up to their mass
  const auto full = m.translate(tiny.sources, opt);
  CHECK(agreement(m, tiny.sources, full, ref, 0.0) >= 0.98);
  // A list of 5 words: only they (and <unk>) can appear.
  Shortlist few(static_cast<std::size_t>(m.config().source_vocab), V);
  few.set_always({4, 5, 6, 7, 8});
  opt.shortlist = &few;
  for (const auto& hyps : m.translate(tiny.sources, opt))
    for (const Hypothesis& h : hyps)
      for (TokenId w : h.tokens) CHECK(((w >= 4 && w <= 8) || w == Special::unk));
  FloatModel::DecodeWorkspace ws;
  for (const Sentence& s : m.translate_greedy(tiny.sources, ws, 0, &few))
    for (TokenId w : s) CHECK(((w >= 4 && w <= 8) || w == Special::unk));
  // A shortlist for other vocabularies is refused.
  Shortlist other(5, 9);
  opt.shortlist = &other;
  CHECK_THROWS_WITH_AS(m.translate(tiny.sources, opt), doctest::Contains("the shortlist is for vocabularies of 5 and 9"),
                       std::invalid_argument);
}

TEST_CASE("decoding: bad options and inputs are clear exceptions") {
  const DynamicModel m = random_model<DynamicModel>(10, 9, 651, 1.0);
  const std::vector<Sentence> sources{{4, 5}, {6}};
  const auto message = [&](const DecodeOptions& opt) -> std::string {
    try {
      m.translate(sources, opt);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "<no invalid_argument>";
  };
  DecodeOptions opt;
  opt.beam = 0;
  CHECK(message(opt).find("beam size must be at least 1, got 0") != std::string::npos);
  opt.beam = 2;
  opt.nbest = 3;
  CHECK(message(opt).find("nbest must be between 1 and the beam size (2), got 3") != std::string::npos);
  opt.nbest = 1;
  opt.sample = true;
  opt.temperature = 0;
  CHECK(message(opt).find("temperature must be positive and finite, got 0") != std::string::npos);
  opt.temperature = std::nan("");
  CHECK(message(opt).find("temperature must be positive and finite") != std::string::npos);
  opt.temperature = 1;
  opt.top_k = -2;
  CHECK(message(opt).find("top_k must not be negative, got -2") != std::string::npos);
  opt.top_k = 0;
  opt.nbest = 0;
  CHECK(message(opt).find("nbest must be at least 1") != std::string::npos);
  opt = DecodeOptions();
  opt.batch_size = 0;
  CHECK(message(opt).find("batch_size must be at least 1") != std::string::npos);
  opt = DecodeOptions();
  opt.max_length = -1;
  CHECK(message(opt).find("max_length must not be negative") != std::string::npos);
  CHECK_THROWS_WITH_AS(m.translate(std::vector<Sentence>{{4}, {}}), doctest::Contains("source sentence 1 is empty"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(m.translate(std::vector<Sentence>{{4, 12}}), doctest::Contains("source token id 12"),
                       std::invalid_argument);
  CHECK(m.translate(std::vector<Sentence>{}).empty());
  CHECK_THROWS_WITH_AS(parse_precision("int4"), doctest::Contains("unknown precision 'int4' (float, bf16 or int8)"),
                       std::invalid_argument);
  CHECK(parse_precision("bf16") == Precision::bf16);
  CHECK(parse_precision("float") == Precision::float32);
  CHECK(std::string(precision_name(Precision::int8)) == "int8");
}

TEST_CASE("the shared corpus's test set, when SEQ2SEQ_DECODE_MODEL and SEQ2SEQ_DECODE_SOURCES are set") {
  // A model trained on the whole corpus (not committed: 19 MB) and its test sources, given by
  // path: batched and one-sentence beam 5 in float over every sentence.
  const char* model = std::getenv("SEQ2SEQ_DECODE_MODEL");
  const char* sources_file = std::getenv("SEQ2SEQ_DECODE_SOURCES");
  if (model == nullptr || sources_file == nullptr) {
    MESSAGE("SEQ2SEQ_DECODE_MODEL / SEQ2SEQ_DECODE_SOURCES not set: skipped");
    return;
  }
  const auto loaded = io::load_model<FloatModel>(model);
  std::vector<Sentence> sources;
  std::ifstream in(sources_file);
  std::string line;
  while (std::getline(in, line)) sources.push_back(loaded.source_vocab.encode(tokenize(line)));
  DecodeOptions opt;
  opt.beam = 5;
  std::vector<std::vector<Hypothesis>> one;
  FloatModel::DecodeWorkspace ws;
  for (const Sentence& s : sources) one.push_back(loaded.model.translate(s, opt, ws));
  const double same = agreement(loaded.model, sources, loaded.model.translate(sources, opt, ws), one, 1e-3);
  const auto identical = static_cast<long>(std::lround(same * static_cast<double>(sources.size())));
  MESSAGE(identical, " of ", static_cast<long>(sources.size()), " translations identical");
  CHECK(same >= 0.99);
}

}  // namespace

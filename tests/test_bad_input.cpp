// The bad-input matrix of DESIGN.md section 5, at the API: token ids out of range, empty sequences,
// sequences over the configured maximum, mismatched batch and mask shapes, NaN/Inf in inputs and
// in weights, bad decoding options, unknown words, invalid UTF-8 and malformed TSV, and checkpoints
// of another model. Every case checks the exception type and that the message names the problem;
// the checks stay on in Release builds (this file is compiled like every test, with NDEBUG).
#include <seq2seq/data/data.hpp>
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/seq2seq.hpp>
#include <seq2seq/train.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_files.hpp"

namespace {

using namespace seq2seq;
namespace fs = std::filesystem;
using seq2seq::test::TempDir;
using seq2seq::test::slurp;
using seq2seq::test::values_of;
using seq2seq::test::bit_equal;

/// Bad inputs tried by this file (each CHECK_BAD_INPUT and each CHECK_HANDLED counts one).
std::atomic<int> g_bad_inputs{0};

/// Runs `expr` once and checks that it throws `Ex` (or a subclass) whose message starts with
/// "seq2seq: " and contains `needle`.
#define CHECK_BAD_INPUT(Ex, expr, needle)                                                   \
  do {                                                                                     \
    ++g_bad_inputs;                                                                        \
    std::string msg_ = "<no exception>";                                                   \
    bool right_type_ = false;                                                              \
    try {                                                                                  \
      (void)(expr);                                                                        \
    } catch (const Ex& e_) {                                                               \
      right_type_ = true;                                                                  \
      msg_ = e_.what();                                                                    \
    } catch (const std::exception& e_) {                                                   \
      msg_ = std::string("<another exception type> ") + e_.what();                        \
    } catch (...) {                                                                        \
      msg_ = "<a non-std exception>";                                                      \
    }                                                                                      \
    INFO("expression: " #expr);                                                            \
    INFO("message: ", msg_);                                                               \
    CHECK_MESSAGE(right_type_, "expected " #Ex);                                           \
    CHECK(msg_.rfind("seq2seq: ", 0) == 0);                                                \
    CHECK(msg_.find(needle) != std::string::npos);                                         \
  } while (false)

/// A bad input that is handled without an exception (an unknown word becomes <unk>, a skipped step).
#define CHECK_HANDLED(cond)            \
  do {                                 \
    ++g_bad_inputs;                    \
    const bool handled_ = (cond);      \
    CHECK_MESSAGE(handled_, #cond);    \
  } while (false)

template <typename Cell, int Layers>
using ModelOf = Seq2Seq<Encoder<StackedLSTM<Cell, Layers>>, Decoder<StackedLSTM<Cell, Layers>>>;

// Embed 3, hidden 4, 2 layers, vocabularies 10 and 9: every size differs.
using FixedModel = ModelOf<LSTMCell<double, 4, 3>, 2>;
using DynamicModel = ModelOf<LSTMCell<float, Dynamic, Dynamic>, Dynamic>;
using PeepholeDynamicModel = ModelOf<LSTMCell<float, Dynamic, Dynamic, true>, Dynamic>;

constexpr Index kSourceVocab = 10;
constexpr Index kTargetVocab = 9;
constexpr Index kMaxLength = 6;

ModelConfig small_config() {
  ModelConfig c;
  c.source_vocab = kSourceVocab;
  c.target_vocab = kTargetVocab;
  c.embed = 3;
  c.hidden = 4;
  c.layers = 2;
  c.max_length = kMaxLength;
  return c;
}

PairBatch small_batch() {
  PairBatch b;
  b.source = {{5, 9, 4}, {7}, {6, 1, 8, 5}};
  b.target = {{4, 6}, {5, 1, 4, 6}, {8}};
  return b;
}

template <typename Model>
Model make_model(const ModelConfig& c = small_config(), std::uint64_t seed = 11) {
  Model m(c);
  Rng rng(seed);
  init_uniform(m, rng, 0.5);
  return m;
}

/// Sets element (0, 0) of the named parameter to `v`; fails the test when there is no such name.
template <typename Model>
void set_weight(Model& m, const std::string& name, double v) {
  bool found = false;
  m.visit_parameters([&](const ParamName& n, auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    if (n.view() == name) {
      p.value(0, 0) = static_cast<S>(v);
      found = true;
    }
  });
  REQUIRE_MESSAGE(found, "no parameter named ", name);
}

std::vector<Pair> tsv(const std::string& text) {
  std::istringstream in(text);
  return read_tsv(in, "t.tsv");
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

// ---------------------------------------------------------------------------------------------
// Token ids

TEST_CASE_TEMPLATE("bad input: token ids outside the vocabulary", Model, FixedModel, DynamicModel) {
  Model m = make_model<Model>();
  typename Model::Workspace ws;
  PairBatch b = small_batch();

  b.source[2][1] = static_cast<TokenId>(kSourceVocab);
  CHECK_BAD_INPUT(std::invalid_argument, m.train_batch(b, ws), "source token id 10 is outside the vocabulary of 10");
  b.source[2][1] = -1;
  CHECK_BAD_INPUT(std::invalid_argument, m.train_batch(b, ws), "source token id -1");
  CHECK_BAD_INPUT(std::invalid_argument, m.evaluate(b, ws), "source token id -1");
  b = small_batch();
  b.target[0][0] = static_cast<TokenId>(kTargetVocab);
  CHECK_BAD_INPUT(std::invalid_argument, m.train_batch(b, ws), "target token id 9 is outside the vocabulary of 9");
  b.target[0][0] = std::numeric_limits<TokenId>::min();
  CHECK_BAD_INPUT(std::invalid_argument, m.train_batch(b, ws), "target token id -2147483648");
  CHECK_BAD_INPUT(std::invalid_argument, m.score(b, ws), "target token id -2147483648");
  CHECK_BAD_INPUT(std::invalid_argument, m.translate(Sentence{4, 10}), "source token id 10");
  CHECK_BAD_INPUT(std::invalid_argument, m.translate_greedy({Sentence{4}, Sentence{-5}}), "source token id -5");

  // The layers below the model: an embedding lookup and one decoder step.
  typename Model::DecodeWorkspace dws;
  LSTMState<typename Model::Scalar> state;
  state.resize(2, 4, 1);
  Matrix<typename Model::Scalar> log_probs;
  CHECK_BAD_INPUT(std::out_of_range, m.decoder().step({static_cast<TokenId>(kTargetVocab)}, state, log_probs, dws.step),
                  "token id 9 is outside the vocabulary of 9 words");
  Matrix<typename Model::Scalar> X;
  CHECK_BAD_INPUT(std::out_of_range, m.encoder().embedding().forward(std::vector<TokenId>{3, -1}, X), "token id -1");

  const Ensemble<Model> ensemble({&m});
  CHECK_BAD_INPUT(std::invalid_argument, ensemble.score(Sentence{4}, Sentence{4, 12}), "target id outside the vocabulary");
}

TEST_CASE("bad input: Vocab ids outside the vocabulary") {
  const Vocab v = Vocab::build({{"a", "b"}});
  CHECK_BAD_INPUT(std::invalid_argument, v.word(99), "token id 99 outside the vocabulary of 6 tokens");
  CHECK_BAD_INPUT(std::invalid_argument, v.decode({4, -1}), "token id -1");
}

// ---------------------------------------------------------------------------------------------
// Empty sequences and batches

TEST_CASE_TEMPLATE("bad input: empty source, empty target, empty batch", Model, FixedModel, DynamicModel) {
  Model m = make_model<Model>();
  typename Model::Workspace ws;
  PairBatch b = small_batch();
  b.source[1].clear();
  CHECK_BAD_INPUT(std::invalid_argument, m.train_batch(b, ws), "source sentence 1 of the batch is empty");
  CHECK_BAD_INPUT(std::invalid_argument, m.score(b, ws), "source sentence 1 of the batch is empty");
  b = small_batch();
  b.target[2].clear();
  CHECK_BAD_INPUT(std::invalid_argument, m.train_batch(b, ws), "target sentence 2 of the batch is empty");
  CHECK_BAD_INPUT(std::invalid_argument, m.evaluate(b, ws), "target sentence 2 of the batch is empty");
  CHECK_BAD_INPUT(std::invalid_argument, m.translate(Sentence{}), "source sentence 0 of the batch is empty");
  CHECK_BAD_INPUT(std::invalid_argument, m.translate_greedy({Sentence{4}, Sentence{}}),
                  "source sentence 1 of the batch is empty");
  CHECK_BAD_INPUT(std::invalid_argument, m.train_batch(PairBatch(), ws), "empty batch");
  CHECK_BAD_INPUT(std::invalid_argument, m.score(PairBatch(), ws), "empty batch");
  const Ensemble<Model> ensemble({&m});
  CHECK_BAD_INPUT(std::invalid_argument, ensemble.translate(Sentence{}), "is empty");
  // An empty list of sources is not an error for greedy decoding: nothing in, nothing out.
  CHECK(m.translate_greedy(std::vector<Sentence>{}).empty());
}

// ---------------------------------------------------------------------------------------------
// Lengths over ModelConfig::max_length

TEST_CASE_TEMPLATE("bad input: sequences longer than ModelConfig::max_length", Model, FixedModel, DynamicModel) {
  Model m = make_model<Model>();
  typename Model::Workspace ws;
  PairBatch b = small_batch();
  const Sentence too_long{4, 5, 6, 7, 8, 4, 5};  // 7 > 6
  b.source[0] = too_long;
  CHECK_BAD_INPUT(std::invalid_argument, m.train_batch(b, ws), "source sentence 0 has 7 tokens, more than the maximum of 6");
  CHECK_BAD_INPUT(std::invalid_argument, m.translate(too_long), "more than the maximum of 6");
  CHECK_BAD_INPUT(std::invalid_argument, m.translate_greedy({Sentence{4}, too_long}), "source sentence 1 has 7 tokens");
  b = small_batch();
  b.target[1] = too_long;
  CHECK_BAD_INPUT(std::invalid_argument, m.train_batch(b, ws), "target sentence 1 has 7 tokens, more than the maximum of 6");
  CHECK_BAD_INPUT(std::invalid_argument, m.score(b, ws), "target sentence 1 has 7 tokens");
  // Exactly the maximum is accepted, and decoding never produces more than it.
  b.target[1] = {4, 5, 6, 7, 8, 4};
  CHECK_NOTHROW(m.evaluate(b, ws));
  DecodeOptions opt;
  opt.beam = 2;
  opt.max_length = 100;
  for (const auto& h : m.translate(Sentence{4, 5, 6, 7, 8, 4}, opt)) CHECK(static_cast<Index>(h.tokens.size()) <= kMaxLength);

  std::vector<Sentence> src{{4}, too_long}, tgt{{4}, {5}};
  CHECK_BAD_INPUT(std::invalid_argument, max_length_filter(src, tgt, kMaxLength, kMaxLength, OverLength::reject),
                  "pair 1 has a source of 7 tokens, over the limit of 6");
}

// ---------------------------------------------------------------------------------------------
// Batch and mask shapes

TEST_CASE_TEMPLATE("bad input: mismatched batches", Model, FixedModel, DynamicModel) {
  Model m = make_model<Model>();
  typename Model::Workspace ws;
  PairBatch b = small_batch();
  b.target.pop_back();
  CHECK_BAD_INPUT(std::invalid_argument, m.train_batch(b, ws), "batch has 3 sources but 2 targets");
  CHECK_BAD_INPUT(std::invalid_argument, m.evaluate(b, ws), "3 sources but 2 targets");
  CHECK_BAD_INPUT(std::invalid_argument, m.score(b, ws), "3 sources but 2 targets");
  Rng rng(1);
  CHECK_BAD_INPUT(std::invalid_argument, make_batches(b.source, b.target, 2, rng),
                  "3 source sentences but 2 target sentences");
  b = small_batch();
  CHECK_BAD_INPUT(std::invalid_argument, make_batches(b.source, b.target, 0, rng), "batch_size must be positive");

  // A decoder started from a state of the wrong batch size or depth.
  LSTMState<typename Model::Scalar> v;
  v.resize(2, 4, 2);
  CHECK_BAD_INPUT(std::invalid_argument, m.decoder().loss(b.target, v, ws.decoder), "initial state has 2 layers x 2 columns");
  v.resize(1, 4, 1);
  typename Model::DecodeWorkspace dws;
  Matrix<typename Model::Scalar> log_probs;
  CHECK_BAD_INPUT(std::invalid_argument, m.decoder().step({4}, v, log_probs, dws.step), "state has the wrong depth");
}

TEST_CASE_TEMPLATE("bad input: LSTMCell shapes and masks", Scalar, float, double) {
  using Cell = LSTMCell<Scalar, 4, 3>;
  using Mat = Matrix<Scalar>;
  Cell cell;
  Rng rng(5);
  init_uniform(cell, rng, 0.3);
  LSTMTape<Scalar> tape;
  const Mat X = Mat::Constant(3, 6, Scalar(0.25));  // T = 3 steps of B = 2
  Mask<Scalar> mask = Mask<Scalar>::Ones(1, 6);
  CHECK_NOTHROW(cell.forward(X, 2, tape, &mask));

  const Mask<Scalar> short_mask = Mask<Scalar>::Ones(1, 5);
  CHECK_BAD_INPUT(std::invalid_argument, cell.forward(X, 2, tape, &short_mask), "mask has 5 entries, expected T*B = 6");
  for (const double bad : {0.5, 2.0, -1.0, kNaN, kInf}) {
    CAPTURE(bad);
    mask = Mask<Scalar>::Ones(1, 6);
    mask(3) = static_cast<Scalar>(bad);
    CHECK_BAD_INPUT(std::invalid_argument, cell.forward(X, 2, tape, &mask), "mask entries must be 0 (padding) or 1");
  }
  CHECK_BAD_INPUT(std::invalid_argument, cell.forward(Mat::Zero(2, 6), 2, tape), "input has 2 rows, the cell expects 3");
  CHECK_BAD_INPUT(std::invalid_argument, cell.forward(X, 4, tape), "input columns (6) are not a positive multiple of the batch (4)");
  CHECK_BAD_INPUT(std::invalid_argument, cell.forward(X, 0, tape), "batch must be positive");
  CHECK_BAD_INPUT(std::invalid_argument, cell.forward(Mat::Zero(3, 0), 2, tape), "are not a positive multiple");
  CHECK_BAD_INPUT(std::invalid_argument, cell.forward(X, 2, Mat::Zero(4, 3), Mat(), tape), "h0 must be 4 x 2, got 4 x 3");
  CHECK_BAD_INPUT(std::invalid_argument, cell.forward(X, 2, Mat(), Mat::Zero(3, 2), tape), "c0 must be 4 x 2, got 3 x 2");

  // backward without a forward pass, and with gradients of the wrong shape.
  LSTMTape<Scalar> empty_tape;
  CHECK_BAD_INPUT(std::invalid_argument, cell.backward(X, empty_tape, Mat(), Mat(), Mat(), nullptr), "the tape holds no forward pass");
  cell.forward(X, 2, tape);
  CHECK_BAD_INPUT(std::invalid_argument, cell.backward(X, tape, Mat::Zero(4, 5), Mat(), Mat(), nullptr), "dH must be H x T*B (4 x 6)");
  CHECK_BAD_INPUT(std::invalid_argument, cell.backward(Mat::Zero(3, 4), tape, Mat(), Mat(), Mat(), nullptr),
                  "X is not the forward input's shape");

  // One inference step with a state of the wrong shape.
  Mat h = Mat::Zero(4, 2), c = Mat::Zero(4, 1), gates;
  CHECK_BAD_INPUT(std::invalid_argument, cell.step(X.leftCols(2), h, c, h, h, gates), "state must be H x B");

  // A stack started from a state of the wrong depth.
  StackedLSTM<Cell, 2> stack;
  StackedTape<Scalar> stape;
  LSTMState<Scalar> init;
  init.resize(1, 4, 2);
  CHECK_BAD_INPUT(std::invalid_argument, stack.forward(X, 2, &init, stape), "initial state has 1 layers, the stack has 2");

  // The softmax with a target count that does not match its columns, an embedding backward of the wrong shape.
  SoftmaxNLL<Scalar, 4> softmax(7);
  SoftmaxWorkspace<Scalar> sws;
  CHECK_BAD_INPUT(std::invalid_argument,
                  softmax.loss(Mat::Zero(4, 6), std::vector<TokenId>{1, 2, 3, 4, 5}, Mask<Scalar>(), sws),
                  "SoftmaxNLL: 5 targets for 6 columns");
  Embedding<Scalar, 3> embedding(7);
  CHECK_BAD_INPUT(std::invalid_argument, embedding.backward(std::vector<TokenId>{1, 2}, Mat::Zero(3, 3)),
                  "dX must be dim x number of ids");
}

// ---------------------------------------------------------------------------------------------
// NaN and Inf in inputs

TEST_CASE_TEMPLATE("bad input: NaN and Inf in a layer's input", Scalar, float, double) {
  using Mat = Matrix<Scalar>;
  LSTMCell<Scalar, 4, 3> cell;
  Rng rng(6);
  init_uniform(cell, rng, 0.3);
  LSTMTape<Scalar> tape;
  for (const double bad : {kNaN, kInf, -kInf}) {
    CAPTURE(bad);
    Mat X = Mat::Constant(3, 6, Scalar(0.5));
    X(2, 4) = static_cast<Scalar>(bad);
    // NonFiniteInputError is a std::invalid_argument: both catch it.
    CHECK_BAD_INPUT(NonFiniteInputError, cell.forward(X, 2, tape), "LSTMCell::forward: the input holds NaN or Inf");
    CHECK_BAD_INPUT(std::invalid_argument, cell.forward(X, 3, tape), "the input holds NaN or Inf");
  }

  // A non-finite learning rate is refused before any weight changes.
  using Model = ModelOf<LSTMCell<Scalar, 4, 3>, 2>;
  Model m = make_model<Model>();
  Optimizer<Adam, Scalar> opt;
  Trainer<Model, Adam> trainer(m, opt);
  const auto before = values_of(m);
  for (const double bad : {kNaN, kInf}) {
    CAPTURE(bad);
    CHECK_BAD_INPUT(std::invalid_argument, trainer.step(small_batch(), bad), "learning rate is");
  }
  CHECK(values_of(m) == before);
}

// ---------------------------------------------------------------------------------------------
// NaN and Inf in weights

TEST_CASE_TEMPLATE("bad input: NaN and Inf weights give a clear error in training and decoding", Model, FixedModel,
                   DynamicModel) {
  Model m = make_model<Model>();
  Optimizer<SGD, typename Model::Scalar> opt;

  SUBCASE("a NaN softmax weight: NaN loss") {
    set_weight(m, "decoder.softmax.W", kNaN);
    const auto before = values_of(m);
    Trainer<Model, SGD> stop(m, opt);
    CHECK_BAD_INPUT(NonFiniteError, stop.step(small_batch(), 0.1), "training step 1: the loss is NaN");
    TrainOptions skip_options;
    skip_options.on_non_finite = NonFinitePolicy::skip;
    Trainer<Model, SGD> skip(m, opt, skip_options);
    CHECK_HANDLED(!skip.step(small_batch(), 0.1).applied && skip.skipped() == 1);
    CHECK(bit_equal(values_of(m), before));
    CHECK_BAD_INPUT(std::runtime_error, m.translate(Sentence{4, 5}, DecodeOptions{3, 2, 0, 0.0}), "NaN log-probabilities");
    CHECK_BAD_INPUT(std::runtime_error, m.translate_greedy({Sentence{4, 5}}), "translate_greedy: the model produced NaN");
    CHECK_BAD_INPUT(std::runtime_error, m.evaluate(small_batch()), "evaluate: the model produced a NaN loss");
    CHECK_BAD_INPUT(std::runtime_error, m.score(Sentence{4, 5}, Sentence{6}), "score: the model produced a NaN log-probability");
  }
  SUBCASE("a NaN source embedding: NaN inside the forward pass") {
    set_weight(m, "encoder.embedding.E", kNaN);
    Trainer<Model, SGD> stop(m, opt);
    // Sentence 0 holds word 5, not word 0 (whose column is NaN): put word 0 in.
    PairBatch b = small_batch();
    b.source[0][0] = 0;
    CHECK_BAD_INPUT(NonFiniteError, stop.step(b, 0.1), "training step 1: a NaN or Inf value in the forward pass");
    CHECK_BAD_INPUT(std::invalid_argument, m.translate(Sentence{0, 4}), "NaN or Inf");
    CHECK_BAD_INPUT(std::invalid_argument, m.translate_greedy({Sentence{0, 4}}), "NaN or Inf");
  }
  SUBCASE("an Inf output bias") {
    // -Inf only makes a word impossible (here word 0, <pad>, which is never produced): not an error.
    set_weight(m, "decoder.softmax.b", -kInf);
    CHECK_NOTHROW(m.translate(Sentence{4, 5}, DecodeOptions{2, 1, 0, 0.0}));
    // +Inf makes every log-probability NaN (inf - inf).
    set_weight(m, "decoder.softmax.b", kInf);
    Trainer<Model, SGD> stop(m, opt);
    CHECK_BAD_INPUT(NonFiniteError, stop.step(small_batch(), 0.1), "training step 1: the loss is NaN");
    CHECK_BAD_INPUT(std::runtime_error, m.translate(Sentence{4, 5}, DecodeOptions{2, 1, 0, 0.0}), "NaN log-probabilities");
    CHECK_BAD_INPUT(std::runtime_error, m.translate_greedy({Sentence{4, 5}}), "NaN log-probabilities");
    CHECK_BAD_INPUT(std::runtime_error, m.evaluate(small_batch()), "NaN loss");
    CHECK_BAD_INPUT(std::runtime_error, m.score(Sentence{4, 5}, Sentence{6}), "NaN log-probability");
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding options

TEST_CASE_TEMPLATE("bad input: beam size 0, nbest outside [1, beam]", Model, FixedModel, DynamicModel) {
  Model m = make_model<Model>();
  DecodeOptions opt;
  opt.beam = 0;
  CHECK_BAD_INPUT(std::invalid_argument, m.translate(Sentence{4, 5}, opt), "beam size must be at least 1, got 0");
  opt.beam = -3;
  CHECK_BAD_INPUT(std::invalid_argument, m.translate(Sentence{4, 5}, opt), "beam size must be at least 1, got -3");
  opt.beam = 3;
  opt.nbest = 4;
  CHECK_BAD_INPUT(std::invalid_argument, m.translate(Sentence{4, 5}, opt), "nbest must be between 1 and the beam size (3)");
  opt.nbest = 0;
  CHECK_BAD_INPUT(std::invalid_argument, m.translate(Sentence{4, 5}, opt), "nbest must be between 1");
  const Ensemble<Model> ensemble({&m, &m});
  opt.beam = 0;
  opt.nbest = 1;
  CHECK_BAD_INPUT(std::invalid_argument, ensemble.translate(Sentence{4, 5}, opt), "beam size must be at least 1");
}

// ---------------------------------------------------------------------------------------------
// Text: unknown words, invalid UTF-8, malformed TSV

TEST_CASE("bad input: unknown words become <unk>, invalid UTF-8 and malformed TSV lines name the line") {
  const Vocab v = Vocab::build({tokenize("the dog sees the cat .")});
  std::size_t unknown = 0;
  const Sentence s = v.encode(tokenize("the zebra sees the cat ."), unknown);
  CHECK_HANDLED(s[1] == Special::unk && unknown == 1);
  CHECK(v.decode(s)[1] == "<unk>");
  // A literal special token in the input is just an odd word (the tokenizer splits '<' and '>' anyway).
  CHECK_HANDLED(v.encode({"<EOS>", "<s>", "<pad>"}) == (Sentence{Special::unk, Special::unk, Special::unk}));

  CHECK_BAD_INPUT(std::invalid_argument, tokenize("caf\xE9"), "invalid UTF-8 at byte offset 3");
  CHECK_BAD_INPUT(std::invalid_argument, tsv("hello\tbonjour\ncaf\xE9\tcoffee\n"), "t.tsv:2: invalid UTF-8 at byte 3");
  CHECK_BAD_INPUT(std::invalid_argument, tsv("a\tb\n\xC0\x80\tb\n"), "t.tsv:2: invalid UTF-8 at byte 0 of the line: overlong");
  CHECK_BAD_INPUT(std::invalid_argument, tsv("a\t\xED\xA0\x80\n"), "t.tsv:1: invalid UTF-8 at byte 2 of the line: surrogate");
  CHECK_BAD_INPUT(std::invalid_argument, tsv("a\tb\nc\td\ne\tf\xE2\x82\n"), "t.tsv:3: invalid UTF-8 at byte 3 of the line: truncated");
  CHECK_BAD_INPUT(std::invalid_argument, tsv("a\tb\n\nno tab here\n"), "t.tsv:3: no tab separating source and target");
  CHECK_BAD_INPUT(std::invalid_argument, tsv("\tb\n"), "t.tsv:1: empty source sentence");
  CHECK_BAD_INPUT(std::invalid_argument, tsv("a\t  \tattribution\n"), "t.tsv:1: empty target sentence");
  CHECK_BAD_INPUT(std::invalid_argument, tsv("a\t\xC2\xA0\n"), "t.tsv:1: empty target sentence");  // no-break space only
  CHECK_BAD_INPUT(std::invalid_argument, tsv(""), "t.tsv: empty corpus (no sentence pairs)");
  CHECK_BAD_INPUT(std::invalid_argument, tsv("\n \r\n\t\n"), "empty corpus");

  TempDir dir;
  CHECK_BAD_INPUT(std::runtime_error, read_tsv_file(dir.file("missing.tsv")), "cannot read corpus '");
  CHECK_BAD_INPUT(std::runtime_error, read_tsv_file(dir.path().string()), "it is a directory");

  CHECK_BAD_INPUT(std::invalid_argument, Vocab::from_json("{\"format\": 1"), "vocabulary JSON");
  CHECK_BAD_INPUT(std::invalid_argument, Vocab::from_tokens({"a", "b"}), "fewer than the 4 special tokens");
}

// ---------------------------------------------------------------------------------------------
// Checkpoints of another model

TEST_CASE("bad input: a checkpoint of another model is refused naming the tensor, and the model is untouched") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  ModelConfig c = small_config();
  const DynamicModel saved = make_model<DynamicModel>(c, 1);
  io::save_parameters(path, saved, {{"note", "hidden 4"}});

  const auto refused = [&](auto& model, const char* needle) {
    const auto before = values_of(model);
    CHECK_BAD_INPUT(std::invalid_argument, io::load_parameters(path, model), needle);
    CHECK(values_of(model) == before);
  };
  SUBCASE("another hidden size") {
    c.hidden = 5;
    DynamicModel other = make_model<DynamicModel>(c);
    refused(other, "tensor 'encoder.layer0.W' has shape [16, 3] in the file but [20, 3] in the model");
  }
  SUBCASE("another vocabulary") {
    c.source_vocab = 11;
    DynamicModel other = make_model<DynamicModel>(c);
    refused(other, "tensor 'encoder.embedding.E' has shape [3, 10] in the file but [3, 11] in the model");
  }
  SUBCASE("a layer more") {
    c.layers = 3;
    DynamicModel other = make_model<DynamicModel>(c);
    refused(other, "'encoder.layer2.W' is not in the file");
  }
  SUBCASE("a layer fewer") {
    c.layers = 1;
    DynamicModel other = make_model<DynamicModel>(c);
    refused(other, "holds tensor 'encoder.layer1.W', which the model does not have");
  }
  SUBCASE("another Scalar") {
    FixedModel other = make_model<FixedModel>(c);
    refused(other, "tensor 'encoder.embedding.E' is F32 in the file but F64 in the model");
  }
  SUBCASE("peepholes") {
    c.peephole = true;
    PeepholeDynamicModel other = make_model<PeepholeDynamicModel>(c);
    refused(other, "'encoder.layer0.P' is not in the file");
  }
  SUBCASE("missing, truncated, not a parameter file") {
    DynamicModel same = make_model<DynamicModel>(c, 2);
    const auto before = values_of(same);
    CHECK_BAD_INPUT(std::runtime_error, io::load_parameters(dir.file("nope.safetensors"), same), "cannot open");
    const std::string bytes = slurp(path);
    {
      std::ofstream out(dir.file("cut.safetensors"), std::ios::binary);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    }
    CHECK_BAD_INPUT(std::invalid_argument, io::load_parameters(dir.file("cut.safetensors"), same), "truncated");
    Optimizer<Adam, float> opt;
    opt.initialize(same);
    io::save_training_state(dir.file("state.safetensors"), opt, same, io::TrainingState{});
    CHECK_BAD_INPUT(std::invalid_argument, io::load_parameters(dir.file("state.safetensors"), same),
                    "holds 'training_state', not 'parameters'");
    CHECK(values_of(same) == before);
    // And the right model loads it.
    CHECK_NOTHROW(io::load_parameters(path, same));
    CHECK(values_of(same) == values_of(saved));
  }
}

TEST_CASE("bad input: the number of bad inputs tried (summary)") {
  // Runs last in this file (doctest orders by file and line); prints the count for the report.
  MESSAGE("bad inputs tried in test_bad_input.cpp: ", g_bad_inputs.load());
  CHECK(g_bad_inputs.load() >= 0);
}

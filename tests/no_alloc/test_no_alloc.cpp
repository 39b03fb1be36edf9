// The steady state of a training step (with and without dropout) and of a decoding step makes no
// heap allocation.
//
// Built as its own executable: EIGEN_RUNTIME_NO_MALLOC changes Eigen's inline allocation functions,
// so it must hold for every translation unit of the program. Eigen's GEMM takes its packing
// buffers from malloc, not operator new, so two checks run around the steady state:
//   - Eigen::internal::set_is_malloc_allowed(false): any Eigen allocation aborts the test
//     (Eigen asserts; NDEBUG is undefined below so the assert stays on in Release);
//   - a count of global operator new calls (std::vector, std::string, ...) must not change.
// With the oneDNN backend the large float products call dnnl_sgemm or run oneDNN's matmul
// primitives, which the library makes once per shape (dnnl_matmul.hpp; a steady-state product only
// points their memory objects at its operands and executes them); int8 decoding calls
// dnnl_gemm_u8s8s32. oneDNN
// allocates inside those calls (its execution contexts, closures and buffers). The link wraps them
// (-Wl,--wrap, see CMakeLists.txt) so that their allocations count apart: the checks still prove
// that the library's own code allocates nothing, on either backend.
#undef NDEBUG
#define EIGEN_RUNTIME_NO_MALLOC
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/seq2seq.hpp>
#include <seq2seq/train.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "../counting_new.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

#if defined(SEQ2SEQ_USE_DNNL)
namespace {
std::atomic<long> dnnl_calls{0};
std::atomic<int> dnnl_last_threads{0};  // omp_get_max_threads() inside the last oneDNN call

void note_dnnl_call() {
  dnnl_calls.fetch_add(1, std::memory_order_relaxed);
#if defined(_OPENMP)
  dnnl_last_threads.store(omp_get_max_threads(), std::memory_order_relaxed);
#endif
}
}  // namespace
extern "C" {
dnnl_status_t __real_dnnl_sgemm(char ta, char tb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K, float alpha, const float* A,
                                dnnl_dim_t lda, const float* B, dnnl_dim_t ldb, float beta, float* C, dnnl_dim_t ldc);
dnnl_status_t __wrap_dnnl_sgemm(char ta, char tb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K, float alpha, const float* A,
                                dnnl_dim_t lda, const float* B, dnnl_dim_t ldb, float beta, float* C, dnnl_dim_t ldc) {
  const seq2seq::test::ForeignScope foreign;
  note_dnnl_call();
  return __real_dnnl_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
dnnl_status_t __real_dnnl_primitive_execute(const_dnnl_primitive_t primitive, dnnl_stream_t stream, int nargs,
                                            const dnnl_exec_arg_t* args);
dnnl_status_t __wrap_dnnl_primitive_execute(const_dnnl_primitive_t primitive, dnnl_stream_t stream, int nargs,
                                            const dnnl_exec_arg_t* args) {
  const seq2seq::test::ForeignScope foreign;
  note_dnnl_call();
  return __real_dnnl_primitive_execute(primitive, stream, nargs, args);
}
dnnl_status_t __real_dnnl_memory_set_data_handle_v2(dnnl_memory_t memory, void* handle, dnnl_stream_t stream);
dnnl_status_t __wrap_dnnl_memory_set_data_handle_v2(dnnl_memory_t memory, void* handle, dnnl_stream_t stream) {
  const seq2seq::test::ForeignScope foreign;
  return __real_dnnl_memory_set_data_handle_v2(memory, handle, stream);
}
dnnl_status_t __real_dnnl_stream_wait(dnnl_stream_t stream);
dnnl_status_t __wrap_dnnl_stream_wait(dnnl_stream_t stream) {
  const seq2seq::test::ForeignScope foreign;
  return __real_dnnl_stream_wait(stream);
}
dnnl_status_t __real_dnnl_gemm_u8s8s32(char ta, char tb, char offsetc, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                                       float alpha, const uint8_t* A, dnnl_dim_t lda, uint8_t ao, const int8_t* B,
                                       dnnl_dim_t ldb, int8_t bo, float beta, int32_t* C, dnnl_dim_t ldc,
                                       const int32_t* co);
dnnl_status_t __wrap_dnnl_gemm_u8s8s32(char ta, char tb, char offsetc, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                                       float alpha, const uint8_t* A, dnnl_dim_t lda, uint8_t ao, const int8_t* B,
                                       dnnl_dim_t ldb, int8_t bo, float beta, int32_t* C, dnnl_dim_t ldc,
                                       const int32_t* co) {
  const seq2seq::test::ForeignScope foreign;
  note_dnnl_call();
  return __real_dnnl_gemm_u8s8s32(ta, tb, offsetc, M, N, K, alpha, A, lda, ao, B, ldb, bo, beta, C, ldc, co);
}
}
#endif

namespace {

using namespace seq2seq;

/// Runs `f` with Eigen's allocations forbidden and returns how many operator new calls it made.
template <typename F>
long allocations_during(F&& f) {
  const long before = seq2seq::test::operator_new_count();
  Eigen::internal::set_is_malloc_allowed(false);
  f();
  Eigen::internal::set_is_malloc_allowed(true);
  return seq2seq::test::operator_new_count() - before;
}

template <typename Model>
PairBatch batch_of(Index n, Index src_len, Index tgt_len, Index vocab, Rng& rng) {
  PairBatch b;
  for (Index s = 0; s < n; ++s) {
    Sentence x, y;
    for (Index t = 0; t < src_len - (s % 3); ++t) x.push_back(static_cast<TokenId>(Special::count + rng.below(vocab - Special::count)));
    for (Index t = 0; t < tgt_len - (s % 2); ++t) y.push_back(static_cast<TokenId>(Special::count + rng.below(vocab - Special::count)));
    b.source.push_back(x);
    b.target.push_back(y);
  }
  return b;
}

ModelConfig small_config() {
  ModelConfig c;
  c.source_vocab = 300;
  c.target_vocab = 400;
  c.embed = 48;
  c.hidden = 64;
  c.layers = 2;
  return c;
}

}  // namespace

TEST_CASE_TEMPLATE("a steady-state training step allocates nothing", Cell, LSTMCell<float, 64, 48>,
                   LSTMCell<float, Dynamic, Dynamic>) {
  using Stack = StackedLSTM<Cell, 2>;
  using Model = Seq2Seq<Encoder<Stack>, Decoder<Stack>>;
  Model model(small_config());
  Rng rng(7);
  init_uniform(model, rng, 0.08);
  Optimizer<Adam, float> opt;
  Trainer<Model, Adam> trainer(model, opt);
  const PairBatch batch = batch_of<Model>(16, 12, 10, 300, rng);
  trainer.step(batch, 1e-3);  // warm-up: buffers reach their size
  trainer.step(batch, 1e-3);
  const long news = allocations_during([&] {
    for (int i = 0; i < 3; ++i) trainer.step(batch, 1e-3);
  });
  CHECK(news == 0);
  CHECK(trainer.attempted() == 5);
#if defined(SEQ2SEQ_USE_DNNL)
  // The wrap is in place: the products did go to oneDNN, and what it allocated counted apart.
  CHECK(dnnl_calls.load() > 0);
  MESSAGE("oneDNN backend: ", dnnl_calls.load(), " oneDNN product calls so far, ", seq2seq::test::foreign_new_count(),
          " operator new calls inside them");
#endif
}

TEST_CASE_TEMPLATE("a steady-state training step with dropout at every site allocates nothing", Cell,
                   LSTMCell<float, 64, 48>, LSTMCell<float, Dynamic, Dynamic>) {
  // The step the Trainer takes, by hand (zero_grad, train_batch, clipping, update), with dropout:
  // the masks and the dropped copies live in the workspace, drawn anew at every step.
  using Stack = StackedLSTM<Cell, 2>;
  using Model = Seq2Seq<Encoder<Stack>, Decoder<Stack>>;
  Model model(small_config());
  Rng rng(9);
  init_uniform(model, rng, 0.08);
  Optimizer<Adam, float> opt;
  typename Model::Workspace ws;
  const PairBatch batch = batch_of<Model>(16, 12, 10, 300, rng);
  DropoutOptions dropout;
  dropout.rate = 0.3;
  dropout.seed = 11;
  const auto step = [&] {
    zero_grad(model);
    model.train_batch(batch, ws, dropout);
    clip_global_norm(model, 5.0);
    opt.step(model, 1e-3);
    ++dropout.step;
  };
  step();  // warm-up: buffers reach their size
  step();
  const long news = allocations_during([&] {
    for (int i = 0; i < 3; ++i) step();
  });
  CHECK(news == 0);
  CHECK(ws.encoder.dropout);
  CHECK(ws.decoder.stack.dropout);
}

TEST_CASE("a steady-state decoding step allocates nothing") {
  using Stack = StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, 2>;
  using Model = Seq2Seq<Encoder<Stack>, Decoder<Stack>>;
  Model model(small_config());
  Rng rng(8);
  init_uniform(model, rng, 0.08);
  const PairBatch batch = batch_of<Model>(5, 9, 9, 300, rng);

  SUBCASE("Decoder::step on K hypotheses") {
    Model::DecodeWorkspace ws;
    model.encode(batch.source, ws.encoder, ws.v);
    ws.state = ws.v;
    std::vector<TokenId> last(batch.source.size(), Special::bos);
    model.decoder().step(last, ws.state, ws.log_probs, ws.step);  // warm-up
    const long news = allocations_during([&] {
      for (int t = 0; t < 5; ++t) model.decoder().step(last, ws.state, ws.log_probs, ws.step);
    });
    CHECK(news == 0);
  }
  SUBCASE("beam search steps (the per-sentence set-up aside)") {
    // Allocation happens per sentence (encode, the back-pointer tables, the result), never per
    // step: a sentence decoded to 30 words costs as many allocations as one decoded to 10.
    Model::DecodeWorkspace ws;
    DecodeOptions opt;
    opt.beam = 4;
    opt.nbest = 1;
    model.translate(batch.source[0], opt, ws);  // warm-up
    auto count_for = [&](Index words) {
      opt.max_length = words;
      const long before = seq2seq::test::operator_new_count();
      auto h = model.translate(batch.source[0], opt, ws);
      CHECK(!h.empty());
      return seq2seq::test::operator_new_count() - before;
    };
    // An untrained model rarely ends early, so both runs decode to their limit.
    const long short_run = count_for(10), long_run = count_for(30);
    CHECK(long_run == short_run);
  }
}

TEST_CASE("a steady state of batched decoding allocates nothing per step") {
  using Stack = StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, 2>;
  using Model = Seq2Seq<Encoder<Stack>, Decoder<Stack>>;
  Model model(small_config());
  Rng rng(9);
  init_uniform(model, rng, 0.08);
  const PairBatch batch = batch_of<Model>(12, 9, 9, 300, rng);
  // Every source word keeps 30 target words: a shortlist of about 250 of the 400 rows.
  Shortlist shortlist(300, 400);
  for (TokenId w = 0; w < 300; ++w) {
    std::vector<TokenId> c;
    for (TokenId k = 0; k < 30; ++k) c.push_back(static_cast<TokenId>(Special::count + (w * 7 + k * 13) % 396));
    shortlist.set_candidates(w, c);
  }

  for (const char* precision : {"parameters", "float", "bf16", "int8"}) {
    CAPTURE(precision);
    if (std::string(precision) != "parameters") model.set_precision(parse_precision(precision));
    {  // One decoder step of the whole batch, with hypotheses leaving it.
      Model::DecodeWorkspace ws;
      BatchModelScorer<Model> scorer(model, batch.source, nullptr, 3, 36, ws);
      std::vector<Index> parents;
      for (Index j = 0; j < 36; ++j) parents.push_back(j % 12);
      scorer.reorder(parents);  // 36 columns, three per sentence
      const std::vector<TokenId> last(36, 7), fewer_last(20, 9);
      const std::vector<Index> fewer(parents.begin(), parents.begin() + 20);
      scorer.step(last, true);  // warm-up
      // The narrower shape below is warmed up too: on the oneDNN backend a product's first shape
      // makes its primitive (once, then cached per thread), as a buffer grows once.
      scorer.reorder(fewer);
      scorer.step(fewer_last, true);
      scorer.reorder(parents);
      scorer.step(last, true);
      bool ok = true;
      const long news = allocations_during([&] {
        for (int t = 0; t < 4; ++t) {
          ok = scorer.step(last, true) && ok;
          ok = scorer.step(last, false) && ok;
        }
        scorer.reorder(fewer);  // fewer columns, the same buffers
        ok = scorer.step(fewer_last, true) && ok;
      });
      CHECK(ok);
      CHECK(news == 0);
    }
    // Translating a list: allocation happens per call and per batch (the encoder's input, the
    // hypotheses' histories, the results), never per step, so 30 words cost what 10 words cost.
    Model::DecodeWorkspace ws;
    for (int mode = 0; mode < 4; ++mode) {
      CAPTURE(mode);  // 0 beam search, 1 sampling, 2 beam search with a shortlist, 3 greedy
      DecodeOptions opt;
      opt.batch_size = 5;
      if (mode == 0) opt.beam = 4, opt.nbest = 2;
      if (mode == 1) opt.sample = true, opt.nbest = 2, opt.top_k = 10;
      if (mode == 2) opt.beam = 3, opt.shortlist = &shortlist;
      opt.max_length = 30;
      std::size_t size = 0;
      const auto run = [&] {
        size = mode == 3 ? model.translate_greedy(batch.source, ws, opt.max_length).size()
                         : model.translate(batch.source, opt, ws).size();
      };
      run();  // warm-up: buffers reach their size
      const auto count_for = [&](Index words) {
        opt.max_length = words;
        const long before = seq2seq::test::operator_new_count();
        run();
        return seq2seq::test::operator_new_count() - before;
      };
      // An untrained model rarely ends early, so both runs decode to their limit.
      const long short_run = count_for(10), long_run = count_for(30);
      CHECK(size == 12);
      CHECK(long_run == short_run);
    }
  }
}

#if defined(SEQ2SEQ_USE_DNNL) && defined(_OPENMP)
TEST_CASE("oneDNN's products run Eigen::nbThreads() threads and leave the caller's OpenMP setting alone") {
  const int eigen_before = Eigen::nbThreads();
  const int omp_before = omp_get_max_threads();
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(96, 80), b = Eigen::MatrixXf::Random(80, 72), c(96, 72);
  Eigen::MatrixXf at = a.transpose();
  for (const int n : {1, 2, 3}) {
    CAPTURE(n);
    Eigen::setNbThreads(n);
    omp_set_num_threads(5);
    const long calls = dnnl_calls.load();
    seq2seq::detail::gemm(seq2seq::detail::Op::N, a, seq2seq::detail::Op::N, b, c, false);  // dnnl_sgemm
    REQUIRE(dnnl_calls.load() == calls + 1);
    CHECK(dnnl_last_threads.load() == n);
    CHECK(omp_get_max_threads() == 5);
    CHECK(c.isApprox(a * b, 1e-5f));
    c.setZero();
    seq2seq::detail::gemm(seq2seq::detail::Op::T, at, seq2seq::detail::Op::N, b, c, false);  // the matmul
    REQUIRE(dnnl_calls.load() == calls + 2);
    CHECK(dnnl_last_threads.load() == n);
    CHECK(omp_get_max_threads() == 5);
    CHECK(c.isApprox(a * b, 1e-5f));
  }
  Eigen::setNbThreads(eigen_before);
  omp_set_num_threads(omp_before);
}
#endif

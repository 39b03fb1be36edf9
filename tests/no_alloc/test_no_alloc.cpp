// The steady state of a training step and of a decoding step makes no heap allocation.
//
// Built as its own executable: EIGEN_RUNTIME_NO_MALLOC changes Eigen's inline allocation functions,
// so it must hold for every translation unit of the program. Eigen's GEMM takes its packing
// buffers from malloc, not operator new, so two checks run around the steady state:
//   - Eigen::internal::set_is_malloc_allowed(false): any Eigen allocation aborts the test
//     (Eigen asserts; NDEBUG is undefined below so the assert stays on in Release);
//   - a count of global operator new calls (std::vector, std::string, ...) must not change.
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

namespace {
std::atomic<long> g_news{0};
}  // namespace

// GCC 12 pairs the replaced operator new with free() in its -Wmismatched-new-delete analysis;
// here both sides are the malloc family, as the standard allows for replacements.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Every replaceable form is replaced, so no allocation comes from the runtime's own operator new
// and is then freed here (std::get_temporary_buffer, used by std::stable_sort, takes the nothrow
// form; AddressSanitizer reports such a mix as an alloc-dealloc mismatch). The array forms default
// to these. Over-aligned forms are not used by the library (Eigen aligns by hand), but they count too.
namespace {
void* counted_malloc(std::size_t n) noexcept {
  g_news.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void* counted_aligned(std::size_t n, std::align_val_t a) noexcept {
  g_news.fetch_add(1, std::memory_order_relaxed);
  const std::size_t align = static_cast<std::size_t>(a);
  const std::size_t size = ((n == 0 ? 1 : n) + align - 1) / align * align;  // aligned_alloc wants a multiple
  return std::aligned_alloc(align, size);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return counted_aligned(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

using namespace seq2seq;

/// Runs `f` with Eigen's allocations forbidden and returns how many operator new calls it made.
template <typename F>
long allocations_during(F&& f) {
  const long before = g_news.load();
  Eigen::internal::set_is_malloc_allowed(false);
  f();
  Eigen::internal::set_is_malloc_allowed(true);
  return g_news.load() - before;
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
      const long before = g_news.load();
      auto h = model.translate(batch.source[0], opt, ws);
      CHECK(!h.empty());
      return g_news.load() - before;
    };
    // An untrained model rarely ends early, so both runs decode to their limit.
    const long short_run = count_for(10), long_run = count_for(30);
    CHECK(long_run == short_run);
  }
}

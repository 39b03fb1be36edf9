// The NaN/Inf guard of Trainer (include/seq2seq/train/trainer.hpp): a non-finite loss or gradient never
// reaches the weights or the optimizer state; under NonFinitePolicy::stop the step throws
// NonFiniteError naming the step; under ::skip it is counted and leaves no trace (training with a
// skipped batch equals training without it, bit for bit); the last good checkpoint is untouched.
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/seq2seq.hpp>
#include <seq2seq/train.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "test_files.hpp"

namespace {

using namespace seq2seq;
namespace fs = std::filesystem;
using seq2seq::test::TempDir;
using seq2seq::test::slurp;

template <typename Cell, int Layers>
using ModelOf = Seq2Seq<Encoder<StackedLSTM<Cell, Layers>>, Decoder<StackedLSTM<Cell, Layers>>>;
using FixedModel = ModelOf<LSTMCell<double, 4, 3>, 2>;
using DynamicModel = ModelOf<LSTMCell<float, Dynamic, Dynamic>, Dynamic>;

ModelConfig guard_config() {
  ModelConfig c;
  c.source_vocab = 10;
  c.target_vocab = 9;
  c.embed = 3;
  c.hidden = 4;
  c.layers = 2;
  return c;
}

template <typename Model>
Model make_model(std::uint64_t seed = 3) {
  Model m(guard_config());
  Rng rng(seed);
  init_uniform(m, rng, 0.3);
  return m;
}

/// Batches of 3 pairs whose lengths differ inside each batch on both sides, so both sides are
/// padded and every embedding's column 0 (<pad>) is used: a NaN at (0, 0) of any tensor matters.
std::vector<PairBatch> guard_batches(std::size_t batches = 6, std::uint64_t seed = 9) {
  Rng rng(seed);
  std::vector<PairBatch> out(batches);
  for (PairBatch& b : out)
    for (std::size_t i = 0; i < 3; ++i) {
      Sentence s(1 + i + 3 * rng.below(2)), t(1 + i + 3 * rng.below(2));
      for (auto& w : s) w = static_cast<TokenId>(4 + rng.below(6));
      for (auto& w : t) w = static_cast<TokenId>(4 + rng.below(5));
      b.source.push_back(s);
      b.target.push_back(t);
    }
  return out;
}

/// Every parameter value, then every optimizer state matrix, as raw bytes: a bit-exact fingerprint.
template <typename Model, typename Policy, typename Scalar>
std::string fingerprint(const Model& m, const Optimizer<Policy, Scalar>& opt) {
  std::string out;
  m.visit_parameters([&](const ParamName&, const auto& p) {
    out.append(reinterpret_cast<const char*>(p.value.data()), sizeof(Scalar) * static_cast<std::size_t>(p.value.size()));
  });
  if (opt.initialized())
    opt.visit_state([&](std::size_t, std::string_view, const Matrix<Scalar>& s) {
      out.append(reinterpret_cast<const char*>(s.data()), sizeof(Scalar) * static_cast<std::size_t>(s.size()));
    });
  out += "step=" + std::to_string(opt.step_count());
  return out;
}

template <typename Model>
std::vector<std::string> parameter_names(const Model& m) {
  std::vector<std::string> out;
  m.visit_parameters([&](const ParamName& n, const auto&) { out.push_back(n.str()); });
  return out;
}

template <typename Model>
void set_element(Model& m, const std::string& name, double v) {
  bool found = false;
  m.visit_parameters([&](const ParamName& n, auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    if (n.view() == name) {
      p.value(0, 0) = static_cast<S>(v);
      found = true;
    }
  });
  REQUIRE(found);
}

template <typename Model>
bool all_gradients_zero(const Model& m) {
  bool zero = true;
  m.visit_parameters([&](const ParamName&, const auto& p) { zero = zero && (p.grad.array() == 0).all(); });
  return zero;
}

/// A gradient hook that, on the calls listed, sets one gradient element or the loss to `value`.
struct PoisonHook {
  std::vector<int> on_calls;
  bool loss = false;  // poison the loss instead of a gradient
  double value = std::numeric_limits<double>::quiet_NaN();
  int calls = 0;
  template <typename Model, typename Stats>
  void operator()(Model& m, Stats& stats) {
    ++calls;
    bool hit = false;
    for (int c : on_calls) hit = hit || c == calls;
    if (!hit) return;
    if (loss) {
      stats.loss = value;
      return;
    }
    bool done = false;
    m.visit_parameters([&](const ParamName&, auto& p) {
      using S = typename std::decay_t<decltype(p.grad)>::Scalar;
      if (!done) p.grad(1, 0) = static_cast<S>(value);
      done = true;
    });
  }
};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE_TEMPLATE("guard, stop: a NaN in any weight throws NonFiniteError with the step; weights and optimizer bit-identical",
                   Model, FixedModel, DynamicModel) {
  using Scalar = typename Model::Scalar;
  const auto batches = guard_batches();
  const std::vector<std::string> names = parameter_names(make_model<Model>());
  REQUIRE(names.size() == 16);  // 2 embeddings, 2 x 2 layers x (W, U, b), softmax W and b
  int forward_failures = 0, loss_failures = 0;
  for (const std::string& name : names) {
    CAPTURE(name);
    Model m = make_model<Model>();
    Optimizer<Adam, Scalar> opt;
    Trainer<Model, Adam> trainer(m, opt);
    // Two good steps first, so the optimizer has a step count and non-zero moments to protect.
    for (int s = 0; s < 2; ++s) REQUIRE(trainer.step(batches[static_cast<std::size_t>(s)], 0.01).applied);
    set_element(m, name, kNaN);
    const std::string before = fingerprint(m, opt);
    std::string message;
    std::int64_t step = 0;
    try {
      trainer.step(batches[2], 0.01);
    } catch (const NonFiniteError& e) {
      message = e.what();
      step = e.step();
    }
    INFO("message: ", message);
    CHECK(step == 3);
    CHECK(message.find("seq2seq: training step 3: ") == 0);
    CHECK(message.find("the weights were not updated") != std::string::npos);
    forward_failures += message.find("in the forward pass") != std::string::npos;
    loss_failures += message.find("the loss is NaN") != std::string::npos;
    CHECK(fingerprint(m, opt) == before);
    CHECK(all_gradients_zero(m));
    CHECK(trainer.attempted() == 3);
    CHECK(trainer.skipped() == 0);
  }
  // Both ways a NaN shows up are exercised: inside the forward pass (a layer's input) and in the loss.
  CHECK(forward_failures > 0);
  CHECK(loss_failures > 0);
  MESSAGE("NaN weight tensors tried: ", names.size(), " (", forward_failures, " stopped in the forward pass, ",
          loss_failures, " by the loss)");
}

TEST_CASE_TEMPLATE("guard, stop: non-finite loss or gradient from the hook; the step number counts attempts", Model,
                   FixedModel, DynamicModel) {
  using Scalar = typename Model::Scalar;
  const auto batches = guard_batches();
  Model m = make_model<Model>();
  Optimizer<Momentum, Scalar> opt;
  Trainer<Model, Momentum> trainer(m, opt);
  PoisonHook hook;
  std::string expected;
  SUBCASE("NaN gradient") {
    hook.on_calls = {2};
    expected = "training step 2: the gradient norm is NaN";
  }
  SUBCASE("Inf gradient") {
    hook.on_calls = {2};
    hook.value = -kInf;
    expected = "training step 2: the gradient norm is Inf";
  }
  SUBCASE("Inf loss") {
    hook.on_calls = {2};
    hook.loss = true;
    hook.value = kInf;
    expected = "training step 2: the loss is Inf";
  }
  CHECK(trainer.step(batches[0], 0.1, hook).applied);
  const std::string before = fingerprint(m, opt);
  std::string message = "<no exception>";
  try {
    trainer.step(batches[1], 0.1, hook);
  } catch (const NonFiniteError& e) {
    message = e.what();
    CHECK(e.step() == 2);
  }
  INFO("message: ", message);
  CHECK(message.find(expected) != std::string::npos);
  CHECK(fingerprint(m, opt) == before);
  // The trainer is still usable: the next good step applies.
  CHECK(trainer.step(batches[2], 0.1, hook).applied);
  CHECK(fingerprint(m, opt) != before);
  CHECK(trainer.attempted() == 3);
}

TEST_CASE_TEMPLATE("guard, skip: skipped steps are counted and leave no trace; training continues", Model, FixedModel,
                   DynamicModel) {
  using Scalar = typename Model::Scalar;
  const auto batches = guard_batches(8);
  TrainOptions skip;
  skip.on_non_finite = NonFinitePolicy::skip;

  // Run A: all 8 batches, the hook poisons steps 3 and 6 (a NaN and an Inf gradient).
  Model a = make_model<Model>();
  Optimizer<Adam, Scalar> opt_a;
  Trainer<Model, Adam> trainer_a(a, opt_a, skip);
  PoisonHook hook_nan, hook_inf;
  hook_nan.on_calls = {3};
  hook_inf.on_calls = {6};
  hook_inf.value = kInf;
  for (std::size_t k = 0; k < batches.size(); ++k) {
    const auto r = trainer_a.step(batches[k], 0.01, [&](Model& m, LossStats& s) {
      hook_nan(m, s);
      hook_inf(m, s);
    });
    CHECK(r.applied == (k != 2 && k != 5));
    if (!r.applied) CHECK(!std::isfinite(r.grad_norm));
  }
  CHECK(trainer_a.attempted() == 8);
  CHECK(trainer_a.skipped() == 2);
  CHECK(opt_a.step_count() == 6);

  // Run B: the same without batches 3 and 6: bit-identical weights and optimizer state (Adam's bias
  // correction uses the step count, so a skipped step must not advance it).
  Model b = make_model<Model>();
  Optimizer<Adam, Scalar> opt_b;
  Trainer<Model, Adam> trainer_b(b, opt_b);
  for (std::size_t k = 0; k < batches.size(); ++k)
    if (k != 2 && k != 5) REQUIRE(trainer_b.step(batches[k], 0.01).applied);
  CHECK(fingerprint(a, opt_a) == fingerprint(b, opt_b));

  // A NaN weight under skip: every step is skipped (the weights cannot heal), none throws.
  set_element(a, "encoder.embedding.E", kNaN);
  const std::string before = fingerprint(a, opt_a);
  for (std::size_t k = 0; k < 3; ++k) CHECK_FALSE(trainer_a.step(batches[k], 0.01).applied);
  CHECK(trainer_a.skipped() == 5);
  CHECK(fingerprint(a, opt_a) == before);
}

TEST_CASE("guard: the hook still runs when the forward pass fails, and sees a NaN loss and no gradient") {
  // A hook that combines gradients across processes must be called on every process at every
  // step, or the others would wait for it forever; the NaN loss then reaches them all (what
  // backward had accumulated before the failure is dropped, so no garbage is exchanged).
  const auto batches = guard_batches();
  DynamicModel m = make_model<DynamicModel>();
  Optimizer<SGD, float> opt;
  TrainOptions skip;
  skip.on_non_finite = NonFinitePolicy::skip;
  Trainer<DynamicModel, SGD> trainer(m, opt, skip);
  set_element(m, "decoder.embedding.E", kNaN);
  int calls = 0;
  double seen_norm = 0, seen_loss = 0;
  const auto r = trainer.step(batches[0], 0.1, [&](DynamicModel& model, LossStats& s) {
    ++calls;
    seen_norm = gradient_norm(model);
    seen_loss = s.loss;
  });
  CHECK(calls == 1);
  CHECK(seen_norm == 0);
  CHECK(std::isnan(seen_loss));
  CHECK_FALSE(r.applied);
  CHECK(trainer.skipped() == 1);
  CHECK(all_gradients_zero(m));
}

TEST_CASE_TEMPLATE("guard: the last good checkpoint is untouched by a NaN step", Model, FixedModel, DynamicModel) {
  using Scalar = typename Model::Scalar;
  TempDir dir;
  const std::string path = dir.file("last_good.safetensors");
  const std::string state_path = dir.file("last_good.state.safetensors");
  const auto batches = guard_batches();
  Model m = make_model<Model>();
  Optimizer<Adam, Scalar> opt;

  // A training loop that saves after every applied step (what a checkpoint callback does).
  const auto save = [&](std::int64_t step) {
    io::save_parameters(path, m, {{"step", std::to_string(step)}});
    io::TrainingState st;
    st.step = step;
    io::save_training_state(state_path, opt, m, st);
  };
  SUBCASE("stop") {
    Trainer<Model, Adam> trainer(m, opt);
    for (std::size_t k = 0; k < 3; ++k) {
      REQUIRE(trainer.step(batches[k], 0.01).applied);
      save(trainer.attempted());
    }
    const std::string good = slurp(path), good_state = slurp(state_path);
    const auto good_time = fs::last_write_time(path);
    set_element(m, "decoder.layer1.W", kNaN);
    bool threw = false;
    try {
      trainer.step(batches[3], 0.01);
      save(trainer.attempted());
    } catch (const NonFiniteError&) {
      threw = true;
    }
    CHECK(threw);
    CHECK(slurp(path) == good);
    CHECK(slurp(state_path) == good_state);
    CHECK(fs::last_write_time(path) == good_time);
    // The checkpoint still loads: restoring it replaces the NaN weight with the last good value.
    Model restored = make_model<Model>(99);
    CHECK(io::load_parameters(path, restored).at("step") == "3");
    Optimizer<Adam, Scalar> restored_opt;
    CHECK(io::load_training_state(state_path, restored_opt, restored).step == 3);
    set_element(m, "decoder.layer1.W", static_cast<double>(restored.decoder().stack().upper(1).W().value(0, 0)));
    CHECK(fingerprint(m, opt) == fingerprint(restored, restored_opt));
  }
  SUBCASE("skip") {
    TrainOptions options;
    options.on_non_finite = NonFinitePolicy::skip;
    Trainer<Model, Adam> trainer(m, opt, options);
    PoisonHook hook;
    hook.on_calls = {3};
    for (std::size_t k = 0; k < 4; ++k) {
      const bool applied = trainer.step(batches[k], 0.01, hook).applied;
      CHECK(applied == (k != 2));
      if (k == 1) {
        save(2);
      } else if (k == 2) {
        // Saving after a skipped step writes the very same bytes: nothing moved.
        const std::string good = slurp(path);
        save(2);
        CHECK(slurp(path) == good);
      }
    }
  }
}

// Tests of include/seq2seq/train/loop.hpp: seq2seq::train runs every batch of every epoch once, in
// the order plan_batches draws; the schedule sees the fractional epoch; validation, early
// stopping, checkpoints, the time budget and stop requests happen when documented; and a run
// stopped anywhere and resumed from its TrainProgress (with the optimizer state) is bit-identical
// to one that never stopped.
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/seq2seq.hpp>
#include <seq2seq/train.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;

using Model = Seq2Seq<Encoder<StackedLSTM<LSTMCell<double, Dynamic, Dynamic>, Dynamic>>,
                      Decoder<StackedLSTM<LSTMCell<double, Dynamic, Dynamic>, Dynamic>>>;
using Result = StepResult<LossStats>;

ModelConfig loop_config() {
  ModelConfig c;
  c.source_vocab = 12;
  c.target_vocab = 11;
  c.embed = 3;
  c.hidden = 4;
  c.layers = 2;
  return c;
}

Model make_model() {
  Model m(loop_config());
  Rng rng(5);
  init_uniform(m, rng, 0.2);
  return m;
}

/// n pairs of 1-4 words; the first source word is the pair's index + 4 (mod the vocabulary), so
/// a batch can be traced back to its pairs.
PairBatch corpus(std::size_t n) {
  Rng rng(17);
  PairBatch d;
  for (std::size_t i = 0; i < n; ++i) {
    Sentence s(1 + rng.below(4)), t(1 + rng.below(4));
    for (auto& w : s) w = static_cast<TokenId>(4 + rng.below(8));
    for (auto& w : t) w = static_cast<TokenId>(4 + rng.below(7));
    d.source.push_back(s);
    d.target.push_back(t);
  }
  return d;
}

std::vector<double> values(const Model& m) {
  std::vector<double> out;
  m.visit_parameters([&](const ParamName&, const auto& p) {
    for (Index k = 0; k < p.value.size(); ++k) out.push_back(p.value.data()[k]);
  });
  return out;
}

}  // namespace

TEST_CASE("train: every pair once per epoch, in plan_batches' order; the schedule sees the fractional epoch") {
  const PairBatch data = corpus(23);
  LoopOptions options;
  options.epochs = 2;
  options.batch_size = 5;  // 5 batches per epoch, the last of 3 pairs
  options.seed = 99;
  // The expected plans: the same Rng, drawn epoch after epoch.
  Rng order(options.seed);
  std::vector<std::vector<std::vector<std::size_t>>> plans;
  for (int e = 0; e < 2; ++e) plans.push_back(plan_batches(data.source, data.target, options.batch_size, order));

  std::vector<PairBatch> seen;
  std::vector<double> lrs;
  const auto step = [&](const PairBatch& b, double lr) {
    seen.push_back(b);
    lrs.push_back(lr);
    Result r;
    r.applied = true;
    return r;
  };
  const auto schedule = [](double epoch) { return epoch; };  // lr = the epoch it was asked for
  TrainProgress at;
  LoopHooks<Result> hooks;
  std::vector<CheckpointEvent> checkpoints;
  int validations = 0;
  hooks.validate = [&](const TrainProgress&) { return 10.0 - ++validations; };
  hooks.checkpoint = [&](const TrainProgress&, const CheckpointEvent& e) { checkpoints.push_back(e); };
  CHECK(train(data, step, schedule, options, at, hooks) == StopReason::epochs);

  REQUIRE(seen.size() == 10);
  for (std::size_t e = 0; e < 2; ++e)
    for (std::size_t k = 0; k < 5; ++k) {
      const PairBatch& b = seen[e * 5 + k];
      REQUIRE(b.size() == plans[e][k].size());
      for (std::size_t j = 0; j < b.size(); ++j) {
        CHECK(b.source[j] == data.source[plans[e][k][j]]);
        CHECK(b.target[j] == data.target[plans[e][k][j]]);
      }
      CHECK(lrs[e * 5 + k] == doctest::Approx(static_cast<double>(e) + static_cast<double>(k) / 5.0));
    }
  CHECK(at.step == 10);
  CHECK(at.epoch == 2);
  CHECK(at.batch == 0);
  REQUIRE(checkpoints.size() == 2);
  CHECK(checkpoints[0].epoch_end);
  CHECK(checkpoints[0].validated);
  CHECK(checkpoints[1].best);  // the metric falls every time
  CHECK(at.best == doctest::Approx(8.0));
}

TEST_CASE("train: fractional epochs stop inside an epoch with a validation and a checkpoint") {
  const PairBatch data = corpus(20);
  LoopOptions options;
  options.epochs = 1.5;
  options.batch_size = 5;  // 4 batches per epoch: 6 steps in 1.5 epochs
  TrainProgress at;
  int steps = 0, validations = 0;
  std::vector<CheckpointEvent> events;
  LoopHooks<Result> hooks;
  hooks.validate = [&](const TrainProgress&) { return static_cast<double>(++validations); };
  hooks.checkpoint = [&](const TrainProgress&, const CheckpointEvent& e) { events.push_back(e); };
  const auto step = [&](const PairBatch&, double) {
    ++steps;
    Result r;
    r.applied = true;
    return r;
  };
  CHECK(train(data, step, ConstantLR{0.1}, options, at, hooks) == StopReason::epochs);
  CHECK(steps == 6);
  CHECK(at.epoch == 1);
  CHECK(at.batch == 2);
  REQUIRE(events.size() == 2);
  CHECK(events[1].epoch == doctest::Approx(1.5));
  CHECK_FALSE(events[1].epoch_end);
  CHECK(events[1].validated);
  CHECK_FALSE(events[1].best);  // 2 is worse than 1
  CHECK(at.stale == 1);
}

TEST_CASE("train: early stopping after `patience` validations without a better metric") {
  const PairBatch data = corpus(10);
  LoopOptions options;
  options.epochs = 20;
  options.batch_size = 5;
  options.patience = 2;
  const std::vector<double> metrics{5, 4, 4.5, 3.9, 4.0, 4.1, 1.0};  // best at 4, then two worse
  std::size_t v = 0;
  std::vector<bool> best;
  LoopHooks<Result> hooks;
  hooks.validate = [&](const TrainProgress&) { return metrics.at(v++); };
  hooks.checkpoint = [&](const TrainProgress&, const CheckpointEvent& e) { best.push_back(e.best); };
  TrainProgress at;
  const auto step = [](const PairBatch&, double) { return Result{{}, 0, true}; };
  CHECK(train(data, step, ConstantLR{0.1}, options, at, hooks) == StopReason::early_stopping);
  CHECK(v == 6);
  CHECK(at.epoch == 6);
  CHECK(at.best == doctest::Approx(3.9));
  CHECK(at.stale == 2);
  CHECK(best == std::vector<bool>{true, true, false, true, false, false});
}

TEST_CASE("train: a stop request ends the run before the next batch without validating; a time budget validates") {
  const PairBatch data = corpus(30);
  LoopOptions options;
  options.epochs = 3;
  options.batch_size = 5;
  int steps = 0, validations = 0, checkpoints = 0;
  const auto step = [&](const PairBatch&, double) {
    ++steps;
    return Result{{}, 0, true};
  };
  LoopHooks<Result> hooks;
  hooks.validate = [&](const TrainProgress&) { return static_cast<double>(++validations); };
  hooks.checkpoint = [&](const TrainProgress&, const CheckpointEvent&) { ++checkpoints; };

  SUBCASE("stop requested after 8 steps") {
    hooks.stop = [&](unsigned flags) { return steps == 8 ? flags | kStopRequested : flags; };
    TrainProgress at;
    CHECK(train(data, step, ConstantLR{0.1}, options, at, hooks) == StopReason::interrupted);
    CHECK(steps == 8);
    CHECK(at.epoch == 1);
    CHECK(at.batch == 2);
    CHECK(validations == 1);  // only the end of epoch 1
    CHECK(checkpoints == 2);  // epoch 1, and the stop
  }
  SUBCASE("a time budget that is used at once") {
    options.time_budget = 1e-12;
    TrainProgress at;
    CHECK(train(data, step, ConstantLR{0.1}, options, at, hooks) == StopReason::time_budget);
    CHECK(steps == 0);
    CHECK(validations == 0);  // nothing trained since the start
    CHECK(checkpoints == 1);
  }
  SUBCASE("the stop hook may report the clock (as the MPI glue does)") {
    hooks.stop = [&](unsigned flags) { return steps == 3 ? flags | kStopOutOfTime : flags; };
    TrainProgress at;
    CHECK(train(data, step, ConstantLR{0.1}, options, at, hooks) == StopReason::time_budget);
    CHECK(steps == 3);
    CHECK(validations == 1);  // stopping inside the epoch after training: validated
  }
}

TEST_CASE("train: stopped anywhere and resumed, a run is bit-identical to one that never stopped") {
  const PairBatch data = corpus(26);
  LoopOptions options;
  options.epochs = 3;
  options.batch_size = 4;
  options.seed = 7;
  TrainOptions topt;
  SUBCASE("no dropout") {}
  SUBCASE("dropout 0.3: the masks follow from the optimizer's step, nothing to save") {
    topt.dropout = 0.3;
    topt.dropout_seed = 21;
  }

  // Uninterrupted.
  Model a = make_model();
  Optimizer<Adam, double> opt_a;
  Trainer<Model, Adam> trainer_a(a, opt_a, topt);
  TrainProgress at_a;
  train(data, [&](const PairBatch& b, double lr) { return trainer_a.step(b, lr); }, ConstantLR{0.01}, options, at_a);

  for (int stop_after : {1, 7, 14}) {
    CAPTURE(stop_after);
    Model b = make_model();
    Optimizer<Adam, double> opt_b;
    Trainer<Model, Adam> trainer_b(b, opt_b, topt);
    TrainProgress at_b;
    int steps = 0;
    LoopHooks<Result> hooks;
    hooks.stop = [&](unsigned flags) { return steps == stop_after ? flags | kStopRequested : flags; };
    const auto step_b = [&](const PairBatch& batch, double lr) {
      ++steps;
      return trainer_b.step(batch, lr);
    };
    CHECK(train(data, step_b, ConstantLR{0.01}, options, at_b, hooks) == StopReason::interrupted);
    // "Save and load": the progress is plain data; a new optimizer and trainer continue with it.
    const TrainProgress saved = at_b;
    Optimizer<Adam, double> opt_c = opt_b;
    Trainer<Model, Adam> trainer_c(b, opt_c, topt);
    TrainProgress at_c = saved;
    CHECK(train(data, [&](const PairBatch& batch, double lr) { return trainer_c.step(batch, lr); }, ConstantLR{0.01},
                options, at_c) == StopReason::epochs);
    CHECK(at_c.step == at_a.step);
    CHECK(values(b) == values(a));
  }
}

TEST_CASE("train: epoch_pairs gives each epoch its pairs (subword sampling), asked again when a run resumes") {
  // Epoch e trains on corpus(9 + e): a different corpus per epoch, as a new segmentation is.
  std::vector<PairBatch> per_epoch;
  for (std::size_t e = 0; e < 3; ++e) per_epoch.push_back(corpus(9 + e));
  LoopOptions options;
  options.epochs = 3;
  options.batch_size = 4;
  options.seed = 3;
  Rng order(options.seed);
  std::vector<PairBatch> expected;  // every batch, in order, from plan_batches over each epoch's pairs
  for (std::size_t e = 0; e < 3; ++e)
    for (const auto& indices : plan_batches(per_epoch[e].source, per_epoch[e].target, options.batch_size, order)) {
      PairBatch b;
      for (std::size_t i : indices) b.source.push_back(per_epoch[e].source[i]), b.target.push_back(per_epoch[e].target[i]);
      expected.push_back(b);
    }
  REQUIRE(expected.size() == 3 + 3 + 3);

  std::vector<PairBatch> seen;
  std::vector<std::int64_t> asked;
  int steps = 0, stop_after = 0;
  LoopHooks<Result> hooks;
  hooks.epoch_pairs = [&](const TrainProgress& p) -> const PairBatch& {
    asked.push_back(p.epoch);
    return per_epoch.at(static_cast<std::size_t>(p.epoch));
  };
  hooks.stop = [&](unsigned flags) { return steps == stop_after ? flags | kStopRequested : flags; };
  const auto step = [&](const PairBatch& b, double) {
    ++steps;
    seen.push_back(b);
    return Result{{}, 0, true};
  };
  const PairBatch unused = corpus(2);  // `data` is not read when epoch_pairs is set
  TrainProgress at;
  SUBCASE("in one go") {
    stop_after = -1;
    CHECK(train(unused, step, ConstantLR{0.1}, options, at, hooks) == StopReason::epochs);
    CHECK(asked == std::vector<std::int64_t>{0, 1, 2});
  }
  SUBCASE("stopped inside epoch 1 and resumed") {
    stop_after = 5;
    CHECK(train(unused, step, ConstantLR{0.1}, options, at, hooks) == StopReason::interrupted);
    CHECK(at.epoch == 1);
    CHECK(at.batch == 2);
    stop_after = -1;
    CHECK(train(unused, step, ConstantLR{0.1}, options, at, hooks) == StopReason::epochs);
    CHECK(asked == std::vector<std::int64_t>{0, 1, 1, 2});
  }
  REQUIRE(seen.size() == expected.size());
  for (std::size_t k = 0; k < seen.size(); ++k) {
    CAPTURE(k);
    CHECK(seen[k].source == expected[k].source);
    CHECK(seen[k].target == expected[k].target);
  }
}

TEST_CASE("train: skipped steps do not count; a NonFiniteError leaves the loop") {
  const PairBatch data = corpus(10);
  LoopOptions options;
  options.epochs = 1;
  options.batch_size = 2;
  int calls = 0;
  TrainProgress at;
  const auto skip_odd = [&](const PairBatch&, double) { return Result{{}, 0, (calls++ % 2) == 0}; };
  train(data, skip_odd, ConstantLR{0.1}, options, at);
  CHECK(calls == 5);
  CHECK(at.step == 3);

  TrainProgress at2;
  const auto fail_third = [&](const PairBatch&, double) -> Result {
    if (++calls == 8) throw NonFiniteError(3, "boom");
    return Result{{}, 0, true};
  };
  CHECK_THROWS_AS(train(data, fail_third, ConstantLR{0.1}, options, at2), NonFiniteError);
  CHECK(at2.step == 2);
  CHECK(at2.batch == 2);  // the failed batch is the next one
}

TEST_CASE("train: a progress that points past the end of an epoch is refused") {
  const PairBatch data = corpus(10);
  LoopOptions options;
  options.batch_size = 5;
  TrainProgress at;
  at.batch = 3;  // only 2 batches per epoch
  const auto step = [](const PairBatch&, double) { return Result{{}, 0, true}; };
  CHECK_THROWS_AS(train(data, step, ConstantLR{0.1}, options, at), std::invalid_argument);
}

TEST_CASE("Trainer: dropout draws the masks of (seed, optimizer step + 1, first_sequence)") {
  const PairBatch data = corpus(6);
  Model a = make_model(), ref = make_model();
  Optimizer<SGD, double> opt;
  TrainOptions topt;
  topt.dropout = 0.4;
  topt.dropout_seed = 3;
  Trainer<Model, SGD> trainer(a, opt, topt);
  typename Model::Workspace ws;
  for (std::uint64_t step = 1; step <= 3; ++step) {
    CAPTURE(step);
    zero_grad(ref);
    const LossStats expected = ref.train_batch(data, ws, DropoutOptions{0.4, 3, step, 2});
    const auto r = trainer.step(data, 0.1, NoGradientHook(), /*first_sequence=*/2);
    CHECK(r.stats.loss == expected.loss);
    clip_global_norm(ref, topt.clip);
    Optimizer<SGD, double> ref_opt;
    ref_opt.step(ref, 0.1);  // SGD has no state: the same update as the trainer's
    CHECK(values(ref) == values(a));
  }
  // Without dropout the loss differs (the masks were really applied).
  Model c = make_model();
  zero_grad(c);
  CHECK(c.train_batch(data, ws).loss != make_model().train_batch(data, ws, DropoutOptions{0.4, 3, 1, 2}).loss);

  Optimizer<SGD, double> opt2;
  TrainOptions bad;
  bad.dropout = 1.0;
  CHECK_THROWS_AS((Trainer<Model, SGD>(a, opt2, bad)), std::invalid_argument);
}

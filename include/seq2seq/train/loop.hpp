// seq2seq: the training loop: epochs over length-bucketed batches, one guarded step per batch, a
// learning-rate schedule, validation with early stopping, checkpoints, a time budget, and the
// resume state of all of it in one struct.
#ifndef SEQ2SEQ_TRAIN_LOOP_HPP
#define SEQ2SEQ_TRAIN_LOOP_HPP

#include "../data/batcher.hpp"
#include "../data/types.hpp"
#include "../rng.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>

namespace seq2seq {

/// Everything a run needs to continue exactly where it stopped (save it with the optimizer state;
/// io::TrainingState has a field for each). A default-constructed one starts a new run.
struct TrainProgress {
  std::int64_t step = 0;      // optimizer steps applied
  std::int64_t epoch = 0;     // epochs completed
  std::uint64_t batch = 0;    // batches of the current epoch done
  std::string order_state;    // batch-order Rng at the start of the current epoch; "" = seeded fresh
  double best = std::numeric_limits<double>::infinity();  // best validation metric (lower is better)
  std::int64_t stale = 0;     // validations since `best` improved (early stopping)
};

/// Why `train` returned.
enum class StopReason { epochs, time_budget, early_stopping, interrupted };

inline const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::epochs: return "epochs";
    case StopReason::time_budget: return "time budget";
    case StopReason::early_stopping: return "early stopping";
    case StopReason::interrupted: return "interrupted";
  }
  return "?";
}

struct LoopOptions {
  double epochs = 1;              // may be fractional (the paper: 7.5)
  std::size_t batch_size = 32;    // pairs per batch (the paper: 128)
  std::size_t bucket_window = 0;  // plan_batches' length-sorting window (0: 100 batches; SIZE_MAX: the corpus)
  LengthKey length_key = LengthKey::source_then_target;  // what the window is sorted by
  std::uint64_t seed = 1;         // batch order
  double time_budget = 0;         // seconds of this call, validation included; 0 = none
  std::int64_t patience = 0;      // stop after this many validations without a better metric; 0 = never
};

/// What the loop tells its hooks after each step.
template <typename Result>
struct StepEvent {
  const Result& result;       // the step's StepResult (stats, grad norm, applied)
  const TrainProgress& at;    // after the step (at.batch not yet advanced past it)
  double epoch = 0;           // fractional epoch when the step began (the schedule's input)
  double epoch_after = 0;     // fractional epoch after it
  std::size_t batches = 0;    // batches in this epoch
  double lr = 0;
  double seconds = 0;         // since this call started
};

/// What the loop does at a checkpoint moment.
struct CheckpointEvent {
  double epoch = 0;           // fractional epochs done
  bool epoch_end = false;     // false: the run stops inside an epoch (`reason` says why)
  bool validated = false;     // validate ran just before
  bool best = false;          // ... and its metric is the best so far
  bool trained = true;        // steps were taken since the previous checkpoint of this call
  StopReason reason = StopReason::epochs;  // of a stop inside an epoch
};

/// The hooks; every one may be left empty.
///   stop(local)    polled before every batch with this process's own stop flags (bit 1: a stop was
///                  requested, bit 2: the time budget is used); returns the flags to act on. Under
///                  MPI it combines them over every process, so all stop before the same batch.
///   on_step(e)     after every step, applied or skipped (progress, logs).
///   validate(p)    at the end of every epoch and when the run stops early (not when interrupted);
///                  returns the metric to minimise (validation perplexity, or -BLEU), NaN for none.
///   checkpoint(p, e) after every validation moment, and when the run stops.
///   epoch_pairs(p) the pairs of the epoch p.epoch, asked before its batches are planned (again when
///                  a run resumes inside it); unset: `data` every epoch. Subword sampling draws a
///                  new segmentation per epoch here; it must give the same pairs for the same epoch.
template <typename Result>
struct LoopHooks {
  std::function<unsigned(unsigned)> stop;
  std::function<void(const StepEvent<Result>&)> on_step;
  std::function<double(const TrainProgress&)> validate;
  std::function<void(const TrainProgress&, const CheckpointEvent&)> checkpoint;
  std::function<const PairBatch&(const TrainProgress&)> epoch_pairs;
};
inline constexpr unsigned kStopRequested = 1, kStopOutOfTime = 2;

/// Trains on `data` (all pairs; the batches are index sets drawn from it) until `options.epochs`,
/// the time budget, early stopping or a stop request. `step(batch, lr)` is the guarded step:
/// Trainer::step, or mpi::DataParallel::step for several processes; `schedule(epoch)` the
/// learning rate. `at` is read (to resume) and updated (to be saved). A NonFiniteError from the
/// step propagates: the last checkpoint the hook wrote is untouched.
template <typename StepFn, typename Schedule, typename Result = std::invoke_result_t<StepFn&, const PairBatch&, double>>
StopReason train(const PairBatch& data, StepFn&& step, Schedule&& schedule, const LoopOptions& options,
                 TrainProgress& at, const LoopHooks<Result>& hooks = {}) {
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  Rng order(options.seed);
  if (!at.order_state.empty()) set_rng_state(order, at.order_state);
  PairBatch batch;

  // Validation (early stopping) and the checkpoint of one moment of the run.
  const auto checkpoint = [&](double epoch, bool epoch_end, bool validate, bool trained, StopReason why) {
    CheckpointEvent e{epoch, epoch_end, false, false, trained, why};
    if (validate && hooks.validate) {
      const double metric = hooks.validate(at);
      e.validated = !std::isnan(metric);
      e.best = e.validated && metric < at.best;
      if (e.best) at.best = metric, at.stale = 0;
      else if (e.validated) ++at.stale;
    }
    if (hooks.checkpoint) hooks.checkpoint(at, e);
  };
  // Stopping inside an epoch validates too, unless interrupted or nothing was trained since the
  // last validation (`first`: the batch this call began the epoch at).
  const auto stop_mid_epoch = [&](StopReason why, std::size_t batches, std::uint64_t first) {
    const double epoch = static_cast<double>(at.epoch) + static_cast<double>(at.batch) / static_cast<double>(batches);
    const bool trained = at.batch > first;
    checkpoint(epoch, false, why != StopReason::interrupted && trained, trained, why);
    return why;
  };

  while (static_cast<double>(at.epoch) < options.epochs) {
    at.order_state = rng_state(order);  // this epoch's plan can be drawn again on resume
    const PairBatch& pairs = hooks.epoch_pairs ? hooks.epoch_pairs(at) : data;
    const auto plan =
        plan_batches(pairs.source, pairs.target, options.batch_size, order, options.bucket_window, options.length_key);
    detail::require(at.batch <= plan.size(), "train: the progress points past the end of an epoch (another corpus?)");
    const std::uint64_t first = at.batch;
    for (; at.batch < plan.size(); ++at.batch) {
      const double epoch = static_cast<double>(at.epoch) + static_cast<double>(at.batch) / static_cast<double>(plan.size());
      if (epoch >= options.epochs) return stop_mid_epoch(StopReason::epochs, plan.size(), first);
      unsigned flags = options.time_budget > 0 && seconds() >= options.time_budget ? kStopOutOfTime : 0u;
      if (hooks.stop) flags = hooks.stop(flags);
      if (flags & kStopRequested) return stop_mid_epoch(StopReason::interrupted, plan.size(), first);
      if (flags & kStopOutOfTime) return stop_mid_epoch(StopReason::time_budget, plan.size(), first);

      batch.source.clear();
      batch.target.clear();
      for (std::size_t i : plan[at.batch]) {
        batch.source.push_back(pairs.source[i]);
        batch.target.push_back(pairs.target[i]);
      }
      const double lr = schedule(epoch);
      const Result r = step(static_cast<const PairBatch&>(batch), lr);
      if (r.applied) ++at.step;
      if (hooks.on_step) {
        const double after = static_cast<double>(at.epoch) + static_cast<double>(at.batch + 1) / static_cast<double>(plan.size());
        hooks.on_step(StepEvent<Result>{r, at, epoch, after, plan.size(), lr, seconds()});
      }
    }
    ++at.epoch;
    at.batch = 0;
    at.order_state = rng_state(order);
    checkpoint(static_cast<double>(at.epoch), true, true, true, StopReason::epochs);
    if (options.patience > 0 && at.stale >= options.patience) return StopReason::early_stopping;
  }
  return StopReason::epochs;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_TRAIN_LOOP_HPP

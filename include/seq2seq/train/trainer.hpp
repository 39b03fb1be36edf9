// seq2seq: the guarded training step (forward, backward, gradient hook, NaN/Inf guard, clipping,
// update), the one place that decides what a non-finite step does.
#ifndef SEQ2SEQ_TRAIN_TRAINER_HPP
#define SEQ2SEQ_TRAIN_TRAINER_HPP

#include "../data/types.hpp"
#include "../dropout.hpp"
#include "../optim/clip.hpp"
#include "../optim/optimizer.hpp"
#include "../param.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace seq2seq {

/// What a non-finite loss or gradient does to a step. Either way it never reaches the weights.
enum class NonFinitePolicy {
  stop,  // throw NonFiniteError (the default: something is wrong, say so)
  skip,  // drop the batch, count it, go on (up to TrainOptions::max_skips_in_a_row)
};

/// Thrown by Trainer::step under NonFinitePolicy::stop, and under skip once
/// TrainOptions::max_skips_in_a_row steps in a row were non-finite.
class NonFiniteError : public std::runtime_error {
 public:
  NonFiniteError(std::int64_t step, const std::string& what) : std::runtime_error(what), step_(step) {}
  /// 1-based index of the step that failed (steps attempted so far, including this one).
  std::int64_t step() const { return step_; }

 private:
  std::int64_t step_;
};

struct TrainOptions {
  double clip = 5.0;  // global-norm clipping threshold (the paper: 5); <= 0 turns clipping off
  NonFinitePolicy on_non_finite = NonFinitePolicy::stop;
  /// Under skip: this many non-finite steps in a row throw NonFiniteError (weights that hold NaN
  /// cannot heal, so skipping forever would only hide it); 0 = never.
  std::int64_t max_skips_in_a_row = 0;
  /// Dropout on the model's non-recurrent connections (dropout.hpp; the model needs a
  /// train_batch(batch, ws, DropoutOptions) overload). The masks of a step follow from
  /// (dropout_seed, the optimizer's step number, the pairs' places in the batch), so a resumed run
  /// draws the same masks as one that never stopped. 0 = off.
  double dropout = 0;
  std::uint64_t dropout_seed = 0;
};

/// The outcome of one step.
template <typename Stats>
struct StepResult {
  Stats stats;             // the model's loss statistics of the batch
  double grad_norm = 0;    // global gradient norm before clipping
  bool applied = false;    // false when the step was skipped (non-finite loss or gradient)
};

/// A gradient hook runs between backward and the NaN check: it may change the gradients and the
/// statistics (e.g. average them across processes, mpi::DataParallel). The default does nothing.
struct NoGradientHook {
  template <typename Model, typename Stats>
  void operator()(Model&, Stats&) const {}
};

namespace detail {
template <typename Model, typename = void>
struct has_dropout_overload : std::false_type {};
template <typename Model>
struct has_dropout_overload<Model, std::void_t<decltype(std::declval<Model&>().train_batch(
                                       std::declval<const PairBatch&>(), std::declval<typename Model::Workspace&>(),
                                       std::declval<const DropoutOptions&>()))>> : std::true_type {};
}  // namespace detail

/// One optimizer step per batch: zero_grad, model.train_batch, hook, NaN/Inf guard, global-norm
/// clipping (clip_global_norm), optimizer update. The model and optimizer are borrowed; the
/// workspace is the trainer's, reused so steps of equal-shaped batches allocate nothing beyond
/// what the model does.
///
/// Non-finite values, wherever they appear, end in one decision here: a NaN or Inf that reaches a
/// layer's input inside the model (non-finite weights, an overflow) stops the forward pass with
/// NonFiniteInputError, which this step turns into a NaN loss with zero gradients; a NaN loss or
/// gradient norm after the hook makes the step non-finite. The hook runs in every case, so a hook
/// that combines processes sees every step (and passes a NaN loss on to all of them).
template <typename Model, typename Policy>
class Trainer {
 public:
  using Scalar = typename Model::Scalar;
  using OptimizerType = Optimizer<Policy, Scalar>;
  using Stats = decltype(std::declval<Model&>().train_batch(std::declval<const PairBatch&>(),
                                                            std::declval<typename Model::Workspace&>()));

  Trainer(Model& model, OptimizerType& optimizer, TrainOptions options = TrainOptions())
      : model_(model), optimizer_(optimizer), options_(options) {
    check_dropout(DropoutOptions{options_.dropout, 0, 0, 0});
    if constexpr (!detail::has_dropout_overload<Model>::value)
      detail::require(options_.dropout == 0, "Trainer: this model type has no dropout (train_batch with DropoutOptions)");
  }

  Model& model() { return model_; }
  OptimizerType& optimizer() { return optimizer_; }
  const TrainOptions& options() const { return options_; }
  typename Model::Workspace& workspace() { return ws_; }

  /// Steps attempted and steps skipped so far.
  std::int64_t attempted() const { return attempted_; }
  std::int64_t skipped() const { return skipped_; }

  /// `first_sequence`: the index of the batch's first pair in the global batch (a data-parallel
  /// shard's offset), so that dropout draws the masks one process training everything would.
  template <typename Hook = NoGradientHook>
  StepResult<Stats> step(const PairBatch& batch, double lr, Hook&& hook = Hook(), Index first_sequence = 0) {
    ++attempted_;
    zero_grad(model_);
    StepResult<Stats> r;
    std::string forward_error;
    try {
      r.stats = train_batch(batch, first_sequence);
    } catch (const NonFiniteInputError& e) {
      forward_error = e.what();
      r.stats = Stats{};
      r.stats.loss = std::numeric_limits<double>::quiet_NaN();
      zero_grad(model_);  // what backward had accumulated before the failure is meaningless
    }
    hook(model_, r.stats);
    const bool loss_ok = std::isfinite(r.stats.loss);
    // The norm before clipping; clip_global_norm leaves a non-finite gradient unscaled.
    r.grad_norm = options_.clip > 0 ? clip_global_norm(model_, options_.clip) : gradient_norm(model_);
    if (loss_ok && std::isfinite(r.grad_norm)) {
      optimizer_.step(model_, lr);
      r.applied = true;
      skipped_in_a_row_ = 0;
      return r;
    }
    const std::string prefix = "seq2seq: ";
    if (forward_error.compare(0, prefix.size(), prefix) == 0) forward_error.erase(0, prefix.size());
    const std::string what = "seq2seq: training step " + std::to_string(attempted_) + ": " +
                             (!forward_error.empty() ? "a NaN or Inf value in the forward pass (" + forward_error + ")"
                              : !loss_ok          ? "the loss is " + describe(r.stats.loss)
                                                  : "the gradient norm is " + describe(r.grad_norm)) +
                             "; the weights were not updated";
    zero_grad(model_);
    if (options_.on_non_finite == NonFinitePolicy::stop) throw NonFiniteError(attempted_, what);
    ++skipped_;
    if (options_.max_skips_in_a_row > 0 && ++skipped_in_a_row_ >= options_.max_skips_in_a_row)
      throw NonFiniteError(attempted_, what + " (" + std::to_string(skipped_in_a_row_) +
                                           " non-finite steps in a row: the learning rate may be too high)");
    return r;
  }

 private:
  Stats train_batch(const PairBatch& batch, Index first_sequence) {
    if constexpr (detail::has_dropout_overload<Model>::value) {
      if (options_.dropout > 0) {
        const DropoutOptions d{options_.dropout, options_.dropout_seed,
                               static_cast<std::uint64_t>(optimizer_.step_count() + 1), first_sequence};
        return model_.train_batch(batch, ws_, d);
      }
    }
    (void)first_sequence;
    return model_.train_batch(batch, ws_);
  }

  /// "NaN", "Inf", "-Inf" or the number (std::to_string would print "-nan" for some NaNs).
  static std::string describe(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
    return std::to_string(v);
  }

  Model& model_;
  OptimizerType& optimizer_;
  TrainOptions options_;
  typename Model::Workspace ws_;
  std::int64_t attempted_ = 0;
  std::int64_t skipped_ = 0;
  std::int64_t skipped_in_a_row_ = 0;
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_TRAIN_TRAINER_HPP

// seq2seq: one guarded training step (forward, backward, NaN guard, clipping, update) and a loop
// over batches with callbacks, for any model with `train_batch` and `visit_parameters`.
#ifndef SEQ2SEQ_TRAIN_HPP
#define SEQ2SEQ_TRAIN_HPP

#include "data/types.hpp"
#include "optim/clip.hpp"
#include "optim/optimizer.hpp"
#include "param.hpp"

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace seq2seq {

/// What a non-finite loss or gradient does to a step. Either way it never reaches the weights.
enum class NonFinitePolicy {
  stop,  // throw NonFiniteError (the default: something is wrong, say so)
  skip,  // drop the batch, count it, go on
};

/// Thrown by Trainer::step under NonFinitePolicy::stop.
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
};

/// The outcome of one step.
template <typename Stats>
struct StepResult {
  Stats stats;             // the model's loss statistics of the batch
  double grad_norm = 0;    // global gradient norm before clipping
  bool applied = false;    // false when the step was skipped (non-finite loss or gradient)
};

/// A gradient hook runs between backward and the NaN check: it may change the gradients (e.g.
/// average them across processes). The default does nothing.
struct NoGradientHook {
  template <typename Model, typename Stats>
  void operator()(Model&, Stats&) const {}
};

/// One optimizer step per batch: zero_grad, model.train_batch, hook, NaN/Inf guard, global-norm
/// clipping, optimizer update. The model, optimizer and workspace are borrowed; the workspace
/// is reused so steps of equal-shaped batches allocate nothing beyond what the model does.
template <typename Model, typename Policy>
class Trainer {
 public:
  using Scalar = typename Model::Scalar;
  using OptimizerType = Optimizer<Policy, Scalar>;
  using Stats = decltype(std::declval<Model&>().train_batch(std::declval<const PairBatch&>(),
                                                            std::declval<typename Model::Workspace&>()));

  Trainer(Model& model, OptimizerType& optimizer, TrainOptions options = TrainOptions())
      : model_(model), optimizer_(optimizer), options_(options) {}

  Model& model() { return model_; }
  OptimizerType& optimizer() { return optimizer_; }
  const TrainOptions& options() const { return options_; }
  typename Model::Workspace& workspace() { return ws_; }

  /// Steps attempted and steps skipped so far.
  std::int64_t attempted() const { return attempted_; }
  std::int64_t skipped() const { return skipped_; }

  template <typename Hook = NoGradientHook>
  StepResult<Stats> step(const PairBatch& batch, double lr, Hook&& hook = Hook()) {
    ++attempted_;
    zero_grad(model_);
    StepResult<Stats> r;
    // A NaN or Inf that reaches a layer's input inside the model (non-finite weights, an overflow)
    // stops the forward pass with NonFiniteInputError. That is a non-finite step like a NaN loss:
    // the loss becomes NaN and one gradient element NaN, so a hook that combines gradients across
    // processes still runs and passes the failure on to every process.
    std::string forward_error;
    try {
      r.stats = model_.train_batch(batch, ws_);
    } catch (const NonFiniteInputError& e) {
      forward_error = e.what();
      r.stats = Stats{};
      r.stats.loss = std::numeric_limits<double>::quiet_NaN();
      poison_gradient();
    }
    hook(model_, r.stats);
    const bool loss_ok = std::isfinite(r.stats.loss);
    r.grad_norm = gradient_norm(model_);
    const bool grad_ok = std::isfinite(r.grad_norm);
    if (!loss_ok || !grad_ok) {
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
      return r;
    }
    if (options_.clip > 0 && r.grad_norm > options_.clip) {
      const double scale = options_.clip / r.grad_norm;
      model_.visit_parameters([&](const ParamName&, auto& p) {
        using S = typename std::decay_t<decltype(p.grad)>::Scalar;
        p.grad *= static_cast<S>(scale);
      });
    }
    optimizer_.step(model_, lr);
    r.applied = true;
    return r;
  }

 private:
  /// "NaN", "Inf", "-Inf" or the number (std::to_string would print "-nan" for some NaNs).
  static std::string describe(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
    return std::to_string(v);
  }

  /// Sets the first gradient element to NaN (see step).
  void poison_gradient() {
    bool done = false;
    model_.visit_parameters([&](const ParamName&, auto& p) {
      using S = typename std::decay_t<decltype(p.grad)>::Scalar;
      if (!done && p.grad.size() > 0) {
        p.grad(0, 0) = std::numeric_limits<S>::quiet_NaN();
        done = true;
      }
    });
  }

  Model& model_;
  OptimizerType& optimizer_;
  TrainOptions options_;
  typename Model::Workspace ws_;
  std::int64_t attempted_ = 0;
  std::int64_t skipped_ = 0;
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_TRAIN_HPP

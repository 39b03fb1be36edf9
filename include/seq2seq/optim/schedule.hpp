// seq2seq: learning-rate schedules, each a callable double(double epoch).
#ifndef SEQ2SEQ_OPTIM_SCHEDULE_HPP
#define SEQ2SEQ_OPTIM_SCHEDULE_HPP

#include "../config.hpp"

#include <algorithm>
#include <cmath>
#include <string>

// Every schedule maps `epoch`, the fractional number of epochs completed so far (batches done /
// batches per epoch), to a learning rate, through `rate(epoch)` and `operator()(epoch)`. Any
// callable double(double) works where a schedule is expected (e.g. std::function<double(double)>).
// The epoch must be finite; negative epochs count as 0. Nothing allocates unless it throws.

namespace seq2seq {

namespace detail {
inline double checked_epoch(double epoch, const char* who) {
  if (!std::isfinite(epoch)) require(false, std::string(who) + ": epoch must be finite, got " + std::to_string(epoch));
  return std::max(epoch, 0.0);
}
}  // namespace detail

/// lr for every epoch.
struct ConstantLR {
  double lr = 0.7;

  double rate(double epoch) const {
    detail::checked_epoch(epoch, "ConstantLR");
    return lr;
  }
  double operator()(double epoch) const { return rate(epoch); }
};

/// Sutskever et al. (2014): lr0 = 0.7 for the first 5 epochs, then halved every half epoch.
/// Our reading of the paper's "after 5 epochs" (ambiguous whether the first halving is at 5.0 or
/// 5.5): the first halving happens AT epoch 5.0, i.e. as soon as 5 full epochs are done:
///   rate(e) = lr0                                   for e < 5.0
///   rate(e) = lr0 * 2^-(1 + floor((e - 5.0) / 0.5)) for e >= 5.0
/// so 0.7 until 5.0, 0.35 on [5.0, 5.5), 0.175 on [5.5, 6.0), ..., 0.021875 on [7.0, 7.5).
struct PaperSchedule {
  double lr0 = 0.7;
  double decay_start_epoch = 5.0;
  double halve_every_epochs = 0.5;

  double rate(double epoch) const {
    const double e = detail::checked_epoch(epoch, "PaperSchedule");
    if (!(halve_every_epochs > 0)) detail::require(false, "PaperSchedule: halve_every_epochs must be > 0");
    if (e < decay_start_epoch) return lr0;
    // Halvings so far; capped so the exponent stays an int (2^-2000 is already 0 in double).
    const double halvings = std::min(1.0 + std::floor((e - decay_start_epoch) / halve_every_epochs), 2000.0);
    return std::ldexp(lr0, -static_cast<int>(halvings));
  }
  double operator()(double epoch) const { return rate(epoch); }
};

/// lr0 * gamma^floor(epoch / step_epochs): multiply by gamma every step_epochs epochs.
struct StepDecay {
  double lr0 = 0.1;
  double gamma = 0.5;
  double step_epochs = 1.0;

  double rate(double epoch) const {
    const double e = detail::checked_epoch(epoch, "StepDecay");
    if (!(step_epochs > 0)) detail::require(false, "StepDecay: step_epochs must be > 0");
    return lr0 * std::pow(gamma, std::floor(e / step_epochs));
  }
  double operator()(double epoch) const { return rate(epoch); }
};

/// Linear warm-up from 0 to lr0 over warmup_epochs, then lr0 * sqrt(warmup_epochs / epoch)
/// (the Transformer's inverse-square-root decay, measured in epochs). warmup_epochs = 0 gives
/// lr0 until epoch 1, then lr0 / sqrt(epoch).
struct InverseSqrt {
  double lr0 = 1e-3;
  double warmup_epochs = 0.1;

  double rate(double epoch) const {
    const double e = detail::checked_epoch(epoch, "InverseSqrt");
    if (!(warmup_epochs >= 0)) detail::require(false, "InverseSqrt: warmup_epochs must be >= 0");
    if (warmup_epochs > 0 && e < warmup_epochs) return lr0 * e / warmup_epochs;
    const double knee = warmup_epochs > 0 ? warmup_epochs : 1.0;
    return e <= knee ? lr0 : lr0 * std::sqrt(knee / e);
  }
  double operator()(double epoch) const { return rate(epoch); }
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_OPTIM_SCHEDULE_HPP

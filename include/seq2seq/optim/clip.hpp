// seq2seq: gradient clipping by the global L2 norm over every parameter.
#ifndef SEQ2SEQ_OPTIM_CLIP_HPP
#define SEQ2SEQ_OPTIM_CLIP_HPP

#include "../config.hpp"
#include "../param.hpp"

#include <cmath>
#include <string>
#include <type_traits>

namespace seq2seq {

/// The paper's clipping: s = ||g||_2 over every gradient of the model (one global norm, not one per
/// tensor); when s > max_norm, every gradient is scaled by max_norm / s (the paper: max_norm = 5).
/// Returns s, the norm before clipping. A non-finite s (NaN/Inf in a gradient) is returned without
/// scaling anything, so the caller's NaN guard can skip the step. Throws unless max_norm is finite
/// and > 0.
template <typename Model>
double clip_global_norm(Model& model, double max_norm) {
  if (!(std::isfinite(max_norm) && max_norm > 0))
    detail::require(false, "clip_global_norm: max_norm must be finite and > 0, got " + std::to_string(max_norm));
  const double norm = gradient_norm(model);
  if (!std::isfinite(norm) || norm <= max_norm) return norm;
  const double scale = max_norm / norm;
  model.visit_parameters([&](const ParamName&, auto& p) {
    using S = typename std::decay_t<decltype(p.grad)>::Scalar;
    p.grad *= static_cast<S>(scale);
  });
  return norm;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_OPTIM_CLIP_HPP

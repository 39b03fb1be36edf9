// seq2seq: central-difference gradient checks, public so users can check their own layers.
#ifndef SEQ2SEQ_TESTING_GRADCHECK_HPP
#define SEQ2SEQ_TESTING_GRADCHECK_HPP

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "../param.hpp"

namespace seq2seq::testing {

/// The comparison of one tensor's analytic gradient with central differences.
/// error = ||analytic - numeric|| / max(||analytic|| + ||numeric||, 1e-12).
struct TensorCheck {
  std::string name;
  double error = 0;
  Index worst = -1;  // linear (column-major) index of the element with the largest |difference|
  double analytic_at_worst = 0;
  double numeric_at_worst = 0;
};

struct GradCheckReport {
  std::vector<TensorCheck> tensors;

  double max_error() const {
    double m = 0;
    for (const auto& t : tensors) m = std::max(m, t.error);
    return m;
  }
  /// One line per tensor: name, relative error, worst element.
  std::string to_string() const {
    std::ostringstream os;
    for (const auto& t : tensors)
      os << t.name << ": rel error " << t.error << " (worst element " << t.worst << ": analytic " << t.analytic_at_worst
         << ", numeric " << t.numeric_at_worst << ")\n";
    return os.str();
  }
};

/// Checks `analytic` (same shape as `value`) against (loss(value + eps) - loss(value - eps)) / 2eps,
/// perturbing every element of `value` in place and restoring it. `loss` recomputes the loss from
/// scratch with the current values. Use double precision.
template <typename Derived, typename LossFn>
TensorCheck check_tensor(std::string name, Eigen::MatrixBase<Derived>& value,
                         const Eigen::Ref<const Matrix<typename Derived::Scalar>>& analytic, LossFn&& loss,
                         double eps = 1e-6) {
  using S = typename Derived::Scalar;
  detail::require(analytic.rows() == value.rows() && analytic.cols() == value.cols(),
                  "check_tensor(" + name + "): analytic gradient shape differs from the tensor's");
  TensorCheck out;
  out.name = std::move(name);
  double diff2 = 0, a2 = 0, n2 = 0, worst_diff = -1;
  for (Index j = 0; j < value.cols(); ++j) {
    for (Index i = 0; i < value.rows(); ++i) {
      const S saved = value(i, j);
      value(i, j) = static_cast<S>(saved + eps);
      const double up = static_cast<double>(loss());
      value(i, j) = static_cast<S>(saved - eps);
      const double down = static_cast<double>(loss());
      value(i, j) = saved;
      const double numeric = (up - down) / (2 * eps);
      const double a = static_cast<double>(analytic(i, j));
      const double d = a - numeric;
      diff2 += d * d;
      a2 += a * a;
      n2 += numeric * numeric;
      if (std::abs(d) > worst_diff) {
        worst_diff = std::abs(d);
        out.worst = j * value.rows() + i;
        out.analytic_at_worst = a;
        out.numeric_at_worst = numeric;
      }
    }
  }
  out.error = std::sqrt(diff2) / std::max(std::sqrt(a2) + std::sqrt(n2), 1e-12);
  return out;
}

/// Checks every parameter reached by `model.visit_parameters` against its `grad`, which the caller
/// has filled by zero_grad + forward + backward on the same loss.
template <typename Model, typename LossFn>
GradCheckReport check_parameters(Model& model, LossFn&& loss, double eps = 1e-6) {
  GradCheckReport report;
  model.visit_parameters([&](const ParamName& name, auto& p) {
    report.tensors.push_back(check_tensor(name.str(), p.value, p.grad, loss, eps));
  });
  return report;
}

/// A fixed random weighting R (rows x cols, uniform in [-1, 1]): loss = sum(R .* output) gives
/// every output element a distinct upstream gradient.
inline Matrix<double> random_weights(Index rows, Index cols, Rng& rng) {
  Matrix<double> r(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) r(i, j) = rng.uniform(-1.0, 1.0);
  return r;
}

}  // namespace seq2seq::testing

#endif  // SEQ2SEQ_TESTING_GRADCHECK_HPP

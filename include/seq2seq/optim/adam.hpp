// seq2seq: Adam (Kingma & Ba, 2015) with bias correction from the driver's global step.
#ifndef SEQ2SEQ_OPTIM_ADAM_HPP
#define SEQ2SEQ_OPTIM_ADAM_HPP

#include "../config.hpp"
#include "../detail/parallel.hpp"
#include "../param.hpp"

#include <cmath>
#include <cstdint>

namespace seq2seq {

/// Optimizer policy (contract: optim/optimizer.hpp). Kingma & Ba (2015), Algorithm 1, in PyTorch's
/// arithmetic order; t is the driver's 1-based step, shared by every parameter (one optimizer step
/// advances t once, not once per tensor):
///   m     <- beta1 * m + (1 - beta1) * grad
///   v     <- beta2 * v + (1 - beta2) * grad^2
///   value <- value - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// m and v (same shape as the parameter) start at zero.
struct Adam {
  static constexpr const char* name = "adam";

  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;

  template <typename Scalar>
  struct State {
    Matrix<Scalar> m;  // first moment
    Matrix<Scalar> v;  // second moment

    template <typename F>
    void visit(F&& f) {
      f("m", m);
      f("v", v);
    }
    template <typename F>
    void visit(F&& f) const {
      f("m", m);
      f("v", v);
    }
  };

  template <typename Scalar>
  void init_state(State<Scalar>& s, const Param<Scalar>& p) const {
    detail::require(beta1 >= 0.0 && beta1 < 1.0, "Adam: beta1 must be in [0, 1), got " + std::to_string(beta1));
    detail::require(beta2 >= 0.0 && beta2 < 1.0, "Adam: beta2 must be in [0, 1), got " + std::to_string(beta2));
    detail::require(eps >= 0.0, "Adam: eps must be >= 0, got " + std::to_string(eps));
    s.m.setZero(p.value.rows(), p.value.cols());
    s.v.setZero(p.value.rows(), p.value.cols());
  }

  template <typename Scalar>
  void update(Matrix<Scalar>& value, const Matrix<Scalar>& grad, State<Scalar>& s, std::int64_t step,
              double lr) const {
    const double t = static_cast<double>(step);
    const double bias1 = 1.0 - std::pow(beta1, t);
    const double bias2 = 1.0 - std::pow(beta2, t);
    const Scalar b1 = static_cast<Scalar>(beta1), b2 = static_cast<Scalar>(beta2);
    const Scalar step_size = static_cast<Scalar>(lr / bias1);
    const Scalar inv_sqrt_bias2 = static_cast<Scalar>(1.0 / std::sqrt(bias2));
    const Scalar e = static_cast<Scalar>(eps);
    // Split over the library's threads (pieces start at multiples of 64 elements, so every split
    // computes the same numbers).
    detail::parallel_ranges(value.size(), Eigen::Index(1) << 15, [&](Eigen::Index begin, Eigen::Index end) {
      using Seg = Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>;
      using ConstSeg = Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>>;
      const Eigen::Index n = end - begin;
      Seg val(value.data() + begin, n), m(s.m.data() + begin, n), v(s.v.data() + begin, n);
      const ConstSeg g(grad.data() + begin, n);
      m = b1 * m + (Scalar(1) - b1) * g;
      v = b2 * v + (Scalar(1) - b2) * g.square();
      val -= step_size * m / (v.sqrt() * inv_sqrt_bias2 + e);
    });
  }
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_OPTIM_ADAM_HPP

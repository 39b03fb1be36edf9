// seq2seq: SGD with (optionally Nesterov) momentum.
#ifndef SEQ2SEQ_OPTIM_MOMENTUM_HPP
#define SEQ2SEQ_OPTIM_MOMENTUM_HPP

#include "../config.hpp"
#include "../param.hpp"

#include <cstdint>

namespace seq2seq {

/// Optimizer policy (contract: optim/optimizer.hpp). PyTorch's formulation (no dampening):
///   v     <- mu * v + grad                       (v: the "velocity", same shape as the parameter)
///   value <- value - lr * v                      (classical momentum)
///   value <- value - lr * (grad + mu * v)        (nesterov = true, with the updated v)
/// v starts at zero. With a constant lr this equals Sutskever et al. (2013)'s v <- mu v - lr g form.
struct Momentum {
  static constexpr const char* name = "momentum";

  double mu = 0.9;
  bool nesterov = false;

  template <typename Scalar>
  struct State {
    Matrix<Scalar> v;  // same shape as the parameter

    template <typename F>
    void visit(F&& f) {
      f("v", v);
    }
    template <typename F>
    void visit(F&& f) const {
      f("v", v);
    }
  };

  template <typename Scalar>
  void init_state(State<Scalar>& s, const Param<Scalar>& p) const {
    detail::require(mu >= 0.0 && mu < 1.0, "Momentum: mu must be in [0, 1), got " + std::to_string(mu));
    s.v.setZero(p.value.rows(), p.value.cols());
  }

  template <typename Scalar>
  void update(Matrix<Scalar>& value, const Matrix<Scalar>& grad, State<Scalar>& s, std::int64_t /*step*/,
              double lr) const {
    const Scalar m = static_cast<Scalar>(mu);
    const Scalar a = static_cast<Scalar>(lr);
    s.v = m * s.v + grad;  // coefficient-wise: no temporary
    if (nesterov)
      value.array() -= a * (grad.array() + m * s.v.array());
    else
      value.noalias() -= a * s.v;
  }
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_OPTIM_MOMENTUM_HPP

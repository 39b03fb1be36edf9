// seq2seq: plain stochastic gradient descent, the paper's optimizer (learning rate 0.7, no momentum).
#ifndef SEQ2SEQ_OPTIM_SGD_HPP
#define SEQ2SEQ_OPTIM_SGD_HPP

#include "../config.hpp"
#include "../param.hpp"

#include <cstdint>

namespace seq2seq {

/// Optimizer policy (see optim/optimizer.hpp for the policy contract):
///   value <- value - lr * grad
/// No per-parameter state. Sutskever et al. (2014) train with this rule at lr = 0.7, halved every
/// half epoch after epoch 5 (PaperSchedule), with global-norm clipping at 5 (clip_global_norm).
struct SGD {
  static constexpr const char* name = "sgd";

  template <typename Scalar>
  struct State {
    template <typename F>
    void visit(F&&) {}
    template <typename F>
    void visit(F&&) const {}
  };

  template <typename Scalar>
  void init_state(State<Scalar>&, const Param<Scalar>&) const {}

  template <typename Scalar>
  void update(Matrix<Scalar>& value, const Matrix<Scalar>& grad, State<Scalar>&, std::int64_t /*step*/,
              double lr) const {
    value.noalias() -= static_cast<Scalar>(lr) * grad;
  }
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_OPTIM_SGD_HPP

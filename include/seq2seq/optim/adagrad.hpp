// seq2seq: Adagrad (Duchi, Hazan & Singer, 2011).
#ifndef SEQ2SEQ_OPTIM_ADAGRAD_HPP
#define SEQ2SEQ_OPTIM_ADAGRAD_HPP

#include "../config.hpp"
#include "../param.hpp"

#include <cstdint>

namespace seq2seq {

/// Optimizer policy (contract: optim/optimizer.hpp), PyTorch's arithmetic (no lr decay):
///   G     <- G + grad^2                             (G starts at initial_accumulator)
///   value <- value - lr * grad / (sqrt(G) + eps)
struct Adagrad {
  static constexpr const char* name = "adagrad";

  double eps = 1e-10;
  double initial_accumulator = 0.0;

  template <typename Scalar>
  struct State {
    Matrix<Scalar> sum;  // G: running sum of squared gradients, same shape as the parameter

    template <typename F>
    void visit(F&& f) {
      f("sum", sum);
    }
    template <typename F>
    void visit(F&& f) const {
      f("sum", sum);
    }
  };

  template <typename Scalar>
  void init_state(State<Scalar>& s, const Param<Scalar>& p) const {
    detail::require(eps >= 0.0, "Adagrad: eps must be >= 0, got " + std::to_string(eps));
    detail::require(initial_accumulator >= 0.0,
                    "Adagrad: initial_accumulator must be >= 0, got " + std::to_string(initial_accumulator));
    s.sum.setConstant(p.value.rows(), p.value.cols(), static_cast<Scalar>(initial_accumulator));
  }

  template <typename Scalar>
  void update(Matrix<Scalar>& value, const Matrix<Scalar>& grad, State<Scalar>& s, std::int64_t /*step*/,
              double lr) const {
    s.sum.array() += grad.array().square();
    value.array() -= static_cast<Scalar>(lr) * grad.array() / (s.sum.array().sqrt() + static_cast<Scalar>(eps));
  }
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_OPTIM_ADAGRAD_HPP

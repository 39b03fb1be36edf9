// seq2seq: an optimizer policy chosen at run time, one of the library's four.
#ifndef SEQ2SEQ_OPTIM_ANY_POLICY_HPP
#define SEQ2SEQ_OPTIM_ANY_POLICY_HPP

#include "../config.hpp"
#include "../param.hpp"
#include "adagrad.hpp"
#include "adam.hpp"
#include "momentum.hpp"
#include "sgd.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace seq2seq {

/// Optimizer policy (contract: optim/optimizer.hpp) that holds one of SGD, Momentum, Adam and
/// Adagrad, picked at run time (a command-line flag, a configuration file). A program that offers
/// all four then compiles Optimizer, Trainer, the training loop and the checkpoint code once, for
/// AnyPolicy, instead of once per policy; only the four update rules are compiled each.
///
///   Optimizer<AnyPolicy, float> opt(AnyPolicy::from_name("adam"));   // or AnyPolicy(Adam{0.9, 0.98})
///
/// The arithmetic is the held policy's, and so are the names in checkpoints: the policy name
/// (name(), "adam") and the state tensors ("m", "v"), so a training state saved with
/// Optimizer<Adam, float> loads into Optimizer<AnyPolicy, float> holding Adam, and back.
/// Switching the held policy after the states were made throws on the next update (reset() the
/// optimizer first).
class AnyPolicy {
 public:
  using Variant = std::variant<SGD, Momentum, Adam, Adagrad>;

  AnyPolicy() = default;  // SGD, the paper's optimizer
  template <typename P, typename = std::enable_if_t<std::is_constructible_v<Variant, P>>>
  AnyPolicy(P policy) : policy_(std::move(policy)) {}  // NOLINT: implicit, from any of the four

  /// The policy of `name` ("sgd", "momentum", "adam", "adagrad") with its default
  /// hyper-parameters; throws std::invalid_argument naming the choices otherwise.
  static AnyPolicy from_name(std::string_view name) {
    if (name == SGD::name) return SGD{};
    if (name == Momentum::name) return Momentum{};
    if (name == Adam::name) return Adam{};
    if (name == Adagrad::name) return Adagrad{};
    throw std::invalid_argument("seq2seq::AnyPolicy: unknown optimizer '" + std::string(name) +
                                "' (sgd, momentum, adam or adagrad)");
  }

  /// The held policy's name, as stored in training checkpoints.
  std::string_view name() const {
    return std::visit([](const auto& p) { return std::string_view(std::decay_t<decltype(p)>::name); }, policy_);
  }

  const Variant& get() const { return policy_; }
  /// Hyper-parameters may be changed between steps, e.g. std::get<Adam>(opt.policy().get()).beta2.
  Variant& get() { return policy_; }

  template <typename Scalar>
  struct State {
    std::variant<typename SGD::template State<Scalar>, typename Momentum::template State<Scalar>,
                 typename Adam::template State<Scalar>, typename Adagrad::template State<Scalar>>
        held;

    template <typename F>
    void visit(F&& f) {
      std::visit([&](auto& s) { s.visit(f); }, held);
    }
    template <typename F>
    void visit(F&& f) const {
      std::visit([&](const auto& s) { s.visit(f); }, held);
    }
  };

  template <typename Scalar>
  void init_state(State<Scalar>& s, const Param<Scalar>& p) const {
    std::visit(
        [&](const auto& policy) {
          using P = std::decay_t<decltype(policy)>;
          policy.init_state(s.held.template emplace<typename P::template State<Scalar>>(), p);
        },
        policy_);
  }

  template <typename Scalar>
  void update(Matrix<Scalar>& value, const Matrix<Scalar>& grad, State<Scalar>& s, std::int64_t step,
              double lr) const {
    std::visit(
        [&](const auto& policy) {
          using P = std::decay_t<decltype(policy)>;
          auto* state = std::get_if<typename P::template State<Scalar>>(&s.held);
          detail::require(state != nullptr, [&] {
            return "AnyPolicy: the optimizer now holds '" + std::string(P::name) +
                   "' but its states were made for another policy (reset() the optimizer after switching)";
          });
          policy.update(value, grad, *state, step, lr);
        },
        policy_);
  }

 private:
  Variant policy_;
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_OPTIM_ANY_POLICY_HPP

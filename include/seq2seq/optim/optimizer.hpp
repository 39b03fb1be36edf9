// seq2seq: the optimizer driver: one step counter and one policy state per parameter.
#ifndef SEQ2SEQ_OPTIM_OPTIMIZER_HPP
#define SEQ2SEQ_OPTIM_OPTIMIZER_HPP

#include "../config.hpp"
#include "../param.hpp"
#include "../param_layout.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace seq2seq {

// ---------------------------------------------------------------------------------------------
// The policy contract (ensmallen's split: hyper-parameters in a small struct, per-parameter state
// in a nested template). A policy P used as Optimizer<P, Scalar> provides:
//
//   template <class Scalar> struct State { ... };            // default-constructible
//   template <class Scalar>
//   void init_state(State<Scalar>& s, const Param<Scalar>& p) const;    // once per parameter
//   template <class Scalar>
//   void update(Matrix<Scalar>& value, const Matrix<Scalar>& grad, State<Scalar>& s,
//               std::int64_t step, double lr) const;                   // once per parameter per step
//
// `step` is the driver's 1-based step count, the same for every parameter of one step (Adam's bias
// correction must use it, never a per-tensor counter). A State that holds data also provides
//   template <class F> void visit(F&& f);   template <class F> void visit(F&& f) const;
// calling f(name, matrix) for each of its matrices ("m", "v", ...), so checkpoints can save it; an
// empty State may omit visit. Optional: `static constexpr const char* name` (stored in training
// checkpoints and checked on load). Hyper-parameters are validated in init_state.
// ---------------------------------------------------------------------------------------------

namespace detail {

template <typename P, typename S, typename = void>
struct policy_has_state : std::false_type {};
template <typename P, typename S>
struct policy_has_state<P, S, std::void_t<typename P::template State<S>>> : std::true_type {};

struct missing_policy_state {};

template <typename P, typename S, bool = policy_has_state<P, S>::value>
struct policy_state {
  using type = missing_policy_state;
};
template <typename P, typename S>
struct policy_state<P, S, true> {
  using type = typename P::template State<S>;
};

template <typename P, typename St, typename S, typename = void>
struct policy_has_init_state : std::false_type {};
template <typename P, typename St, typename S>
struct policy_has_init_state<P, St, S,
                             std::void_t<decltype(std::declval<const P&>().init_state(
                                 std::declval<St&>(), std::declval<const Param<S>&>()))>> : std::true_type {};

template <typename P, typename St, typename S, typename = void>
struct policy_has_update : std::false_type {};
template <typename P, typename St, typename S>
struct policy_has_update<
    P, St, S,
    std::void_t<decltype(std::declval<const P&>().update(std::declval<Matrix<S>&>(), std::declval<const Matrix<S>&>(),
                                                          std::declval<St&>(), std::declval<std::int64_t>(),
                                                          std::declval<double>()))>> : std::true_type {};

/// A probe visitor: accepts (name, matrix) like the driver's.
template <typename S>
struct state_visit_probe {
  void operator()(std::string_view, Matrix<S>&) const {}
  void operator()(std::string_view, const Matrix<S>&) const {}
};

template <typename St, typename S, typename = void>
struct state_has_visit : std::false_type {};
template <typename St, typename S>
struct state_has_visit<St, S, std::void_t<decltype(std::declval<St&>().visit(state_visit_probe<S>()))>>
    : std::true_type {};

template <typename St, typename S, typename = void>
struct state_has_const_visit : std::false_type {};
template <typename St, typename S>
struct state_has_const_visit<St, S, std::void_t<decltype(std::declval<const St&>().visit(state_visit_probe<S>()))>>
    : std::true_type {};

template <typename P, typename = void>
struct policy_has_name : std::false_type {};
template <typename P>
struct policy_has_name<P, std::void_t<decltype(std::string_view(P::name))>> : std::true_type {};

template <typename P, typename = void>
struct policy_has_name_function : std::false_type {};
template <typename P>
struct policy_has_name_function<P, std::void_t<decltype(std::string_view(std::declval<const P&>().name()))>>
    : std::true_type {};

}  // namespace detail

/// True when P satisfies the policy contract above for Scalar.
template <typename P, typename Scalar>
constexpr bool is_optimizer_policy_v = [] {
  if constexpr (!detail::policy_has_state<P, Scalar>::value) {
    return false;
  } else {
    using St = typename P::template State<Scalar>;
    return std::is_default_constructible_v<St> && detail::policy_has_init_state<P, St, Scalar>::value &&
           detail::policy_has_update<P, St, Scalar>::value &&
           (std::is_empty_v<St> ||
            (detail::state_has_visit<St, Scalar>::value && detail::state_has_const_visit<St, Scalar>::value));
  }
}();

/// The policy's name (`P::name`) or "" when it has none.
template <typename P>
constexpr std::string_view policy_name() {
  if constexpr (detail::policy_has_name<P>::value)
    return std::string_view(P::name);
  else
    return std::string_view();
}

/// The name of a policy object: `policy.name()` for a policy chosen at run time (AnyPolicy, whose
/// name is the held policy's), otherwise `P::name` as above. Training checkpoints store this one.
template <typename P>
std::string_view policy_name(const P& policy) {
  if constexpr (detail::policy_has_name_function<P>::value)
    return policy.name();
  else
    return policy_name<P>();
}

/// Drives a policy over every parameter of a model (anything with `visit_parameters`).
///
/// Owns the 1-based step counter and one `Policy::State<Scalar>` per parameter, aligned with the
/// model's visitor order. States are created on the first `step` (or by `initialize`); every later
/// step checks that the model still has the same parameters (count, names, shapes) and throws
/// otherwise. In the steady state a step allocates nothing: names are compared, not stored anew.
///
///   Optimizer<Adam, float> opt(Adam{0.9, 0.98});
///   clip_global_norm(model, 5.0);
///   opt.step(model, schedule(epoch));
///   zero_grad(model);
template <typename Policy, typename Scalar_>
class Optimizer {
 public:
  using Scalar = Scalar_;
  using PolicyType = Policy;
  using State = typename detail::policy_state<Policy, Scalar_>::type;

  static_assert(detail::policy_has_state<Policy, Scalar_>::value,
                "seq2seq::Optimizer<Policy, Scalar>: Policy must define `template <class Scalar> struct State` "
                "(the per-parameter state; it may be empty)");
  static_assert(std::is_default_constructible_v<State>,
                "seq2seq::Optimizer<Policy, Scalar>: Policy::State<Scalar> must be default-constructible");
  static_assert(detail::policy_has_init_state<Policy, State, Scalar_>::value,
                "seq2seq::Optimizer<Policy, Scalar>: Policy must define `template <class Scalar> void "
                "init_state(State<Scalar>&, const Param<Scalar>&) const`");
  static_assert(detail::policy_has_update<Policy, State, Scalar_>::value,
                "seq2seq::Optimizer<Policy, Scalar>: Policy must define `template <class Scalar> void "
                "update(Matrix<Scalar>& value, const Matrix<Scalar>& grad, State<Scalar>&, std::int64_t step, "
                "double lr) const`");
  static_assert(std::is_empty_v<State> ||
                    (detail::state_has_visit<State, Scalar_>::value && detail::state_has_const_visit<State, Scalar_>::value),
                "seq2seq::Optimizer<Policy, Scalar>: Policy::State<Scalar> holds data, so it must define "
                "`template <class F> void visit(F&& f)` and a const overload, calling f(\"name\", matrix) for each "
                "of its matrices (checkpoints save the state through it)");

  explicit Optimizer(Policy policy = Policy()) : policy_(std::move(policy)) {}

  const Policy& policy() const { return policy_; }
  /// Hyper-parameters may be changed between steps (they are read on every update).
  Policy& policy() { return policy_; }

  /// Number of steps taken (0 before the first); the next update sees step_count() + 1.
  std::int64_t step_count() const { return step_; }
  /// For checkpoint restore (io/checkpoint.hpp); throws when negative.
  void set_step_count(std::int64_t n) {
    detail::require(n >= 0, "Optimizer::set_step_count: step count must be >= 0, got " + std::to_string(n));
    step_ = n;
  }

  bool initialized() const { return initialized_; }
  /// Parameters covered by the states (0 before initialisation).
  std::size_t num_parameters() const { return states_.size(); }
  /// The parameters the states were made for (empty before initialisation).
  const ParameterLayout& layout() const { return layout_; }
  /// Name of parameter k as recorded at initialisation.
  const std::string& parameter_name(std::size_t k) const { return layout_.entries.at(k).name; }

  /// Drops every state and the step counter; the next step initialises again.
  void reset() {
    states_.clear();
    layout_ = ParameterLayout();
    step_ = 0;
    initialized_ = false;
  }

  /// (Re)creates one state per parameter of `model` with Policy::init_state. Keeps the step count.
  template <typename Model>
  void initialize(const Model& model);

  /// Throws std::invalid_argument unless `model` has exactly the parameters (count, order, names,
  /// shapes, grad shapes) the states were made for. Allocates nothing when it passes.
  template <typename Model>
  void check_model(const Model& model) const;

  /// One update of every parameter with learning rate `lr`, then step_count() + 1. Initialises the
  /// states on the first call. Throws before touching any value when the model does not match.
  template <typename Model>
  void step(Model& model, double lr);

  /// f(std::size_t param_index, std::string_view state_name, Matrix<Scalar>& m) for every matrix of
  /// every state, in parameter order (a const Matrix& in the const overload).
  template <typename F>
  void visit_state(F&& f) {
    if constexpr (!std::is_empty_v<State> || detail::state_has_visit<State, Scalar>::value) {
      for (std::size_t k = 0; k < states_.size(); ++k)
        states_[k].visit([&](std::string_view name, Matrix<Scalar>& m) { f(k, name, m); });
    }
  }
  template <typename F>
  void visit_state(F&& f) const {
    if constexpr (!std::is_empty_v<State> || detail::state_has_const_visit<State, Scalar>::value) {
      for (std::size_t k = 0; k < states_.size(); ++k)
        states_[k].visit([&](std::string_view name, const Matrix<Scalar>& m) { f(k, name, m); });
    }
  }

 private:
  template <typename P>
  static void check_scalar() {
    static_assert(std::is_same_v<std::decay_t<P>, Param<Scalar>>,
                  "seq2seq::Optimizer<Policy, Scalar>: the model's parameters are not Param<Scalar> (another "
                  "Scalar type?)");
  }

  Policy policy_;
  std::int64_t step_ = 0;
  bool initialized_ = false;
  std::vector<State> states_;
  ParameterLayout layout_;  // recorded once at initialisation, compared on every step
};

// ---------------------------------------------------------------------------------------------

template <typename Policy, typename Scalar_>
template <typename Model>
void Optimizer<Policy, Scalar_>::initialize(const Model& model) {
  ParameterLayout layout = parameter_layout(model, "Optimizer");
  std::vector<State> states;
  model.visit_parameters([&](const ParamName& name, const auto& p) {
    check_scalar<decltype(p)>();
    detail::require(p.grad.rows() == p.value.rows() && p.grad.cols() == p.value.cols(), [&] {
      return "Optimizer: parameter '" + name.str() + "' has grad " + std::to_string(p.grad.rows()) + " x " +
             std::to_string(p.grad.cols()) + " but value " + std::to_string(p.value.rows()) + " x " +
             std::to_string(p.value.cols());
    });
    states.emplace_back();
    policy_.init_state(states.back(), p);
  });
  // Commit only when every init_state succeeded.
  states_ = std::move(states);
  layout_ = std::move(layout);
  initialized_ = true;
}

template <typename Policy, typename Scalar_>
template <typename Model>
void Optimizer<Policy, Scalar_>::check_model(const Model& model) const {
  if (!initialized_) detail::require(false, "Optimizer::check_model: the optimizer has no state yet (call initialize or step)");
  model.visit_parameters([](const ParamName&, const auto& p) { check_scalar<decltype(p)>(); });
  require_layout(layout_, model, "Optimizer", "the optimizer state");
}

template <typename Policy, typename Scalar_>
template <typename Model>
void Optimizer<Policy, Scalar_>::step(Model& model, double lr) {
  if (!std::isfinite(lr)) detail::require(false, "Optimizer::step: learning rate is " + std::to_string(lr));
  if (!initialized_) initialize(static_cast<const Model&>(model));
  check_model(static_cast<const Model&>(model));  // every check before the first value changes
  const std::int64_t t = step_ + 1;
  std::size_t k = 0;
  model.visit_parameters([&](const ParamName&, auto& p) {
    policy_.update(p.value, p.grad, states_[k], t, lr);
    ++k;
  });
  step_ = t;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_OPTIM_OPTIMIZER_HPP

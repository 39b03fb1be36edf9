// Tests of optim/: each policy against a hand computation, the driver (global step, lazy state,
// parameter-list checks), global-norm clipping, schedules, convergence on a quadratic, and
// user-written policies.
#include <seq2seq/detail/parallel.hpp>
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/stacked_lstm.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

using namespace seq2seq;

namespace {

/// Two parameters (a: 2 x 3, b: 4 x 1) whose gradients the tests set directly.
template <typename S>
struct TwoParams {
  Param<S> a, b;
  bool with_extra = false;  // visits a third parameter: a model whose parameter list changed
  Param<S> extra;

  TwoParams() {
    a.resize(2, 3);
    b.resize(4, 1);
    extra.resize(1, 1);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    f(prefix.child("a"), a);
    f(prefix.child("b"), b);
    if (with_extra) f(prefix.child("extra"), extra);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    f(prefix.child("a"), a);
    f(prefix.child("b"), b);
    if (with_extra) f(prefix.child("extra"), extra);
  }
};

/// loss = 0.5 * sum(w .* (x - t)^2) over a 3 x 2 parameter x; the minimum is x = t.
template <typename S>
struct Quadratic {
  Param<S> x;
  Matrix<S> target, weight;

  Quadratic() {
    x.resize(3, 2);
    target.resize(3, 2);
    weight.resize(3, 2);
    target << 1.0, -2.0, 0.5, 3.0, -1.5, 0.25;
    weight << 0.5, 1.0, 2.0, 1.5, 0.75, 1.25;
    x.value.setZero();
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    f(prefix.child("x"), x);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    f(prefix.child("x"), x);
  }
  double loss() const {
    return 0.5 * static_cast<double>((weight.array() * (x.value - target).array().square()).sum());
  }
  void backward() { x.grad = weight.cwiseProduct(x.value - target); }
  double distance() const { return static_cast<double>((x.value - target).norm()); }
};

/// One 1 x 1 parameter starting at 1.
template <typename S>
struct OneParam {
  Param<S> p;
  OneParam() {
    p.resize(1, 1);
    p.value(0, 0) = S(1);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    f(prefix.child("p"), p);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    f(prefix.child("p"), p);
  }
};

/// Visits only the `a` of a TwoParams: a model that lost a parameter.
template <typename S>
struct OnlyA {
  TwoParams<S>* m;
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    f(prefix.child("a"), m->a);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    f(prefix.child("a"), m->a);
  }
};

template <typename S>
double tolerance() {
  return std::is_same_v<S, float> ? 2e-6 : 1e-13;
}

// Three steps of grads and learning rates shared by the hand computations.
const double kGrad[3] = {0.5, -1.0, 2.0};
const double kLr[3] = {0.1, 0.2, 0.05};

/// Runs 3 steps on a 1 x 1 parameter starting at 1.0 with kGrad/kLr; returns the value after each.
template <typename Policy, typename S>
std::vector<double> three_steps(const Policy& policy) {
  OneParam<S> model;
  Optimizer<Policy, S> opt(policy);
  std::vector<double> out;
  for (int t = 0; t < 3; ++t) {
    model.p.grad(0, 0) = static_cast<S>(kGrad[t]);
    opt.step(model, kLr[t]);
    out.push_back(static_cast<double>(model.p.value(0, 0)));
  }
  CHECK(opt.step_count() == 3);
  return out;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("step " << i + 1 << ": got " << got[i] << ", want " << want[i]);
    CHECK(std::abs(got[i] - want[i]) <= tol * std::max(1.0, std::abs(want[i])));
  }
}

}  // namespace

TEST_CASE_TEMPLATE("SGD: value -= lr * grad, by hand over 3 steps", S, float, double) {
  // 1 - 0.1*0.5 = 0.95; 0.95 + 0.2*1 = 1.15; 1.15 - 0.05*2 = 1.05
  check_close(three_steps<SGD, S>(SGD{}), {0.95, 1.15, 1.05}, tolerance<S>());
}

TEST_CASE_TEMPLATE("Momentum and Nesterov momentum, by hand over 3 steps", S, float, double) {
  // v: 0.5, 0.9*0.5 - 1 = -0.55, 0.9*-0.55 + 2 = 1.505
  // classical: 1 - 0.1*0.5 = 0.95; 0.95 + 0.2*0.55 = 1.06; 1.06 - 0.05*1.505 = 0.98475
  check_close(three_steps<Momentum, S>(Momentum{0.9, false}), {0.95, 1.06, 0.98475}, tolerance<S>());
  // nesterov: 1 - 0.1*(0.5 + 0.45) = 0.905; 0.905 - 0.2*(-1 - 0.495) = 1.204;
  //           1.204 - 0.05*(2 + 1.3545) = 1.036275
  check_close(three_steps<Momentum, S>(Momentum{0.9, true}), {0.905, 1.204, 1.036275}, tolerance<S>());
}

TEST_CASE_TEMPLATE("Adam, by hand over 3 steps", S, float, double) {
  const Adam adam{0.8, 0.95, 1e-3};  // non-default betas and eps so each one matters
  std::vector<double> want;
  double p = 1, m = 0, v = 0;
  for (int t = 1; t <= 3; ++t) {
    const double g = kGrad[t - 1];
    m = 0.8 * m + 0.2 * g;
    v = 0.95 * v + 0.05 * g * g;
    const double m_hat = m / (1 - std::pow(0.8, t));
    const double v_hat = v / (1 - std::pow(0.95, t));
    p -= kLr[t - 1] * m_hat / (std::sqrt(v_hat) + 1e-3);
    want.push_back(p);
  }
  // First step: m_hat = g, v_hat = g^2, so the move is lr * g / (|g| + eps).
  CHECK(want[0] == doctest::Approx(1 - 0.1 * 0.5 / (0.5 + 1e-3)).epsilon(1e-14));
  check_close(three_steps<Adam, S>(adam), want, tolerance<S>());
}

TEST_CASE_TEMPLATE("Adam gives the same numbers on 1 and 2 threads", S, float, double) {
  // Adam's update is split over Eigen::nbThreads() in pieces that start at multiples of 64
  // elements; an odd size leaves a ragged last piece.
  const Eigen::Index rows = 1021, cols = 67;  // 68,407 elements: above the split threshold
  Rng rng(5);
  Param<S> start;
  start.resize(rows, cols);
  for (Eigen::Index i = 0; i < start.value.size(); ++i) {
    start.value.data()[i] = static_cast<S>(rng.uniform(-1, 1));
    start.grad.data()[i] = static_cast<S>(rng.uniform(-1, 1));
  }
  const auto run = [&](int threads) {
    const int saved = Eigen::nbThreads();
    Eigen::setNbThreads(threads);
    Adam adam;
    Param<S> p = start;
    Adam::State<S> st;
    adam.init_state(st, p);
    for (std::int64_t t = 1; t <= 3; ++t) adam.update(p.value, p.grad, st, t, 1e-2);
    Eigen::setNbThreads(saved);
    return std::make_pair(p.value, st.v);
  };
  const auto one = run(1), two = run(2);
  CHECK(one.first == two.first);
  CHECK(one.second == two.second);
  CHECK(!(one.first == start.value));
}

TEST_CASE("detail::parallel_ranges covers [0, n) once, in pieces that start at multiples of align") {
  for (const int threads : {1, 2, 3}) {
    for (const Eigen::Index n : {Eigen::Index(0), Eigen::Index(1), Eigen::Index(63), Eigen::Index(64),
                                 Eigen::Index(1000), Eigen::Index(4097)}) {
      CAPTURE(threads);
      CAPTURE(n);
      const int saved = Eigen::nbThreads();
      Eigen::setNbThreads(threads);
      std::vector<int> seen(static_cast<std::size_t>(n), 0);
      std::vector<Eigen::Index> begins(8, -1);
      std::atomic<int> calls{0};
      seq2seq::detail::parallel_ranges(n, 100, [&](Eigen::Index b, Eigen::Index e) {
        begins[static_cast<std::size_t>(calls.fetch_add(1))] = b;
        for (Eigen::Index i = b; i < e; ++i) ++seen[static_cast<std::size_t>(i)];
      });
      Eigen::setNbThreads(saved);
      CHECK(std::count(seen.begin(), seen.end(), 1) == n);
      for (int c = 0; c < calls.load(); ++c) CHECK(begins[static_cast<std::size_t>(c)] % 64 == 0);
      // One call below min_split (100) or on one thread; otherwise at most one piece per thread.
      if (n < 100 || threads == 1) CHECK(calls.load() == 1);
#if defined(_OPENMP)
      else CHECK(calls.load() == std::min<Eigen::Index>(threads, (n + 63) / 64));
#endif
    }
  }
}

TEST_CASE_TEMPLATE("Adagrad, by hand over 3 steps", S, float, double) {
  // G: 0.25 (+ initial 0.1), then + 1, then + 4.
  std::vector<double> want;
  double p = 1, G = 0.1;
  for (int t = 0; t < 3; ++t) {
    G += kGrad[t] * kGrad[t];
    p -= kLr[t] * kGrad[t] / (std::sqrt(G) + 1e-6);
    want.push_back(p);
  }
  check_close(three_steps<Adagrad, S>(Adagrad{1e-6, 0.1}), want, tolerance<S>());
}

TEST_CASE_TEMPLATE("Adam's bias correction uses the driver's global step, not a per-tensor count", S, float, double) {
  TwoParams<S> model;
  Optimizer<Adam, S> opt;
  const double lr = 0.01;
  // Same gradient everywhere: with one shared step every element must move identically; a
  // per-tensor counter (tiny-dnn's bug) would give b the t = 2 correction on the first step.
  for (int t = 1; t <= 3; ++t) {
    model.a.grad.setConstant(S(0.3));
    model.b.grad.setConstant(S(0.3));
    opt.step(model, lr);
    CHECK(opt.step_count() == t);
  }
  // Reference for one element with t = 1, 2, 3.
  double p = 0, m = 0, v = 0;
  for (int t = 1; t <= 3; ++t) {
    m = 0.9 * m + 0.1 * 0.3;
    v = 0.999 * v + 0.001 * 0.09;
    p -= lr * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-8);
  }
  for (Index i = 0; i < model.a.value.size(); ++i)
    CHECK(static_cast<double>(model.a.value(i)) == doctest::Approx(p).epsilon(tolerance<S>() * 10));
  for (Index i = 0; i < model.b.value.size(); ++i)
    CHECK(static_cast<double>(model.b.value(i)) == doctest::Approx(p).epsilon(tolerance<S>() * 10));
}

TEST_CASE("Optimizer: lazy state, visit_state order and names") {
  TwoParams<double> model;
  Optimizer<Adam, double> opt;
  CHECK_FALSE(opt.initialized());
  CHECK(opt.num_parameters() == 0);
  model.a.grad.setOnes();
  model.b.grad.setOnes();
  opt.step(model, 0.1);
  CHECK(opt.initialized());
  REQUIRE(opt.num_parameters() == 2);
  CHECK(opt.parameter_name(0) == "a");
  CHECK(opt.parameter_name(1) == "b");
  std::vector<std::string> seen;
  opt.visit_state([&](std::size_t k, std::string_view name, Matrix<double>& m) {
    seen.push_back(std::to_string(k) + ":" + std::string(name) + ":" + std::to_string(m.rows()) + "x" + std::to_string(m.cols()));
  });
  CHECK(seen == std::vector<std::string>{"0:m:2x3", "0:v:2x3", "1:m:4x1", "1:v:4x1"});
  // First moment after one step with grad 1: (1 - beta1) * 1.
  const Optimizer<Adam, double>& copt = opt;
  copt.visit_state([&](std::size_t, std::string_view name, const Matrix<double>& m) {
    if (name == "m") CHECK(m(0, 0) == doctest::Approx(0.1));
  });
  // SGD has no state to visit.
  Optimizer<SGD, double> sgd;
  sgd.step(model, 0.1);
  int visited = 0;
  sgd.visit_state([&](std::size_t, std::string_view, Matrix<double>&) { ++visited; });
  CHECK(visited == 0);
  opt.reset();
  CHECK_FALSE(opt.initialized());
  CHECK(opt.step_count() == 0);
}

TEST_CASE("Optimizer: a model whose parameter list changed is refused before any update") {
  TwoParams<double> model;
  model.a.grad.setOnes();
  model.b.grad.setOnes();
  Optimizer<Momentum, double> opt;
  opt.step(model, 0.1);
  const Matrix<double> a_before = model.a.value;

  SUBCASE("a parameter more") {
    model.with_extra = true;
    CHECK_THROWS_WITH_AS(opt.step(model, 0.1), doctest::Contains("'extra'"), std::invalid_argument);
  }
  SUBCASE("a parameter changed shape") {
    model.b.resize(5, 1);
    CHECK_THROWS_WITH_AS(opt.step(model, 0.1), doctest::Contains("'b' is now 5 x 1, the optimizer state was made for 4 x 1"),
                         std::invalid_argument);
  }
  SUBCASE("grad and value disagree") {
    model.b.grad.resize(3, 1);
    CHECK_THROWS_WITH_AS(opt.step(model, 0.1), doctest::Contains("'b' has grad 3 x 1 but value 4 x 1"), std::invalid_argument);
  }
  SUBCASE("a parameter fewer") {
    OnlyA<double> fewer{&model};
    CHECK_THROWS_WITH_AS(opt.step(fewer, 0.1), doctest::Contains("now has 1 parameters"), std::invalid_argument);
  }
  SUBCASE("a non-finite learning rate") {
    CHECK_THROWS_AS(opt.step(model, std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
  }
  CHECK(model.a.value == a_before);  // nothing was updated
  CHECK(opt.step_count() == 1);
}

TEST_CASE("Optimizer: bad hyper-parameters are refused at initialisation") {
  TwoParams<double> model;
  CHECK_THROWS_AS((Optimizer<Adam, double>(Adam{1.0, 0.999, 1e-8}).step(model, 0.1)), std::invalid_argument);
  CHECK_THROWS_AS((Optimizer<Momentum, double>(Momentum{-0.5, false}).step(model, 0.1)), std::invalid_argument);
  CHECK_THROWS_AS((Optimizer<Adagrad, double>(Adagrad{1e-10, -1.0}).step(model, 0.1)), std::invalid_argument);
}

TEST_CASE_TEMPLATE("clip_global_norm: the paper's rule over all parameters", S, float, double) {
  TwoParams<S> model;
  SUBCASE("norm 10 is scaled to 5") {
    model.a.grad.setZero();
    model.a.grad(1, 2) = S(6);
    model.b.grad.setZero();
    model.b.grad(3, 0) = S(8);  // ||g|| = sqrt(36 + 64) = 10 over both tensors
    CHECK(clip_global_norm(model, 5.0) == doctest::Approx(10.0));
    CHECK(static_cast<double>(model.a.grad(1, 2)) == doctest::Approx(3.0));
    CHECK(static_cast<double>(model.b.grad(3, 0)) == doctest::Approx(4.0));
    CHECK(gradient_norm(model) == doctest::Approx(5.0));
  }
  SUBCASE("norm 3 is left alone") {
    model.a.grad.setZero();
    model.a.grad(0, 0) = S(3);
    model.b.grad.setZero();
    CHECK(clip_global_norm(model, 5.0) == doctest::Approx(3.0));
    CHECK(model.a.grad(0, 0) == S(3));
  }
  SUBCASE("a non-finite norm is returned and nothing is scaled") {
    model.a.grad.setConstant(S(100));
    model.b.grad.setZero();
    model.b.grad(0, 0) = std::numeric_limits<S>::quiet_NaN();
    CHECK(std::isnan(clip_global_norm(model, 5.0)));
    CHECK(model.a.grad(0, 0) == S(100));
  }
  SUBCASE("max_norm must be positive") {
    CHECK_THROWS_AS(clip_global_norm(model, 0.0), std::invalid_argument);
    CHECK_THROWS_AS(clip_global_norm(model, -1.0), std::invalid_argument);
  }
}

TEST_CASE("PaperSchedule: 0.7, halved at epoch 5.0 and then every half epoch") {
  const PaperSchedule s;
  CHECK(s(0.0) == 0.7);
  CHECK(s(4.99) == 0.7);
  CHECK(s(5.0) == 0.35);
  CHECK(s(5.49) == 0.35);
  CHECK(s(5.5) == 0.175);
  CHECK(s(6.0) == 0.0875);
  CHECK(s(7.4) == 0.7 / 32);  // halvings at 5.0, 5.5, 6.0, 6.5, 7.0
  CHECK(s(-1.0) == 0.7);
  CHECK_THROWS_AS(s(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
  CHECK(s(1e300) == 0.0);  // no overflow of the halving count
}

TEST_CASE("Other schedules, all usable as std::function<double(double)>") {
  std::vector<std::function<double(double)>> schedules = {ConstantLR{0.5}, PaperSchedule{}, StepDecay{1.0, 0.1, 2.0},
                                                          InverseSqrt{1.0, 2.0}};
  CHECK(schedules[0](3.0) == 0.5);
  CHECK(schedules[1](5.0) == 0.35);
  CHECK(schedules[2](1.9) == 1.0);
  CHECK(schedules[2](2.0) == doctest::Approx(0.1));
  CHECK(schedules[2](4.5) == doctest::Approx(0.01));
  CHECK(schedules[3](1.0) == doctest::Approx(0.5));  // warm-up
  CHECK(schedules[3](2.0) == doctest::Approx(1.0));
  CHECK(schedules[3](8.0) == doctest::Approx(0.5));  // sqrt(2 / 8)
  CHECK(InverseSqrt{1.0, 0.0}(4.0) == doctest::Approx(0.5));
}

namespace {

/// A user-written stateless policy: value -= lr * sign(grad).
struct SignSGD {
  template <typename Scalar>
  struct State {};
  template <typename Scalar>
  void init_state(State<Scalar>&, const Param<Scalar>&) const {}
  template <typename Scalar>
  void update(Matrix<Scalar>& value, const Matrix<Scalar>& grad, State<Scalar>&, std::int64_t, double lr) const {
    value.array() -= static_cast<Scalar>(lr) * grad.array().sign();
  }
};

/// A user-written policy with state: RMSProp (Tieleman & Hinton, 2012).
struct UserRMSProp {
  static constexpr const char* name = "user_rmsprop";
  double rho = 0.9, eps = 1e-8;
  template <typename Scalar>
  struct State {
    Matrix<Scalar> sq;
    template <typename F>
    void visit(F&& f) {
      f("sq", sq);
    }
    template <typename F>
    void visit(F&& f) const {
      f("sq", sq);
    }
  };
  template <typename Scalar>
  void init_state(State<Scalar>& s, const Param<Scalar>& p) const {
    s.sq.setZero(p.value.rows(), p.value.cols());
  }
  template <typename Scalar>
  void update(Matrix<Scalar>& value, const Matrix<Scalar>& grad, State<Scalar>& s, std::int64_t, double lr) const {
    s.sq.array() = Scalar(rho) * s.sq.array() + Scalar(1 - rho) * grad.array().square();
    value.array() -= Scalar(lr) * grad.array() / (s.sq.array().sqrt() + Scalar(eps));
  }
};

/// Not a policy: update has the wrong signature.
struct NotAPolicy {
  template <typename Scalar>
  struct State {};
  template <typename Scalar>
  void init_state(State<Scalar>&, const Param<Scalar>&) const {}
  void update(double) const {}
};
/// Holds state but cannot show it to checkpoints.
struct HiddenState {
  template <typename Scalar>
  struct State {
    Matrix<Scalar> secret;
  };
  template <typename Scalar>
  void init_state(State<Scalar>&, const Param<Scalar>&) const {}
  template <typename Scalar>
  void update(Matrix<Scalar>&, const Matrix<Scalar>&, State<Scalar>&, std::int64_t, double) const {}
};

static_assert(is_optimizer_policy_v<SGD, float> && is_optimizer_policy_v<Momentum, double> &&
                  is_optimizer_policy_v<Adam, float> && is_optimizer_policy_v<Adagrad, double>,
              "the built-in policies satisfy the contract");
static_assert(is_optimizer_policy_v<SignSGD, double> && is_optimizer_policy_v<UserRMSProp, float>,
              "user policies satisfy the contract");
static_assert(!is_optimizer_policy_v<NotAPolicy, double> && !is_optimizer_policy_v<HiddenState, double> &&
                  !is_optimizer_policy_v<int, double>,
              "broken policies are detected");
static_assert(policy_name<Adam>() == "adam" && policy_name<UserRMSProp>() == "user_rmsprop" && policy_name<SignSGD>().empty(),
              "policy names");

/// Trains the quadratic for `steps` steps with `schedule(step)`; returns the final distance to
/// the minimum.
template <typename Policy, typename S, typename Schedule>
double train_quadratic(const Policy& policy, int steps, Schedule schedule) {
  Quadratic<S> q;
  Optimizer<Policy, S> opt(policy);
  const double start = q.loss();
  for (int t = 0; t < steps; ++t) {
    q.backward();
    opt.step(q, schedule(static_cast<double>(t)));
  }
  CHECK(q.loss() < start);
  return q.distance();
}

}  // namespace

TEST_CASE_TEMPLATE("Every policy minimises a quadratic", S, float, double) {
  const double tol = 1e-3;
  CHECK(train_quadratic<SGD, S>(SGD{}, 200, ConstantLR{0.3}) < tol);
  CHECK(train_quadratic<Momentum, S>(Momentum{0.9, false}, 300, ConstantLR{0.1}) < tol);
  CHECK(train_quadratic<Momentum, S>(Momentum{0.9, true}, 300, ConstantLR{0.1}) < tol);
  CHECK(train_quadratic<Adam, S>(Adam{}, 1000, StepDecay{0.1, 0.5, 100.0}) < tol);
  CHECK(train_quadratic<Adagrad, S>(Adagrad{}, 1000, ConstantLR{0.5}) < tol);
}

TEST_CASE_TEMPLATE("A user-written policy plugs into the driver", S, float, double) {
  // SignSGD moves every element by exactly lr per step, so a halving lr converges.
  CHECK(train_quadratic<SignSGD, S>(SignSGD{}, 400, StepDecay{0.1, 0.5, 20.0}) < 1e-3);
  CHECK(train_quadratic<UserRMSProp, S>(UserRMSProp{}, 1000, StepDecay{0.05, 0.5, 100.0}) < 1e-3);

  // Its state is visible to checkpoints.
  Quadratic<S> q;
  q.backward();
  Optimizer<UserRMSProp, S> opt;
  opt.step(q, 0.01);
  int visited = 0;
  opt.visit_state([&](std::size_t k, std::string_view name, Matrix<S>& m) {
    CHECK(k == 0);
    CHECK(name == "sq");
    CHECK(m.rows() == 3);
    ++visited;
  });
  CHECK(visited == 1);
}

static_assert(is_optimizer_policy_v<AnyPolicy, float> && is_optimizer_policy_v<AnyPolicy, double>,
              "AnyPolicy satisfies the contract");

/// Runs `steps` steps of `policy` and of AnyPolicy holding it on two copies of a TwoParams with
/// the same gradients; returns true when every value and every state matrix is bit-identical
/// after each step, and the state names agree.
template <typename Policy, typename S>
bool any_policy_matches(const Policy& policy, int steps) {
  TwoParams<S> direct, held;
  Rng rng(11);
  direct.a.value.setConstant(S(0.5));
  direct.b.value.setConstant(S(-0.25));
  held.a.value = direct.a.value;
  held.b.value = direct.b.value;
  Optimizer<Policy, S> opt(policy);
  Optimizer<AnyPolicy, S> any(policy);
  CHECK(policy_name(any.policy()) == policy_name<Policy>());
  bool same = true;
  for (int t = 0; t < steps; ++t) {
    for (Index i = 0; i < direct.a.grad.size(); ++i) direct.a.grad(i) = static_cast<S>(rng.uniform(-1, 1));
    for (Index i = 0; i < direct.b.grad.size(); ++i) direct.b.grad(i) = static_cast<S>(rng.uniform(-1, 1));
    held.a.grad = direct.a.grad;
    held.b.grad = direct.b.grad;
    const double lr = 0.1 / (t + 1);
    opt.step(direct, lr);
    any.step(held, lr);
    same = same && direct.a.value == held.a.value && direct.b.value == held.b.value;
    std::vector<std::pair<std::string, Matrix<S>>> s1, s2;
    opt.visit_state([&](std::size_t k, std::string_view n, const Matrix<S>& m) { s1.emplace_back(std::to_string(k) + std::string(n), m); });
    any.visit_state([&](std::size_t k, std::string_view n, const Matrix<S>& m) { s2.emplace_back(std::to_string(k) + std::string(n), m); });
    same = same && s1 == s2;
  }
  return same;
}

TEST_CASE_TEMPLATE("AnyPolicy: the held policy's arithmetic, bit for bit, and its names", S, float, double) {
  CHECK(any_policy_matches<SGD, S>(SGD{}, 4));
  CHECK(any_policy_matches<Momentum, S>(Momentum{0.8, true}, 4));
  CHECK(any_policy_matches<Adam, S>(Adam{0.85, 0.99, 1e-6}, 4));
  CHECK(any_policy_matches<Adagrad, S>(Adagrad{1e-8, 0.1}, 4));
  for (const char* name : {"sgd", "momentum", "adam", "adagrad"}) CHECK(AnyPolicy::from_name(name).name() == name);
  CHECK(AnyPolicy().name() == "sgd");
  CHECK(std::get<Adam>(AnyPolicy::from_name("adam").get()).beta2 == Adam{}.beta2);
  CHECK_THROWS_WITH_AS(AnyPolicy::from_name("rmsprop"), doctest::Contains("unknown optimizer 'rmsprop' (sgd, momentum"),
                       std::invalid_argument);
}

TEST_CASE("AnyPolicy: hyper-parameters are checked, and a policy switched after initialisation is refused") {
  OneParam<double> model;
  model.p.grad(0, 0) = 1.0;
  Optimizer<AnyPolicy, double> bad(Momentum{1.5, false});
  CHECK_THROWS_WITH_AS(bad.step(model, 0.1), doctest::Contains("Momentum: mu must be in [0, 1)"), std::invalid_argument);
  CHECK(model.p.value(0, 0) == 1.0);

  Optimizer<AnyPolicy, double> opt(Adam{});
  opt.step(model, 0.1);
  const double after_one = model.p.value(0, 0);
  opt.policy() = Adagrad{};
  CHECK_THROWS_WITH_AS(opt.step(model, 0.1), doctest::Contains("now holds 'adagrad' but its states were made for another policy"),
                       std::invalid_argument);
  opt.reset();
  opt.step(model, 0.1);  // fresh Adagrad states
  CHECK(model.p.value(0, 0) < after_one);
  int states = 0;
  opt.visit_state([&](std::size_t, std::string_view name, const Matrix<double>&) {
    CHECK(name == "sum");
    ++states;
  });
  CHECK(states == 1);
}

TEST_CASE("The driver runs on a real model: StackedLSTM") {
  StackedLSTM<LSTMCell<float, 4, 3>, 2> stack;
  Rng rng(7);
  init_uniform(stack, rng);
  stack.visit_parameters([&](const ParamName&, Param<float>& p) {
    for (Index i = 0; i < p.grad.size(); ++i) p.grad(i) = static_cast<float>(rng.uniform(-1, 1));
  });
  std::vector<Matrix<float>> before;
  stack.visit_parameters([&](const ParamName&, Param<float>& p) { before.push_back(p.value); });
  Optimizer<Adam, float> opt;
  const double norm = clip_global_norm(stack, 1.0);
  CHECK(norm > 1.0);
  opt.step(stack, 1e-2);
  CHECK(opt.parameter_name(0) == "layer0.W");
  CHECK(opt.parameter_name(opt.num_parameters() - 1) == "layer1.b");
  std::size_t k = 0;
  stack.visit_parameters([&](const ParamName& name, Param<float>& p) {
    INFO(name.str());
    // Adam's first step moves every element with a non-zero gradient by about lr.
    CHECK((p.value - before[k]).cwiseAbs().maxCoeff() == doctest::Approx(1e-2).epsilon(1e-3));
    ++k;
  });
}

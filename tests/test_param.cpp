// Tests of include/seq2seq/param.hpp: Param, ParamName, Rng and the visitor helpers.
#include "test_util.hpp"

#include <seq2seq/lstm_cell.hpp>
#include <seq2seq/param.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;

/// The smallest model: two parameters of different scalar types, so the helpers are checked on
/// both and on a model that is not an LSTM.
struct Toy {
  Param<double> a;
  Param<float> b;
  Toy() {
    a.resize(2, 3);
    b.resize(4, 1);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    f(prefix.child("a"), a);
    f(prefix.child("b"), b);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    f(prefix.child("a"), a);
    f(prefix.child("b"), b);
  }
};

TEST_CASE("Param: resize zeroes value and grad") {
  Param<double> p;
  CHECK(p.size() == 0);
  p.resize(3, 2);
  CHECK(p.size() == 6);
  CHECK(p.value.rows() == 3);
  CHECK(p.value.cols() == 2);
  CHECK(p.grad.rows() == 3);
  CHECK(p.grad.cols() == 2);
  CHECK(p.value.isZero(0.0));
  CHECK(p.grad.isZero(0.0));
}

TEST_CASE("ParamName: dotted names built from parts") {
  const ParamName empty;
  CHECK(empty.empty());
  CHECK(empty.view().empty());
  CHECK(empty.str().empty());
  CHECK(empty.child("W").str() == "W");
  CHECK(empty.child("layer", 0).str() == "layer0");

  const ParamName encoder("encoder");
  CHECK(!encoder.empty());
  CHECK(encoder.view() == "encoder");
  const ParamName layer = encoder.child("layer", 2);
  CHECK(layer.str() == "encoder.layer2");
  CHECK(layer.child("W").str() == "encoder.layer2.W");
  CHECK(encoder.str() == "encoder");  // child() leaves the parent alone
  CHECK(encoder.child("layer", 10).str() == "encoder.layer10");
  CHECK(encoder.child("x", 1234567890123).str() == "encoder.x1234567890123");
  CHECK(encoder.child("embedding").child("E").view() == "encoder.embedding.E");
}

TEST_CASE("ParamName: names longer than the capacity throw") {
  REQUIRE(ParamName::capacity == 119);
  const std::string longest(ParamName::capacity, 'a');
  CHECK(ParamName(longest).str() == longest);
  CHECK_THROWS_WITH_AS(ParamName(longest + "a"), doctest::Contains("seq2seq: parameter name longer than 119 characters"),
                       std::invalid_argument);
  const ParamName almost(std::string(ParamName::capacity - 2, 'a'));
  CHECK(almost.child("b").str().size() == ParamName::capacity);  // "aaa...a.b"
  CHECK_THROWS_WITH_AS(almost.child("bc"), doctest::Contains("parameter name longer than"), std::invalid_argument);
  CHECK_THROWS_AS(almost.child("layer", 5), std::invalid_argument);
}

TEST_CASE("Rng: the same seed gives the same numbers on every platform") {
  Rng a(42);
  Rng b(42);
  Rng c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const double x = a.uniform(-1.0, 1.0);
    CHECK(x == b.uniform(-1.0, 1.0));
    differs = differs || x != c.uniform(-1.0, 1.0);
  }
  CHECK(differs);
  CHECK(a.below(1000) == b.below(1000));

  // mt19937_64 is fully specified by the standard and uniform() takes its top 53 bits, so these
  // values hold on every standard library.
  Rng one(1);
  CHECK(one.uniform(0.0, 1.0) == 0.13387664401253263);
  CHECK(one.uniform(-2.0, 3.0) == -1.3179648181690138);
  CHECK(one.below(1000) == 930u);

  // The default seed is mt19937_64's default (5489): its 10000th output is fixed by the standard.
  Rng def;
  def.engine().discard(9999);
  CHECK(def.engine()() == 9981545732273789042ULL);
}

TEST_CASE("Rng: uniform stays in [lo, hi) and below(n) in [0, n)") {
  Rng rng(7);
  double lo_seen = std::numeric_limits<double>::infinity();
  double hi_seen = -lo_seen;
  double sum = 0;
  int outside = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.uniform(-2.0, 3.0);
    if (x < -2.0 || x >= 3.0) ++outside;
    lo_seen = std::min(lo_seen, x);
    hi_seen = std::max(hi_seen, x);
    sum += x;
  }
  CHECK(outside == 0);
  CHECK(lo_seen < -1.99);
  CHECK(hi_seen > 2.99);
  CHECK(std::abs(sum / n - 0.5) < 0.05);

  std::set<std::uint64_t> seen;
  for (int i = 0; i < 2000; ++i) seen.insert(rng.below(7));
  CHECK(seen.size() == 7u);
  CHECK(*seen.rbegin() == 6u);
  for (int i = 0; i < 10; ++i) CHECK(rng.below(1) == 0u);
  // A bound that does not divide 2^64 (rejection sampling) and the largest bound.
  const std::uint64_t big = 3000000000000000001ULL;
  int too_big = 0;
  for (int i = 0; i < 100; ++i) too_big += rng.below(big) >= big ? 1 : 0;
  CHECK(too_big == 0);
  (void)rng.below(std::numeric_limits<std::uint64_t>::max());
  CHECK_THROWS_WITH_AS(rng.below(0), doctest::Contains("seq2seq: Rng::below needs n > 0"), std::invalid_argument);
}

TEST_CASE("init_uniform: range, visitor order and determinism") {
  using Cell = LSTMCell<double, Dynamic, Dynamic>;
  Cell cell(4, 3);
  Rng rng(99);
  init_uniform(cell, rng);  // the paper's 0.08
  double max_abs = 0;
  cell.visit_parameters([&](const ParamName& name, const Param<double>& p) {
    INFO(name.str());
    CHECK(p.value.cwiseAbs().maxCoeff() <= 0.08);
    max_abs = std::max(max_abs, p.value.cwiseAbs().maxCoeff());
    CHECK(p.grad.isZero(0.0));
  });
  CHECK(max_abs > 0.07);

  // Visitor order, column-major inside a tensor: W(0,0) is the first draw, W(1,0) the second.
  Rng replay(99);
  CHECK(cell.W().value(0, 0) == replay.uniform(-0.08, 0.08));
  CHECK(cell.W().value(1, 0) == replay.uniform(-0.08, 0.08));

  Cell same(4, 3);
  Rng rng_same(99);
  init_uniform(same, rng_same);
  CHECK((same.W().value.array() == cell.W().value.array()).all());
  CHECK((same.U().value.array() == cell.U().value.array()).all());
  CHECK((same.b().value.array() == cell.b().value.array()).all());

  Cell other(4, 3);
  Rng rng_other(100);
  init_uniform(other, rng_other);
  CHECK(!(other.W().value.array() == cell.W().value.array()).all());

  Rng wide(5);
  init_uniform(cell, wide, 0.5);
  CHECK(cell.U().value.cwiseAbs().maxCoeff() <= 0.5);
  CHECK(cell.U().value.cwiseAbs().maxCoeff() > 0.4);

  // Float parameters get the same draws, rounded.
  Toy toy;
  Rng r1(3);
  init_uniform(toy, r1, 0.25);
  Rng r2(3);
  for (Index j = 0; j < 3; ++j)
    for (Index i = 0; i < 2; ++i) CHECK(toy.a.value(i, j) == r2.uniform(-0.25, 0.25));
  for (Index i = 0; i < 4; ++i) CHECK(toy.b.value(i, 0) == static_cast<float>(r2.uniform(-0.25, 0.25)));
}

TEST_CASE("zero_grad, parameter_count, gradient_norm, gradients_finite") {
  Toy toy;
  CHECK(parameter_count(toy) == 10);
  toy.a.value.setConstant(2.0);
  toy.a.grad.setZero();
  toy.a.grad(1, 2) = 3.0;
  toy.b.grad.setZero();
  toy.b.grad(3, 0) = 4.0f;
  CHECK(gradient_norm(toy) == doctest::Approx(5.0).epsilon(1e-15));
  CHECK(gradients_finite(toy));

  toy.b.grad(0, 0) = std::numeric_limits<float>::quiet_NaN();
  CHECK(!gradients_finite(toy));
  toy.b.grad(0, 0) = std::numeric_limits<float>::infinity();
  CHECK(!gradients_finite(toy));

  zero_grad(toy);
  CHECK(toy.a.grad.isZero(0.0));
  CHECK(toy.b.grad.isZero(0.0f));
  CHECK(toy.a.value.isConstant(2.0, 0.0));  // values untouched
  CHECK(gradient_norm(toy) == 0.0);
  CHECK(gradients_finite(toy));

  LSTMCell<double, Dynamic, Dynamic> cell(4, 3);
  CHECK(parameter_count(cell) == 16 * 3 + 16 * 4 + 16);
  cell.W().grad.setConstant(1.0);
  CHECK(gradient_norm(cell) == doctest::Approx(std::sqrt(48.0)));
  zero_grad(cell);
  CHECK(gradient_norm(cell) == 0.0);
}

}  // namespace

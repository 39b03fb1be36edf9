// Tests of include/seq2seq/testing/gradcheck.hpp: the checker passes right gradients and catches
// wrong ones (a checker that always passes would make every other gradient test worthless).
#include "test_util.hpp"

#include <seq2seq/param.hpp>
#include <seq2seq/testing/gradcheck.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>

namespace {

using namespace seq2seq;
using seq2seq::test::random_matrix;
using Mat = Matrix<double>;

/// loss(A) = sum(R .* tanh(A)), dloss/dA = R .* (1 - tanh(A)^2). A, R: 3 x 4.
struct TanhLoss {
  Mat A, R;
  explicit TanhLoss(std::uint64_t seed) {
    Rng rng(seed);
    A = random_matrix(3, 4, rng, 1.5);
    R = testing::random_weights(3, 4, rng);
  }
  double operator()() const { return (R.array() * A.array().tanh()).sum(); }
  Mat gradient() const { return (R.array() * (1.0 - A.array().tanh().square())).matrix(); }
};

TEST_CASE("check_tensor: a right gradient passes") {
  TanhLoss f(1);
  const Mat A_before = f.A;
  const testing::TensorCheck c = testing::check_tensor("A", f.A, f.gradient(), [&] { return f(); });
  CHECK(c.name == "A");
  CHECK(c.error < 1e-8);
  CHECK(c.worst >= 0);
  CHECK(c.worst < 12);
  CHECK(c.analytic_at_worst == doctest::Approx(c.numeric_at_worst).epsilon(1e-6));
  CHECK((f.A.array() == A_before.array()).all());  // every perturbation is undone exactly
}

TEST_CASE("check_tensor: wrong gradients are caught, and the worst element is the wrong one") {
  TanhLoss f(2);
  const auto loss = [&] { return f(); };
  const Mat right = f.gradient();

  SUBCASE("one element off") {
    Mat wrong = right;
    wrong(1, 2) += 0.5;
    const testing::TensorCheck c = testing::check_tensor("A", f.A, wrong, loss);
    CHECK(c.error > 0.05);
    CHECK(c.worst == 2 * 3 + 1);  // column-major linear index of (1, 2)
    CHECK(c.analytic_at_worst == wrong(1, 2));
    CHECK(c.numeric_at_worst == doctest::Approx(right(1, 2)).epsilon(1e-6));
  }
  SUBCASE("scaled by 2: error = ||g|| / 3||g|| = 1/3") {
    const testing::TensorCheck c = testing::check_tensor("A", f.A, 2.0 * right, loss);
    CHECK(c.error == doctest::Approx(1.0 / 3.0).epsilon(1e-6));
  }
  SUBCASE("sign flipped: error 1") {
    const testing::TensorCheck c = testing::check_tensor("A", f.A, -right, loss);
    CHECK(c.error == doctest::Approx(1.0).epsilon(1e-6));
  }
  SUBCASE("missing (zero) gradient: error 1") {
    const testing::TensorCheck c = testing::check_tensor("A", f.A, Mat::Zero(3, 4), loss);
    CHECK(c.error == doctest::Approx(1.0).epsilon(1e-12));
  }
  SUBCASE("transposed-layout bug: the right numbers in the wrong places") {
    Mat shuffled = right;
    shuffled.col(0).swap(shuffled.col(3));
    const testing::TensorCheck c = testing::check_tensor("A", f.A, shuffled, loss);
    CHECK(c.error > 0.05);
  }
}

TEST_CASE("check_tensor: a loss that ignores the tensor gives error 0 for a zero gradient") {
  Mat A = Mat::Ones(2, 2);
  const testing::TensorCheck c = testing::check_tensor("A", A, Mat::Zero(2, 2), [] { return 3.0; });
  CHECK(c.error == 0.0);
}

TEST_CASE("check_tensor: shape mismatch throws") {
  TanhLoss f(3);
  CHECK_THROWS_WITH_AS(testing::check_tensor("A", f.A, Mat::Zero(4, 3), [&] { return f(); }),
                       doctest::Contains("seq2seq: check_tensor(A): analytic gradient shape differs"),
                       std::invalid_argument);
}

/// Two parameters: loss = sum(R1 .* tanh(p)) + sum(R2 .* q.^2).
struct Model {
  Param<double> p, q;
  Mat R1, R2;
  Model() {
    Rng rng(4);
    p.resize(3, 2);
    q.resize(5, 1);
    init_uniform(*this, rng, 1.0);
    R1 = testing::random_weights(3, 2, rng);
    R2 = testing::random_weights(5, 1, rng);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    f(prefix.child("p"), p);
    f(prefix.child("q"), q);
  }
  double loss() const { return (R1.array() * p.value.array().tanh()).sum() + (R2.array() * q.value.array().square()).sum(); }
  void backward() {
    p.grad += (R1.array() * (1.0 - p.value.array().tanh().square())).matrix();
    q.grad += (2.0 * R2.array() * q.value.array()).matrix();
  }
};

TEST_CASE("check_parameters: every parameter in visitor order; a wrong one is reported") {
  Model m;
  zero_grad(m);
  m.backward();
  const auto loss = [&] { return m.loss(); };
  testing::GradCheckReport ok = testing::check_parameters(m, loss);
  REQUIRE(ok.tensors.size() == 2);
  CHECK(ok.tensors[0].name == "p");
  CHECK(ok.tensors[1].name == "q");
  CHECK(ok.max_error() < 1e-8);

  m.q.grad(2, 0) *= -1.0;
  testing::GradCheckReport bad = testing::check_parameters(m, loss);
  CHECK(bad.tensors[0].error < 1e-8);
  CHECK(bad.tensors[1].error > 0.01);
  CHECK(bad.tensors[1].worst == 2);
  CHECK(bad.max_error() == bad.tensors[1].error);
  const std::string text = bad.to_string();
  CHECK(text.find("p: rel error") != std::string::npos);
  CHECK(text.find("q: rel error") != std::string::npos);
  CHECK(text.find("worst element 2") != std::string::npos);

  CHECK(testing::GradCheckReport().max_error() == 0.0);
}

TEST_CASE("random_weights: shape, range, determinism") {
  Rng a(8);
  Rng b(8);
  const Mat r = testing::random_weights(4, 5, a);
  CHECK(r.rows() == 4);
  CHECK(r.cols() == 5);
  CHECK(r.cwiseAbs().maxCoeff() <= 1.0);
  CHECK((r.array() == testing::random_weights(4, 5, b).array()).all());
  // Every element distinct, so every output gets its own upstream gradient.
  std::set<double> distinct(r.data(), r.data() + r.size());
  CHECK(distinct.size() == static_cast<std::size_t>(r.size()));
}

}  // namespace

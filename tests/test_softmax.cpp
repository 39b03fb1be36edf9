// Tests of SoftmaxNLL (include/seq2seq/softmax.hpp): gradient check of W, b and the input under a
// mask, chunking invariance, log_probs, loss() == forward_backward(), column_nll, bad input.
#include "test_util.hpp"

#include <seq2seq/data/types.hpp>
#include <seq2seq/param.hpp>
#include <seq2seq/softmax.hpp>
#include <seq2seq/testing/gradcheck.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;
using seq2seq::test::check_report;
using seq2seq::test::make_mask;
using seq2seq::test::max_abs_diff;
using seq2seq::test::random_matrix;
using Mat = Matrix<double>;
using RowMask = Eigen::Matrix<double, 1, Eigen::Dynamic>;

constexpr Index kHidden = 4;
constexpr Index kVocab = 9;

#define SEQ2SEQ_SOFTMAX_TYPES SoftmaxNLL<double, 4>, SoftmaxNLL<double, Dynamic>

/// A softmax layer with random W, b (range 1, so the distribution is far from uniform), T x B inputs
/// Hs (Hidden x T*B), random targets and a mask with padding in three sequences.
template <typename Layer>
struct SoftmaxCase {
  static constexpr Index T = 4, B = 3;
  Layer layer{kVocab, kHidden};
  Mat Hs;
  std::vector<TokenId> targets;
  RowMask mask = make_mask<double>({"1111", "1100", "1110"});

  explicit SoftmaxCase(std::uint64_t seed) {
    Rng rng(seed);
    init_uniform(layer, rng, 1.0);
    Hs = random_matrix(kHidden, T * B, rng, 1.5);
    for (Index k = 0; k < T * B; ++k) targets.push_back(static_cast<TokenId>(rng.below(kVocab)));
  }
};

TEST_CASE_TEMPLATE("SoftmaxNLL: gradient check of W, b and the input Hs under a mask", Layer, SEQ2SEQ_SOFTMAX_TYPES) {
  SoftmaxCase<Layer> k(21);
  const double scale = 0.37;  // d(scale * NLL): checks that every gradient carries the scale
  SoftmaxWorkspace<double> ws;
  const auto loss = [&] { return scale * k.layer.loss(k.Hs, k.targets, k.mask, ws, k.B).nll; };

  Mat dH;
  zero_grad(k.layer);
  const NLLResult r = k.layer.forward_backward(k.Hs, k.targets, k.mask, scale, &dH, ws, k.B);
  CHECK(r.tokens == 9);
  testing::GradCheckReport report = testing::check_parameters(k.layer, loss);
  report.tensors.push_back(testing::check_tensor("Hs", k.Hs, dH, loss));
  REQUIRE(report.tensors.size() == 3);
  CHECK(report.tensors[0].name == "W");
  CHECK(report.tensors[1].name == "b");
  check_report(report, 1e-7);

  // Masked columns: exactly zero dH.
  for (Index c = 0; c < k.T * k.B; ++c) {
    INFO("column ", c);
    if (k.mask(c) == 0.0)
      CHECK((dH.col(c).array() == 0.0).all());
    else
      CHECK(dH.col(c).norm() > 0.0);
  }
}

TEST_CASE_TEMPLATE("SoftmaxNLL: masked columns contribute nothing to the loss or the gradients", Layer,
                   SEQ2SEQ_SOFTMAX_TYPES) {
  SoftmaxCase<Layer> k(22);
  SoftmaxWorkspace<double> ws;
  Mat dH_a, dH_b;
  zero_grad(k.layer);
  const NLLResult a = k.layer.forward_backward(k.Hs, k.targets, k.mask, 1.0, &dH_a, ws, k.B);
  const Mat dW_a = k.layer.W().grad, db_a = k.layer.b().grad;

  // Change everything at the masked columns, including targets outside the vocabulary: they are
  // never read.
  Mat Hs2 = k.Hs;
  std::vector<TokenId> t2 = k.targets;
  for (Index c = 0; c < k.T * k.B; ++c) {
    if (k.mask(c) != 0.0) continue;
    Hs2.col(c).setConstant(123.0);
    t2[static_cast<std::size_t>(c)] = c % 2 == 0 ? TokenId(-5) : TokenId(kVocab + 3);
  }
  zero_grad(k.layer);
  const NLLResult b = k.layer.forward_backward(Hs2, t2, k.mask, 1.0, &dH_b, ws, k.B);
  CHECK(a.nll == b.nll);
  CHECK(a.tokens == b.tokens);
  CHECK(max_abs_diff(dH_a, dH_b) == 0.0);
  CHECK(max_abs_diff(dW_a, k.layer.W().grad) == 0.0);
  CHECK(max_abs_diff(db_a, k.layer.b().grad) == 0.0);

  // The real columns alone (no mask) give the same NLL.
  Mat Hs_real(kHidden, a.tokens);
  std::vector<TokenId> t_real;
  for (Index c = 0, j = 0; c < k.T * k.B; ++c) {
    if (k.mask(c) == 0.0) continue;
    Hs_real.col(j++) = k.Hs.col(c);
    t_real.push_back(k.targets[static_cast<std::size_t>(c)]);
  }
  const NLLResult real = k.layer.loss(Hs_real, t_real, RowMask(), ws);
  CHECK(real.tokens == a.tokens);
  CHECK(std::abs(real.nll - a.nll) <= 1e-12 * std::abs(a.nll));
}

TEST_CASE_TEMPLATE("SoftmaxNLL: tiny and huge chunk budgets give the same loss and gradients", Layer,
                   SEQ2SEQ_SOFTMAX_TYPES) {
  SoftmaxCase<Layer> k(23);
  const auto run = [&](Index budget, Index group, Mat& dH, Mat& dW, Mat& db, std::vector<double>& cols) {
    k.layer.chunk_budget = budget;
    SoftmaxWorkspace<double> ws;
    zero_grad(k.layer);
    const NLLResult r = k.layer.forward_backward(k.Hs, k.targets, k.mask, 0.5, &dH, ws, group, &cols);
    dW = k.layer.W().grad;
    db = k.layer.b().grad;
    // The workspace never holds more than one chunk: at most max(budget, V * group) scalars.
    CHECK(ws.logits.rows() == kVocab);
    CHECK(ws.logits.size() <= std::max(budget, kVocab * group));
    return r;
  };
  Mat dH_big, dW_big, db_big;
  std::vector<double> cols_big;
  const NLLResult big = run(Index(1) << 30, k.B, dH_big, dW_big, db_big, cols_big);
  // budget 1: one group (time step of B columns) per chunk; group 1 with budget 2V: two columns
  // per chunk, so chunks split time steps; budget 5V with group 1: chunks that do not divide T*B.
  for (const auto& chunking : {std::pair<Index, Index>{1, k.B}, {1, 1}, {2 * kVocab, 1}, {5 * kVocab, 1}}) {
    const Index budget = chunking.first, group = chunking.second;  // (CAPTURE cannot name a structured binding)
    CAPTURE(budget);
    CAPTURE(group);
    Mat dH, dW, db;
    std::vector<double> cols;
    const NLLResult small = run(budget, group, dH, dW, db, cols);
    CHECK(small.tokens == big.tokens);
    CHECK(std::abs(small.nll - big.nll) <= 1e-12);
    CHECK(max_abs_diff(dH, dH_big) <= 1e-12);
    CHECK(max_abs_diff(dW, dW_big) <= 1e-12);
    CHECK(max_abs_diff(db, db_big) <= 1e-12);
    REQUIRE(cols.size() == cols_big.size());
    for (std::size_t c = 0; c < cols.size(); ++c) CHECK(std::abs(cols[c] - cols_big[c]) <= 1e-12);
  }
}

TEST_CASE_TEMPLATE("SoftmaxNLL: 1 and 2 threads give the same loss and gradients", Layer, SEQ2SEQ_SOFTMAX_TYPES) {
  // The columns of a chunk run split over Eigen::nbThreads(); each column's arithmetic, and the
  // order in which the loss is summed, do not depend on the split.
  SoftmaxCase<Layer> k(29);
  const auto run = [&](int threads, Mat& dH, Mat& dW, std::vector<double>& cols) {
    const int saved = Eigen::nbThreads();
    Eigen::setNbThreads(threads);
    SoftmaxWorkspace<double> ws;
    zero_grad(k.layer);
    const NLLResult r = k.layer.forward_backward(k.Hs, k.targets, k.mask, 0.5, &dH, ws, k.B, &cols);
    Eigen::setNbThreads(saved);
    dW = k.layer.W().grad;
    return r;
  };
  Mat dH1, dW1, dH2, dW2;
  std::vector<double> cols1, cols2;
  const NLLResult one = run(1, dH1, dW1, cols1), two = run(2, dH2, dW2, cols2);
  CHECK(one.tokens == two.tokens);
  CHECK(one.nll == two.nll);
  CHECK(cols1 == cols2);
  CHECK(max_abs_diff(dH1, dH2) <= 1e-12);
  CHECK(max_abs_diff(dW1, dW2) <= 1e-12);
}

TEST_CASE_TEMPLATE("SoftmaxNLL: log_probs columns are normalised and match column_nll", Layer, SEQ2SEQ_SOFTMAX_TYPES) {
  SoftmaxCase<Layer> k(24);
  Mat lp;
  k.layer.log_probs(k.Hs, lp);
  REQUIRE(lp.rows() == kVocab);
  REQUIRE(lp.cols() == k.T * k.B);
  for (Index c = 0; c < lp.cols(); ++c) {
    CHECK(std::abs(lp.col(c).array().exp().sum() - 1.0) <= 1e-12);
    CHECK((lp.col(c).array() < 0.0).all());
  }
  // Direct formula: z = W h + b, log p = z - log(sum exp z).
  for (Index c = 0; c < lp.cols(); ++c) {
    const Eigen::VectorXd z = k.layer.W().value * k.Hs.col(c) + k.layer.b().value;
    const double lse = std::log(z.array().exp().sum());
    CHECK(max_abs_diff((z.array() - lse).matrix(), lp.col(c)) <= 1e-12);
  }

  SoftmaxWorkspace<double> ws;
  std::vector<double> cols;
  const NLLResult r = k.layer.loss(k.Hs, k.targets, k.mask, ws, k.B, &cols);
  REQUIRE(cols.size() == static_cast<std::size_t>(k.T * k.B));
  double sum = 0;
  for (Index c = 0; c < lp.cols(); ++c) {
    const auto uc = static_cast<std::size_t>(c);
    INFO("column ", c);
    if (k.mask(c) == 0.0) {
      CHECK(cols[uc] == 0.0);
    } else {
      CHECK(std::abs(cols[uc] + lp(k.targets[uc], c)) <= 1e-12);
    }
    sum += cols[uc];
  }
  CHECK(std::abs(sum - r.nll) <= 1e-12);
}

TEST_CASE_TEMPLATE("SoftmaxNLL: loss() equals forward_backward()'s NLL and leaves gradients alone", Layer,
                   SEQ2SEQ_SOFTMAX_TYPES) {
  SoftmaxCase<Layer> k(25);
  SoftmaxWorkspace<double> ws;
  zero_grad(k.layer);
  const NLLResult l = k.layer.loss(k.Hs, k.targets, k.mask, ws, k.B);
  CHECK((k.layer.W().grad.array() == 0.0).all());
  CHECK((k.layer.b().grad.array() == 0.0).all());
  Mat dH;
  std::vector<double> cols;
  const NLLResult fb = k.layer.forward_backward(k.Hs, k.targets, k.mask, 0.25, &dH, ws, k.B, &cols);
  CHECK(l.nll == fb.nll);  // the scale multiplies gradients only, not the returned NLL
  CHECK(l.tokens == fb.tokens);
  CHECK(l.nll > 0.0);
  // Without a mask every column counts.
  const NLLResult all = k.layer.loss(k.Hs, k.targets, RowMask(), ws);
  CHECK(all.tokens == k.T * k.B);
  CHECK(all.nll > l.nll);
  // forward_backward accumulates: twice the same call doubles the parameter gradients.
  const Mat dW1 = k.layer.W().grad;
  k.layer.forward_backward(k.Hs, k.targets, k.mask, 0.25, &dH, ws, k.B);
  CHECK(max_abs_diff(k.layer.W().grad, (2.0 * dW1).eval()) <= 1e-15);
}

TEST_CASE("SoftmaxNLL: large logits stay finite (log-sum-exp is stabilised)") {
  SoftmaxNLL<double, 2> layer(5);
  layer.W().value.setZero();
  layer.b().value << 1000.0, 999.0, -1000.0, 0.0, 1000.0;
  Mat lp;
  layer.log_probs(Mat::Zero(2, 1), lp);
  CHECK(lp.allFinite());
  CHECK(std::abs(lp(0, 0) - (-std::log(2.0 + std::exp(-1.0)))) <= 1e-12);
  CHECK(std::abs(lp.col(0).array().exp().sum() - 1.0) <= 1e-12);

  SoftmaxNLL<float, 2> layer_f(5);
  layer_f.W().value.setZero();
  layer_f.b().value << 100.f, 99.f, -100.f, 0.f, 100.f;
  SoftmaxWorkspace<float> ws;
  Matrix<float> dH;
  zero_grad(layer_f);
  const NLLResult r = layer_f.forward_backward(Matrix<float>::Zero(2, 2), std::vector<TokenId>{2, 0},
                                               Eigen::Matrix<float, 1, Eigen::Dynamic>(), 1.f, &dH, ws);
  CHECK(std::isfinite(r.nll));
  CHECK(layer_f.b().grad.allFinite());
}

TEST_CASE_TEMPLATE("SoftmaxNLL: bad input throws naming the problem", Layer, SEQ2SEQ_SOFTMAX_TYPES) {
  SoftmaxCase<Layer> k(26);
  SoftmaxWorkspace<double> ws;
  Mat dH;
  const auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "<no exception>";
  };

  SUBCASE("a real target outside the vocabulary is std::out_of_range with the id") {
    std::vector<TokenId> bad = k.targets;
    bad[0] = static_cast<TokenId>(kVocab);  // column 0 is real
    CHECK_THROWS_AS(k.layer.loss(k.Hs, bad, k.mask, ws, k.B), std::out_of_range);
    CHECK_THROWS_AS(k.layer.forward_backward(k.Hs, bad, k.mask, 1.0, &dH, ws, k.B), std::out_of_range);
    const std::string m = message([&] { k.layer.loss(k.Hs, bad, k.mask, ws, k.B); });
    CHECK(m.find("target id 9") != std::string::npos);
    CHECK(m.find("vocabulary of 9") != std::string::npos);
    bad[0] = -1;
    CHECK(message([&] { k.layer.loss(k.Hs, bad, RowMask(), ws); }).find("target id -1") != std::string::npos);
  }
  SUBCASE("shape mismatches are std::invalid_argument") {
    std::vector<TokenId> short_targets(k.targets.begin(), k.targets.end() - 1);
    CHECK_THROWS_AS(k.layer.loss(k.Hs, short_targets, k.mask, ws, k.B), std::invalid_argument);
    CHECK(message([&] { k.layer.loss(k.Hs, short_targets, RowMask(), ws); }).find("11 targets for 12 columns") !=
          std::string::npos);
    CHECK_THROWS_AS(k.layer.loss(k.Hs, k.targets, RowMask::Ones(5), ws), std::invalid_argument);
    CHECK_THROWS_AS(k.layer.loss(k.Hs, k.targets, k.mask, ws, 5), std::invalid_argument);
    CHECK_THROWS_AS(k.layer.loss(k.Hs, k.targets, k.mask, ws, 0), std::invalid_argument);
    const Mat wrong_rows = Mat::Zero(kHidden + 1, k.T * k.B);
    CHECK_THROWS_AS(k.layer.loss(wrong_rows, k.targets, k.mask, ws, k.B), std::invalid_argument);
    Mat out;
    CHECK_THROWS_AS(k.layer.log_probs(wrong_rows, out), std::invalid_argument);
    SoftmaxNLL<double, 4> empty(0);
    CHECK(message([&] { empty.loss(k.Hs, k.targets, RowMask(), ws); }).find("empty vocabulary") != std::string::npos);
  }
}

TEST_CASE("SoftmaxNLL: parameters W (V x H) and b (V x 1); sizes contradicting the template throw") {
  SoftmaxNLL<float, 3> layer(7);
  std::vector<std::string> names;
  layer.visit_parameters([&](const ParamName& n, Param<float>& p) {
    names.push_back(n.str());
    CHECK(p.value.rows() == 7);
    CHECK(p.grad.rows() == 7);
  });
  CHECK(names == std::vector<std::string>{"W", "b"});
  CHECK(layer.W().value.cols() == 3);
  CHECK(layer.b().value.cols() == 1);
  CHECK(parameter_count(layer) == 7 * 3 + 7);
  using Fixed3 = SoftmaxNLL<float, 3>;
  CHECK_THROWS_AS(Fixed3(7, 4), std::invalid_argument);
  CHECK_THROWS_AS(Fixed3(-1), std::invalid_argument);
}

}  // namespace

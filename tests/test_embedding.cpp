// Tests of Embedding (include/seq2seq/embedding.hpp): gradient check of dE, sparse accumulation,
// lookup layout, out-of-range ids, parameter name and shape.
#include "test_util.hpp"

#include <seq2seq/data/types.hpp>
#include <seq2seq/embedding.hpp>
#include <seq2seq/param.hpp>
#include <seq2seq/testing/gradcheck.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;
using seq2seq::test::check_report;
using seq2seq::test::max_abs_diff;
using seq2seq::test::random_matrix;
using seq2seq::test::weighted_sum;
using Mat = Matrix<double>;

constexpr Index kDim = 3;
constexpr Index kVocab = 7;

#define SEQ2SEQ_EMBEDDING_TYPES Embedding<double, 3>, Embedding<double, Dynamic>

TEST_CASE_TEMPLATE("Embedding: lookup copies the columns of E in id order", Emb, SEQ2SEQ_EMBEDDING_TYPES) {
  Emb emb(kVocab, kDim);
  Rng rng(1);
  init_uniform(emb, rng, 1.0);
  const std::vector<TokenId> ids{4, 0, 6, 4, 2};
  Mat X;
  emb.forward(ids, X);
  REQUIRE(X.rows() == kDim);
  REQUIRE(X.cols() == static_cast<Index>(ids.size()));
  for (std::size_t k = 0; k < ids.size(); ++k) CHECK(X.col(static_cast<Index>(k)) == emb.E().value.col(ids[k]));
  // Any integral id type works (the encoder's tapes hold TokenId, users may hold Index).
  Mat X64;
  emb.forward(std::vector<std::int64_t>{4, 0, 6, 4, 2}, X64);
  CHECK(X64 == X);
}

TEST_CASE_TEMPLATE("Embedding: gradient check of dE through a random weighting of the lookup", Emb,
                   SEQ2SEQ_EMBEDDING_TYPES) {
  Emb emb(kVocab, kDim);
  Rng rng(2);
  init_uniform(emb, rng, 1.0);
  // Repeated ids (5 three times, 1 twice) and unused ones (0, 3), so the check covers accumulation
  // and untouched columns.
  const std::vector<TokenId> ids{5, 1, 5, 2, 6, 1, 4, 5};
  const Mat R = testing::random_weights(kDim, static_cast<Index>(ids.size()), rng);
  const auto loss = [&] {
    Mat X;
    emb.forward(ids, X);
    return weighted_sum(X, R);
  };
  zero_grad(emb);
  emb.backward(ids, R);  // d(sum R .* X)/dX = R
  const testing::GradCheckReport report = testing::check_parameters(emb, loss);
  REQUIRE(report.tensors.size() == 1);
  CHECK(report.tensors.front().name == "E");
  check_report(report, 1e-9);  // the loss is linear in E: central differences are exact up to rounding
}

TEST_CASE_TEMPLATE("Embedding: sparse accumulation; untouched columns stay exactly zero", Emb,
                   SEQ2SEQ_EMBEDDING_TYPES) {
  Emb emb(kVocab, kDim);
  Rng rng(3);
  init_uniform(emb, rng, 1.0);
  const std::vector<TokenId> ids{2, 5, 2};
  const Mat dX = random_matrix(kDim, 3, rng);
  zero_grad(emb);
  emb.backward(ids, dX);
  const Mat& dE = emb.E().grad;
  // A repeated id receives both gradients (the sum in double is exact to one rounding).
  CHECK(max_abs_diff(dE.col(2), (dX.col(0) + dX.col(2)).eval()) == 0.0);
  CHECK(dE.col(5) == dX.col(1));
  for (Index v : {0, 1, 3, 4, 6}) {
    INFO("column ", v);
    CHECK((dE.col(v).array() == 0.0).all());
  }
  // A second backward accumulates (+=) rather than overwrites.
  emb.backward(ids, dX);
  CHECK(max_abs_diff(dE.col(5), (2.0 * dX.col(1)).eval()) == 0.0);
  CHECK((dE.col(0).array() == 0.0).all());
}

TEST_CASE_TEMPLATE("Embedding: ids outside the vocabulary throw std::out_of_range naming the id", Emb,
                   SEQ2SEQ_EMBEDDING_TYPES) {
  Emb emb(kVocab, kDim);
  Mat X;
  const auto message_of = [&](const std::vector<TokenId>& ids) -> std::string {
    try {
      emb.forward(ids, X);
    } catch (const std::out_of_range& e) {
      return e.what();
    }
    return "<no exception>";
  };
  const std::string too_big = message_of({1, 7});
  CHECK(too_big.find("seq2seq") != std::string::npos);
  CHECK(too_big.find("token id 7") != std::string::npos);
  CHECK(too_big.find("vocabulary of 7") != std::string::npos);
  const std::string negative = message_of({-3});
  CHECK(negative.find("token id -3") != std::string::npos);
  CHECK_NOTHROW(emb.forward(std::vector<TokenId>{0, 6}, X));

  // backward checks ids too, and a shape mismatch of dX is an invalid_argument.
  zero_grad(emb);
  CHECK_THROWS_AS(emb.backward(std::vector<TokenId>{9}, Mat::Zero(kDim, 1)), std::out_of_range);
  CHECK_THROWS_AS(emb.backward(std::vector<TokenId>{1, 2}, Mat::Zero(kDim, 1)), std::invalid_argument);
  CHECK_THROWS_AS(emb.backward(std::vector<TokenId>{1}, Mat::Zero(kDim + 1, 1)), std::invalid_argument);
  CHECK((emb.E().grad.array() == 0.0).all());
}

TEST_CASE("Embedding: parameter E is Dim x V; sizes that contradict the template are rejected") {
  Embedding<float, 4> emb(10);
  CHECK(emb.dim() == 4);
  CHECK(emb.vocab_size() == 10);
  std::vector<std::string> names;
  emb.visit_parameters([&](const ParamName& n, Param<float>& p) {
    names.push_back(n.str());
    CHECK(p.value.rows() == 4);
    CHECK(p.value.cols() == 10);
    CHECK(p.grad.rows() == 4);
    CHECK(p.grad.cols() == 10);
  });
  CHECK(names == std::vector<std::string>{"E"});
  CHECK(parameter_count(emb) == 40);
  using Fixed4 = Embedding<float, 4>;
  using Dyn = Embedding<float, Dynamic>;
  CHECK_THROWS_AS(Fixed4(10, 5), std::invalid_argument);
  CHECK_THROWS_AS(Dyn(10, 0), std::invalid_argument);
  CHECK_THROWS_AS(Dyn(-1, 3), std::invalid_argument);
}

}  // namespace

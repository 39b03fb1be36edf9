// Shared helpers of the seq2seq tests: random tensors, masks, comparisons and gradient-check reports.
#ifndef SEQ2SEQ_TESTS_TEST_UTIL_HPP
#define SEQ2SEQ_TESTS_TEST_UTIL_HPP

#include <seq2seq/config.hpp>
#include <seq2seq/lstm_cell.hpp>
#include <seq2seq/param.hpp>
#include <seq2seq/testing/gradcheck.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace seq2seq::test {

/// rows x cols, uniform in [-scale, scale) from `rng` (column-major fill order, so fixed seeds give
/// the same tensors everywhere).
template <typename Scalar = double>
Matrix<Scalar> random_matrix(Index rows, Index cols, Rng& rng, double scale = 1.0) {
  Matrix<Scalar> m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.uniform(-scale, scale));
  return m;
}

/// sum(a .* b) in double; the weighted losses of the gradient checks.
template <typename A, typename B>
double weighted_sum(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
  // Not a doctest assertion: this runs inside every loss evaluation of the gradient checks.
  detail::require(a.rows() == b.rows() && a.cols() == b.cols(), "weighted_sum: shapes differ");
  return (a.template cast<double>().array() * b.template cast<double>().array()).sum();
}

/// max |a - b| over all elements; +inf when the shapes differ, so a shape bug cannot pass.
template <typename A, typename B>
double max_abs_diff(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return std::numeric_limits<double>::infinity();
  if (a.size() == 0) return 0.0;
  return (a.template cast<double>() - b.template cast<double>()).cwiseAbs().maxCoeff();
}

/// A padding mask (1 x T*B, column t*B + b) from one '0'/'1' string of length T per sequence:
/// make_mask<double>({"1111", "1100", "1011"}) is T = 4, B = 3.
template <typename Scalar>
Mask<Scalar> make_mask(std::initializer_list<const char*> per_sequence) {
  const Index B = static_cast<Index>(per_sequence.size());
  const Index T = static_cast<Index>(std::string(*per_sequence.begin()).size());
  Mask<Scalar> m(1, T * B);
  Index b = 0;
  for (const char* s : per_sequence) {
    const std::string row(s);
    REQUIRE(static_cast<Index>(row.size()) == T);
    for (Index t = 0; t < T; ++t) m(t * B + b) = row[static_cast<std::size_t>(t)] == '1' ? Scalar(1) : Scalar(0);
    ++b;
  }
  return m;
}

/// Every tensor of `report` within `tolerance`; on failure the report (worst element per tensor) is
/// printed. SEQ2SEQ_GRADCHECK_VERBOSE=1 in the environment prints it on success too.
inline void check_report(const testing::GradCheckReport& report, double tolerance) {
  const std::string text = report.to_string();
  INFO(text);
  if (std::getenv("SEQ2SEQ_GRADCHECK_VERBOSE") != nullptr) MESSAGE(text);
  CHECK(!report.tensors.empty());
  for (const auto& t : report.tensors) {
    INFO("tensor ", t.name);
    CHECK(t.error <= tolerance);
  }
}

/// Copies the parameter values of `from` into `to` (same visitor order and shapes), casting the scalar.
template <typename To, typename From>
void copy_parameters(To& to, const From& from) {
  std::vector<Matrix<double>> values;
  from.visit_parameters([&](const ParamName&, const auto& p) { values.push_back(p.value.template cast<double>()); });
  std::size_t k = 0;
  to.visit_parameters([&](const ParamName& name, auto& p) {
    REQUIRE_MESSAGE(k < values.size(), "copy_parameters: extra parameter ", name.str());
    REQUIRE(p.value.rows() == values[k].rows());
    REQUIRE(p.value.cols() == values[k].cols());
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    p.value = values[k].template cast<S>();
    ++k;
  });
  REQUIRE(k == values.size());
}

}  // namespace seq2seq::test

#endif  // SEQ2SEQ_TESTS_TEST_UTIL_HPP

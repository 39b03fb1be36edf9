// detail/lowp_gemm.hpp: int8 and bf16 products against a triple loop in double, within tolerances
// derived from the formats (stated below), on ragged shapes, accumulating or not, into float and
// double; the AVX-512 kernels equal to the portable ones bit for bit where the CPU has them (and
// the portable path alone where it does not); the embedding tables; detail::PackedMatrix against
// detail::gemm; NaN and Inf refused.
#include "test_util.hpp"

#include <seq2seq/detail/gemm.hpp>
#include <seq2seq/detail/lowp_gemm.hpp>
#include <seq2seq/detail/lowp_table.hpp>
#include <seq2seq/rng.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {

using namespace seq2seq;
using detail::Bf16Matrix;
using detail::Int8Matrix;
using detail::LowpKernel;
using detail::LowpMatrix;

/// Makes matrices with the portable kernel while alive (then back to the default choice).
struct ForcePortable {
  ForcePortable() { detail::force_portable_kernels(true); }
  ~ForcePortable() { detail::force_portable_kernels(false); }
};

const std::vector<std::tuple<Index, Index, Index>> kShapes = {
    {1, 1, 1}, {3, 5, 2}, {16, 4, 6}, {17, 7, 7}, {33, 9, 13}, {64, 64, 12}, {100, 37, 5}, {130, 256, 19}};

/// The int8 tolerance of element (m, n): each factor is off by at most half its step
/// (s_m = max|A(m, :)| / 127, t_n = max|X(:, n)| / 127), so
///   |error| <= sum_k (s_m / 2 |X(k, n)| + t_n / 2 |A(m, k)| + s_m t_n / 4),
/// plus float rounding of the rescaled sum (a relative 1e-6 of sum_k |A X|).
Matrix<double> int8_bound(const Matrix<double>& A, const Matrix<double>& X) {
  Matrix<double> b(A.rows(), X.cols());
  for (Index m = 0; m < A.rows(); ++m) {
    const double s = A.row(m).cwiseAbs().maxCoeff() / 127.0;
    for (Index n = 0; n < X.cols(); ++n) {
      const double t = X.col(n).cwiseAbs().maxCoeff() / 127.0;
      double e = 0, mag = 0;
      for (Index k = 0; k < A.cols(); ++k) {
        e += 0.5 * s * std::abs(X(k, n)) + 0.5 * t * std::abs(A(m, k)) + 0.25 * s * t;
        mag += std::abs(A(m, k) * X(k, n));
      }
      b(m, n) = e + 1e-6 * mag + 1e-30;
    }
  }
  return b;
}

/// The bf16 tolerance: both factors rounded to nearest with 8 significant bits (relative error
/// at most 2^-8 each: half the spacing 2^-7 of [1, 2)), each product exact in float, the sum in
/// float: |error| <= (2 * 2^-8 + 2^-16 + K * 2^-24) sum_k |A X|.
Matrix<double> bf16_bound(const Matrix<double>& A, const Matrix<double>& X) {
  const double rel = 2 * std::ldexp(1.0, -8) + std::ldexp(1.0, -16) + static_cast<double>(A.cols()) * std::ldexp(1.0, -24);
  return (rel * (A.cwiseAbs() * X.cwiseAbs()).array() + 1e-30).matrix();
}

template <typename Scalar>
void check_products(Precision p) {
  Rng rng(11);
  for (const auto& shape : kShapes) {  // (no structured binding: CAPTURE's lambda cannot capture one in C++17)
    const Index M = std::get<0>(shape), K = std::get<1>(shape), N = std::get<2>(shape);
    CAPTURE(M);
    CAPTURE(K);
    CAPTURE(N);
    const Matrix<double> A = test::random_matrix<double>(M, K, rng, 0.5);
    const Matrix<double> X = test::random_matrix<double>(K, N, rng, 2.0);
    const Matrix<double> Y0 = test::random_matrix<double>(M, N, rng, 1.0);
    const Matrix<double> ref = A * X;
    const Matrix<double> bound = p == Precision::int8 ? int8_bound(A, X) : bf16_bound(A, X);
    const LowpMatrix L(A.cast<Scalar>(), p);
    const Matrix<Scalar> Xs = X.cast<Scalar>();
    Matrix<Scalar> Y = Y0.cast<Scalar>();
    L.multiply(Xs, Y, false);
    CHECK(((Y.template cast<double>() - ref).cwiseAbs().array() <= bound.array()).all());
    Y = Y0.cast<Scalar>();
    L.multiply(Xs, Y, true);
    CHECK(((Y.template cast<double>() - Y0 - ref).cwiseAbs().array() <= bound.array() + 1e-6).all());
    // Blocks of wider matrices (leading dimension larger than the rows).
    Matrix<Scalar> wide = Matrix<Scalar>::Zero(M + 3, N + 2);
    L.multiply(Xs, wide.block(0, 1, M, N), false);
    CHECK(((wide.block(0, 1, M, N).template cast<double>() - ref).cwiseAbs().array() <= bound.array()).all());
    CHECK(wide.row(M).isZero());
    CHECK(wide.col(0).isZero());
  }
}

TEST_CASE("lowp_gemm: int8 products are within the quantization bound of the exact product") {
  MESSAGE("int8 kernel on this machine: ", std::string(detail::lowp_kernel_name(detail::default_int8_kernel())));
  check_products<float>(Precision::int8);
  check_products<double>(Precision::int8);
  const ForcePortable portable;
  check_products<float>(Precision::int8);
}

TEST_CASE("lowp_gemm: bf16 products are within the rounding bound of the exact product") {
  MESSAGE("bf16 kernel on this machine: ", std::string(detail::lowp_kernel_name(detail::default_bf16_kernel())));
  check_products<float>(Precision::bf16);
  check_products<double>(Precision::bf16);
  const ForcePortable portable;
  check_products<float>(Precision::bf16);
}

TEST_CASE("lowp_gemm: the AVX-512 kernels give the portable kernels' results bit for bit") {
  if (!detail::cpu_has_avx512_vnni() && !detail::cpu_has_avx512_bf16()) {
    MESSAGE("this CPU has neither AVX512_VNNI nor AVX512_BF16: only the portable kernels run here");
    return;
  }
  Rng rng(12);
  for (const auto& shape : std::vector<std::tuple<Index, Index, Index>>{{17, 7, 7}, {130, 256, 19}, {64, 5, 1}, {200, 64, 70}}) {
    const Index M = std::get<0>(shape), K = std::get<1>(shape), N = std::get<2>(shape);
    CAPTURE(M);
    const Matrix<float> A = test::random_matrix<float>(M, K, rng, 0.3);
    const Matrix<float> X = test::random_matrix<float>(K, N, rng, 1.0);
    for (Precision p : {Precision::int8, Precision::bf16}) {
      if ((p == Precision::int8 && !detail::cpu_has_avx512_vnni()) || (p == Precision::bf16 && !detail::cpu_has_avx512_bf16()))
        continue;
      detail::force_portable_kernels(false);
      const LowpMatrix fast(A, p);
      Matrix<float> Y1 = Matrix<float>::Constant(M, N, 0.25f), Y2 = Y1;
      {
        const ForcePortable portable;
        const LowpMatrix slow(A, p);
        CHECK(slow.kernel() == LowpKernel::portable);
        slow.multiply(X, Y2, true);
      }
#if !defined(SEQ2SEQ_USE_DNNL)
      CHECK(fast.kernel() == LowpKernel::avx512);
#endif
      fast.multiply(X, Y1, true);
      CHECK(test::max_abs_diff(Y1, Y2) == 0.0);
    }
  }
}

TEST_CASE("lowp_gemm: stored values, embedding tables and refusals") {
  Rng rng(13);
  const Matrix<float> A = test::random_matrix<float>(20, 9, rng, 1.0);
  const Int8Matrix q(A);
  const Bf16Matrix b(A);
  for (Index m = 0; m < A.rows(); ++m) {
    const float s = A.row(m).cwiseAbs().maxCoeff() / 127.0f;
    for (Index k = 0; k < A.cols(); ++k) {
      CHECK(std::abs(q.value(m, k) - A(m, k)) <= 0.5f * s * 1.0001f);
      CHECK(std::abs(b.value(m, k) - A(m, k)) <= std::abs(A(m, k)) * std::ldexp(1.0f, -8));
    }
  }
  // A row of zeros quantizes to zeros (no division by a zero scale).
  Matrix<float> Z = A;
  Z.row(3).setZero();
  CHECK(Int8Matrix(Z).value(3, 4) == 0.0f);
  // Embedding tables: one scale per word (column).
  const Matrix<float> E = test::random_matrix<float>(6, 11, rng, 0.7);
  for (Precision p : {Precision::int8, Precision::bf16}) {
    const detail::LowpTable t(E, p);
    Eigen::VectorXf x(6);
    for (Index v = 0; v < E.cols(); ++v) {
      t.lookup(v, x);
      const float tol = p == Precision::int8 ? 0.5f * E.col(v).cwiseAbs().maxCoeff() / 127.0f * 1.0001f
                                             : E.col(v).cwiseAbs().maxCoeff() * std::ldexp(1.0f, -8);
      CHECK((x - E.col(v)).cwiseAbs().maxCoeff() <= tol);
    }
  }
  Matrix<float> bad = A;
  bad(2, 2) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(Int8Matrix{bad}, std::invalid_argument);
  CHECK_THROWS_AS(Bf16Matrix{bad}, std::invalid_argument);
  CHECK_THROWS_AS(LowpMatrix(A, Precision::float32), std::invalid_argument);
  Matrix<float> X = test::random_matrix<float>(9, 3, rng, 1.0), Y(20, 3);
  X(1, 1) = std::numeric_limits<float>::infinity();
  for (Precision p : {Precision::int8, Precision::bf16}) {
    CHECK_THROWS_AS(LowpMatrix(A, p).multiply(X, Y, false), NonFiniteInputError);
    const ForcePortable portable;
    CHECK_THROWS_AS(LowpMatrix(A, p).multiply(X, Y, false), NonFiniteInputError);
  }
  X(1, 1) = std::numeric_limits<float>::quiet_NaN();  // a NaN, which std::max would skip
  for (Precision p : {Precision::int8, Precision::bf16}) {
    CHECK_THROWS_AS(LowpMatrix(A, p).multiply(X, Y, false), NonFiniteInputError);
    const ForcePortable portable;
    CHECK_THROWS_AS(LowpMatrix(A, p).multiply(X, Y, false), NonFiniteInputError);
  }
  Matrix<float> wrong(8, 3);
  CHECK_THROWS_WITH_AS(q.multiply(wrong, Y, false), doctest::Contains("a 20 x 9 matrix times 8 x 3"), std::invalid_argument);
}

TEST_CASE("gemm: PackedMatrix and Fp32Matrix (float weights packed once for decoding) equal the product") {
  Rng rng(14);
  for (const auto& shape : std::vector<std::tuple<Index, Index, Index>>{{1, 1, 1}, {7, 3, 2}, {97, 65, 9}, {300, 200, 300}, {50, 600, 3}}) {
    const Index M = std::get<0>(shape), K = std::get<1>(shape), N = std::get<2>(shape);  // (see check_products)
    CAPTURE(M);
    CAPTURE(K);
    CAPTURE(N);
    const Matrix<double> A = test::random_matrix<double>(M, K, rng, 1.0);
    const Matrix<double> X = test::random_matrix<double>(K, N, rng, 1.0);
    const detail::PackedMatrix<double> P(A);
    Matrix<double> Y = Matrix<double>::Constant(M, N, 0.5), ref = Y;
    P.add(X, Y);
    detail::gemm(detail::Op::N, A, detail::Op::N, X, ref, true);
    CHECK(test::max_abs_diff(Y, ref) <= 1e-12 * static_cast<double>(K));
    const detail::PackedMatrix<float> Pf(A.cast<float>());
    Matrix<float> Yf = Matrix<float>::Zero(M + 2, N);
    const Matrix<float> Xf = X.cast<float>();
    Pf.add(Xf, Yf.topRows(M));
    CHECK(test::max_abs_diff(Yf.topRows(M), A * X) <= 1e-5 * static_cast<double>(K));
    CHECK(Yf.bottomRows(2).isZero());
  }
  if (detail::Fp32Matrix::available()) {  // the AVX-512 float tile of decoding's float32 copies
    for (const auto& shape : kShapes) {
      const Index M = std::get<0>(shape), K = std::get<1>(shape), N = std::get<2>(shape);  // (see check_products)
      CAPTURE(M);
      const Matrix<float> A = test::random_matrix<float>(M, K, rng, 1.0);
      const Matrix<float> X = test::random_matrix<float>(K, N, rng, 1.0);
      detail::Fp32Matrix F;
      F.assign(A);
      Matrix<float> Y = Matrix<float>::Constant(M + 1, N + 1, 0.5f);
      F.add(X, Y.block(0, 1, M, N));
      const Matrix<float> got = Y.block(0, 1, M, N).array() - 0.5f;
      CHECK(test::max_abs_diff(got, A.cast<double>() * X.cast<double>()) <= 1e-5 * static_cast<double>(K));
      CHECK((Y.row(M).array() == 0.5f).all());
      CHECK((Y.col(0).array() == 0.5f).all());
    }
  } else {
    MESSAGE("no AVX-512F: decoding's float32 copies use Eigen's kernel (PackedMatrix) only");
  }
  const detail::PackedMatrix<double> P(Matrix<double>::Ones(4, 3));
  Matrix<double> X(2, 2), Y(4, 2);
  CHECK_THROWS_AS(P.add(X, Y), std::logic_error);
}

}  // namespace

// detail::gemm, the one entry point of every large product, against a plain triple loop in double,
// on every path it takes: Eigen's expression (small products, one column), our packing driver on
// one thread and split by rows or by columns over two, and the optional backends (oneDNN's
// dnnl_sgemm and matmul primitive, OpenBLAS through EIGEN_USE_BLAS) when the build selects them. These machines pin
// OPENBLAS_CORETYPE=Haswell because older OpenBLAS builds computed wrong results on this CPU: a
// backend is checked for results, not only for speed. The backend under test is printed.
#include <seq2seq/detail/gemm.hpp>
#include <seq2seq/param.hpp>

#include <doctest/doctest.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using seq2seq::Index;
using seq2seq::Matrix;
using seq2seq::detail::Op;

const char* backend_name() {
#if defined(SEQ2SEQ_USE_DNNL)
  return "dnnl_sgemm and oneDNN's matmul (float), Eigen (double)";
#elif defined(EIGEN_USE_BLAS)
  return "BLAS through EIGEN_USE_BLAS";
#else
  return "Eigen with seq2seq's packing driver";
#endif
}

template <typename S>
Matrix<double> reference(Op opa, const Matrix<S>& A, Op opb, const Matrix<S>& B, const Matrix<S>& C0, bool accumulate) {
  const Index M = C0.rows(), N = C0.cols(), K = opa == Op::N ? A.cols() : A.rows();
  Matrix<double> C = accumulate ? Matrix<double>(C0.template cast<double>()) : Matrix<double>::Zero(M, N);
  for (Index j = 0; j < N; ++j)
    for (Index i = 0; i < M; ++i) {
      double sum = 0;
      for (Index k = 0; k < K; ++k)
        sum += static_cast<double>(opa == Op::N ? A(i, k) : A(k, i)) * static_cast<double>(opb == Op::N ? B(k, j) : B(j, k));
      C(i, j) += sum;
    }
  return C;
}

template <typename S>
void check_product(Index M, Index N, Index K, Op opa, Op opb, bool accumulate, int threads) {
  CAPTURE(M);
  CAPTURE(N);
  CAPTURE(K);
  CAPTURE(static_cast<int>(opa));
  CAPTURE(static_cast<int>(opb));
  CAPTURE(accumulate);
  CAPTURE(threads);
  seq2seq::Rng rng(static_cast<std::uint64_t>(M * 131 + N * 17 + K));
  const auto random = [&](Index r, Index c) {
    Matrix<S> m(r, c);
    for (Index k = 0; k < m.size(); ++k) m.data()[k] = static_cast<S>(rng.uniform(-1, 1));
    return m;
  };
  const Matrix<S> A = opa == Op::N ? random(M, K) : random(K, M);
  const Matrix<S> B = opb == Op::N ? random(K, N) : random(N, K);
  const Matrix<S> C0 = random(M, N);
  Matrix<S> C = C0;
#if defined(_OPENMP)
  const int saved = Eigen::nbThreads();
  Eigen::setNbThreads(threads);
#endif
  seq2seq::detail::gemm(opa, A, opb, B, C, accumulate);
  // Also into a block of whole columns of a wider matrix (the tape's per-step slices).
  Matrix<S> wide = Matrix<S>::Zero(M, N + 3);
  wide.middleCols(1, N) = C0;
  seq2seq::detail::gemm(opa, A, opb, B, wide.middleCols(1, N), accumulate);
#if defined(_OPENMP)
  Eigen::setNbThreads(saved);
#endif
  const Matrix<double> want = reference(opa, A, opb, B, C0, accumulate);
  // Each element sums K products of numbers in [-1, 1]: float rounding grows like sqrt(K).
  const double tol = (std::is_same<S, float>::value ? 2e-6 : 1e-14) * (4.0 + std::sqrt(static_cast<double>(K))) * 4;
  CHECK((C.template cast<double>() - want).cwiseAbs().maxCoeff() <= tol);
  CHECK((wide.middleCols(1, N).template cast<double>() - want).cwiseAbs().maxCoeff() <= tol);
  CHECK(wide.col(0).isZero());
  CHECK(wide.col(N + 1).isZero());
  CHECK(wide.col(N + 2).isZero());
}

}  // namespace

TEST_CASE_TEMPLATE("detail::gemm equals a triple loop on every path, op and backend", S, float, double) {
  MESSAGE("GEMM backend: ", std::string(backend_name()));
  // (M, N, K): below the driver's threshold; one column (GEMV); the driver on one thread; above
  // the parallel threshold split by rows (M >= N) and by columns (N > M); ragged sizes that are not
  // multiples of the kernels' register blocks.
  const std::vector<std::tuple<Index, Index, Index>> shapes = {
      {8, 5, 7}, {256, 1, 64}, {96, 40, 48}, {1024, 64, 256}, {200, 700, 50}, {4 * 67, 33, 131}};
  for (const auto& [M, N, K] : shapes)
    for (Op opa : {Op::N, Op::T})
      for (Op opb : {Op::N, Op::T})
        for (bool accumulate : {false, true})
          for (int threads : {1, 2}) check_product<S>(M, N, K, opa, opb, accumulate, threads);
}

#if defined(SEQ2SEQ_USE_DNNL)
TEST_CASE("oneDNN's plans: more shapes than a thread's cache holds, each product right, also after it starts over") {
  // Each shape makes a plan (dnnl_matmul.hpp keeps at most 512 per thread, then starts over); a
  // plan met again points its memory objects at the new operands.
  const Matrix<float> A = Matrix<float>::Random(48, 48);
  const Matrix<float> B = Matrix<float>::Random(48, 48 + 600);
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    for (Index n = 48; n < 48 + 600; n += round == 0 ? 1 : 37) {
      CAPTURE(n);
      Matrix<float> C = Matrix<float>::Constant(48, n, 1.0f);
      seq2seq::detail::gemm(Op::T, A, Op::N, B.leftCols(n), C, true);  // A^T: the matmul's path
      const Matrix<double> want = (A.cast<double>().transpose() * B.leftCols(n).cast<double>()).array() + 1.0;
      REQUIRE((C.cast<double>() - want).cwiseAbs().maxCoeff() <= 1e-4);
    }
  }
}
#endif

TEST_CASE_TEMPLATE("detail::RecurrentProduct (A packed once) equals gemm step after step", S, float, double) {
  using seq2seq::detail::RecurrentProduct;
  // (H, B): packed on one thread, packed and split over two, ragged rows, and the fallbacks (one
  // column; a product below the driver's threshold).
  const std::vector<std::pair<Index, Index>> shapes = {{64, 32}, {256, 48}, {67, 13}, {128, 1}, {8, 3}};
  for (const auto& shape : shapes)
    for (Op op : {Op::N, Op::T})
      for (int threads : {1, 2}) {
        const Index H = shape.first, B = shape.second;  // (CAPTURE cannot name a structured binding)
        CAPTURE(H);
        CAPTURE(B);
        CAPTURE(static_cast<int>(op));
        CAPTURE(threads);
#if defined(_OPENMP)
        const int saved = Eigen::nbThreads();
        Eigen::setNbThreads(threads);
#endif
        seq2seq::Rng rng(static_cast<std::uint64_t>(H * 7 + B));
        Matrix<S> U(4 * H, H);
        for (Index k = 0; k < U.size(); ++k) U.data()[k] = static_cast<S>(rng.uniform(-1, 1));
        const Index rows = op == Op::N ? 4 * H : H, depth = op == Op::N ? H : 4 * H;
        // Right sides are blocks of a tape-like matrix (T steps side by side), as in the cell.
        const Index T = 4;
        Matrix<S> X(depth, T * B), got = Matrix<S>::Zero(rows, T * B), want = got;
        for (Index k = 0; k < X.size(); ++k) X.data()[k] = static_cast<S>(rng.uniform(-1, 1));
        {
          const RecurrentProduct<S> product(op, U, B);
          for (Index t = 0; t < T; ++t) {
            product.add(X.middleCols(t * B, B), got.middleCols(t * B, B));
            product.add(X.middleCols(t * B, B), got.middleCols(t * B, B));  // accumulates
          }
#if SEQ2SEQ_PACKED_RECURRENCE
          if (B > 1 && 4 * H * H * B >= seq2seq::detail::kDriverMinWork) {
            // One packed product per thread at a time (its buffer is the thread's).
            CHECK_THROWS_AS(RecurrentProduct<S>(op, U, B), std::logic_error);
          }
#endif
          CHECK_THROWS_AS(product.add(X.middleCols(0, B + 1), got.middleCols(0, B + 1)), std::logic_error);
        }
        for (Index t = 0; t < T; ++t) {
          seq2seq::detail::gemm(op, U, Op::N, X.middleCols(t * B, B), want.middleCols(t * B, B), true);
          seq2seq::detail::gemm(op, U, Op::N, X.middleCols(t * B, B), want.middleCols(t * B, B), true);
        }
        const double tol = std::is_same<S, float>::value ? 1e-4 : 1e-12;
        CHECK((got - want).cwiseAbs().maxCoeff() <= tol * (1 + want.cwiseAbs().maxCoeff()));
        // After the first product is gone, a new one may be made on this thread.
        CHECK_NOTHROW(RecurrentProduct<S>(op, U, B));
#if defined(_OPENMP)
        Eigen::setNbThreads(saved);
#endif
      }
}

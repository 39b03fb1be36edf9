// seq2seq: the one place where the library multiplies large matrices, so the GEMM backend can be
// switched: Eigen's own (default; parallel with OpenMP), or oneDNN's JIT sgemm when compiled with
// SEQ2SEQ_USE_DNNL (CMake: -DSEQ2SEQ_GEMM_BACKEND=dnnl; float only, large products only).
// OpenBLAS comes in through Eigen itself (EIGEN_USE_BLAS; -DSEQ2SEQ_GEMM_BACKEND=openblas).
#ifndef SEQ2SEQ_DETAIL_GEMM_HPP
#define SEQ2SEQ_DETAIL_GEMM_HPP

#include <Eigen/Core>
#include <stdexcept>
#include <type_traits>

#if defined(SEQ2SEQ_USE_DNNL)
#include <oneapi/dnnl/dnnl.h>
#endif

namespace seq2seq::detail {

enum class Op { N, T };

/// Products smaller than this many multiply-adds stay with Eigen even when another backend is on
/// (the call overhead of a JIT backend dominates there).
constexpr Eigen::Index kBackendMinWork = Eigen::Index(64) * 64 * 64;

/// C = op(A) op(B) (accumulate = false) or C += op(A) op(B) (accumulate = true). A, B, C are
/// column-major with unit inner stride (Matrix, Block of contiguous columns, Ref, Map).
template <typename DA, typename DB, typename DC>
void gemm(Op opa, const DA& A, Op opb, const DB& B, DC&& C, bool accumulate) {
#if defined(SEQ2SEQ_USE_DNNL)
  if constexpr (std::is_same<typename std::decay_t<DC>::Scalar, float>::value) {
    const Eigen::Index M = C.rows(), N = C.cols();
    const Eigen::Index K = opa == Op::N ? A.cols() : A.rows();
    if (M * N * K >= kBackendMinWork && A.innerStride() == 1 && B.innerStride() == 1 && C.innerStride() == 1) {
      // dnnl_sgemm is row-major: a column-major X is the row-major X^T, so C^T = op(B)^T op(A)^T.
      const dnnl_status_t st =
          dnnl_sgemm(opb == Op::N ? 'N' : 'T', opa == Op::N ? 'N' : 'T', N, M, K, 1.0f, B.data(), B.outerStride(),
                     A.data(), A.outerStride(), accumulate ? 1.0f : 0.0f, C.data(), C.outerStride());
      if (st != dnnl_success) throw std::runtime_error("seq2seq: dnnl_sgemm failed");
      return;
    }
  }
#endif
  if (opa == Op::N && opb == Op::N) {
    if (accumulate)
      C.noalias() += A * B;
    else
      C.noalias() = A * B;
  } else if (opa == Op::N) {
    if (accumulate)
      C.noalias() += A * B.transpose();
    else
      C.noalias() = A * B.transpose();
  } else if (opb == Op::N) {
    if (accumulate)
      C.noalias() += A.transpose() * B;
    else
      C.noalias() = A.transpose() * B;
  } else {
    if (accumulate)
      C.noalias() += A.transpose() * B.transpose();
    else
      C.noalias() = A.transpose() * B.transpose();
  }
}

}  // namespace seq2seq::detail

#endif  // SEQ2SEQ_DETAIL_GEMM_HPP

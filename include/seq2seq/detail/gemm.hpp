// seq2seq: the one place where the library multiplies large matrices.
//
// Backends: Eigen's own kernels (default), or oneDNN's JIT sgemm when compiled with
// SEQ2SEQ_USE_DNNL (CMake: -DSEQ2SEQ_GEMM_BACKEND=dnnl; float, large products). OpenBLAS comes in
// through Eigen itself (EIGEN_USE_BLAS; -DSEQ2SEQ_GEMM_BACKEND=openblas).
//
// With Eigen, large products do not go through `C.noalias() = A * B`: that path takes its packing
// buffers from malloc on every call. Instead the packing buffers live in a grow-only buffer per
// thread, handed to Eigen's GEMM kernel (general_matrix_matrix_product) through a level3_blocking,
// so a steady state of equal-shaped products allocates nothing. The work is split across
// Eigen::nbThreads() OpenMP threads by rows of C (each thread packs only its rows of A; the right
// side is small in the recurrence) or, for wide products, by columns.
#ifndef SEQ2SEQ_DETAIL_GEMM_HPP
#define SEQ2SEQ_DETAIL_GEMM_HPP

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <type_traits>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(SEQ2SEQ_USE_DNNL)
#include <oneapi/dnnl/dnnl.h>
#endif

namespace seq2seq::detail {

enum class Op { N, T };

/// Products with fewer multiply-adds stay on Eigen's expression path (its buffers then fit the
/// 128 KiB it takes from the stack, so they do not allocate either).
constexpr Eigen::Index kDriverMinWork = Eigen::Index(48) * 48 * 48;
/// Products with fewer multiply-adds run on one thread.
constexpr Eigen::Index kParallelMinWork = Eigen::Index(1) << 21;

/// A grow-only aligned buffer (one per thread and scalar type).
template <typename Scalar>
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { Eigen::internal::aligned_free(data_); }
  Scalar* get(std::size_t n) {
    if (n > size_) {
      Eigen::internal::aligned_free(data_);
      data_ = nullptr;
      size_ = 0;
      data_ = static_cast<Scalar*>(Eigen::internal::aligned_malloc(n * sizeof(Scalar)));
      size_ = n;
    }
    return data_;
  }

 private:
  Scalar* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Eigen's cache blocking with packing buffers from this thread's ScratchBuffer.
template <typename Scalar>
class PersistentBlocking : public Eigen::internal::level3_blocking<Scalar, Scalar> {
 public:
  PersistentBlocking(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
    Eigen::Index kc = depth, mc = rows, nc = cols;
    Eigen::internal::computeProductBlockingSizes<Scalar, Scalar, 1, Eigen::Index>(kc, mc, nc, 1);
    this->m_kc = kc;
    this->m_mc = mc;
    this->m_nc = nc;
    // The B block may be packed with padding up to the kernel's nr columns; add slack.
    const std::size_t size_a = static_cast<std::size_t>(kc * mc);
    const std::size_t size_b = static_cast<std::size_t>(kc * (nc + 16));
    thread_local ScratchBuffer<Scalar> buffer;
    Scalar* base = buffer.get(size_a + size_b + 64);
    this->m_blockA = base;
    this->m_blockB = base + ((size_a + 15) / 16) * 16;
  }
};

/// C(rows x cols) += op(A)(rows x depth) * op(B)(depth x cols) on raw column-major storage, one thread.
template <typename Scalar, int LhsOrder, int RhsOrder>
void gemm_kernel(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth, const Scalar* a, Eigen::Index lda,
                 const Scalar* b, Eigen::Index ldb, Scalar* c, Eigen::Index ldc) {
  if (rows <= 0 || cols <= 0 || depth <= 0) return;
  PersistentBlocking<Scalar> blocking(rows, cols, depth);
  Eigen::internal::general_matrix_matrix_product<Eigen::Index, Scalar, LhsOrder, false, Scalar, RhsOrder, false,
                                                 Eigen::ColMajor, 1>::run(rows, cols, depth, a, lda, b, ldb, c, 1, ldc,
                                                                          Scalar(1), blocking, nullptr);
}

template <typename Scalar, int LhsOrder, int RhsOrder>
void gemm_driver(Eigen::Index M, Eigen::Index N, Eigen::Index K, const Scalar* a, Eigen::Index lda, const Scalar* b,
                 Eigen::Index ldb, Scalar* c, Eigen::Index ldc) {
  int threads = 1;
#if defined(_OPENMP)
  if (M * N * K >= kParallelMinWork && !omp_in_parallel()) threads = std::max(1, Eigen::nbThreads());
#endif
  if (threads <= 1) {
    gemm_kernel<Scalar, LhsOrder, RhsOrder>(M, N, K, a, lda, b, ldb, c, ldc);
    return;
  }
#if defined(_OPENMP)
  // Split the larger dimension of C; row blocks are multiples of 48 (the AVX-512 float kernel's mr).
  const bool by_rows = M >= N;
  const Eigen::Index extent = by_rows ? M : N;
  const Eigen::Index quantum = by_rows ? 48 : 8;
#pragma omp parallel num_threads(threads)
  {
    const Eigen::Index t = omp_get_thread_num(), nt = omp_get_num_threads();
    const Eigen::Index per = ((extent + nt - 1) / nt + quantum - 1) / quantum * quantum;
    const Eigen::Index begin = std::min(extent, t * per), end = std::min(extent, begin + per);
    if (end > begin) {
      if (by_rows) {
        const Scalar* a_part = LhsOrder == Eigen::ColMajor ? a + begin : a + begin * lda;
        gemm_kernel<Scalar, LhsOrder, RhsOrder>(end - begin, N, K, a_part, lda, b, ldb, c + begin, ldc);
      } else {
        const Scalar* b_part = RhsOrder == Eigen::ColMajor ? b + begin * ldb : b + begin;
        gemm_kernel<Scalar, LhsOrder, RhsOrder>(M, end - begin, K, a, lda, b_part, ldb, c + begin * ldc, ldc);
      }
    }
  }
#endif
}

/// C = op(A) op(B) (accumulate = false) or C += op(A) op(B) (accumulate = true). A, B, C are
/// column-major with unit inner stride (Matrix, Block of whole columns, Ref, Map).
template <typename DA, typename DB, typename DC>
void gemm(Op opa, const DA& A, Op opb, const DB& B, DC&& C, bool accumulate) {
  using Scalar = typename std::decay_t<DC>::Scalar;
  static_assert(std::is_same<typename DA::Scalar, Scalar>::value && std::is_same<typename DB::Scalar, Scalar>::value,
                "seq2seq::detail::gemm: operands must share the Scalar type");
  const Eigen::Index M = C.rows(), N = C.cols();
  const Eigen::Index K = opa == Op::N ? A.cols() : A.rows();
  [[maybe_unused]] const Eigen::Index work = M * N * K;
  [[maybe_unused]] const bool strided = A.innerStride() == 1 && B.innerStride() == 1 && C.innerStride() == 1;
#if defined(SEQ2SEQ_USE_DNNL)
  if constexpr (std::is_same<Scalar, float>::value) {
    if (work >= kDriverMinWork && strided && N > 1) {
      // dnnl_sgemm is row-major: a column-major X is the row-major X^T, so C^T = op(B)^T op(A)^T.
      const dnnl_status_t st =
          dnnl_sgemm(opb == Op::N ? 'N' : 'T', opa == Op::N ? 'N' : 'T', N, M, K, 1.0f, B.data(), B.outerStride(),
                     A.data(), A.outerStride(), accumulate ? 1.0f : 0.0f, C.data(), C.outerStride());
      if (st != dnnl_success) throw std::runtime_error("seq2seq: dnnl_sgemm failed");
      return;
    }
  }
#endif
#if !defined(EIGEN_USE_BLAS)
  if (work >= kDriverMinWork && strided && N > 1) {
    if (!accumulate) C.setZero();
    Scalar* c = C.data();
    const Eigen::Index ldc = C.outerStride();
    if (opa == Op::N && opb == Op::N)
      gemm_driver<Scalar, Eigen::ColMajor, Eigen::ColMajor>(M, N, K, A.data(), A.outerStride(), B.data(),
                                                            B.outerStride(), c, ldc);
    else if (opa == Op::N)
      gemm_driver<Scalar, Eigen::ColMajor, Eigen::RowMajor>(M, N, K, A.data(), A.outerStride(), B.data(),
                                                            B.outerStride(), c, ldc);
    else if (opb == Op::N)
      gemm_driver<Scalar, Eigen::RowMajor, Eigen::ColMajor>(M, N, K, A.data(), A.outerStride(), B.data(),
                                                            B.outerStride(), c, ldc);
    else
      gemm_driver<Scalar, Eigen::RowMajor, Eigen::RowMajor>(M, N, K, A.data(), A.outerStride(), B.data(),
                                                            B.outerStride(), c, ldc);
    return;
  }
#endif
  if (opa == Op::N && opb == Op::N) {
    if (accumulate) C.noalias() += A * B;
    else C.noalias() = A * B;
  } else if (opa == Op::N) {
    if (accumulate) C.noalias() += A * B.transpose();
    else C.noalias() = A * B.transpose();
  } else if (opb == Op::N) {
    if (accumulate) C.noalias() += A.transpose() * B;
    else C.noalias() = A.transpose() * B;
  } else {
    if (accumulate) C.noalias() += A.transpose() * B.transpose();
    else C.noalias() = A.transpose() * B.transpose();
  }
}

}  // namespace seq2seq::detail

#endif  // SEQ2SEQ_DETAIL_GEMM_HPP

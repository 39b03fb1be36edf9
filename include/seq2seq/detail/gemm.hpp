// seq2seq: the one place where the library multiplies large matrices.
//
// Backends: Eigen's own kernels (default), or oneDNN when compiled with SEQ2SEQ_USE_DNNL (CMake:
// -DSEQ2SEQ_GEMM_BACKEND=dnnl; float, large products): its JIT sgemm, and for products with a
// transposed left operand its matmul primitive (dnnl_matmul.hpp), whichever is faster there.
// OpenBLAS comes in through Eigen itself (EIGEN_USE_BLAS; -DSEQ2SEQ_GEMM_BACKEND=openblas). With
// oneDNN and set_bf16_products(true), the float products round their operands to bf16 and run
// oneDNN's bf16 matmul instead (bf16_products.hpp).
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
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif
#include "bf16_products.hpp"
#include "dnnl_matmul.hpp"
#include "dnnl_threads.hpp"

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
      if (bf16_products()) {
        bf16_gemm(opa == Op::T, A.data(), A.rows(), A.cols(), A.outerStride(), opb == Op::T, B.data(), B.rows(),
                  B.cols(), B.outerStride(), C.data(), M, N, C.outerStride(), accumulate);
        return;
      }
      if (opa == Op::T) {
        // op(A) = A^T (backward's W^T dGates, U^T dGates, the softmax's W^T dLogits): oneDNN's
        // matmul, through plans made once per shape (dnnl_matmul.hpp). On these products
        // dnnl_sgemm reaches 93-99 GFLOP/s on one core and 126-173 on two, the matmul 99-106 and
        // 170-215.
        dnnl_matmul(dnnl::memory::data_type::f32, true, A.data(), A.outerStride(), opb == Op::T, B.data(),
                    B.outerStride(), C.data(), M, N, K, C.outerStride(), accumulate);
        return;
      }
      // op(A) = A: dnnl_sgemm, 3-25% faster than the matmul on the forward products (W X, U h,
      // the softmax's W h). On the weight gradients (dGates X^T) each wins some shapes; the whole
      // step measured fastest with all of them here (bench/README, "oneDNN's two products").
      // dnnl_sgemm is row-major: a column-major X is the row-major X^T, so C^T = op(B)^T A^T.
      const DnnlThreadScope threads;
      const dnnl_status_t st = dnnl_sgemm(opb == Op::N ? 'N' : 'T', 'N', N, M, K, 1.0f, B.data(), B.outerStride(),
                                          A.data(), A.outerStride(), accumulate ? 1.0f : 0.0f, C.data(),
                                          C.outerStride());
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

/// Whether the recurrence packs U once (RecurrentProduct below): on with Eigen's kernels; with
/// OpenBLAS there is no packed interface; with oneDNN, oneDNN's product at every step is the
/// default and -DSEQ2SEQ_PACKED_RECURRENCE=1 switches to Eigen's kernel over a once-packed U.
#if !defined(SEQ2SEQ_PACKED_RECURRENCE)
#if defined(EIGEN_USE_BLAS) || defined(SEQ2SEQ_USE_DNNL)
#define SEQ2SEQ_PACKED_RECURRENCE 0
#else
#define SEQ2SEQ_PACKED_RECURRENCE 1
#endif
#endif

/// The recurrence's product, C += op(A) B_t for t = 1..T with the same A and B_t of the same
/// width (U h_{t-1} in forward, U^T dGates_t in backward). `gemm` would pack A for Eigen's kernel at
/// every step, and A (4H x H) is the large operand; here it is packed once, when the object is
/// made, and each step packs only its small B_t (depth x cols) and runs the kernel over the packed
/// row blocks, split across Eigen::nbThreads() OpenMP threads. In a microbenchmark on this machine
/// (under load, so indicative only) that made the step 1.1-1.5x faster than `gemm` for H >= 256
/// and B >= 32; bench_lstm measures the whole cell.
///
/// The packed copy lives in a grow-only buffer of the calling thread (no allocation once it has
/// reached its size), so at most one RecurrentProduct may be alive per thread: a layer's
/// recurrence finishes before the next layer's starts. A second one on the same thread throws.
/// Products that are small, one column wide, wider than one cache block, or built for another
/// backend (OpenBLAS, oneDNN) fall back to `gemm` at every step.
template <typename Scalar>
class RecurrentProduct {
 public:
  template <typename DA>
  RecurrentProduct(Op op, const DA& A, Eigen::Index cols)
      : op_(op),
        a_(A.data()),
        lda_(A.outerStride()),
        rows_(op == Op::N ? A.rows() : A.cols()),
        depth_(op == Op::N ? A.cols() : A.rows()),
        cols_(cols) {
    static_assert(std::is_same<typename DA::Scalar, Scalar>::value, "seq2seq::detail::RecurrentProduct: Scalar mismatch");
    if (A.innerStride() != 1) throw std::logic_error("seq2seq: RecurrentProduct: A must have unit inner stride");
#if defined(SEQ2SEQ_USE_DNNL)
    // bf16 products: A rounded once here, not at every step.
    if constexpr (std::is_same<Scalar, float>::value) {
      if (bf16_products() && cols > 1 && rows_ * cols * depth_ >= kDriverMinWork) {
        a_bf16_.resize(static_cast<std::size_t>(A.rows() * A.cols()));
        round_to_bf16(A.data(), A.rows(), A.cols(), lda_, a_bf16_.data());
      }
    }
#endif
#if SEQ2SEQ_PACKED_RECURRENCE
    packed_ = cols > 1 && rows_ * cols * depth_ >= kDriverMinWork;
    if (!packed_) return;
    Eigen::Index kc = depth_, mc = rows_, nc = cols;
    Eigen::internal::computeProductBlockingSizes<Scalar, Scalar, 1, Eigen::Index>(kc, mc, nc, 1);
    if (nc < cols) {  // a right side wider than one cache block: the general driver is better
      packed_ = false;
      return;
    }
    kc_ = kc;
    threads_ = 1;
#if defined(_OPENMP)
    if (rows_ * cols * depth_ >= kParallelMinWork && !omp_in_parallel()) threads_ = std::max(1, Eigen::nbThreads());
#endif
    // At least one row block per thread, each a multiple of the kernel's mr rows.
    const Eigen::Index mr = Traits::mr;
    const Eigen::Index per_thread = ((rows_ + threads_ - 1) / threads_ + mr - 1) / mr * mr;
    mc_ = std::max(mr, std::min(mc, per_thread));
    State& st = state();
    if (st.in_use) throw std::logic_error("seq2seq: RecurrentProduct: one is already alive on this thread");
    st.in_use = true;
    Scalar* p = st.lhs.get(static_cast<std::size_t>(rows_ * depth_) + 64);
    blocks_ = p;
    if (op == Op::N)
      pack_lhs<Eigen::ColMajor>(p);
    else
      pack_lhs<Eigen::RowMajor>(p);
#endif
  }
  RecurrentProduct(const RecurrentProduct&) = delete;
  RecurrentProduct& operator=(const RecurrentProduct&) = delete;
  ~RecurrentProduct() {
    if (packed_) state().in_use = false;
  }

  /// C (rows x cols) += op(A) B, B depth x cols; both column-major with unit inner stride.
  template <typename DB, typename DC>
  void add(const DB& B, DC&& C) const {
    if (B.rows() != depth_ || B.cols() != cols_ || C.rows() != rows_ || C.cols() != cols_)
      throw std::logic_error("seq2seq: RecurrentProduct::add: operand shapes differ from construction");
#if defined(SEQ2SEQ_USE_DNNL)
    if constexpr (std::is_same<Scalar, float>::value) {
      if (!a_bf16_.empty()) {
        if (B.innerStride() != 1 || C.innerStride() != 1)
          throw std::logic_error("seq2seq: RecurrentProduct::add: operands must have unit inner stride");
        bf16_gemm(op_ == Op::T, nullptr, op_ == Op::N ? rows_ : depth_, op_ == Op::N ? depth_ : rows_, 0, false,
                  B.data(), depth_, cols_, B.outerStride(), C.data(), rows_, cols_, C.outerStride(), true,
                  a_bf16_.data());
        return;
      }
    }
#endif
    if (!packed_) {
      const Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>, 0, Eigen::OuterStride<>> A(
          a_, op_ == Op::N ? rows_ : depth_, op_ == Op::N ? depth_ : rows_, Eigen::OuterStride<>(lda_));
      gemm(op_, A, Op::N, B, C, true);
      return;
    }
#if SEQ2SEQ_PACKED_RECURRENCE
    if (B.innerStride() != 1 || C.innerStride() != 1)
      throw std::logic_error("seq2seq: RecurrentProduct::add: operands must have unit inner stride");
    // B packed once per step, k-block by k-block, shared by the threads.
    using RhsMapper = Eigen::internal::const_blas_data_mapper<Scalar, Eigen::Index, Eigen::ColMajor>;
    Eigen::internal::gemm_pack_rhs<Scalar, Eigen::Index, RhsMapper, Traits::nr, Eigen::ColMajor> pack_rhs;
    const RhsMapper rhs(B.data(), B.outerStride());
    Scalar* packed_b = state().rhs.get(static_cast<std::size_t>(depth_ * (cols_ + Traits::nr)) + 64);
    {
      Scalar* q = packed_b;
      for (Eigen::Index k2 = 0; k2 < depth_; k2 += kc_) {
        const Eigen::Index kc = std::min(k2 + kc_, depth_) - k2;
        pack_rhs(q, rhs.getSubMapper(k2, 0), kc, cols_);
        q += kc * cols_;
      }
    }
    Scalar* c = C.data();
    const Eigen::Index ldc = C.outerStride();
    const Eigen::Index row_blocks = (rows_ + mc_ - 1) / mc_;
    const auto run_blocks = [&](Eigen::Index first, Eigen::Index last) {
      using ResMapper = Eigen::internal::blas_data_mapper<Scalar, Eigen::Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
      Eigen::internal::gebp_kernel<Scalar, Scalar, Eigen::Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
      const ResMapper res(c, ldc);
      for (Eigen::Index blk = first; blk < last; ++blk) {
        const Eigen::Index i2 = blk * mc_, mc = std::min(i2 + mc_, rows_) - i2;
        const Scalar* a = blocks_ + i2 * depth_;  // row block i2 starts after i2 full rows of packed data
        const Scalar* b = packed_b;
        for (Eigen::Index k2 = 0; k2 < depth_; k2 += kc_) {
          const Eigen::Index kc = std::min(k2 + kc_, depth_) - k2;
          gebp(res.getSubMapper(i2, 0), a, b, mc, kc, cols_, Scalar(1));
          a += mc * kc;
          b += kc * cols_;
        }
      }
    };
    if (threads_ <= 1 || row_blocks < 2) {
      run_blocks(0, row_blocks);
      return;
    }
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads_)
    {
      const Eigen::Index t = omp_get_thread_num(), nt = omp_get_num_threads();
      run_blocks(row_blocks * t / nt, row_blocks * (t + 1) / nt);
    }
#endif
#endif
  }

 private:
  using Traits = Eigen::internal::gebp_traits<Scalar, Scalar>;

  /// The thread's buffers: the packed A, and the packed B of the current step.
  struct State {
    ScratchBuffer<Scalar> lhs, rhs;
    bool in_use = false;
  };
  static State& state() {
    thread_local State s;
    return s;
  }

  /// Packs op(A) in row blocks of mc_ rows (each block: its k-blocks one after another), the
  /// layout Eigen's own driver gives one (i2, k2) block at a time.
  template <int Order>
  void pack_lhs(Scalar* p) const {
    using LhsMapper = Eigen::internal::const_blas_data_mapper<Scalar, Eigen::Index, Order>;
    Eigen::internal::gemm_pack_lhs<Scalar, Eigen::Index, LhsMapper, Traits::mr, Traits::LhsProgress,
                                   typename Traits::LhsPacket4Packing, Order>
        pack;
    const LhsMapper lhs(a_, lda_);
    for (Eigen::Index i2 = 0; i2 < rows_; i2 += mc_) {
      const Eigen::Index mc = std::min(i2 + mc_, rows_) - i2;
      for (Eigen::Index k2 = 0; k2 < depth_; k2 += kc_) {
        const Eigen::Index kc = std::min(k2 + kc_, depth_) - k2;
        pack(p, lhs.getSubMapper(i2, k2), kc, mc);
        p += mc * kc;
      }
    }
  }

  Op op_;
  const Scalar* a_;
#if defined(SEQ2SEQ_USE_DNNL)
  std::vector<std::uint16_t> a_bf16_;  // A rounded to bf16 (bf16 products only)
#endif
  Eigen::Index lda_, rows_, depth_, cols_;
  bool packed_ = false;
  Eigen::Index kc_ = 0, mc_ = 0;
  int threads_ = 1;
  const Scalar* blocks_ = nullptr;
};

/// A weight matrix A (rows x depth) packed once for Eigen's GEBP kernel, for products
/// C += A B with many different B (decoding multiplies the same weights at every step). Unlike
/// RecurrentProduct it owns its packed copy, so any number of them may exist; each product packs
/// only B (depth x N, in chunks of at most `max_chunk` columns) and runs the kernel over A's
/// packed row blocks, split over Eigen::nbThreads() OpenMP threads when large. Same kernel and
/// blocking as `gemm`'s Eigen path, so the same results up to the order of the depth blocks.
template <typename Scalar>
class PackedMatrix {
 public:
  PackedMatrix() = default;
  using ConstRef = Eigen::Ref<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>>;
  explicit PackedMatrix(const ConstRef& A) { assign(A); }
  /// Packs A (rows x depth), reusing this object's storage when it is large enough (a Ref copies
  /// only an expression that is not a column-major block).
  void assign(const ConstRef& M) {
    rows_ = M.rows();
    depth_ = M.cols();
    Eigen::Index kc = depth_, mc = rows_, nc = kMaxChunk;
    Eigen::internal::computeProductBlockingSizes<Scalar, Scalar, 1, Eigen::Index>(kc, mc, nc, 1);
    kc_ = std::max<Eigen::Index>(1, kc);
    // Row blocks of Eigen's size, but at least two when there are rows enough (two threads).
    const Eigen::Index half = ((rows_ + 1) / 2 + Traits::mr - 1) / Traits::mr * Traits::mr;
    mc_ = std::max<Eigen::Index>(Traits::mr, std::min(mc, half) / Traits::mr * Traits::mr);
    chunk_ = std::max<Eigen::Index>(Traits::nr, std::min<Eigen::Index>(nc, kMaxChunk) / Traits::nr * Traits::nr);
    packed_.resize(static_cast<std::size_t>(rows_ * depth_) + 64);
    using LhsMapper = Eigen::internal::const_blas_data_mapper<Scalar, Eigen::Index, Eigen::ColMajor>;
    Eigen::internal::gemm_pack_lhs<Scalar, Eigen::Index, LhsMapper, Traits::mr, Traits::LhsProgress,
                                   typename Traits::LhsPacket4Packing, Eigen::ColMajor>
        pack;
    const LhsMapper lhs(M.data(), M.outerStride());
    Scalar* p = packed_.data();
    for (Eigen::Index i2 = 0; i2 < rows_; i2 += mc_) {
      const Eigen::Index mc2 = std::min(i2 + mc_, rows_) - i2;
      for (Eigen::Index k2 = 0; k2 < depth_; k2 += kc_) {
        const Eigen::Index kc2 = std::min(k2 + kc_, depth_) - k2;
        pack(p, lhs.getSubMapper(i2, k2), kc2, mc2);
        p += mc2 * kc2;
      }
    }
  }
  Eigen::Index rows() const { return rows_; }
  Eigen::Index cols() const { return depth_; }

  /// C (rows x N) += A B with B depth x N; both column-major with unit inner stride.
  template <typename DB, typename DC>
  void add(const DB& B, DC&& C) const {
    if (B.rows() != depth_ || C.rows() != rows_ || C.cols() != B.cols())
      throw std::logic_error("seq2seq: PackedMatrix::add: operand shapes do not match");
    if (B.innerStride() != 1 || C.innerStride() != 1)
      throw std::logic_error("seq2seq: PackedMatrix::add: operands must have unit inner stride");
    const Eigen::Index N = B.cols();
    if (N == 0 || rows_ == 0 || depth_ == 0) return;
    using RhsMapper = Eigen::internal::const_blas_data_mapper<Scalar, Eigen::Index, Eigen::ColMajor>;
    using ResMapper = Eigen::internal::blas_data_mapper<Scalar, Eigen::Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
    Eigen::internal::gemm_pack_rhs<Scalar, Eigen::Index, RhsMapper, Traits::nr, Eigen::ColMajor> pack_rhs;
    thread_local ScratchBuffer<Scalar> rhs_buffer;
    const Eigen::Index chunk = std::min(chunk_, N);
    Scalar* packed_b = rhs_buffer.get(static_cast<std::size_t>(depth_ * (chunk + Traits::nr)) + 64);
    const Eigen::Index row_blocks = (rows_ + mc_ - 1) / mc_;
    int threads = 1;
#if defined(_OPENMP)
    if (rows_ * N * depth_ >= kParallelMinWork && !omp_in_parallel()) threads = std::max(1, Eigen::nbThreads());
#endif
    for (Eigen::Index j2 = 0; j2 < N; j2 += chunk) {
      const Eigen::Index nc = std::min(j2 + chunk, N) - j2;
      const RhsMapper rhs(B.data() + j2 * B.outerStride(), B.outerStride());
      {
        Scalar* q = packed_b;
        for (Eigen::Index k2 = 0; k2 < depth_; k2 += kc_) {
          const Eigen::Index kc = std::min(k2 + kc_, depth_) - k2;
          pack_rhs(q, rhs.getSubMapper(k2, 0), kc, nc);
          q += kc * nc;
        }
      }
      Scalar* c = C.data() + j2 * C.outerStride();
      const Eigen::Index ldc = C.outerStride();
      const auto run_blocks = [&](Eigen::Index first, Eigen::Index last) {
        Eigen::internal::gebp_kernel<Scalar, Scalar, Eigen::Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
        const ResMapper res(c, ldc);
        for (Eigen::Index blk = first; blk < last; ++blk) {
          const Eigen::Index i2 = blk * mc_, mc = std::min(i2 + mc_, rows_) - i2;
          const Scalar* a = packed_.data() + i2 * depth_;
          const Scalar* b = packed_b;
          for (Eigen::Index k2 = 0; k2 < depth_; k2 += kc_) {
            const Eigen::Index kc = std::min(k2 + kc_, depth_) - k2;
            gebp(res.getSubMapper(i2, 0), a, b, mc, kc, nc, Scalar(1));
            a += mc * kc;
            b += kc * nc;
          }
        }
      };
      if (threads <= 1 || row_blocks < 2) {
        run_blocks(0, row_blocks);
      } else {
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
        {
          const Eigen::Index t = omp_get_thread_num(), nt = omp_get_num_threads();
          run_blocks(row_blocks * t / nt, row_blocks * (t + 1) / nt);
        }
#endif
      }
    }
  }

 private:
  using Traits = Eigen::internal::gebp_traits<Scalar, Scalar>;
  static constexpr Eigen::Index kMaxChunk = 256;

  Eigen::Index rows_ = 0, depth_ = 0, kc_ = 1, mc_ = 1, chunk_ = 1;
  std::vector<Scalar, Eigen::aligned_allocator<Scalar>> packed_;
};

}  // namespace seq2seq::detail

#endif  // SEQ2SEQ_DETAIL_GEMM_HPP

// seq2seq: version macros, the index and matrix types, and the size checks every layer uses.
#ifndef SEQ2SEQ_CONFIG_HPP
#define SEQ2SEQ_CONFIG_HPP

#include <Eigen/Core>
#include <stdexcept>
#include <string>
#include <utility>

#include "detail/require.hpp"

#define SEQ2SEQ_VERSION_MAJOR 0
#define SEQ2SEQ_VERSION_MINOR 1
#define SEQ2SEQ_VERSION_PATCH 0
#define SEQ2SEQ_VERSION_STRING "0.1.0"

namespace seq2seq {

using Index = Eigen::Index;
/// A size chosen at run time (Eigen::Dynamic): any size template argument of seq2seq may be it.
constexpr int Dynamic = Eigen::Dynamic;

/// The backend of the large float products this translation unit is compiled for (detail/gemm.hpp):
/// "oneDNN" with SEQ2SEQ_USE_DNNL (CMake: link seq2seq::dnnl), "OpenBLAS" with EIGEN_USE_BLAS,
/// else "Eigen" (Eigen's own kernels, the default).
constexpr const char* gemm_backend() noexcept {
#if defined(SEQ2SEQ_USE_DNNL)
  return "oneDNN";
#elif defined(EIGEN_USE_BLAS)
  return "OpenBLAS";
#else
  return "Eigen";
#endif
}

/// Dense column-major matrix; every activation and parameter uses it (columns are batch entries).
template <typename Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

template <typename Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// Thrown when a layer is handed NaN or Inf values (LSTMCell::forward checks its input X). It is a
/// std::invalid_argument, so code that catches bad input catches it too; the Trainer (train.hpp)
/// catches it by this type: inside a model whose inputs are token ids, a non-finite layer input can
/// only come from non-finite weights or an overflow, so it counts as a non-finite training step.
class NonFiniteInputError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

/// The run-time size of a template size argument: the fixed value, or `runtime` when Dynamic.
/// Throws when a fixed size and a different run-time request disagree.
inline Index resolve_size(int compile_time, Index runtime, const char* what) {
  if (compile_time == Dynamic) {
    if (runtime <= 0)
      throw std::invalid_argument(std::string("seq2seq: ") + what + " must be positive, got " +
                                  std::to_string(runtime));
    return runtime;
  }
  if (runtime != compile_time && runtime != Dynamic)
    throw std::invalid_argument(std::string("seq2seq: ") + what + " is fixed at " + std::to_string(compile_time) +
                                " by the template argument, but " + std::to_string(runtime) + " was requested");
  return compile_time;
}

/// Grow-only resize: keeps the allocation when the matrix already has the requested shape, so a
/// steady state of same-shaped batches makes no heap allocation.
template <typename Derived>
inline void ensure_shape(Eigen::PlainObjectBase<Derived>& m, Index rows, Index cols) {
  if (m.rows() != rows || m.cols() != cols) m.resize(rows, cols);
}

}  // namespace detail
}  // namespace seq2seq

#endif  // SEQ2SEQ_CONFIG_HPP

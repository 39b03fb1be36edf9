// seq2seq: version macros and compile-time size arithmetic that carries Eigen::Dynamic.
#ifndef SEQ2SEQ_CONFIG_HPP
#define SEQ2SEQ_CONFIG_HPP

#include <Eigen/Core>
#include <stdexcept>
#include <string>
#include <utility>

#define SEQ2SEQ_VERSION_MAJOR 0
#define SEQ2SEQ_VERSION_MINOR 1
#define SEQ2SEQ_VERSION_PATCH 0
#define SEQ2SEQ_VERSION_STRING "0.1.0"

namespace seq2seq {

using Index = Eigen::Index;
constexpr int Dynamic = Eigen::Dynamic;

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

/// a * b at compile time, Dynamic if either is Dynamic.
constexpr int size_mul(int a, int b) { return (a == Eigen::Dynamic || b == Eigen::Dynamic) ? Eigen::Dynamic : a * b; }

/// a + b at compile time, Dynamic if either is Dynamic.
constexpr int size_add(int a, int b) { return (a == Eigen::Dynamic || b == Eigen::Dynamic) ? Eigen::Dynamic : a + b; }

/// The run-time size of a template size argument: the fixed value, or `runtime` when Dynamic.
/// Throws when a fixed size and a different run-time request disagree.
inline Index resolve_size(int compile_time, Index runtime, const char* what) {
  if (compile_time == Eigen::Dynamic) {
    if (runtime <= 0)
      throw std::invalid_argument(std::string("seq2seq: ") + what + " must be positive, got " +
                                  std::to_string(runtime));
    return runtime;
  }
  if (runtime != compile_time && runtime != Eigen::Dynamic)
    throw std::invalid_argument(std::string("seq2seq: ") + what + " is fixed at " + std::to_string(compile_time) +
                                " by the template argument, but " + std::to_string(runtime) + " was requested");
  return compile_time;
}

/// Throws std::invalid_argument with the seq2seq prefix when `ok` is false. Stays on in Release.
inline void require(bool ok, const char* message) {
  if (!ok) throw std::invalid_argument(std::string("seq2seq: ") + message);
}
inline void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("seq2seq: " + message);
}
/// The same with a message built only on failure (`make_message()` returns a std::string), so
/// checks on hot paths allocate nothing when they pass.
template <typename MakeMessage, typename = decltype(std::string(std::declval<MakeMessage&>()()))>
inline void require(bool ok, MakeMessage&& make_message) {
  if (!ok) throw std::invalid_argument("seq2seq: " + make_message());
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

// seq2seq: parameters as {value, grad} pairs, their names, and the helpers built on the visitor.
#ifndef SEQ2SEQ_PARAM_HPP
#define SEQ2SEQ_PARAM_HPP

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "config.hpp"
#include "rng.hpp"

namespace seq2seq {

/// A trainable tensor and the gradient accumulated for it (same shape). Vectors are n x 1.
template <typename Scalar>
struct Param {
  Matrix<Scalar> value;
  Matrix<Scalar> grad;

  void resize(Index rows, Index cols) {
    value.setZero(rows, cols);
    grad.setZero(rows, cols);
  }
  Index size() const { return value.size(); }
};

/// A dotted parameter name (`encoder.layer0.W`) built on the stack, so visiting every parameter
/// allocates nothing (the optimizer visits them on every step).
class ParamName {
 public:
  static constexpr std::size_t capacity = 119;

  ParamName() = default;
  explicit ParamName(std::string_view root) { append(root); }

  /// `prefix.part`, or `part` when this name is empty.
  ParamName child(std::string_view part) const {
    ParamName out = *this;
    if (out.len_ > 0) out.append(".");
    out.append(part);
    return out;
  }
  /// `prefix.partN`, e.g. child("layer", 2) == "layer2".
  ParamName child(std::string_view part, Index n) const {
    char digits[24];
    int len = 0;
    unsigned long long v = static_cast<unsigned long long>(n < 0 ? 0 : n);
    do {
      digits[len++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    ParamName out = child(part);
    char rev[24];
    for (int i = 0; i < len; ++i) rev[i] = digits[len - 1 - i];
    out.append(std::string_view(rev, static_cast<std::size_t>(len)));
    return out;
  }

  std::string_view view() const { return std::string_view(buf_.data(), len_); }
  std::string str() const { return std::string(view()); }
  bool empty() const { return len_ == 0; }

 private:
  void append(std::string_view s) {
    detail::require(len_ + s.size() <= capacity, [&] {
      return "parameter name longer than " + std::to_string(capacity) + " characters: " + std::string(view()) + "." +
             std::string(s);
    });
    std::memcpy(buf_.data() + len_, s.data(), s.size());
    len_ += s.size();
  }
  std::array<char, capacity + 1> buf_{};
  std::size_t len_ = 0;
};

/// Sets every gradient to zero.
template <typename Model>
void zero_grad(Model& model) {
  model.visit_parameters([](const ParamName&, auto& p) { p.grad.setZero(); });
}

/// Number of trainable scalars.
template <typename Model>
Index parameter_count(Model& model) {
  Index n = 0;
  model.visit_parameters([&](const ParamName&, auto& p) { n += p.value.size(); });
  return n;
}

/// Every parameter uniform in [-range, range] (the paper: 0.08), in visitor order.
template <typename Model>
void init_uniform(Model& model, Rng& rng, double range = 0.08) {
  model.visit_parameters([&](const ParamName&, auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    for (Index j = 0; j < p.value.cols(); ++j)
      for (Index i = 0; i < p.value.rows(); ++i) p.value(i, j) = static_cast<S>(rng.uniform(-range, range));
  });
}

/// Global L2 norm of every gradient.
template <typename Model>
double gradient_norm(Model& model) {
  double s = 0;
  model.visit_parameters([&](const ParamName&, auto& p) { s += static_cast<double>(p.grad.squaredNorm()); });
  return std::sqrt(s);
}

/// True when every gradient element is finite.
template <typename Model>
bool gradients_finite(Model& model) {
  bool ok = true;
  model.visit_parameters([&](const ParamName&, auto& p) { ok = ok && p.grad.allFinite(); });
  return ok;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_PARAM_HPP

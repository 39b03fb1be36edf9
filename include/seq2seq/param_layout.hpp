// seq2seq: the parameter layout of a model (names, shapes and scalar size in visitor order), the
// one description the optimizer, the checkpoints and data-parallel training compare models by.
#ifndef SEQ2SEQ_PARAM_LAYOUT_HPP
#define SEQ2SEQ_PARAM_LAYOUT_HPP

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "detail/fnv1a.hpp"
#include "param.hpp"

namespace seq2seq {

/// What `visit_parameters` shows of a model, in its order: for each parameter its dotted name, its
/// shape and the bytes of its scalar. Two models can exchange optimizer state, checkpoints and
/// gradients exactly when their layouts are equal. `signature()` hashes the whole layout (FNV-1a 64
/// of every name, rows, cols and scalar size), so processes can compare layouts by one number.
struct ParameterLayout {
  struct Entry {
    std::string name;
    Index rows = 0, cols = 0;
    std::size_t scalar_bytes = 0;
  };
  std::vector<Entry> entries;

  std::size_t size() const { return entries.size(); }
  bool empty() const { return entries.empty(); }
  const Entry& operator[](std::size_t k) const { return entries[k]; }
  /// Scalars over every parameter.
  std::int64_t scalars() const {
    std::int64_t n = 0;
    for (const Entry& e : entries) n += static_cast<std::int64_t>(e.rows) * e.cols;
    return n;
  }
  std::uint64_t signature() const {
    std::uint64_t h = detail::fnv1a64_offset_basis;
    for (const Entry& e : entries) h = mix(h, e.name, e.rows, e.cols, e.scalar_bytes);
    return h;
  }

  /// One step of `signature()` (also used by `parameter_signature`, which allocates nothing).
  static std::uint64_t mix(std::uint64_t h, std::string_view name, Index rows, Index cols, std::size_t scalar_bytes) {
    h = detail::fnv1a64(name.data(), name.size(), h);
    h = detail::fnv1a64_value(static_cast<std::int64_t>(rows), h);
    h = detail::fnv1a64_value(static_cast<std::int64_t>(cols), h);
    return detail::fnv1a64_value(static_cast<std::int64_t>(scalar_bytes), h);
  }
};

/// The layout of `model`. Throws std::invalid_argument when two parameters share a name (`who`
/// names the caller in the message).
template <typename Model>
ParameterLayout parameter_layout(const Model& model, const char* who = "parameter_layout") {
  ParameterLayout out;
  std::set<std::string_view> seen;
  model.visit_parameters([&](const ParamName& name, const auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    out.entries.push_back({name.str(), p.value.rows(), p.value.cols(), sizeof(S)});
  });
  for (const auto& e : out.entries)
    detail::require(seen.insert(e.name).second,
                    [&] { return std::string(who) + ": the model has two parameters named '" + e.name + "'"; });
  return out;
}

/// parameter_layout(model).signature(), computed without allocating (every data-parallel step
/// compares it across processes).
template <typename Model>
std::uint64_t parameter_signature(const Model& model) {
  std::uint64_t h = detail::fnv1a64_offset_basis;
  model.visit_parameters([&](const ParamName& name, const auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    h = ParameterLayout::mix(h, name.view(), p.value.rows(), p.value.cols(), sizeof(S));
  });
  return h;
}

/// Throws std::invalid_argument, naming `who` and the first difference, unless `model` has exactly
/// the parameters of `layout` (count, order, names, shapes) and every gradient has its value's
/// shape (`state` names what the layout belongs to, in the message). Allocates nothing when it passes (the optimizer checks on every step).
template <typename Model>
void require_layout(const ParameterLayout& layout, const Model& model, const char* who, const char* state = "the state") {
  std::size_t k = 0;
  const auto fail = [&](const std::string& what) { detail::require(false, std::string(who) + ": " + what); };
  model.visit_parameters([&](const ParamName& name, const auto& p) {
    if (k >= layout.size())
      fail("the model now has more parameters than the " + std::to_string(layout.size()) + " " + state + " was made for (first new one: '" +
           name.str() + "'); its parameter list changed");
    const auto& e = layout[k];
    if (name.view() != std::string_view(e.name))
      fail("parameter " + std::to_string(k) + " is now '" + name.str() + "', it was '" + e.name +
           "'; the parameter list changed");
    if (p.value.rows() != e.rows || p.value.cols() != e.cols)
      fail("parameter '" + name.str() + "' is now " + std::to_string(p.value.rows()) + " x " + std::to_string(p.value.cols()) +
           ", " + state + " was made for " + std::to_string(e.rows) + " x " + std::to_string(e.cols));
    if (p.grad.rows() != p.value.rows() || p.grad.cols() != p.value.cols())
      fail("parameter '" + name.str() + "' has grad " + std::to_string(p.grad.rows()) + " x " + std::to_string(p.grad.cols()) +
           " but value " + std::to_string(p.value.rows()) + " x " + std::to_string(p.value.cols()));
    ++k;
  });
  if (k != layout.size())
    fail("the model now has " + std::to_string(k) + " parameters, " + state + " was made for " + std::to_string(layout.size()) +
         "; its parameter list changed");
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_PARAM_LAYOUT_HPP

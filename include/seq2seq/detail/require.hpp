// seq2seq: the argument checks every layer uses (std::invalid_argument with the "seq2seq: " prefix),
// without Eigen, so the text-handling headers (data/) can use them too.
#ifndef SEQ2SEQ_DETAIL_REQUIRE_HPP
#define SEQ2SEQ_DETAIL_REQUIRE_HPP

#include <stdexcept>
#include <string>
#include <utility>

namespace seq2seq {
namespace detail {

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

}  // namespace detail
}  // namespace seq2seq

#endif  // SEQ2SEQ_DETAIL_REQUIRE_HPP

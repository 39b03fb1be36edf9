// seq2seq: FNV-1a 64, the one hash of the library: checkpoint checksums (io/safetensors.hpp),
// parameter-layout signatures (param_layout.hpp) and the data-parallel replica checks.
#ifndef SEQ2SEQ_DETAIL_FNV1A_HPP
#define SEQ2SEQ_DETAIL_FNV1A_HPP

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace seq2seq {
namespace detail {

// h = 0xcbf29ce484222325; for each byte b: h = (h ^ b) * 0x100000001b3 (mod 2^64).
constexpr std::uint64_t fnv1a64_offset_basis = 0xcbf29ce484222325ull;
constexpr std::uint64_t fnv1a64_prime = 0x100000001b3ull;

/// FNV-1a 64 of n bytes, continuing from h (pass the previous result to hash in pieces).
inline std::uint64_t fnv1a64(const void* data, std::size_t n, std::uint64_t h = fnv1a64_offset_basis) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * fnv1a64_prime;
  return h;
}

/// FNV-1a 64 of the bytes of a trivially copyable value, continuing from h.
template <typename T>
std::uint64_t fnv1a64_value(const T& v, std::uint64_t h = fnv1a64_offset_basis) {
  static_assert(std::is_trivially_copyable_v<T>, "fnv1a64_value: trivially copyable values only");
  return fnv1a64(&v, sizeof(T), h);
}

}  // namespace detail
}  // namespace seq2seq

#endif  // SEQ2SEQ_DETAIL_FNV1A_HPP

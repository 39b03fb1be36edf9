// seq2seq: base64 (RFC 4648, standard alphabet, padded), for binary blobs in JSON metadata (the
// SentencePiece models inside a model file).
#ifndef SEQ2SEQ_DETAIL_BASE64_HPP
#define SEQ2SEQ_DETAIL_BASE64_HPP

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace seq2seq {
namespace detail {

/// `bytes` in base64 with '=' padding, no line breaks.
inline std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                            (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

/// The bytes of base64 `text` (standard alphabet, padded to a multiple of 4 characters, no
/// whitespace). Throws std::invalid_argument ("seq2seq: base64: ...") on anything else, including
/// non-zero bits after the last byte, so each byte string has exactly one accepted spelling.
inline std::string base64_decode(std::string_view text) {
  const auto fail = [](const std::string& what) { return std::invalid_argument("seq2seq: base64: " + what); };
  if (text.size() % 4 != 0)
    throw fail("length " + std::to_string(text.size()) + " is not a multiple of 4");
  const auto value = [&](char c, std::size_t at) -> std::uint32_t {
    if (c >= 'A' && c <= 'Z') return static_cast<std::uint32_t>(c - 'A');
    if (c >= 'a' && c <= 'z') return static_cast<std::uint32_t>(c - 'a' + 26);
    if (c >= '0' && c <= '9') return static_cast<std::uint32_t>(c - '0' + 52);
    if (c == '+') return 62;
    if (c == '/') return 63;
    throw fail("invalid character at offset " + std::to_string(at));
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const std::size_t pad = last ? (text[i + 3] == '=' ? (text[i + 2] == '=' ? 2 : 1) : 0) : 0;
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (k >= 4 - pad) continue;
      v |= value(c, i + k) << (18 - 6 * k);
    }
    out += static_cast<char>((v >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(v & 0xFF);
    if ((pad == 2 && (v & 0xFFFF) != 0) || (pad == 1 && (v & 0xFF) != 0))
      throw fail("non-zero padding bits at offset " + std::to_string(i));
  }
  return out;
}

}  // namespace detail
}  // namespace seq2seq

#endif  // SEQ2SEQ_DETAIL_BASE64_HPP

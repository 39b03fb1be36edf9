// seq2seq: strict UTF-8 decoding and encoding (RFC 3629), used by the tokenizer and the corpus reader.
#ifndef SEQ2SEQ_DATA_UTF8_HPP
#define SEQ2SEQ_DATA_UTF8_HPP

#include <cstddef>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace seq2seq {
namespace utf8 {

/// Where and why a byte string is not UTF-8. `offset` is the byte offset of the first byte of the
/// offending sequence (for a stray continuation byte, that byte itself).
struct Error {
  std::size_t offset = 0;
  std::string reason;
};

namespace detail {

inline std::string hex_byte(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(b));
  return buf;
}

inline std::string code_point_name(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

inline bool is_continuation(unsigned char b) { return (b & 0xC0u) == 0x80u; }

}  // namespace detail

/// Decodes the code point that starts at byte `pos` of `s` (pos < s.size()).
/// On success writes it to `cp` and returns its length in bytes (1..4). On failure returns 0 and,
/// when `error` is not null, fills it. Rejected, as RFC 3629 requires: stray continuation bytes,
/// the lead bytes 0xC0, 0xC1 and 0xF5..0xFF, truncated sequences, overlong encodings, the
/// surrogates U+D800..U+DFFF and code points above U+10FFFF.
inline std::size_t decode(std::string_view s, std::size_t pos, char32_t& cp, Error* error = nullptr) {
  auto fail = [&](std::string reason) -> std::size_t {
    if (error) *error = Error{pos, std::move(reason)};
    return 0;
  };
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80u) {
    cp = b0;
    return 1;
  }
  std::size_t len = 0;
  char32_t min_cp = 0;  // smallest code point that needs `len` bytes: anything below is overlong
  if (detail::is_continuation(b0)) return fail("unexpected continuation byte " + detail::hex_byte(b0));
  if ((b0 & 0xE0u) == 0xC0u) {
    len = 2, min_cp = 0x80, cp = b0 & 0x1Fu;
  } else if ((b0 & 0xF0u) == 0xE0u) {
    len = 3, min_cp = 0x800, cp = b0 & 0x0Fu;
  } else if ((b0 & 0xF8u) == 0xF0u) {
    len = 4, min_cp = 0x10000, cp = b0 & 0x07u;
  } else {
    return fail("invalid lead byte " + detail::hex_byte(b0));
  }
  for (std::size_t k = 1; k < len; ++k) {
    if (pos + k >= s.size())
      return fail("truncated " + std::to_string(len) + "-byte sequence (the text ends after " + std::to_string(k) +
                  (k == 1 ? " byte)" : " bytes)"));
    const auto b = static_cast<unsigned char>(s[pos + k]);
    if (!detail::is_continuation(b))
      return fail("truncated " + std::to_string(len) + "-byte sequence (byte " + detail::hex_byte(b) + " at offset " +
                  std::to_string(pos + k) + " is not a continuation byte)");
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min_cp)
    return fail("overlong " + std::to_string(len) + "-byte encoding of " + detail::code_point_name(cp));
  if (cp >= 0xD800 && cp <= 0xDFFF) return fail("surrogate code point " + detail::code_point_name(cp));
  if (cp > 0x10FFFF) return fail("code point " + detail::code_point_name(cp) + " above U+10FFFF");
  return len;
}

/// The first encoding error in `s`, or nothing when `s` is valid UTF-8.
inline std::optional<Error> find_error(std::string_view s) {
  Error e;
  char32_t cp = 0;
  for (std::size_t pos = 0; pos < s.size();) {
    // ASCII runs are by far the common case; skip them without decoding.
    if (static_cast<unsigned char>(s[pos]) < 0x80u) {
      ++pos;
      continue;
    }
    const std::size_t len = decode(s, pos, cp, &e);
    if (len == 0) return e;
    pos += len;
  }
  return std::nullopt;
}

/// "invalid UTF-8 at byte offset N: reason", the text of every UTF-8 error message.
inline std::string describe(const Error& e) {
  return "invalid UTF-8 at byte offset " + std::to_string(e.offset) + ": " + e.reason;
}

/// True when `s` is valid UTF-8.
inline bool is_valid(std::string_view s) { return !find_error(s).has_value(); }

/// Throws std::invalid_argument("seq2seq: invalid UTF-8 at byte offset N: reason") unless `s` is
/// valid UTF-8.
inline void validate(std::string_view s) {
  if (const auto e = find_error(s))
    throw std::invalid_argument("seq2seq: " + describe(*e));
}

/// Appends the UTF-8 encoding of `cp` (a Unicode scalar value: not a surrogate, <= U+10FFFF).
inline void append(std::string& out, char32_t cp) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    throw std::invalid_argument("seq2seq: cannot encode " + detail::code_point_name(cp) + " as UTF-8");
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// The UTF-8 encoding of `cp`.
inline std::string encode(char32_t cp) {
  std::string out;
  append(out, cp);
  return out;
}

}  // namespace utf8
}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_UTF8_HPP

// Tests of include/seq2seq/data/utf8.hpp: encoding, decoding and validation.
#include <seq2seq/data/data.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_data_util.hpp"

using namespace seq2seq;
using seq2seq::test::bytes;
using seq2seq::test::throws_with;
using seq2seq::test::Words;

namespace {

/// Independent UTF-8 oracle: cut greedily by the lead byte's length, then a sequence is valid iff
/// re-encoding its decoded value gives the same bytes (this rejects overlong forms) and the value is
/// a Unicode scalar (utf8::encode throws for surrogates and values above U+10FFFF).
bool oracle_valid(const std::string& s) {
  for (std::size_t pos = 0; pos < s.size();) {
    const auto b = static_cast<unsigned char>(s[pos]);
    std::size_t len = b < 0x80 ? 1 : b >= 0xC0 && b < 0xE0 ? 2 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xF0 && b < 0xF8 ? 4 : 0;
    if (len == 0 || pos + len > s.size()) return false;
    char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1Fu) : len == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[pos + k]);
      if ((c & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    try {
      if (utf8::encode(cp) != s.substr(pos, len)) return false;
    } catch (const std::invalid_argument&) {
      return false;
    }
    pos += len;
  }
  return true;
}


}  // namespace

// ------------------------------------------------------------------------------------------------
// UTF-8
// ------------------------------------------------------------------------------------------------

TEST_CASE("utf8: encode and decode round-trip every scalar value") {
  std::size_t checked = 0;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const std::string s = utf8::encode(cp);
    const std::size_t expected_len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    char32_t back = 0;
    const std::size_t len = utf8::decode(s, 0, back);
    if (len != expected_len || back != cp || s.size() != expected_len) {
      FAIL("round trip failed at U+" << std::hex << static_cast<unsigned>(cp));
    }
    ++checked;
  }
  CHECK(checked == 0x110000 - 0x800);
  CHECK_THROWS_AS(utf8::encode(0xD800), std::invalid_argument);
  CHECK_THROWS_AS(utf8::encode(0x110000), std::invalid_argument);
}

TEST_CASE("utf8: the validator agrees with an independent oracle on every 1-, 2- and 3-byte string") {
  std::size_t disagreements = 0, valid = 0;
  std::string s;
  for (unsigned a = 0; a < 256; ++a) {
    s = bytes({a});
    disagreements += utf8::is_valid(s) != oracle_valid(s);
    for (unsigned b = 0; b < 256; ++b) {
      s = bytes({a, b});
      disagreements += utf8::is_valid(s) != oracle_valid(s);
      // 3-byte strings: every lead byte from 0xC0 on (the ASCII-led ones reduce to the 2-byte case).
      if (a < 0xC0) continue;
      for (unsigned c = 0; c < 256; ++c) {
        s = bytes({a, b, c});
        const bool v = utf8::is_valid(s);
        valid += v;
        disagreements += v != oracle_valid(s);
      }
    }
  }
  CHECK(disagreements == 0);
  // Valid 3-byte strings led by >= 0xC0: 2-byte char + ASCII (1920 * 128) and 3-byte chars
  // (U+0800..U+FFFF without the 2048 surrogates).
  CHECK(valid == 1920u * 128u + (0x10000u - 0x800u - 0x800u));
}

TEST_CASE("utf8: 4-byte sequences at the edges of the valid range") {
  CHECK(utf8::is_valid(bytes({0xF0, 0x90, 0x80, 0x80})));   // U+10000
  CHECK(utf8::is_valid(bytes({0xF4, 0x8F, 0xBF, 0xBF})));   // U+10FFFF
  CHECK_FALSE(utf8::is_valid(bytes({0xF4, 0x90, 0x80, 0x80})));  // U+110000
  CHECK_FALSE(utf8::is_valid(bytes({0xF0, 0x8F, 0xBF, 0xBF})));  // overlong U+FFFF
  CHECK_FALSE(utf8::is_valid(bytes({0xF5, 0x80, 0x80, 0x80})));
  CHECK_FALSE(utf8::is_valid(bytes({0xF0, 0x9F, 0x98})));        // truncated emoji
  for (unsigned b2 = 0x80; b2 < 0xC0; b2 += 7)
    for (unsigned lead = 0xF0; lead < 0xF8; ++lead) {
      const std::string s = bytes({lead, b2, 0xA5, 0x80});
      CHECK(utf8::is_valid(s) == oracle_valid(s));
    }
}

TEST_CASE("utf8: error offsets and reasons") {
  const auto err = [](const std::string& s) { return utf8::find_error(s); };
  CHECK_FALSE(err("plain ASCII").has_value());
  CHECK_FALSE(err("").has_value());
  auto e = err("ab" + bytes({0x80}));
  REQUIRE(e);
  CHECK(e->offset == 2);
  CHECK(e->reason.find("continuation byte 0x80") != std::string::npos);
  e = err("x" + bytes({0xC3}));
  REQUIRE(e);
  CHECK(e->offset == 1);
  CHECK(e->reason.find("truncated 2-byte") != std::string::npos);
  e = err("xyz" + bytes({0xE2, 0x82, 0x41}));
  REQUIRE(e);
  CHECK(e->offset == 3);
  CHECK(e->reason.find("0x41 at offset 5") != std::string::npos);
  e = err(bytes({0xC0, 0xAF}));
  REQUIRE(e);
  CHECK(e->reason.find("overlong") != std::string::npos);
  e = err("ok " + bytes({0xED, 0xA0, 0x80}));
  REQUIRE(e);
  CHECK(e->offset == 3);
  CHECK(e->reason.find("surrogate code point U+D800") != std::string::npos);
  e = err(bytes({0xFF}));
  REQUIRE(e);
  CHECK(e->reason.find("invalid lead byte 0xFF") != std::string::npos);
  CHECK(throws_with<std::invalid_argument>([] { utf8::validate("caf" + bytes({0xE9})); }, "byte offset 3"));
}


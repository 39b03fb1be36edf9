// Tests of include/seq2seq/data/tokenizer.hpp: the word tokenizer and detokenize.
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

// ------------------------------------------------------------------------------------------------
// Tokenizer
// ------------------------------------------------------------------------------------------------

TEST_CASE("tokenizer: ASCII words, punctuation and whitespace") {
  CHECK(tokenize("Hello, World!") == Words{"hello", ",", "world", "!"});
  CHECK(tokenize("  \t spaced \r\n out\v\f ") == Words{"spaced", "out"});
  CHECK(tokenize("").empty());
  CHECK(tokenize(" \t\n").empty());
  CHECK(tokenize("Wait...") == Words{"wait", ".", ".", "."});
  CHECK(tokenize("don't") == Words{"don", "'", "t"});
  CHECK(tokenize("3.5 kg (approx.)") == Words{"3", ".", "5", "kg", "(", "approx", ".", ")"});
  CHECK(tokenize("a<b>c") == Words{"a", "<", "b", ">", "c"});
  CHECK(tokenize("x_y~z@w") == Words{"x", "_", "y", "~", "z", "@", "w"});
  // Every one of the 32 ASCII punctuation characters is a token of its own.
  const std::string punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  const Words toks = tokenize(punct);
  REQUIRE(toks.size() == punct.size());
  for (std::size_t i = 0; i < punct.size(); ++i) CHECK(toks[i] == std::string(1, punct[i]));
  // ... and digits and letters are not.
  CHECK(tokenize("abcXYZ0123456789") == Words{"abcxyz0123456789"});
}

TEST_CASE("tokenizer: French") {
  // U+202F (narrow no-break space) before '?' and U+00A0 inside guillemets, as in Tatoeba's French.
  CHECK(tokenize("L'homme est là, n'est-ce pas\u202F?") ==
        Words{"l", "'", "homme", "est", "là", ",", "n", "'", "est", "-", "ce", "pas", "?"});
  CHECK(tokenize("«\u00A0Où êtes-vous\u00A0?\u00A0» dit-il…") ==
        Words{"«", "où", "êtes", "-", "vous", "?", "»", "dit", "-", "il", "…"});
  CHECK(tokenize("ÀÂÆÇÈÉÊËÎÏÔŒÙÛÜŸ") == Words{"àâæçèéêëîïôœùûüÿ"});
  CHECK(tokenize("L’ŒUVRE d’art") == Words{"l", "’", "œuvre", "d", "’", "art"});
  CHECK(tokenize("C'était — dit-on — « Bon »") ==
        Words{"c", "'", "était", "—", "dit", "-", "on", "—", "«", "bon", "»"});
}

TEST_CASE("tokenizer: German") {
  CHECK(tokenize("Die STRAẞE ist schön. Äpfel, Öl, Übermut!") ==
        Words{"die", "straße", "ist", "schön", ".", "äpfel", ",", "öl", ",", "übermut", "!"});
  CHECK(tokenize("Fußball") == Words{"fußball"});  // ß stays ß
  CHECK(tokenize("„Ja“, sagte er, ‚gut‘ – oder?") ==
        Words{"„", "ja", "“", ",", "sagte", "er", ",", "‚", "gut", "‘", "–", "oder", "?"});
  CHECK(tokenize("‹Hallo›") == Words{"‹", "hallo", "›"});
}

TEST_CASE("tokenizer: Spanish") {
  CHECK(tokenize("¿Dónde está el baño?") == Words{"¿", "dónde", "está", "el", "baño", "?"});
  CHECK(tokenize("¡ÑANDÚ, PINGÜINO, ÁRBOL!") == Words{"¡", "ñandú", ",", "pingüino", ",", "árbol", "!"});
  CHECK(tokenize("“Sí”, dijo") == Words{"“", "sí", "”", ",", "dijo"});
}

TEST_CASE("tokenizer: other scripts, CJK and emoji stay intact") {
  // Only the listed Latin letters are lower-cased: Greek and Cyrillic capitals are kept.
  CHECK(tokenize("ΑΘΗΝΑ Москва") == Words{"ΑΘΗΝΑ", "Москва"});
  // × and ÷ are not letters; ÿ (U+00FF) and þ are already lower case.
  CHECK(tokenize("2×3÷1 ÞÿÐ") == Words{"2×3÷1", "þÿð"});
  // CJK without spaces is one token; the ideographic full stop U+3002 is not in the punctuation list,
  // the ideographic space U+3000 is whitespace.
  CHECK(tokenize("我爱你。\u3000東京") == Words{"我爱你。", "東京"});
  // Emoji, with a variation selector and a zero-width-joiner sequence, stay whole.
  CHECK(tokenize("I ❤️ 🍕! 👩‍💻") == Words{"i", "❤️", "🍕", "!", "👩‍💻"});
  // A combining accent stays attached to its letter (no normalisation).
  CHECK(tokenize("E\u0301te\u0301") == Words{"e\u0301te\u0301"});
}

TEST_CASE("tokenizer: options") {
  TokenizeOptions keep;
  keep.lower_case = false;
  CHECK(tokenize("Où ÊTES-vous?", keep) == Words{"Où", "ÊTES", "-", "vous", "?"});
  TokenizeOptions spaces_only;
  spaces_only.split_punctuation = false;
  CHECK(tokenize("L'Homme, là!", spaces_only) == Words{"l'homme,", "là!"});
  CHECK(lower_case("ÉCOLE Œuvre ẞ ×") == "école œuvre ß ×");
}

TEST_CASE("tokenizer: invalid UTF-8 throws with the byte offset") {
  CHECK(throws_with<std::invalid_argument>([] { tokenize("ab" + bytes({0x80}) + "c"); }, "byte offset 2"));
  CHECK(throws_with<std::invalid_argument>([] { tokenize("caf" + bytes({0xC3})); }, "byte offset 3: truncated"));
  CHECK(throws_with<std::invalid_argument>([] { tokenize(bytes({0xC3, 0x28})); }, "not a continuation byte"));
  CHECK(throws_with<std::invalid_argument>([] { tokenize("x " + bytes({0xC0, 0xAF})); }, "byte offset 2: overlong"));
  CHECK(throws_with<std::invalid_argument>([] { tokenize(bytes({0xE0, 0x80, 0xAF})); }, "overlong 3-byte"));
  CHECK(throws_with<std::invalid_argument>([] { tokenize(bytes({0xF0, 0x80, 0x80, 0xAF})); }, "overlong 4-byte"));
  CHECK(throws_with<std::invalid_argument>([] { tokenize("é" + bytes({0xED, 0xA0, 0x80})); }, "byte offset 2: surrogate"));
  CHECK(throws_with<std::invalid_argument>([] { tokenize(bytes({0xF4, 0x90, 0x80, 0x80})); }, "above U+10FFFF"));
  CHECK(throws_with<std::invalid_argument>([] { tokenize(bytes({0xF8, 0x88, 0x80, 0x80, 0x80})); }, "invalid lead byte 0xF8"));
  CHECK(throws_with<std::invalid_argument>([] { tokenize("ok " + bytes({0xFE})); }, "byte offset 3"));
  CHECK(throws_with<std::invalid_argument>([] { lower_case(bytes({0xBF})); }, "byte offset 0"));
}

TEST_CASE("tokenizer: random text is never split inside a code point") {
  // Code points drawn from ASCII, Latin-1, the special spaces and punctuation, CJK, emoji.
  const std::vector<char32_t> specials = {0xA0, 0x202F, 0x3000, 0x2003, 0xAB, 0xBB, 0xBF, 0xA1, 0x2026,
                                          0x201C, 0x201D, 0x2018, 0x2019, 0x2014, 0x152, 0x178, 0x1E9E, 0x200D};
  Rng rng(2024);
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    const auto n = rng.below(40);
    for (std::uint64_t k = 0; k < n; ++k) {
      char32_t cp = 0;
      switch (rng.below(6)) {
        case 0: cp = static_cast<char32_t>(0x20 + rng.below(0x5F)); break;
        case 1: cp = static_cast<char32_t>(0xA0 + rng.below(0x60)); break;
        case 2: cp = specials[rng.below(specials.size())]; break;
        case 3: cp = static_cast<char32_t>(0x4E00 + rng.below(0x5000)); break;
        case 4: cp = static_cast<char32_t>(0x1F300 + rng.below(0x300)); break;
        default: cp = static_cast<char32_t>(rng.below(2) ? ' ' : 'A' + rng.below(26)); break;
      }
      utf8::append(text, cp);
    }
    const Words toks = tokenize(text);
    std::string joined;
    for (const std::string& t : toks) {
      REQUIRE_FALSE(t.empty());
      REQUIRE(utf8::is_valid(t));
      // No whitespace inside a token; a punctuation character is alone in its token.
      char32_t cp = 0;
      for (std::size_t pos = 0; pos < t.size();) {
        const std::size_t len = utf8::decode(t, pos, cp);
        REQUIRE_FALSE(is_space_code_point(cp));
        if (is_punctuation_code_point(cp)) REQUIRE(len == t.size());
        pos += len;
      }
      joined += t;
    }
    // The tokens are the lower-cased text with the whitespace taken out.
    std::string expected;
    const std::string lower = lower_case(text);
    char32_t cp = 0;
    for (std::size_t pos = 0; pos < lower.size();) {
      const std::size_t len = utf8::decode(lower, pos, cp);
      if (!is_space_code_point(cp)) expected.append(lower, pos, len);
      pos += len;
    }
    REQUIRE(joined == expected);
    REQUIRE(tokenize(detokenize(toks)) == toks);
  }
}

TEST_CASE("tokenizer: detokenize joins with single spaces") {
  CHECK(detokenize({}) == "");
  CHECK(detokenize({"a"}) == "a");
  CHECK(detokenize({"l", "'", "homme", "?"}) == "l ' homme ?");
}


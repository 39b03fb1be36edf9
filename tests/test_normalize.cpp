// Tests of data/normalize.hpp: one apostrophe, and Unicode NFC through ICU (or, in a program
// without ICU, the error that says what to link).
#include <seq2seq/data/normalize.hpp>
#include <seq2seq/data/tokenizer.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

namespace {

using namespace seq2seq;

// "é" two ways: precomposed U+00E9, and e + COMBINING ACUTE ACCENT U+0301.
const std::string e_composed = "\xC3\xA9", e_decomposed = "e\xCC\x81";

}  // namespace

TEST_CASE("normalize: the typographic and modifier apostrophes read as '") {
  CHECK(normalize_apostrophes("J\xE2\x80\x99" "ai faim") == "J'ai faim");                    // U+2019
  CHECK(normalize_apostrophes("aujourd\xCA\xBC" "hui") == "aujourd'hui");                    // U+02BC
  CHECK(normalize_apostrophes("\xE2\x80\x98quoted\xE2\x80\x99") == "\xE2\x80\x98quoted'");  // U+2018 stays
  CHECK(normalize_apostrophes("plain ASCII, unchanged") == "plain ASCII, unchanged");
  CHECK_THROWS_WITH_AS(normalize_apostrophes("caf\xE9"), doctest::Contains("invalid UTF-8 at byte offset 3"),
                       std::invalid_argument);
  // What the tokenizer then sees: one token for both spellings.
  CHECK(tokenize(normalize("J\xE2\x80\x99" "ai")) == tokenize("J'ai"));
  CHECK(normalize("J\xE2\x80\x99" "ai", NormalizeOptions{false, false}) == "J\xE2\x80\x99" "ai");
}

TEST_CASE("normalize: NFC composes decomposed accents, or says ICU is missing") {
  const std::string text = "Vous ai-je bless" + e_decomposed + " ? C\xCC\xA7" "a ira.";  // C + U+0327
  const std::string nfc = "Vous ai-je bless" + e_composed + " ? \xC3\x87" "a ira.";
  if (!has_nfc()) {
    MESSAGE("this test program has no ICU: checking the error only");
    CHECK_THROWS_WITH_AS(to_nfc(text), doctest::Contains("seq2seq::icu"), std::logic_error);
    CHECK_THROWS_AS(normalize(text, NormalizeOptions{true, true}), std::logic_error);
    CHECK(normalize(text, NormalizeOptions{false, true}) == text);  // without NFC nothing is asked of ICU
    return;
  }
  CHECK(to_nfc(e_decomposed) == e_composed);
  CHECK(to_nfc(text) == nfc);
  CHECK(to_nfc("c\xCC\xA7" "a") == "\xC3\xA7" "a");
  // Already NFC, ASCII, empty: unchanged.
  CHECK(to_nfc(nfc) == nfc);
  CHECK(to_nfc("plain") == "plain");
  CHECK(to_nfc("") == "");
  // German and several marks on one letter: canonical order, then composition.
  CHECK(to_nfc("Stra\xC3\x9F" "e u\xCC\x88" "ber") == "Stra\xC3\x9F" "e \xC3\xBC" "ber");
  CHECK(to_nfc("a\xCC\x81\xCC\xA7") == to_nfc("a\xCC\xA7\xCC\x81"));  // U+0301 U+0327 in either order
  // Both spellings become one token, lower-casing included (É decomposed is E + U+0301).
  const NormalizeOptions both{true, true};
  CHECK(tokenize(normalize("E\xCC\x81t\xC3\xA9", both)) == std::vector<std::string>{e_composed + "t" + e_composed});
  CHECK(tokenize(normalize("l\xE2\x80\x99" "e\xCC\x81t\xC3\xA9", both)) == tokenize("l'\xC3\xA9t\xC3\xA9"));
  CHECK_THROWS_AS(to_nfc("bad \xFF"), std::invalid_argument);
}

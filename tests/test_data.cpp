// Tests of include/seq2seq/data/: UTF-8, tokenizer, Vocab, TSV corpus, splits, shuffle, batches.
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

using namespace seq2seq;

namespace {

using Words = std::vector<std::string>;

/// True when calling `f` throws an exception of type E whose message contains `needle`.
template <typename E, typename F>
bool throws_with(F&& f, const std::string& needle) {
  try {
    f();
  } catch (const E& e) {
    const std::string what = e.what();
    if (what.find(needle) != std::string::npos && what.rfind("seq2seq: ", 0) == 0) return true;
    MESSAGE("message was: " << what);
    return false;
  }
  return false;
}

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

std::string bytes(std::initializer_list<unsigned> list) {
  std::string s;
  for (unsigned b : list) s.push_back(static_cast<char>(b));
  return s;
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

// ------------------------------------------------------------------------------------------------
// Vocab
// ------------------------------------------------------------------------------------------------

TEST_CASE("vocab: special tokens") {
  const Vocab v;
  REQUIRE(v.size() == 4);
  CHECK(v.word(Special::pad) == "<pad>");
  CHECK(v.word(Special::unk) == "<unk>");
  CHECK(v.word(Special::bos) == "<s>");
  CHECK(v.word(Special::eos) == "<EOS>");
  CHECK(v.id("<EOS>") == Special::eos);
  CHECK(v.id("anything") == Special::unk);
  CHECK(Special::count == 4);
}

TEST_CASE("vocab: build orders by frequency, then bytes, and applies the limits") {
  const std::vector<Words> sentences = {{"b", "a", "c", "a"}, {"c", "a", "d"}, {"e", "é", "z"}};
  const Vocab v = Vocab::build(sentences);
  // a:3, c:2, then the count-1 words in byte order (b d e z é: é = C3 A9 sorts after ASCII).
  CHECK(v.tokens() == Words{"<pad>", "<unk>", "<s>", "<EOS>", "a", "c", "b", "d", "e", "z", "é"});
  CHECK(v.id("a") == 4);
  CHECK(v.id("é") == 10);
  // The order of the sentences and of words inside them does not matter.
  std::vector<Words> shuffled = {{"z", "é", "e"}, {"d", "a", "c"}, {"a", "c", "a", "b"}};
  CHECK(Vocab::build(shuffled) == v);
  // max_size counts the specials.
  CHECK(Vocab::build(sentences, 6).tokens() == Words{"<pad>", "<unk>", "<s>", "<EOS>", "a", "c"});
  CHECK(Vocab::build(sentences, 4).size() == 4);
  CHECK(Vocab::build(sentences, 100).size() == 11);
  CHECK(throws_with<std::invalid_argument>([&] { Vocab::build(sentences, 3); }, "max_size 3"));
  // min_count.
  CHECK(Vocab::build(sentences, 0, 2).tokens() == Words{"<pad>", "<unk>", "<s>", "<EOS>", "a", "c"});
  CHECK(Vocab::build(sentences, 0, 3).size() == 5);
  CHECK(Vocab::build(sentences, 0, 4).size() == 4);
  CHECK(Vocab::build(sentences, 0, 0) == v);
  CHECK(Vocab::build({}).size() == 4);
}

TEST_CASE("vocab: special spellings in the data are not words") {
  const Vocab v = Vocab::build({{"<EOS>", "<EOS>", "x", "<unk>", "<pad>", "<s>"}});
  CHECK(v.tokens() == Words{"<pad>", "<unk>", "<s>", "<EOS>", "x"});
  std::size_t unknown = 99;
  CHECK(v.encode({"x", "<EOS>", "<unk>", "y", "<pad>", "<s>"}, unknown) ==
        Sentence{4, Special::unk, Special::unk, Special::unk, Special::unk, Special::unk});
  CHECK(unknown == 5);
}

TEST_CASE("vocab: encode, decode, range checks, bad words") {
  const Vocab v = Vocab::build({tokenize("le chat voit le chien")});
  const Sentence ids = v.encode(tokenize("le chien voit un chat"));
  CHECK(ids == Sentence{v.id("le"), v.id("chien"), v.id("voit"), Special::unk, v.id("chat")});
  CHECK(v.decode(ids) == Words{"le", "chien", "voit", "<unk>", "chat"});
  CHECK(v.encode({}).empty());
  CHECK(v.contains("chat"));
  CHECK_FALSE(v.contains("un"));
  CHECK(throws_with<std::invalid_argument>([&] { v.word(static_cast<TokenId>(v.size())); },
                                           "token id 8 outside the vocabulary of 8 tokens"));
  CHECK(throws_with<std::invalid_argument>([&] { v.word(-1); }, "token id -1"));
  CHECK(throws_with<std::invalid_argument>([&] { v.decode({4, 1000}); }, "token id 1000"));
  CHECK(throws_with<std::invalid_argument>([] { Vocab::build({{"a", ""}}); }, "empty token"));
  CHECK(throws_with<std::invalid_argument>([] { Vocab::build({{"a", bytes({0xC3})}}); }, "not UTF-8"));
}

TEST_CASE("vocab: JSON round trip and exact form") {
  const Vocab small = Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", "a"});
  CHECK(small.to_json() == R"({"format":"seq2seq.vocab","tokens":["<pad>","<unk>","<s>","<EOS>","a"],"version":1})");
  const Vocab v = Vocab::build({tokenize("Où est le café ? 東京 🍕 \"quoted\" back\\slash")});
  const std::string json = v.to_json();
  const Vocab back = Vocab::from_json(json);
  CHECK(back == v);
  CHECK(back.to_json() == json);
  CHECK(back.id("café") == v.id("café"));
  CHECK(Vocab::from_json(Vocab().to_json()) == Vocab());
  // Whitespace and key order do not matter.
  CHECK(Vocab::from_json("{ \"version\": 1, \"tokens\": [\"<pad>\", \"<unk>\", \"<s>\", \"<EOS>\", \"a\"],\n"
                         "  \"format\": \"seq2seq.vocab\" }") == small);
}

TEST_CASE("vocab: from_json rejects bad input") {
  const auto bad = [](const std::string& json, const std::string& needle) {
    return throws_with<std::invalid_argument>([&] { Vocab::from_json(json); }, needle);
  };
  const std::string head = R"({"format":"seq2seq.vocab","version":1,"tokens":)";
  CHECK(bad("not json", "vocabulary JSON: "));
  CHECK(bad("", "vocabulary JSON: "));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>","<EOS>")", "vocabulary JSON: "));  // truncated
  CHECK(bad("[]", "expected an object"));
  CHECK(bad(R"({"version":1,"tokens":[]})", "\"format\""));
  CHECK(bad(R"({"format":"other","version":1,"tokens":[]})", "\"format\""));
  CHECK(bad(R"({"format":"seq2seq.vocab","tokens":[]})", "\"version\""));
  CHECK(bad(R"({"format":"seq2seq.vocab","version":"1","tokens":[]})", "\"version\""));
  CHECK(bad(R"({"format":"seq2seq.vocab","version":2,"tokens":["<pad>","<unk>","<s>","<EOS>"]})", "newer"));
  CHECK(bad(R"({"format":"seq2seq.vocab","version":0,"tokens":["<pad>","<unk>","<s>","<EOS>"]})", "invalid version"));
  CHECK(bad(R"({"format":"seq2seq.vocab","version":1})", "\"tokens\""));
  CHECK(bad(head + R"("x"})", "\"tokens\""));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>"]})", "fewer than the 4 special tokens"));
  CHECK(bad(head + R"(["<pad>","<unk>","<EOS>","<s>"]})", "token 2 is \"<EOS>\", expected \"<s>\""));
  CHECK(bad(head + R"(["<unk>","<pad>","<s>","<EOS>"]})", "token 0"));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>","<EOS>","a","b","a"]})", "duplicate token \"a\""));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>","<EOS>","<unk>"]})", "duplicate token \"<unk>\""));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>","<EOS>",""]})", "empty token"));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>","<EOS>",7]})", "token 4 is a number"));
  CHECK(throws_with<std::invalid_argument>(
      [] { Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", bytes({0xFF})}); }, "not UTF-8"));
}

// ------------------------------------------------------------------------------------------------
// Corpus
// ------------------------------------------------------------------------------------------------

namespace {

std::vector<Pair> read_string(const std::string& text, const std::string& name = "corpus.tsv") {
  std::istringstream in(text);
  return read_tsv(in, name);
}

/// A file under the temporary directory, removed when the object dies.
struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const std::string& content, const std::string& name = "seq2seq_test_data_corpus.tsv") {
    path = std::filesystem::temp_directory_path() / name;
    std::ofstream out(path, std::ios::binary);
    out << content;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

}  // namespace

TEST_CASE("corpus: reads the Tatoeba/manythings format") {
  const std::string text =
      "\xEF\xBB\xBFGo.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #1158250 (Wittydev)\n"
      "Hi.\tSalut !\r\n"
      "\n"
      "   \r\n"
      "Run!\tCours\u202F!\textra\tfields\n"
      "Who?\tQui ?";  // no final newline
  const auto pairs = read_string(text);
  REQUIRE(pairs.size() == 4);
  CHECK(pairs[0] == Pair{"Go.", "Va !"});
  CHECK(pairs[1] == Pair{"Hi.", "Salut !"});
  CHECK(pairs[2] == Pair{"Run!", "Cours\u202F!"});
  CHECK(pairs[3] == Pair{"Who?", "Qui ?"});
}

TEST_CASE("corpus: malformed lines name the file and the line") {
  const auto bad = [](const std::string& text, const std::string& needle) {
    return throws_with<std::invalid_argument>([&] { read_string(text); }, needle);
  };
  CHECK(bad("a\tb\n\nno tab here\n", "corpus.tsv:3: no tab separating source and target"));
  CHECK(bad("a\tb\n\tb\n", "corpus.tsv:2: empty source sentence"));
  CHECK(bad("a\tb\nx\t\r\n", "corpus.tsv:2: empty target sentence"));
  CHECK(bad("a\tb\nx\t\tattribution\n", "corpus.tsv:2: empty target sentence"));
  CHECK(bad("a\tb\n \u00A0\tb\n", "corpus.tsv:2: empty source sentence"));
  CHECK(bad("a\tb\nc\td\ncaf" + bytes({0xE9}) + "\tx\n", "corpus.tsv:3: invalid UTF-8 at byte 3 of the line"));
  CHECK(bad("", "corpus.tsv: empty corpus"));
  CHECK(bad("\n \n\r\n", "corpus.tsv: empty corpus"));
  CHECK(throws_with<std::invalid_argument>([] { read_string("oops\n", "mine.txt"); }, "mine.txt:1: no tab"));
}

TEST_CASE("corpus: files") {
  const TempFile good("one\tun\ntwo\tdeux\n");
  const auto pairs = read_tsv_file(good.path.string());
  CHECK(pairs == std::vector<Pair>{{"one", "un"}, {"two", "deux"}});

  const TempFile broken("one\tun\ntwo deux\n", "seq2seq_test_data_broken.tsv");
  CHECK(throws_with<std::invalid_argument>([&] { read_tsv_file(broken.path.string()); },
                                           "seq2seq_test_data_broken.tsv:2: no tab"));
  const std::string missing = (std::filesystem::temp_directory_path() / "seq2seq_no_such_file.tsv").string();
  CHECK(throws_with<std::runtime_error>([&] { read_tsv_file(missing); }, "cannot read corpus '" + missing + "'"));
  const std::string dir = std::filesystem::temp_directory_path().string();
  CHECK(throws_with<std::runtime_error>([&] { read_tsv_file(dir); }, "directory"));
}

TEST_CASE("corpus: split keeps every source sentence in one part") {
  // 300 distinct sources, some with several targets (as in Tatoeba).
  std::vector<Pair> pairs;
  for (int s = 0; s < 300; ++s)
    for (int t = 0; t <= s % 3; ++t) pairs.push_back({"src" + std::to_string(s), "tgt" + std::to_string(s) + "_" + std::to_string(t)});
  const CorpusSplit sp = split(pairs, 0.1, 0.2, 42);
  std::map<std::string, int> part_of;
  bool leak = false;
  const auto mark = [&](const std::vector<Pair>& part, int id) {
    for (const Pair& p : part) {
      const auto [it, inserted] = part_of.emplace(p.source, id);
      if (!inserted && it->second != id) leak = true;
    }
  };
  mark(sp.train, 0);
  mark(sp.valid, 1);
  mark(sp.test, 2);
  CHECK_FALSE(leak);
  CHECK(part_of.size() == 300);
  // Fractions count distinct sources: 30 for validation, 60 for test.
  std::set<std::string> valid_sources, test_sources;
  for (const Pair& p : sp.valid) valid_sources.insert(p.source);
  for (const Pair& p : sp.test) test_sources.insert(p.source);
  CHECK(valid_sources.size() == 30);
  CHECK(test_sources.size() == 60);
  // Nothing lost or duplicated; corpus order kept inside each part.
  CHECK(sp.train.size() + sp.valid.size() + sp.test.size() == pairs.size());
  std::vector<Pair> all = sp.train;
  all.insert(all.end(), sp.valid.begin(), sp.valid.end());
  all.insert(all.end(), sp.test.begin(), sp.test.end());
  const auto key = [](const Pair& a, const Pair& b) { return a.source != b.source ? a.source < b.source : a.target < b.target; };
  std::sort(all.begin(), all.end(), key);
  std::vector<Pair> sorted = pairs;
  std::sort(sorted.begin(), sorted.end(), key);
  CHECK(all == sorted);
  const auto position = [&](const Pair& p) { return std::find(pairs.begin(), pairs.end(), p) - pairs.begin(); };
  for (std::size_t i = 1; i < sp.train.size(); ++i) CHECK(position(sp.train[i - 1]) < position(sp.train[i]));
  // Deterministic in the seed, and the seed matters.
  const CorpusSplit again = split(pairs, 0.1, 0.2, 42);
  CHECK(again.train == sp.train);
  CHECK(again.valid == sp.valid);
  CHECK(again.test == sp.test);
  CHECK(split(pairs, 0.1, 0.2, 43).test != sp.test);
}

TEST_CASE("corpus: split edge cases") {
  const std::vector<Pair> pairs = {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"a", "4"}};
  const CorpusSplit none = split(pairs, 0.0, 0.0, 1);
  CHECK(none.train == pairs);
  CHECK(none.valid.empty());
  CHECK(none.test.empty());
  // A tiny positive fraction still gets one group.
  const CorpusSplit tiny = split(pairs, 0.01, 0.01, 1);
  CHECK_FALSE(tiny.valid.empty());
  CHECK_FALSE(tiny.test.empty());
  CHECK_FALSE(tiny.train.empty());
  CHECK(throws_with<std::invalid_argument>([&] { split(pairs, 0.5, 0.5, 1); }, "none for training"));
  CHECK(throws_with<std::invalid_argument>([&] { split(pairs, 0.6, 0.4, 1); }, "none for training"));
  CHECK(throws_with<std::invalid_argument>([&] { split(pairs, -0.1, 0.1, 1); }, "validation fraction"));
  CHECK(throws_with<std::invalid_argument>([&] { split(pairs, 0.1, 1.0, 1); }, "test fraction"));
  CHECK(throws_with<std::invalid_argument>([&] { split(pairs, 0.1, std::nan(""), 1); }, "test fraction"));
}

TEST_CASE("corpus: group_references") {
  const std::vector<Pair> pairs = {{"hi", "salut"}, {"go", "va"}, {"hi", "bonjour"}, {"hi", "salut"}, {"go", "allez"}};
  const auto groups = group_references(pairs);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].source == "hi");
  CHECK(groups[0].targets == Words{"salut", "bonjour"});
  CHECK(groups[1].source == "go");
  CHECK(groups[1].targets == Words{"va", "allez"});
  CHECK(group_references({}).empty());
}

// ------------------------------------------------------------------------------------------------
// Shuffle and batches
// ------------------------------------------------------------------------------------------------

TEST_CASE("shuffle: a uniform permutation, reproducible from the seed") {
  std::vector<int> v(50);
  std::iota(v.begin(), v.end(), 0);
  Rng a(9), b(9);
  std::vector<int> x = v, y = v;
  shuffle(x, a);
  shuffle(y, b);
  CHECK(x == y);
  CHECK(x != v);
  CHECK(a.engine() == b.engine());
  std::vector<int> sorted = x;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == v);
  // The documented recipe, step by step.
  Rng c(9);
  std::vector<int> z = v;
  for (std::size_t i = z.size(); i > 1; --i) std::swap(z[i - 1], z[c.below(i)]);
  CHECK(z == x);
  // Uniformity: the 6 orders of 3 items, 60000 draws; chi-square with 5 degrees of freedom stays
  // below 20.5 with probability 0.999.
  Rng r(123);
  std::map<std::vector<int>, int> counts;
  for (int k = 0; k < 60000; ++k) {
    std::vector<int> s = {0, 1, 2};
    shuffle(s, r);
    ++counts[s];
  }
  REQUIRE(counts.size() == 6);
  double chi2 = 0;
  for (const auto& kv : counts) chi2 += (kv.second - 10000.0) * (kv.second - 10000.0) / 10000.0;
  CHECK(chi2 < 20.5);
  // Nothing to shuffle draws nothing.
  Rng d(5), e(5);
  std::vector<int> one = {7};
  shuffle(one, d);
  CHECK(d.engine() == e.engine());
}

namespace {

/// n pairs with source lengths drawn in [1, 40] and target lengths 0..4 longer (in real corpora the
/// two lengths go together, which is what makes sorting by (source, target) length pay).
void random_corpus(std::size_t n, std::uint64_t seed, std::vector<Sentence>& src, std::vector<Sentence>& tgt) {
  Rng rng(seed);
  src.clear();
  tgt.clear();
  for (std::size_t i = 0; i < n; ++i) {
    // The first token is the example's index, so batches can be traced back.
    const std::size_t len = 1 + rng.below(40);
    Sentence s(len, 5), t(len + rng.below(5), 6);
    s[0] = static_cast<TokenId>(i);
    t[0] = static_cast<TokenId>(i);
    src.push_back(s);
    tgt.push_back(t);
  }
}

/// Padding cells when each batch is padded to its longest source and target.
std::size_t padding(const std::vector<PairBatch>& batches) {
  std::size_t pad = 0;
  for (const PairBatch& b : batches)
    for (const auto* side : {&b.source, &b.target}) {
      std::size_t longest = 0;
      for (const Sentence& s : *side) longest = std::max(longest, s.size());
      for (const Sentence& s : *side) pad += longest - s.size();
    }
  return pad;
}

}  // namespace

TEST_CASE("batches: every example once, sizes, pairs kept together") {
  std::vector<Sentence> src, tgt;
  random_corpus(1003, 1, src, tgt);
  Rng rng(77);
  const auto batches = make_batches(src, tgt, 32, rng);
  CHECK(batches.size() == 32);  // ceil(1003 / 32)
  std::vector<int> seen(src.size(), 0);
  int smaller = 0;
  for (const PairBatch& b : batches) {
    REQUIRE(b.source.size() == b.target.size());
    CHECK(b.size() <= 32);
    if (b.size() < 32) {
      ++smaller;
      CHECK(b.size() == 1003 % 32);
    }
    for (std::size_t k = 0; k < b.size(); ++k) {
      const auto i = static_cast<std::size_t>(b.source[k][0]);
      CHECK(b.target[k][0] == b.source[k][0]);
      CHECK(b.source[k] == src[i]);
      CHECK(b.target[k] == tgt[i]);
      ++seen[i];
    }
  }
  CHECK(smaller == 1);
  CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
}

TEST_CASE("batches: deterministic for a given Rng state") {
  std::vector<Sentence> src, tgt;
  random_corpus(500, 2, src, tgt);
  Rng a(5), b(5), c(6);
  const auto x = plan_batches(src, tgt, 16, a);
  const auto y = plan_batches(src, tgt, 16, b);
  CHECK(x == y);
  CHECK(a.engine() == b.engine());
  CHECK(plan_batches(src, tgt, 16, c) != x);
  // The next epoch from the advanced state differs from the first.
  CHECK(plan_batches(src, tgt, 16, a) != x);
}

TEST_CASE("batches: length bucketing cuts padding") {
  std::vector<Sentence> src, tgt;
  random_corpus(2000, 3, src, tgt);
  Rng r1(11), r2(11), r3(11);
  const auto bucketed = make_batches(src, tgt, 32, r1);      // windows of 3200 >= N: global sort
  const auto windowed = make_batches(src, tgt, 32, r2, 320); // windows of 10 batches
  const auto plain = make_batches(src, tgt, 32, r3, 1);      // no grouping
  const std::size_t p_bucketed = padding(bucketed), p_windowed = padding(windowed), p_plain = padding(plain);
  MESSAGE("padding: global " << p_bucketed << ", windows of 320 " << p_windowed << ", none " << p_plain);
  CHECK(p_bucketed * 4 < p_plain);
  CHECK(p_windowed * 2 < p_plain);
  CHECK(p_bucketed <= p_windowed);
  // The batch order is shuffled: an epoch does not run from short to long sentences.
  std::vector<std::size_t> first_lengths;
  for (const PairBatch& b : bucketed) first_lengths.push_back(b.source[0].size());
  CHECK_FALSE(std::is_sorted(first_lengths.begin(), first_lengths.end()));
  CHECK_FALSE(std::is_sorted(first_lengths.rbegin(), first_lengths.rend()));
  // With one window over everything, each batch spans at most a couple of source lengths.
  for (const PairBatch& b : bucketed) {
    std::size_t lo = 1000, hi = 0;
    for (const Sentence& s : b.source) lo = std::min(lo, s.size()), hi = std::max(hi, s.size());
    CHECK(hi - lo <= 1);
  }
}

TEST_CASE("batches: the plan follows the documented recipe") {
  std::vector<Sentence> src, tgt;
  random_corpus(107, 4, src, tgt);
  // Replays the recipe: shuffle, sort windows by (source, target) length, cut, as sets of batches.
  const auto replay = [&](std::uint64_t seed, std::size_t batch, std::size_t window) {
    Rng rng(seed);
    std::vector<std::size_t> order(src.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    shuffle(order, rng);
    for (std::size_t begin = 0; begin < order.size(); begin += window) {
      const auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + window));
      std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(begin), end, [&](std::size_t a, std::size_t b) {
        return std::make_pair(src[a].size(), tgt[a].size()) < std::make_pair(src[b].size(), tgt[b].size());
      });
    }
    std::set<std::vector<std::size_t>> batches;
    for (std::size_t begin = 0; begin < order.size(); begin += batch)
      batches.insert(std::vector<std::size_t>(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                              order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + batch))));
    return batches;
  };
  const auto planned = [&](std::uint64_t seed, std::size_t batch, std::size_t window) {
    Rng rng(seed);
    const auto plan = plan_batches(src, tgt, batch, rng, window);
    return std::set<std::vector<std::size_t>>(plan.begin(), plan.end());
  };
  CHECK(planned(3, 10, 25) == replay(3, 10, 30));  // the window is rounded up to whole batches
  CHECK(planned(3, 10, 0) == replay(3, 10, 1000)); // 0 means 100 batches
  CHECK(planned(3, 10, 10) == replay(3, 10, 10));  // one batch per window: no length grouping
  CHECK(planned(3, 10, 1) == replay(3, 10, 10));
  CHECK(planned(4, 7, 50) == replay(4, 7, 56));
}

TEST_CASE("batches: bad arguments and empty input") {
  std::vector<Sentence> src = {{4}, {5}}, tgt = {{6}};
  Rng rng(1);
  CHECK(throws_with<std::invalid_argument>([&] { make_batches(src, tgt, 2, rng); }, "2 source sentences but 1 target"));
  tgt.push_back({7});
  CHECK(throws_with<std::invalid_argument>([&] { make_batches(src, tgt, 0, rng); }, "batch_size must be positive"));
  const std::vector<Sentence> none;
  CHECK(make_batches(none, none, 8, rng).empty());
  const auto one = make_batches(src, tgt, 8, rng);
  REQUIRE(one.size() == 1);
  CHECK(one[0].size() == 2);
}

TEST_CASE("batches: inference batches sort by source length without randomness") {
  const std::vector<Sentence> src = {{1, 1, 1}, {1}, {1, 1}, {1}, {1, 1, 1, 1}};
  const auto plan = inference_batches(src, 2);
  CHECK(plan == std::vector<std::vector<std::size_t>>{{1, 3}, {2, 0}, {4}});
  CHECK(inference_batches({}, 3).empty());
  CHECK_THROWS_AS(inference_batches(src, 0), std::invalid_argument);
}

TEST_CASE("batches: max_length_filter drops or rejects long pairs") {
  std::vector<Sentence> src = {{1, 2}, {1, 2, 3, 4}, {1}, {1, 2, 3}}, tgt = {{1}, {1}, {1, 2, 3, 4, 5}, {1, 2}};
  auto s = src, t = tgt;
  CHECK(max_length_filter(s, t, 3, 4) == 2);
  CHECK(s == std::vector<Sentence>{{1, 2}, {1, 2, 3}});
  CHECK(t == std::vector<Sentence>{{1}, {1, 2}});
  s = src, t = tgt;
  CHECK(max_length_filter(s, t, 0, 0) == 0);  // no limits
  CHECK(s == src);
  CHECK(max_length_filter(s, t, 0, 4) == 1);  // target limit only
  CHECK(s.size() == 3);
  s = src, t = tgt;
  CHECK(throws_with<std::invalid_argument>([&] { max_length_filter(s, t, 3, 4, OverLength::reject); },
                                           "pair 1 has a source of 4 tokens, over the limit of 3"));
  CHECK(throws_with<std::invalid_argument>([&] { max_length_filter(s, t, 4, 4, OverLength::reject); },
                                           "pair 2 has a target of 5 tokens, over the limit of 4"));
  CHECK(s == src);  // reject leaves the data alone
  CHECK(max_length_filter(s, t, 5, 5, OverLength::reject) == 0);
  // On words too.
  std::vector<Words> ws = {{"a", "b"}, {"a"}}, wt = {{"x"}, {"y", "z", "w"}};
  CHECK(max_length_filter(ws, wt, 2, 2) == 1);
  CHECK(ws == std::vector<Words>{{"a", "b"}});
  std::vector<Sentence> short_src = {{1}};
  CHECK_THROWS_AS(max_length_filter(short_src, t, 1, 1), std::invalid_argument);
}

TEST_CASE("data: the whole pipeline from TSV text to batches") {
  const std::string text = "Je vois le chat.\tI see the cat.\nLe chat me voit.\tThe cat sees me.\n"
                           "Où est le chat ?\tWhere is the cat?\nJe vois le chien.\tI see the dog.\n";
  const auto pairs = read_string(text);
  std::vector<Words> src_words, tgt_words;
  for (const Pair& p : pairs) {
    src_words.push_back(tokenize(p.source));
    tgt_words.push_back(tokenize(p.target));
  }
  const Vocab sv = Vocab::build(src_words), tv = Vocab::build(tgt_words, 8);
  std::vector<Sentence> src, tgt;
  std::size_t unknown_total = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    std::size_t unknown = 0;
    src.push_back(sv.encode(src_words[i]));
    tgt.push_back(tv.encode(tgt_words[i], unknown));
    unknown_total += unknown;
  }
  CHECK(sv.decode(src[2]) == Words{"où", "est", "le", "chat", "?"});
  CHECK(tv.size() == 8);
  CHECK(unknown_total > 0);
  Rng rng(1);
  const auto batches = make_batches(src, tgt, 3, rng);
  CHECK(batches.size() == 2);
  CHECK(batches[0].size() + batches[1].size() == 4);
}

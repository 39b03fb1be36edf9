// seq2seq: the word tokenizer: lower-casing, whitespace splitting and punctuation splitting over UTF-8.
#ifndef SEQ2SEQ_DATA_TOKENIZER_HPP
#define SEQ2SEQ_DATA_TOKENIZER_HPP

#include "utf8.hpp"

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace seq2seq {

/// Switches of `tokenize`. The defaults are the documented tokenizer used by the example.
struct TokenizeOptions {
  /// Apply `lower_case_code_point` to every character.
  bool lower_case = true;
  /// Make every punctuation character (`is_punctuation_code_point`) a token of its own. When off,
  /// only whitespace separates tokens.
  bool split_punctuation = true;
};

/// True for the characters that separate tokens and are dropped: the Unicode White_Space set, i.e.
/// ASCII tab, line feed, vertical tab, form feed, carriage return and space, U+0085, U+00A0 (no-break
/// space), U+1680, U+2000..U+200A, U+2028, U+2029, U+202F (narrow no-break space, which French
/// typography puts before ? ! : ; and which the Tatoeba French data uses), U+205F and U+3000.
inline bool is_space_code_point(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

/// True for the characters that become tokens of their own: every ASCII punctuation character
/// !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ and the Unicode punctuation of French, German and Spanish text:
/// ¡ « » ¿ (U+00A1, U+00AB, U+00BB, U+00BF), en and em dash (U+2013, U+2014), the quotation marks
/// ‘ ’ ‚ “ ” „ (U+2018, U+2019, U+201A, U+201C, U+201D, U+201E), the ellipsis … (U+2026) and the
/// single guillemets ‹ › (U+2039, U+203A).
/// Apostrophes are split off like any other punctuation: "l'homme" -> l ' homme, "don't" ->
/// don ' t; hyphens too: "peut-être" -> peut - être; and so are decimal points: "3.5" -> 3 . 5.
inline bool is_punctuation_code_point(char32_t cp) {
  if (cp < 0x80) return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
                        (cp >= 0x7B && cp <= 0x7E);
  switch (cp) {
    case 0xA1: case 0xAB: case 0xBB: case 0xBF:
    case 0x2013: case 0x2014: case 0x2018: case 0x2019: case 0x201A: case 0x201C: case 0x201D: case 0x201E:
    case 0x2026: case 0x2039: case 0x203A:
      return true;
    default:
      return false;
  }
}

/// Lower case of the letters of English, French, German and Spanish; every other code point is
/// returned unchanged. Mapped: A..Z; U+00C0..U+00DE except the multiplication sign U+00D7
/// (À..Þ -> à..þ, which covers À Â Æ Ç È É Ê Ë Î Ï Ô Ù Û Ü Ä Ö Á Í Ñ Ó Ú); Œ -> œ (U+0152 -> U+0153);
/// Ÿ -> ÿ (U+0178 -> U+00FF); capital sharp s ẞ -> ß (U+1E9E -> U+00DF). ß itself stays ß (its full
/// upper/lower case pair is not one-to-one). No Unicode normalisation is done: a letter written as
/// a base letter plus a combining accent keeps its accent as a separate, unchanged code point.
inline char32_t lower_case_code_point(char32_t cp) {
  if (cp >= U'A' && cp <= U'Z') return cp + 0x20;
  if (cp < 0xC0) return cp;
  if (cp <= 0xDE) return cp == 0xD7 ? cp : cp + 0x20;
  if (cp == 0x152) return 0x153;
  if (cp == 0x178) return 0xFF;
  if (cp == 0x1E9E) return 0xDF;
  return cp;
}

/// Splits `text` into tokens.
///
/// Rules, applied code point by code point:
/// 1. `text` must be UTF-8; anything else (a stray continuation byte, a bad lead byte, a truncated
///    sequence, an overlong encoding, a surrogate, a code point above U+10FFFF) throws
///    std::invalid_argument naming the byte offset ("seq2seq: invalid UTF-8 at byte offset 7: ...").
/// 2. With `lower_case`, letters are lower-cased by `lower_case_code_point`.
/// 3. Whitespace (`is_space_code_point`) separates tokens and is dropped.
/// 4. With `split_punctuation`, each punctuation character (`is_punctuation_code_point`) is a token
///    of its own, even when repeated: "..." -> . . .
/// 5. Every other code point (digits, letters of any script, CJK, emoji, combining marks, variation
///    selectors, control characters) is copied unchanged into the current token. A token is thus
///    never split inside a code point, but CJK text without spaces stays one token per run and an
///    emoji sequence joined by U+200D stays one token.
/// Every token is non-empty valid UTF-8 without whitespace. `detokenize(tokenize(s))` equals `s`
/// lower-cased with single spaces between tokens.
inline std::vector<std::string> tokenize(std::string_view text, const TokenizeOptions& options = {});

namespace detail {

/// The loop of `tokenize`: calls `on_token(std::string&& token, std::string_view gap)` for every
/// token in order, `gap` being the text between the previous token (or the start) and this one:
/// empty when they touch, otherwise the whitespace that separated them. Detokenizer::learn reads
/// the spacing of punctuation from these gaps.
template <typename OnToken>
void tokenize_each(std::string_view text, const TokenizeOptions& options, OnToken&& on_token) {
  std::string current;
  std::size_t gap_start = 0, gap_end = 0;  // the whitespace before `current`
  std::size_t last_end = 0;                // byte after the last token flushed
  bool in_token = false;
  auto flush = [&] {
    if (in_token) {
      on_token(std::move(current), text.substr(gap_start, gap_end - gap_start));
      current.clear();
      in_token = false;
    }
  };
  utf8::Error error;
  char32_t cp = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t len = utf8::decode(text, pos, cp, &error);
    if (len == 0)
      throw std::invalid_argument("seq2seq: " + utf8::describe(error));
    const auto start_token = [&] {
      if (!in_token) {
        gap_start = last_end;
        gap_end = pos;
        in_token = true;
      }
    };
    if (is_space_code_point(cp)) {
      flush();
    } else if (options.split_punctuation && is_punctuation_code_point(cp)) {
      flush();
      start_token();
      current.append(text.substr(pos, len));
      last_end = pos + len;
      flush();
    } else {
      start_token();
      const char32_t lower = options.lower_case ? lower_case_code_point(cp) : cp;
      if (lower == cp)
        current.append(text.substr(pos, len));
      else
        utf8::append(current, lower);
      last_end = pos + len;
    }
    pos += len;
  }
  flush();
}

}  // namespace detail

inline std::vector<std::string> tokenize(std::string_view text, const TokenizeOptions& options) {
  std::vector<std::string> tokens;
  detail::tokenize_each(text, options, [&](std::string&& token, std::string_view) { tokens.push_back(std::move(token)); });
  return tokens;
}

/// `text` with `lower_case_code_point` applied to every character (validated like `tokenize`).
inline std::string lower_case(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  utf8::Error error;
  char32_t cp = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t len = utf8::decode(text, pos, cp, &error);
    if (len == 0)
      throw std::invalid_argument("seq2seq: " + utf8::describe(error));
    const char32_t lower = lower_case_code_point(cp);
    if (lower == cp)
      out.append(text.substr(pos, len));
    else
      utf8::append(out, lower);
    pos += len;
  }
  return out;
}

/// The tokens joined by single spaces (no attempt to re-attach punctuation).
inline std::string detokenize(const std::vector<std::string>& tokens) {
  std::size_t total = 0;
  for (const std::string& t : tokens) total += t.size() + 1;
  std::string out;
  out.reserve(total);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (i) out.push_back(' ');
    out += tokens[i];
  }
  return out;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_TOKENIZER_HPP

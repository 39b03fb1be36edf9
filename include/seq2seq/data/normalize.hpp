// seq2seq: text normalisation before tokenizing: one apostrophe, and Unicode NFC through ICU.
//
// NFC needs ICU's tables, so it is the one optional part of the text pipeline. It is switched on
// for a whole program, never for one translation unit: a file compiled with SEQ2SEQ_WITH_ICU=1
// (the CMake target seq2seq::icu defines it and links ICU::uc) registers ICU's NFC when the program
// starts, and every translation unit then sees has_nfc() true and the same normalize(). In a
// program without it, has_nfc() is false and asking for NFC throws std::logic_error saying what to
// link; nothing is silently left unnormalised.
#ifndef SEQ2SEQ_DATA_NORMALIZE_HPP
#define SEQ2SEQ_DATA_NORMALIZE_HPP

#include "utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#if defined(SEQ2SEQ_WITH_ICU) && SEQ2SEQ_WITH_ICU
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/utypes.h>
#endif

namespace seq2seq {

/// What normalize() does, applied in this order.
struct NormalizeOptions {
  /// Unicode canonical composition (NFC): a letter written as a base letter plus combining accents
  /// ("e" U+0301) becomes the precomposed letter ("é" U+00E9), so both spellings give one token.
  /// Needs ICU (has_nfc()).
  bool nfc = false;
  /// The typographic apostrophe U+2019 (right single quotation mark) and the modifier letter
  /// apostrophe U+02BC become the ASCII apostrophe U+0027: "J’ai" and "J'ai" are one text.
  bool apostrophes = true;

  friend bool operator==(const NormalizeOptions& a, const NormalizeOptions& b) {
    return a.nfc == b.nfc && a.apostrophes == b.apostrophes;
  }
  friend bool operator!=(const NormalizeOptions& a, const NormalizeOptions& b) { return !(a == b); }
};

namespace detail {

using NfcFunction = std::string (*)(std::string_view);

/// The program's NFC implementation, or null (set once, at start-up, by SEQ2SEQ_WITH_ICU code).
inline NfcFunction& nfc_function() {
  static NfcFunction f = nullptr;
  return f;
}

}  // namespace detail

/// True when the program can normalise to NFC: one of its files was compiled with
/// SEQ2SEQ_WITH_ICU=1 (CMake: link seq2seq::icu). The same answer in every translation unit.
inline bool has_nfc() { return detail::nfc_function() != nullptr; }

/// `text` (UTF-8) in Unicode Normalization Form C. Throws std::invalid_argument on invalid UTF-8
/// and std::logic_error when the program has no NFC (has_nfc() is false).
inline std::string to_nfc(std::string_view text) {
  utf8::validate(text);
  if (!has_nfc())
    throw std::logic_error(
        "seq2seq: Unicode NFC normalisation needs ICU, which this program was built without: link the CMake "
        "target seq2seq::icu (Debian: libicu-dev), or compile one file with -DSEQ2SEQ_WITH_ICU=1 and link -licuuc");
  return detail::nfc_function()(text);
}

/// `text` with U+2019 and U+02BC replaced by U+0027 (validated like tokenize).
inline std::string normalize_apostrophes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  utf8::Error error;
  char32_t cp = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t len = utf8::decode(text, pos, cp, &error);
    if (len == 0) throw std::invalid_argument("seq2seq: " + utf8::describe(error));
    if (cp == 0x2019 || cp == 0x02BC)
      out.push_back('\'');
    else
      out.append(text.substr(pos, len));
    pos += len;
  }
  return out;
}

/// `text` normalised as `options` say: NFC first (it may compose a letter with U+0301 but never
/// makes or removes an apostrophe), then the apostrophes. Throws std::invalid_argument on invalid
/// UTF-8 and std::logic_error when NFC is asked for in a program without it.
inline std::string normalize(std::string_view text, const NormalizeOptions& options = {}) {
  std::string out = options.nfc ? to_nfc(text) : std::string(text);
  if (options.apostrophes) out = normalize_apostrophes(out);
  else utf8::validate(out);
  return out;
}

#if defined(SEQ2SEQ_WITH_ICU) && SEQ2SEQ_WITH_ICU
namespace detail {

/// NFC through ICU's Normalizer2 on UTF-8 directly (valid input: to_nfc validated it).
inline std::string icu_nfc(std::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) throw std::runtime_error(std::string("seq2seq: ICU has no NFC normaliser: ") + u_errorName(status));
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw std::invalid_argument("seq2seq: to_nfc: text of " + std::to_string(text.size()) + " bytes is too long for ICU");
  const icu::StringPiece piece(text.data(), static_cast<std::int32_t>(text.size()));
  if (nfc->isNormalizedUTF8(piece, status) && U_SUCCESS(status)) return std::string(text);
  status = U_ZERO_ERROR;
  std::string out;
  out.reserve(text.size());
  icu::StringByteSink<std::string> sink(&out, static_cast<std::int32_t>(text.size()));
  nfc->normalizeUTF8(0, piece, sink, nullptr, status);
  if (U_FAILURE(status)) throw std::runtime_error(std::string("seq2seq: ICU NFC normalisation failed: ") + u_errorName(status));
  return out;
}

/// Registers icu_nfc for the whole program before main() (one definition shared by every
/// translation unit that includes this header with SEQ2SEQ_WITH_ICU=1).
inline const bool icu_nfc_registered = (nfc_function() = &icu_nfc, true);

}  // namespace detail
#endif

}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_NORMALIZE_HPP

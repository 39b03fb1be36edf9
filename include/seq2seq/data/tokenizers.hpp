// seq2seq: the tokenizer seam: Tokenizer (text -> token strings -> text), the word tokenizer, their
// JSON form (how a model file carries its tokenizers), and the vocabulary of a tokenizer.
//
// text --Tokenizer::encode--> tokens --Vocab::encode--> ids --model--> ids --Vocab::decode-->
//      tokens --Tokenizer::decode--> text
//
// WordTokenizer is the word tokenizer (normalize, then tokenize, then a Detokenizer); the
// SentencePiece one is in sentencepiece.hpp, which needs the SentencePiece library. Tokenizers
// are rebuilt from JSON by tokenizer_from_json, which knows the "word" kind and every kind
// registered by an included header (sentencepiece.hpp registers "sentencepiece"), program-wide.
#ifndef SEQ2SEQ_DATA_TOKENIZERS_HPP
#define SEQ2SEQ_DATA_TOKENIZERS_HPP

#include "detokenizer.hpp"
#include "normalize.hpp"
#include "tokenizer.hpp"
#include "vocab.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace seq2seq {

/// Turns text into token strings and back. Implementations are immutable after construction, so
/// a const Tokenizer may be shared between threads.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  /// The tokens of `text` (UTF-8; std::invalid_argument otherwise). Never an empty token.
  virtual std::vector<std::string> encode(std::string_view text) const = 0;
  /// Text from tokens, as a reader would want it (detokenized). Tokens the tokenizer cannot have
  /// produced are written as they are.
  virtual std::string decode(const std::vector<std::string>& tokens) const = 0;
  /// "word", "sentencepiece", ...: the "kind" of to_json.
  virtual std::string kind() const = 0;
  /// True when encode keeps upper case (then BLEU can be computed cased too).
  virtual bool keeps_case() const = 0;
  /// Subword regularisation: the tokens of every text in `texts`, each a segmentation drawn at
  /// random (a subword model's sampling, `alpha` its one parameter), the same for the same `seed`.
  /// Training draws a new one each epoch. A tokenizer with one segmentation per text (words)
  /// returns encode's, which is also what alpha = 0 means to BPE.
  virtual std::vector<std::vector<std::string>> encode_sampled(const std::vector<std::string>& texts, double alpha,
                                                               std::uint64_t seed) const {
    (void)alpha;
    (void)seed;
    std::vector<std::vector<std::string>> out;
    out.reserve(texts.size());
    for (const std::string& t : texts) out.push_back(encode(t));
    return out;
  }
  /// Every token encode can produce, when that set is closed (a subword model's pieces); empty
  /// for an open set (words). build_vocab uses it.
  virtual std::vector<std::string> inventory() const { return {}; }
  /// {"format":"seq2seq.tokenizer","kind":...,"version":1,...}: everything needed to rebuild this
  /// tokenizer with tokenizer_from_json (binary models base64-encoded). Deterministic.
  virtual nlohmann::json to_json() const = 0;
  /// One line for people: "words, lower-cased, NFC, ’ read as '".
  virtual std::string describe() const = 0;
};

namespace detail {

inline nlohmann::json normalize_to_json(const NormalizeOptions& n) {
  return nlohmann::json{{"apostrophes", n.apostrophes}, {"nfc", n.nfc}};
}

[[noreturn]] inline void bad_tokenizer_json(const std::string& what) {
  throw std::invalid_argument("seq2seq: tokenizer JSON: " + what);
}

/// A boolean member of `j`, or `fallback` when absent.
inline bool json_flag(const nlohmann::json& j, const char* key, bool fallback) {
  const auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_boolean()) bad_tokenizer_json(std::string("\"") + key + "\" must be true or false");
  return it->get<bool>();
}

inline NormalizeOptions normalize_from_json(const nlohmann::json& j) {
  const auto it = j.find("normalize");
  if (it == j.end()) return NormalizeOptions{false, false};
  if (!it->is_object()) bad_tokenizer_json("\"normalize\" must be an object");
  return NormalizeOptions{json_flag(*it, "nfc", false), json_flag(*it, "apostrophes", false)};
}

inline std::string describe_normalize(const NormalizeOptions& n) {
  std::string out;
  if (n.nfc) out += ", NFC";
  if (n.apostrophes) out += ", \xE2\x80\x99 read as '";
  return out;
}

}  // namespace detail

/// The word tokenizer: normalize (NormalizeOptions), tokenize (TokenizeOptions: lower-casing and
/// punctuation splitting), and back through a Detokenizer.
class WordTokenizer : public Tokenizer {
 public:
  /// NormalizeOptions{} (apostrophes, no NFC), tokenize's defaults, Detokenizer::english().
  WordTokenizer() = default;
  WordTokenizer(NormalizeOptions normalize, TokenizeOptions tokenize, Detokenizer detokenizer)
      : normalize_(normalize), tokenize_(tokenize), detokenizer_(std::move(detokenizer)) {}

  /// The tokenizer of model files that name none (written before tokenizers travelled in them):
  /// no normalisation, tokenize's defaults, tokens joined by spaces.
  static WordTokenizer legacy() { return WordTokenizer(NormalizeOptions{false, false}, TokenizeOptions{}, Detokenizer::spaces()); }

  std::vector<std::string> encode(std::string_view text) const override {
    return tokenize(normalize(text, normalize_), tokenize_);
  }
  std::string decode(const std::vector<std::string>& tokens) const override { return detokenizer_.detokenize(tokens); }
  std::string kind() const override { return "word"; }
  bool keeps_case() const override { return !tokenize_.lower_case; }
  nlohmann::json to_json() const override {
    return nlohmann::json{{"format", "seq2seq.tokenizer"},
                          {"kind", "word"},
                          {"version", 1},
                          {"normalize", detail::normalize_to_json(normalize_)},
                          {"lower_case", tokenize_.lower_case},
                          {"split_punctuation", tokenize_.split_punctuation},
                          {"detokenizer", detokenizer_.to_json()}};
  }
  std::string describe() const override {
    return std::string("words") + (tokenize_.lower_case ? ", lower-cased" : ", cased") + detail::describe_normalize(normalize_);
  }

  /// Parses the "word" kind of to_json (absent fields: legacy()'s values).
  static WordTokenizer from_json(const nlohmann::json& j) {
    TokenizeOptions t;
    t.lower_case = detail::json_flag(j, "lower_case", true);
    t.split_punctuation = detail::json_flag(j, "split_punctuation", true);
    Detokenizer d = Detokenizer::spaces();
    const auto it = j.find("detokenizer");
    if (it != j.end()) d = Detokenizer::from_json(*it);
    return WordTokenizer(detail::normalize_from_json(j), t, std::move(d));
  }

  const NormalizeOptions& normalize_options() const { return normalize_; }
  const TokenizeOptions& tokenize_options() const { return tokenize_; }
  const Detokenizer& detokenizer() const { return detokenizer_; }

 private:
  NormalizeOptions normalize_;
  TokenizeOptions tokenize_;
  Detokenizer detokenizer_ = Detokenizer::english();
};

namespace detail {

using TokenizerFactory = std::unique_ptr<Tokenizer> (*)(const nlohmann::json&);

/// Kinds that tokenizer_from_json can rebuild besides "word", registered before main() by the
/// headers that implement them (sentencepiece.hpp: "sentencepiece").
inline std::map<std::string, TokenizerFactory>& tokenizer_factories() {
  static std::map<std::string, TokenizerFactory> factories;
  return factories;
}

/// What to include and link for a kind this program cannot rebuild.
inline std::string missing_kind_hint(const std::string& kind) {
  if (kind == "sentencepiece")
    return ": this program was built without SentencePiece (include <seq2seq/data/sentencepiece.hpp> and link the "
           "CMake target seq2seq::sentencepiece; Debian: libsentencepiece-dev)";
  return ": unknown tokenizer kind";
}

}  // namespace detail

/// Rebuilds a tokenizer from Tokenizer::to_json's output. Throws std::invalid_argument
/// ("seq2seq: tokenizer JSON: ...") on malformed JSON, a newer version, a kind this program cannot
/// rebuild (saying what to link), or a damaged model inside.
inline std::unique_ptr<Tokenizer> tokenizer_from_json(const nlohmann::json& j) {
  if (!j.is_object()) detail::bad_tokenizer_json(std::string("expected an object, got ") + j.type_name());
  const auto format = j.find("format");
  if (format == j.end() || !format->is_string() || format->get<std::string>() != "seq2seq.tokenizer")
    detail::bad_tokenizer_json("\"format\" must be \"seq2seq.tokenizer\"");
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || version->get<std::int64_t>() < 1)
    detail::bad_tokenizer_json("\"version\" must be a positive integer");
  if (version->get<std::int64_t>() > 1)
    detail::bad_tokenizer_json("version " + std::to_string(version->get<std::int64_t>()) + " is newer than this library's 1");
  const auto kind = j.find("kind");
  if (kind == j.end() || !kind->is_string()) detail::bad_tokenizer_json("\"kind\" must be a string");
  const std::string k = kind->get<std::string>();
  try {
    if (k == "word") return std::make_unique<WordTokenizer>(WordTokenizer::from_json(j));
    const auto& factories = detail::tokenizer_factories();
    const auto it = factories.find(k);
    if (it == factories.end()) detail::bad_tokenizer_json("kind \"" + k + "\"" + detail::missing_kind_hint(k));
    return it->second(j);
  } catch (const nlohmann::json::exception& e) {
    detail::bad_tokenizer_json(e.what());
  }
}

/// The same from JSON text.
inline std::unique_ptr<Tokenizer> tokenizer_from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    detail::bad_tokenizer_json(e.what());
  }
  return tokenizer_from_json(j);
}
inline std::unique_ptr<Tokenizer> tokenizer_from_json(const char* text) { return tokenizer_from_json(std::string(text)); }

/// The vocabulary of `tokenizer` for a corpus it encoded: a closed inventory (subword pieces)
/// gives every piece an id, in the tokenizer's order after the four special tokens (pieces spelled
/// like a special token are left out), so no encoded text holds <unk>; an open one (words) is
/// Vocab::build(tokenized_sentences, max_size, min_count).
inline Vocab build_vocab(const Tokenizer& tokenizer, const std::vector<std::vector<std::string>>& tokenized_sentences,
                         std::size_t max_size = 0, std::size_t min_count = 1) {
  std::vector<std::string> pieces = tokenizer.inventory();
  if (pieces.empty()) return Vocab::build(tokenized_sentences, max_size, min_count);
  std::vector<std::string> tokens(Vocab::special_words.begin(), Vocab::special_words.end());
  for (std::string& p : pieces)
    if (std::find(Vocab::special_words.begin(), Vocab::special_words.end(), p) == Vocab::special_words.end())
      tokens.push_back(std::move(p));
  return Vocab::from_tokens(tokens);
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_TOKENIZERS_HPP

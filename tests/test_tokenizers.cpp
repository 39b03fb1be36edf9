// Tests of data/tokenizers.hpp: the Tokenizer seam, the word tokenizer, the JSON form that model
// files carry, and build_vocab.
#include <seq2seq/data/tokenizers.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;

/// A tokenizer of another kind, as a user could write one: characters, with a closed inventory.
class LetterTokenizer : public Tokenizer {
 public:
  std::vector<std::string> encode(std::string_view text) const override {
    std::vector<std::string> out;
    for (char c : text)
      if (c != ' ') out.emplace_back(1, c);
    return out;
  }
  std::string decode(const std::vector<std::string>& tokens) const override {
    std::string out;
    for (const std::string& t : tokens) out += t;
    return out;
  }
  std::string kind() const override { return "letters"; }
  bool keeps_case() const override { return true; }
  std::vector<std::string> inventory() const override { return {"a", "b", "c"}; }
  nlohmann::json to_json() const override { return {{"format", "seq2seq.tokenizer"}, {"kind", "letters"}, {"version", 1}}; }
  std::string describe() const override { return "letters"; }
};

}  // namespace

TEST_CASE("tokenizers: the word tokenizer normalises, tokenizes and detokenizes") {
  const WordTokenizer w(NormalizeOptions{false, true}, TokenizeOptions{}, Detokenizer::french());
  CHECK(w.kind() == "word");
  CHECK_FALSE(w.keeps_case());
  CHECK(w.inventory().empty());
  CHECK(w.encode("J\xE2\x80\x99" "ai besoin d'aide.") ==
        std::vector<std::string>{"j", "'", "ai", "besoin", "d", "'", "aide", "."});
  CHECK(w.decode(w.encode("J\xE2\x80\x99" "ai besoin d'aide.")) == "j'ai besoin d'aide.");
  CHECK(w.decode(w.encode("Vous ai-je blessé ?")) == "vous ai-je blessé ?");
  CHECK(w.describe() == "words, lower-cased, \xE2\x80\x99 read as '");
  // Cased: the same rules without lower-casing.
  const WordTokenizer cased(NormalizeOptions{}, TokenizeOptions{false, true}, Detokenizer::english());
  CHECK(cased.keeps_case());
  CHECK(cased.decode(cased.encode("I don't know, Tom.")) == "I don't know, Tom.");
  // The tokenizer of older model files: no normalisation, one space between tokens.
  const WordTokenizer old = WordTokenizer::legacy();
  CHECK(old.encode("J\xE2\x80\x99" "ai") == std::vector<std::string>{"j", "\xE2\x80\x99", "ai"});
  CHECK(old.decode({"j", "'", "ai", "."}) == "j ' ai .");
}

TEST_CASE("tokenizers: JSON round trip rebuilds the same tokenizer") {
  const WordTokenizer w(NormalizeOptions{false, true}, TokenizeOptions{true, true}, Detokenizer::french());
  const std::unique_ptr<Tokenizer> again = tokenizer_from_json(w.to_json().dump());
  REQUIRE(again->kind() == "word");
  CHECK(again->to_json() == w.to_json());
  const auto& back = dynamic_cast<const WordTokenizer&>(*again);
  CHECK(back.detokenizer() == w.detokenizer());
  CHECK(back.normalize_options() == w.normalize_options());
  CHECK(again->decode(again->encode("Êtes-vous là ?")) == "êtes-vous là ?");
  // A word tokenizer's JSON with fields missing: legacy()'s values.
  const auto minimal = tokenizer_from_json(R"({"format":"seq2seq.tokenizer","kind":"word","version":1})");
  CHECK(minimal->to_json() == WordTokenizer::legacy().to_json());
}

TEST_CASE("tokenizers: bad tokenizer JSON is refused, naming the problem") {
  const auto refused = [](const std::string& text, const char* what) {
    CAPTURE(text);
    CHECK_THROWS_WITH_AS(tokenizer_from_json(text), doctest::Contains(what), std::invalid_argument);
  };
  refused("not json", "tokenizer JSON");
  refused("[1]", "expected an object");
  refused(R"({"kind":"word","version":1})", "\"format\"");
  refused(R"({"format":"seq2seq.tokenizer","kind":"word","version":2})", "newer");
  refused(R"({"format":"seq2seq.tokenizer","kind":"word"})", "\"version\"");
  refused(R"({"format":"seq2seq.tokenizer","version":1})", "\"kind\"");
  refused(R"({"format":"seq2seq.tokenizer","kind":"letters","version":1})", "unknown tokenizer kind");
  refused(R"({"format":"seq2seq.tokenizer","kind":"word","version":1,"lower_case":"yes"})", "true or false");
  refused(R"({"format":"seq2seq.tokenizer","kind":"word","version":1,"detokenizer":{"format":"x"}})", "detokenizer JSON");
#if !defined(SEQ2SEQ_WITH_SENTENCEPIECE)
  refused(R"({"format":"seq2seq.tokenizer","kind":"sentencepiece","version":1,"model":""})", "seq2seq::sentencepiece");
#endif
}

TEST_CASE("tokenizers: build_vocab counts an open tokenizer's words and takes a closed one's inventory") {
  const WordTokenizer w;
  const std::vector<std::vector<std::string>> sentences = {w.encode("the cat"), w.encode("the dog")};
  CHECK(build_vocab(w, sentences) == Vocab::build(sentences));
  CHECK(build_vocab(w, sentences, 5).size() == 5);
  const LetterTokenizer letters;
  const Vocab v = build_vocab(letters, {letters.encode("ab")});
  CHECK(v.tokens() == std::vector<std::string>{"<pad>", "<unk>", "<s>", "<EOS>", "a", "b", "c"});
  CHECK(v.encode(letters.encode("cab")) == Sentence{6, 4, 5});
}

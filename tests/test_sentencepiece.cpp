// Tests of data/sentencepiece.hpp (built only with seq2seq::sentencepiece): training on a corpus
// in memory, round trips text -> pieces -> text in English, French and German, the JSON form, a
// model file with SentencePiece inside, and the bad inputs (damaged or foreign models, an empty
// corpus, a vocabulary the corpus cannot fill).
#include <seq2seq/data/sentencepiece.hpp>
#include <seq2seq/io/model_file.hpp>
#include <seq2seq/seq2seq.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "test_files.hpp"

namespace {

using namespace seq2seq;
using seq2seq::test::TempDir;

/// English, French and German sentences with accents and typographic punctuation (’ « » – …),
/// repeated with small changes so a few hundred pieces can be learned.
std::vector<std::string> corpus() {
  const std::vector<std::string> base = {
      "I don\xE2\x80\x99t know where Tom is.",
      "Where are you going, Mary?",
      "The children are playing in the garden \xE2\x80\x93 aren\xE2\x80\x99t they?",
      "J\xE2\x80\x99" "ai besoin d\xE2\x80\x99" "aide.",
      "Vous ai-je bless\xC3\xA9\xE2\x80\xAF?",
      "\xC2\xAB Oui \xC2\xBB, r\xC3\xA9pondit-elle\xE2\x80\xA6",
      "\xC3\x8Ates-vous s\xC3\xBBr que \xC3\xA7" "a ira\xE2\x80\xAF?",
      "O\xC3\xB9 est la gare, s\xE2\x80\x99il vous pla\xC3\xAEt\xE2\x80\xAF?",
      "Die Stra\xC3\x9F" "e ist gro\xC3\x9F und sch\xC3\xB6n.",
      "\xC3\x9C" "ber den Br\xC3\xBC" "cken flie\xC3\x9Ft der Fluss.",
      "M\xC3\xA4" "dchen und Jungen spielen Fu\xC3\x9F" "ball.",
      "K\xC3\xB6nnen Sie mir bitte helfen?"};
  std::vector<std::string> out;
  const std::vector<std::string> names = {"Tom", "Marie", "Anna", "Jean", "Paul", "Lena"};
  for (const std::string& name : names)
    for (const std::string& s : base) out.push_back(name + ": " + s);
  return out;
}

SentencePieceOptions small_options(const std::string& type = "unigram", std::size_t pieces = 100) {
  SentencePieceOptions o;
  o.model_type = type;
  o.vocab_size = pieces;
  return o;
}

const SentencePieceTokenizer& trained() {
  static const SentencePieceTokenizer t = SentencePieceTokenizer::train(corpus(), small_options());
  return t;
}

using Model = Seq2Seq<Encoder<StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic>>,
                      Decoder<StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic>>>;

}  // namespace

TEST_CASE("sentencepiece: text -> pieces -> text in English, French and German, accents and typography kept") {
  for (const std::string type : {"unigram", "bpe"}) {
    CAPTURE(type);
    const SentencePieceTokenizer sp = SentencePieceTokenizer::train(corpus(), small_options(type));
    CHECK(sp.piece_count() == 100);
    CHECK(sp.kind() == "sentencepiece");
    CHECK(sp.keeps_case());
    for (const std::string& text :
         {std::string("Tom: I don't know where Tom is."), std::string("Marie: J'ai besoin d'aide."),
          std::string("\xC3\x8Ates-vous s\xC3\xBBr que \xC3\xA7" "a ira ?"), std::string("Die Stra\xC3\x9F" "e ist gro\xC3\x9F."),
          std::string("\xC2\xAB Oui \xC2\xBB, dit-elle \xE2\x80\x93 K\xC3\xB6nnen Sie?")}) {
      CAPTURE(text);
      const std::vector<std::string> pieces = sp.encode(text);
      CHECK(pieces.size() > 1);
      for (const std::string& p : pieces) CHECK(utf8::is_valid(p));
      CHECK(sp.decode(pieces) == text);
    }
    // The typographic apostrophe is read as ' (NormalizeOptions{} by default); case is kept.
    CHECK(sp.decode(sp.encode("J\xE2\x80\x99" "ai besoin d\xE2\x80\x99" "aide.")) == "J'ai besoin d'aide.");
    // nmt_nfkc: every whitespace character is a space, extra spaces go, "…" is "...".
    CHECK(sp.decode(sp.encode("Vous ai-je bless\xC3\xA9\xE2\x80\xAF?  ")) == "Vous ai-je bless\xC3\xA9 ?");
    CHECK(sp.decode(sp.encode("Oui\xE2\x80\xA6")) == "Oui...");
  }
  // With SentencePiece's "identity" rule the text comes back byte for byte, narrow no-break
  // spaces and ellipses included.
  SentencePieceOptions identity = small_options();
  identity.normalization = "identity";
  const SentencePieceTokenizer sp = SentencePieceTokenizer::train(corpus(), identity);
  for (const std::string& s : corpus()) {
    CAPTURE(s);
    CHECK(sp.decode(sp.encode(s)) == normalize_apostrophes(s));
  }
}

TEST_CASE("sentencepiece: the inventory is every piece, so the vocabulary has no <unk> for the corpus") {
  const SentencePieceTokenizer& sp = trained();
  const std::vector<std::string> inventory = sp.inventory();
  CHECK(inventory.size() == 99);  // 100 pieces less SentencePiece's own <unk>
  const Vocab v = build_vocab(sp, {});
  CHECK(v.size() == 4 + 99);
  for (const std::string& s : corpus()) {
    std::size_t unknown = 0;
    const Sentence ids = v.encode(sp.encode(s), unknown);
    CHECK(unknown == 0);
    CHECK(v.decode(ids) == sp.encode(s));
  }
}

TEST_CASE("sentencepiece: sampled segmentations (BPE-dropout, unigram sampling) decode to the text, seeded") {
  const std::vector<std::string> texts = corpus();
  for (const std::string type : {"bpe", "unigram"}) {
    CAPTURE(type);
    const SentencePieceTokenizer sp = SentencePieceTokenizer::train(texts, small_options(type, 100));
    const Tokenizer& tok = sp;  // through the seam, as training calls it
    const double alpha = type == "bpe" ? 0.3 : 0.2;
    const auto a = tok.encode_sampled(texts, alpha, 11);
    REQUIRE(a.size() == texts.size());
    CHECK(tok.encode_sampled(texts, alpha, 11) == a);  // the same seed, the same pieces
    const auto b = tok.encode_sampled(texts, alpha, 12);
    std::size_t differ = 0, longer = 0;
    const Vocab v = build_vocab(sp, {});
    for (std::size_t i = 0; i < texts.size(); ++i) {
      CHECK(sp.decode(a[i]) == sp.decode(sp.encode(texts[i])));  // another segmentation of the same text
      std::size_t unknown = 0;
      v.encode(a[i], unknown);
      CHECK(unknown == 0);  // every sampled piece is in the inventory
      differ += a[i] != b[i];
      longer += a[i].size() > sp.encode(texts[i]).size();
    }
    CHECK(differ > texts.size() / 4);  // another seed, other segmentations
    CHECK(longer > texts.size() / 4);  // dropped merges or a less likely path: more, shorter pieces
  }
  const SentencePieceTokenizer bpe = SentencePieceTokenizer::train(texts, small_options("bpe", 100));
  const auto none = bpe.encode_sampled(texts, 0.0, 5);  // BPE-dropout 0 drops nothing
  for (std::size_t i = 0; i < texts.size(); ++i) CHECK(none[i] == bpe.encode(texts[i]));
  CHECK_THROWS_WITH_AS(bpe.encode_sampled(texts, -0.1, 1), doctest::Contains("alpha"), std::invalid_argument);
  CHECK_THROWS_AS(bpe.encode_sampled(texts, std::nan(""), 1), std::invalid_argument);
  // The word tokenizer has one segmentation: encode's.
  const WordTokenizer words;
  const auto w = static_cast<const Tokenizer&>(words).encode_sampled(texts, 0.3, 1);
  for (std::size_t i = 0; i < texts.size(); ++i) CHECK(w[i] == words.encode(texts[i]));
}

TEST_CASE("sentencepiece: JSON (base64 model) round trip, and what tokenizer_from_json rebuilds") {
  const SentencePieceTokenizer& sp = trained();
  const nlohmann::json j = sp.to_json();
  CHECK(j.at("kind") == "sentencepiece");
  const std::unique_ptr<Tokenizer> again = tokenizer_from_json(j.dump());
  REQUIRE(again->kind() == "sentencepiece");
  CHECK(dynamic_cast<const SentencePieceTokenizer&>(*again).serialized() == sp.serialized());
  for (const std::string& s : corpus()) CHECK(again->encode(s) == sp.encode(s));
  // Training is deterministic: the same corpus and options give the same model.
  CHECK(SentencePieceTokenizer::train(corpus(), small_options()).serialized() == sp.serialized());
}

TEST_CASE("sentencepiece: a model file carries its tokenizers; the reloaded model translates the same") {
  const SentencePieceTokenizer source = SentencePieceTokenizer::train(corpus(), small_options("unigram", 80));
  const SentencePieceTokenizer& target = trained();
  const Vocab sv = build_vocab(source, {}), tv = build_vocab(target, {});
  ModelConfig c;
  c.source_vocab = static_cast<Index>(sv.size());
  c.target_vocab = static_cast<Index>(tv.size());
  c.embed = 4;
  c.hidden = 6;
  c.layers = 1;
  c.max_length = 20;
  Model model(c);
  Rng rng(5);
  init_uniform(model, rng, 0.3);
  TempDir dir("sentencepiece");
  const std::string path = dir.file("model.safetensors");
  std::map<std::string, std::string> meta = io::tokenizer_metadata(source, target);
  meta["note"] = "test";
  io::save_model(path, model, sv, tv, meta);

  const io::LoadedModel<Model> loaded = io::load_model<Model>(path);
  const io::Tokenizers tok = io::load_tokenizers(loaded.metadata);
  REQUIRE(tok.source->kind() == "sentencepiece");
  REQUIRE(tok.target->kind() == "sentencepiece");
  CHECK(loaded.metadata.at("note") == "test");
  for (const std::string text : {"Tom: Where are you going?", "Marie: Vous ai-je bless\xC3\xA9 ?", "Die Stra\xC3\x9F" "e."}) {
    CAPTURE(text);
    CHECK(tok.source->encode(text) == source.encode(text));
    const auto before = model.translate(sv.encode(source.encode(text)));
    const auto after = loaded.model.translate(loaded.source_vocab.encode(tok.source->encode(text)));
    CHECK(target.decode(tv.decode(before.front().tokens)) == tok.target->decode(loaded.target_vocab.decode(after.front().tokens)));
  }
}

TEST_CASE("sentencepiece: damaged or foreign models are refused with a clear error") {
  const SentencePieceTokenizer& sp = trained();
  const std::string good = sp.serialized();
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::from_serialized(""), doctest::Contains("SentencePiece model"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::from_serialized("not a model"), doctest::Contains("does not load"),
                       std::invalid_argument);
  CHECK_THROWS_AS(SentencePieceTokenizer::from_serialized(good.substr(0, good.size() / 2)), std::invalid_argument);
  // A foreign file: a safetensors header is not a SentencePiece model.
  CHECK_THROWS_AS(SentencePieceTokenizer::from_serialized(std::string("\x10\0\0\0\0\0\0\0{\"__metadata__\":{}}", 26)),
                  std::invalid_argument);
  // In JSON: bad base64, a missing model, a damaged one.
  nlohmann::json j = sp.to_json();
  j["model"] = "***";
  CHECK_THROWS_WITH_AS(tokenizer_from_json(j.dump()), doctest::Contains("base64"), std::invalid_argument);
  j.erase("model");
  CHECK_THROWS_WITH_AS(tokenizer_from_json(j.dump()), doctest::Contains("\"model\""), std::invalid_argument);
  j["model"] = detail::base64_encode(good.substr(0, 40));
  CHECK_THROWS_AS(tokenizer_from_json(j.dump()), std::invalid_argument);
  // In a model file: load_tokenizers names the side.
  j["model"] = detail::base64_encode("garbage");
  const std::map<std::string, std::string> meta{{io::kTargetTokenizerKey, j.dump()}};
  CHECK_THROWS_WITH_AS(io::load_tokenizers(meta), doctest::Contains("target_tokenizer: SentencePiece model"),
                       std::invalid_argument);
}

TEST_CASE("sentencepiece: an empty corpus, too many pieces and bad options are refused") {
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::train({}, small_options()), doctest::Contains("empty corpus"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::train({" ", "\xE2\x80\xAF", ""}, small_options()),
                       doctest::Contains("empty corpus"), std::invalid_argument);
  // The corpus has too few distinct substrings for 5000 pieces: SentencePiece says how many fit.
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::train(corpus(), small_options("unigram", 5000)),
                       doctest::Contains("Vocabulary size too high (5000). Please set it to a value <="),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::train(corpus(), small_options("unigram", 20)),
                       doctest::Contains("smaller than required_chars"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::train(corpus(), small_options("word2vec")), doctest::Contains("neither"),
                       std::invalid_argument);
  SentencePieceOptions bad = small_options();
  bad.character_coverage = 0;
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::train(corpus(), bad), doctest::Contains("coverage"), std::invalid_argument);
  CHECK_THROWS_AS(SentencePieceTokenizer::train({"caf\xE9"}, small_options()), std::invalid_argument);
}

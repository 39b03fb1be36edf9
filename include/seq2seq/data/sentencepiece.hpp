// seq2seq: SentencePiece subwords (Kudo & Richardson 2018) as a Tokenizer: train a unigram or BPE
// model on a corpus in memory, load one, encode, decode, and carry it in JSON (base64).
//
// Optional: needs the SentencePiece library (Debian: libsentencepiece-dev). With CMake, link
// seq2seq::sentencepiece, which exists when the library was found (find_package(seq2seq
// COMPONENTS sentencepiece) in an installed package); by hand, -lsentencepiece_train
// -lsentencepiece. Including this header registers the "sentencepiece" kind with
// tokenizer_from_json for the whole program.
#ifndef SEQ2SEQ_DATA_SENTENCEPIECE_HPP
#define SEQ2SEQ_DATA_SENTENCEPIECE_HPP

#include "../detail/base64.hpp"
#include "normalize.hpp"
#include "tokenizers.hpp"
#include "utf8.hpp"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace seq2seq {

/// How SentencePieceTokenizer::train makes a model (SentencePiece's trainer flags of the same names).
struct SentencePieceOptions {
  /// "unigram" (Kudo 2018, SentencePiece's default) or "bpe" (Sennrich et al. 2016).
  std::string model_type = "unigram";
  /// Pieces in the model, its <unk> included. SentencePiece refuses more than the corpus allows
  /// (a small corpus has few distinct substrings): train() then throws, saying the largest size.
  std::size_t vocab_size = 8000;
  /// Share of the corpus' characters the pieces must cover; the rarest others become <unk>.
  /// 1.0 keeps every character (right for alphabets; 0.9995 is usual for CJK).
  double character_coverage = 1.0;
  /// SentencePiece's own normalisation, applied inside the model: "nmt_nfkc" (NFKC, and every
  /// whitespace character made a space: its default), "nfkc", "identity", ...
  std::string normalization = "nmt_nfkc";
  /// Unknown characters become UTF-8 byte pieces instead of <unk> (adds 256 pieces).
  bool byte_fallback = false;
  /// Sentences over this many bytes are left out of training (SentencePiece's default).
  std::size_t max_sentence_length = 4192;
};

/// SentencePiece subwords as a Tokenizer. encode gives the pieces ("▁Vous", "▁ai", "-", "je"),
/// decode joins pieces back into the text, with its case and spacing: no lower-casing and no
/// rules, SentencePiece keeps the spaces as "▁" inside the pieces. Text is normalised by our
/// NormalizeOptions first (apostrophes, NFC), then by the model's own rule.
/// Copies share the loaded model (immutable), so copying is cheap.
class SentencePieceTokenizer : public Tokenizer {
 public:
  /// Trains a model on `sentences` (kept in memory: no file is written). Throws
  /// std::invalid_argument ("seq2seq: SentencePiece training: ...") for an empty corpus (no
  /// sentence with a non-space character), bad options, or what SentencePiece refuses (a vocabulary
  /// larger than the corpus allows, smaller than its characters).
  static SentencePieceTokenizer train(const std::vector<std::string>& sentences, const SentencePieceOptions& options,
                                      const NormalizeOptions& normalize_options = {});

  /// A model from its serialized form (SentencePiece's ModelProto, the bytes of a .model file).
  /// Throws std::invalid_argument ("seq2seq: SentencePiece model: ...") when it does not load.
  static SentencePieceTokenizer from_serialized(std::string model, const NormalizeOptions& normalize_options = {});

  /// Parses the "sentencepiece" kind of to_json.
  static SentencePieceTokenizer from_json(const nlohmann::json& j);

  std::vector<std::string> encode(std::string_view text) const override {
    const std::string normal = normalize(text, normalize_);
    std::vector<std::string> pieces;
    const auto status = processor_->Encode(normal, &pieces);
    if (!status.ok()) throw std::invalid_argument("seq2seq: SentencePiece encode: " + status.ToString());
    return pieces;
  }
  std::string decode(const std::vector<std::string>& tokens) const override {
    std::string text;
    const auto status = processor_->Decode(tokens, &text);
    if (!status.ok()) throw std::invalid_argument("seq2seq: SentencePiece decode: " + status.ToString());
    return text;
  }
  /// Subword regularisation (SentencePiece's SampleEncode): for BPE, `alpha` is the probability
  /// that each merge is dropped (BPE-dropout, Provilkov et al. 2020; 0.1 is usual, 0 gives encode's
  /// pieces); for unigram, the smoothing of the segmentation lattice's distribution (Kudo 2018;
  /// 0.1 to 0.5 usual, larger keeps closer to the best segmentation). Deterministic in `seed`:
  /// SentencePiece draws from a per-thread generator seeded from one process-wide seed, so the
  /// texts are encoded on a thread of their own, started after that seed is set, and calls are
  /// serialised. Throws std::invalid_argument for alpha < 0 or not finite.
  std::vector<std::vector<std::string>> encode_sampled(const std::vector<std::string>& texts, double alpha,
                                                       std::uint64_t seed) const override;
  std::string kind() const override { return "sentencepiece"; }
  bool keeps_case() const override { return true; }
  /// The model's pieces in id order, without its control and unknown symbols.
  std::vector<std::string> inventory() const override {
    std::vector<std::string> out;
    const int n = processor_->GetPieceSize();
    for (int id = 0; id < n; ++id)
      if (!processor_->IsControl(id) && !processor_->IsUnknown(id)) out.push_back(processor_->IdToPiece(id));
    return out;
  }
  nlohmann::json to_json() const override {
    return nlohmann::json{{"format", "seq2seq.tokenizer"},
                          {"kind", "sentencepiece"},
                          {"version", 1},
                          {"normalize", detail::normalize_to_json(normalize_)},
                          {"model", detail::base64_encode(model_)}};
  }
  std::string describe() const override {
    return "SentencePiece, " + std::to_string(piece_count()) + " pieces, cased" + detail::describe_normalize(normalize_);
  }

  /// Pieces in the model, <unk> and control symbols included (SentencePiece's vocabulary size).
  std::size_t piece_count() const { return static_cast<std::size_t>(processor_->GetPieceSize()); }
  /// The serialized model (what a .model file holds).
  const std::string& serialized() const { return model_; }
  const NormalizeOptions& normalize_options() const { return normalize_; }

 private:
  SentencePieceTokenizer(std::string model, std::shared_ptr<const sentencepiece::SentencePieceProcessor> processor,
                         NormalizeOptions normalize_options)
      : model_(std::move(model)), processor_(std::move(processor)), normalize_(normalize_options) {}

  std::string model_;
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> processor_;
  NormalizeOptions normalize_;
};

namespace detail {

/// The sentences handed to SentencePiece's trainer, without a copy.
class SentenceList : public sentencepiece::SentenceIterator {
 public:
  explicit SentenceList(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return at_ >= sentences_.size(); }
  void Next() override { ++at_; }
  const std::string& value() const override { return sentences_[at_]; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  const std::vector<std::string>& sentences_;
  std::size_t at_ = 0;
};

}  // namespace detail

inline SentencePieceTokenizer SentencePieceTokenizer::from_serialized(std::string model,
                                                                      const NormalizeOptions& normalize_options) {
  auto processor = std::make_shared<sentencepiece::SentencePieceProcessor>();
  if (model.empty()) throw std::invalid_argument("seq2seq: SentencePiece model: empty");
  const auto status = processor->LoadFromSerializedProto(model);
  if (!status.ok()) throw std::invalid_argument("seq2seq: SentencePiece model does not load: " + status.ToString());
  if (processor->GetPieceSize() <= 0) throw std::invalid_argument("seq2seq: SentencePiece model has no pieces");
  return SentencePieceTokenizer(std::move(model), std::move(processor), normalize_options);
}

inline std::vector<std::vector<std::string>> SentencePieceTokenizer::encode_sampled(const std::vector<std::string>& texts,
                                                                                    double alpha, std::uint64_t seed) const {
  if (!(alpha >= 0.0) || !std::isfinite(alpha))
    throw std::invalid_argument("seq2seq: SentencePiece sampling: alpha " + std::to_string(alpha) + " is not a number >= 0");
  std::vector<std::vector<std::string>> out(texts.size());
  std::exception_ptr failure;
  const auto work = [&] {
    try {
      for (std::size_t i = 0; i < texts.size(); ++i) {
        const auto status = processor_->SampleEncode(normalize(texts[i], normalize_), -1, static_cast<float>(alpha), &out[i]);
        if (!status.ok()) throw std::invalid_argument("seq2seq: SentencePiece sampling: " + status.ToString());
      }
    } catch (...) {
      failure = std::current_exception();
    }
  };
  // The seed is folded to SentencePiece's 32 bits; its all-ones value means "seed from
  // std::random_device", so that one is moved.
  auto seed32 = static_cast<unsigned int>(seed ^ (seed >> 32));
  if (seed32 == static_cast<unsigned int>(-1)) seed32 = 0x5EED;
  static std::mutex serial;
  {
    const std::lock_guard<std::mutex> lock(serial);
    sentencepiece::SetRandomGeneratorSeed(seed32);
    std::thread worker(work);
    worker.join();
  }
  if (failure) std::rethrow_exception(failure);
  return out;
}

inline SentencePieceTokenizer SentencePieceTokenizer::from_json(const nlohmann::json& j) {
  const auto it = j.find("model");
  if (it == j.end() || !it->is_string()) detail::bad_tokenizer_json("a sentencepiece tokenizer needs \"model\" (base64)");
  std::string bytes;
  try {
    bytes = detail::base64_decode(it->get<std::string>());
  } catch (const std::invalid_argument& e) {
    detail::bad_tokenizer_json(std::string("\"model\": ") + (e.what() + 9));
  }
  return from_serialized(std::move(bytes), detail::normalize_from_json(j));
}

inline SentencePieceTokenizer SentencePieceTokenizer::train(const std::vector<std::string>& sentences,
                                                            const SentencePieceOptions& options,
                                                            const NormalizeOptions& normalize_options) {
  const auto fail = [](const std::string& what) { return std::invalid_argument("seq2seq: SentencePiece training: " + what); };
  if (options.model_type != "unigram" && options.model_type != "bpe")
    throw fail("model type \"" + options.model_type + "\" is neither \"unigram\" nor \"bpe\"");
  if (options.vocab_size < 2) throw fail("a vocabulary of " + std::to_string(options.vocab_size) + " pieces is too small");
  if (!(options.character_coverage > 0.0 && options.character_coverage <= 1.0))
    throw fail("character coverage " + std::to_string(options.character_coverage) + " is not in (0, 1]");
  std::vector<std::string> normal;
  normal.reserve(sentences.size());
  bool any_text = false;
  for (const std::string& s : sentences) {
    normal.push_back(normalize(s, normalize_options));
    if (!any_text) {
      char32_t cp = 0;
      for (std::size_t pos = 0; pos < normal.back().size() && !any_text;) {
        const std::size_t len = utf8::decode(normal.back(), pos, cp);
        any_text = !is_space_code_point(cp);
        pos += len;
      }
    }
  }
  if (!any_text) throw fail("empty corpus (no sentence with text in it)");
  // No <s>, </s> or padding pieces: the model adds its own start and end tokens.
  const std::unordered_map<std::string, std::string> args{
      {"model_type", options.model_type},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"character_coverage", std::to_string(options.character_coverage)},
      {"normalization_rule_name", options.normalization},
      {"byte_fallback", options.byte_fallback ? "true" : "false"},
      {"max_sentence_length", std::to_string(options.max_sentence_length)},
      {"input_sentence_size", "0"},  // every sentence, in order: deterministic
      {"shuffle_input_sentence", "false"},
      {"num_threads", "1"},
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"pad_id", "-1"},
      {"unk_id", "0"},
      {"minloglevel", "2"}};  // SentencePiece's progress log off
  detail::SentenceList list(normal);
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &list, &model);
  if (!status.ok()) {
    // "Internal: ./src/trainer_interface.cc(660) [...] Vocabulary size too high (4000). Please set
    // it to a value <= 3579.": the sentence after the bracketed check is what the user needs.
    std::string what = status.error_message();
    const std::size_t close = what.find("] ");
    if (close != std::string::npos) what = what.substr(close + 2);
    throw fail(what);
  }
  return from_serialized(std::move(model), normalize_options);
}

namespace detail {

inline std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(const nlohmann::json& j) {
  return std::make_unique<SentencePieceTokenizer>(SentencePieceTokenizer::from_json(j));
}

/// Registers the "sentencepiece" kind with tokenizer_from_json before main().
inline const bool sentencepiece_registered =
    (tokenizer_factories()["sentencepiece"] = &make_sentencepiece_tokenizer, true);

}  // namespace detail
}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_SENTENCEPIECE_HPP

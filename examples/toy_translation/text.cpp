// toy_translation: text in and out (text.hpp). The one file that includes SentencePiece, when
// the build has it (seq2seq::sentencepiece), which registers it for the whole program.
#include "text.hpp"

#if defined(SEQ2SEQ_WITH_SENTENCEPIECE) && SEQ2SEQ_WITH_SENTENCEPIECE
#include <seq2seq/data/sentencepiece.hpp>
#endif

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stdexcept>

namespace toy {

bool has_sentencepiece() {
#if defined(SEQ2SEQ_WITH_SENTENCEPIECE) && SEQ2SEQ_WITH_SENTENCEPIECE
  return true;
#else
  return false;
#endif
}

seq2seq::io::Tokenizers make_tokenizers(const DataSpec& d, const std::vector<Pair>& train_pairs) {
  // NFC whenever the program has ICU: recorded in the model file, so a program without ICU that
  // loads it refuses to encode rather than tokenizing differently.
  const seq2seq::NormalizeOptions normal{seq2seq::has_nfc(), true};
  std::vector<std::string> sources, targets;
  for (const Pair& p : train_pairs) {
    sources.push_back(p.source);
    targets.push_back(p.target);
  }
  seq2seq::io::Tokenizers t;
  if (d.subwords == 0) {
    const auto side = [&](const std::vector<std::string>& texts) {
      const seq2seq::TokenizeOptions split{};
      return std::make_shared<seq2seq::WordTokenizer>(
          normal, split, seq2seq::Detokenizer::learn(texts, seq2seq::Detokenizer::english(), normal, split));
    };
    t.source = side(sources);
    t.target = side(targets);
    return t;
  }
#if defined(SEQ2SEQ_WITH_SENTENCEPIECE) && SEQ2SEQ_WITH_SENTENCEPIECE
  seq2seq::SentencePieceOptions o;
  o.model_type = d.subword_type;
  o.vocab_size = d.subwords;
  // SentencePiece's refusals ("Vocabulary size too high (3000). Please set it to a value <=
  // 2142.") said with the side and the flag.
  const auto train = [&](const std::vector<std::string>& texts, const char* side) {
    try {
      return std::make_shared<seq2seq::SentencePieceTokenizer>(seq2seq::SentencePieceTokenizer::train(texts, o, normal));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("--subwords ") + std::to_string(d.subwords) + " on the " + side + " (" +
                                  std::to_string(texts.size()) + " sentences): " + e.what());
    }
  };
  if (d.subwords_joint) {
    std::vector<std::string> both = sources;
    both.insert(both.end(), targets.begin(), targets.end());
    t.source = t.target = train(both, "sources and targets of the training split");
  } else {
    t.source = train(sources, "sources of the training split");
    t.target = train(targets, "targets of the training split");
  }
  return t;
#else
  throw std::runtime_error("--subwords needs SentencePiece, and this build has none (install libsentencepiece-dev and rebuild)");
#endif
}

std::vector<std::string> tokens_of(const seq2seq::Tokenizer& tokenizer, const std::string& text) {
  return tokenizer.encode(text);
}

std::vector<std::string> bleu_tokens(const std::string& text, bool cased) {
  seq2seq::TokenizeOptions split;
  split.lower_case = !cased;
  return seq2seq::tokenize(seq2seq::normalize_apostrophes(text), split);
}

Sentence encode_source(const Bundle& b, const std::string& text, std::size_t* unknown) {
  const std::vector<std::string> words = tokens_of(*b.source_tokenizer, text);
  if (words.empty()) throw std::invalid_argument("empty sentence");
  if (b.config.max_length > 0 && static_cast<Index>(words.size()) > b.config.max_length)
    throw std::invalid_argument("sentence of " + std::to_string(words.size()) + " tokens is longer than the model's limit of " +
                                std::to_string(b.config.max_length) + " (--max-length at training)");
  std::size_t unk = 0;
  Sentence ids = b.source.encode(words, unk);
  if (unknown) *unknown = unk;
  return ids;
}

Sentence encode_target(const Bundle& b, const std::string& text) {
  const std::vector<std::string> t = tokens_of(*b.target_tokenizer, text);
  if (t.empty()) throw std::invalid_argument("empty target sentence");
  if (b.config.max_length > 0 && static_cast<Index>(t.size()) > b.config.max_length)
    throw std::invalid_argument("target of " + std::to_string(t.size()) + " tokens is longer than the model's limit of " +
                                std::to_string(b.config.max_length));
  return b.target.encode(t);
}

std::string decode_text(const Bundle& b, const Sentence& ids, bool tokenized) {
  const std::vector<std::string> tokens = b.target.decode(ids);
  return tokenized ? seq2seq::detokenize(tokens) : b.target_tokenizer->decode(tokens);
}

LineSource::LineSource(const std::string& name) : name_(name == "-" ? "<stdin>" : name) {
  if (name != "-") {
    std::error_code ec;
    if (std::filesystem::is_directory(name, ec)) throw std::runtime_error("cannot read '" + name + "': it is a directory");
    file_.open(name, std::ios::binary);
    if (!file_) throw std::runtime_error("cannot read '" + name + "': " + std::strerror(errno));
  }
}

bool LineSource::next(std::string& line) {
  std::istream& in = file_.is_open() ? static_cast<std::istream&>(file_) : std::cin;
  if (!std::getline(in, line)) {
    if (in.bad()) throw std::runtime_error("read error in '" + name_ + "' after line " + std::to_string(number_));
    return false;
  }
  ++number_;
  if (number_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

}  // namespace toy

// toy_translation: text in and out: the tokenizers of a new run (words or SentencePiece), input
// lines, sentences to token ids and back, and the tokens BLEU compares.
#ifndef TOY_TRANSLATION_TEXT_HPP
#define TOY_TRANSLATION_TEXT_HPP

#include "run_files.hpp"

#include <cstddef>
#include <fstream>
#include <string>
#include <vector>

namespace toy {

/// The tokenizers of a new run, made from its training pairs as `d` says: the word tokenizer
/// (lower-cased, NFC when the program has ICU, ’ read as ', output spacing learned from the
/// training text of each side), or SentencePiece models of d.subwords pieces per side (one
/// shared model with d.subwords_joint), trained in memory. Throws std::invalid_argument when
/// SentencePiece refuses the corpus, or std::runtime_error when this build has no SentencePiece.
seq2seq::io::Tokenizers make_tokenizers(const DataSpec& d, const std::vector<Pair>& train);
/// True when this build can train and load SentencePiece models.
bool has_sentencepiece();

/// The tokens of a sentence.
std::vector<std::string> tokens_of(const seq2seq::Tokenizer& tokenizer, const std::string& text);

/// Source text to ids, with the checks a user's input needs (empty, over the model's length
/// limit); sets `*unknown` to the number of tokens read as <unk>. Throws std::invalid_argument.
Sentence encode_source(const Bundle& b, const std::string& text, std::size_t* unknown = nullptr);

/// Target text to ids for scoring, with the same checks (empty: "empty target sentence"; over
/// the model's length limit). Throws std::invalid_argument.
Sentence encode_target(const Bundle& b, const std::string& text);

/// Target ids to text: detokenized by the model's tokenizer, or with `tokenized` the tokens
/// joined by spaces (what translate printed before detokenization).
std::string decode_text(const Bundle& b, const Sentence& ids, bool tokenized = false);

/// The tokens that BLEU and exact match compare, for hypotheses and references alike: the word
/// tokenizer's split of the text (’ read as ', punctuation split off), lower-cased unless `cased`.
/// Computed from detokenized text, so word and subword models are scored the same way.
std::vector<std::string> bleu_tokens(const std::string& text, bool cased);

/// Lines of a file, or of stdin for "-" (a UTF-8 byte-order mark and CR line ends removed).
class LineSource {
 public:
  explicit LineSource(const std::string& name);
  bool next(std::string& line);
  const std::string& name() const { return name_; }
  std::size_t number() const { return number_; }

 private:
  std::string name_;
  std::ifstream file_;
  std::size_t number_ = 0;
};

}  // namespace toy

#endif  // TOY_TRANSLATION_TEXT_HPP

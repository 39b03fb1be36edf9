// toy_translation: text in and out: input lines, and sentences to token ids and back.
#ifndef TOY_TRANSLATION_TEXT_HPP
#define TOY_TRANSLATION_TEXT_HPP

#include "run_files.hpp"

#include <cstddef>
#include <fstream>
#include <string>
#include <vector>

namespace toy {

/// The tokens of a sentence (seq2seq::tokenize).
std::vector<std::string> tokens_of(const std::string& text);

/// Source text to ids, with the checks a user's input needs (empty, over the model's length
/// limit); sets `*unknown` to the number of words read as <unk>. Throws std::invalid_argument.
Sentence encode_source(const Bundle& b, const std::string& text, std::size_t* unknown = nullptr);

/// Target text to ids for scoring, with the same checks (empty: "empty target sentence"; over
/// the model's length limit). Throws std::invalid_argument.
Sentence encode_target(const Bundle& b, const std::string& text);

/// Target ids to text.
std::string decode_text(const Vocab& vocab, const Sentence& ids);

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

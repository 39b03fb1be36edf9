// toy_translation: text in and out (text.hpp).
#include "text.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stdexcept>

namespace toy {

std::vector<std::string> tokens_of(const std::string& text) { return seq2seq::tokenize(text); }

Sentence encode_source(const Bundle& b, const std::string& text, std::size_t* unknown) {
  const std::vector<std::string> words = tokens_of(text);
  if (words.empty()) throw std::invalid_argument("empty sentence");
  if (b.config.max_length > 0 && static_cast<Index>(words.size()) > b.config.max_length)
    throw std::invalid_argument("sentence of " + std::to_string(words.size()) + " words is longer than the model's limit of " +
                                std::to_string(b.config.max_length) + " (--max-length at training)");
  std::size_t unk = 0;
  Sentence ids = b.source.encode(words, unk);
  if (unknown) *unknown = unk;
  return ids;
}

Sentence encode_target(const Bundle& b, const std::string& text) {
  const std::vector<std::string> t = tokens_of(text);
  if (t.empty()) throw std::invalid_argument("empty target sentence");
  if (b.config.max_length > 0 && static_cast<Index>(t.size()) > b.config.max_length)
    throw std::invalid_argument("target of " + std::to_string(t.size()) + " words is longer than the model's limit of " +
                                std::to_string(b.config.max_length));
  return b.target.encode(t);
}

std::string decode_text(const Vocab& vocab, const Sentence& ids) { return seq2seq::detokenize(vocab.decode(ids)); }

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

// seq2seq: Vocab, the two-way map between words and token ids, with its JSON form for checkpoints.
#ifndef SEQ2SEQ_DATA_VOCAB_HPP
#define SEQ2SEQ_DATA_VOCAB_HPP

#include "types.hpp"
#include "utf8.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace seq2seq {

/// The words of one language and their ids.
///
/// Ids 0..3 are always the special tokens, spelled `<pad>` (Special::pad, padding of short sequences
/// in a batch), `<unk>` (Special::unk, every word outside the vocabulary), `<s>` (Special::bos, the
/// decoder's first input) and `<EOS>` (Special::eos, end of sentence); the words follow from id 4,
/// most frequent first. A Vocab never changes after it is made (build, from_tokens, from_json), so a
/// const Vocab may be shared between threads.
///
/// Encoded sentences hold word ids and `<unk>` only: the model adds `<s>` and `<EOS>` itself, so a
/// literal "<pad>", "<s>" or "<EOS>" in the text encodes to `<unk>` (the tokenizer never produces
/// them anyway: it splits off '<' and '>').
class Vocab {
 public:
  /// The spelling of the special tokens, indexed by id.
  static constexpr std::array<std::string_view, Special::count> special_words{{"<pad>", "<unk>", "<s>", "<EOS>"}};
  /// Version of the JSON layout written by to_json; from_json refuses newer versions.
  static constexpr int json_version = 1;

  /// A vocabulary of the four special tokens only.
  Vocab() {
    for (std::string_view w : special_words) add(std::string(w));
  }

  /// Counts the words of `tokenized_sentences` and keeps those seen at least `min_count` times (0 and
  /// 1 both keep every word), most frequent first, ties broken by byte-wise (for ASCII: alphabetical)
  /// order, so the result depends only on the word counts, not on the sentence order. `max_size`
  /// caps size() including the four special tokens (0 = no cap; otherwise it must be at least 4).
  /// Tokens spelled like a special token are not counted. Every token must be non-empty UTF-8.
  static Vocab build(const std::vector<std::vector<std::string>>& tokenized_sentences, std::size_t max_size = 0,
                     std::size_t min_count = 1);

  /// A vocabulary from its full token list (ids = positions); the first four must be the special
  /// tokens; no duplicates, no empty tokens, valid UTF-8. The inverse of `tokens()`.
  static Vocab from_tokens(const std::vector<std::string>& tokens);

  /// The JSON text {"format":"seq2seq.vocab","tokens":[...],"version":1}, deterministic (sorted keys,
  /// no spaces): the form in which vocabularies travel inside checkpoints.
  std::string to_json() const;

  /// Parses to_json's output; throws std::invalid_argument ("seq2seq: vocabulary JSON: ...") on
  /// malformed JSON, a missing or wrong field, a newer version, or a token list from_tokens refuses.
  static Vocab from_json(const std::string& json);

  /// Number of tokens, special tokens included.
  std::size_t size() const { return words_.size(); }

  /// The id of `word`, or Special::unk when the vocabulary does not hold it.
  TokenId id(const std::string& word) const {
    const auto it = index_.find(word);
    return it == index_.end() ? Special::unk : it->second;
  }

  /// True when `word` has an id of its own (special tokens included).
  bool contains(const std::string& word) const { return index_.count(word) != 0; }

  /// The word of id `id`; throws std::invalid_argument when `id` is not in [0, size()).
  const std::string& word(TokenId id) const {
    check_id(id);
    return words_[static_cast<std::size_t>(id)];
  }

  /// All tokens, indexed by id.
  const std::vector<std::string>& tokens() const { return words_; }

  /// Ids of `tokens`: unknown words and the spellings of <pad>, <s>, <EOS> become Special::unk.
  Sentence encode(const std::vector<std::string>& tokens) const {
    std::size_t unknown = 0;
    return encode(tokens, unknown);
  }

  /// As encode(tokens), and sets `unknown` to the number of tokens that became Special::unk.
  Sentence encode(const std::vector<std::string>& tokens, std::size_t& unknown) const {
    Sentence ids;
    ids.reserve(tokens.size());
    unknown = 0;
    for (const std::string& t : tokens) {
      TokenId i = id(t);
      if (i < Special::count && i != Special::unk) i = Special::unk;  // a literal "<EOS>" is just an odd word
      if (i == Special::unk) ++unknown;
      ids.push_back(i);
    }
    return ids;
  }

  /// The words of `ids`, every id range-checked. Special tokens are decoded like any other id (as
  /// "<unk>", "<EOS>", ...); stripping them is the caller's choice.
  std::vector<std::string> decode(const Sentence& ids) const {
    std::vector<std::string> out;
    out.reserve(ids.size());
    for (TokenId i : ids) out.push_back(word(i));
    return out;
  }

  friend bool operator==(const Vocab& a, const Vocab& b) { return a.words_ == b.words_; }
  friend bool operator!=(const Vocab& a, const Vocab& b) { return !(a == b); }

 private:
  void add(std::string word) {
    const auto id = static_cast<TokenId>(words_.size());
    const bool inserted = index_.emplace(word, id).second;
    if (!inserted) throw std::invalid_argument("seq2seq: duplicate token \"" + word + "\" in vocabulary");
    words_.push_back(std::move(word));
  }

  void check_id(TokenId id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= words_.size())
      throw std::invalid_argument("seq2seq: token id " + std::to_string(id) + " outside the vocabulary of " +
                                  std::to_string(words_.size()) + " tokens");
  }

  static void check_word(const std::string& word) {
    if (word.empty()) throw std::invalid_argument("seq2seq: empty token in vocabulary");
    if (const auto e = utf8::find_error(word))
      throw std::invalid_argument("seq2seq: vocabulary token is not UTF-8: " + utf8::describe(*e));
  }

  static bool is_special_spelling(std::string_view w) {
    return std::find(special_words.begin(), special_words.end(), w) != special_words.end();
  }

  static constexpr std::size_t max_tokens = static_cast<std::size_t>(std::numeric_limits<TokenId>::max());

  std::vector<std::string> words_;
  std::unordered_map<std::string, TokenId> index_;
};

inline Vocab Vocab::build(const std::vector<std::vector<std::string>>& tokenized_sentences, std::size_t max_size,
                          std::size_t min_count) {
  if (max_size != 0 && max_size < static_cast<std::size_t>(Special::count))
    throw std::invalid_argument("seq2seq: vocabulary max_size " + std::to_string(max_size) +
                                " is smaller than the 4 special tokens (use 0 for no limit)");
  std::unordered_map<std::string, std::size_t> counts;
  for (const auto& sentence : tokenized_sentences)
    for (const std::string& t : sentence) {
      auto [it, inserted] = counts.try_emplace(t, 0);
      if (inserted) check_word(t);  // each distinct word is validated once
      ++it->second;
    }
  std::vector<std::pair<const std::string*, std::size_t>> kept;
  kept.reserve(counts.size());
  for (const auto& [w, c] : counts)
    if (c >= std::max<std::size_t>(min_count, 1) && !is_special_spelling(w)) kept.emplace_back(&w, c);
  // Frequency descending, then bytes ascending: a total order, so the result is deterministic
  // whatever the hash map's iteration order.
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : *a.first < *b.first;
  });
  std::size_t room = kept.size();
  if (max_size != 0) room = std::min(room, max_size - static_cast<std::size_t>(Special::count));
  if (room + Special::count > max_tokens)
    throw std::invalid_argument("seq2seq: vocabulary of " + std::to_string(room + Special::count) +
                                " tokens does not fit the 32-bit TokenId");
  Vocab v;
  v.words_.reserve(room + Special::count);
  v.index_.reserve(room + Special::count);
  for (std::size_t i = 0; i < room; ++i) v.add(*kept[i].first);
  return v;
}

inline Vocab Vocab::from_tokens(const std::vector<std::string>& tokens) {
  if (tokens.size() < static_cast<std::size_t>(Special::count))
    throw std::invalid_argument("seq2seq: vocabulary has " + std::to_string(tokens.size()) +
                                " tokens, fewer than the 4 special tokens");
  if (tokens.size() > max_tokens)
    throw std::invalid_argument("seq2seq: vocabulary of " + std::to_string(tokens.size()) +
                                " tokens does not fit the 32-bit TokenId");
  for (std::size_t i = 0; i < special_words.size(); ++i)
    if (tokens[i] != special_words[i])
      throw std::invalid_argument("seq2seq: vocabulary token " + std::to_string(i) + " is \"" + tokens[i] +
                                  "\", expected \"" + std::string(special_words[i]) + "\"");
  Vocab v;
  v.words_.reserve(tokens.size());
  v.index_.reserve(tokens.size());
  for (std::size_t i = special_words.size(); i < tokens.size(); ++i) {
    check_word(tokens[i]);
    v.add(tokens[i]);  // throws on duplicates, including a second "<unk>"
  }
  return v;
}

inline std::string Vocab::to_json() const {
  nlohmann::json j;
  j["format"] = "seq2seq.vocab";
  j["version"] = json_version;
  j["tokens"] = words_;
  return j.dump();
}

inline Vocab Vocab::from_json(const std::string& json) {
  const auto fail = [](const std::string& what) { return std::invalid_argument("seq2seq: vocabulary JSON: " + what); };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    throw fail(e.what());
  }
  if (!j.is_object()) throw fail("expected an object, got " + std::string(j.type_name()));
  const auto format = j.find("format");
  if (format == j.end() || !format->is_string() || format->get<std::string>() != "seq2seq.vocab")
    throw fail("\"format\" must be \"seq2seq.vocab\"");
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer()) throw fail("\"version\" must be an integer");
  if (version->get<std::int64_t>() > json_version)
    throw fail("version " + std::to_string(version->get<std::int64_t>()) + " is newer than this library's " +
               std::to_string(json_version));
  if (version->get<std::int64_t>() < 1) throw fail("invalid version " + std::to_string(version->get<std::int64_t>()));
  const auto tokens = j.find("tokens");
  if (tokens == j.end() || !tokens->is_array()) throw fail("\"tokens\" must be an array of strings");
  std::vector<std::string> words;
  words.reserve(tokens->size());
  for (std::size_t i = 0; i < tokens->size(); ++i) {
    const auto& t = (*tokens)[i];
    if (!t.is_string()) throw fail("token " + std::to_string(i) + " is a " + t.type_name() + ", not a string");
    words.push_back(t.get<std::string>());
  }
  try {
    return from_tokens(words);
  } catch (const std::invalid_argument& e) {
    throw fail(std::string(e.what()).substr(std::string("seq2seq: ").size()));
  }
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_VOCAB_HPP

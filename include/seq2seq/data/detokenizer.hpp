// seq2seq: Detokenizer, word tokens back to text: the spacing of punctuation, apostrophes and
// hyphens by the rules of English or French typography, or as learned from a corpus.
#ifndef SEQ2SEQ_DATA_DETOKENIZER_HPP
#define SEQ2SEQ_DATA_DETOKENIZER_HPP

#include "normalize.hpp"
#include "tokenizer.hpp"
#include "utf8.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace seq2seq {

/// How one token meets its neighbours: the text written before it and after it, "" for attached.
/// Between two tokens the text is "" when either side says "", otherwise the right token's
/// `before` unless that is a plain space (so French "?" can ask for U+202F), else the left token's
/// `after`.
struct Spacing {
  std::string before = " ", after = " ";
  friend bool operator==(const Spacing& a, const Spacing& b) { return a.before == b.before && a.after == b.after; }
  friend bool operator!=(const Spacing& a, const Spacing& b) { return !(a == b); }
};

/// Joins word tokens (tokenize's output) into text.
///
/// Rules, in order, for the gap between tokens a and b:
/// 1. A decimal separator between digits joins both sides: "3 . 5" -> "3.5", "10 : 30" -> "10:30"
///    (the tokens ".", ",", ":" with a token of ASCII digits on each side).
/// 2. Sentence-final marks (. ? ! …) that follow each other stay together: "?!", "...", even
///    where French puts a space before "?" and "!".
/// 3. A symmetric quote (by default the ASCII double quote) alternates: the first of a sentence opens (attached to
///    the token after it), the next closes (attached to the token before it).
/// 4. Otherwise the Spacing of each token (`rule`): a token without a rule of its own is a word,
///    {" ", " "}.
/// english() and french() are the typographic conventions; learn() reads them from raw text. The
/// result has no leading or trailing space. Every gap is "" or non-empty whitespace, so tokenizing
/// the output gives back the tokens (a Detokenizer never glues two word tokens together: every
/// rule is on a punctuation token).
class Detokenizer {
 public:
  static constexpr int json_version = 1;

  /// Every token separated by one space: the tokenized form.
  static Detokenizer spaces() { return Detokenizer(); }

  /// English: . , ; : ! ? % ) ] } ” ’ » … attach to the word before; ( [ { “ ‘ « ¿ ¡ to the word
  /// after; the apostrophe, hyphen, slash and dashes inside words attach on both sides
  /// ("don ' t" -> "don't", "well - known" -> "well-known").
  static Detokenizer english() {
    Detokenizer d;
    for (const char* t : {".", ",", ";", ":", "!", "?", "%", ")", "]", "}", "\xE2\x80\x9D", "\xC2\xBB", "\xE2\x80\xA6"})
      d.rules_[t] = Spacing{"", " "};
    for (const char* t : {"(", "[", "{", "\xE2\x80\x9C", "\xE2\x80\x98", "\xC2\xAB", "\xC2\xBF", "\xC2\xA1"})
      d.rules_[t] = Spacing{" ", ""};
    for (const char* t : {"'", "\xE2\x80\x99", "-", "/"}) d.rules_[t] = Spacing{"", ""};
    d.paired_ = {"\""};
    return d;
  }

  /// French: as english(), but ? ! ; : and » take a space before them and « one after it
  /// ("Vous ai-je blessé ?", "« Oui »"); the apostrophe and hyphen attach ("j'ai", "ai-je").
  static Detokenizer french() {
    Detokenizer d = english();
    for (const char* t : {"?", "!", ";", ":", "\xC2\xBB"}) d.rules_[t] = Spacing{" ", " "};
    d.rules_["\xC2\xAB"] = Spacing{" ", " "};
    return d;
  }

  /// Learns the spacing of every punctuation token from `texts` (raw sentences as a corpus writes
  /// them), starting from `defaults`: the text before a token is the gap seen most often between
  /// it and a word before it in `texts` (the empty gap included), likewise after; a side seen
  /// fewer than `min_count` times keeps the default. Words and the symmetric quotes are not learned. `texts` are normalised by
  /// `normalize` and split by `tokenize` as the tokenizer whose output this will join does it.
  /// A gap of several whitespace characters counts as its first one. Ties go to the default.
  static Detokenizer learn(const std::vector<std::string>& texts, const Detokenizer& defaults,
                           const NormalizeOptions& normalize_options = {}, const TokenizeOptions& tokenize = {},
                           std::size_t min_count = 3);

  /// The tokens as text.
  std::string detokenize(const std::vector<std::string>& tokens) const;
  std::string operator()(const std::vector<std::string>& tokens) const { return detokenize(tokens); }

  /// The spacing of `token` (a word's {" ", " "} when it has no rule).
  Spacing rule(const std::string& token) const {
    const auto it = rules_.find(token);
    return it == rules_.end() ? Spacing{} : it->second;
  }
  /// Sets the spacing of `token`; `before` and `after` must each be "" or whitespace.
  void set_rule(const std::string& token, Spacing spacing) {
    check_gap(spacing.before);
    check_gap(spacing.after);
    rules_[token] = std::move(spacing);
  }
  const std::map<std::string, Spacing>& rules() const { return rules_; }
  const std::vector<std::string>& paired_quotes() const { return paired_; }
  bool join_numbers() const { return join_numbers_; }

  /// {"format":"seq2seq.detokenizer","numbers":true,"paired":["\""],"rules":{"?":[" ",""],...},
  /// "version":1}: deterministic (sorted keys).
  nlohmann::json to_json() const;
  /// Parses to_json's output; throws std::invalid_argument ("seq2seq: detokenizer JSON: ...").
  static Detokenizer from_json(const nlohmann::json& j);

  friend bool operator==(const Detokenizer& a, const Detokenizer& b) {
    return a.rules_ == b.rules_ && a.paired_ == b.paired_ && a.join_numbers_ == b.join_numbers_;
  }
  friend bool operator!=(const Detokenizer& a, const Detokenizer& b) { return !(a == b); }

 private:
  static bool is_gap(std::string_view s) {
    char32_t cp = 0;
    for (std::size_t pos = 0; pos < s.size();) {
      const std::size_t len = utf8::decode(s, pos, cp);
      if (len == 0 || !is_space_code_point(cp)) return false;
      pos += len;
    }
    return true;
  }
  static void check_gap(const std::string& s) {
    if (!is_gap(s)) throw std::invalid_argument("seq2seq: detokenizer: spacing \"" + s + "\" is not empty or whitespace");
  }
  static bool is_digits(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
      if (c < '0' || c > '9') return false;
    return true;
  }
  /// The first code point of a whitespace gap ("" stays "").
  static std::string first_of(std::string_view gap) {
    if (gap.empty()) return std::string();
    char32_t cp = 0;
    const std::size_t len = utf8::decode(gap, 0, cp);
    return std::string(gap.substr(0, len == 0 ? gap.size() : len));
  }

  std::map<std::string, Spacing> rules_;
  std::vector<std::string> paired_;
  bool join_numbers_ = true;
};

inline std::string Detokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string out;
  std::map<std::string, bool> open;  // paired quotes: true once an opening one was written
  // What each token says about its sides, after the quote and number rules.
  std::vector<Spacing> side(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (std::find(paired_.begin(), paired_.end(), t) != paired_.end()) {
      bool& is_open = open[t];
      side[i] = is_open ? Spacing{"", " "} : Spacing{" ", ""};
      is_open = !is_open;
    } else if (join_numbers_ && (t == "." || t == "," || t == ":") && i > 0 && i + 1 < tokens.size() &&
               is_digits(tokens[i - 1]) && is_digits(tokens[i + 1])) {
      side[i] = Spacing{"", ""};
    } else {
      side[i] = rule(t);
    }
  }
  const auto is_final = [](const std::string& t) {
    return t == "." || t == "?" || t == "!" || t == "\xE2\x80\xA6";
  };
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0 && !(is_final(tokens[i - 1]) && is_final(tokens[i]))) {
      const std::string& left = side[i - 1].after;
      const std::string& right = side[i].before;
      if (!left.empty() && !right.empty()) out += right != " " ? right : left;
    }
    out += tokens[i];
  }
  return out;
}

inline Detokenizer Detokenizer::learn(const std::vector<std::string>& texts, const Detokenizer& defaults,
                                      const NormalizeOptions& normalize_options, const TokenizeOptions& tokenize,
                                      std::size_t min_count) {
  // counts[token][0] = gaps seen before it, [1] = after it
  std::map<std::string, std::array<std::map<std::string, std::size_t>, 2>> counts;
  struct Seen {
    std::string token, gap;
  };
  std::vector<Seen> seen;
  for (const std::string& text : texts) {
    seen.clear();
    detail::tokenize_each(normalize(text, normalize_options), tokenize, [&](std::string&& token, std::string_view gap) {
      seen.push_back(Seen{std::move(token), first_of(gap)});
    });
    const auto is_punctuation = [](const std::string& t) {
      char32_t cp = 0;
      const std::size_t len = utf8::decode(t, 0, cp);
      return len == t.size() && is_punctuation_code_point(cp);
    };
    for (std::size_t i = 0; i < seen.size(); ++i) {
      const std::string& t = seen[i].token;
      if (!is_punctuation(t)) continue;  // words are not learned
      if (std::find(defaults.paired_.begin(), defaults.paired_.end(), t) != defaults.paired_.end()) continue;
      // Only gaps to words count: between two punctuation tokens ("...", "?!") both rules meet.
      if (i > 0 && !is_punctuation(seen[i - 1].token)) ++counts[t][0][seen[i].gap];
      if (i + 1 < seen.size() && !is_punctuation(seen[i + 1].token)) ++counts[t][1][seen[i + 1].gap];
    }
  }
  Detokenizer out = defaults;
  for (const auto& [token, sides] : counts) {
    Spacing s = defaults.rule(token);
    for (int k = 0; k < 2; ++k) {
      std::size_t total = 0, best = 0;
      std::string choice = k == 0 ? s.before : s.after;
      for (const auto& [gap, n] : sides[k]) total += n;
      if (total < std::max<std::size_t>(min_count, 1)) continue;
      const auto current = sides[k].find(choice);
      best = current == sides[k].end() ? 0 : current->second;  // ties go to the default
      for (const auto& [gap, n] : sides[k])
        if (n > best) best = n, choice = gap;
      (k == 0 ? s.before : s.after) = choice;
    }
    if (s != defaults.rule(token) || defaults.rules_.count(token) != 0) out.rules_[token] = s;
  }
  return out;
}

inline nlohmann::json Detokenizer::to_json() const {
  nlohmann::json rules = nlohmann::json::object();
  for (const auto& [token, s] : rules_) rules[token] = nlohmann::json::array({s.before, s.after});
  return nlohmann::json{{"format", "seq2seq.detokenizer"},
                        {"version", json_version},
                        {"numbers", join_numbers_},
                        {"paired", paired_},
                        {"rules", rules}};
}

inline Detokenizer Detokenizer::from_json(const nlohmann::json& j) {
  const auto fail = [](const std::string& what) { return std::invalid_argument("seq2seq: detokenizer JSON: " + what); };
  if (!j.is_object()) throw fail("expected an object");
  const auto format = j.find("format");
  if (format == j.end() || !format->is_string() || format->get<std::string>() != "seq2seq.detokenizer")
    throw fail("\"format\" must be \"seq2seq.detokenizer\"");
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || version->get<std::int64_t>() < 1)
    throw fail("\"version\" must be a positive integer");
  if (version->get<std::int64_t>() > json_version)
    throw fail("version " + std::to_string(version->get<std::int64_t>()) + " is newer than this library's " +
               std::to_string(json_version));
  Detokenizer d;
  const auto numbers = j.find("numbers");
  if (numbers != j.end()) {
    if (!numbers->is_boolean()) throw fail("\"numbers\" must be true or false");
    d.join_numbers_ = numbers->get<bool>();
  }
  const auto paired = j.find("paired");
  if (paired != j.end()) {
    if (!paired->is_array()) throw fail("\"paired\" must be an array of strings");
    for (const auto& p : *paired) {
      if (!p.is_string() || p.get<std::string>().empty() || !utf8::is_valid(p.get<std::string>()))
        throw fail("\"paired\" must hold non-empty UTF-8 strings");
      d.paired_.push_back(p.get<std::string>());
    }
  }
  const auto rules = j.find("rules");
  if (rules == j.end() || !rules->is_object()) throw fail("\"rules\" must be an object");
  for (const auto& [token, value] : rules->items()) {
    if (token.empty() || !utf8::is_valid(token)) throw fail("a rule's token is empty or not UTF-8");
    if (!value.is_array() || value.size() != 2 || !value[0].is_string() || !value[1].is_string())
      throw fail("the rule of \"" + token + "\" must be [before, after]");
    Spacing s{value[0].get<std::string>(), value[1].get<std::string>()};
    if (!is_gap(s.before) || !is_gap(s.after)) throw fail("the rule of \"" + token + "\" has a non-whitespace gap");
    d.rules_[token] = std::move(s);
  }
  return d;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_DETOKENIZER_HPP

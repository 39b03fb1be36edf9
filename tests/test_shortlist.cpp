// data/shortlist.hpp: IBM Model 1 finds the translations of a synthetic lexicon, the per-batch
// union, the text form round trip, and malformed files or unknown words as clear errors.
#include "test_files.hpp"

#include <seq2seq/data/shortlist.hpp>
#include <seq2seq/data/vocab.hpp>
#include <seq2seq/rng.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;

/// Source word 4 + i translates to target word 4 + (i * 7) % 20 (a permutation), in sentences of
/// 3-6 random words; target sentences hold the translations in another order.
void lexicon_corpus(std::vector<Sentence>& src, std::vector<Sentence>& tgt) {
  Rng rng(3);
  for (int p = 0; p < 400; ++p) {
    Sentence x, y;
    const auto n = 3 + static_cast<int>(rng.below(4));
    for (int k = 0; k < n; ++k) {
      const auto i = static_cast<TokenId>(rng.below(20));
      x.push_back(4 + i);
      y.push_back(static_cast<TokenId>(4 + (i * 7) % 20));
    }
    std::reverse(y.begin(), y.end());
    src.push_back(x);
    tgt.push_back(y);
  }
}

Vocab words(const std::string& prefix, int n) {
  std::vector<std::string> t(Vocab::special_words.begin(), Vocab::special_words.end());
  for (int i = 0; i < n; ++i) t.push_back(prefix + std::to_string(i));
  return Vocab::from_tokens(t);
}

TEST_CASE("Shortlist::learn: IBM Model 1 puts each word's translation first") {
  std::vector<Sentence> src, tgt;
  lexicon_corpus(src, tgt);
  ShortlistOptions opt;
  opt.k = 3;
  opt.frequent = 5;
  const Shortlist s = Shortlist::learn(src, tgt, 24, 24, opt);
  for (TokenId i = 0; i < 20; ++i) {
    CAPTURE(i);
    const std::vector<TokenId>& c = s.candidates(4 + i);
    REQUIRE(!c.empty());
    CHECK(c.size() <= 3);
    CHECK(c.front() == static_cast<TokenId>(4 + (i * 7) % 20));
  }
  CHECK(s.always().size() == 5);
  CHECK(std::is_sorted(s.always().begin(), s.always().end()));
  CHECK(s.candidates(Special::unk).empty());  // never seen in a source
  CHECK(Shortlist::learn(src, tgt, 24, 24, opt) == s);  // deterministic

  std::vector<TokenId> rows;
  std::vector<char> marks;
  s.rows_for(std::vector<Sentence>{{4, 5}, {6}}, rows, marks);
  CHECK(std::is_sorted(rows.begin(), rows.end()));
  for (TokenId must : {Special::unk, Special::eos, s.candidates(4)[0], s.candidates(5)[0], s.candidates(6)[0]})
    CHECK(std::find(rows.begin(), rows.end(), must) != rows.end());
  for (TokenId w : s.always()) CHECK(std::find(rows.begin(), rows.end(), w) != rows.end());
  CHECK(std::find(rows.begin(), rows.end(), Special::pad) == rows.end());
  CHECK(std::find(rows.begin(), rows.end(), Special::bos) == rows.end());
  CHECK_THROWS_WITH_AS(s.rows_for(std::vector<Sentence>{{30}}, rows, marks), doctest::Contains("source id 30"),
                       std::invalid_argument);

  opt.k = 0;
  CHECK_THROWS_WITH_AS(Shortlist::learn(src, tgt, 24, 24, opt), doctest::Contains("k must be at least 1, got 0"),
                       std::invalid_argument);
  opt.k = 2;
  CHECK_THROWS_WITH_AS(Shortlist::learn(src, tgt, 10, 24, opt), doctest::Contains("outside the vocabulary of 10"),
                       std::invalid_argument);
  CHECK_THROWS_AS(Shortlist::learn(src, {}, 24, 24, opt), std::invalid_argument);
}

TEST_CASE("Shortlist: text form round trip and bad files") {
  std::vector<Sentence> src, tgt;
  lexicon_corpus(src, tgt);
  const Vocab sv = words("en", 20), tv = words("fr", 20);
  const Shortlist s = Shortlist::learn(src, tgt, sv.size(), tv.size());
  const std::string text = s.to_text(sv, tv);
  CHECK(text.rfind("# seq2seq shortlist 1", 0) == 0);
  CHECK(Shortlist::from_text(text, sv, tv) == s);
  test::TempDir dir("shortlist");
  s.save(dir.file("s.txt"), sv, tv);
  CHECK(Shortlist::load(dir.file("s.txt"), sv, tv) == s);

  const auto error = [&](const std::string& body) -> std::string {
    try {
      Shortlist::from_text(body, sv, tv, "list.txt");
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "<no invalid_argument>";
  };
  const std::string head = "# seq2seq shortlist 1\n";
  CHECK(error("").find("shortlist 'list.txt' line 1: empty") != std::string::npos);
  CHECK(error("en0\tfr1\n").find("line 1: not a shortlist") != std::string::npos);
  CHECK(error(head + "en0 fr1\n").find("line 2: no tab between the source word and its target words") != std::string::npos);
  CHECK(error(head + "en0\tfr1\tfr2\n").find("line 2: more than one tab") != std::string::npos);
  CHECK(error(head + "\tfr1\nxx\tfr1\n").find("line 3: unknown source word 'xx'") != std::string::npos);
  CHECK(error(head + "en0\tfr1 zz\n").find("line 2: unknown target word 'zz'") != std::string::npos);
  CHECK(error(head + "en0\tfr1\nen0\tfr2\n").find("line 3: source word 'en0' listed twice") != std::string::npos);
  CHECK(error(head + "en0\t<s>\n").find("'<s>' is never a translation") != std::string::npos);
  // Empty lines, CR line ends, an empty list and several "always" lines are fine.
  const Shortlist ok = Shortlist::from_text(head + "\r\n\tfr3 fr1\r\nen2\t\n\tfr1 fr0\n", sv, tv);
  CHECK(ok.always() == std::vector<TokenId>{tv.id("fr0"), tv.id("fr1"), tv.id("fr3")});
  CHECK(ok.candidates(sv.id("en2")).empty());
  CHECK_THROWS_WITH_AS(Shortlist::load(dir.file("missing.txt"), sv, tv), doctest::Contains("cannot open shortlist"),
                       std::invalid_argument);
  CHECK_THROWS_AS(s.to_text(tv, words("x", 3)), std::invalid_argument);
}

}  // namespace

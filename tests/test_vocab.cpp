// Tests of include/seq2seq/data/vocab.hpp: Vocab.
#include <seq2seq/data/data.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_data_util.hpp"

using namespace seq2seq;
using seq2seq::test::bytes;
using seq2seq::test::throws_with;
using seq2seq::test::Words;

// ------------------------------------------------------------------------------------------------
// Vocab
// ------------------------------------------------------------------------------------------------

TEST_CASE("vocab: special tokens") {
  const Vocab v;
  REQUIRE(v.size() == 4);
  CHECK(v.word(Special::pad) == "<pad>");
  CHECK(v.word(Special::unk) == "<unk>");
  CHECK(v.word(Special::bos) == "<s>");
  CHECK(v.word(Special::eos) == "<EOS>");
  CHECK(v.id("<EOS>") == Special::eos);
  CHECK(v.id("anything") == Special::unk);
  CHECK(Special::count == 4);
}

TEST_CASE("vocab: build orders by frequency, then bytes, and applies the limits") {
  const std::vector<Words> sentences = {{"b", "a", "c", "a"}, {"c", "a", "d"}, {"e", "é", "z"}};
  const Vocab v = Vocab::build(sentences);
  // a:3, c:2, then the count-1 words in byte order (b d e z é: é = C3 A9 sorts after ASCII).
  CHECK(v.tokens() == Words{"<pad>", "<unk>", "<s>", "<EOS>", "a", "c", "b", "d", "e", "z", "é"});
  CHECK(v.id("a") == 4);
  CHECK(v.id("é") == 10);
  // The order of the sentences and of words inside them does not matter.
  std::vector<Words> shuffled = {{"z", "é", "e"}, {"d", "a", "c"}, {"a", "c", "a", "b"}};
  CHECK(Vocab::build(shuffled) == v);
  // max_size counts the specials.
  CHECK(Vocab::build(sentences, 6).tokens() == Words{"<pad>", "<unk>", "<s>", "<EOS>", "a", "c"});
  CHECK(Vocab::build(sentences, 4).size() == 4);
  CHECK(Vocab::build(sentences, 100).size() == 11);
  CHECK(throws_with<std::invalid_argument>([&] { Vocab::build(sentences, 3); }, "max_size 3"));
  // min_count.
  CHECK(Vocab::build(sentences, 0, 2).tokens() == Words{"<pad>", "<unk>", "<s>", "<EOS>", "a", "c"});
  CHECK(Vocab::build(sentences, 0, 3).size() == 5);
  CHECK(Vocab::build(sentences, 0, 4).size() == 4);
  CHECK(Vocab::build(sentences, 0, 0) == v);
  CHECK(Vocab::build({}).size() == 4);
}

TEST_CASE("vocab: special spellings in the data are not words") {
  const Vocab v = Vocab::build({{"<EOS>", "<EOS>", "x", "<unk>", "<pad>", "<s>"}});
  CHECK(v.tokens() == Words{"<pad>", "<unk>", "<s>", "<EOS>", "x"});
  std::size_t unknown = 99;
  CHECK(v.encode({"x", "<EOS>", "<unk>", "y", "<pad>", "<s>"}, unknown) ==
        Sentence{4, Special::unk, Special::unk, Special::unk, Special::unk, Special::unk});
  CHECK(unknown == 5);
}

TEST_CASE("vocab: encode, decode, range checks, bad words") {
  const Vocab v = Vocab::build({tokenize("le chat voit le chien")});
  const Sentence ids = v.encode(tokenize("le chien voit un chat"));
  CHECK(ids == Sentence{v.id("le"), v.id("chien"), v.id("voit"), Special::unk, v.id("chat")});
  CHECK(v.decode(ids) == Words{"le", "chien", "voit", "<unk>", "chat"});
  CHECK(v.encode({}).empty());
  CHECK(v.contains("chat"));
  CHECK_FALSE(v.contains("un"));
  CHECK(throws_with<std::invalid_argument>([&] { v.word(static_cast<TokenId>(v.size())); },
                                           "token id 8 outside the vocabulary of 8 tokens"));
  CHECK(throws_with<std::invalid_argument>([&] { v.word(-1); }, "token id -1"));
  CHECK(throws_with<std::invalid_argument>([&] { v.decode({4, 1000}); }, "token id 1000"));
  CHECK(throws_with<std::invalid_argument>([] { Vocab::build({{"a", ""}}); }, "empty token"));
  CHECK(throws_with<std::invalid_argument>([] { Vocab::build({{"a", bytes({0xC3})}}); }, "not UTF-8"));
}

TEST_CASE("vocab: JSON round trip and exact form") {
  const Vocab small = Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", "a"});
  CHECK(small.to_json() == R"({"format":"seq2seq.vocab","tokens":["<pad>","<unk>","<s>","<EOS>","a"],"version":1})");
  const Vocab v = Vocab::build({tokenize("Où est le café ? 東京 🍕 \"quoted\" back\\slash")});
  const std::string json = v.to_json();
  const Vocab back = Vocab::from_json(json);
  CHECK(back == v);
  CHECK(back.to_json() == json);
  CHECK(back.id("café") == v.id("café"));
  CHECK(Vocab::from_json(Vocab().to_json()) == Vocab());
  // Whitespace and key order do not matter.
  CHECK(Vocab::from_json("{ \"version\": 1, \"tokens\": [\"<pad>\", \"<unk>\", \"<s>\", \"<EOS>\", \"a\"],\n"
                         "  \"format\": \"seq2seq.vocab\" }") == small);
}

TEST_CASE("vocab: from_json rejects bad input") {
  const auto bad = [](const std::string& json, const std::string& needle) {
    return throws_with<std::invalid_argument>([&] { Vocab::from_json(json); }, needle);
  };
  const std::string head = R"({"format":"seq2seq.vocab","version":1,"tokens":)";
  CHECK(bad("not json", "vocabulary JSON: "));
  CHECK(bad("", "vocabulary JSON: "));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>","<EOS>")", "vocabulary JSON: "));  // truncated
  CHECK(bad("[]", "expected an object"));
  CHECK(bad(R"({"version":1,"tokens":[]})", "\"format\""));
  CHECK(bad(R"({"format":"other","version":1,"tokens":[]})", "\"format\""));
  CHECK(bad(R"({"format":"seq2seq.vocab","tokens":[]})", "\"version\""));
  CHECK(bad(R"({"format":"seq2seq.vocab","version":"1","tokens":[]})", "\"version\""));
  CHECK(bad(R"({"format":"seq2seq.vocab","version":2,"tokens":["<pad>","<unk>","<s>","<EOS>"]})", "newer"));
  CHECK(bad(R"({"format":"seq2seq.vocab","version":0,"tokens":["<pad>","<unk>","<s>","<EOS>"]})", "invalid version"));
  CHECK(bad(R"({"format":"seq2seq.vocab","version":1})", "\"tokens\""));
  CHECK(bad(head + R"("x"})", "\"tokens\""));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>"]})", "fewer than the 4 special tokens"));
  CHECK(bad(head + R"(["<pad>","<unk>","<EOS>","<s>"]})", "token 2 is \"<EOS>\", expected \"<s>\""));
  CHECK(bad(head + R"(["<unk>","<pad>","<s>","<EOS>"]})", "token 0"));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>","<EOS>","a","b","a"]})", "duplicate token \"a\""));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>","<EOS>","<unk>"]})", "duplicate token \"<unk>\""));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>","<EOS>",""]})", "empty token"));
  CHECK(bad(head + R"(["<pad>","<unk>","<s>","<EOS>",7]})", "token 4 is a number"));
  CHECK(throws_with<std::invalid_argument>(
      [] { Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", bytes({0xFF})}); }, "not UTF-8"));
}


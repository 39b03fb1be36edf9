// Tests of include/seq2seq/data/corpus.hpp: the TSV reader, splits and reference groups.
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
using seq2seq::test::read_string;
using seq2seq::test::throws_with;
using seq2seq::test::Words;

// ------------------------------------------------------------------------------------------------
// Corpus
// ------------------------------------------------------------------------------------------------

namespace {

/// A file under the temporary directory, removed when the object dies.
struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const std::string& content, const std::string& name = "seq2seq_test_data_corpus.tsv") {
    path = std::filesystem::temp_directory_path() / name;
    std::ofstream out(path, std::ios::binary);
    out << content;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

}  // namespace

TEST_CASE("corpus: reads the Tatoeba/manythings format") {
  const std::string text =
      "\xEF\xBB\xBFGo.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #1158250 (Wittydev)\n"
      "Hi.\tSalut !\r\n"
      "\n"
      "   \r\n"
      "Run!\tCours\u202F!\textra\tfields\n"
      "Who?\tQui ?";  // no final newline
  const auto pairs = read_string(text);
  REQUIRE(pairs.size() == 4);
  CHECK(pairs[0] == Pair{"Go.", "Va !"});
  CHECK(pairs[1] == Pair{"Hi.", "Salut !"});
  CHECK(pairs[2] == Pair{"Run!", "Cours\u202F!"});
  CHECK(pairs[3] == Pair{"Who?", "Qui ?"});
}

TEST_CASE("corpus: malformed lines name the file and the line") {
  const auto bad = [](const std::string& text, const std::string& needle) {
    return throws_with<std::invalid_argument>([&] { read_string(text); }, needle);
  };
  CHECK(bad("a\tb\n\nno tab here\n", "corpus.tsv:3: no tab separating source and target"));
  CHECK(bad("a\tb\n\tb\n", "corpus.tsv:2: empty source sentence"));
  CHECK(bad("a\tb\nx\t\r\n", "corpus.tsv:2: empty target sentence"));
  CHECK(bad("a\tb\nx\t\tattribution\n", "corpus.tsv:2: empty target sentence"));
  CHECK(bad("a\tb\n \u00A0\tb\n", "corpus.tsv:2: empty source sentence"));
  CHECK(bad("a\tb\nc\td\ncaf" + bytes({0xE9}) + "\tx\n", "corpus.tsv:3: invalid UTF-8 at byte 3 of the line"));
  CHECK(bad("", "corpus.tsv: empty corpus"));
  CHECK(bad("\n \n\r\n", "corpus.tsv: empty corpus"));
  CHECK(throws_with<std::invalid_argument>([] { read_string("oops\n", "mine.txt"); }, "mine.txt:1: no tab"));
}

TEST_CASE("corpus: files") {
  const TempFile good("one\tun\ntwo\tdeux\n");
  const auto pairs = read_tsv_file(good.path.string());
  CHECK(pairs == std::vector<Pair>{{"one", "un"}, {"two", "deux"}});

  const TempFile broken("one\tun\ntwo deux\n", "seq2seq_test_data_broken.tsv");
  CHECK(throws_with<std::invalid_argument>([&] { read_tsv_file(broken.path.string()); },
                                           "seq2seq_test_data_broken.tsv:2: no tab"));
  const std::string missing = (std::filesystem::temp_directory_path() / "seq2seq_no_such_file.tsv").string();
  CHECK(throws_with<std::runtime_error>([&] { read_tsv_file(missing); }, "cannot read corpus '" + missing + "'"));
  const std::string dir = std::filesystem::temp_directory_path().string();
  CHECK(throws_with<std::runtime_error>([&] { read_tsv_file(dir); }, "directory"));
}

TEST_CASE("corpus: split keeps every source sentence in one part") {
  // 300 distinct sources, some with several targets (as in Tatoeba).
  std::vector<Pair> pairs;
  for (int s = 0; s < 300; ++s)
    for (int t = 0; t <= s % 3; ++t) pairs.push_back({"src" + std::to_string(s), "tgt" + std::to_string(s) + "_" + std::to_string(t)});
  const CorpusSplit sp = split(pairs, 0.1, 0.2, 42);
  std::map<std::string, int> part_of;
  bool leak = false;
  const auto mark = [&](const std::vector<Pair>& part, int id) {
    for (const Pair& p : part) {
      const auto [it, inserted] = part_of.emplace(p.source, id);
      if (!inserted && it->second != id) leak = true;
    }
  };
  mark(sp.train, 0);
  mark(sp.valid, 1);
  mark(sp.test, 2);
  CHECK_FALSE(leak);
  CHECK(part_of.size() == 300);
  // Fractions count distinct sources: 30 for validation, 60 for test.
  std::set<std::string> valid_sources, test_sources;
  for (const Pair& p : sp.valid) valid_sources.insert(p.source);
  for (const Pair& p : sp.test) test_sources.insert(p.source);
  CHECK(valid_sources.size() == 30);
  CHECK(test_sources.size() == 60);
  // Nothing lost or duplicated; corpus order kept inside each part.
  CHECK(sp.train.size() + sp.valid.size() + sp.test.size() == pairs.size());
  std::vector<Pair> all = sp.train;
  all.insert(all.end(), sp.valid.begin(), sp.valid.end());
  all.insert(all.end(), sp.test.begin(), sp.test.end());
  const auto key = [](const Pair& a, const Pair& b) { return a.source != b.source ? a.source < b.source : a.target < b.target; };
  std::sort(all.begin(), all.end(), key);
  std::vector<Pair> sorted = pairs;
  std::sort(sorted.begin(), sorted.end(), key);
  CHECK(all == sorted);
  const auto position = [&](const Pair& p) { return std::find(pairs.begin(), pairs.end(), p) - pairs.begin(); };
  for (std::size_t i = 1; i < sp.train.size(); ++i) CHECK(position(sp.train[i - 1]) < position(sp.train[i]));
  // Deterministic in the seed, and the seed matters.
  const CorpusSplit again = split(pairs, 0.1, 0.2, 42);
  CHECK(again.train == sp.train);
  CHECK(again.valid == sp.valid);
  CHECK(again.test == sp.test);
  CHECK(split(pairs, 0.1, 0.2, 43).test != sp.test);
}

TEST_CASE("corpus: split edge cases") {
  const std::vector<Pair> pairs = {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"a", "4"}};
  const CorpusSplit none = split(pairs, 0.0, 0.0, 1);
  CHECK(none.train == pairs);
  CHECK(none.valid.empty());
  CHECK(none.test.empty());
  // A tiny positive fraction still gets one group.
  const CorpusSplit tiny = split(pairs, 0.01, 0.01, 1);
  CHECK_FALSE(tiny.valid.empty());
  CHECK_FALSE(tiny.test.empty());
  CHECK_FALSE(tiny.train.empty());
  CHECK(throws_with<std::invalid_argument>([&] { split(pairs, 0.5, 0.5, 1); }, "none for training"));
  CHECK(throws_with<std::invalid_argument>([&] { split(pairs, 0.6, 0.4, 1); }, "none for training"));
  CHECK(throws_with<std::invalid_argument>([&] { split(pairs, -0.1, 0.1, 1); }, "validation fraction"));
  CHECK(throws_with<std::invalid_argument>([&] { split(pairs, 0.1, 1.0, 1); }, "test fraction"));
  CHECK(throws_with<std::invalid_argument>([&] { split(pairs, 0.1, std::nan(""), 1); }, "test fraction"));
}

TEST_CASE("corpus: group_references") {
  const std::vector<Pair> pairs = {{"hi", "salut"}, {"go", "va"}, {"hi", "bonjour"}, {"hi", "salut"}, {"go", "allez"}};
  const auto groups = group_references(pairs);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].source == "hi");
  CHECK(groups[0].targets == Words{"salut", "bonjour"});
  CHECK(groups[1].source == "go");
  CHECK(groups[1].targets == Words{"va", "allez"});
  CHECK(group_references({}).empty());
}


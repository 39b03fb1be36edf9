// Tests of include/seq2seq/data/shuffle.hpp and batcher.hpp, and of the whole data pipeline.
#include <seq2seq/data/data.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
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
// Shuffle and batches
// ------------------------------------------------------------------------------------------------

TEST_CASE("shuffle: a uniform permutation, reproducible from the seed") {
  std::vector<int> v(50);
  std::iota(v.begin(), v.end(), 0);
  Rng a(9), b(9);
  std::vector<int> x = v, y = v;
  shuffle(x, a);
  shuffle(y, b);
  CHECK(x == y);
  CHECK(x != v);
  CHECK(a.engine() == b.engine());
  std::vector<int> sorted = x;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == v);
  // The documented recipe, step by step.
  Rng c(9);
  std::vector<int> z = v;
  for (std::size_t i = z.size(); i > 1; --i) std::swap(z[i - 1], z[c.below(i)]);
  CHECK(z == x);
  // Uniformity: the 6 orders of 3 items, 60000 draws; chi-square with 5 degrees of freedom stays
  // below 20.5 with probability 0.999.
  Rng r(123);
  std::map<std::vector<int>, int> counts;
  for (int k = 0; k < 60000; ++k) {
    std::vector<int> s = {0, 1, 2};
    shuffle(s, r);
    ++counts[s];
  }
  REQUIRE(counts.size() == 6);
  double chi2 = 0;
  for (const auto& kv : counts) chi2 += (kv.second - 10000.0) * (kv.second - 10000.0) / 10000.0;
  CHECK(chi2 < 20.5);
  // Nothing to shuffle draws nothing.
  Rng d(5), e(5);
  std::vector<int> one = {7};
  shuffle(one, d);
  CHECK(d.engine() == e.engine());
}

namespace {

/// n pairs with source lengths drawn in [1, 40] and target lengths 0..4 longer (in real corpora the
/// two lengths go together, which is what makes sorting by (source, target) length pay).
void random_corpus(std::size_t n, std::uint64_t seed, std::vector<Sentence>& src, std::vector<Sentence>& tgt) {
  Rng rng(seed);
  src.clear();
  tgt.clear();
  for (std::size_t i = 0; i < n; ++i) {
    // The first token is the example's index, so batches can be traced back.
    const std::size_t len = 1 + rng.below(40);
    Sentence s(len, 5), t(len + rng.below(5), 6);
    s[0] = static_cast<TokenId>(i);
    t[0] = static_cast<TokenId>(i);
    src.push_back(s);
    tgt.push_back(t);
  }
}

/// Padding cells when each batch is padded to its longest source and target.
std::size_t padding(const std::vector<PairBatch>& batches) {
  std::size_t pad = 0;
  for (const PairBatch& b : batches)
    for (const auto* side : {&b.source, &b.target}) {
      std::size_t longest = 0;
      for (const Sentence& s : *side) longest = std::max(longest, s.size());
      for (const Sentence& s : *side) pad += longest - s.size();
    }
  return pad;
}

}  // namespace

TEST_CASE("batches: every example once, sizes, pairs kept together") {
  std::vector<Sentence> src, tgt;
  random_corpus(1003, 1, src, tgt);
  Rng rng(77);
  const auto batches = make_batches(src, tgt, 32, rng);
  CHECK(batches.size() == 32);  // ceil(1003 / 32)
  std::vector<int> seen(src.size(), 0);
  int smaller = 0;
  for (const PairBatch& b : batches) {
    REQUIRE(b.source.size() == b.target.size());
    CHECK(b.size() <= 32);
    if (b.size() < 32) {
      ++smaller;
      CHECK(b.size() == 1003 % 32);
    }
    for (std::size_t k = 0; k < b.size(); ++k) {
      const auto i = static_cast<std::size_t>(b.source[k][0]);
      CHECK(b.target[k][0] == b.source[k][0]);
      CHECK(b.source[k] == src[i]);
      CHECK(b.target[k] == tgt[i]);
      ++seen[i];
    }
  }
  CHECK(smaller == 1);
  CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
}

TEST_CASE("batches: deterministic for a given Rng state") {
  std::vector<Sentence> src, tgt;
  random_corpus(500, 2, src, tgt);
  Rng a(5), b(5), c(6);
  const auto x = plan_batches(src, tgt, 16, a);
  const auto y = plan_batches(src, tgt, 16, b);
  CHECK(x == y);
  CHECK(a.engine() == b.engine());
  CHECK(plan_batches(src, tgt, 16, c) != x);
  // The next epoch from the advanced state differs from the first.
  CHECK(plan_batches(src, tgt, 16, a) != x);
}

TEST_CASE("batches: length bucketing cuts padding") {
  std::vector<Sentence> src, tgt;
  random_corpus(2000, 3, src, tgt);
  Rng r1(11), r2(11), r3(11);
  const auto bucketed = make_batches(src, tgt, 32, r1);      // windows of 3200 >= N: global sort
  const auto windowed = make_batches(src, tgt, 32, r2, 320); // windows of 10 batches
  const auto plain = make_batches(src, tgt, 32, r3, 1);      // no grouping
  const std::size_t p_bucketed = padding(bucketed), p_windowed = padding(windowed), p_plain = padding(plain);
  MESSAGE("padding: global " << p_bucketed << ", windows of 320 " << p_windowed << ", none " << p_plain);
  CHECK(p_bucketed * 4 < p_plain);
  CHECK(p_windowed * 2 < p_plain);
  CHECK(p_bucketed <= p_windowed);
  // The batch order is shuffled: an epoch does not run from short to long sentences.
  std::vector<std::size_t> first_lengths;
  for (const PairBatch& b : bucketed) first_lengths.push_back(b.source[0].size());
  CHECK_FALSE(std::is_sorted(first_lengths.begin(), first_lengths.end()));
  CHECK_FALSE(std::is_sorted(first_lengths.rbegin(), first_lengths.rend()));
  // With one window over everything, each batch spans at most a couple of source lengths.
  for (const PairBatch& b : bucketed) {
    std::size_t lo = 1000, hi = 0;
    for (const Sentence& s : b.source) lo = std::min(lo, s.size()), hi = std::max(hi, s.size());
    CHECK(hi - lo <= 1);
  }
}

TEST_CASE("batches: the plan follows the documented recipe") {
  std::vector<Sentence> src, tgt;
  random_corpus(107, 4, src, tgt);
  // Replays the recipe: shuffle, sort windows by (source, target) length, cut, as sets of batches.
  const auto replay = [&](std::uint64_t seed, std::size_t batch, std::size_t window, bool source_only = false) {
    Rng rng(seed);
    std::vector<std::size_t> order(src.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    shuffle(order, rng);
    for (std::size_t begin = 0; begin < order.size(); begin += window) {
      const auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + window));
      std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(begin), end, [&](std::size_t a, std::size_t b) {
        if (source_only) return src[a].size() < src[b].size();
        return std::make_pair(src[a].size(), tgt[a].size()) < std::make_pair(src[b].size(), tgt[b].size());
      });
    }
    std::set<std::vector<std::size_t>> batches;
    for (std::size_t begin = 0; begin < order.size(); begin += batch)
      batches.insert(std::vector<std::size_t>(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                              order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + batch))));
    return batches;
  };
  const auto planned = [&](std::uint64_t seed, std::size_t batch, std::size_t window,
                           LengthKey key = LengthKey::source_then_target) {
    Rng rng(seed);
    const auto plan = plan_batches(src, tgt, batch, rng, window, key);
    return std::set<std::vector<std::size_t>>(plan.begin(), plan.end());
  };
  CHECK(planned(3, 10, 25) == replay(3, 10, 30));  // the window is rounded up to whole batches
  CHECK(planned(3, 10, 0) == replay(3, 10, 1000)); // 0 means 100 batches
  CHECK(planned(3, 10, 10) == replay(3, 10, 10));  // one batch per window: no length grouping
  CHECK(planned(3, 10, 1) == replay(3, 10, 10));
  CHECK(planned(4, 7, 50) == replay(4, 7, 56));
  // The source length alone, over the whole corpus (a window of any size above it).
  const std::size_t whole = std::numeric_limits<std::size_t>::max();
  CHECK(planned(5, 8, whole, LengthKey::source) == replay(5, 8, 112, true));
  CHECK(planned(5, 8, 30, LengthKey::source) == replay(5, 8, 32, true));
  CHECK(planned(5, 8, whole, LengthKey::source) != planned(5, 8, whole));  // the keys really differ
}

TEST_CASE("batches: bad arguments and empty input") {
  std::vector<Sentence> src = {{4}, {5}}, tgt = {{6}};
  Rng rng(1);
  CHECK(throws_with<std::invalid_argument>([&] { make_batches(src, tgt, 2, rng); }, "2 source sentences but 1 target"));
  tgt.push_back({7});
  CHECK(throws_with<std::invalid_argument>([&] { make_batches(src, tgt, 0, rng); }, "batch_size must be positive"));
  const std::vector<Sentence> none;
  CHECK(make_batches(none, none, 8, rng).empty());
  const auto one = make_batches(src, tgt, 8, rng);
  REQUIRE(one.size() == 1);
  CHECK(one[0].size() == 2);
}

TEST_CASE("batches: inference batches sort by source length without randomness") {
  const std::vector<Sentence> src = {{1, 1, 1}, {1}, {1, 1}, {1}, {1, 1, 1, 1}};
  const auto plan = inference_batches(src, 2);
  CHECK(plan == std::vector<std::vector<std::size_t>>{{1, 3}, {2, 0}, {4}});
  CHECK(inference_batches({}, 3).empty());
  CHECK_THROWS_AS(inference_batches(src, 0), std::invalid_argument);
}

TEST_CASE("batches: max_length_filter drops or rejects long pairs") {
  std::vector<Sentence> src = {{1, 2}, {1, 2, 3, 4}, {1}, {1, 2, 3}}, tgt = {{1}, {1}, {1, 2, 3, 4, 5}, {1, 2}};
  auto s = src, t = tgt;
  CHECK(max_length_filter(s, t, 3, 4) == 2);
  CHECK(s == std::vector<Sentence>{{1, 2}, {1, 2, 3}});
  CHECK(t == std::vector<Sentence>{{1}, {1, 2}});
  s = src, t = tgt;
  CHECK(max_length_filter(s, t, 0, 0) == 0);  // no limits
  CHECK(s == src);
  CHECK(max_length_filter(s, t, 0, 4) == 1);  // target limit only
  CHECK(s.size() == 3);
  s = src, t = tgt;
  CHECK(throws_with<std::invalid_argument>([&] { max_length_filter(s, t, 3, 4, OverLength::reject); },
                                           "pair 1 has a source of 4 tokens, over the limit of 3"));
  CHECK(throws_with<std::invalid_argument>([&] { max_length_filter(s, t, 4, 4, OverLength::reject); },
                                           "pair 2 has a target of 5 tokens, over the limit of 4"));
  CHECK(s == src);  // reject leaves the data alone
  CHECK(max_length_filter(s, t, 5, 5, OverLength::reject) == 0);
  // On words too.
  std::vector<Words> ws = {{"a", "b"}, {"a"}}, wt = {{"x"}, {"y", "z", "w"}};
  CHECK(max_length_filter(ws, wt, 2, 2) == 1);
  CHECK(ws == std::vector<Words>{{"a", "b"}});
  std::vector<Sentence> short_src = {{1}};
  CHECK_THROWS_AS(max_length_filter(short_src, t, 1, 1), std::invalid_argument);
}

TEST_CASE("data: the whole pipeline from TSV text to batches") {
  const std::string text = "Je vois le chat.\tI see the cat.\nLe chat me voit.\tThe cat sees me.\n"
                           "Où est le chat ?\tWhere is the cat?\nJe vois le chien.\tI see the dog.\n";
  const auto pairs = read_string(text);
  std::vector<Words> src_words, tgt_words;
  for (const Pair& p : pairs) {
    src_words.push_back(tokenize(p.source));
    tgt_words.push_back(tokenize(p.target));
  }
  const Vocab sv = Vocab::build(src_words), tv = Vocab::build(tgt_words, 8);
  std::vector<Sentence> src, tgt;
  std::size_t unknown_total = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    std::size_t unknown = 0;
    src.push_back(sv.encode(src_words[i]));
    tgt.push_back(tv.encode(tgt_words[i], unknown));
    unknown_total += unknown;
  }
  CHECK(sv.decode(src[2]) == Words{"où", "est", "le", "chat", "?"});
  CHECK(tv.size() == 8);
  CHECK(unknown_total > 0);
  Rng rng(1);
  const auto batches = make_batches(src, tgt, 3, rng);
  CHECK(batches.size() == 2);
  CHECK(batches[0].size() + batches[1].size() == 4);
}


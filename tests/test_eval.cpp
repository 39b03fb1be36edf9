// Tests of include/seq2seq/eval/: corpus BLEU-4 and perplexity, against hand-computed values.
#include <seq2seq/eval/eval.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace seq2seq;

namespace {

using Words = std::vector<std::string>;
using Refs = std::vector<Words>;

Words split_words(const std::string& s) {
  std::istringstream in(s);
  Words w;
  for (std::string t; in >> t;) w.push_back(t);
  return w;
}

template <typename E, typename F>
bool throws_with(F&& f, const std::string& needle) {
  try {
    f();
  } catch (const E& e) {
    const std::string what = e.what();
    if (what.find(needle) != std::string::npos && what.rfind("seq2seq: ", 0) == 0) return true;
    MESSAGE("message was: " << what);
    return false;
  }
  return false;
}

/// BLEU from its definition, for the hand-computed cases: 100 * BP * geometric mean.
double bleu_formula(double p1, double p2, double p3, double p4, double bp) {
  return 100.0 * bp * std::exp((std::log(p1) + std::log(p2) + std::log(p3) + std::log(p4)) / 4.0);
}

// Papineni et al. (2002), section 2.1, example 1 (also NLTK's documentation example).
const Words hyp1 = split_words("It is a guide to action which ensures that the military always obeys the commands of the party");
const Words hyp1_bad = split_words("It is to insure the troops forever hearing the activity guidebook that party direct");
const Words ref1a = split_words("It is a guide to action that ensures that the military will forever heed Party commands");
const Words ref1b = split_words("It is the guiding principle which guarantees the military forces always being under the command of the Party");
const Words ref1c = split_words("It is the practical guide for the army always to heed the directions of the party");
const Words hyp2 = split_words("he read the book because he was interested in world history");
const Words ref2a = split_words("he was interested in world history because he read the book");

}  // namespace

TEST_CASE("bleu: an identical corpus scores 100") {
  const std::vector<Words> hyps = {split_words("a cat sat on the mat"), split_words("hello world again and again")};
  const std::vector<Refs> refs = {{hyps[0]}, {split_words("something else entirely"), hyps[1]}};
  const BleuResult r = corpus_bleu(hyps, refs);
  CHECK(r.bleu == doctest::Approx(100.0));
  CHECK(r.brevity_penalty == 1.0);
  CHECK(r.hyp_len == 11);
  CHECK(r.ref_len == 11);
  for (int n = 0; n < 4; ++n) {
    CHECK(r.precisions[n] == doctest::Approx(100.0));
    CHECK(r.matches[n] == r.totals[n]);
  }
  CHECK(r.totals[0] == 11);
  CHECK(r.totals[3] == 5);
}

TEST_CASE("bleu: Papineni's example 1 with three references, counted by hand") {
  // Hypothesis: 18 words. Clipped matches: unigrams 17/18 (only "obeys" is in no reference),
  // bigrams 10/17, trigrams 7/16, 4-grams 4/15. The closest reference length is 18 (ref1b): BP = 1.
  const BleuResult r = corpus_bleu(std::vector<Words>{hyp1}, std::vector<Refs>{{ref1a, ref1b, ref1c}});
  CHECK(r.hyp_len == 18);
  CHECK(r.ref_len == 18);
  CHECK(r.matches[0] == 17);
  CHECK(r.totals[0] == 18);
  CHECK(r.matches[1] == 10);
  CHECK(r.totals[1] == 17);
  CHECK(r.matches[2] == 7);
  CHECK(r.totals[2] == 16);
  CHECK(r.matches[3] == 4);
  CHECK(r.totals[3] == 15);
  CHECK(r.precisions[0] == doctest::Approx(100.0 * 17 / 18));
  CHECK(r.precisions[1] == doctest::Approx(100.0 * 10 / 17));
  CHECK(r.brevity_penalty == 1.0);
  CHECK(r.bleu == doctest::Approx(bleu_formula(17.0 / 18, 10.0 / 17, 7.0 / 16, 4.0 / 15, 1.0)));
  CHECK(r.bleu == doctest::Approx(50.4566684).epsilon(1e-9));  // NLTK: 0.5045666840058485
}

TEST_CASE("bleu: corpus level sums the statistics over sentences") {
  // Sentence 2 is a reordering of its reference: 11/11 unigrams, 9/10 bigrams, 6/9, 4/8.
  const std::vector<Words> hyps = {hyp1, hyp2};
  const std::vector<Refs> refs = {{ref1a, ref1b, ref1c}, {ref2a}};
  const BleuResult r = corpus_bleu(hyps, refs);
  CHECK(r.matches[0] == 17 + 11);
  CHECK(r.matches[1] == 10 + 9);
  CHECK(r.matches[2] == 7 + 6);
  CHECK(r.matches[3] == 4 + 4);
  CHECK(r.totals[3] == 15 + 8);
  CHECK(r.hyp_len == 29);
  CHECK(r.ref_len == 29);
  CHECK(r.bleu == doctest::Approx(bleu_formula(28.0 / 29, 19.0 / 27, 13.0 / 25, 8.0 / 23, 1.0)));
  CHECK(r.bleu == doctest::Approx(59.2077886880).epsilon(1e-9));  // NLTK: 0.5920778868801042
  // Not the mean of sentence scores, but independent of sentence order and equal to BleuStats.
  const BleuResult swapped = corpus_bleu(std::vector<Words>{hyp2, hyp1}, std::vector<Refs>{{ref2a}, {ref1a, ref1b, ref1c}});
  CHECK(swapped.bleu == r.bleu);
  BleuStats stats;
  stats.add(hyp1, Refs{ref1a, ref1b, ref1c});
  stats.add(hyp2, Refs{ref2a});
  CHECK(stats.sentences == 2);
  CHECK(stats.result().bleu == r.bleu);
}

TEST_CASE("bleu: clipping (Papineni's 'the the the' example)") {
  // "the" occurs at most twice in one reference: modified unigram precision 2/7, no bigram matches.
  const BleuResult r = corpus_bleu(std::vector<Words>{split_words("the the the the the the the")},
                                   std::vector<Refs>{{split_words("the cat is on the mat"), split_words("there is a cat on the mat")}});
  CHECK(r.matches[0] == 2);
  CHECK(r.totals[0] == 7);
  CHECK(r.precisions[0] == doctest::Approx(100.0 * 2 / 7));
  CHECK(r.matches[1] == 0);
  CHECK(r.bleu == 0.0);
}

TEST_CASE("bleu: n-grams may match in different references") {
  // a b: reference 1; c d: reference 2; b c: neither. No trigram matches.
  const BleuResult r = corpus_bleu(std::vector<Words>{{"a", "b", "c", "d"}},
                                   std::vector<Refs>{{{"a", "b", "x", "y"}, {"x", "y", "c", "d"}}});
  CHECK(r.matches[0] == 4);
  CHECK(r.matches[1] == 2);
  CHECK(r.totals[1] == 3);
  CHECK(r.matches[2] == 0);
  CHECK(r.bleu == 0.0);
  // Clipping takes the maximum count over the references, not their sum.
  const BleuResult c = corpus_bleu(std::vector<Words>{{"x", "x", "x"}}, std::vector<Refs>{{{"x", "y"}, {"y", "x"}}});
  CHECK(c.matches[0] == 1);
}

TEST_CASE("bleu: brevity penalty and the effective reference length") {
  // 4 words against 6: every precision is 1, BP = exp(1 - 6/4).
  const BleuResult short_hyp = corpus_bleu(std::vector<Words>{{"a", "b", "c", "d"}}, std::vector<Refs>{{{"a", "b", "c", "d", "e", "f"}}});
  CHECK(short_hyp.brevity_penalty == doctest::Approx(std::exp(-0.5)));
  CHECK(short_hyp.bleu == doctest::Approx(100.0 * std::exp(-0.5)));
  CHECK(short_hyp.ref_len == 6);
  // Longer than the reference: no penalty (precision pays instead).
  const BleuResult long_hyp = corpus_bleu(std::vector<Words>{{"a", "b", "c", "d", "e"}}, std::vector<Refs>{{{"a", "b", "c", "d"}}});
  CHECK(long_hyp.brevity_penalty == 1.0);
  CHECK(long_hyp.bleu == doctest::Approx(bleu_formula(4.0 / 5, 3.0 / 4, 2.0 / 3, 1.0 / 2, 1.0)));
  // Length 5 between references of 4 and 6: the tie goes to the shorter one, so BP = 1 in either
  // order of the references.
  const Words h = {"a", "b", "c", "d", "e"};
  const Words r4 = {"a", "b", "c", "d"}, r6 = {"a", "b", "c", "d", "e", "f"};
  for (const Refs& refs : {Refs{r4, r6}, Refs{r6, r4}}) {
    const BleuResult r = corpus_bleu(std::vector<Words>{h}, std::vector<Refs>{refs});
    CHECK(r.ref_len == 4);
    CHECK(r.brevity_penalty == 1.0);
    CHECK(r.bleu == doctest::Approx(100.0));
  }
  // The closest length is chosen per sentence, then summed: 3 (closest to 3 among 3, 9) + 7 (closest
  // to 8 among 2, 7).
  const std::vector<Words> hyps = {{"a", "b", "c"}, {"a", "b", "c", "d", "e", "f", "g", "h"}};
  const std::vector<Refs> refs = {{{"a", "b", "c"}, {"1", "2", "3", "4", "5", "6", "7", "8", "9"}},
                                  {{"1", "2"}, {"a", "b", "c", "d", "e", "f", "g"}}};
  CHECK(corpus_bleu(hyps, refs).ref_len == 10);
}

TEST_CASE("bleu: add-one smoothing for orders 2..4") {
  // Hand counts: unigrams 8/14, bigrams 1/13, no trigram or 4-gram match; closest reference 16.
  const std::vector<Words> hyps = {hyp1_bad};
  const std::vector<Refs> refs = {{ref1a, ref1b, ref1c}};
  const BleuResult plain = corpus_bleu(hyps, refs);
  CHECK(plain.matches[0] == 8);
  CHECK(plain.matches[1] == 1);
  CHECK(plain.matches[2] == 0);
  CHECK(plain.bleu == 0.0);
  CHECK(plain.ref_len == 16);
  const double bp = std::exp(1.0 - 16.0 / 14.0);
  CHECK(plain.brevity_penalty == doctest::Approx(bp));
  const BleuResult smooth = corpus_bleu(hyps, refs, BleuSmoothing::add_one);
  CHECK(smooth.precisions[0] == doctest::Approx(100.0 * 8 / 14));  // unigrams are not smoothed
  CHECK(smooth.precisions[1] == doctest::Approx(100.0 * 2 / 14));
  CHECK(smooth.precisions[2] == doctest::Approx(100.0 * 1 / 13));
  CHECK(smooth.precisions[3] == doctest::Approx(100.0 * 1 / 12));
  CHECK(smooth.bleu == doctest::Approx(bleu_formula(8.0 / 14, 2.0 / 14, 1.0 / 13, 1.0 / 12, bp)));
  CHECK(smooth.bleu == doctest::Approx(13.1112095752).epsilon(1e-9));
  // Smoothing is not free: it lowers a perfect-but-short corpus only through orders >= 2.
  const BleuResult ident = corpus_bleu(std::vector<Words>{hyp1}, std::vector<Refs>{{hyp1}}, BleuSmoothing::add_one);
  CHECK(ident.bleu == doctest::Approx(100.0));
}

TEST_CASE("bleu: token ids give the same result as words") {
  std::map<std::string, std::int32_t> ids;
  const auto encode = [&](const Words& w) {
    std::vector<std::int32_t> out;
    for (const std::string& t : w) out.push_back(ids.emplace(t, static_cast<std::int32_t>(ids.size())).first->second);
    return out;
  };
  const std::vector<Words> hyps = {hyp1, hyp2, hyp1_bad};
  const std::vector<Refs> refs = {{ref1a, ref1b, ref1c}, {ref2a}, {ref1c, ref1a}};
  std::vector<std::vector<std::int32_t>> hyp_ids;
  std::vector<std::vector<std::vector<std::int32_t>>> ref_ids;
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    hyp_ids.push_back(encode(hyps[i]));
    ref_ids.emplace_back();
    for (const Words& r : refs[i]) ref_ids.back().push_back(encode(r));
  }
  const BleuResult w = corpus_bleu(hyps, refs), t = corpus_bleu(hyp_ids, ref_ids);
  CHECK(w.bleu == t.bleu);
  for (int n = 0; n < 4; ++n) {
    CHECK(w.matches[n] == t.matches[n]);
    CHECK(w.totals[n] == t.totals[n]);
  }
  CHECK(w.bleu > 0.0);
}

TEST_CASE("bleu: empty hypotheses and bad arguments") {
  const BleuResult empty = corpus_bleu(std::vector<Words>{{}}, std::vector<Refs>{{{"a", "b"}}});
  CHECK(empty.bleu == 0.0);
  CHECK(empty.brevity_penalty == 0.0);
  CHECK(empty.hyp_len == 0);
  CHECK(empty.ref_len == 2);
  CHECK_FALSE(std::isnan(empty.precisions[0]));
  // One empty hypothesis among good ones only costs length.
  const BleuResult mixed = corpus_bleu(std::vector<Words>{hyp1, {}}, std::vector<Refs>{{hyp1}, {{"x"}}});
  CHECK(mixed.bleu == doctest::Approx(100.0 * std::exp(1.0 - 19.0 / 18.0)));
  CHECK(throws_with<std::invalid_argument>([] { corpus_bleu(std::vector<Words>{{"a"}}, std::vector<Refs>{}); },
                                           "1 hypotheses but 0 reference sets"));
  CHECK(throws_with<std::invalid_argument>([] { corpus_bleu(std::vector<Words>{{"a"}, {"b"}}, std::vector<Refs>{{{"a"}}, {}}); },
                                           "sentence 1 has no reference"));
  CHECK(throws_with<std::invalid_argument>([] { corpus_bleu(std::vector<Words>{}, std::vector<Refs>{}); }, "empty corpus"));
  BleuStats stats;
  CHECK(throws_with<std::invalid_argument>([&] { stats.add(Words{"a"}, Refs{}); }, "at least one reference"));
}

TEST_CASE("perplexity") {
  CHECK(perplexity(0.0, 10) == 1.0);
  CHECK(perplexity(10 * std::log(5.0), 10) == doctest::Approx(5.0));
  CHECK(perplexity(std::log(4.7) * 1234, 1234) == doctest::Approx(4.7));
  CHECK(perplexity(-1e-9, 3) == 1.0);  // rounding in a log-softmax is tolerated
  CHECK(throws_with<std::invalid_argument>([] { perplexity(1.0, 0); }, "zero tokens"));
  CHECK(throws_with<std::invalid_argument>([] { perplexity(std::nan(""), 5); }, "nan"));
  CHECK(throws_with<std::invalid_argument>([] { perplexity(HUGE_VAL, 5); }, "negative log-likelihood is inf"));
  CHECK(throws_with<std::invalid_argument>([] { perplexity(-1.0, 5); }, "is negative"));
  CHECK(std::isinf(perplexity(1000.0, 1)));

  NllAccumulator acc;
  CHECK_THROWS_AS(acc.mean(), std::invalid_argument);
  acc.add(3 * std::log(2.0), 3);
  acc.add(std::log(16.0), 1);  // per-token perplexities 2, 2, 2, 16: geometric mean 2^(7/4)
  CHECK(acc.tokens == 4);
  CHECK(acc.mean() == doctest::Approx(7.0 / 4.0 * std::log(2.0)));
  CHECK(acc.perplexity() == doctest::Approx(std::pow(2.0, 7.0 / 4.0)));
}

TEST_CASE("exact_match_rate") {
  const std::vector<Words> hyps = {{"a", "b"}, {"c"}, {"d", "e"}, {}};
  CHECK(exact_match_rate(hyps, std::vector<Words>{{"a", "b"}, {"c", "c"}, {"d", "e"}, {"x"}}) == doctest::Approx(0.5));
  CHECK(exact_match_rate(hyps, std::vector<Refs>{{{"x"}, {"a", "b"}}, {{"c"}}, {{"e", "d"}}, {{}}}) == doctest::Approx(0.75));
  const std::vector<std::vector<std::int32_t>> ids = {{1, 2}, {3}};
  CHECK(exact_match_rate(ids, std::vector<std::vector<std::int32_t>>{{1, 2}, {4}}) == doctest::Approx(0.5));
  CHECK(throws_with<std::invalid_argument>([&] { exact_match_rate(hyps, std::vector<Words>{{"a"}}); }, "4 hypotheses but 1"));
  CHECK(throws_with<std::invalid_argument>([] { exact_match_rate(std::vector<Words>{}, std::vector<Words>{}); }, "empty corpus"));
}

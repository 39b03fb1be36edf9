// Tests of beam search (include/seq2seq/beam_search.hpp) on synthetic scorers and through
// Seq2Seq::translate (model.hpp): exactness against exhaustive search, beam 1 == greedy, n-best
// lists, length normalisation, maximum length, ties and bad options.
#include "test_util.hpp"

#include <seq2seq/beam_search.hpp>
#include <seq2seq/data/types.hpp>
#include <seq2seq/decoder.hpp>
#include <seq2seq/encoder.hpp>
#include <seq2seq/lstm_cell.hpp>
#include <seq2seq/model.hpp>
#include <seq2seq/param.hpp>
#include <seq2seq/stacked_lstm.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace seq2seq;
using Mat = Matrix<double>;

/// Every word sequence over `words` of length 0..max_length (what beam search may output).
std::vector<Sentence> all_outputs(const std::vector<TokenId>& words, Index max_length) {
  std::vector<Sentence> out{Sentence()};
  std::vector<Sentence> level{Sentence()};
  for (Index len = 1; len <= max_length; ++len) {
    std::vector<Sentence> next;
    for (const Sentence& s : level)
      for (TokenId w : words) {
        Sentence e = s;
        e.push_back(w);
        next.push_back(e);
      }
    out.insert(out.end(), next.begin(), next.end());
    level.swap(next);
  }
  return out;
}

/// The words beam search may emit for a target vocabulary of V: every id but <pad>, <s>, <EOS>.
std::vector<TokenId> output_words(Index V) {
  std::vector<TokenId> w;
  for (TokenId t = 0; t < static_cast<TokenId>(V); ++t)
    if (t != Special::pad && t != Special::bos && t != Special::eos) w.push_back(t);
  return w;
}

struct Scored {
  Sentence tokens;
  double log_prob;
};

/// All outputs ranked by log-probability, best first (ties, which random weights do not produce,
/// would be left in enumeration order).
template <typename ScoreFn>
std::vector<Scored> exhaustive_ranking(const std::vector<TokenId>& words, Index max_length, ScoreFn&& score) {
  std::vector<Scored> r;
  for (const Sentence& y : all_outputs(words, max_length)) r.push_back({y, score(y)});
  std::stable_sort(r.begin(), r.end(), [](const Scored& a, const Scored& b) { return a.log_prob > b.log_prob; });
  return r;
}

/// n-best lists are sorted by score (best first) and hold distinct sentences.
void check_sorted_and_distinct(const std::vector<Hypothesis>& h) {
  for (std::size_t i = 1; i < h.size(); ++i) CHECK(h[i - 1].score >= h[i].score);
  for (std::size_t i = 0; i < h.size(); ++i)
    for (std::size_t j = i + 1; j < h.size(); ++j) CHECK(h[i].tokens != h[j].tokens);
}

// ---------------------------------------------------------------------------------------------
// Synthetic scorers

/// Next-word log-probabilities that depend on the whole prefix through a hash, so a wrong
/// back-pointer (reorder) changes every later distribution. Keeps one history per beam column.
class HistoryScorer {
 public:
  HistoryScorer(Index vocab, std::uint64_t salt) : V_(vocab), salt_(salt) {}

  /// log p(next | prefix), computed independently of any beam state.
  double log_prob(const Sentence& prefix, TokenId next) const {
    const Eigen::VectorXd lp = distribution(prefix);
    return lp(next);
  }
  double sentence_log_prob(const Sentence& y) const {
    double s = 0;
    Sentence prefix;
    for (TokenId w : y) {
      s += log_prob(prefix, w);
      prefix.push_back(w);
    }
    return s + log_prob(prefix, Special::eos);
  }

  // The beam_search scorer interface.
  Index vocab_size() const { return V_; }
  void start(Index K) {
    history_.assign(static_cast<std::size_t>(K), Sentence());
    started_ = true;
  }
  void step(const std::vector<TokenId>& last, Mat& log_probs) {
    REQUIRE(started_);
    REQUIRE(last.size() == history_.size());
    log_probs.resize(V_, static_cast<Index>(last.size()));
    for (std::size_t k = 0; k < last.size(); ++k) {
      if (steps_ == 0)
        CHECK(last[k] == Special::bos);
      else
        history_[k].push_back(last[k]);
      log_probs.col(static_cast<Index>(k)) = distribution(history_[k]);
    }
    ++steps_;
  }
  void reorder(const std::vector<Index>& parents) {
    std::vector<Sentence> next;
    for (Index p : parents) {
      REQUIRE(p >= 0);
      REQUIRE(p < static_cast<Index>(history_.size()));
      next.push_back(history_[static_cast<std::size_t>(p)]);
    }
    history_.swap(next);
  }
  int steps() const { return steps_; }

 private:
  Eigen::VectorXd distribution(const Sentence& prefix) const {
    std::uint64_t h = 1469598103934665603ull ^ salt_;  // FNV-1a over the prefix
    for (TokenId w : prefix) h = (h ^ static_cast<std::uint64_t>(w + 7)) * 1099511628211ull;
    Rng rng(h);
    Eigen::VectorXd z(V_);
    for (Index v = 0; v < V_; ++v) z(v) = rng.uniform(-2.5, 2.5);
    z.array() -= std::log(z.array().exp().sum());
    return z;
  }

  Index V_;
  std::uint64_t salt_;
  std::vector<Sentence> history_;
  bool started_ = false;
  int steps_ = 0;
};

/// A bigram model: log p(next | previous token) from a V x V table (column = previous token).
class BigramScorer {
 public:
  explicit BigramScorer(Mat log_table) : table_(std::move(log_table)) {}
  /// A table from unnormalised weights; each column is normalised.
  static BigramScorer from_weights(Mat w) {
    for (Index j = 0; j < w.cols(); ++j) w.col(j) /= w.col(j).sum();
    return BigramScorer(w.array().log().matrix());
  }
  double sentence_log_prob(const Sentence& y) const {
    double s = 0;
    TokenId prev = Special::bos;
    for (TokenId w : y) {
      s += table_(w, prev);
      prev = w;
    }
    return s + table_(Special::eos, prev);
  }
  Index vocab_size() const { return table_.rows(); }
  void start(Index) {}
  void step(const std::vector<TokenId>& last, Mat& log_probs) {
    log_probs.resize(table_.rows(), static_cast<Index>(last.size()));
    for (std::size_t k = 0; k < last.size(); ++k) log_probs.col(static_cast<Index>(k)) = table_.col(last[k]);
  }
  void reorder(const std::vector<Index>&) {}
  Mat& table() { return table_; }

 private:
  Mat table_;
};

TEST_CASE("beam_search: a beam larger than every set of partial hypotheses equals exhaustive search") {
  // V = 7: words <unk>, 4, 5, 6 and <EOS> may follow; max_length 3 gives 1 + 4 + 16 + 64 = 85 outputs
  // and at most 64 partial hypotheses, so a beam of 65 never prunes.
  const Index V = 7, max_length = 3;
  for (std::uint64_t salt : {1u, 2u, 3u, 4u}) {
    CAPTURE(salt);
    HistoryScorer reference(V, salt);
    const std::vector<Scored> ranking = exhaustive_ranking(
        output_words(V), max_length, [&](const Sentence& y) { return reference.sentence_log_prob(y); });
    REQUIRE(ranking.size() == 85);
    DecodeOptions opt;
    opt.beam = 65;
    opt.nbest = 8;
    HistoryScorer scorer(V, salt);
    Mat lp;
    const std::vector<Hypothesis> h = beam_search(scorer, opt, max_length, lp);
    REQUIRE(h.size() == 8);
    for (std::size_t i = 0; i < h.size(); ++i) {
      CAPTURE(i);
      CHECK(h[i].tokens == ranking[i].tokens);
      CHECK(std::abs(h[i].log_prob - ranking[i].log_prob) <= 1e-12);
      CHECK(h[i].score == h[i].log_prob);  // no length normalisation by default
    }
    check_sorted_and_distinct(h);
  }
}

TEST_CASE("beam_search: every hypothesis' log_prob is the scorer's own sum over its tokens (back-pointers)") {
  const Index V = 9;
  for (Index beam : {1, 2, 3, 5, 8}) {
    CAPTURE(beam);
    HistoryScorer scorer(V, static_cast<std::uint64_t>(100 + beam));
    DecodeOptions opt;
    opt.beam = beam;
    opt.nbest = beam;
    Mat lp;
    const std::vector<Hypothesis> h = beam_search(scorer, opt, 6, lp);
    REQUIRE(!h.empty());
    CHECK(static_cast<Index>(h.size()) <= beam);
    check_sorted_and_distinct(h);
    for (const Hypothesis& x : h) {
      CHECK(static_cast<Index>(x.tokens.size()) <= 6);
      for (TokenId w : x.tokens) {
        CHECK(w != Special::pad);
        CHECK(w != Special::bos);
        CHECK(w != Special::eos);
      }
      CHECK(std::abs(x.log_prob -
                     HistoryScorer(V, static_cast<std::uint64_t>(100 + beam)).sentence_log_prob(x.tokens)) <= 1e-12);
    }
  }
}

TEST_CASE("beam_search: max_length bounds the words; 0 allows only <EOS>") {
  HistoryScorer scorer(9, 5);
  DecodeOptions opt;
  opt.beam = 3;
  opt.nbest = 3;
  Mat lp;
  SUBCASE("max_length 0") {
    opt.nbest = 1;
    const std::vector<Hypothesis> h = beam_search(scorer, opt, 0, lp);
    REQUIRE(h.size() == 1);
    CHECK(h.front().tokens.empty());
    CHECK(std::abs(h.front().log_prob - scorer.log_prob(Sentence(), Special::eos)) <= 1e-15);
    CHECK(scorer.steps() == 1);
  }
  SUBCASE("max_length 2") {
    const std::vector<Hypothesis> h = beam_search(scorer, opt, 2, lp);
    REQUIRE(!h.empty());
    for (const Hypothesis& x : h) CHECK(x.tokens.size() <= 2);
    CHECK(scorer.steps() <= 3);
  }
}

TEST_CASE("beam_search: ties go to the lower parent, then the lower token id") {
  // Uniform distribution: every extension ties. Greedy takes the lowest allowed id, <unk>, at every
  // step, and <EOS> once the maximum length forces it.
  const Index V = 6;
  BigramScorer uniform = BigramScorer::from_weights(Mat::Ones(V, V));
  DecodeOptions opt;
  Mat lp;
  const std::vector<Hypothesis> h = beam_search(uniform, opt, 3, lp);
  REQUIRE(h.size() == 1);
  CHECK(h.front().tokens == Sentence{Special::unk, Special::unk, Special::unk});
  CHECK(std::abs(h.front().log_prob - 4 * std::log(1.0 / V)) <= 1e-12);
}

TEST_CASE("beam_search: length_alpha > 0 changes the ranking score, not log_prob") {
  // After <s>: <EOS> 0.45, word 4 0.45; after 4: word 5 0.9; after 5: <EOS> 0.9; the rest is small.
  const Index V = 7;
  Mat w = Mat::Constant(V, V, 0.01);
  w(Special::eos, Special::bos) = 45;
  w(4, Special::bos) = 45;
  w(5, 4) = 90;
  w(Special::eos, 5) = 90;
  BigramScorer bigram = BigramScorer::from_weights(w);
  Mat lp;
  DecodeOptions opt;
  opt.beam = 4;
  opt.nbest = 3;

  const std::vector<Hypothesis> plain = beam_search(bigram, opt, 5, lp);
  REQUIRE(!plain.empty());
  CHECK(plain.front().tokens.empty());  // the paper's rule: the short sentence wins
  for (const Hypothesis& x : plain) {
    CHECK(x.score == x.log_prob);
    CHECK(std::abs(x.log_prob - bigram.sentence_log_prob(x.tokens)) <= 1e-12);
  }

  opt.length_alpha = 1.0;
  const std::vector<Hypothesis> norm = beam_search(bigram, opt, 5, lp);
  REQUIRE(!norm.empty());
  CHECK(norm.front().tokens == Sentence{4, 5});  // log p / (words + 1) prefers the longer sentence
  check_sorted_and_distinct(norm);
  for (const Hypothesis& x : norm) {
    CHECK(std::abs(x.log_prob - bigram.sentence_log_prob(x.tokens)) <= 1e-12);
    CHECK(std::abs(x.score - x.log_prob / static_cast<double>(x.tokens.size() + 1)) <= 1e-12);
  }
  // The same sentence has the same log_prob under both rankings.
  for (const Hypothesis& a : plain)
    for (const Hypothesis& b : norm)
      if (a.tokens == b.tokens) CHECK(a.log_prob == b.log_prob);
}

TEST_CASE("beam_search: bad options and NaN log-probabilities throw naming the problem") {
  HistoryScorer scorer(6, 9);
  Mat lp;
  const auto message = [&](const DecodeOptions& opt, Index max_length) -> std::string {
    try {
      beam_search(scorer, opt, max_length, lp);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "<no invalid_argument>";
  };
  DecodeOptions opt;
  opt.beam = 0;
  opt.nbest = 0;
  CHECK(message(opt, 3).find("beam size must be at least 1, got 0") != std::string::npos);
  opt.beam = 2;
  opt.nbest = 3;
  CHECK(message(opt, 3).find("nbest must be between 1 and the beam size (2)") != std::string::npos);
  opt.nbest = 0;
  CHECK(message(opt, 3).find("nbest") != std::string::npos);
  opt.nbest = 1;
  CHECK(message(opt, -1).find("negative maximum length") != std::string::npos);

  Mat nan_table = Mat::Constant(6, 6, std::log(1.0 / 6));
  nan_table(4, Special::bos) = std::numeric_limits<double>::quiet_NaN();
  BigramScorer broken(nan_table);
  CHECK_THROWS_WITH_AS(beam_search(broken, DecodeOptions(), 3, lp), doctest::Contains("NaN"), std::runtime_error);
}

// ---------------------------------------------------------------------------------------------
// Through the model

using DynamicModel = Seq2Seq<Encoder<StackedLSTM<LSTMCell<double, Dynamic, Dynamic>, Dynamic>>,
                             Decoder<StackedLSTM<LSTMCell<double, Dynamic, Dynamic>, Dynamic>>>;
using FixedModel =
    Seq2Seq<Encoder<StackedLSTM<LSTMCell<double, 4, 3>, 2>>, Decoder<StackedLSTM<LSTMCell<double, 4, 3>, 2>>>;

template <typename Model>
Model random_model(Index source_vocab, Index target_vocab, std::uint64_t seed, double range) {
  ModelConfig c;
  c.source_vocab = source_vocab;
  c.target_vocab = target_vocab;
  c.embed = 3;
  c.hidden = 4;
  c.layers = 2;
  Model m(c);
  Rng rng(seed);
  init_uniform(m, rng, range);
  return m;
}

Sentence random_sentence(Rng& rng, Index vocab, Index min_len, Index max_len) {
  const auto n =
      static_cast<Index>(min_len + static_cast<Index>(rng.below(static_cast<std::uint64_t>(max_len - min_len + 1))));
  Sentence s;
  for (Index i = 0; i < n; ++i) s.push_back(static_cast<TokenId>(1 + rng.below(static_cast<std::uint64_t>(vocab - 1))));
  return s;
}

TEST_CASE_TEMPLATE("Seq2Seq::translate: a large beam equals exhaustive search on a tiny target vocabulary", Model,
                   FixedModel, DynamicModel) {
  // Target vocabulary: the 4 specials + 2 words, so outputs use <unk>, 4, 5; max_length 3 gives
  // 1 + 3 + 9 + 27 = 40 outputs and at most 27 partial hypotheses (< beam 64).
  const Index V = Special::count + 2;
  const std::vector<TokenId> words = output_words(V);
  REQUIRE(words == std::vector<TokenId>{Special::unk, 4, 5});
  Rng src_rng(7);
  for (std::uint64_t seed : {201u, 202u, 203u}) {
    CAPTURE(seed);
    const Model m = random_model<Model>(8, V, seed, 1.5);  // weights far from 0: peaked, varied outputs
    const Sentence src = random_sentence(src_rng, 8, 1, 4);
    const std::vector<Scored> ranking =
        exhaustive_ranking(words, 3, [&](const Sentence& y) { return m.score(src, y); });
    REQUIRE(ranking.size() == 40);
    // Probabilities of the enumerated outputs are a part of a distribution.
    double mass = 0;
    for (const Scored& s : ranking) mass += std::exp(s.log_prob);
    CHECK(mass <= 1.0 + 1e-12);

    DecodeOptions opt;
    opt.beam = 64;
    opt.nbest = 5;
    opt.max_length = 3;
    const std::vector<Hypothesis> h = m.translate(src, opt);
    REQUIRE(h.size() == 5);
    check_sorted_and_distinct(h);
    for (std::size_t i = 0; i < h.size(); ++i) {
      CAPTURE(i);
      CHECK(h[i].tokens == ranking[i].tokens);
      CHECK(std::abs(h[i].log_prob - ranking[i].log_prob) <= 1e-9);
      CHECK(std::abs(h[i].log_prob - m.score(src, h[i].tokens)) <= 1e-9);
    }
    // nbest = every output: the whole list comes back in the exhaustive order, including the
    // hypotheses grown from parents other than the best (which a wrong back-pointer would corrupt).
    opt.nbest = 40;
    const std::vector<Hypothesis> all = m.translate(src, opt);
    REQUIRE(all.size() == 40);
    for (std::size_t i = 0; i < all.size(); ++i) {
      CAPTURE(i);
      CHECK(all[i].tokens == ranking[i].tokens);
      CHECK(std::abs(all[i].log_prob - ranking[i].log_prob) <= 1e-9);
    }
    // Smaller beams still return valid, correctly scored hypotheses.
    for (Index beam : {1, 2, 3}) {
      DecodeOptions small = opt;
      small.beam = beam;
      small.nbest = 1;
      const std::vector<Hypothesis> hs = m.translate(src, small);
      REQUIRE(hs.size() == 1);
      CHECK(hs.front().tokens.size() <= 3);
      CHECK(std::abs(hs.front().log_prob - m.score(src, hs.front().tokens)) <= 1e-9);
      CHECK(hs.front().log_prob <= h.front().log_prob + 1e-12);
    }
  }
}

TEST_CASE_TEMPLATE("Seq2Seq::translate: beam 1 equals greedy decoding, token for token", Model, FixedModel,
                   DynamicModel) {
  Rng src_rng(8);
  int differing_lengths = 0;
  std::size_t first_length = 0;
  for (std::uint64_t seed = 301; seed < 306; ++seed) {
    const double range = 0.5 + 0.4 * static_cast<double>(seed - 301);
    const Model m = random_model<Model>(9, 8, seed, range);
    std::vector<Sentence> sources;
    for (int i = 0; i < 4; ++i) sources.push_back(random_sentence(src_rng, 9, 1, 5));
    const std::vector<Sentence> greedy_batch = m.translate_greedy(sources);
    REQUIRE(greedy_batch.size() == sources.size());
    for (std::size_t i = 0; i < sources.size(); ++i) {
      CAPTURE(seed);
      CAPTURE(i);
      const std::vector<Hypothesis> beam1 = m.translate(sources[i]);  // default options: beam 1
      REQUIRE(beam1.size() == 1);
      const std::vector<Sentence> greedy_one = m.translate_greedy({sources[i]});
      CHECK(beam1.front().tokens == greedy_one.front());
      CHECK(greedy_batch[i] == greedy_one.front());  // a batch decodes each column independently
      CHECK(static_cast<Index>(greedy_one.front().size()) <= m.output_limit(static_cast<Index>(sources[i].size()), 0));
      CHECK(std::abs(beam1.front().log_prob - m.score(sources[i], beam1.front().tokens)) <= 1e-9);
      if (seed == 301 && i == 0)
        first_length = greedy_one.front().size();
      else if (greedy_one.front().size() != first_length)
        ++differing_lengths;
    }
  }
  CHECK(differing_lengths > 0);  // the models are varied enough to exercise <EOS> at different steps
}

TEST_CASE("Seq2Seq::translate: output length limits, n-best lists, length_alpha and bad options") {
  const DynamicModel m = random_model<DynamicModel>(9, 8, 401, 1.0);
  const Sentence src{4, 5, 6};
  SUBCASE("the default limit is 2n + 10 words; an explicit limit and config.max_length cap it") {
    CHECK(m.output_limit(3, 0) == 16);
    CHECK(m.output_limit(3, 2) == 2);
    ModelConfig c = m.config();
    c.max_length = 5;
    DynamicModel capped(c);
    CHECK(capped.output_limit(3, 0) == 5);
    CHECK(capped.output_limit(3, 7) == 5);
    DecodeOptions opt;
    opt.beam = 4;
    opt.nbest = 4;
    opt.max_length = 2;
    for (const Hypothesis& h : m.translate(src, opt)) CHECK(h.tokens.size() <= 2);
    for (const Sentence& s : m.translate_greedy({src, {7}}, 1)) CHECK(s.size() <= 1);
    for (const Sentence& s : capped.translate_greedy({src, {7}})) CHECK(s.size() <= 5);
  }
  SUBCASE("n-best lists are sorted, distinct and correctly scored") {
    for (Index beam : {2, 5, 10}) {
      DecodeOptions opt;
      opt.beam = beam;
      opt.nbest = beam;
      const std::vector<Hypothesis> h = m.translate(src, opt);
      REQUIRE(!h.empty());
      CHECK(static_cast<Index>(h.size()) <= beam);
      check_sorted_and_distinct(h);
      for (const Hypothesis& x : h) CHECK(std::abs(x.log_prob - m.score(src, x.tokens)) <= 1e-9);
    }
  }
  SUBCASE("length_alpha > 0: score = log_prob / (words + 1)^alpha, log_prob unchanged") {
    DecodeOptions opt;
    opt.beam = 5;
    opt.nbest = 5;
    opt.length_alpha = 0.7;
    const std::vector<Hypothesis> h = m.translate(src, opt);
    REQUIRE(!h.empty());
    check_sorted_and_distinct(h);
    for (const Hypothesis& x : h) {
      CHECK(std::abs(x.log_prob - m.score(src, x.tokens)) <= 1e-9);
      CHECK(std::abs(x.score - x.log_prob / std::pow(static_cast<double>(x.tokens.size() + 1), 0.7)) <= 1e-12);
    }
  }
  SUBCASE("beam 0 and nbest > beam are rejected") {
    DecodeOptions opt;
    opt.beam = 0;
    CHECK_THROWS_WITH_AS(m.translate(src, opt), doctest::Contains("beam size must be at least 1"),
                         std::invalid_argument);
    opt.beam = 2;
    opt.nbest = 3;
    CHECK_THROWS_WITH_AS(m.translate(src, opt), doctest::Contains("nbest must be between 1 and the beam size"),
                         std::invalid_argument);
    const Ensemble<DynamicModel> e({&m});
    CHECK_THROWS_AS(e.translate(src, opt), std::invalid_argument);
  }
}

}  // namespace

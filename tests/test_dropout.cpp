// Tests of the dropout masks (include/seq2seq/dropout.hpp): golden masks from an independent Python
// implementation of the documented rule, masks as a pure function of (seed, step, site, layer,
// position), shard offsets, the keep rate and the exact scale, bad options. The layers' use of the
// masks (gradient checks with the masks held fixed) is tested in test_stacked_lstm.cpp and
// test_model.cpp.
#include "test_util.hpp"

#include <seq2seq/dropout.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace seq2seq;

/// The message of the std::invalid_argument that `f` throws ("<no exception>" otherwise).
template <typename F>
std::string invalid_argument_message(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no exception>";
}

DropoutOptions options(double rate, std::uint64_t seed, std::uint64_t step, Index first_sequence = 0) {
  DropoutOptions d;
  d.rate = rate;
  d.seed = seed;
  d.step = step;
  d.first_sequence = first_sequence;
  return d;
}

struct GoldenCase {
  double rate;
  std::uint64_t seed, step;
  Index first_sequence;
  int site, layer;
  std::vector<const char*> columns;  // one string per column t*B + b, character i = row i
};

TEST_CASE("DropoutStream: golden masks from tests/reference/dropout_masks.py (the documented rule K1-K4)") {
  // Printed by `python3 tests/reference/dropout_masks.py`: 5 rows x (T = 3) * (B = 2) columns.
  const std::vector<GoldenCase> cases = {
      {0.5, 2014u, 7u, 3, 1, 1, {"01010", "11101", "11111", "10000", "00101", "01010"}},
      {0.25, 1u, 0u, 0, 2, 0, {"10101", "11111", "11111", "11001", "11111", "10111"}},
      {0.75, 18446744073709551615u, 123456789u, 10, 2, 2, {"10010", "00000", "00010", "01010", "10100", "01110"}},
  };
  for (const GoldenCase& g : cases) {
    CAPTURE(g.rate);
    const DropoutStream s(options(g.rate, g.seed, g.step, g.first_sequence), static_cast<DropoutSite>(g.site));
    Matrix<double> m;
    s.fill(g.layer, 5, 3, 2, m);
    REQUIRE(m.rows() == 5);
    REQUIRE(m.cols() == 6);
    for (Index col = 0; col < 6; ++col) {
      std::string got;
      for (Index i = 0; i < 5; ++i) got += m(i, col) != 0.0 ? '1' : '0';
      CAPTURE(col);
      CHECK(got == g.columns[static_cast<std::size_t>(col)]);
      for (Index i = 0; i < 5; ++i) CHECK(s.keep(g.layer, col / 2, col % 2, i) == (m(i, col) != 0.0));
    }
  }
}

TEST_CASE_TEMPLATE("DropoutStream: the same options give the same masks; every key component changes them", Scalar,
                   float, double) {
  const Index rows = 16, T = 4, B = 3;
  const auto mask = [&](const DropoutOptions& d, DropoutSite site, Index layer) {
    Matrix<Scalar> m;
    DropoutStream(d, site).fill(layer, rows, T, B, m);
    return m;
  };
  const DropoutOptions base = options(0.5, 11, 5);
  const Matrix<Scalar> m = mask(base, DropoutSite::encoder, 1);
  CHECK(m == mask(base, DropoutSite::encoder, 1));  // bit for bit, whatever was drawn in between
  CHECK(m != mask(options(0.5, 12, 5), DropoutSite::encoder, 1));
  CHECK(m != mask(options(0.5, 11, 6), DropoutSite::encoder, 1));
  CHECK(m != mask(base, DropoutSite::decoder, 1));
  CHECK(m != mask(base, DropoutSite::encoder, 2));
  CHECK(m != mask(base, DropoutSite::encoder, 0));

  SUBCASE("a mask does not depend on the batch's length or width, only on (t, sequence, unit)") {
    Matrix<Scalar> longer;
    DropoutStream(base, DropoutSite::encoder).fill(1, rows + 5, T + 2, B + 4, longer);
    for (Index t = 0; t < T; ++t)
      for (Index b = 0; b < B; ++b) CHECK(longer.col(t * (B + 4) + b).head(rows) == m.col(t * B + b));
  }
  SUBCASE("a shard starting at pair 2 (first_sequence = 2) draws the whole batch's masks of its pairs") {
    Matrix<Scalar> shard;
    DropoutStream(options(0.5, 11, 5, 2), DropoutSite::encoder).fill(1, rows, T, 1, shard);
    for (Index t = 0; t < T; ++t) CHECK(shard.col(t) == m.col(t * B + 2));
  }
  SUBCASE("fill keeps the buffer's allocation for an unchanged shape") {
    Matrix<Scalar> buf;
    DropoutStream(base, DropoutSite::decoder).fill(0, rows, T, B, buf);
    const Scalar* data = buf.data();
    DropoutStream(options(0.5, 11, 99), DropoutSite::decoder).fill(0, rows, T, B, buf);
    CHECK(buf.data() == data);
  }
}

TEST_CASE_TEMPLATE("DropoutStream: the keep rate is 1 - p within 5 standard deviations, kept entries are 1/(1-p)",
                   Scalar, float, double) {
  const Index rows = 256, T = 25, B = 40;  // 256,000 entries per mask
  for (const double p : {0.1, 0.3, 0.5, 0.9}) {
    CAPTURE(p);
    const DropoutStream s(options(p, 1234, 77), DropoutSite::decoder);
    Matrix<Scalar> m;
    s.fill(2, rows, T, B, m);
    const Scalar kept_value = static_cast<Scalar>(1.0 / (1.0 - p));
    CHECK(s.template scale<Scalar>() == kept_value);
    const auto n = static_cast<double>(m.size());
    double kept = 0, both = 0, same_at_next_step = 0;
    Matrix<Scalar> next;
    DropoutStream(options(p, 1234, 78), DropoutSite::decoder).fill(2, rows, T, B, next);
    bool values_ok = true;
    for (Index j = 0; j < m.cols(); ++j)
      for (Index i = 0; i < rows; ++i) {
        const Scalar v = m(i, j);
        values_ok = values_ok && (v == Scalar(0) || v == kept_value);
        kept += v != Scalar(0);
        if (i + 1 < rows) both += v != Scalar(0) && m(i + 1, j) != Scalar(0);
        same_at_next_step += (v != Scalar(0)) == (next(i, j) != Scalar(0));
      }
    CHECK(values_ok);
    const double q = 1 - p;
    // Binomial counts: the keep rate, neighbouring units kept together ((1-p)^2 if independent), and
    // the same unit agreeing with itself at the next training step ((1-p)^2 + p^2 if independent).
    const auto within = [](double count, double trials, double prob) {
      const double sd = std::sqrt(trials * prob * (1 - prob));
      INFO("count ", count, ", expected ", trials * prob, " +- ", sd);
      CHECK(std::abs(count - trials * prob) <= 5 * sd);
    };
    within(kept, n, q);
    within(both, n - static_cast<double>(m.cols()), q * q);
    within(same_at_next_step, n, q * q + p * p);
  }
}

TEST_CASE("DropoutStream: rate 0 keeps everything at scale 1; a default stream is inactive") {
  const DropoutStream s(options(0.0, 3, 4), DropoutSite::encoder);
  CHECK_FALSE(s.active());
  Matrix<float> m;
  s.fill(0, 7, 3, 2, m);
  CHECK((m.array() == 1.0f).all());
  CHECK_FALSE(DropoutStream().active());
  CHECK(DropoutStream(options(1e-300, 3, 4), DropoutSite::encoder).active());
}

TEST_CASE("check_dropout: rates outside [0, 1), NaN and a negative first_sequence throw naming the value") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<std::pair<double, std::string>> bad = {
      {-0.1, "got -0.1"}, {1.0, "got 1"},   {1.5, "got 1.5"},   {nan, "got NaN"},
      {-nan, "got NaN"},  {inf, "got inf"}, {-inf, "got -inf"}, {std::nextafter(1.0, 2.0), "got 1.0000000000000002"}};
  for (const auto& entry : bad) {  // (no structured binding: a C++17 lambda cannot capture one)
    const double rate = entry.first;
    const std::string& needle = entry.second;
    CAPTURE(needle);
    for (const std::string& msg :
         {invalid_argument_message([&] { check_dropout(options(rate, 0, 0)); }),
          invalid_argument_message([&] { DropoutStream(options(rate, 0, 0), DropoutSite::decoder); })}) {
      INFO("message: ", msg);
      CHECK(msg.find("seq2seq: dropout rate must be in [0, 1)") != std::string::npos);
      CHECK(msg.find(needle) != std::string::npos);
    }
  }
  for (const double ok : {0.0, 0.5, std::nextafter(1.0, 0.0)}) CHECK_NOTHROW(check_dropout(options(ok, 0, 0)));
  CHECK_THROWS_WITH_AS(check_dropout(options(0.5, 0, 0, -1)),
                       doctest::Contains("dropout first_sequence must not be negative, got -1"), std::invalid_argument);
}

}  // namespace

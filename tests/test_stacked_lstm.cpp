// Tests of StackedLSTM (include/seq2seq/stacked_lstm.hpp): gradient checks through layers and time
// over every parameter, the input and every layer's initial state, masks, names, step(); dropout
// between layers (gradient checks with the masks held fixed, what is dropped and what is not).
#include "test_util.hpp"

#include <seq2seq/dropout.hpp>
#include <seq2seq/lstm_cell.hpp>
#include <seq2seq/param.hpp>
#include <seq2seq/stacked_lstm.hpp>
#include <seq2seq/testing/gradcheck.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace seq2seq;
using seq2seq::test::check_report;
using seq2seq::test::make_mask;
using seq2seq::test::max_abs_diff;
using seq2seq::test::random_matrix;
using seq2seq::test::weighted_sum;
using Mat = Matrix<double>;

constexpr Index kHidden = 3;
constexpr Index kInput = 2;

// Fixed depth and sizes; run-time depth and sizes; peepholes carried into the upper layers.
#define SEQ2SEQ_STACK_TYPES                                                                                   \
  StackedLSTM<LSTMCell<double, 3, 2>, 3>, StackedLSTM<LSTMCell<double, Dynamic, Dynamic>, Dynamic>,           \
      StackedLSTM<LSTMCell<double, Dynamic, Dynamic, true>, 2>

/// Depth used for a stack type: its compile-time depth, or 3 when Dynamic.
template <typename Stack>
constexpr Index depth_of() {
  return Stack::Layers == Dynamic ? 3 : Stack::Layers;
}

/// A stack with random parameters, input, initial states and loss weights:
///   loss = sum(R .* top outputs) + sum_l [sum(Rh_l .* h_T,l) + sum(Rc_l .* c_T,l)]
/// X: I x T*B; R: H x T*B (empty: the top outputs are not in the loss); every state H x B.
/// With an active `dropout`, every forward (loss() and gradients()) draws the same masks.
template <typename Stack>
struct StackCase {
  Stack stack{depth_of<Stack>(), kHidden, kInput};
  Index T, B;
  Mat X, R;
  LSTMState<double> init, d_final;
  Mask<double> mask;
  DropoutStream dropout;

  StackCase(Index steps, Index batch, std::uint64_t seed, Mask<double> m = Mask<double>(), bool top_in_loss = true)
      : T(steps), B(batch), mask(std::move(m)) {
    Rng rng(seed);
    init_uniform(stack, rng, 0.5);
    X = random_matrix(kInput, T * B, rng);
    const Index L = stack.layers();
    init.resize(L, kHidden, B);
    d_final.resize(L, kHidden, B);
    for (Index l = 0; l < L; ++l) {
      const auto ul = static_cast<std::size_t>(l);
      init.h[ul] = random_matrix(kHidden, B, rng, 0.5);
      init.c[ul] = random_matrix(kHidden, B, rng, 0.5);
      d_final.h[ul] = testing::random_weights(kHidden, B, rng);
      d_final.c[ul] = testing::random_weights(kHidden, B, rng);
    }
    if (top_in_loss) R = testing::random_weights(kHidden, T * B, rng);
    if (mask.size() != 0) REQUIRE(mask.size() == T * B);
  }
  const Mask<double>* mask_ptr() const { return mask.size() == 0 ? nullptr : &mask; }
  const DropoutStream* dropout_ptr() const { return dropout.active() ? &dropout : nullptr; }

  double loss() const {
    StackedTape<double> tape;
    stack.forward(X, B, &init, tape, mask_ptr(), dropout_ptr());
    LSTMState<double> fin;
    stack.final_state(tape, fin);
    double s = R.size() == 0 ? 0.0 : weighted_sum(tape.outputs(), R);
    for (Index l = 0; l < stack.layers(); ++l) {
      const auto ul = static_cast<std::size_t>(l);
      s += weighted_sum(fin.h[ul], d_final.h[ul]) + weighted_sum(fin.c[ul], d_final.c[ul]);
    }
    return s;
  }

  /// Zeroes and fills the parameter gradients; writes dX and d_init.
  void gradients(Mat& dX, LSTMState<double>& d_init) {
    zero_grad(stack);
    StackedTape<double> tape;
    stack.forward(X, B, &init, tape, mask_ptr(), dropout_ptr());
    stack.backward(X, tape, R, &d_final, &dX, &d_init);
  }
};

DropoutOptions dropout_options(double rate, std::uint64_t seed, std::uint64_t step) {
  DropoutOptions d;
  d.rate = rate;
  d.seed = seed;
  d.step = step;
  return d;
}

template <typename Stack>
void run_gradcheck(StackCase<Stack>& k) {
  Mat dX;
  LSTMState<double> d_init;
  k.gradients(dX, d_init);
  REQUIRE(d_init.layers() == k.stack.layers());
  const auto loss = [&] { return k.loss(); };
  testing::GradCheckReport report = testing::check_parameters(k.stack, loss);
  report.tensors.push_back(testing::check_tensor("X", k.X, dX, loss));
  for (Index l = 0; l < k.stack.layers(); ++l) {
    const auto ul = static_cast<std::size_t>(l);
    report.tensors.push_back(testing::check_tensor("h0_l" + std::to_string(l), k.init.h[ul], d_init.h[ul], loss));
    report.tensors.push_back(testing::check_tensor("c0_l" + std::to_string(l), k.init.c[ul], d_init.c[ul], loss));
  }
  const std::size_t per_layer = Stack::Peephole ? 4 : 3;
  REQUIRE(report.tensors.size() == static_cast<std::size_t>(k.stack.layers()) * (per_layer + 2) + 1);
  check_report(report, 1e-5);
}

TEST_CASE_TEMPLATE("StackedLSTM: gradient check over parameters, X and every layer's h0, c0", Stack, SEQ2SEQ_STACK_TYPES) {
  SUBCASE("no mask, T = 4, B = 2") {
    StackCase<Stack> k(4, 2, 101);
    run_gradcheck(k);
  }
  SUBCASE("masked: padding at the end, in the middle and at the start") {
    StackCase<Stack> k(5, 4, 102, make_mask<double>({"11111", "11100", "10110", "00111"}));
    run_gradcheck(k);
  }
  SUBCASE("loss on the final states only (empty dH_top)") {
    StackCase<Stack> k(3, 2, 103, Mask<double>(), false);
    run_gradcheck(k);
  }
}

TEST_CASE_TEMPLATE("StackedLSTM: padded steps carry every layer's state and get exactly zero dX", Stack,
                   SEQ2SEQ_STACK_TYPES) {
  StackCase<Stack> k(5, 4, 111, make_mask<double>({"11111", "11100", "10110", "00111"}));
  Mat dX;
  LSTMState<double> d_init;
  k.gradients(dX, d_init);
  StackedTape<double> tape;
  k.stack.forward(k.X, k.B, &k.init, tape, k.mask_ptr());
  for (Index col = 0; col < k.T * k.B; ++col) {
    if (k.mask(col) != 0.0) continue;
    CAPTURE(col);
    CHECK((dX.col(col).array() == 0.0).all());
    for (const auto& tl : tape.layer) {
      CHECK((tl.h.col(col + k.B).array() == tl.h.col(col).array()).all());
      CHECK((tl.c.col(col + k.B).array() == tl.c.col(col).array()).all());
    }
  }
}

TEST_CASE_TEMPLATE("StackedLSTM: gradient check with dropout between layers, the masks held fixed", Stack,
                   SEQ2SEQ_STACK_TYPES) {
  SUBCASE("no mask, T = 4, B = 2, p = 0.4") {
    StackCase<Stack> k(4, 2, 141);
    const double plain = k.loss();
    k.dropout = DropoutStream(dropout_options(0.4, 7, 3), DropoutSite::encoder);
    CHECK(std::abs(k.loss() - plain) > 1e-3);  // the masks matter
    CHECK(k.loss() == k.loss());               // and are the same on every evaluation
    run_gradcheck(k);
  }
  SUBCASE("masked: padding at the end, in the middle and at the start, p = 0.5") {
    StackCase<Stack> k(5, 4, 142, make_mask<double>({"11111", "11100", "10110", "00111"}));
    k.dropout = DropoutStream(dropout_options(0.5, 8, 1), DropoutSite::decoder);
    run_gradcheck(k);
  }
}

TEST_CASE_TEMPLATE("StackedLSTM: dropout drops the input of layers >= 1 only, never a layer's own recurrence", Stack,
                   SEQ2SEQ_STACK_TYPES) {
  StackCase<Stack> k(4, 3, 151);
  StackedTape<double> plain, dropped;
  k.stack.forward(k.X, k.B, &k.init, plain);
  const DropoutStream drop(dropout_options(0.5, 9, 2), DropoutSite::encoder);
  k.stack.forward(k.X, k.B, &k.init, dropped, nullptr, &drop);
  const Index L = k.stack.layers();
  REQUIRE(dropped.dropout);
  REQUIRE(static_cast<Index>(dropped.keep.size()) == L - 1);
  // Layer 0 reads the caller's X: untouched.
  CHECK(dropped.layer[0].h == plain.layer[0].h);
  CHECK(dropped.layer[0].c == plain.layer[0].c);
  const double scale = 1.0 / (1.0 - 0.5);
  for (Index l = 1; l < L; ++l) {
    CAPTURE(l);
    const auto ul = static_cast<std::size_t>(l);
    const Mat& m = dropped.keep[ul - 1];
    Mat expect_m;
    drop.fill(l, kHidden, k.T, k.B, expect_m);
    CHECK(m == expect_m);
    CHECK(((m.array() == 0.0) || (m.array() == scale)).all());
    CHECK((m.array() == 0.0).any());
    CHECK((m.array() != 0.0).any());
    // The input of layer l is m_l .* h^{l-1}, kept values scaled by exactly 1/(1-p) ...
    const Mat below = dropped.layer[ul - 1].outputs();
    const Mat& x = dropped.dropped[ul - 1];
    for (Index j = 0; j < x.cols(); ++j)
      for (Index i = 0; i < x.rows(); ++i) CHECK(x(i, j) == (m(i, j) == 0.0 ? 0.0 : below(i, j) * scale));
    // ... and layer l is a plain LSTM over that input: its h_{t-1} -> gates path and c are not dropped.
    LSTMTape<double> alone;
    k.stack.upper(l).forward(x, k.B, k.init.h[ul], k.init.c[ul], alone);
    CHECK(alone.h == dropped.layer[ul].h);
    CHECK(alone.c == dropped.layer[ul].c);
    CHECK(max_abs_diff(dropped.layer[ul].h, plain.layer[ul].h) > 1e-3);
  }
  // The same tape used again without dropout is a plain forward again.
  k.stack.forward(k.X, k.B, &k.init, dropped);
  CHECK_FALSE(dropped.dropout);
  CHECK(dropped.outputs() == plain.outputs());
}

TEST_CASE_TEMPLATE("StackedLSTM: a rate-0 dropout stream is bit-identical to none, forward and backward", Stack,
                   SEQ2SEQ_STACK_TYPES) {
  StackCase<Stack> k(4, 2, 161, make_mask<double>({"1111", "1100"}));
  Mat dX;
  LSTMState<double> d_init;
  k.gradients(dX, d_init);
  std::vector<Mat> grads;
  k.stack.visit_parameters([&](const ParamName&, const Param<double>& p) { grads.push_back(p.grad); });
  const double loss = k.loss();

  k.dropout = DropoutStream(dropout_options(0.0, 5, 5), DropoutSite::encoder);
  Mat dX0;
  LSTMState<double> d_init0;
  k.gradients(dX0, d_init0);
  CHECK(k.loss() == loss);
  CHECK(dX0 == dX);
  for (std::size_t l = 0; l < d_init.h.size(); ++l) {
    CHECK(d_init0.h[l] == d_init.h[l]);
    CHECK(d_init0.c[l] == d_init.c[l]);
  }
  std::size_t i = 0;
  k.stack.visit_parameters([&](const ParamName&, const Param<double>& p) { CHECK(p.grad == grads[i++]); });
}

TEST_CASE_TEMPLATE("StackedLSTM: with dropout, padded steps still carry every layer's state and get exactly zero dX",
                   Stack, SEQ2SEQ_STACK_TYPES) {
  StackCase<Stack> k(5, 4, 171, make_mask<double>({"11111", "11100", "10110", "00111"}));
  k.dropout = DropoutStream(dropout_options(0.3, 10, 4), DropoutSite::decoder);
  Mat dX;
  LSTMState<double> d_init;
  k.gradients(dX, d_init);
  StackedTape<double> tape;
  k.stack.forward(k.X, k.B, &k.init, tape, k.mask_ptr(), k.dropout_ptr());
  for (Index col = 0; col < k.T * k.B; ++col) {
    if (k.mask(col) != 0.0) continue;
    CAPTURE(col);
    CHECK((dX.col(col).array() == 0.0).all());
    for (const auto& tl : tape.layer) {
      CHECK((tl.h.col(col + k.B).array() == tl.h.col(col).array()).all());
      CHECK((tl.c.col(col + k.B).array() == tl.c.col(col).array()).all());
    }
  }
}

TEST_CASE_TEMPLATE("StackedLSTM: parameter names, order and count", Stack, SEQ2SEQ_STACK_TYPES) {
  Stack stack(depth_of<Stack>(), kHidden, kInput);
  const Index L = depth_of<Stack>();
  CHECK(stack.layers() == L);
  CHECK(stack.hidden_size() == kHidden);
  CHECK(stack.input_size() == kInput);
  CHECK(stack.first().input_size() == kInput);
  for (Index l = 1; l < L; ++l) CHECK(stack.upper(l).input_size() == kHidden);

  std::vector<std::string> names;
  stack.visit_parameters([&](const ParamName& name, Param<double>&) { names.push_back(name.str()); });
  std::vector<std::string> want;
  for (Index l = 0; l < L; ++l) {
    for (const char* p : {"W", "U", "b", "P"}) {
      if (std::string(p) == "P" && !Stack::Peephole) continue;
      want.push_back("layer" + std::to_string(l) + "." + p);
    }
  }
  CHECK(names == want);
  if (!Stack::Peephole && L == 3)
    CHECK(names == std::vector<std::string>{"layer0.W", "layer0.U", "layer0.b", "layer1.W", "layer1.U", "layer1.b",
                                            "layer2.W", "layer2.U", "layer2.b"});

  // The const visitor and a prefix.
  const Stack& cs = stack;
  std::vector<std::string> prefixed;
  cs.visit_parameters([&](const ParamName& name, const Param<double>&) { prefixed.push_back(name.str()); },
                      ParamName("encoder"));
  REQUIRE(prefixed.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(prefixed[i] == "encoder." + want[i]);

  const Index peep = Stack::Peephole ? 3 * kHidden : 0;
  const Index first = 4 * kHidden * (kInput + kHidden + 1) + peep;
  const Index upper = 4 * kHidden * (kHidden + kHidden + 1) + peep;
  CHECK(parameter_count(stack) == first + (L - 1) * upper);
  if (!Stack::Peephole && L == 3) CHECK(parameter_count(stack) == 240);
}

TEST_CASE_TEMPLATE("StackedLSTM: step() equals forward over T steps", Stack, SEQ2SEQ_STACK_TYPES) {
  StackCase<Stack> k(4, 3, 121);
  StackedTape<double> tape;
  k.stack.forward(k.X, k.B, &k.init, tape);
  LSTMState<double> state = k.init;
  Mat gates;
  for (Index t = 0; t < k.T; ++t) {
    CAPTURE(t);
    k.stack.step(k.X.middleCols(t * k.B, k.B), state, gates);
    CHECK(max_abs_diff(state.h.back(), tape.outputs().middleCols(t * k.B, k.B)) <= 1e-12);
    for (std::size_t l = 0; l < tape.layer.size(); ++l) {
      CAPTURE(l);
      CHECK(max_abs_diff(state.h[l], tape.layer[l].h.middleCols((t + 1) * k.B, k.B)) <= 1e-12);
      CHECK(max_abs_diff(state.c[l], tape.layer[l].c.middleCols((t + 1) * k.B, k.B)) <= 1e-12);
    }
  }
  LSTMState<double> fin;
  k.stack.final_state(tape, fin);
  for (std::size_t l = 0; l < fin.h.size(); ++l) {
    CHECK(max_abs_diff(state.h[l], fin.h[l]) <= 1e-12);
    CHECK(max_abs_diff(state.c[l], fin.c[l]) <= 1e-12);
  }
}

TEST_CASE_TEMPLATE("StackedLSTM: no initial state means zeros; null outputs are allowed", Stack, SEQ2SEQ_STACK_TYPES) {
  StackCase<Stack> k(3, 2, 131);
  StackedTape<double> implicit_zero;
  StackedTape<double> explicit_zero;
  LSTMState<double> zeros;
  zeros.resize(k.stack.layers(), kHidden, k.B);
  zeros.set_zero();
  k.stack.forward(k.X, k.B, nullptr, implicit_zero);
  k.stack.forward(k.X, k.B, &zeros, explicit_zero);
  CHECK(max_abs_diff(implicit_zero.outputs(), explicit_zero.outputs()) == 0.0);

  // Parameter gradients do not depend on whether dX and d_init are requested.
  Mat dX;
  LSTMState<double> d_init;
  k.gradients(dX, d_init);
  std::vector<Mat> full;
  k.stack.visit_parameters([&](const ParamName&, const Param<double>& p) { full.push_back(p.grad); });
  zero_grad(k.stack);
  StackedTape<double> tape;
  k.stack.forward(k.X, k.B, &k.init, tape);
  k.stack.backward(k.X, tape, k.R, &k.d_final, nullptr, nullptr);
  std::size_t i = 0;
  k.stack.visit_parameters([&](const ParamName&, const Param<double>& p) {
    CHECK(max_abs_diff(p.grad, full[i]) == 0.0);
    ++i;
  });
}

TEST_CASE("StackedLSTM: bad depths and states throw std::invalid_argument naming the problem") {
  using Fixed = StackedLSTM<LSTMCell<double, 3, 2>, 3>;
  using Dyn = StackedLSTM<LSTMCell<double, Dynamic, Dynamic>, Dynamic>;
  CHECK_THROWS_WITH_AS(Fixed(2, 3, 2), doctest::Contains("seq2seq: StackedLSTM depth is fixed at 3"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Fixed(3, 4, 2), doctest::Contains("hidden size is fixed at 3"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Dyn(0, 3, 2), doctest::Contains("StackedLSTM depth must be positive"), std::invalid_argument);

  Fixed stack;
  const Mat X = Mat::Zero(kInput, 4);
  LSTMState<double> two;
  two.resize(2, kHidden, 2);
  StackedTape<double> tape;
  CHECK_THROWS_WITH_AS(stack.forward(X, 2, &two, tape), doctest::Contains("initial state has 2 layers, the stack has 3"),
                       std::invalid_argument);
  stack.forward(X, 2, nullptr, tape);
  CHECK_THROWS_WITH_AS(stack.backward(X, tape, Mat(), &two, nullptr, nullptr), doctest::Contains("d_final has the wrong depth"),
                       std::invalid_argument);
  Mat gates;
  CHECK_THROWS_WITH_AS(stack.step(X.leftCols(2), two, gates), doctest::Contains("StackedLSTM::step: state has the wrong depth"),
                       std::invalid_argument);
  StackedTape<double> empty;
  LSTMState<double> out;
  CHECK_THROWS_WITH_AS(stack.final_state(empty, out), doctest::Contains("tape does not match the stack"),
                       std::invalid_argument);
}

}  // namespace

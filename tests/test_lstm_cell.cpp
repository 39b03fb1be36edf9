// Tests of LSTMCell (include/seq2seq/lstm_cell.hpp): gradient checks over every parameter, input and
// initial state, masks, "sequential equals batched", error messages, forget bias, float.
#include "test_util.hpp"

#include <seq2seq/lstm_cell.hpp>
#include <seq2seq/param.hpp>
#include <seq2seq/testing/gradcheck.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace seq2seq;
using seq2seq::test::check_report;
using seq2seq::test::make_mask;
using seq2seq::test::max_abs_diff;
using seq2seq::test::random_matrix;
using seq2seq::test::weighted_sum;
using Mat = Matrix<double>;

// Every cell test uses H = 3, I = 2: small enough for ASan/valgrind, H != I catches transposes.
constexpr Index kHidden = 3;
constexpr Index kInput = 2;

#define SEQ2SEQ_CELL_TYPES                                                                                    \
  LSTMCell<double, 3, 2>, LSTMCell<double, Dynamic, Dynamic>, LSTMCell<double, 3, 2, true>,                   \
      LSTMCell<double, Dynamic, Dynamic, true>

/// A cell with random parameters, inputs, initial state and loss weights:
///   loss = sum(R .* outputs) + sum(Rh .* h_T) + sum(Rc .* c_T)
/// X: I x T*B, h0, c0: H x B, R: H x T*B, Rh, Rc: H x B.
template <typename Cell>
struct CellCase {
  Cell cell{kHidden, kInput};
  Index T, B;
  Mat X, h0, c0, R, Rh, Rc;
  Mask<double> mask;  // empty: no padding

  CellCase(Index steps, Index batch, std::uint64_t seed, Mask<double> m = Mask<double>()) : T(steps), B(batch), mask(std::move(m)) {
    Rng rng(seed);
    // Weights well beyond the paper's 0.08 so the gates leave their linear regime.
    init_uniform(cell, rng, 0.5);
    X = random_matrix(kInput, T * B, rng);
    h0 = random_matrix(kHidden, B, rng, 0.5);
    c0 = random_matrix(kHidden, B, rng, 0.5);
    R = testing::random_weights(kHidden, T * B, rng);
    Rh = testing::random_weights(kHidden, B, rng);
    Rc = testing::random_weights(kHidden, B, rng);
    if (mask.size() != 0) REQUIRE(mask.size() == T * B);
  }
  const Mask<double>* mask_ptr() const { return mask.size() == 0 ? nullptr : &mask; }

  void forward(LSTMTape<double>& tape) const { cell.forward(X, B, h0, c0, tape, mask_ptr()); }

  double loss() const {
    LSTMTape<double> tape;
    forward(tape);
    return weighted_sum(tape.outputs(), R) + weighted_sum(tape.final_h(), Rh) + weighted_sum(tape.final_c(), Rc);
  }

  /// Zeroes and fills the parameter gradients; writes dX (I x T*B), dh0, dc0 (H x B).
  void gradients(Mat& dX, Mat& dh0, Mat& dc0, LSTMTape<double>& tape) {
    zero_grad(cell);
    forward(tape);
    cell.backward(X, tape, R, Rh, Rc, &dX);
    dh0 = tape.initial_dh();
    dc0 = tape.initial_dc();
  }
};

template <typename Model>
std::vector<Mat> parameter_grads(const Model& m) {
  std::vector<Mat> out;
  m.visit_parameters([&](const ParamName&, const auto& p) { out.push_back(p.grad); });
  return out;
}

void check_same_grads(const std::vector<Mat>& a, const std::vector<Mat>& b, double tol) {
  REQUIRE(a.size() == b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    INFO("parameter #", k);
    CHECK(max_abs_diff(a[k], b[k]) <= tol);
  }
}

// Padding at the end (sequence 1), in the middle and at the end (2), at the start (3).
Mask<double> padded_mask() { return make_mask<double>({"11111", "11100", "10110", "00111"}); }

template <typename Cell>
void run_gradcheck(CellCase<Cell>& k) {
  Mat dX, dh0, dc0;
  LSTMTape<double> tape;
  k.gradients(dX, dh0, dc0, tape);
  const auto loss = [&] { return k.loss(); };
  testing::GradCheckReport report = testing::check_parameters(k.cell, loss);
  report.tensors.push_back(testing::check_tensor("X", k.X, dX, loss));
  report.tensors.push_back(testing::check_tensor("h0", k.h0, dh0, loss));
  report.tensors.push_back(testing::check_tensor("c0", k.c0, dc0, loss));
  REQUIRE(report.tensors.size() == (Cell::Peephole ? 7u : 6u));
  check_report(report, 1e-6);
}

TEST_CASE_TEMPLATE("LSTMCell: gradient check over parameters, X, h0 and c0", Cell, SEQ2SEQ_CELL_TYPES) {
  SUBCASE("no mask, T = 4, B = 2") {
    CellCase<Cell> k(4, 2, 11);
    run_gradcheck(k);
  }
  SUBCASE("T = 3, B = 3") {
    CellCase<Cell> k(3, 3, 12);
    run_gradcheck(k);
  }
  SUBCASE("masked: padding at the end, in the middle and at the start") {
    CellCase<Cell> k(5, 4, 13, padded_mask());
    run_gradcheck(k);
  }
}

TEST_CASE_TEMPLATE("LSTMCell: padded steps carry the state and get exactly zero dX", Cell, SEQ2SEQ_CELL_TYPES) {
  CellCase<Cell> k(5, 4, 21, padded_mask());
  Mat dX, dh0, dc0;
  LSTMTape<double> tape;
  k.gradients(dX, dh0, dc0, tape);
  LSTMTape<double> fwd;
  k.forward(fwd);
  const Index B = k.B;
  Index padded = 0;
  for (Index t = 0; t < k.T; ++t) {
    for (Index b = 0; b < B; ++b) {
      const Index col = t * B + b;
      CAPTURE(t);
      CAPTURE(b);
      if (k.mask(col) == 0.0) {
        ++padded;
        CHECK((dX.col(col).array() == 0.0).all());
        CHECK((fwd.h.col(col + B).array() == fwd.h.col(col).array()).all());
        CHECK((fwd.c.col(col + B).array() == fwd.c.col(col).array()).all());
      } else {
        // A real step moves the state and passes gradient to its input.
        CHECK(max_abs_diff(fwd.c.col(col + B), fwd.c.col(col)) > 0.0);
        CHECK(dX.col(col).cwiseAbs().maxCoeff() > 0.0);
      }
    }
  }
  CHECK(padded == 6);
  // Sequence 3 is padded for its first two steps: its initial state reaches step 2 unchanged.
  CHECK((fwd.h.col(2 * B + 3).array() == k.h0.col(3).array()).all());
}

/// Chains T forward calls with T = 1 (and, unmasked, T calls of step()) and T backward calls, each
/// feeding the next, and compares them with one unrolled forward/backward.
template <typename Cell>
void check_sequential_equals_unrolled(CellCase<Cell>& k) {
  const Index T = k.T;
  const Index B = k.B;
  const bool masked = k.mask.size() != 0;
  Mat dX, dh0, dc0;
  LSTMTape<double> whole;
  k.gradients(dX, dh0, dc0, whole);
  const std::vector<Mat> grads_whole = parameter_grads(k.cell);
  LSTMTape<double> fwd;
  k.forward(fwd);

  // Forward: step t starts from step t-1's final state.
  std::vector<LSTMTape<double>> tapes(static_cast<std::size_t>(T));
  Mat h = k.h0;
  Mat c = k.c0;
  for (Index t = 0; t < T; ++t) {
    CAPTURE(t);
    const Mat x = k.X.middleCols(t * B, B);
    Mask<double> m_t;
    if (masked) m_t = k.mask.segment(t * B, B);
    auto& tape = tapes[static_cast<std::size_t>(t)];
    k.cell.forward(x, B, h, c, tape, masked ? &m_t : nullptr);
    REQUIRE(tape.steps == 1);
    CHECK(max_abs_diff(tape.outputs(), fwd.outputs().middleCols(t * B, B)) <= 1e-12);
    CHECK(max_abs_diff(tape.final_c(), fwd.c.middleCols((t + 1) * B, B)) <= 1e-12);
    h = tape.final_h();
    c = tape.final_c();
  }

  // step(): the tape-free inference path, state updated in place (h_out, c_out alias h, c).
  if (!masked) {
    Mat hs = k.h0;
    Mat cs = k.c0;
    Mat gates;
    for (Index t = 0; t < T; ++t) {
      CAPTURE(t);
      k.cell.step(k.X.middleCols(t * B, B), hs, cs, hs, cs, gates);
      CHECK(max_abs_diff(hs, fwd.outputs().middleCols(t * B, B)) <= 1e-12);
      CHECK(max_abs_diff(cs, fwd.c.middleCols((t + 1) * B, B)) <= 1e-12);
    }
    // Separate output buffers give the same state.
    Mat h_out(kHidden, B);
    Mat c_out(kHidden, B);
    k.cell.step(k.X.leftCols(B), k.h0, k.c0, h_out, c_out, gates);
    CHECK(max_abs_diff(h_out, fwd.outputs().leftCols(B)) <= 1e-12);
    CHECK(max_abs_diff(c_out, fwd.c.middleCols(B, B)) <= 1e-12);
  }

  // Backward, last step first: step t's dL/dh_0, dL/dc_0 is step t-1's dh_T, dc_T.
  zero_grad(k.cell);
  Mat dh = k.Rh;
  Mat dc = k.Rc;
  Mat dX_seq(kInput, T * B);
  Mat dx_t;
  for (Index t = T - 1; t >= 0; --t) {
    const Mat x = k.X.middleCols(t * B, B);
    const Mat r = k.R.middleCols(t * B, B);
    auto& tape = tapes[static_cast<std::size_t>(t)];
    k.cell.backward(x, tape, r, dh, dc, &dx_t);
    dX_seq.middleCols(t * B, B) = dx_t;
    dh = tape.initial_dh();
    dc = tape.initial_dc();
  }
  check_same_grads(parameter_grads(k.cell), grads_whole, 1e-12);
  CHECK(max_abs_diff(dX_seq, dX) <= 1e-12);
  CHECK(max_abs_diff(dh, dh0) <= 1e-12);
  CHECK(max_abs_diff(dc, dc0) <= 1e-12);
}

/// Runs each of the B sequences alone (one column) and compares with the B-column batch.
template <typename Cell>
void check_batch_equals_columns(CellCase<Cell>& k) {
  const Index T = k.T;
  const Index B = k.B;
  const bool masked = k.mask.size() != 0;
  Mat dX, dh0, dc0;
  LSTMTape<double> whole;
  k.gradients(dX, dh0, dc0, whole);
  const std::vector<Mat> grads_whole = parameter_grads(k.cell);
  LSTMTape<double> fwd;
  k.forward(fwd);

  zero_grad(k.cell);  // the B single-column backward passes accumulate into it
  for (Index b = 0; b < B; ++b) {
    CAPTURE(b);
    Mat xb(kInput, T);
    Mat rb(kHidden, T);
    Mask<double> mb(1, T);
    for (Index t = 0; t < T; ++t) {
      xb.col(t) = k.X.col(t * B + b);
      rb.col(t) = k.R.col(t * B + b);
      mb(t) = masked ? k.mask(t * B + b) : 1.0;
    }
    LSTMTape<double> tb;
    k.cell.forward(xb, 1, k.h0.col(b), k.c0.col(b), tb, masked ? &mb : nullptr);
    for (Index t = 0; t < T; ++t) CHECK(max_abs_diff(tb.outputs().col(t), fwd.outputs().col(t * B + b)) <= 1e-12);
    CHECK(max_abs_diff(tb.final_h(), fwd.final_h().col(b)) <= 1e-12);
    CHECK(max_abs_diff(tb.final_c(), fwd.final_c().col(b)) <= 1e-12);

    Mat dxb;
    k.cell.backward(xb, tb, rb, k.Rh.col(b), k.Rc.col(b), &dxb);
    for (Index t = 0; t < T; ++t) CHECK(max_abs_diff(dxb.col(t), dX.col(t * B + b)) <= 1e-12);
    CHECK(max_abs_diff(tb.initial_dh(), dh0.col(b)) <= 1e-12);
    CHECK(max_abs_diff(tb.initial_dc(), dc0.col(b)) <= 1e-12);
  }
  check_same_grads(parameter_grads(k.cell), grads_whole, 1e-12);
}

TEST_CASE_TEMPLATE("LSTMCell: T single steps equal one unrolled pass, forward and backward", Cell, SEQ2SEQ_CELL_TYPES) {
  SUBCASE("no mask") {
    CellCase<Cell> k(4, 3, 31);
    check_sequential_equals_unrolled(k);
  }
  SUBCASE("masked") {
    CellCase<Cell> k(5, 4, 32, padded_mask());
    check_sequential_equals_unrolled(k);
  }
}

TEST_CASE_TEMPLATE("LSTMCell: one B-column batch equals B single-column runs", Cell, SEQ2SEQ_CELL_TYPES) {
  SUBCASE("no mask") {
    CellCase<Cell> k(4, 3, 33);
    check_batch_equals_columns(k);
  }
  SUBCASE("masked") {
    CellCase<Cell> k(5, 4, 34, padded_mask());
    check_batch_equals_columns(k);
  }
}

TEST_CASE_TEMPLATE("LSTMCell: parameters are W, U, b [, P] with the documented shapes", Cell, SEQ2SEQ_CELL_TYPES) {
  Cell cell(kHidden, kInput);
  CHECK(cell.hidden_size() == kHidden);
  CHECK(cell.input_size() == kInput);
  std::vector<std::string> names;
  std::vector<std::pair<Index, Index>> shapes;
  cell.visit_parameters(
      [&](const ParamName& name, Param<double>& p) {
        names.push_back(name.str());
        shapes.emplace_back(p.value.rows(), p.value.cols());
        CHECK(p.grad.rows() == p.value.rows());
        CHECK(p.grad.cols() == p.value.cols());
      },
      ParamName("enc"));
  std::vector<std::string> want_names = {"enc.W", "enc.U", "enc.b"};
  std::vector<std::pair<Index, Index>> want_shapes = {{4 * kHidden, kInput}, {4 * kHidden, kHidden}, {4 * kHidden, 1}};
  if (Cell::Peephole) {
    want_names.push_back("enc.P");
    want_shapes.emplace_back(kHidden, 3);
  }
  CHECK(names == want_names);
  CHECK(shapes == want_shapes);
  CHECK(parameter_count(cell) == 4 * kHidden * (kInput + kHidden + 1) + (Cell::Peephole ? 3 * kHidden : 0));
}

TEST_CASE_TEMPLATE("LSTMCell: set_forget_bias writes exactly rows H..2H of b", Cell, SEQ2SEQ_CELL_TYPES) {
  Cell cell(kHidden, kInput);
  Rng rng(61);
  init_uniform(cell, rng);
  const Mat before = cell.b().value;
  const Mat W = cell.W().value;
  cell.set_forget_bias(1.25);
  const Mat& b = cell.b().value;
  REQUIRE(b.rows() == 4 * kHidden);
  for (Index r = 0; r < 4 * kHidden; ++r) {
    CAPTURE(r);
    if (r >= kHidden && r < 2 * kHidden) CHECK(b(r, 0) == 1.25);
    else CHECK(b(r, 0) == before(r, 0));
  }
  CHECK((cell.W().value.array() == W.array()).all());
  CHECK(kGateF == 1);
}

TEST_CASE("LSTMCell: empty h0, c0 mean zeros; a reused tape equals a fresh one") {
  using Cell = LSTMCell<double, Dynamic, Dynamic>;
  CellCase<Cell> masked(5, 4, 51, padded_mask());
  CellCase<Cell> plain(3, 2, 52);

  LSTMTape<double> implicit_zero;
  LSTMTape<double> explicit_zero;
  plain.cell.forward(plain.X, plain.B, implicit_zero);
  plain.cell.forward(plain.X, plain.B, Mat::Zero(kHidden, plain.B), Mat::Zero(kHidden, plain.B), explicit_zero);
  CHECK(max_abs_diff(implicit_zero.h, explicit_zero.h) == 0.0);
  CHECK(max_abs_diff(implicit_zero.c, explicit_zero.c) == 0.0);

  // The shared tape changes shape and loses its mask between the passes.
  LSTMTape<double> shared;
  for (CellCase<Cell>* k : {&masked, &plain, &masked}) {
    Mat dX1, dh1, dc1, dX2, dh2, dc2;
    k->gradients(dX1, dh1, dc1, shared);
    const std::vector<Mat> g1 = parameter_grads(k->cell);
    LSTMTape<double> fresh;
    k->gradients(dX2, dh2, dc2, fresh);
    check_same_grads(parameter_grads(k->cell), g1, 0.0);
    CHECK(max_abs_diff(dX1, dX2) == 0.0);
    CHECK(max_abs_diff(dh1, dh2) == 0.0);
    CHECK(max_abs_diff(dc1, dc2) == 0.0);
  }
}

TEST_CASE_TEMPLATE("LSTMCell: bad shapes throw std::invalid_argument naming the problem", Cell, LSTMCell<double, 3, 2>,
                   LSTMCell<double, Dynamic, Dynamic>) {
  Cell cell(kHidden, kInput);
  LSTMTape<double> tape;
  const Mat X = Mat::Zero(kInput, 6);  // T = 2, B = 3
  const Mat none;

  SUBCASE("forward") {
    CHECK_THROWS_WITH_AS(cell.forward(Mat::Zero(4, 6), 3, tape),
                         doctest::Contains("seq2seq: LSTMCell::forward: input has 4 rows, the cell expects 2"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(cell.forward(Mat::Zero(kInput, 7), 3, tape),
                         doctest::Contains("input columns (7) are not a positive multiple of the batch (3)"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(cell.forward(Mat::Zero(kInput, 0), 3, tape), doctest::Contains("input columns (0)"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(cell.forward(X, 0, tape), doctest::Contains("batch must be positive"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(cell.forward(X, 3, Mat::Zero(kHidden, 2), none, tape),
                         doctest::Contains("h0 must be 3 x 3, got 3 x 2"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(cell.forward(X, 3, none, Mat::Zero(2, 3), tape), doctest::Contains("c0 must be 3 x 3, got 2 x 3"),
                         std::invalid_argument);
    const Mask<double> short_mask = Mask<double>::Ones(1, 5);
    CHECK_THROWS_WITH_AS(cell.forward(X, 3, tape, &short_mask),
                         doctest::Contains("mask has 5 entries, expected T*B = 6"), std::invalid_argument);
  }
  SUBCASE("backward") {
    CHECK_THROWS_WITH_AS(cell.backward(X, tape, none, none, none, nullptr),
                         doctest::Contains("LSTMCell::backward: the tape holds no forward pass"), std::invalid_argument);
    cell.forward(X, 3, tape);
    CHECK_THROWS_WITH_AS(cell.backward(Mat::Zero(kInput, 3), tape, none, none, none, nullptr),
                         doctest::Contains("X is not the forward input's shape"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(cell.backward(X, tape, Mat::Zero(kHidden, 3), none, none, nullptr),
                         doctest::Contains("dH must be H x T*B (3 x 6) or empty"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(cell.backward(X, tape, none, Mat::Zero(kHidden, 2), none, nullptr),
                         doctest::Contains("dh_T must be H x B"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(cell.backward(X, tape, none, none, Mat::Zero(2, 3), nullptr),
                         doctest::Contains("dc_T must be H x B"), std::invalid_argument);
  }
  SUBCASE("step") {
    Mat h = Mat::Zero(kHidden, 2);
    Mat c = Mat::Zero(kHidden, 2);
    Mat wrong = Mat::Zero(kHidden, 3);
    Mat gates;
    CHECK_THROWS_WITH_AS(cell.step(Mat::Zero(4, 2), h, c, h, c, gates),
                         doctest::Contains("LSTMCell::step: input has 4 rows, expected 2"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(cell.step(Mat::Zero(kInput, 3), h, c, wrong, wrong, gates),
                         doctest::Contains("LSTMCell::step: state must be H x B"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(cell.step(Mat::Zero(kInput, 2), h, c, wrong, c, gates),
                         doctest::Contains("LSTMCell::step: output state must be H x B"), std::invalid_argument);
  }
}

TEST_CASE("LSTMCell: sizes that contradict the template arguments are rejected") {
  using Fixed = LSTMCell<double, 3, 2>;
  using Dyn = LSTMCell<double, Dynamic, Dynamic>;
  CHECK_NOTHROW(Fixed());
  CHECK_NOTHROW(Fixed(3, 2));
  CHECK_THROWS_WITH_AS(Fixed(4, 2),
                       doctest::Contains("seq2seq: LSTMCell hidden size is fixed at 3 by the template argument, but 4 was requested"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Fixed(3, 5), doctest::Contains("LSTMCell input size is fixed at 2"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Dyn(0, 2), doctest::Contains("LSTMCell hidden size must be positive, got 0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Dyn(3, -5), doctest::Contains("LSTMCell input size must be positive"), std::invalid_argument);
  // A Dynamic size has no default.
  CHECK_THROWS_AS(Dyn(), std::invalid_argument);
  const Dyn d(5, 7);
  CHECK(d.hidden_size() == 5);
  CHECK(d.input_size() == 7);
  CHECK(d.W().value.rows() == 20);
  CHECK(d.W().value.cols() == 7);
}

TEST_CASE_TEMPLATE("LSTMCell<float>: forward and backward agree with double", FloatCell, LSTMCell<float, 3, 2>,
                   LSTMCell<float, Dynamic, Dynamic, true>) {
  using DoubleCell = LSTMCell<double, FloatCell::Hidden, FloatCell::Input, FloatCell::Peephole>;
  using MatF = Matrix<float>;
  CellCase<DoubleCell> k(4, 3, 71);
  FloatCell fc(kHidden, kInput);
  test::copy_parameters(fc, k.cell);

  const MatF X = k.X.template cast<float>();
  const MatF h0 = k.h0.template cast<float>();
  const MatF c0 = k.c0.template cast<float>();
  LSTMTape<float> tf;
  fc.forward(X, k.B, h0, c0, tf);
  LSTMTape<double> td;
  k.forward(td);
  CHECK(max_abs_diff(tf.outputs(), td.outputs()) <= 1e-5);
  CHECK(max_abs_diff(tf.final_c(), td.final_c()) <= 1e-5);

  Mat dX, dh0, dc0;
  LSTMTape<double> tape;
  k.gradients(dX, dh0, dc0, tape);
  zero_grad(fc);
  MatF dXf;
  fc.backward(X, tf, k.R.template cast<float>(), k.Rh.template cast<float>(), k.Rc.template cast<float>(), &dXf);
  CHECK(max_abs_diff(dXf, dX) <= 1e-4);
  CHECK(max_abs_diff(tf.initial_dh(), dh0) <= 1e-4);
  CHECK(max_abs_diff(tf.initial_dc(), dc0) <= 1e-4);
  std::vector<Mat> gf;
  fc.visit_parameters([&](const ParamName&, const Param<float>& p) { gf.push_back(p.grad.cast<double>()); });
  check_same_grads(gf, parameter_grads(k.cell), 1e-4);
}

}  // namespace

// seq2seq: one LSTM layer over a batch of sequences, with hand-written backpropagation through time.
#ifndef SEQ2SEQ_LSTM_CELL_HPP
#define SEQ2SEQ_LSTM_CELL_HPP

#include <optional>

#include "config.hpp"
#include "detail/gemm.hpp"
#include "param.hpp"

namespace seq2seq {

/// Gate blocks inside the packed 4H rows, in PyTorch/cuDNN order, so weights move without shuffling.
enum Gate : int { kGateI = 0, kGateF = 1, kGateG = 2, kGateO = 3 };

/// Padding mask of a sequence batch: one entry per column of the T*B layout (column t*B + b),
/// 1 for a real step, 0 for padding. A padded step leaves (h, c) unchanged and receives no gradient.
template <typename Scalar>
using Mask = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

/// What forward stores for backward (the BPTT cache), owned by the caller so `forward` is const and
/// one cell serves concurrent callers. Shapes for hidden size H, T steps, batch B:
///   gates  4H x T*B      post-activation [i; f; g; o] of each step; backward overwrites it with dGates
///   h, c   H  x (T+1)*B  the initial state in the first B columns, then the state after each step
///   dh, dc H  x B        running state gradients in backward; afterwards dL/dh_0 and dL/dc_0
///   mask   1  x T*B      a copy of the padding mask, empty when every step is real
/// Buffers keep their allocation while the shapes stay the same, so a steady state allocates nothing.
template <typename Scalar>
struct LSTMTape {
  Index steps = 0;
  Index batch = 0;
  Matrix<Scalar> gates;
  Matrix<Scalar> h;
  Matrix<Scalar> c;
  Matrix<Scalar> dh, dc;
  Matrix<Scalar> scratch;           // H x B: tanh(c_t), then dGates of i, in backward
  Matrix<Scalar> dh_keep, dc_keep;  // H x B: gradients carried over padded steps
  Mask<Scalar> mask;

  /// h_1 .. h_T, H x T*B (the layer's outputs).
  auto outputs() const { return h.rightCols(steps * batch); }
  /// h_T and c_T, H x B (with padding: each column's state after its last real step).
  auto final_h() const { return h.rightCols(batch); }
  auto final_c() const { return c.rightCols(batch); }
  /// dL/dh_0 and dL/dc_0 after backward.
  const Matrix<Scalar>& initial_dh() const { return dh; }
  const Matrix<Scalar>& initial_dc() const { return dc; }
  /// Scalars held (for memory accounting).
  Index cached_scalars() const { return gates.size() + h.size() + c.size() + mask.size(); }
};

/// Long short-term memory layer (Hochreiter & Schmidhuber 1997; with peepholes, Graves 2013 as
/// used by Sutskever et al. 2014). For input x_t (I), previous state h_{t-1}, c_{t-1} (H):
///   (1) i_t = sigma(W_i x_t + U_i h_{t-1} + b_i [+ p_i * c_{t-1}])
///   (2) f_t = sigma(W_f x_t + U_f h_{t-1} + b_f [+ p_f * c_{t-1}])
///   (3) g_t = tanh (W_g x_t + U_g h_{t-1} + b_g)
///   (4) c_t = f_t * c_{t-1} + i_t * g_t
///   (5) o_t = sigma(W_o x_t + U_o h_{t-1} + b_o [+ p_o * c_t])
///   (6) h_t = o_t * tanh(c_t)
/// (* is elementwise; bracketed terms only with Peephole = true.)
/// Parameters: W (4H x I), U (4H x H), b (4H x 1), gate rows packed i, f, g, o (PyTorch order;
/// PyTorch's bias_ih + bias_hh sum to b); with peepholes P (H x 3), columns p_i, p_f, p_o.
/// Batches are columns: X is I x T*B with column t*B + b holding step t of sequence b.
/// The input projection W X of all steps is one GEMM before the recurrence; only U h_{t-1} stays
/// inside it. Backward forms dW, dU and db as whole-sequence GEMMs.
/// Sizes: Hidden and Input are compile-time or Dynamic; storage is always on the heap
/// (Eigen refuses fixed objects over 128 KiB), the compile-time values serve checks.
/// Initialisation: init_uniform (the paper: U(-0.08, 0.08)), then optionally set_forget_bias.
template <typename Scalar_, int Hidden_, int Input_ = Hidden_, bool Peephole_ = false>
class LSTMCell {
 public:
  using Scalar = Scalar_;
  static constexpr int Hidden = Hidden_;
  static constexpr int Input = Input_;
  static constexpr bool Peephole = Peephole_;
  using Mat = Matrix<Scalar>;
  using Tape = LSTMTape<Scalar>;
  using MaskType = Mask<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  static_assert(std::is_floating_point<Scalar>::value, "LSTMCell: Scalar must be float or double");
  static_assert(Hidden_ == Dynamic || Hidden_ > 0, "LSTMCell: Hidden must be positive or Dynamic");
  static_assert(Input_ == Dynamic || Input_ > 0, "LSTMCell: Input must be positive or Dynamic");

  /// Sizes default to the template arguments; a Dynamic argument needs its run-time size.
  explicit LSTMCell(Index hidden = Hidden_, Index input = Input_)
      : hidden_(detail::resolve_size(Hidden_, hidden, "LSTMCell hidden size")),
        input_(detail::resolve_size(Input_, input, "LSTMCell input size")) {
    W_.resize(4 * hidden_, input_);
    U_.resize(4 * hidden_, hidden_);
    b_.resize(4 * hidden_, 1);
    if constexpr (Peephole) P_.resize(hidden_, 3);
  }

  Index hidden_size() const { return hidden_; }
  Index input_size() const { return input_; }

  Param<Scalar>& W() { return W_; }
  Param<Scalar>& U() { return U_; }
  Param<Scalar>& b() { return b_; }
  Param<Scalar>& P() {
    static_assert(Peephole, "LSTMCell::P(): this cell has no peepholes (Peephole = false)");
    return P_;
  }
  const Param<Scalar>& W() const { return W_; }
  const Param<Scalar>& U() const { return U_; }
  const Param<Scalar>& b() const { return b_; }
  const Param<Scalar>& P() const {
    static_assert(Peephole, "LSTMCell::P(): this cell has no peepholes (Peephole = false)");
    return P_;
  }

  /// Sets the forget-gate bias block b_f to `value` (1.0 is a common choice; the paper keeps U(-0.08, 0.08)).
  void set_forget_bias(Scalar value) { b_.value.middleRows(kGateF * hidden_, hidden_).setConstant(value); }

  /// Calls f(name, Param&) for W, U, b [, P] in that order, names prefixed by `prefix`.
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    visit_impl(*this, f, prefix);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    visit_impl(*this, f, prefix);
  }

  /// Runs T = X.cols() / batch steps from (h0, c0) (empty = zeros), recording the tape.
  /// X: I x T*B. h0, c0: H x B or empty. mask: nullptr or 1 x T*B (see Mask).
  void forward(const ConstRef& X, Index batch, const ConstRef& h0, const ConstRef& c0, Tape& tape,
               const MaskType* mask = nullptr) const;
  void forward(const ConstRef& X, Index batch, Tape& tape, const MaskType* mask = nullptr) const {
    forward(X, batch, Mat(), Mat(), tape, mask);
  }

  /// Backward through the recorded steps (non-const: it accumulates parameter gradients). X must be
  /// the forward input.
  /// Reads: dH (H x T*B, gradient on every output h_t; empty = none), dh_T, dc_T (H x B, gradient
  /// on the final state; empty = none). Writes: *dX (I x T*B) when dX is not null, tape.dh / tape.dc
  /// (dL/dh_0, dL/dc_0). Accumulates (+=) into W, U, b [, P] gradients. Consumes the tape: its
  /// gates are overwritten with dGates, so call backward once per forward. *dX may be the matrix
  /// dH views (dH is read in the time loop, dX written after it), as StackedLSTM does.
  void backward(const ConstRef& X, Tape& tape, const ConstRef& dH, const ConstRef& dh_T, const ConstRef& dc_T, Mat* dX);

  /// One inference step without a tape: (h, c) -> (h_out, c_out) for input x (I x B). h_out and c_out
  /// may alias h and c. `gates` is caller-owned scratch (4H x B), kept between calls.
  void step(const ConstRef& x, const ConstRef& h, const ConstRef& c, Eigen::Ref<Mat> h_out, Eigen::Ref<Mat> c_out,
            Mat& gates) const;

  /// Gate non-linearities (1)-(6) on pre-activations G (4H x B, W x + U h + b, overwritten with
  /// post-activations), from c_prev to c_next and h_next (all H x B; c_next may alias c_prev).
  /// Public for decoding's reduced-precision steps (inference.hpp), which form G themselves.
  template <typename G, typename CP, typename CN, typename HN>
  void activate(G&& gates, const CP& c_prev, CN&& c_next, HN&& h_next) const;

 private:
  template <typename Self, typename F>
  static void visit_impl(Self& self, F& f, const ParamName& prefix) {
    f(prefix.child("W"), self.W_);
    f(prefix.child("U"), self.U_);
    f(prefix.child("b"), self.b_);
    if constexpr (Peephole) f(prefix.child("P"), self.P_);
  }

  Index hidden_;
  Index input_;
  Param<Scalar> W_, U_, b_, P_;
};

// ---------------------------------------------------------------------------------------------

template <typename Scalar, int Hidden, int Input, bool Peephole>
template <typename G, typename CP, typename CN, typename HN>
void LSTMCell<Scalar, Hidden, Input, Peephole>::activate(G&& gates, const CP& c_prev, CN&& c_next, HN&& h_next) const {
  const Index H = hidden_;
  auto gi = gates.middleRows(kGateI * H, H).array();
  auto gf = gates.middleRows(kGateF * H, H).array();
  auto gg = gates.middleRows(kGateG * H, H).array();
  auto go = gates.middleRows(kGateO * H, H).array();
  if constexpr (Peephole) {
    gi += c_prev.array().colwise() * P_.value.col(0).array();
    gf += c_prev.array().colwise() * P_.value.col(1).array();
  }
  gi = gi.logistic();                              // (1)
  gf = gf.logistic();                              // (2)
  gg = gg.tanh();                                  // (3)
  c_next.array() = gf * c_prev.array() + gi * gg;  // (4)
  if constexpr (Peephole) go += c_next.array().colwise() * P_.value.col(2).array();
  go = go.logistic();                           // (5)
  h_next.array() = go * c_next.array().tanh();  // (6)
}

template <typename Scalar, int Hidden, int Input, bool Peephole>
void LSTMCell<Scalar, Hidden, Input, Peephole>::forward(const ConstRef& X, Index batch, const ConstRef& h0,
                                                        const ConstRef& c0, Tape& tape, const MaskType* mask) const {
  const Index H = hidden_;
  const Index B = batch;
  detail::require(B > 0, "LSTMCell::forward: batch must be positive");
  detail::require(X.rows() == input_, [&] {
    return std::string("LSTMCell::forward: input has " + std::to_string(X.rows()) + " rows, the cell expects " +
                       std::to_string(input_));
  });
  detail::require(X.cols() > 0 && X.cols() % B == 0, [&] {
    return std::string("LSTMCell::forward: input columns (" + std::to_string(X.cols()) +
                       ") are not a positive multiple of the batch (" + std::to_string(B) + ")");
  });
  const Index T = X.cols() / B;
  const auto check_state = [&](const ConstRef& s, const char* what) {
    detail::require(s.size() == 0 || (s.rows() == H && s.cols() == B), [&] {
      return std::string(std::string("LSTMCell::forward: ") + what + " must be " + std::to_string(H) + " x " +
                         std::to_string(B) + ", got " + std::to_string(s.rows()) + " x " + std::to_string(s.cols()));
    });
  };
  check_state(h0, "h0");
  check_state(c0, "c0");
  if (mask != nullptr) {
    detail::require(mask->size() == T * B, [&] {
      return std::string("LSTMCell::forward: mask has " + std::to_string(mask->size()) +
                         " entries, expected T*B = " + std::to_string(T * B));
    });
    detail::require((mask->array() == Scalar(0) || mask->array() == Scalar(1)).all(),
                    "LSTMCell::forward: mask entries must be 0 (padding) or 1 (real step)");
  }
  if (!X.allFinite()) throw NonFiniteInputError("seq2seq: LSTMCell::forward: the input holds NaN or Inf");

  tape.steps = T;
  tape.batch = B;
  detail::ensure_shape(tape.gates, 4 * H, T * B);
  detail::ensure_shape(tape.h, H, (T + 1) * B);
  detail::ensure_shape(tape.c, H, (T + 1) * B);
  if (mask != nullptr) {
    detail::ensure_shape(tape.mask, 1, T * B);
    tape.mask = *mask;
  } else {
    tape.mask.resize(1, 0);
  }
  if (h0.size() == 0)
    tape.h.leftCols(B).setZero();
  else
    tape.h.leftCols(B) = h0;
  if (c0.size() == 0)
    tape.c.leftCols(B).setZero();
  else
    tape.c.leftCols(B) = c0;

  // Input projection of every step in one GEMM: gates = W X + b.
  detail::gemm(detail::Op::N, W_.value, detail::Op::N, X, tape.gates, false);
  tape.gates.colwise() += b_.value.col(0);

  // The recurrence: U is packed for the GEMM kernel once, not at every step.
  const detail::RecurrentProduct<Scalar> recurrence(detail::Op::N, U_.value, B);
  for (Index t = 0; t < T; ++t) {
    auto G = tape.gates.middleCols(t * B, B);
    const auto h_prev = tape.h.middleCols(t * B, B);
    const auto c_prev = tape.c.middleCols(t * B, B);
    auto h_next = tape.h.middleCols((t + 1) * B, B);
    auto c_next = tape.c.middleCols((t + 1) * B, B);
    recurrence.add(h_prev, G);
    activate(G, c_prev, c_next, h_next);
    if (mask != nullptr) {
      for (Index j = 0; j < B; ++j) {
        if ((*mask)(t * B + j) == Scalar(0)) {
          h_next.col(j) = h_prev.col(j);
          c_next.col(j) = c_prev.col(j);
        }
      }
    }
  }
}

template <typename Scalar, int Hidden, int Input, bool Peephole>
void LSTMCell<Scalar, Hidden, Input, Peephole>::backward(const ConstRef& X, Tape& tape, const ConstRef& dH,
                                                         const ConstRef& dh_T, const ConstRef& dc_T, Mat* dX) {
  const Index H = hidden_;
  const Index T = tape.steps;
  const Index B = tape.batch;
  detail::require(T > 0 && tape.gates.cols() == T * B, "LSTMCell::backward: the tape holds no forward pass");
  detail::require(X.rows() == input_ && X.cols() == T * B, "LSTMCell::backward: X is not the forward input's shape");
  detail::require(dH.size() == 0 || (dH.rows() == H && dH.cols() == T * B), [&] {
    return std::string("LSTMCell::backward: dH must be H x T*B (" + std::to_string(H) + " x " + std::to_string(T * B) +
                       ") or empty");
  });
  detail::require(dh_T.size() == 0 || (dh_T.rows() == H && dh_T.cols() == B),
                  "LSTMCell::backward: dh_T must be H x B or empty");
  detail::require(dc_T.size() == 0 || (dc_T.rows() == H && dc_T.cols() == B),
                  "LSTMCell::backward: dc_T must be H x B or empty");
  const bool masked = tape.mask.size() > 0;

  detail::ensure_shape(tape.dh, H, B);
  detail::ensure_shape(tape.dc, H, B);
  detail::ensure_shape(tape.scratch, H, B);
  if (dh_T.size() == 0)
    tape.dh.setZero();
  else
    tape.dh = dh_T;
  if (dc_T.size() == 0)
    tape.dc.setZero();
  else
    tape.dc = dc_T;
  if (masked) {
    detail::ensure_shape(tape.dh_keep, H, B);
    detail::ensure_shape(tape.dc_keep, H, B);
  }

  auto dh = tape.dh.array();
  auto dc = tape.dc.array();
  const detail::RecurrentProduct<Scalar> recurrence(detail::Op::T, U_.value, B);  // U^T packed once
  for (Index t = T - 1; t >= 0; --t) {
    if (dH.size() != 0) tape.dh += dH.middleCols(t * B, B);
    // The gate rows of step t hold the post-activations i, f, g, o on entry and dGates on exit:
    // each dG* view is written only after the last read of the activation it replaces.
    auto G = tape.gates.middleCols(t * B, B);
    const auto c_prev = tape.c.middleCols(t * B, B).array();
    const auto c_next = tape.c.middleCols((t + 1) * B, B).array();
    const auto i = G.middleRows(kGateI * H, H).array();
    const auto f = G.middleRows(kGateF * H, H).array();
    const auto g = G.middleRows(kGateG * H, H).array();
    const auto o = G.middleRows(kGateO * H, H).array();
    auto dGi = G.middleRows(kGateI * H, H).array();
    auto dGf = G.middleRows(kGateF * H, H).array();
    auto dGg = G.middleRows(kGateG * H, H).array();
    auto dGo = G.middleRows(kGateO * H, H).array();
    auto tmp = tape.scratch.array();

    if (masked) {
      tape.dh_keep = tape.dh;
      tape.dc_keep = tape.dc;
    }
    tmp = c_next.tanh();
    dc += dh * o * (Scalar(1) - tmp.square());                              // (6) through tanh(c_t)
    dGo = dh * tmp * o * (Scalar(1) - o);                                   // (6), (5)
    if constexpr (Peephole) dc += dGo.colwise() * P_.value.col(2).array();  // (5) peephole p_o * c_t
    tmp = dc * g * i * (Scalar(1) - i);                                     // (4), (1): dGates_i, kept aside
    dGg = dc * i * (Scalar(1) - g.square());                                // (4), (3)
    dGi = tmp;
    dc = dc * f;                          // (4): dL/dc_{t-1}
    dGf = dc * c_prev * (Scalar(1) - f);  // (4), (2)
    if constexpr (Peephole) {
      dc += dGi.colwise() * P_.value.col(0).array() + dGf.colwise() * P_.value.col(1).array();  // (1), (2) peepholes
    }
    if (masked) {
      for (Index j = 0; j < B; ++j) {
        if (tape.mask(t * B + j) == Scalar(0)) {
          G.col(j).setZero();
          tape.dc.col(j) = tape.dc_keep.col(j);
        }
      }
    }
    if constexpr (Peephole) {
      P_.grad.col(0) += (dGi * c_prev).matrix().rowwise().sum();
      P_.grad.col(1) += (dGf * c_prev).matrix().rowwise().sum();
      P_.grad.col(2) += (dGo * c_next).matrix().rowwise().sum();
    }
    tape.dh.setZero();
    recurrence.add(G, tape.dh);  // (1)-(3), (5): dL/dh_{t-1}
    if (masked) {
      for (Index j = 0; j < B; ++j)
        if (tape.mask(t * B + j) == Scalar(0)) tape.dh.col(j) = tape.dh_keep.col(j);
    }
  }

  // Parameter gradients over all steps at once.
  const auto& dG = tape.gates;
  detail::gemm(detail::Op::N, dG, detail::Op::T, X, W_.grad, true);
  detail::gemm(detail::Op::N, dG, detail::Op::T, tape.h.leftCols(T * B), U_.grad, true);
  b_.grad.col(0) += dG.rowwise().sum();
  if (dX != nullptr) {
    detail::ensure_shape(*dX, input_, T * B);
    detail::gemm(detail::Op::T, W_.value, detail::Op::N, dG, *dX, false);
  }
}

template <typename Scalar, int Hidden, int Input, bool Peephole>
void LSTMCell<Scalar, Hidden, Input, Peephole>::step(const ConstRef& x, const ConstRef& h, const ConstRef& c,
                                                     Eigen::Ref<Mat> h_out, Eigen::Ref<Mat> c_out, Mat& gates) const {
  const Index H = hidden_;
  const Index B = x.cols();
  detail::require(x.rows() == input_, [&] {
    return std::string("LSTMCell::step: input has " + std::to_string(x.rows()) + " rows, expected " +
                       std::to_string(input_));
  });
  detail::require(h.rows() == H && h.cols() == B && c.rows() == H && c.cols() == B,
                  "LSTMCell::step: state must be H x B");
  detail::require(h_out.rows() == H && h_out.cols() == B && c_out.rows() == H && c_out.cols() == B,
                  "LSTMCell::step: output state must be H x B");
  detail::ensure_shape(gates, 4 * H, B);
  detail::gemm(detail::Op::N, W_.value, detail::Op::N, x, gates, false);
  detail::gemm(detail::Op::N, U_.value, detail::Op::N, h, gates, true);
  gates.colwise() += b_.value.col(0);
  activate(gates, c, c_out, h_out);
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_LSTM_CELL_HPP

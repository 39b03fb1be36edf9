// seq2seq: a deep LSTM, layers stacked so that layer l reads layer l-1's outputs; BPTT through both.
#ifndef SEQ2SEQ_STACKED_LSTM_HPP
#define SEQ2SEQ_STACKED_LSTM_HPP

#include <type_traits>
#include <vector>

#include "dropout.hpp"
#include "lstm_cell.hpp"

namespace seq2seq {

/// The (h, c) of every layer of a stack, each H x B: the paper's sentence vector v when taken
/// from the encoder's last step (layers x (H + H) numbers per sentence).
template <typename Scalar>
struct LSTMState {
  std::vector<Matrix<Scalar>> h;
  std::vector<Matrix<Scalar>> c;

  Index layers() const { return static_cast<Index>(h.size()); }
  Index batch() const { return h.empty() ? 0 : h.front().cols(); }
  /// Resizes to `layers` zero states of H x B (keeps allocations of equal shape).
  void resize(Index layers, Index hidden, Index batch) {
    h.resize(static_cast<std::size_t>(layers));
    c.resize(static_cast<std::size_t>(layers));
    for (std::size_t l = 0; l < h.size(); ++l) {
      detail::ensure_shape(h[l], hidden, batch);
      detail::ensure_shape(c[l], hidden, batch);
    }
  }
  void set_zero() {
    for (auto& m : h) m.setZero();
    for (auto& m : c) m.setZero();
  }
};

/// Per-batch cache of a StackedLSTM: one LSTMTape per layer plus the buffers that carry the
/// gradient between layers in backward and, under dropout, the masks and the dropped inputs.
template <typename Scalar>
struct StackedTape {
  std::vector<LSTMTape<Scalar>> layer;
  Matrix<Scalar> d_between;             // H x T*B: dL/d(outputs of layer l-1), overwritten layer by layer
  bool dropout = false;                 // the last forward dropped the inputs of layers >= 1 (keep, dropped hold them)
  std::vector<Matrix<Scalar>> keep;     // entry l-1, H x T*B: the mask m_l of layer l's input (D1)
  std::vector<Matrix<Scalar>> dropped;  // entry l-1, H x T*B: layer l's input m_l .* h^{l-1} (D1)

  /// Top layer outputs h_1..h_T, H x T*B.
  auto outputs() const { return layer.back().outputs(); }
  /// A buffer for the caller's gradient on the top layer's outputs (H x T*B), to give backward as
  /// dH_top: backward then overwrites it with the gradients between layers, so a training step
  /// needs no second buffer of that size (the decoder's softmax writes its dH here).
  Matrix<Scalar>& top_gradient() { return d_between; }
  Index cached_scalars() const {
    Index n = 0;
    for (const auto& t : layer) n += t.cached_scalars();
    if (dropout)
      for (std::size_t k = 0; k < keep.size(); ++k) n += keep[k].size() + dropped[k].size();
    return n;
  }
};

/// `Layers` LSTM layers: layer 0 is `Cell` (input size Cell::Input), the others read the layer
/// below (input size Hidden). Layers is a compile-time depth (the paper: 4) or Dynamic for
/// a depth chosen at run time. Parameter names: layer0.W, layer0.U, layer0.b, layer1.W, ...
/// For the input X (Input x T*B) and layer outputs h^l (H x T*B):
///   (S0) h^0 = LSTM_0(X)
///   (S1) h^l = LSTM_l(h^{l-1})                      l = 1 .. L-1 (without dropout)
///   (D1) h^l = LSTM_l(m_l .* h^{l-1})               l = 1 .. L-1 (training with dropout)
/// Dropout (Zaremba et al. 2014; dropout.hpp) acts between layers only, on the non-recurrent
/// connection: m_l (H x T*B, entries 0 or 1/(1-p)) is the DropoutStream's mask of layer l; each
/// layer's own recurrence h_{t-1} -> gates and its c are never dropped, and the stack's input X is
/// the caller's to drop (the Encoder and Decoder drop their embeddings). Backward: dh^{l-1} = m_l
/// .* d(input of layer l). A padded step ignores its input, so its mask entries change nothing.
template <typename Cell, int Layers_>
class StackedLSTM {
 public:
  using Scalar = typename Cell::Scalar;
  static constexpr int Hidden = Cell::Hidden;
  static constexpr int Input = Cell::Input;
  static constexpr int Layers = Layers_;
  static constexpr bool Peephole = Cell::Peephole;
  using First = Cell;
  using Upper = LSTMCell<Scalar, Cell::Hidden, Cell::Hidden, Cell::Peephole>;
  using Mat = Matrix<Scalar>;
  using State = LSTMState<Scalar>;
  using Tape = StackedTape<Scalar>;
  using MaskType = Mask<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  static_assert(Layers_ == Dynamic || Layers_ >= 1, "StackedLSTM: Layers must be at least 1 or Dynamic");

  explicit StackedLSTM(Index layers = Layers_, Index hidden = Hidden, Index input = Input) : first_(hidden, input) {
    const Index L = detail::resolve_size(Layers_, layers, "StackedLSTM depth");
    upper_.reserve(static_cast<std::size_t>(L - 1));
    for (Index l = 1; l < L; ++l) upper_.emplace_back(first_.hidden_size(), first_.hidden_size());
  }

  Index layers() const { return 1 + static_cast<Index>(upper_.size()); }
  Index hidden_size() const { return first_.hidden_size(); }
  Index input_size() const { return first_.input_size(); }

  First& first() { return first_; }
  const First& first() const { return first_; }
  /// Layer l >= 1.
  Upper& upper(Index l) { return upper_.at(static_cast<std::size_t>(l - 1)); }
  const Upper& upper(Index l) const { return upper_.at(static_cast<std::size_t>(l - 1)); }

  /// Forget-gate bias of every layer.
  void set_forget_bias(Scalar v) {
    first_.set_forget_bias(v);
    for (auto& c : upper_) c.set_forget_bias(v);
  }

  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    visit_impl(*this, f, prefix);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    visit_impl(*this, f, prefix);
  }

  /// Runs every layer over X (Input x T*B) from `init` (nullptr = zeros), recording `tape`. With an
  /// active `dropout` (training), layers l >= 1 read m_l .* h^{l-1} (D1), the masks kept in the tape.
  void forward(const ConstRef& X, Index batch, const State* init, Tape& tape, const MaskType* mask = nullptr,
               const DropoutStream* dropout = nullptr) const {
    const Index L = layers();
    if (init != nullptr)
      detail::require(init->layers() == L, [&] {
        return std::string("StackedLSTM::forward: initial state has " + std::to_string(init->layers()) +
                           " layers, the stack has " + std::to_string(L));
      });
    tape.layer.resize(static_cast<std::size_t>(L));
    tape.dropout = dropout != nullptr && dropout->active() && L > 1;
    if (tape.dropout) {
      tape.keep.resize(static_cast<std::size_t>(L - 1));
      tape.dropped.resize(static_cast<std::size_t>(L - 1));
    }
    const Mat none;
    for (Index l = 0; l < L; ++l) {
      const auto ul = static_cast<std::size_t>(l);
      const ConstRef h0 = init ? ConstRef(init->h[ul]) : ConstRef(none);
      const ConstRef c0 = init ? ConstRef(init->c[ul]) : ConstRef(none);
      auto& tl = tape.layer[ul];
      if (l == 0) {
        first_.forward(X, batch, h0, c0, tl, mask);  // (S0)
      } else if (!tape.dropout) {
        upper(l).forward(tape.layer[ul - 1].outputs(), batch, h0, c0, tl, mask);  // (S1)
      } else {
        const auto& below = tape.layer[ul - 1];
        Mat& m = tape.keep[ul - 1];
        Mat& x = tape.dropped[ul - 1];
        dropout->fill(l, hidden_size(), below.steps, batch, m);
        detail::ensure_shape(x, hidden_size(), below.steps * batch);
        x.array() = m.array() * below.outputs().array();  // (D1) m_l .* h^{l-1}
        upper(l).forward(x, batch, h0, c0, tl, mask);     // (D1)
      }
    }
  }

  /// The state after the last step of every layer (with padding: after each column's last real step).
  void final_state(const Tape& tape, State& out) const {
    const Index L = layers();
    detail::require(static_cast<Index>(tape.layer.size()) == L,
                    "StackedLSTM::final_state: tape does not match the stack");
    out.resize(L, hidden_size(), tape.layer.front().batch);
    for (std::size_t l = 0; l < tape.layer.size(); ++l) {
      out.h[l] = tape.layer[l].final_h();
      out.c[l] = tape.layer[l].final_c();
    }
  }

  /// Backward through layers and time. Reads dH_top (H x T*B gradient on the top layer's outputs,
  /// empty = none; it may be tape.top_gradient(), which backward then overwrites) and d_final
  /// (gradient on every layer's final (h, c); nullptr = none). Writes *dX (Input x T*B) and
  /// *d_init (gradient on the initial state) when not null. Accumulates into every layer's
  /// parameter gradients. Consumes the tape. Under dropout (tape.dropout) the
  /// gradient reaching layer l-1 goes through the same masks as forward did.
  void backward(const ConstRef& X, Tape& tape, const ConstRef& dH_top, const State* d_final, Mat* dX, State* d_init) {
    const Index L = layers();
    detail::require(static_cast<Index>(tape.layer.size()) == L, "StackedLSTM::backward: tape does not match the stack");
    if (d_final != nullptr)
      detail::require(d_final->layers() == L, "StackedLSTM::backward: d_final has the wrong depth");
    const Mat none;
    const Index B = tape.layer.front().batch;
    if (d_init != nullptr) d_init->resize(L, hidden_size(), B);
    for (Index l = L - 1; l >= 0; --l) {
      const auto ul = static_cast<std::size_t>(l);
      // One buffer for every layer: a cell's backward reads its dH only in the time loop and
      // writes dX after it, so layer l's gradient on its input may overwrite its own dH.
      const ConstRef dH = (l == L - 1) ? dH_top : ConstRef(tape.d_between);
      const ConstRef dh_T = d_final ? ConstRef(d_final->h[ul]) : ConstRef(none);
      const ConstRef dc_T = d_final ? ConstRef(d_final->c[ul]) : ConstRef(none);
      auto& tl = tape.layer[ul];
      if (l == 0) {
        first_.backward(X, tl, dH, dh_T, dc_T, dX);  // (S0)
      } else if (!tape.dropout) {
        upper(l).backward(tape.layer[ul - 1].outputs(), tl, dH, dh_T, dc_T, &tape.d_between);  // (S1)
      } else {
        Mat& d = tape.d_between;
        upper(l).backward(tape.dropped[ul - 1], tl, dH, dh_T, dc_T, &d);  // (D1): d(m_l .* h^{l-1})
        d.array() *= tape.keep[ul - 1].array();                           // (D1): dh^{l-1} = m_l .* that
      }
      if (d_init != nullptr) {
        d_init->h[ul] = tl.dh;
        d_init->c[ul] = tl.dc;
      }
    }
  }

  /// One inference step of every layer: x (Input x B), state updated in place. `gates` and `input`
  /// are caller-owned scratch.
  void step(const ConstRef& x, State& state, Mat& gates) const {
    const Index L = layers();
    detail::require(state.layers() == L, "StackedLSTM::step: state has the wrong depth");
    first_.step(x, state.h[0], state.c[0], state.h[0], state.c[0], gates);
    for (Index l = 1; l < L; ++l) {
      const auto ul = static_cast<std::size_t>(l);
      upper(l).step(state.h[ul - 1], state.h[ul], state.c[ul], state.h[ul], state.c[ul], gates);
    }
  }

 private:
  template <typename Self, typename F>
  static void visit_impl(Self& self, F& f, const ParamName& prefix) {
    self.first_.visit_parameters(f, prefix.child("layer", 0));
    for (std::size_t l = 0; l < self.upper_.size(); ++l)
      self.upper_[l].visit_parameters(f, prefix.child("layer", static_cast<Index>(l + 1)));
  }

  First first_;
  std::vector<Upper> upper_;
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_STACKED_LSTM_HPP

// seq2seq: the decoder, an LSTM language model started from the sentence vector v.
#ifndef SEQ2SEQ_DECODER_HPP
#define SEQ2SEQ_DECODER_HPP

#include <string>
#include <vector>

#include "data/types.hpp"
#include "embedding.hpp"
#include "softmax.hpp"
#include "stacked_lstm.hpp"

namespace seq2seq {

/// Per-batch cache of a Decoder (caller-owned, reused between batches).
template <typename Stack>
struct DecoderTape {
  using Scalar = typename Stack::Scalar;
  Index steps = 0, batch = 0;
  std::vector<TokenId> inputs;   // T*B: <s>, y_1, ..., y_n, padding
  std::vector<TokenId> targets;  // T*B: y_1, ..., y_n, <EOS>, padding
  Mask<Scalar> mask;             // 1 x T*B
  Matrix<Scalar> X, dX;          // Embed x T*B: the stack's input E[:, id] (under dropout m_0 .* E[:, id])
  bool dropout = false;          // the last forward applied dropout (the keep_ masks and the stack tape hold it)
  Matrix<Scalar> keep_X;         // Embed x T*B: the mask m_0 of the embedding outputs (E1)
  Matrix<Scalar> keep_H;         // Hidden x T*B: the mask m_L of the top outputs (E2)
  Matrix<Scalar> dropped_H;      // Hidden x T*B: the softmax's input m_L .* h^{L-1} (E2)
  typename Stack::Tape stack;
  SoftmaxWorkspace<Scalar> softmax;
  std::vector<double> column_nll;  // filled by score()
};

/// Scratch for one-step decoding (caller-owned).
template <typename Scalar>
struct DecoderStepWorkspace {
  Matrix<Scalar> X, gates;
};

/// The second LSTM of the paper: p(y | v) = prod_t p(y_t | v, y_1..y_{t-1}). Every layer starts
/// from the encoder's final state of the same layer; the inputs are <s>, y_1, ..., y_n and the
/// targets y_1, ..., y_n, <EOS> (teacher forcing; n = 0 is allowed, so the empty translation
/// <s> -> <EOS> that beam search can return is scored too); the top layer feeds a softmax over the target
/// vocabulary (SoftmaxNLL). Parameter names (below `prefix`): embedding.E, layer0.W, ...,
/// softmax.W, softmax.b.
/// Training with dropout (DropoutOptions, site DropoutSite::decoder) drops every non-recurrent
/// connection (Zaremba et al. 2014):
///   (E1) X = m_0 .* E[:, inputs]                 m_0: Embed x T*B, the mask of layer 0
///   (D1) between the stack's layers              StackedLSTM, masks of layers 1 .. L-1
///   (E2) softmax input = m_L .* h^{L-1}          m_L: Hidden x T*B, the mask of "layer" L
/// but never v, which enters as every layer's initial (recurrent) state. Backward multiplies the
/// gradient through each by the same mask. The const paths (loss, step) never drop.
template <typename Stack>
class Decoder {
 public:
  using Scalar = typename Stack::Scalar;
  using StackType = Stack;
  static constexpr int Embed = Stack::Input;
  static constexpr int Hidden = Stack::Hidden;
  static constexpr int Layers = Stack::Layers;
  using State = LSTMState<Scalar>;
  using Tape = DecoderTape<Stack>;
  using StepWorkspace = DecoderStepWorkspace<Scalar>;
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  Decoder(Index vocab, Index embed = Embed, Index hidden = Hidden, Index layers = Layers)
      : embedding_(vocab, embed), stack_(layers, hidden, embed), softmax_(vocab, stack_.hidden_size()) {}

  Index vocab_size() const { return embedding_.vocab_size(); }
  Index embed_size() const { return embedding_.dim(); }
  Index hidden_size() const { return stack_.hidden_size(); }
  Index layers() const { return stack_.layers(); }
  Embedding<Scalar, Embed>& embedding() { return embedding_; }
  const Embedding<Scalar, Embed>& embedding() const { return embedding_; }
  Stack& stack() { return stack_; }
  const Stack& stack() const { return stack_; }
  SoftmaxNLL<Scalar, Hidden>& softmax() { return softmax_; }
  const SoftmaxNLL<Scalar, Hidden>& softmax() const { return softmax_; }

  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    visit_impl(*this, f, prefix);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    visit_impl(*this, f, prefix);
  }

  /// Teacher-forced forward from v, then backward with every real position's gradient scaled by
  /// `scale`: writes dv (gradient on v) and accumulates every parameter gradient. `dropout`
  /// (nullptr or rate 0: none) drops the embeddings, between layers and before the softmax.
  NLLResult forward_backward(const std::vector<Sentence>& targets, const State& v, Tape& tape, Scalar scale, State& dv,
                             Index max_length = 0, const DropoutOptions* dropout = nullptr) {
    forward_stack(targets, v, tape, max_length, dropout);
    if (tape.dropout) {
      detail::ensure_shape(tape.dropped_H, hidden_size(), tape.steps * tape.batch);
      tape.dropped_H.array() = tape.keep_H.array() * tape.stack.outputs().array();  // (E2)
    }
    // The gradient on the top outputs lives in the stack's own between-layers buffer.
    Mat& dH = tape.stack.top_gradient();
    const NLLResult r =
        softmax_.forward_backward(tape.dropout ? ConstRef(tape.dropped_H) : ConstRef(tape.stack.outputs()),
                                  tape.targets, tape.mask, scale, &dH, tape.softmax, tape.batch);
    if (tape.dropout) dH.array() *= tape.keep_H.array();  // (E2): dh^{L-1} = m_L .* d(softmax input)
    stack_.backward(tape.X, tape.stack, dH, nullptr, &tape.dX, &dv);
    if (tape.dropout) tape.dX.array() *= tape.keep_X.array();  // (E1): d(E[:, inputs]) = m_0 .* dX
    embedding_.backward(tape.inputs, tape.dX);
    return r;
  }

  /// Teacher-forced loss from v, no gradients. With `per_column` the tape's column_nll holds
  /// -log p of every target position.
  NLLResult loss(const std::vector<Sentence>& targets, const State& v, Tape& tape, bool per_column = false,
                 Index max_length = 0) const {
    forward_stack(targets, v, tape, max_length, nullptr);
    return softmax_.loss(tape.stack.outputs(), tape.targets, tape.mask, tape.softmax, tape.batch,
                         per_column ? &tape.column_nll : nullptr);
  }

  /// One decoding step for K hypotheses: feeds `tokens` (K ids), advances `state` (every layer
  /// H x K) and writes the log-probabilities of the next word, V x K.
  void step(const std::vector<TokenId>& tokens, State& state, Mat& log_probs, StepWorkspace& ws) const {
    embedding_.forward(tokens, ws.X);
    stack_.step(ws.X, state, ws.gates);
    softmax_.log_probs(state.h.back(), log_probs);
  }

 private:
  template <typename Self, typename F>
  static void visit_impl(Self& self, F& f, const ParamName& prefix) {
    self.embedding_.visit_parameters(f, prefix.child("embedding"));
    self.stack_.visit_parameters(f, prefix);
    self.softmax_.visit_parameters(f, prefix.child("softmax"));
  }

  /// Lays out the batch and runs the embedding and the stack; with an active `dropout` it also
  /// applies E1 and D1 and draws m_L into keep_H (forward_backward applies E2).
  void forward_stack(const std::vector<Sentence>& targets, const State& v, Tape& tape, Index max_length,
                     const DropoutOptions* dropout) const {
    const DropoutStream drop = dropout ? DropoutStream(*dropout, DropoutSite::decoder) : DropoutStream();
    const Index B = static_cast<Index>(targets.size());
    detail::require(B > 0, "Decoder: empty batch");
    detail::require(v.layers() == layers() && v.batch() == B, [&] {
      return std::string("Decoder: the initial state has " + std::to_string(v.layers()) + " layers x " +
                         std::to_string(v.batch()) + " columns, expected " + std::to_string(layers()) + " x " +
                         std::to_string(B));
    });
    Index T = 0;
    for (std::size_t b = 0; b < targets.size(); ++b) {
      const Index n = static_cast<Index>(targets[b].size());
      detail::require(max_length <= 0 || n <= max_length, [&] {
        return std::string("Decoder: target sentence " + std::to_string(b) + " has " + std::to_string(n) +
                           " tokens, more than the maximum of " + std::to_string(max_length));
      });
      T = std::max(T, n + 1);
    }
    tape.steps = T;
    tape.batch = B;
    tape.inputs.assign(static_cast<std::size_t>(T * B), Special::pad);
    tape.targets.assign(static_cast<std::size_t>(T * B), Special::pad);
    detail::ensure_shape(tape.mask, 1, T * B);
    tape.mask.setZero();
    for (Index b = 0; b < B; ++b) {
      const Sentence& y = targets[static_cast<std::size_t>(b)];
      const Index n = static_cast<Index>(y.size());
      for (Index t = 0; t <= n; ++t) {
        const auto k = static_cast<std::size_t>(t * B + b);
        const TokenId in = t == 0 ? Special::bos : y[static_cast<std::size_t>(t - 1)];
        const TokenId out = t == n ? Special::eos : y[static_cast<std::size_t>(t)];
        detail::require(out >= 0 && out < vocab_size(), [&] {
          return std::string("Decoder: target token id " + std::to_string(out) + " is outside the vocabulary of " +
                             std::to_string(vocab_size()));
        });
        tape.inputs[k] = in;
        tape.targets[k] = out;
        tape.mask(static_cast<Index>(k)) = Scalar(1);
      }
    }
    embedding_.forward(tape.inputs, tape.X);
    tape.dropout = drop.active();
    if (tape.dropout) {
      drop.fill(0, embed_size(), T, B, tape.keep_X);
      tape.X.array() *= tape.keep_X.array();  // (E1)
      drop.fill(layers(), hidden_size(), T, B, tape.keep_H);
    }
    stack_.forward(tape.X, B, &v, tape.stack, &tape.mask, tape.dropout ? &drop : nullptr);
  }

  Embedding<Scalar, Embed> embedding_;
  Stack stack_;
  SoftmaxNLL<Scalar, Hidden> softmax_;
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_DECODER_HPP

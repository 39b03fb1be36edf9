// seq2seq: the encoder, an embedding and a deep LSTM that read the source sentence into v.
#ifndef SEQ2SEQ_ENCODER_HPP
#define SEQ2SEQ_ENCODER_HPP

#include <string>
#include <vector>

#include "data/types.hpp"
#include "embedding.hpp"
#include "stacked_lstm.hpp"

namespace seq2seq {

/// Per-batch cache of an Encoder (caller-owned, reused between batches).
template <typename Stack>
struct EncoderTape {
  using Scalar = typename Stack::Scalar;
  Index steps = 0, batch = 0;
  std::vector<TokenId> ids;  // T*B, column t*B + b
  Mask<Scalar> mask;         // 1 x T*B
  Matrix<Scalar> X;          // Embed x T*B: the stack's input, E[:, id] (under dropout m_0 .* E[:, id])
  Matrix<Scalar> dX;         // Embed x T*B (backward)
  bool dropout = false;      // the last forward applied dropout (keep_X and the stack tape hold the masks)
  Matrix<Scalar> keep_X;     // Embed x T*B: the mask m_0 of the embedding outputs (E1)
  typename Stack::Tape stack;
};

/// The first LSTM of the paper: it reads x_n, ..., x_1 (the source reversed, Sutskever et al.
/// section 3.3) and then <EOS>, and its final (h, c) of every layer is the sentence vector v.
/// A batch is padded on the right with <pad> under a zero mask; a padded step carries the state
/// unchanged, so every sequence's v is its state after its own <EOS>.
/// `Stack` is a StackedLSTM whose Input is the embedding size. Parameter names (below `prefix`):
/// embedding.E, layer0.W, layer0.U, layer0.b, layer1.W, ...
/// Training with dropout (DropoutOptions, site DropoutSite::encoder): the stack reads
///   (E1) X = m_0 .* E[:, ids]     m_0: Embed x T*B, the mask of layer 0
/// and drops between its layers (StackedLSTM, D1). Its top outputs feed nothing, and v (the final
/// h, c) reaches the decoder through its recurrence, so nothing else is dropped. Backward:
/// d(E[:, ids]) = m_0 .* dX.
template <typename Stack>
class Encoder {
 public:
  using Scalar = typename Stack::Scalar;
  using StackType = Stack;
  static constexpr int Embed = Stack::Input;
  static constexpr int Hidden = Stack::Hidden;
  static constexpr int Layers = Stack::Layers;
  using State = LSTMState<Scalar>;
  using Tape = EncoderTape<Stack>;

  Encoder(Index vocab, Index embed = Embed, Index hidden = Hidden, Index layers = Layers, bool reverse = true)
      : embedding_(vocab, embed), stack_(layers, hidden, embed), reverse_(reverse) {}

  Index vocab_size() const { return embedding_.vocab_size(); }
  Index embed_size() const { return embedding_.dim(); }
  Index hidden_size() const { return stack_.hidden_size(); }
  Index layers() const { return stack_.layers(); }
  bool reverses_source() const { return reverse_; }
  void set_reverse_source(bool r) { reverse_ = r; }
  Embedding<Scalar, Embed>& embedding() { return embedding_; }
  const Embedding<Scalar, Embed>& embedding() const { return embedding_; }
  Stack& stack() { return stack_; }
  const Stack& stack() const { return stack_; }

  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    visit_impl(*this, f, prefix);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    visit_impl(*this, f, prefix);
  }

  /// Lays out the batch (reversed words, <EOS>, padding), runs the stack and writes v. `dropout`
  /// (training only; nullptr or rate 0: none) drops the embeddings (E1) and between layers.
  void forward(const std::vector<Sentence>& sources, Tape& tape, State& v, Index max_length = 0,
               const DropoutOptions* dropout = nullptr) const {
    const DropoutStream drop = dropout ? DropoutStream(*dropout, DropoutSite::encoder) : DropoutStream();
    layout(sources, tape, max_length);
    embedding_.forward(tape.ids, tape.X);
    tape.dropout = drop.active();
    if (tape.dropout) {
      drop.fill(0, embed_size(), tape.steps, tape.batch, tape.keep_X);
      tape.X.array() *= tape.keep_X.array();  // (E1)
    }
    stack_.forward(tape.X, tape.batch, nullptr, tape.stack, &tape.mask, tape.dropout ? &drop : nullptr);
    stack_.final_state(tape.stack, v);
  }

  /// Backward from dv (gradient on every layer's final h and c); accumulates every gradient.
  void backward(Tape& tape, const State& dv) {
    const Matrix<Scalar> none;
    stack_.backward(tape.X, tape.stack, none, &dv, &tape.dX, nullptr);
    if (tape.dropout) tape.dX.array() *= tape.keep_X.array();  // (E1): d(E[:, ids]) = m_0 .* dX
    embedding_.backward(tape.ids, tape.dX);
  }

  /// The input layout of forward: tape.ids (T*B: the reversed words, <EOS>, <pad>), tape.mask,
  /// tape.steps and tape.batch, every sentence checked (not empty, within max_length, ids in the
  /// vocabulary). Decoding's reduced-precision encoder (inference.hpp) starts from it too.
  void layout(const std::vector<Sentence>& sources, Tape& tape, Index max_length) const {
    const Index B = static_cast<Index>(sources.size());
    detail::require(B > 0, "Encoder: empty batch");
    Index T = 0;
    for (std::size_t b = 0; b < sources.size(); ++b) {
      const Index n = static_cast<Index>(sources[b].size());
      detail::require(n > 0, [&] {
        return std::string("Encoder: source sentence " + std::to_string(b) + " of the batch is empty");
      });
      detail::require(max_length <= 0 || n <= max_length, [&] {
        return std::string("Encoder: source sentence " + std::to_string(b) + " has " + std::to_string(n) +
                           " tokens, more than the maximum of " + std::to_string(max_length));
      });
      T = std::max(T, n + 1);
    }
    tape.steps = T;
    tape.batch = B;
    tape.ids.assign(static_cast<std::size_t>(T * B), Special::pad);
    detail::ensure_shape(tape.mask, 1, T * B);
    tape.mask.setZero();
    for (Index b = 0; b < B; ++b) {
      const Sentence& s = sources[static_cast<std::size_t>(b)];
      const Index n = static_cast<Index>(s.size());
      for (Index t = 0; t < n; ++t) {
        const TokenId id = s[static_cast<std::size_t>(reverse_ ? n - 1 - t : t)];
        detail::require(id >= 0 && id < vocab_size(), [&] {
          return std::string("Encoder: source token id " + std::to_string(id) + " is outside the vocabulary of " +
                             std::to_string(vocab_size()));
        });
        tape.ids[static_cast<std::size_t>(t * B + b)] = id;
        tape.mask(t * B + b) = Scalar(1);
      }
      tape.ids[static_cast<std::size_t>(n * B + b)] = Special::eos;
      tape.mask(n * B + b) = Scalar(1);
    }
  }

 private:
  template <typename Self, typename F>
  static void visit_impl(Self& self, F& f, const ParamName& prefix) {
    self.embedding_.visit_parameters(f, prefix.child("embedding"));
    self.stack_.visit_parameters(f, prefix);
  }

  Embedding<Scalar, Embed> embedding_;
  Stack stack_;
  bool reverse_;
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_ENCODER_HPP

// seq2seq: the arithmetic of batched decoding in any Precision: the reduced-precision copies of
// a model's weights, the encoder over a batch of sources, and one decoder step for the live
// hypotheses of many sentences at once (N columns of one batch).
#ifndef SEQ2SEQ_INFERENCE_HPP
#define SEQ2SEQ_INFERENCE_HPP

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "data/shortlist.hpp"
#include "data/types.hpp"
#include "detail/gemm.hpp"
#include "detail/lowp_gemm.hpp"
#include "detail/lowp_table.hpp"
#include "lstm_cell.hpp"
#include "precision.hpp"

namespace seq2seq {

namespace detail {

/// One weight matrix as decoding multiplies it: in float32 the same values packed once, for the
/// AVX-512 float tile (Fp32Matrix, float on AVX-512 CPUs) or for Eigen's kernel (PackedMatrix);
/// or in a reduced precision (LowpMatrix). detail/lowp_gemm.hpp has the formats, lowp_tiles.hpp the kernels.
template <typename Scalar>
class DecodeMatrix {
 public:
  DecodeMatrix() = default;
  template <typename DA>
  DecodeMatrix(const DA& A, Precision p) {
    assign(A, p);
  }
  template <typename DA>
  void assign(const DA& A, Precision p) {
    precision_ = p;
    fast_ = false;
    if (p != Precision::float32) {
      lowp_.assign(A, p);
    } else if (std::is_same<Scalar, float>::value && Fp32Matrix::available()) {
      tiles_.assign(A);  // the AVX-512 float tile
      fast_ = true;
    } else {
      packed_.assign(A);
    }
  }
  Precision precision() const { return precision_; }
  Index rows() const { return precision_ != Precision::float32 ? lowp_.rows() : fast_ ? tiles_.rows() : packed_.rows(); }
  Index cols() const { return precision_ != Precision::float32 ? lowp_.cols() : fast_ ? tiles_.cols() : packed_.cols(); }
  std::size_t bytes() const {
    return precision_ == Precision::float32 ? sizeof(Scalar) * static_cast<std::size_t>(rows() * cols()) : lowp_.bytes();
  }
  const LowpMatrix& lowp() const { return lowp_; }
  /// Y += A X.
  template <typename DX, typename DY>
  void add(const DX& X, DY&& Y) const {
    if (precision_ != Precision::float32) {
      lowp_.multiply(X, Y, true);
    } else if (fast_) {
      if constexpr (std::is_same<Scalar, float>::value) tiles_.add(X, Y);
    } else {
      packed_.add(X, Y);
    }
  }

 private:
  Precision precision_ = Precision::float32;
  bool fast_ = false;
  PackedMatrix<Scalar> packed_;
  Fp32Matrix tiles_;
  LowpMatrix lowp_;
};

}  // namespace detail

/// The copies of the weights that decoding multiplies, in one Precision: every LSTM W and U of
/// the encoder and the decoder and the softmax W; in int8 and bf16 also both embedding tables
/// (in float32 the model's own tables are read). Biases and peepholes are added in the model's
/// Scalar, and the state (h, c, gates) stays in Scalar. Made once from the current parameters
/// (make_decode_weights, Seq2Seq::set_precision) and never changed.
template <typename Scalar>
struct DecodeWeights {
  Precision precision = Precision::float32;
  std::vector<detail::DecodeMatrix<Scalar>> encoder_W, encoder_U, decoder_W, decoder_U;  // one per layer
  detail::LowpTable source_E, target_E;  // empty in float32
  detail::DecodeMatrix<Scalar> softmax_W;

  bool lowp_tables() const { return precision != Precision::float32; }
  /// Bytes of the copies (for reports).
  std::size_t bytes() const {
    std::size_t n = source_E.bytes() + target_E.bytes() + softmax_W.bytes();
    for (const auto* v : {&encoder_W, &encoder_U, &decoder_W, &decoder_U})
      for (const auto& m : *v) n += m.bytes();
    return n;
  }
};

namespace detail {

/// f(l, cell) for every layer of a StackedLSTM (layer 0 and the upper layers have different types).
template <typename Stack, typename F>
void for_each_cell(const Stack& stack, F&& f) {
  f(Index(0), stack.first());
  for (Index l = 1; l < stack.layers(); ++l) f(l, stack.upper(l));
}

/// Grow-only: keeps the allocation when `m` has `rows` rows and at least `cols` columns.
template <typename Derived>
void ensure_capacity(Eigen::PlainObjectBase<Derived>& m, Index rows, Index cols) {
  if (m.rows() != rows || m.cols() < cols) m.resize(rows, cols);
}

}  // namespace detail

/// The copies of `model`'s weights in precision `p`.
template <typename Model>
std::shared_ptr<const DecodeWeights<typename Model::Scalar>> make_decode_weights(const Model& model, Precision p) {
  auto w = std::make_shared<DecodeWeights<typename Model::Scalar>>();
  w->precision = p;
  detail::for_each_cell(model.encoder().stack(), [&](Index, const auto& cell) {
    w->encoder_W.emplace_back(cell.W().value, p);
    w->encoder_U.emplace_back(cell.U().value, p);
  });
  detail::for_each_cell(model.decoder().stack(), [&](Index, const auto& cell) {
    w->decoder_W.emplace_back(cell.W().value, p);
    w->decoder_U.emplace_back(cell.U().value, p);
  });
  if (p != Precision::float32) {
    w->source_E = detail::LowpTable(model.encoder().embedding().E().value, p);
    w->target_E = detail::LowpTable(model.decoder().embedding().E().value, p);
  }
  w->softmax_W.assign(model.decoder().softmax().W().value, p);
  return w;
}

/// Scratch of batched decoding with one model, caller-owned (Seq2Seq::DecodeWorkspace holds one).
/// Every buffer is grow-only, so once it has the size of the largest batch and vocabulary a step
/// allocates nothing. The decoder state lives in the first `columns` columns of h and c.
template <typename Scalar>
struct InferenceWorkspace {
  // Encoder: X (Embed x T*B) the embedded inputs, G (4H x T*B) the gates of one layer, H the
  // outputs of two consecutive layers (H x (T+1)*B each, the zero initial state first), C the cells.
  Matrix<Scalar> X, G, H[2], C;
  // Decoder: per layer h, c (H x capacity), the copies a reorder writes, the embedded last words,
  // the gates of one layer and the next-word scores (rows x capacity).
  std::vector<Matrix<Scalar>> h, c, h_alt, c_alt;
  Matrix<Scalar> x, gates, logits;
  Index columns = 0;
  // The output rows of this batch: empty = the whole target vocabulary, else the shortlist's
  // words (sorted) with the softmax rows gathered in sl_W / sl_b (and copied in sl_copy).
  std::vector<TokenId> rows;
  std::vector<char> marks;
  Matrix<Scalar> sl_W;
  Vector<Scalar> sl_b;
  detail::DecodeMatrix<Scalar> sl_copy;
};

namespace detail {

/// Y += A X with A the parameter `value`, or its decoding copy `copy` when not null.
template <typename Mat, typename Copy, typename DX, typename DY>
void weight_add(const Mat& value, const Copy* copy, const DX& X, DY&& Y) {
  if (copy != nullptr)
    copy->add(X, Y);
  else
    gemm(Op::N, value, Op::N, X, Y, true);
}

/// One LSTM layer over a whole sequence batch for decoding (no tape): G = W X + b for every step
/// in one product, then per step G_t += U h_{t-1}, the gate non-linearities and the padding
/// mask (a padded step carries (h, c) over). X: input x T*B; H, C: hidden x (T+1)*B with the
/// zero initial state written into their first B columns; G: 4*hidden x T*B scratch. W and U
/// are the cell's parameters or, when not null, their decoding copies.
template <typename Cell, typename DX, typename DM>
void inference_layer(const Cell& cell, const DecodeMatrix<typename Cell::Scalar>* W,
                     const DecodeMatrix<typename Cell::Scalar>* U, const DX& X, Index B, const DM* mask,
                     Eigen::Ref<Matrix<typename Cell::Scalar>> G, Eigen::Ref<Matrix<typename Cell::Scalar>> H,
                     Eigen::Ref<Matrix<typename Cell::Scalar>> C) {
  using Scalar = typename Cell::Scalar;
  const Index TB = X.cols(), T = TB / B;
  G.colwise() = cell.b().value.col(0);
  weight_add(cell.W().value, W, X, G);
  H.leftCols(B).setZero();
  C.leftCols(B).setZero();
  const auto recur = [&](auto&& add_U) {
    for (Index t = 0; t < T; ++t) {
      auto Gt = G.middleCols(t * B, B);
      const auto h_prev = H.middleCols(t * B, B);
      const auto c_prev = C.middleCols(t * B, B);
      auto h_next = H.middleCols((t + 1) * B, B);
      auto c_next = C.middleCols((t + 1) * B, B);
      add_U(h_prev, Gt);
      cell.activate(Gt, c_prev, c_next, h_next);
      if (mask == nullptr) continue;
      for (Index j = 0; j < B; ++j)
        if ((*mask)(t * B + j) == Scalar(0)) {
          h_next.col(j) = h_prev.col(j);
          c_next.col(j) = c_prev.col(j);
        }
    }
  };
  if (U != nullptr) {
    recur([&](const auto& h_prev, auto& Gt) { U->add(h_prev, Gt); });
  } else {
    const RecurrentProduct<Scalar> product(Op::N, cell.U().value, B);
    recur([&](const auto& h_prev, auto& Gt) { product.add(h_prev, Gt); });
  }
}

/// Encodes the sources laid out in `tape` (Encoder::layout: ids, mask, steps, batch) and leaves
/// `copies` decoder columns per sentence in ws.h / ws.c (sentence-major: the copies of sentence 0
/// first), with room for `capacity` columns. `weights` null = the model's parameters themselves.
template <typename Model, typename Tape>
void inference_encode(const Model& model, const Tape& tape, const DecodeWeights<typename Model::Scalar>* weights,
                      Index copies, Index capacity, InferenceWorkspace<typename Model::Scalar>& ws) {
  using Copy = DecodeMatrix<typename Model::Scalar>;
  const auto& enc = model.encoder();
  const Index T = tape.steps, B = tape.batch, TB = T * B, H = enc.hidden_size(), L = enc.layers();
  const Index N = B * copies;
  require(capacity >= N, "inference_encode: capacity below the initial columns");
  const bool tables = weights != nullptr && weights->lowp_tables();
  ensure_capacity(ws.X, enc.embed_size(), TB);
  for (Index k = 0; k < TB; ++k) {
    const TokenId id = tape.ids[static_cast<std::size_t>(k)];
    if (tables)
      weights->source_E.lookup(id, ws.X.col(k));
    else
      ws.X.col(k) = enc.embedding().E().value.col(id);
  }
  if (!ws.X.leftCols(TB).allFinite())
    throw NonFiniteInputError("seq2seq: decoding: the embedded source holds NaN or Inf");
  ensure_capacity(ws.G, 4 * H, TB);
  for (auto& m : ws.H) ensure_capacity(m, H, TB + B);
  ensure_capacity(ws.C, H, TB + B);
  for (auto* v : {&ws.h, &ws.c, &ws.h_alt, &ws.c_alt}) {
    v->resize(static_cast<std::size_t>(L));
    for (auto& m : *v) ensure_capacity(m, H, capacity);
  }
  for_each_cell(enc.stack(), [&](Index l, const auto& cell) {
    const auto ul = static_cast<std::size_t>(l);
    const Copy* W = weights ? &weights->encoder_W[ul] : nullptr;
    const Copy* U = weights ? &weights->encoder_U[ul] : nullptr;
    auto& Hl = ws.H[l % 2];
    if (l == 0)
      inference_layer(cell, W, U, ws.X.leftCols(TB), B, &tape.mask, ws.G.leftCols(TB), Hl.leftCols(TB + B),
                      ws.C.leftCols(TB + B));
    else
      inference_layer(cell, W, U, ws.H[(l - 1) % 2].middleCols(B, TB), B, &tape.mask, ws.G.leftCols(TB),
                      Hl.leftCols(TB + B), ws.C.leftCols(TB + B));
    // The layer's state after each sentence's last real step (padding carried it to step T).
    for (Index b = 0; b < B; ++b)
      for (Index k = 0; k < copies; ++k) {
        ws.h[ul].col(b * copies + k) = Hl.col(TB + b);
        ws.c[ul].col(b * copies + k) = ws.C.col(TB + b);
      }
  });
  ws.columns = N;
}

/// The output rows of a batch: with a shortlist, its union for `sources` and the softmax rows
/// gathered (and copied in the weights' precision); without, the whole vocabulary (ws.rows empty).
template <typename Model, typename Sources>
void inference_rows(const Model& model, const Sources& sources, const Shortlist* shortlist,
                    const DecodeWeights<typename Model::Scalar>* weights, InferenceWorkspace<typename Model::Scalar>& ws) {
  ws.rows.clear();
  if (shortlist == nullptr) return;
  const auto& sm = model.decoder().softmax();
  require(static_cast<Index>(shortlist->target_vocab()) == sm.vocab_size() &&
              static_cast<Index>(shortlist->source_vocab()) == model.encoder().vocab_size(),
          [&] {
            return "decoding: the shortlist is for vocabularies of " + std::to_string(shortlist->source_vocab()) +
                   " and " + std::to_string(shortlist->target_vocab()) + " words, the model has " +
                   std::to_string(model.encoder().vocab_size()) + " and " + std::to_string(sm.vocab_size());
          });
  shortlist->rows_for(sources, ws.rows, ws.marks);
  const auto R = static_cast<Index>(ws.rows.size());
  ensure_shape(ws.sl_W, R, sm.hidden_size());
  ensure_shape(ws.sl_b, R, 1);
  for (Index r = 0; r < R; ++r) {
    const TokenId t = ws.rows[static_cast<std::size_t>(r)];
    ws.sl_W.row(r) = sm.W().value.row(t);
    ws.sl_b(r) = sm.b().value(t, 0);
  }
  if (weights != nullptr) ws.sl_copy.assign(ws.sl_W, weights->precision);
}

/// One decoder step of the ws.columns live hypotheses: feeds `last` (one word per column),
/// advances every layer's (h, c) and writes the next-word logits (W h + b, not normalised) to
/// ws.logits.leftCols(columns): every target word, or the shortlist's rows.
template <typename Model>
void inference_step(const Model& model, const std::vector<TokenId>& last,
                    const DecodeWeights<typename Model::Scalar>* weights, InferenceWorkspace<typename Model::Scalar>& ws) {
  using Copy = DecodeMatrix<typename Model::Scalar>;
  const auto& dec = model.decoder();
  const Index N = ws.columns, H = dec.hidden_size();
  require(static_cast<Index>(last.size()) == N, "inference_step: one word per live column is needed");
  const bool tables = weights != nullptr && weights->lowp_tables();
  ensure_capacity(ws.x, dec.embed_size(), N);
  for (Index j = 0; j < N; ++j) {
    const TokenId id = last[static_cast<std::size_t>(j)];
    require(id >= 0 && id < dec.vocab_size(), "inference_step: word id outside the target vocabulary");
    if (tables)
      weights->target_E.lookup(id, ws.x.col(j));
    else
      ws.x.col(j) = dec.embedding().E().value.col(id);
  }
  ensure_capacity(ws.gates, 4 * H, N);
  for_each_cell(dec.stack(), [&](Index l, const auto& cell) {
    const auto ul = static_cast<std::size_t>(l);
    auto G = ws.gates.leftCols(N);
    auto h = ws.h[ul].leftCols(N);
    auto c = ws.c[ul].leftCols(N);
    const Copy* W = weights ? &weights->decoder_W[ul] : nullptr;
    const Copy* U = weights ? &weights->decoder_U[ul] : nullptr;
    G.colwise() = cell.b().value.col(0);
    if (l == 0)
      weight_add(cell.W().value, W, ws.x.leftCols(N), G);
    else
      weight_add(cell.W().value, W, ws.h[ul - 1].leftCols(N), G);
    weight_add(cell.U().value, U, h, G);
    cell.activate(G, c, c, h);
  });
  const auto h_top = ws.h.back().leftCols(N);
  const auto& sm = dec.softmax();
  const bool full = ws.rows.empty();
  ensure_capacity(ws.logits, full ? sm.vocab_size() : static_cast<Index>(ws.rows.size()), N);
  auto Z = ws.logits.leftCols(N);
  if (full) {
    Z.colwise() = sm.b().value.col(0);
    weight_add(sm.W().value, weights ? &weights->softmax_W : nullptr, h_top, Z);
  } else {
    Z.colwise() = ws.sl_b;
    weight_add(ws.sl_W, weights ? &ws.sl_copy : nullptr, h_top, Z);
  }
}

/// Column j of the state becomes old column parents[j] (j < parents.size(), which becomes ws.columns).
template <typename Scalar>
void inference_reorder(const std::vector<Index>& parents, InferenceWorkspace<Scalar>& ws) {
  const auto N = static_cast<Index>(parents.size());
  for (std::size_t l = 0; l < ws.h.size(); ++l) {
    for (Index j = 0; j < N; ++j) {
      const Index p = parents[static_cast<std::size_t>(j)];
      ws.h_alt[l].col(j) = ws.h[l].col(p);
      ws.c_alt[l].col(j) = ws.c[l].col(p);
    }
    ws.h[l].swap(ws.h_alt[l]);
    ws.c[l].swap(ws.c_alt[l]);
  }
  ws.columns = N;
}

}  // namespace detail
}  // namespace seq2seq

#endif  // SEQ2SEQ_INFERENCE_HPP

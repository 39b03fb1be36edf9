// seq2seq: the Sequence to Sequence model (Sutskever, Vinyals & Le 2014): encoder + decoder,
// trained on batches, scored, and decoded (decoding.hpp; several models together: ensemble.hpp).
#ifndef SEQ2SEQ_MODEL_HPP
#define SEQ2SEQ_MODEL_HPP

#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "beam_search.hpp"
#include "decoder.hpp"
#include "decoding.hpp"
#include "encoder.hpp"
#include "ensemble.hpp"  // Ensemble lived here before; code that includes model.hpp keeps it
#include "inference.hpp"
#include "model_config.hpp"
#include "precision.hpp"

namespace seq2seq {

/// What one batch cost.
struct LossStats {
  double loss = 0;   // the objective that was differentiated (see ModelConfig::per_token_loss)
  double nll = 0;    // summed -log p over every target token (incl. <EOS>)
  Index tokens = 0;  // target tokens incl. <EOS>
  Index sequences = 0;
};

/// `Seq2Seq<Encoder<S1>, Decoder<S2>>`: p(y | x) = prod_t p(y_t | v, y_1..y_{t-1}) with v the
/// encoder's final (h, c) of every layer, handed layer by layer to the decoder. Training:
/// train_batch (forward + hand-written backward, gradients accumulate into every Param) then an
/// optimizer step; optionally with dropout on the non-recurrent connections (DropoutOptions,
/// dropout.hpp: the embeddings, between layers, before the softmax), whose masks live in the
/// Workspace. Inference: translate (greedy or beam), score (log p(y | x), the paper's
/// rescoring). forward-only members are const, take caller-owned workspaces and never drop, so
/// one const model serves several threads. Parameter names: encoder.embedding.E,
/// encoder.layer0.W, ..., decoder.embedding.E, decoder.layer0.W, ..., decoder.softmax.W,
/// decoder.softmax.b.
template <typename EncoderT, typename DecoderT>
class Seq2Seq {
 public:
  using Scalar = typename EncoderT::Scalar;
  using EncoderType = EncoderT;
  using DecoderType = DecoderT;
  using State = LSTMState<Scalar>;
  using Mat = Matrix<Scalar>;

  static_assert(std::is_same<typename EncoderT::Scalar, typename DecoderT::Scalar>::value,
                "Seq2Seq: encoder and decoder must use the same Scalar type");
  static_assert(EncoderT::Hidden == DecoderT::Hidden || EncoderT::Hidden == Dynamic ||
                    DecoderT::Hidden == Dynamic,
                "Seq2Seq: the decoder starts from the encoder's state, so both need the same hidden size");
  static_assert(EncoderT::Layers == DecoderT::Layers || EncoderT::Layers == Dynamic ||
                    DecoderT::Layers == Dynamic,
                "Seq2Seq: the decoder starts layer by layer from the encoder's state, so both need the same depth");
  static_assert(EncoderT::StackType::Peephole == DecoderT::StackType::Peephole,
                "Seq2Seq: encoder and decoder cells must agree on peepholes");

  /// Everything a training or scoring pass keeps between forward and backward (caller-owned; the
  /// dropout masks of a training step included).
  struct Workspace {
    typename EncoderT::Tape encoder;
    typename DecoderT::Tape decoder;
    State v, dv;
  };
  /// Scratch of decoding (caller-owned; one per thread). `batch` is batched decoding's
  /// (translate of a list, translate_greedy, sampling); the rest is the one-sentence search's.
  struct DecodeWorkspace {
    typename EncoderT::Tape encoder;
    typename DecoderT::StepWorkspace step;
    State v, state, reordered;
    Mat log_probs;
    InferenceWorkspace<Scalar> batch;
  };

  explicit Seq2Seq(const ModelConfig& config)
      : config_(checked(config)),
        encoder_(config.source_vocab, config.embed, config.hidden, config.layers, config.reverse_source),
        decoder_(config.target_vocab, config.embed, config.hidden, config.layers) {}

  const ModelConfig& config() const { return config_; }
  EncoderT& encoder() { return encoder_; }
  const EncoderT& encoder() const { return encoder_; }
  DecoderT& decoder() { return decoder_; }
  const DecoderT& decoder() const { return decoder_; }

  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    visit_impl(*this, f, prefix);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    visit_impl(*this, f, prefix);
  }

  /// Forward and backward on a batch: gradients of the loss accumulate (+=) into every Param.
  LossStats train_batch(const PairBatch& batch, Workspace& ws) { return train(batch, ws, nullptr); }
  /// The same with dropout (Zaremba et al. 2014) on the encoder's and the decoder's embeddings,
  /// between stacked layers and before the softmax; rate 0 is exactly train_batch(batch, ws). The
  /// masks are a function of (dropout.seed, dropout.step, dropout.first_sequence) and the batch's
  /// layout alone (dropout.hpp), kept in `ws` for backward. A rate outside [0, 1) throws
  /// std::invalid_argument before anything is computed.
  LossStats train_batch(const PairBatch& batch, Workspace& ws, const DropoutOptions& dropout) {
    check_dropout(dropout);
    return train(batch, ws, dropout.rate > 0 ? &dropout : nullptr);
  }
  LossStats train_batch(const PairBatch& batch) {
    Workspace ws;
    return train_batch(batch, ws);
  }

  /// The loss of a batch without gradients.
  LossStats evaluate(const PairBatch& batch, Workspace& ws) const {
    check_batch(batch);
    const Index B = static_cast<Index>(batch.size());
    encoder_.forward(batch.source, ws.encoder, ws.v, config_.max_length);
    const NLLResult r = decoder_.loss(batch.target, ws.v, ws.decoder, false, config_.max_length);
    // +Inf is a true answer (a target word the model makes impossible); NaN is not.
    if (std::isnan(r.nll)) throw std::runtime_error("seq2seq: evaluate: the model produced a NaN loss (NaN or Inf weights?)");
    const double norm = loss_normaliser(config_.per_token_loss, static_cast<double>(B), static_cast<double>(r.tokens));
    return {r.nll / norm, r.nll, r.tokens, B};
  }
  LossStats evaluate(const PairBatch& batch) const {
    Workspace ws;
    return evaluate(batch, ws);
  }

  /// log p(target | source) of every pair of the batch (the paper's rescoring score). An empty
  /// target is the empty translation: log p(<EOS> | source).
  std::vector<double> score(const PairBatch& batch, Workspace& ws) const {
    check_batch(batch, /*allow_empty_targets=*/true);
    const auto B = batch.size();
    encoder_.forward(batch.source, ws.encoder, ws.v, config_.max_length);
    decoder_.loss(batch.target, ws.v, ws.decoder, true, config_.max_length);
    std::vector<double> out(B, 0.0);
    for (std::size_t k = 0; k < ws.decoder.column_nll.size(); ++k) out[k % B] -= ws.decoder.column_nll[k];
    for (std::size_t b = 0; b < B; ++b)
      if (std::isnan(out[b]))
        throw std::runtime_error("seq2seq: score: the model produced a NaN log-probability for pair " + std::to_string(b) +
                                 " (NaN or Inf weights?)");
    return out;
  }
  double score(const Sentence& source, const Sentence& target) const {
    Workspace ws;
    PairBatch b;
    b.source.push_back(source);
    b.target.push_back(target);
    return score(b, ws).front();
  }

  /// Encodes one batch of sources into v (every layer's final h and c, H x B).
  void encode(const std::vector<Sentence>& sources, typename EncoderT::Tape& tape, State& v) const {
    encoder_.forward(sources, tape, v, config_.max_length);
  }

  /// Greedy decoding of a whole batch at once: each column takes the word of the largest logit
  /// (no softmax) until <EOS>, and finished sentences leave the batch (decoding.hpp). With a
  /// shortlist only its words for these sources can be chosen.
  std::vector<Sentence> translate_greedy(const std::vector<Sentence>& sources, DecodeWorkspace& ws,
                                         Index max_length = 0, const Shortlist* shortlist = nullptr) const;
  std::vector<Sentence> translate_greedy(const std::vector<Sentence>& sources, Index max_length = 0) const {
    DecodeWorkspace ws;
    return translate_greedy(sources, ws, max_length);
  }

  /// Beam search of one sentence (DecodeOptions; beam 1 is greedy). Returns up to nbest complete
  /// hypotheses, best first. Without set_precision, a shortlist or sampling this is the
  /// one-sentence search (beam_translate); otherwise the batched one on a batch of one.
  std::vector<Hypothesis> translate(const Sentence& source, const DecodeOptions& opt, DecodeWorkspace& ws) const;
  std::vector<Hypothesis> translate(const Sentence& source, const DecodeOptions& opt = DecodeOptions()) const {
    DecodeWorkspace ws;
    return translate(source, opt, ws);
  }

  /// Translates many sentences together (batch_translate): batches of opt.batch_size sources, the
  /// hypotheses of all of them as the columns of one decoder batch, finished ones leaving it; beam
  /// search with the same results as translate(source) of each, or sampling with opt.sample.
  /// Returns, per source in order, up to nbest hypotheses, best first.
  std::vector<std::vector<Hypothesis>> translate(const std::vector<Sentence>& sources, const DecodeOptions& opt,
                                                 DecodeWorkspace& ws) const {
    return batch_translate(*this, sources, opt, ws);
  }
  std::vector<std::vector<Hypothesis>> translate(const std::vector<Sentence>& sources,
                                                 const DecodeOptions& opt = DecodeOptions()) const {
    DecodeWorkspace ws;
    return translate(sources, opt, ws);
  }

  /// Decoding's number format (precision.hpp). set_precision makes copies of every LSTM W and U
  /// and the softmax W (and, in int8 and bf16, both embeddings) that translate, translate_greedy
  /// and sampling then multiply (make_decode_weights): float32 packs them once for the GEMM
  /// kernel (the same values), int8 and bf16 quantize them. The copies are a snapshot:
  /// parameters changed later (training, loading) are not seen until set_precision is called
  /// again, or clear_precision drops them (decoding then multiplies the parameters themselves,
  /// as before any call). Copies of the model share the snapshot. score(), evaluate() and
  /// training always use the parameters.
  void set_precision(Precision p) { weights_ = make_decode_weights(*this, p); }
  void clear_precision() { weights_.reset(); }
  Precision precision() const { return weights_ ? weights_->precision : Precision::float32; }
  /// The decoding copies, or null (the parameters themselves).
  const DecodeWeights<Scalar>* decode_weights() const { return weights_.get(); }

  /// Default maximum output length for a source of n words: 2n + 10 (capped by config.max_length).
  Index output_limit(Index source_words, Index requested) const {
    Index limit = requested > 0 ? requested : 2 * source_words + 10;
    if (config_.max_length > 0) limit = std::min(limit, config_.max_length);
    return limit;
  }

 private:
  template <typename Self, typename F>
  static void visit_impl(Self& self, F& f, const ParamName& prefix) {
    self.encoder_.visit_parameters(f, prefix.child("encoder"));
    self.decoder_.visit_parameters(f, prefix.child("decoder"));
  }

  LossStats train(const PairBatch& batch, Workspace& ws, const DropoutOptions* dropout) {
    check_batch(batch);
    const Index B = static_cast<Index>(batch.size());
    Index tokens = 0;
    for (const auto& y : batch.target) tokens += static_cast<Index>(y.size()) + 1;
    const double norm = loss_normaliser(config_.per_token_loss, static_cast<double>(B), static_cast<double>(tokens));
    encoder_.forward(batch.source, ws.encoder, ws.v, config_.max_length, dropout);
    const NLLResult r = decoder_.forward_backward(batch.target, ws.v, ws.decoder, static_cast<Scalar>(1.0 / norm),
                                                  ws.dv, config_.max_length, dropout);
    encoder_.backward(ws.encoder, ws.dv);
    return {r.nll / norm, r.nll, r.tokens, B};
  }

  static ModelConfig checked(const ModelConfig& c) {
    detail::require(c.source_vocab > Special::count && c.target_vocab > Special::count, [&] {
      return std::string("Seq2Seq: vocabularies must hold more than the " + std::to_string(Special::count) +
                         " special tokens");
    });
    detail::require(c.peephole == EncoderT::StackType::Peephole, [&] {
      return std::string(std::string("Seq2Seq: the configuration asks for ") + (c.peephole ? "" : "no ") +
                         "peepholes, the compiled cell type disagrees");
    });
    detail::require(c.max_length >= 0, "Seq2Seq: max_length must not be negative");
    return c;
  }
  /// Training data must have non-empty targets; score() accepts the empty translation (just <EOS>),
  /// which translate() can return.
  static void check_batch(const PairBatch& batch, bool allow_empty_targets = false) {
    detail::require(batch.source.size() == batch.target.size(), [&] {
      return std::string("Seq2Seq: batch has " + std::to_string(batch.source.size()) + " sources but " +
                         std::to_string(batch.target.size()) + " targets");
    });
    detail::require(batch.size() > 0, "Seq2Seq: empty batch");
    if (allow_empty_targets) return;
    for (std::size_t b = 0; b < batch.target.size(); ++b)
      detail::require(!batch.target[b].empty(), [&] {
        return std::string("Seq2Seq: target sentence " + std::to_string(b) + " of the batch is empty");
      });
  }

  ModelConfig config_;
  EncoderT encoder_;
  DecoderT decoder_;
  std::shared_ptr<const DecodeWeights<Scalar>> weights_;  // null: decoding multiplies the parameters
};

// ---------------------------------------------------------------------------------------------

template <typename EncoderT, typename DecoderT>
std::vector<Hypothesis> Seq2Seq<EncoderT, DecoderT>::translate(const Sentence& source, const DecodeOptions& opt,
                                                               DecodeWorkspace& ws) const {
  if (weights_ || opt.shortlist != nullptr || opt.sample) {
    std::vector<std::vector<Hypothesis>> r = batch_translate(*this, std::vector<Sentence>{source}, opt, ws);
    return std::move(r.front());
  }
  return beam_translate(*this, source, opt, ws);
}

template <typename EncoderT, typename DecoderT>
std::vector<Sentence> Seq2Seq<EncoderT, DecoderT>::translate_greedy(const std::vector<Sentence>& sources,
                                                                    DecodeWorkspace& ws, Index max_length,
                                                                    const Shortlist* shortlist) const {
  return greedy_translate(*this, sources, ws, max_length, shortlist);
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_MODEL_HPP

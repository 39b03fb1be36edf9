// seq2seq: the Sequence to Sequence model (Sutskever, Vinyals & Le 2014): encoder + decoder.
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
#include "encoder.hpp"

namespace seq2seq {

/// Run-time description of a model: what a checkpoint records and what Dynamic sizes are built from.
struct ModelConfig {
  Index source_vocab = 0;
  Index target_vocab = 0;
  Index embed = 0;
  Index hidden = 0;
  Index layers = 0;
  bool reverse_source = true;   // the paper's trick; false reads the source in order
  bool peephole = false;        // informational: must equal the compiled cell's option
  Index max_length = 0;         // longest accepted source/target in words; 0 = unlimited
  bool per_token_loss = false;  // false: summed NLL / number of sequences (the paper); true: per token

  /// The paper's configuration: 4 layers of 1000 cells, 1000-d embeddings, 160k/80k vocabularies.
  static ModelConfig paper() {
    ModelConfig c;
    c.source_vocab = 160000;
    c.target_vocab = 80000;
    c.embed = 1000;
    c.hidden = 1000;
    c.layers = 4;
    return c;
  }
};

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
  static_assert(EncoderT::Hidden == DecoderT::Hidden || EncoderT::Hidden == Eigen::Dynamic ||
                    DecoderT::Hidden == Eigen::Dynamic,
                "Seq2Seq: the decoder starts from the encoder's state, so both need the same hidden size");
  static_assert(EncoderT::Layers == DecoderT::Layers || EncoderT::Layers == Eigen::Dynamic ||
                    DecoderT::Layers == Eigen::Dynamic,
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
  /// Scratch of decoding (caller-owned; one per thread).
  struct DecodeWorkspace {
    typename EncoderT::Tape encoder;
    typename DecoderT::StepWorkspace step;
    State v, state, reordered;
    Mat log_probs;
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
    encoder_.visit_parameters(f, prefix.child("encoder"));
    decoder_.visit_parameters(f, prefix.child("decoder"));
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    encoder_.visit_parameters(f, prefix.child("encoder"));
    decoder_.visit_parameters(f, prefix.child("decoder"));
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
    const double norm = config_.per_token_loss ? static_cast<double>(r.tokens) : static_cast<double>(B);
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

  /// Greedy decoding of a whole batch at once (each column takes the most likely word until <EOS>).
  std::vector<Sentence> translate_greedy(const std::vector<Sentence>& sources, DecodeWorkspace& ws,
                                         Index max_length = 0) const;
  std::vector<Sentence> translate_greedy(const std::vector<Sentence>& sources, Index max_length = 0) const {
    DecodeWorkspace ws;
    return translate_greedy(sources, ws, max_length);
  }

  /// Beam search (DecodeOptions; beam 1 is greedy). Returns up to nbest complete hypotheses, best first.
  std::vector<Hypothesis> translate(const Sentence& source, const DecodeOptions& opt, DecodeWorkspace& ws) const;
  std::vector<Hypothesis> translate(const Sentence& source, const DecodeOptions& opt = DecodeOptions()) const {
    DecodeWorkspace ws;
    return translate(source, opt, ws);
  }

  /// Default maximum output length for a source of n words: 2n + 10 (capped by config.max_length).
  Index output_limit(Index source_words, Index requested) const {
    Index limit = requested > 0 ? requested : 2 * source_words + 10;
    if (config_.max_length > 0) limit = std::min(limit, config_.max_length);
    return limit;
  }

 private:
  LossStats train(const PairBatch& batch, Workspace& ws, const DropoutOptions* dropout) {
    check_batch(batch);
    const Index B = static_cast<Index>(batch.size());
    Index tokens = 0;
    for (const auto& y : batch.target) tokens += static_cast<Index>(y.size()) + 1;
    const double norm = config_.per_token_loss ? static_cast<double>(tokens) : static_cast<double>(B);
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
};

/// Several models decoding together. Combination rule: at every step the members' next-word
/// probabilities are averaged (arithmetic mean of p, not of log p), and the hypotheses are ranked
/// by the log of that average. Every member must share the target vocabulary.
template <typename Model>
class Ensemble {
 public:
  using Scalar = typename Model::Scalar;
  using Mat = Matrix<Scalar>;

  explicit Ensemble(std::vector<const Model*> members) : members_(std::move(members)) {
    detail::require(!members_.empty(), "Ensemble: no members");
    for (const Model* m : members_) {
      detail::require(m != nullptr, "Ensemble: null member");
      detail::require(m->config().target_vocab == members_.front()->config().target_vocab,
                      "Ensemble: members have different target vocabularies");
    }
  }
  std::size_t size() const { return members_.size(); }
  const Model& member(std::size_t i) const { return *members_.at(i); }

  /// Beam search with the averaged distribution.
  std::vector<Hypothesis> translate(const Sentence& source, const DecodeOptions& opt = DecodeOptions()) const {
    Scorer s(*this, source);
    Mat log_probs;
    return beam_search(s, opt, members_.front()->output_limit(static_cast<Index>(source.size()), opt.max_length),
                       log_probs);
  }

  /// log p_ensemble(target | source) under the same combination rule.
  double score(const Sentence& source, const Sentence& target) const {
    Scorer s(*this, source);
    s.start(1);
    Mat log_probs;
    std::vector<TokenId> last(1, Special::bos);
    double total = 0;
    for (std::size_t t = 0; t <= target.size(); ++t) {
      s.step(last, log_probs);
      const TokenId y = t < target.size() ? target[t] : Special::eos;
      detail::require(y >= 0 && y < log_probs.rows(), "Ensemble::score: target id outside the vocabulary");
      total += static_cast<double>(log_probs(y, 0));
      last[0] = y;
    }
    return total;
  }

  /// The next-word scorer of beam_search over every member.
  class Scorer {
   public:
    /// Encodes `source` with every member, in `workspaces` (one per member) when given, else in
    /// workspaces of its own.
    Scorer(const Ensemble& e, const Sentence& source, std::vector<typename Model::DecodeWorkspace*> workspaces = {})
        : e_(e), ws_(std::move(workspaces)) {
      if (ws_.empty()) {
        owned_.resize(e.members_.size());
        for (auto& w : owned_) ws_.push_back(&w);
      }
      detail::require(ws_.size() == e.members_.size(), "Ensemble::Scorer: one workspace per member is needed");
      const std::vector<Sentence> one{source};
      for (std::size_t m = 0; m < e.members_.size(); ++m) e.members_[m]->encode(one, ws_[m]->encoder, ws_[m]->v);
    }
    Index vocab_size() const { return e_.members_.front()->config().target_vocab; }
    void start(Index K) {
      for (auto* wp : ws_) {
        auto& w = *wp;
        w.state.resize(w.v.layers(), w.v.h.front().rows(), K);
        for (Index l = 0; l < w.v.layers(); ++l)
          for (Index k = 0; k < K; ++k) {
            w.state.h[static_cast<std::size_t>(l)].col(k) = w.v.h[static_cast<std::size_t>(l)].col(0);
            w.state.c[static_cast<std::size_t>(l)].col(k) = w.v.c[static_cast<std::size_t>(l)].col(0);
          }
      }
    }
    template <typename M>
    void step(const std::vector<TokenId>& last, M& log_probs) {
      if (ws_.size() == 1) {
        e_.members_.front()->decoder().step(last, ws_[0]->state, log_probs, ws_[0]->step);
        return;
      }
      for (std::size_t m = 0; m < ws_.size(); ++m) {
        e_.members_[m]->decoder().step(last, ws_[m]->state, ws_[m]->log_probs, ws_[m]->step);
        if (m == 0)
          log_probs = ws_[m]->log_probs.array().exp().matrix();
        else
          log_probs.array() += ws_[m]->log_probs.array().exp();
      }
      log_probs.array() = (log_probs.array() / static_cast<Scalar>(ws_.size())).log();
    }
    void reorder(const std::vector<Index>& parents) {
      const auto K = static_cast<Index>(parents.size());
      for (auto* wp : ws_) {
        auto& w = *wp;
        w.reordered.resize(w.state.layers(), w.state.h.front().rows(), K);
        for (std::size_t l = 0; l < w.state.h.size(); ++l)
          for (Index k = 0; k < K; ++k) {
            w.reordered.h[l].col(k) = w.state.h[l].col(parents[static_cast<std::size_t>(k)]);
            w.reordered.c[l].col(k) = w.state.c[l].col(parents[static_cast<std::size_t>(k)]);
          }
        std::swap(w.state, w.reordered);
      }
    }

   private:
    const Ensemble& e_;
    std::vector<typename Model::DecodeWorkspace*> ws_;
    std::vector<typename Model::DecodeWorkspace> owned_;
  };

 private:
  std::vector<const Model*> members_;
};

// ---------------------------------------------------------------------------------------------

template <typename EncoderT, typename DecoderT>
std::vector<Hypothesis> Seq2Seq<EncoderT, DecoderT>::translate(const Sentence& source, const DecodeOptions& opt,
                                                               DecodeWorkspace& ws) const {
  const Ensemble<Seq2Seq> single({this});
  typename Ensemble<Seq2Seq>::Scorer scorer(single, source, {&ws});
  return beam_search(scorer, opt, output_limit(static_cast<Index>(source.size()), opt.max_length), ws.log_probs);
}

template <typename EncoderT, typename DecoderT>
std::vector<Sentence> Seq2Seq<EncoderT, DecoderT>::translate_greedy(const std::vector<Sentence>& sources,
                                                                    DecodeWorkspace& ws, Index max_length) const {
  const auto B = static_cast<Index>(sources.size());
  std::vector<Sentence> out(static_cast<std::size_t>(B));
  if (B == 0) return out;
  encoder_.forward(sources, ws.encoder, ws.v, config_.max_length);
  ws.state = ws.v;
  std::vector<TokenId> last(static_cast<std::size_t>(B), Special::bos);
  std::vector<char> finished(static_cast<std::size_t>(B), 0);
  Index longest = 0;
  for (const auto& s : sources) longest = std::max(longest, static_cast<Index>(s.size()));
  Index remaining = B;
  for (Index t = 0; remaining > 0; ++t) {
    decoder_.step(last, ws.state, ws.log_probs, ws.step);
    for (Index b = 0; b < B; ++b) {
      const auto ub = static_cast<std::size_t>(b);
      if (finished[ub]) continue;
      const Index limit = output_limit(static_cast<Index>(sources[ub].size()), max_length);
      TokenId best = Special::eos;
      if (t < limit) {
        Scalar best_lp = -std::numeric_limits<Scalar>::infinity();
        for (Index v = 0; v < ws.log_probs.rows(); ++v) {
          if (v == Special::pad || v == Special::bos) continue;
          // NaN compares false and would end the sentence silently: say so, as beam_search does.
          if (std::isnan(ws.log_probs(v, b)))
            throw std::runtime_error("seq2seq: translate_greedy: the model produced NaN log-probabilities");
          if (ws.log_probs(v, b) > best_lp) {  // strict: ties go to the lower id, as in beam_search
            best_lp = ws.log_probs(v, b);
            best = static_cast<TokenId>(v);
          }
        }
      }
      if (best == Special::eos) {
        finished[ub] = 1;
        --remaining;
      } else {
        out[ub].push_back(best);
      }
      last[ub] = best;
    }
  }
  return out;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_MODEL_HPP

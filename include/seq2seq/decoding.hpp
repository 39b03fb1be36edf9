// seq2seq: decoding with one model: the next-word scorer of one sentence that beam_search drives
// (the K hypotheses of the beam as K columns of one decoder batch), and the batch scorer of many
// sentences that batch_search.hpp drives (translate of a list, greedy search, sampling).
#ifndef SEQ2SEQ_DECODING_HPP
#define SEQ2SEQ_DECODING_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "batch_search.hpp"
#include "beam_search.hpp"
#include "config.hpp"
#include "data/batcher.hpp"
#include "data/shortlist.hpp"
#include "data/types.hpp"
#include "detail/fnv1a.hpp"
#include "inference.hpp"

namespace seq2seq {

/// beam_search's scorer for one model (the contract is in beam_search.hpp). Encodes `source` into
/// ws.v at construction; start(K) copies v into K state columns, step feeds the last words and
/// writes V x K log-probabilities, reorder follows the back-pointers. All buffers are the
/// caller's workspace, reused from sentence to sentence.
template <typename Model>
class ModelScorer {
 public:
  using Workspace = typename Model::DecodeWorkspace;

  ModelScorer(const Model& model, const Sentence& source, Workspace& ws) : model_(model), ws_(ws) {
    sources_.assign(1, source);
    model_.encode(sources_, ws_.encoder, ws_.v);
  }
  Index vocab_size() const { return model_.config().target_vocab; }
  void start(Index K) {
    ws_.state.resize(ws_.v.layers(), ws_.v.h.front().rows(), K);
    for (std::size_t l = 0; l < ws_.v.h.size(); ++l) {
      ws_.state.h[l] = ws_.v.h[l].col(0).replicate(1, K);
      ws_.state.c[l] = ws_.v.c[l].col(0).replicate(1, K);
    }
  }
  template <typename M>
  void step(const std::vector<TokenId>& last, M& log_probs) {
    model_.decoder().step(last, ws_.state, log_probs, ws_.step);
  }
  void reorder(const std::vector<Index>& parents) {
    const auto K = static_cast<Index>(parents.size());
    ws_.reordered.resize(ws_.state.layers(), ws_.state.h.front().rows(), K);
    for (std::size_t l = 0; l < ws_.state.h.size(); ++l)
      for (Index k = 0; k < K; ++k) {
        ws_.reordered.h[l].col(k) = ws_.state.h[l].col(parents[static_cast<std::size_t>(k)]);
        ws_.reordered.c[l].col(k) = ws_.state.c[l].col(parents[static_cast<std::size_t>(k)]);
      }
    std::swap(ws_.state, ws_.reordered);
  }
  /// The workspace (its log_probs buffer is free for beam_search's use).
  Workspace& workspace() { return ws_; }

 private:
  const Model& model_;
  Workspace& ws_;
  std::vector<Sentence> sources_;
};

/// Beam search of one sentence with one model (Seq2Seq::translate).
template <typename Model>
std::vector<Hypothesis> beam_translate(const Model& model, const Sentence& source, const DecodeOptions& opt,
                                       typename Model::DecodeWorkspace& ws) {
  ModelScorer<Model> scorer(model, source, ws);
  return beam_search(scorer, opt, model.output_limit(static_cast<Index>(source.size()), opt.max_length), ws.log_probs);
}

/// The batch scorer of batch_search.hpp for one model in its precision (Seq2Seq::set_precision):
/// encodes one batch of sources at construction, `copies` decoder columns per sentence with room
/// for `capacity` columns, and each step advances every live column at once (one product per
/// weight matrix and step for the whole batch). With a shortlist the scores cover its words for
/// these sources only. All buffers are the workspace's (ws.batch), reused from batch to batch.
template <typename Model>
class BatchModelScorer {
 public:
  using Scalar = typename Model::Scalar;
  using Workspace = typename Model::DecodeWorkspace;

  BatchModelScorer(const Model& model, const std::vector<Sentence>& sources, const Shortlist* shortlist, Index copies,
                   Index capacity, Workspace& ws)
      : model_(model), ws_(ws), weights_(model.decode_weights()) {
    model.encoder().layout(sources, ws.encoder, model.config().max_length);
    detail::inference_encode(model, ws.encoder, weights_, copies, capacity, ws.batch);
    detail::inference_rows(model, sources, shortlist, weights_, ws.batch);
  }
  Index rows() const {
    return ws_.batch.rows.empty() ? model_.config().target_vocab : static_cast<Index>(ws_.batch.rows.size());
  }
  TokenId token(Index row) const {
    return ws_.batch.rows.empty() ? static_cast<TokenId>(row) : ws_.batch.rows[static_cast<std::size_t>(row)];
  }
  Index columns() const { return ws_.batch.columns; }
  /// Feeds `last`; the scores are the logits, and with `normalise` normaliser(j) is column j's
  /// log-sum-exp (log-probabilities = scores - normaliser, as SoftmaxNLL::log_softmax_inplace
  /// computes them). Returns false when a normaliser is NaN (NaN or +Inf logits).
  bool step(const std::vector<TokenId>& last, bool normalise) {
    detail::inference_step(model_, last, weights_, ws_.batch);
    auto Z = scores();
    lse_.resize(static_cast<std::size_t>(std::max<Index>(Z.cols(), static_cast<Index>(lse_.size()))));
    bool ok = true;
    for (Index j = 0; j < Z.cols(); ++j) {
      Scalar lse = 0;
      if (normalise) {
        const auto z = Z.col(j);
        const Scalar m = z.maxCoeff();
        lse = m + std::log((z.array() - m).exp().sum());
        ok = ok && !std::isnan(lse);
      }
      lse_[static_cast<std::size_t>(j)] = lse;
    }
    return ok;
  }
  auto scores() { return ws_.batch.logits.leftCols(ws_.batch.columns); }
  Scalar normaliser(Index column) const { return lse_[static_cast<std::size_t>(column)]; }
  void reorder(const std::vector<Index>& parents) { detail::inference_reorder(parents, ws_.batch); }
  Workspace& workspace() { return ws_; }

 private:
  const Model& model_;
  Workspace& ws_;
  const DecodeWeights<Scalar>* weights_;
  std::vector<Scalar> lse_;
};

namespace detail {

/// Throws std::invalid_argument when a source is empty (naming its place in the caller's list).
inline void check_sources(const std::vector<Sentence>& sources, const char* who) {
  for (std::size_t i = 0; i < sources.size(); ++i)
    require(!sources[i].empty(), [&] {
      return std::string(who) + ": source sentence " + std::to_string(i) + " is empty";
    });
}

/// The sampling stream of a source: FNV-1a 64 of its ids (as 4 little-endian bytes each), so a
/// sentence draws the same words wherever it stands in the list and whatever the batch.
inline std::uint64_t sampling_stream(const Sentence& source) {
  std::uint64_t h = fnv1a64_offset_basis;
  for (TokenId id : source) {
    const auto u = static_cast<std::uint32_t>(id);
    for (int b = 0; b < 4; ++b) h = (h ^ ((u >> (8 * b)) & 0xffu)) * fnv1a64_prime;
  }
  return h;
}

/// Runs `decode(batch, limits, streams, first)` on batches of opt.batch_size sources of similar
/// length (data/batcher.hpp's inference_batches), `first` the positions in `sources`.
template <typename Model, typename Decode>
void for_each_batch(const Model& model, const std::vector<Sentence>& sources, const DecodeOptions& opt,
                    Decode&& decode) {
  std::vector<Sentence> batch;
  std::vector<Index> limits;
  std::vector<std::uint64_t> streams;
  for (const auto& idx : inference_batches(sources, static_cast<std::size_t>(opt.batch_size))) {
    batch.clear();
    limits.clear();
    streams.clear();
    for (std::size_t i : idx) {
      batch.push_back(sources[i]);
      limits.push_back(model.output_limit(static_cast<Index>(sources[i].size()), opt.max_length));
      streams.push_back(sampling_stream(sources[i]));
    }
    decode(batch, limits, streams, idx);
  }
}

}  // namespace detail

/// Translates many sentences (Seq2Seq::translate of a list): batches of opt.batch_size sources of
/// similar length, the hypotheses of all of them as the columns of one decoder batch; beam
/// search (batch_beam_search: per sentence the same hypotheses as beam_translate) or, with
/// opt.sample, sampling (batch_sample). Returns, per source in order, up to nbest hypotheses, best first.
template <typename Model>
std::vector<std::vector<Hypothesis>> batch_translate(const Model& model, const std::vector<Sentence>& sources,
                                                     const DecodeOptions& opt, typename Model::DecodeWorkspace& ws) {
  check_decode_options(opt);
  detail::check_sources(sources, "translate");
  std::vector<std::vector<Hypothesis>> out(sources.size());
  const Index copies = opt.sample ? opt.nbest : 1;
  const Index per_sentence = opt.sample ? opt.nbest : opt.beam;
  detail::for_each_batch(model, sources, opt, [&](const auto& batch, const auto& limits, const auto& streams, const auto& idx) {
    BatchModelScorer<Model> scorer(model, batch, opt.shortlist, copies, static_cast<Index>(batch.size()) * per_sentence, ws);
    auto r = opt.sample ? batch_sample(scorer, limits, opt, streams) : batch_beam_search(scorer, limits, opt);
    for (std::size_t k = 0; k < idx.size(); ++k) out[idx[k]] = std::move(r[k]);
  });
  return out;
}

/// Greedy decoding of a whole batch at once (Seq2Seq::translate_greedy): each column takes the word
/// of the largest logit (no softmax; ties to the lower id, never <pad> or <s>) until <EOS> or its
/// output limit, and leaves the batch when it ends. With a shortlist only its words can be chosen.
template <typename Model>
std::vector<Sentence> greedy_translate(const Model& model, const std::vector<Sentence>& sources,
                                       typename Model::DecodeWorkspace& ws, Index max_length,
                                       const Shortlist* shortlist = nullptr) {
  if (sources.empty()) return {};
  std::vector<Index> limits;
  for (const Sentence& s : sources) limits.push_back(model.output_limit(static_cast<Index>(s.size()), max_length));
  BatchModelScorer<Model> scorer(model, sources, shortlist, 1, static_cast<Index>(sources.size()), ws);
  return batch_greedy_search(scorer, limits);
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_DECODING_HPP

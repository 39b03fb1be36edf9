// seq2seq: decoding with one model: greedy search of a whole batch, and the next-word scorer that
// beam_search drives (the K hypotheses of the beam as K columns of one decoder batch).
#ifndef SEQ2SEQ_DECODING_HPP
#define SEQ2SEQ_DECODING_HPP

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "beam_search.hpp"
#include "config.hpp"
#include "data/types.hpp"

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

/// Greedy decoding of a whole batch at once (Seq2Seq::translate_greedy): each column takes its
/// most likely word (ties to the lower id, never <pad> or <s>) until <EOS> or its output limit.
template <typename Model>
std::vector<Sentence> greedy_translate(const Model& model, const std::vector<Sentence>& sources,
                                       typename Model::DecodeWorkspace& ws, Index max_length) {
  using Scalar = typename Model::Scalar;
  const auto B = static_cast<Index>(sources.size());
  std::vector<Sentence> out(static_cast<std::size_t>(B));
  if (B == 0) return out;
  model.encode(sources, ws.encoder, ws.v);
  ws.state = ws.v;
  std::vector<TokenId> last(static_cast<std::size_t>(B), Special::bos);
  std::vector<char> finished(static_cast<std::size_t>(B), 0);
  Index remaining = B;
  for (Index t = 0; remaining > 0; ++t) {
    model.decoder().step(last, ws.state, ws.log_probs, ws.step);
    for (Index b = 0; b < B; ++b) {
      const auto ub = static_cast<std::size_t>(b);
      if (finished[ub]) continue;
      const Index limit = model.output_limit(static_cast<Index>(sources[ub].size()), max_length);
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

#endif  // SEQ2SEQ_DECODING_HPP

// seq2seq: several models decoding together (the paper's ensembles of 5 reversed LSTMs).
#ifndef SEQ2SEQ_ENSEMBLE_HPP
#define SEQ2SEQ_ENSEMBLE_HPP

#include <memory>
#include <string>
#include <vector>

#include "beam_search.hpp"
#include "config.hpp"
#include "data/types.hpp"
#include "decoding.hpp"

namespace seq2seq {

/// Several models decoding together. Combination rule: at every step the members' next-word
/// probabilities are averaged (arithmetic mean of p, not of log p), and the hypotheses are ranked
/// by the log of that average. Every member must share the target vocabulary; the members may
/// differ in every other size.
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

  /// Beam search with the averaged distribution. When a member decodes in a set precision, or
  /// with a shortlist or sampling, this is translate of a list of one sentence.
  std::vector<Hypothesis> translate(const Sentence& source, const DecodeOptions& opt = DecodeOptions()) const {
    bool batched = opt.shortlist != nullptr || opt.sample;
    for (const Model* m : members_) batched = batched || m->decode_weights() != nullptr;
    if (batched) return std::move(translate(std::vector<Sentence>{source}, opt).front());
    Scorer s(*this, source);
    Mat log_probs;
    return beam_search(s, opt, members_.front()->output_limit(static_cast<Index>(source.size()), opt.max_length),
                       log_probs);
  }

  /// Translates many sentences together (batch_translate with every member): per batch one
  /// BatchScorer over the members' batch scorers, each member in its own precision; beam search
  /// with the same results as translate(source) of each, or sampling with opt.sample.
  std::vector<std::vector<Hypothesis>> translate(const std::vector<Sentence>& sources,
                                                 const DecodeOptions& opt = DecodeOptions()) const {
    std::vector<typename Model::DecodeWorkspace> ws(members_.size());
    return translate(sources, opt, ws);
  }
  /// The same with the caller's workspaces (one per member).
  std::vector<std::vector<Hypothesis>> translate(const std::vector<Sentence>& sources, const DecodeOptions& opt,
                                                 std::vector<typename Model::DecodeWorkspace>& ws) const {
    check_decode_options(opt);
    detail::check_sources(sources, "Ensemble::translate");
    detail::require(ws.size() == members_.size(), "Ensemble::translate: one workspace per member is needed");
    std::vector<std::vector<Hypothesis>> out(sources.size());
    const Index copies = opt.sample ? opt.nbest : 1;
    const Index per_sentence = opt.sample ? opt.nbest : opt.beam;
    detail::for_each_batch(*members_.front(), sources, opt,
                           [&](const auto& batch, const auto& limits, const auto& streams, const auto& idx) {
                             BatchScorer scorer(*this, batch, opt.shortlist, copies,
                                                static_cast<Index>(batch.size()) * per_sentence, ws);
                             auto r = opt.sample ? batch_sample(scorer, limits, opt, streams)
                                                 : batch_beam_search(scorer, limits, opt);
                             for (std::size_t k = 0; k < idx.size(); ++k) out[idx[k]] = std::move(r[k]);
                           });
    return out;
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

  /// The next-word scorer of beam_search over every member: one ModelScorer per member, their
  /// probabilities averaged at every step.
  class Scorer {
   public:
    /// Encodes `source` with every member, in `workspaces` (one per member) when given, else in
    /// workspaces of its own.
    Scorer(const Ensemble& e, const Sentence& source, std::vector<typename Model::DecodeWorkspace*> workspaces = {}) {
      if (workspaces.empty()) {
        owned_.resize(e.members_.size());
        for (auto& w : owned_) workspaces.push_back(&w);
      }
      detail::require(workspaces.size() == e.members_.size(), "Ensemble::Scorer: one workspace per member is needed");
      members_.reserve(e.members_.size());
      for (std::size_t m = 0; m < e.members_.size(); ++m) members_.emplace_back(*e.members_[m], source, *workspaces[m]);
    }
    Index vocab_size() const { return members_.front().vocab_size(); }
    void start(Index K) {
      for (auto& m : members_) m.start(K);
    }
    template <typename M>
    void step(const std::vector<TokenId>& last, M& log_probs) {
      if (members_.size() == 1) {
        members_.front().step(last, log_probs);
        return;
      }
      for (std::size_t m = 0; m < members_.size(); ++m) {
        Mat& lp = members_[m].workspace().log_probs;
        members_[m].step(last, lp);
        if (m == 0)
          log_probs = lp.array().exp().matrix();
        else
          log_probs.array() += lp.array().exp();
      }
      log_probs.array() = (log_probs.array() / static_cast<Scalar>(members_.size())).log();
    }
    void reorder(const std::vector<Index>& parents) {
      for (auto& m : members_) m.reorder(parents);
    }

   private:
    std::vector<typename Model::DecodeWorkspace> owned_;  // before members_: they point into it
    std::vector<ModelScorer<Model>> members_;
  };

  /// The batch scorer of batch_search.hpp over every member: one BatchModelScorer per member (in
  /// `ws`, one workspace each), their probabilities averaged at every step. Without log_probs
  /// the scores are the same averaged log-probabilities (an ensemble has no common logits).
  class BatchScorer {
   public:
    BatchScorer(const Ensemble& e, const std::vector<Sentence>& sources, const Shortlist* shortlist, Index copies,
                Index capacity, std::vector<typename Model::DecodeWorkspace>& ws) {
      members_.reserve(e.members_.size());
      for (std::size_t m = 0; m < e.members_.size(); ++m)
        members_.emplace_back(*e.members_[m], sources, shortlist, copies, capacity, ws[m]);
      for (const auto& m : members_)
        detail::require(m.rows() == members_.front().rows(), "Ensemble: the members' output rows differ");
      detail::ensure_capacity(combined_, members_.front().rows(), capacity);
    }
    Index rows() const { return members_.front().rows(); }
    TokenId token(Index row) const { return members_.front().token(row); }
    Index columns() const { return members_.front().columns(); }
    /// With several members the scores are the averaged log-probabilities (normaliser 0).
    bool step(const std::vector<TokenId>& last, bool normalise) {
      if (members_.size() == 1) return members_.front().step(last, normalise);
      auto out = combined_.leftCols(columns());
      bool ok = true;
      for (std::size_t m = 0; m < members_.size(); ++m) {
        ok = members_[m].step(last, true) && ok;
        auto Z = members_[m].scores();
        for (Index j = 0; j < Z.cols(); ++j) {
          const Scalar lse = members_[m].normaliser(j);
          if (m == 0)
            out.col(j) = (Z.col(j).array() - lse).exp().matrix();
          else
            out.col(j).array() += (Z.col(j).array() - lse).exp();
        }
      }
      out.array() = (out.array() / static_cast<Scalar>(members_.size())).log();
      return ok && !out.hasNaN();
    }
    auto scores() {
      return members_.size() == 1 ? members_.front().scores() : combined_.leftCols(columns());
    }
    Scalar normaliser(Index column) const { return members_.size() == 1 ? members_.front().normaliser(column) : Scalar(0); }
    void reorder(const std::vector<Index>& parents) {
      for (auto& m : members_) m.reorder(parents);
    }

   private:
    std::vector<BatchModelScorer<Model>> members_;
    Mat combined_;
  };

 private:
  std::vector<const Model*> members_;
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_ENSEMBLE_HPP

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

 private:
  std::vector<const Model*> members_;
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_ENSEMBLE_HPP

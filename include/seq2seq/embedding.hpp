// seq2seq: token-id lookup table with sparse gradient accumulation.
#ifndef SEQ2SEQ_EMBEDDING_HPP
#define SEQ2SEQ_EMBEDDING_HPP

#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "param.hpp"

namespace seq2seq {

/// Word embeddings: x = E[:, id]. E is Dim x V (one column per word, so a lookup copies one
/// contiguous column; PyTorch's nn.Embedding.weight is its transpose). Dim is compile-time or
/// Dynamic; V is always chosen at run time. Parameter name: "E".
template <typename Scalar_, int Dim_>
class Embedding {
 public:
  using Scalar = Scalar_;
  static constexpr int Dim = Dim_;
  using Mat = Matrix<Scalar>;

  explicit Embedding(Index vocab = 0, Index dim = Dim_) : dim_(detail::resolve_size(Dim_, dim, "Embedding dimension")) {
    detail::require(vocab >= 0, "Embedding: vocabulary size must not be negative");
    E_.resize(dim_, vocab);
  }

  Index dim() const { return dim_; }
  Index vocab_size() const { return E_.value.cols(); }
  Param<Scalar>& E() { return E_; }
  const Param<Scalar>& E() const { return E_; }

  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    visit_impl(*this, f, prefix);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    visit_impl(*this, f, prefix);
  }

  /// X (Dim x n) = the columns of E for ids[0..n). Ids out of range throw.
  template <typename Id>
  void forward(const std::vector<Id>& ids, Mat& X) const {
    const Index n = static_cast<Index>(ids.size());
    detail::ensure_shape(X, dim_, n);
    for (Index k = 0; k < n; ++k) X.col(k) = E_.value.col(checked(ids[static_cast<std::size_t>(k)]));
  }

  /// Accumulates dX (Dim x n) into the columns of dE named by ids (a word used twice gets both).
  template <typename Id>
  void backward(const std::vector<Id>& ids, const Eigen::Ref<const Mat>& dX) {
    detail::require(dX.rows() == dim_ && dX.cols() == static_cast<Index>(ids.size()),
                    "Embedding::backward: dX must be dim x number of ids");
    for (Index k = 0; k < dX.cols(); ++k) E_.grad.col(checked(ids[static_cast<std::size_t>(k)])) += dX.col(k);
  }

 private:
  template <typename Self, typename F>
  static void visit_impl(Self& self, F& f, const ParamName& prefix) {
    f(prefix.child("E"), self.E_);
  }

  template <typename Id>
  Index checked(Id id) const {
    const auto v = static_cast<std::int64_t>(id);
    if (v < 0 || v >= static_cast<std::int64_t>(E_.value.cols()))
      throw std::out_of_range("seq2seq: token id " + std::to_string(v) + " is outside the vocabulary of " +
                              std::to_string(E_.value.cols()) + " words");
    return static_cast<Index>(v);
  }

  Index dim_;
  Param<Scalar> E_;
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_EMBEDDING_HPP

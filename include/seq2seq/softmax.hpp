// seq2seq: output projection, log-softmax and negative log-likelihood, fused and chunked over time.
#ifndef SEQ2SEQ_SOFTMAX_HPP
#define SEQ2SEQ_SOFTMAX_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "config.hpp"
#include "detail/gemm.hpp"
#include "detail/parallel.hpp"
#include "param.hpp"

namespace seq2seq {

/// Scratch of SoftmaxNLL, owned by the caller: logits of one chunk (V x chunk columns).
template <typename Scalar>
struct SoftmaxWorkspace {
  Matrix<Scalar> logits;
  std::vector<Scalar> picked;  // log p(y) of each column of a chunk (grow-only)
};

/// The totals of a loss pass.
struct NLLResult {
  double nll = 0;    // sum of -log p(y) over the real (unmasked) positions
  Index tokens = 0;  // number of real positions
};

/// Output layer of the decoder: for every column h (Hidden),
///   (1) z = W h + b              W: V x Hidden, b: V x 1
///   (2) log p = z - logsumexp(z)
///   (3) loss = -log p[y]
/// Forward and backward are fused: a chunk of columns is projected, normalised, turned into
/// dz = (softmax(z) - onehot(y)) * scale and multiplied back at once, so no V x T*B buffer exists
/// (the chunk holds at most `chunk_budget` scalars). Parameter names: "W", "b".
template <typename Scalar_, int Hidden_>
class SoftmaxNLL {
 public:
  using Scalar = Scalar_;
  static constexpr int Hidden = Hidden_;
  using Mat = Matrix<Scalar>;

  explicit SoftmaxNLL(Index vocab = 0, Index hidden = Hidden_)
      : hidden_(detail::resolve_size(Hidden_, hidden, "SoftmaxNLL hidden size")) {
    detail::require(vocab >= 0, "SoftmaxNLL: vocabulary size must not be negative");
    W_.resize(vocab, hidden_);
    b_.resize(vocab, 1);
  }

  Index vocab_size() const { return W_.value.rows(); }
  Index hidden_size() const { return hidden_; }
  Param<Scalar>& W() { return W_; }
  Param<Scalar>& b() { return b_; }
  const Param<Scalar>& W() const { return W_; }
  const Param<Scalar>& b() const { return b_; }

  /// Scalars per chunk of logits (default 1M: 4 MiB in float, a few time steps of a large vocabulary;
  /// enough columns for an efficient GEMM, small beside the BPTT cache).
  Index chunk_budget = Index(1) << 20;

  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    visit_impl(*this, f, prefix);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    visit_impl(*this, f, prefix);
  }

  /// Loss over Hs (Hidden x n) with targets (n ids) and optional mask (n entries of 0/1; empty =
  /// all real). With dH != nullptr also backward: writes *dH (Hidden x n), accumulates W and b
  /// gradients, every real position's gradient scaled by `scale` (1/B for the paper's loss).
  /// `group` columns stay together in a chunk (the batch size, so chunks are whole time steps).
  /// `column_nll`, when not null, receives -log p[y] of every column (0 at masked ones).
  template <typename Id>
  NLLResult forward_backward(const Eigen::Ref<const Mat>& Hs, const std::vector<Id>& targets,
                             const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>& mask, Scalar scale, Mat* dH,
                             SoftmaxWorkspace<Scalar>& ws, Index group = 1, std::vector<double>* column_nll = nullptr) {
    return run(Hs, targets, mask, scale, dH, ws, group, column_nll, &W_.grad, &b_.grad);
  }
  /// The loss alone (no gradients); const, so one layer serves several threads.
  template <typename Id>
  NLLResult loss(const Eigen::Ref<const Mat>& Hs, const std::vector<Id>& targets,
                 const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>& mask, SoftmaxWorkspace<Scalar>& ws, Index group = 1,
                 std::vector<double>* column_nll = nullptr) const {
    return run(Hs, targets, mask, Scalar(1), nullptr, ws, group, column_nll, nullptr, nullptr);
  }

  /// Log-probabilities of the next word for each column of Hs (Hidden x K): out is V x K.
  void log_probs(const Eigen::Ref<const Mat>& Hs, Mat& out) const {
    detail::require(Hs.rows() == hidden_, "SoftmaxNLL::log_probs: input rows differ from the hidden size");
    detail::ensure_shape(out, vocab_size(), Hs.cols());
    detail::gemm(detail::Op::N, W_.value, detail::Op::N, Hs, out, false);
    out.colwise() += b_.value.col(0);
    for (Index j = 0; j < out.cols(); ++j) log_softmax_inplace(out.col(j));
  }

  /// z -> z - logsumexp(z), numerically stable.
  template <typename Col>
  static void log_softmax_inplace(Col&& z) {
    const Scalar m = z.maxCoeff();
    const Scalar lse = m + std::log((z.array() - m).exp().sum());
    z.array() -= lse;
  }

 private:
  template <typename Self, typename F>
  static void visit_impl(Self& self, F& f, const ParamName& prefix) {
    f(prefix.child("W"), self.W_);
    f(prefix.child("b"), self.b_);
  }

  template <typename Id>
  NLLResult run(const Eigen::Ref<const Mat>& Hs, const std::vector<Id>& targets,
                const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>& mask, Scalar scale, Mat* dH,
                SoftmaxWorkspace<Scalar>& ws, Index group, std::vector<double>* column_nll, Mat* dW, Mat* db) const;

  Index hidden_;
  Param<Scalar> W_, b_;
};

template <typename Scalar, int Hidden>
template <typename Id>
NLLResult SoftmaxNLL<Scalar, Hidden>::run(const Eigen::Ref<const Mat>& Hs, const std::vector<Id>& targets,
                                          const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>& mask, Scalar scale, Mat* dH,
                                          SoftmaxWorkspace<Scalar>& ws, Index group, std::vector<double>* column_nll,
                                          Mat* dW, Mat* db) const {
  const Index n = Hs.cols();
  const Index V = vocab_size();
  detail::require(Hs.rows() == hidden_, "SoftmaxNLL: input rows differ from the hidden size");
  detail::require(static_cast<Index>(targets.size()) == n, [&] {
    return std::string("SoftmaxNLL: " + std::to_string(targets.size()) + " targets for " + std::to_string(n) +
                       " columns");
  });
  detail::require(mask.size() == 0 || mask.size() == n, "SoftmaxNLL: mask length differs from the number of columns");
  detail::require(group > 0 && n % group == 0, "SoftmaxNLL: columns are not a multiple of the group size");
  detail::require(V > 0, "SoftmaxNLL: empty vocabulary");
  const Index groups_per_chunk = std::max<Index>(1, chunk_budget / std::max<Index>(1, V * group));
  const Index chunk = std::min(n, groups_per_chunk * group);
  if (dH != nullptr) detail::ensure_shape(*dH, hidden_, n);
  if (column_nll != nullptr) column_nll->assign(static_cast<std::size_t>(n), 0.0);

  detail::ensure_shape(ws.logits, V, chunk);

  NLLResult out;
  for (Index start = 0; start < n; start += chunk) {
    const Index len = std::min(chunk, n - start);
    auto Z = ws.logits.leftCols(len);
    const auto Hc = Hs.middleCols(start, len);
    detail::gemm(detail::Op::N, W_.value, detail::Op::N, Hc, Z, false);  // (1)
    // Targets are checked before the columns run in parallel (nothing may throw there).
    for (Index j = 0; j < len; ++j) {
      const Index k = start + j;
      const auto y64 = static_cast<std::int64_t>(targets[static_cast<std::size_t>(k)]);
      const bool real = mask.size() == 0 || mask(k) != Scalar(0);
      if (real && (y64 < 0 || y64 >= V))
        throw std::out_of_range("seq2seq: target id " + std::to_string(y64) + " is outside the vocabulary of " +
                                std::to_string(V) + " words");
    }
    if (ws.picked.size() < static_cast<std::size_t>(len)) ws.picked.resize(static_cast<std::size_t>(len));
    // Column by column, split over the library's threads: each column's arithmetic is the same
    // on any number of threads.
    detail::parallel_ranges(len, 2, [&](Index first, Index last) {
      for (Index j = first; j < last; ++j) {
        const Index k = start + j;
        auto z = Z.col(j);
        if (mask.size() != 0 && mask(k) == Scalar(0)) {
          z.setZero();
          continue;
        }
        const Index y = static_cast<Index>(targets[static_cast<std::size_t>(k)]);
        z += b_.value.col(0);
        log_softmax_inplace(z);  // (2)
        ws.picked[static_cast<std::size_t>(j)] = z(y);
        if (dH != nullptr) {
          z.array() = z.array().exp() * scale;  // d(3)/dz = softmax(z) - onehot(y)
          z(y) -= scale;
        }
      }
    }, 1);
    for (Index j = 0; j < len; ++j) {  // (3), summed in column order
      const Index k = start + j;
      if (mask.size() != 0 && mask(k) == Scalar(0)) continue;
      const Scalar picked = ws.picked[static_cast<std::size_t>(j)];
      out.nll -= static_cast<double>(picked);
      if (column_nll != nullptr) (*column_nll)[static_cast<std::size_t>(k)] = -static_cast<double>(picked);
      ++out.tokens;
    }
    if (dH != nullptr) {
      detail::gemm(detail::Op::N, Z, detail::Op::T, Hc, *dW, true);
      db->col(0) += Z.rowwise().sum();
      detail::gemm(detail::Op::T, W_.value, detail::Op::N, Z, dH->middleCols(start, len), false);
    }
  }
  return out;
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_SOFTMAX_HPP

// seq2seq: synchronous data-parallel training: every rank trains on its slice of each global batch and the gradients are all-reduced before the update.
// Part of the optional MPI support (seq2seq/distributed/mpi.hpp has the overview); needs an MPI
// implementation's C API (Debian: libopenmpi-dev) and MPI::MPI_CXX from find_package(MPI).
#ifndef SEQ2SEQ_DISTRIBUTED_DATA_PARALLEL_HPP
#define SEQ2SEQ_DISTRIBUTED_DATA_PARALLEL_HPP

// communicator.hpp decides whether MPI is there (without it, this header declares nothing too)
// and includes <mpi.h>, C API only.
#include "communicator.hpp"

#ifndef SEQ2SEQ_DISTRIBUTED_MPI_UNAVAILABLE

#include "../config.hpp"
#include "../data/types.hpp"
#include "../model_config.hpp"
#include "../detail/fnv1a.hpp"
#include "../param.hpp"
#include "../param_layout.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace seq2seq {
namespace mpi {

/// FNV-1a 64 of a batch's sentence lengths and token ids: ranks that build "the same" global
/// batch can check that they really do.
inline std::uint64_t batch_checksum(const PairBatch& batch) {
  std::uint64_t h = detail::fnv1a64_offset_basis;
  for (const auto* side : {&batch.source, &batch.target}) {
    h = detail::fnv1a64_value(static_cast<std::uint64_t>(side->size()), h);
    for (const Sentence& s : *side) {
      h = detail::fnv1a64_value(static_cast<std::uint64_t>(s.size()), h);
      if (!s.empty()) h = detail::fnv1a64(s.data(), sizeof(TokenId) * s.size(), h);
    }
  }
  return h;
}

/// Parameter scalars of a model (allocates nothing).
template <typename Model>
std::int64_t parameter_scalars(const Model& model) {
  std::int64_t n = 0;
  model.visit_parameters([&](const ParamName&, const auto& p) { n += static_cast<std::int64_t>(p.value.size()); });
  return n;
}

/// The examples [begin, end) of a global batch that one rank trains on.
struct ShardRange {
  std::size_t begin = 0, end = 0;
  std::size_t size() const { return end - begin; }
  bool empty() const { return end == begin; }
};

/// Rank r's contiguous slice of a global batch of `global_size` examples over `ranks` ranks: the
/// first global_size % ranks ranks take one example more (5 over 2 ranks: [0, 3) and [3, 5)).
/// Contiguous rather than strided because the batcher sorts a batch by length: a contiguous slice
/// keeps each shard's lengths alike, so each rank pads little. With fewer examples than ranks the
/// last ranks get empty slices. Deterministic: depends on the three numbers only.
inline ShardRange shard_range(std::size_t global_size, int rank, int ranks) {
  if (ranks < 1 || rank < 0 || rank >= ranks)
    throw Error("shard_range: rank " + std::to_string(rank) + " of " + std::to_string(ranks) + " ranks");
  const auto R = static_cast<std::size_t>(ranks), r = static_cast<std::size_t>(rank);
  const std::size_t base = global_size / R, extra = global_size % R;
  ShardRange s;
  s.begin = r * base + std::min(r, extra);
  s.end = s.begin + base + (r < extra ? 1 : 0);
  return s;
}

/// Copies `global`'s examples [range.begin, range.end) into `out` (reusing its storage).
inline void take_shard(const PairBatch& global, const ShardRange& range, PairBatch& out) {
  if (global.source.size() != global.target.size())
    throw Error("take_shard: the global batch has " + std::to_string(global.source.size()) + " sources but " +
                std::to_string(global.target.size()) + " targets");
  if (range.end > global.size() || range.begin > range.end)
    throw Error("take_shard: range [" + std::to_string(range.begin) + ", " + std::to_string(range.end) +
                ") outside a batch of " + std::to_string(global.size()));
  out.source.resize(range.size());
  out.target.resize(range.size());
  for (std::size_t i = 0; i < range.size(); ++i) {
    out.source[i] = global.source[range.begin + i];
    out.target[i] = global.target[range.begin + i];
  }
}

/// How the rank's loss was normalised, which fixes the weight n_r / N of its gradient.
enum class LossWeighting {
  automatic,  ///< the model's config().per_token_loss when it has one, else sequences
  sequences,  ///< loss = nll / sequences (the paper's)
  tokens,     ///< loss = nll / target tokens
};

/// Settings of DataParallel.
struct DataParallelOptions {
  /// Bytes per gradient bucket (the buffer is made once; buckets are views of it). Each bucket is
  /// all-reduced as soon as it is packed; 0 puts the whole gradient in one bucket.
  std::size_t bucket_bytes = std::size_t{4} << 20;
  /// true: MPI_Iallreduce on bucket k while bucket k+1 is packed, then wait and unpack in order.
  /// false (the default): pack a bucket, MPI_Allreduce it, go on. Measured on one machine
  /// (docs/scaling.md) the overlap does not pay: over shared memory the reduction is itself CPU
  /// work competing with the packing, and Open MPI's non-blocking collectives (libnbc) run slower
  /// algorithms than its blocking ones. It may pay on a network whose adapter progresses the
  /// reduction by itself.
  bool overlap = false;
  LossWeighting weighting = LossWeighting::automatic;
};

/// Where a data-parallel step spent its time (MPI_Wtime seconds, summed over the steps since the
/// last reset_timing). `total` is everything inside the hook: the step's communication cost.
struct DataParallelTiming {
  std::int64_t steps = 0;
  double total = 0;   ///< the whole hook
  double counts = 0;  ///< the small exchange of counts, losses and checks (MPI_Allgather)
  double pack = 0;    ///< scaling gradients into buckets (and starting their all-reduces)
  double reduce = 0;  ///< waiting for the all-reduces and copying the sums back
};

}  // namespace mpi
namespace detail {

template <typename M, typename = void>
struct has_per_token_config : std::false_type {};
template <typename M>
struct has_per_token_config<M, std::void_t<decltype(bool(std::declval<const M&>().config().per_token_loss))>>
    : std::true_type {};

/// What each rank contributes to a step's small exchange (gathered, then combined in rank order,
/// so every rank computes bit-identical sums).
struct StepInfo {
  double nll = 0;
  double tokens = 0;
  double sequences = 0;
  double loss_finite = 1;    // 0 when this rank's loss is NaN or Inf
  double failed = 0;         // 1 when this rank failed before its hook (DataParallel::step)
  std::int64_t scalars = 0;  // Layout
  std::uint64_t signature = 0;
  std::uint64_t batch = 0;   // batch_checksum of the global batch given to shard(); 0 without shard()
  std::int64_t global_size = -1;
};

}  // namespace detail
namespace mpi {

/// The data-parallel gradient hook over a Communicator; one object per training loop (it owns the
/// reused buffers). Scalar is the model's scalar type.
///
/// Per step (collective: every rank calls it once per step, in the same order):
///  1. one small MPI_Allgather of each rank's nll, token and sequence counts, loss finiteness, model
///     layout and batch checksum; every rank combines them in rank order, so all get the same N
///     (global sequences, or tokens) and the same global LossStats (nll, tokens, sequences summed;
///     loss = nll / N, NaN when any rank's loss is not finite). Ranks whose models or global
///     batches differ make every rank throw Error here, before any gradient moves;
///  2. each rank packs its gradient, scaled by n_r / N, into contiguous buckets of a buffer made
///     once (no allocation in the steady state) and all-reduces them (SUM);
///  3. the sums are copied back into every Param::grad. The Trainer's NaN guard, clipping and
///     optimizer step then act on the same numbers on every rank.
///
/// An empty shard (a global batch smaller than the rank count) cannot be trained on (the model
/// refuses empty batches), so shard() hands such a rank a one-word stand-in pair taken from the
/// global batch; its gradient is replaced by zeros and its counts by 0 in the hook, so it
/// contributes nothing and still takes part in every collective. A NaN in the stand-in's own
/// gradient is discarded with it (it is not training data).
///
/// Failures: every check whose outcome depends on more than one rank is decided on gathered data,
/// so all ranks throw together. An exception that leaves one rank alone between collectives (an
/// error in the caller's own code, say) leaves the others waiting in their next collective:
/// catch it and end the job with Communicator::abort. So does an MPI error inside the gradient
/// exchange, after which reductions may still be in flight.
template <typename Scalar>
class DataParallel {
 public:
  using Timing = DataParallelTiming;
  using Options = DataParallelOptions;

  explicit DataParallel(const Communicator& comm, Options options = Options()) : comm_(comm), options_(options) {
    const std::size_t elems = options_.bucket_bytes / sizeof(Scalar);
    bucket_elems_ = options_.bucket_bytes == 0 ? detail::max_count : std::clamp<std::size_t>(elems, 1, detail::max_count);
  }
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  const Communicator& communicator() const { return comm_; }
  const Options& options() const { return options_; }

  /// This rank's part of `global` (see shard_range), or a one-word stand-in pair when that part is
  /// empty (see the class comment). The reference stays valid until the next call. Throws Error
  /// when `global` is empty (on every rank: they all hold the same global batch).
  const PairBatch& shard(const PairBatch& global) {
    if (global.size() == 0 || global.source.size() != global.target.size())
      throw Error("shard: the global batch is empty or has " + std::to_string(global.source.size()) + " sources but " +
                  std::to_string(global.target.size()) + " targets");
    const ShardRange range = shard_range(global.size(), comm_.rank(), comm_.size());
    shard_begin_ = range.begin;
    batch_checksum_ = batch_checksum(global);
    global_size_ = static_cast<std::int64_t>(global.size());
    stand_in_ = range.empty();
    if (!stand_in_) {
      take_shard(global, range, shard_);
      return shard_;
    }
    // The shortest valid pair the model accepts: the first word of the first source and target
    // (both non-empty in any batch the model would train on; otherwise the whole first pair, so
    // the model reports the bad input as it would on the other ranks).
    shard_.source.resize(1);
    shard_.target.resize(1);
    const Sentence& s = global.source.front();
    const Sentence& t = global.target.front();
    shard_.source[0].assign(s.begin(), s.begin() + std::min<std::ptrdiff_t>(1, static_cast<std::ptrdiff_t>(s.size())));
    shard_.target[0].assign(t.begin(), t.begin() + std::min<std::ptrdiff_t>(1, static_cast<std::ptrdiff_t>(t.size())));
    return shard_;
  }
  /// True when the last shard() returned a stand-in (this rank has no examples of that batch).
  bool stand_in() const { return stand_in_; }
  /// The index in the global batch of the last shard's first pair (its dropout masks are those a
  /// single process draws for these pairs: DropoutOptions::first_sequence).
  std::size_t shard_begin() const { return shard_begin_; }

  /// The gradient hook (Trainer::step calls it between backward and the NaN guard).
  template <typename Model, typename Stats>
  void operator()(Model& model, Stats& stats) {
    reached_hook_ = true;
    const double t0 = MPI_Wtime();
    const bool stand_in = stand_in_;
    stand_in_ = false;

    detail::StepInfo mine;
    mine.signature = parameter_signature(model);
    mine.scalars = parameter_scalars(model);
    mine.batch = batch_checksum_;
    mine.global_size = global_size_;
    batch_checksum_ = 0;
    global_size_ = -1;
    if (!stand_in) {
      mine.nll = static_cast<double>(stats.nll);
      mine.tokens = static_cast<double>(stats.tokens);
      mine.sequences = static_cast<double>(stats.sequences);
      mine.loss_finite = std::isfinite(static_cast<double>(stats.loss)) ? 1.0 : 0.0;
    }
    const detail::StepInfo all = exchange_counts(mine);
    const double t1 = MPI_Wtime();

    const bool per_token = use_tokens(model);
    const double N = loss_normaliser(per_token, all.sequences, all.tokens);
    const double n_r = loss_normaliser(per_token, mine.sequences, mine.tokens);
    // A rank whose forward pass failed reports no counts (the Trainer zeroes its stats) and a NaN
    // loss: the step is lost anyway, and N may even be 0 when every rank failed.
    const bool lost = all.loss_finite == 0;
    if (!(N > 0) && !lost)
      throw Error("data-parallel step: the global batch has no " + std::string(per_token ? "target tokens" : "sequences"));
    // Gradients still go through the exchange (a NaN in them reaches every rank, like the loss).
    exchange_gradients(model, static_cast<Scalar>(N > 0 ? n_r / N : 0.0), stand_in, mine.scalars);
    const double t3 = MPI_Wtime();

    using Count = std::decay_t<decltype(stats.tokens)>;
    stats.nll = all.nll;
    stats.tokens = static_cast<Count>(all.tokens);
    stats.sequences = static_cast<std::decay_t<decltype(stats.sequences)>>(all.sequences);
    stats.loss = lost ? std::numeric_limits<double>::quiet_NaN() : all.nll / N;

    timing_.steps += 1;
    timing_.total += t3 - t0;
    timing_.counts += t1 - t0;
  }

  /// One data-parallel training step: trainer.step(shard(global), lr, *this, shard_begin()). When this rank fails
  /// before its gradient exchange (bad input, say), it still takes part in the step's first
  /// collective, marked as failed, so the other ranks throw Error instead of waiting for it
  /// forever; then it rethrows its own exception.
  template <typename TrainerT>
  auto step(TrainerT& trainer, const PairBatch& global, double lr) {
    const PairBatch& local = shard(global);
    reached_hook_ = false;
    try {
      return trainer.step(local, lr, *this, static_cast<Index>(shard_begin_));
    } catch (...) {
      if (!reached_hook_) {
        reached_hook_ = true;
        detail::StepInfo failed;
        failed.failed = 1;
        try {
          exchange_counts(failed, /*rethrow_failure=*/false);
        } catch (const Error&) {
          // A second failure while reporting the first: the first is the one to report.
        }
      }
      throw;
    }
  }

  /// Time spent in the hook since construction or the last reset_timing.
  const Timing& timing() const { return timing_; }
  void reset_timing() { timing_ = Timing(); }

 private:
  template <typename Model>
  bool use_tokens(const Model& model) const {
    switch (options_.weighting) {
      case LossWeighting::sequences: return false;
      case LossWeighting::tokens: return true;
      case LossWeighting::automatic: break;
    }
    if constexpr (detail::has_per_token_config<Model>::value)
      return model.config().per_token_loss;
    else
      return false;
  }

  /// Step 1 of the class comment. Throws Error on every rank (all see the same gathered data)
  /// when a rank failed or the ranks disagree.
  detail::StepInfo exchange_counts(const detail::StepInfo& mine, bool rethrow_failure = true) {
    gathered_.resize(static_cast<std::size_t>(comm_.size()));  // allocates on the first step only
    check(MPI_Allgather(&mine, sizeof(detail::StepInfo), MPI_BYTE, gathered_.data(), sizeof(detail::StepInfo), MPI_BYTE,
                        comm_.get()),
          "MPI_Allgather");
    detail::StepInfo all;
    int failed = 0;
    for (const detail::StepInfo& r : gathered_) {
      all.nll += r.nll;
      all.tokens += r.tokens;
      all.sequences += r.sequences;
      all.loss_finite = std::min(all.loss_finite, r.loss_finite);
      failed += r.failed > 0 ? 1 : 0;
    }
    if (failed > 0) {
      if (!rethrow_failure) return all;
      throw Error("data-parallel step: " + std::to_string(failed) + " of " + std::to_string(comm_.size()) +
                  " ranks failed before the gradient exchange (the failing rank reports why); the weights were not updated");
    }
    const detail::StepInfo& first = gathered_.front();
    for (std::size_t r = 1; r < gathered_.size(); ++r) {
      const detail::StepInfo& o = gathered_[r];
      if (o.scalars != first.scalars || o.signature != first.signature)
        throw Error("data-parallel step: rank " + std::to_string(r) + " holds a model of another layout (" +
                    std::to_string(o.scalars) + " parameters, rank 0: " + std::to_string(first.scalars) + ")");
      if (o.batch != first.batch || o.global_size != first.global_size)
        throw Error("data-parallel step: rank " + std::to_string(r) +
                    " was given another global batch than rank 0 (every rank must build the same batches from the "
                    "same seed, and all or none must use shard())");
    }
    return all;
  }

  /// Steps 2 and 3 of the class comment.
  template <typename Model>
  void exchange_gradients(Model& model, Scalar scale, bool zero, std::int64_t scalars) {
    using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
    const double t0 = MPI_Wtime();
    const auto P = static_cast<std::size_t>(scalars);
    if (buffer_.size() != P) {  // the first step, or another model: the only allocations
      buffer_.assign(P, Scalar(0));
      requests_.assign((P + bucket_elems_ - 1) / bucket_elems_, MPI_REQUEST_NULL);
    }
    const std::size_t B = bucket_elems_;
    std::size_t pos = 0, started = 0, oldest = 0;
    const auto start_bucket = [&](std::size_t b) {
      Scalar* data = buffer_.data() + b * B;
      const int n = static_cast<int>(std::min(B, P - b * B));
      if (options_.overlap)
        check(MPI_Iallreduce(MPI_IN_PLACE, data, n, datatype<Scalar>(), MPI_SUM, comm_.get(), &requests_[b]),
              "MPI_Iallreduce");
      else
        check(MPI_Allreduce(MPI_IN_PLACE, data, n, datatype<Scalar>(), MPI_SUM, comm_.get()), "MPI_Allreduce");
    };
    // Non-blocking collectives progress only inside MPI calls (Open MPI has no progress thread by
    // default): poke the oldest outstanding one between pieces of packing.
    const auto progress = [&] {
      while (oldest < started) {
        int done = 0;
        check(MPI_Test(&requests_[oldest], &done, MPI_STATUS_IGNORE), "MPI_Test");
        if (!done) break;
        ++oldest;
      }
    };
    model.visit_parameters([&](const ParamName&, auto& p) {
      static_assert(std::is_same_v<typename std::decay_t<decltype(p.grad)>::Scalar, Scalar>,
                    "seq2seq::mpi::DataParallel<Scalar>: Scalar must be the model's parameter scalar type");
      const Scalar* g = p.grad.data();
      std::size_t n = static_cast<std::size_t>(p.grad.size());
      while (n > 0) {
        const std::size_t bucket_end = std::min(P, (pos / B + 1) * B);
        const std::size_t m = std::min(n, bucket_end - pos);
        Eigen::Map<Vec> dst(buffer_.data() + pos, static_cast<Index>(m));
        if (zero)
          dst.setZero();
        else
          dst.noalias() = Eigen::Map<const Vec>(g, static_cast<Index>(m)) * scale;
        g += m;
        n -= m;
        pos += m;
        if (pos == bucket_end) start_bucket(started++);
        if (options_.overlap) progress();
      }
    });
    const double t1 = MPI_Wtime();
    // Unpack in order, waiting for each bucket only when its first element is needed.
    pos = 0;
    std::size_t waited = 0;
    model.visit_parameters([&](const ParamName&, auto& p) {
      Scalar* g = p.grad.data();
      std::size_t n = static_cast<std::size_t>(p.grad.size());
      while (n > 0) {
        const std::size_t b = pos / B;
        if (b >= waited) {
          check(MPI_Wait(&requests_[b], MPI_STATUS_IGNORE), "MPI_Wait");
          waited = b + 1;
        }
        const std::size_t m = std::min(n, std::min(P, (b + 1) * B) - pos);
        Eigen::Map<Vec>(g, static_cast<Index>(m)) = Eigen::Map<const Vec>(buffer_.data() + pos, static_cast<Index>(m));
        g += m;
        n -= m;
        pos += m;
      }
    });
    const double t2 = MPI_Wtime();
    timing_.pack += t1 - t0;
    timing_.reduce += t2 - t1;
  }

  const Communicator& comm_;
  Options options_;
  std::size_t bucket_elems_ = 0;
  std::vector<Scalar> buffer_;
  std::vector<MPI_Request> requests_;
  std::vector<detail::StepInfo> gathered_;
  PairBatch shard_;
  std::size_t shard_begin_ = 0;
  bool stand_in_ = false;
  bool reached_hook_ = false;
  std::uint64_t batch_checksum_ = 0;
  std::int64_t global_size_ = -1;
  Timing timing_;
};

}  // namespace mpi
}  // namespace seq2seq

#endif  // SEQ2SEQ_DISTRIBUTED_MPI_UNAVAILABLE
#endif  // SEQ2SEQ_DISTRIBUTED_DATA_PARALLEL_HPP

// seq2seq: data-parallel training over MPI (optional; the core never includes this header).
//
// Needs an MPI implementation (C API only; Debian: libopenmpi-dev). Link MPI::MPI_CXX from
// find_package(MPI COMPONENTS CXX). Not included by seq2seq.hpp.
//
// The scheme (synchronous data parallelism): every rank holds a full replica of the model and
// builds the same global batches from the same seed; rank r trains on a contiguous slice of each
// global batch (DataParallel::shard), and between backward and the optimizer step the gradient
// hook (DataParallel, usable as `trainer.step(shard, lr, dp)`) turns every rank's gradient into
// the gradient of the global batch:
//
//   single-process objective over the global batch of N sequences (or N target tokens when
//   ModelConfig::per_token_loss):   L = sum_r (n_r / N) * loss_r,   loss_r = nll_r / n_r
//   so   dL/dw = sum_r (n_r / N) * d(loss_r)/dw:   each rank scales its gradient by n_r / N and the
//   scaled gradients are summed with MPI_Allreduce, in contiguous buckets of a reused buffer.
//
// The LossStats are combined too (nll, tokens, sequences summed; loss = nll / N), so every rank
// sees the same global loss and the same gradient, takes the same NaN-guard decision and applies
// the same optimizer step: the replicas never drift. A NaN or Inf on one rank reaches every rank
// (MPI's sum propagates it; a non-finite loss is passed on by a marker), so all skip or all stop.
//
//   seq2seq::mpi::Environment env(&argc, &argv);         // MPI_Init_thread, MPI_Finalize
//   seq2seq::mpi::Communicator comm;                      // a private duplicate of MPI_COMM_WORLD
//   comm.broadcast_parameters(model);                     // replicas start equal
//   seq2seq::mpi::DataParallel<float> dp(comm);
//   for (const PairBatch& global : batches)               // the same batches on every rank
//     dp.step(trainer, global, lr);                       // = trainer.step(dp.shard(global), lr, dp)
//   seq2seq::mpi::save_parameters(comm, "model.safetensors", model);   // rank 0 writes
#ifndef SEQ2SEQ_DISTRIBUTED_MPI_HPP
#define SEQ2SEQ_DISTRIBUTED_MPI_HPP

// Without MPI's include directory (a target that does not link MPI::MPI_CXX, such as the header
// self-containment check of a build without MPI) this header declares nothing, so it still
// compiles on its own; code that uses seq2seq::mpi then fails to compile, naming the namespace.
#if defined(__has_include)
#if !__has_include(<mpi.h>)
#define SEQ2SEQ_DISTRIBUTED_MPI_UNAVAILABLE 1
#endif
#endif

#ifndef SEQ2SEQ_DISTRIBUTED_MPI_UNAVAILABLE

#include "../config.hpp"
#include "../data/types.hpp"
#include "../io/checkpoint.hpp"
#include "../optim/optimizer.hpp"
#include "../param.hpp"

// The C API only: MPI's C++ bindings are deprecated (and removed in MPI 3.0).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>
#include <nlohmann/json.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace seq2seq {
namespace mpi {

/// Every failure of this header: an MPI call that returned an error, ranks that disagree (other
/// models, other batches), a rank that failed a collective step. The message starts with
/// "seq2seq: mpi: ".
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error("seq2seq: mpi: " + what) {}
};

/// MPI's own text for an error code, with its error class ("MPI_ERR_TRUNCATE: message truncated").
inline std::string error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  std::string out;
  if (MPI_Error_string(code, text, &len) == MPI_SUCCESS)
    out.assign(text, static_cast<std::size_t>(len));
  else
    out = "unknown MPI error";
  int cls = 0;
  if (MPI_Error_class(code, &cls) == MPI_SUCCESS && cls != code) {
    char ctext[MPI_MAX_ERROR_STRING];
    int clen = 0;
    if (MPI_Error_string(cls, ctext, &clen) == MPI_SUCCESS)
      out += " (class: " + std::string(ctext, static_cast<std::size_t>(clen)) + ")";
  }
  return out + " [code " + std::to_string(code) + "]";
}

/// Throws Error("<call> failed: <MPI's message>") unless `code` is MPI_SUCCESS. MPI reports errors
/// this way only on communicators with MPI_ERRORS_RETURN, which Communicator sets.
inline void check(int code, const char* call) {
  if (code != MPI_SUCCESS) throw Error(std::string(call) + " failed: " + error_string(code));
}

/// True when this process was started by an MPI launcher (mpirun/mpiexec of Open MPI or MPICH,
/// srun with PMI/PMIx), read from the environment only: a program can then decide to initialise
/// MPI, and stay a plain single process otherwise.
inline bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

/// The MPI datatype of a scalar type (float and double; the models' Scalar types).
template <typename Scalar>
MPI_Datatype datatype() {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                "seq2seq::mpi: only float and double parameters can be exchanged");
  if constexpr (std::is_same_v<Scalar, float>)
    return MPI_FLOAT;
  else
    return MPI_DOUBLE;
}

/// RAII for the MPI library: MPI_Init_thread (MPI_THREAD_FUNNELED: only the main thread calls MPI;
/// Eigen's OpenMP threads never do) unless MPI is already initialised, and MPI_Finalize on
/// destruction only when this object initialised it. Create it before any Communicator and let
/// it outlive them.
class Environment {
 public:
  explicit Environment(int* argc = nullptr, char*** argv = nullptr, int required = MPI_THREAD_FUNNELED) {
    int finalized = 0;
    check(MPI_Finalized(&finalized), "MPI_Finalized");
    if (finalized) throw Error("MPI was finalised already; it cannot be initialised again");
    int initialized = 0;
    check(MPI_Initialized(&initialized), "MPI_Initialized");
    if (!initialized) {
      // MPI_Init_thread's errors go to MPI_COMM_WORLD's default handler (abort): there is no
      // communicator to set MPI_ERRORS_RETURN on before it.
      check(MPI_Init_thread(argc, argv, required, &provided_), "MPI_Init_thread");
      owns_ = true;
    } else {
      check(MPI_Query_thread(&provided_), "MPI_Query_thread");
    }
    if (provided_ < required) {
      finalize();
      throw Error("the MPI library provides thread level " + std::to_string(provided_) + ", below the " +
                  std::to_string(required) + " asked for");
    }
  }
  ~Environment() { finalize(); }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  /// True when this object called MPI_Init_thread (and will call MPI_Finalize).
  bool owns() const { return owns_; }
  /// The thread level MPI provides (MPI_THREAD_SINGLE .. MPI_THREAD_MULTIPLE).
  int thread_level() const { return provided_; }

 private:
  void finalize() {
    if (!owns_) return;
    owns_ = false;
    int finalized = 0;
    if (MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Finalize();
  }

  bool owns_ = false;
  int provided_ = 0;
};

namespace detail {

/// FNV-1a 64 over bytes, continuing from `h`.
inline std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = 14695981039346656037ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

template <typename T>
std::uint64_t fnv1a_value(const T& v, std::uint64_t h) {
  static_assert(std::is_trivially_copyable_v<T>, "fnv1a_value: trivially copyable values only");
  return fnv1a(&v, sizeof(T), h);
}

/// MPI counts are int: an operation on n elements runs in pieces of at most INT_MAX / 2.
constexpr std::size_t max_count = static_cast<std::size_t>(INT_MAX / 2);

}  // namespace detail

/// Number of parameter scalars, parameter tensors and a hash of every name and shape, in visitor
/// order: equal on two ranks exactly when they hold the same model layout.
struct Layout {
  std::int64_t scalars = 0;
  std::int64_t tensors = 0;
  std::uint64_t signature = 14695981039346656037ULL;
};

/// The Layout of a model (allocates nothing).
template <typename Model>
Layout layout_of(const Model& model) {
  Layout l;
  model.visit_parameters([&](const ParamName& name, const auto& p) {
    l.scalars += static_cast<std::int64_t>(p.value.size());
    ++l.tensors;
    const std::string_view n = name.view();
    l.signature = detail::fnv1a(n.data(), n.size(), l.signature);
    l.signature = detail::fnv1a_value(static_cast<std::int64_t>(p.value.rows()), l.signature);
    l.signature = detail::fnv1a_value(static_cast<std::int64_t>(p.value.cols()), l.signature);
    l.signature = detail::fnv1a_value(static_cast<std::int64_t>(sizeof(typename std::decay_t<decltype(p.value)>::Scalar)),
                                      l.signature);
  });
  return l;
}

/// FNV-1a 64 of every parameter value's bytes in visitor order: bit-identical replicas have equal
/// checksums (compare them across ranks with Communicator::check_replicas).
template <typename Model>
std::uint64_t parameter_checksum(const Model& model) {
  std::uint64_t h = 14695981039346656037ULL;
  model.visit_parameters([&](const ParamName&, const auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    h = detail::fnv1a(p.value.data(), sizeof(S) * static_cast<std::size_t>(p.value.size()), h);
  });
  return h;
}

/// FNV-1a 64 of a batch's sentence lengths and token ids: ranks that build "the same" global
/// batch can check that they really do.
inline std::uint64_t batch_checksum(const PairBatch& batch) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const auto* side : {&batch.source, &batch.target}) {
    h = detail::fnv1a_value(static_cast<std::uint64_t>(side->size()), h);
    for (const Sentence& s : *side) {
      h = detail::fnv1a_value(static_cast<std::uint64_t>(s.size()), h);
      if (!s.empty()) h = detail::fnv1a(s.data(), sizeof(TokenId) * s.size(), h);
    }
  }
  return h;
}

/// A communicator for seq2seq's collectives: a private duplicate (MPI_Comm_dup) of `parent`, so
/// its messages never meet the program's own, with MPI_ERRORS_RETURN so that MPI errors become
/// Error exceptions. Every member that communicates is collective: every rank of the
/// communicator must call it, in the same order. Needs an initialised MPI (see Environment).
class Communicator {
 public:
  explicit Communicator(MPI_Comm parent = MPI_COMM_WORLD) {
    int initialized = 0;
    check(MPI_Initialized(&initialized), "MPI_Initialized");
    if (!initialized) throw Error("MPI is not initialised (create a seq2seq::mpi::Environment first)");
    check(MPI_Comm_dup(parent, &comm_), "MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  ~Communicator() {
    int finalized = 0;
    if (comm_ != MPI_COMM_NULL && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Comm_free(&comm_);
  }
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  /// The MPI communicator (the duplicate), for the caller's own MPI calls.
  MPI_Comm get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  /// Rank 0: the one that prints, validates and writes files.
  bool is_root() const { return rank_ == 0; }

  void barrier() const { check(MPI_Barrier(comm_), "MPI_Barrier"); }

  /// A barrier that waits without spinning (MPI_Ibarrier, then MPI_Test every `poll`): for ranks
  /// that wait while rank 0 validates or writes a file, so their blocking MPI call (Open MPI's
  /// spins) does not take a core from it. Adds up to `poll` of latency.
  void idle_barrier(std::chrono::microseconds poll = std::chrono::microseconds(500)) const {
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier");
    for (;;) {
      int done = 0;
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) return;
      std::this_thread::sleep_for(poll);
    }
  }

  /// Ends every process of the job (MPI_Abort). The way out when one rank failed between
  /// collectives and the others would otherwise wait for it forever.
  [[noreturn]] void abort(int code) const {
    MPI_Abort(comm_, code);
    std::abort();  // MPI_Abort does not return; this is for the compiler
  }

  /// In-place element-wise reduction of `data[0..count)` over every rank.
  template <typename T>
  void allreduce(T* data, std::size_t count, MPI_Op op) const {
    for (std::size_t done = 0; done < count;) {
      const std::size_t n = std::min(count - done, detail::max_count);
      check(MPI_Allreduce(MPI_IN_PLACE, data + done, static_cast<int>(n), type_of<T>(), op, comm_), "MPI_Allreduce");
      done += n;
    }
  }
  /// Sum of `v` over every rank.
  double sum(double v) const {
    allreduce(&v, 1, MPI_SUM);
    return v;
  }
  /// True on every rank when `flag` is true on at least one (e.g. "stop": a signal or a time budget
  /// seen by one rank stops all of them at the same step).
  bool any(bool flag) const {
    int v = flag ? 1 : 0;
    allreduce(&v, 1, MPI_MAX);
    return v != 0;
  }
  /// True on every rank when `v` is the same on every rank.
  bool all_equal(std::uint64_t v) const {
    std::uint64_t mm[2] = {v, ~v};  // max of v and max of ~v (= ~min of v)
    allreduce(mm, 2, MPI_MAX);
    return mm[0] == ~mm[1];
  }

  /// Root's bytes of `data[0..count)` on every rank (the buffers must already have `count` elements).
  template <typename T>
  void broadcast(T* data, std::size_t count, int root = 0) const {
    for (std::size_t done = 0; done < count;) {
      const std::size_t n = std::min(count - done, detail::max_count);
      check(MPI_Bcast(data + done, static_cast<int>(n), type_of<T>(), root, comm_), "MPI_Bcast");
      done += n;
    }
  }
  /// Root's string on every rank.
  void broadcast(std::string& s, int root = 0) const {
    std::uint64_t n = s.size();
    broadcast(&n, 1, root);
    s.resize(static_cast<std::size_t>(n));
    broadcast(s.data(), s.size(), root);
  }

  /// Copies rank `root`'s parameter values into every rank's model, so that the replicas start
  /// equal (after a seeded initialisation they already are; this makes sure, and it is how a model
  /// loaded on one rank reaches the others). Throws Error on every rank when the ranks hold
  /// models of different layouts (names, shapes, scalar types).
  template <typename Model>
  void broadcast_parameters(Model& model, int root = 0) const {
    require_same_layout(model, "broadcast_parameters");
    model.visit_parameters([&](const ParamName&, auto& p) { broadcast(p.value.data(), static_cast<std::size_t>(p.value.size()), root); });
  }

  /// Throws Error on every rank unless every rank holds the same model layout.
  template <typename Model>
  void require_same_layout(const Model& model, const char* who) const {
    const Layout l = layout_of(model);
    // One MPI_MAX over (x, -x) pairs gives the maximum and minus the minimum of each x. The
    // signature is shifted into 62 bits first, where its negation cannot overflow.
    const auto sig = static_cast<std::int64_t>(l.signature >> 2);
    std::int64_t mm[6] = {l.scalars, -l.scalars, l.tensors, -l.tensors, sig, -sig};
    allreduce(mm, 6, MPI_MAX);
    if (mm[0] != -mm[1] || mm[2] != -mm[3] || mm[4] != -mm[5])
      throw Error(std::string(who) + ": the ranks hold models of different layouts (" + std::to_string(-mm[1]) + " to " +
                  std::to_string(mm[0]) + " parameters, " + std::to_string(-mm[3]) + " to " + std::to_string(mm[2]) +
                  " tensors, or other names or shapes)");
  }

  /// Throws Error on every rank unless every rank's parameter values are bit-identical
  /// (compares parameter_checksum across ranks; one small all-reduce).
  template <typename Model>
  void check_replicas(const Model& model) const {
    require_same_layout(model, "check_replicas");
    if (!all_equal(parameter_checksum(model)))
      throw Error("check_replicas: the replicas' weights differ (the ranks trained on different data, or an MPI "
                  "reduction gave different results on different ranks)");
  }

  template <typename T>
  static MPI_Datatype type_of() {
    if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
    else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
    else if constexpr (std::is_same_v<T, std::int64_t>) return MPI_INT64_T;
    else if constexpr (std::is_same_v<T, std::uint64_t>) return MPI_UINT64_T;
    else if constexpr (std::is_same_v<T, int>) return MPI_INT;
    else if constexpr (std::is_same_v<T, char>) return MPI_CHAR;
    else if constexpr (std::is_same_v<T, unsigned char>) return MPI_UNSIGNED_CHAR;
    else static_assert(sizeof(T) == 0, "seq2seq::mpi::Communicator: no MPI datatype for this type");
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

// ---------------------------------------------------------------------------------------------
// Sharding
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// The data-parallel gradient hook
// ---------------------------------------------------------------------------------------------

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

  /// The gradient hook (Trainer::step calls it between backward and the NaN guard).
  template <typename Model, typename Stats>
  void operator()(Model& model, Stats& stats) {
    reached_hook_ = true;
    const double t0 = MPI_Wtime();
    const bool stand_in = stand_in_;
    stand_in_ = false;

    detail::StepInfo mine;
    const Layout layout = layout_of(model);
    mine.scalars = layout.scalars;
    mine.signature = layout.signature;
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
    const double N = per_token ? all.tokens : all.sequences;
    const double n_r = per_token ? mine.tokens : mine.sequences;
    // A rank whose forward pass failed reports no counts (the Trainer zeroes its stats) and a NaN
    // loss: the step is lost anyway, and N may even be 0 when every rank failed.
    const bool lost = all.loss_finite == 0;
    if (!(N > 0) && !lost)
      throw Error("data-parallel step: the global batch has no " + std::string(per_token ? "target tokens" : "sequences"));
    // Gradients still go through the exchange (a NaN in them reaches every rank, like the loss).
    exchange_gradients(model, static_cast<Scalar>(N > 0 ? n_r / N : 0.0), stand_in, layout.scalars);
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

  /// One data-parallel training step: trainer.step(shard(global), lr, *this). When this rank fails
  /// before its gradient exchange (bad input, say), it still takes part in the step's first
  /// collective, marked as failed, so the other ranks throw Error instead of waiting for it
  /// forever; then it rethrows its own exception.
  template <typename TrainerT>
  auto step(TrainerT& trainer, const PairBatch& global, double lr) {
    const PairBatch& local = shard(global);
    reached_hook_ = false;
    try {
      return trainer.step(local, lr, *this);
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
  bool stand_in_ = false;
  bool reached_hook_ = false;
  std::uint64_t batch_checksum_ = 0;
  std::int64_t global_size_ = -1;
  Timing timing_;
};

// ---------------------------------------------------------------------------------------------
// Checkpoints: rank 0 reads and writes, every rank gets the result
// ---------------------------------------------------------------------------------------------

/// Runs `f` on rank 0 only, then tells every rank whether it succeeded: on failure every rank
/// throws Error naming `what` and rank 0's message; so a failed write on rank 0 never leaves the
/// others waiting. Collective: the other ranks wait for rank 0 in Communicator::idle_barrier.
template <typename F>
void run_on_root(const Communicator& comm, const char* what, F&& f) {
  std::string message;
  int ok = 1;
  if (comm.is_root()) {
    try {
      f();
    } catch (const std::exception& e) {
      ok = 0;
      message = e.what();
    } catch (...) {
      ok = 0;
      message = "unknown exception";
    }
  }
  comm.idle_barrier();
  comm.broadcast(&ok, 1, 0);
  if (ok) return;
  comm.broadcast(message, 0);
  const std::string prefix = "seq2seq: ";
  if (message.compare(0, prefix.size(), prefix) == 0) message.erase(0, prefix.size());
  throw Error(std::string(what) + " on rank 0: " + message);
}

/// io::save_parameters on rank 0; the other ranks wait for it and throw if it failed.
template <typename Model>
void save_parameters(const Communicator& comm, const std::string& path, const Model& model,
                     const std::map<std::string, std::string>& metadata = {}) {
  run_on_root(comm, "save_parameters", [&] { io::save_parameters(path, model, metadata); });
}

/// io::save_training_state on rank 0 (every rank's optimizer state is the same); the others wait.
template <typename Policy, typename Scalar, typename Model>
void save_training_state(const Communicator& comm, const std::string& path, const Optimizer<Policy, Scalar>& optimizer,
                         const Model& model, const io::TrainingState& state) {
  run_on_root(comm, "save_training_state", [&] { io::save_training_state(path, optimizer, model, state); });
}

/// io::read_metadata on rank 0, the result on every rank (only rank 0 needs to see the file).
inline std::map<std::string, std::string> read_metadata(const Communicator& comm, const std::string& path) {
  std::string text;
  run_on_root(comm, "read_metadata", [&] { text = nlohmann::json(io::read_metadata(path)).dump(); });
  comm.broadcast(text, 0);
  return nlohmann::json::parse(text).get<std::map<std::string, std::string>>();
}

/// Rank 0 loads the parameters (io::load_parameters, with all its checks) and broadcasts them:
/// only rank 0 needs the file (no shared file system). Returns the caller's metadata on every
/// rank. Throws on every rank, leaving every model untouched, when rank 0's load fails or the
/// ranks' models differ in layout.
template <typename Model>
std::map<std::string, std::string> load_parameters(const Communicator& comm, const std::string& path, Model& model) {
  comm.require_same_layout(model, "load_parameters");
  std::string text;
  run_on_root(comm, "load_parameters", [&] { text = nlohmann::json(io::load_parameters(path, model)).dump(); });
  comm.broadcast_parameters(model, 0);
  comm.broadcast(text, 0);
  return nlohmann::json::parse(text).get<std::map<std::string, std::string>>();
}

/// Rank 0 loads the training state (io::load_training_state: optimizer states, step count,
/// TrainingState) and broadcasts it: every rank's optimizer ends equal to rank 0's. The
/// optimizers must be constructed with the same policy everywhere. Throws on every rank, leaving
/// every optimizer untouched, when rank 0's load fails.
template <typename Policy, typename Scalar, typename Model>
io::TrainingState load_training_state(const Communicator& comm, const std::string& path, Optimizer<Policy, Scalar>& optimizer,
                                      const Model& model) {
  comm.require_same_layout(model, "load_training_state");
  io::TrainingState state;
  std::string text;
  run_on_root(comm, "load_training_state", [&] {
    state = io::load_training_state(path, optimizer, model);
    nlohmann::json j{{"step", state.step},
                     {"epoch", state.epoch},
                     {"data_position", state.data_position},
                     {"rng_state", state.rng_state},
                     {"extra", state.extra},
                     {"optim_initialized", optimizer.initialized()},
                     {"optim_step", optimizer.step_count()}};
    text = j.dump();
  });
  comm.broadcast(text, 0);
  const nlohmann::json j = nlohmann::json::parse(text);
  if (!comm.is_root()) {
    state.step = j.at("step").get<std::int64_t>();
    state.epoch = j.at("epoch").get<double>();
    state.data_position = j.at("data_position").get<std::uint64_t>();
    state.rng_state = j.at("rng_state").get<std::string>();
    state.extra = j.at("extra").get<std::map<std::string, std::string>>();
  }
  // Non-root ranks build the restored optimizer aside and commit it only once the states arrived.
  Optimizer<Policy, Scalar> restored(optimizer.policy());
  Optimizer<Policy, Scalar>& target = comm.is_root() ? optimizer : restored;
  int init_error = 0;
  std::string message;
  if (!comm.is_root() && j.at("optim_initialized").get<bool>()) {
    try {
      restored.initialize(model);
    } catch (const std::exception& e) {
      init_error = 1;
      message = e.what();
    }
  }
  if (comm.any(init_error != 0))
    throw Error("load_training_state: a rank could not create its optimizer state" +
                (message.empty() ? std::string() : ": " + message) + " (is the policy the same on every rank?)");
  if (j.at("optim_initialized").get<bool>())
    target.visit_state([&](std::size_t, std::string_view, Matrix<Scalar>& m) {
      comm.broadcast(m.data(), static_cast<std::size_t>(m.size()), 0);
    });
  if (!comm.is_root()) {
    restored.set_step_count(j.at("optim_step").get<std::int64_t>());
    optimizer = std::move(restored);
  }
  return state;
}

}  // namespace mpi
}  // namespace seq2seq

#endif  // SEQ2SEQ_DISTRIBUTED_MPI_UNAVAILABLE
#endif  // SEQ2SEQ_DISTRIBUTED_MPI_HPP

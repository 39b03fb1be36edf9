// seq2seq: MPI environment, errors and the Communicator that every collective of seq2seq::mpi goes through.
// Part of the optional MPI support (seq2seq/distributed/mpi.hpp has the overview); needs an MPI
// implementation's C API (Debian: libopenmpi-dev) and MPI::MPI_CXX from find_package(MPI).
#ifndef SEQ2SEQ_DISTRIBUTED_COMMUNICATOR_HPP
#define SEQ2SEQ_DISTRIBUTED_COMMUNICATOR_HPP

// Without MPI's include directory (a target that does not link MPI::MPI_CXX, such as the header
// self-containment check of a build without MPI) this header declares nothing, so it still
// compiles on its own; code that uses seq2seq::mpi then fails to compile, naming the namespace.
#if defined(__has_include)
#if !__has_include(<mpi.h>)
#define SEQ2SEQ_DISTRIBUTED_MPI_UNAVAILABLE 1
#endif
#endif

#ifndef SEQ2SEQ_DISTRIBUTED_MPI_UNAVAILABLE

// The C API only: MPI's C++ bindings are deprecated (and removed in MPI 3.0).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include "../config.hpp"
#include "../detail/fnv1a.hpp"
#include "../param.hpp"
#include "../param_layout.hpp"

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

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

}  // namespace mpi
namespace detail {
/// MPI counts are int: an operation on n elements runs in pieces of at most INT_MAX / 2.
constexpr std::size_t max_count = static_cast<std::size_t>(INT_MAX / 2);
}  // namespace detail
namespace mpi {

/// FNV-1a 64 of every parameter value's bytes in visitor order: bit-identical replicas have equal
/// checksums (compare them across ranks with Communicator::check_replicas).
template <typename Model>
std::uint64_t parameter_checksum(const Model& model) {
  std::uint64_t h = detail::fnv1a64_offset_basis;
  model.visit_parameters([&](const ParamName&, const auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    h = detail::fnv1a64(p.value.data(), sizeof(S) * static_cast<std::size_t>(p.value.size()), h);
  });
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
    const ParameterLayout l = parameter_layout(model, who);
    const auto scalars = l.scalars(), tensors = static_cast<std::int64_t>(l.size());
    // One MPI_MAX over (x, -x) pairs gives the maximum and minus the minimum of each x. The
    // signature is shifted into 62 bits first, where its negation cannot overflow.
    const auto sig = static_cast<std::int64_t>(l.signature() >> 2);
    std::int64_t mm[6] = {scalars, -scalars, tensors, -tensors, sig, -sig};
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

}  // namespace mpi
}  // namespace seq2seq

#endif  // SEQ2SEQ_DISTRIBUTED_MPI_UNAVAILABLE
#endif  // SEQ2SEQ_DISTRIBUTED_COMMUNICATOR_HPP

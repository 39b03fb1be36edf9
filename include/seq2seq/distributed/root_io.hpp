// seq2seq: checkpoints under MPI: rank 0 reads and writes files, every rank gets the result.
// Part of the optional MPI support (seq2seq/distributed/mpi.hpp has the overview); needs an MPI
// implementation's C API (Debian: libopenmpi-dev) and MPI::MPI_CXX from find_package(MPI).
#ifndef SEQ2SEQ_DISTRIBUTED_ROOT_IO_HPP
#define SEQ2SEQ_DISTRIBUTED_ROOT_IO_HPP

// communicator.hpp decides whether MPI is there (without it, this header declares nothing too)
// and includes <mpi.h>, C API only.
#include "communicator.hpp"

#ifndef SEQ2SEQ_DISTRIBUTED_MPI_UNAVAILABLE

#include <nlohmann/json.hpp>

#include "../io/checkpoint.hpp"
#include "../optim/optimizer.hpp"

#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace seq2seq {
namespace mpi {

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
#endif  // SEQ2SEQ_DISTRIBUTED_ROOT_IO_HPP

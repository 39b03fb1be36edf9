// toy_translation: one process or several under mpirun (parallel.hpp).
#include "parallel.hpp"

#if SEQ2SEQ_TOY_MPI
#include <seq2seq/distributed/root_io.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <streambuf>
#include <thread>

namespace toy {

#if SEQ2SEQ_TOY_MPI

namespace {
std::unique_ptr<seq2seq::mpi::Communicator> g_comm;  // set under mpirun, else null

/// Swallows what the non-root ranks would print.
struct NullBuffer : std::streambuf {
  int overflow(int c) override { return traits_type::not_eof(c); }
};
}  // namespace

const seq2seq::mpi::Communicator* communicator() { return g_comm.get(); }
bool is_root() { return !g_comm || g_comm->is_root(); }
int process_count() { return g_comm ? g_comm->size() : 1; }

void on_root(const char* what, const std::function<void()>& f) {
  if (g_comm)
    seq2seq::mpi::run_on_root(*g_comm, what, f);
  else
    f();
}

unsigned any_process(unsigned flags) {
  if (!g_comm) return flags;
  int all = static_cast<int>(flags);
  g_comm->allreduce(&all, 1, MPI_BOR);
  return static_cast<unsigned>(all);
}

double from_root(double value) {
  if (g_comm) g_comm->broadcast(&value, 1, 0);
  return value;
}

int fail(int status, const std::string& text) {
  if (g_comm && g_comm->size() > 1) {
    // Rank 0 prints at once; another rank prints only if rank 0 has not ended the job within a
    // second, so an error every rank meets is printed once.
    if (g_comm->is_root()) {
      std::cerr << text << std::endl;
    } else {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      std::fprintf(stderr, "%s (rank %d)\n", text.c_str(), g_comm->rank());
      std::fflush(stderr);
    }
    g_comm->abort(status);
  }
  std::cerr << text << "\n";
  return status;
}

int run_processes(int argc, char** argv, int (*program)(int, char**)) {
  // MPI only when started by mpirun (read from the environment): started directly, this build
  // behaves as one without MPI and never initialises it.
  if (!seq2seq::mpi::launched_by_mpirun()) return program(argc, argv);
  std::unique_ptr<seq2seq::mpi::Environment> env;
  try {
    env = std::make_unique<seq2seq::mpi::Environment>(&argc, &argv);
    g_comm = std::make_unique<seq2seq::mpi::Communicator>();
  } catch (const std::exception& e) {
    std::cerr << kProgram << ": error: " << e.what() << "\n";
    return 1;
  }
  NullBuffer null_buffer;
  std::streambuf* const cout_buffer = std::cout.rdbuf();
  std::streambuf* const cerr_buffer = std::cerr.rdbuf();
  if (!g_comm->is_root()) {
    std::cout.rdbuf(&null_buffer);
    std::cerr.rdbuf(&null_buffer);
  }
  const int status = program(argc, argv);
  std::cout.rdbuf(cout_buffer);
  std::cerr.rdbuf(cerr_buffer);
  g_comm.reset();
  return status;
}

#else  // one process

bool is_root() { return true; }
int process_count() { return 1; }
void on_root(const char*, const std::function<void()>& f) { f(); }
unsigned any_process(unsigned flags) { return flags; }
double from_root(double value) { return value; }
int fail(int status, const std::string& text) {
  std::cerr << text << "\n";
  return status;
}
int run_processes(int argc, char** argv, int (*program)(int, char**)) { return program(argc, argv); }

#endif

}  // namespace toy

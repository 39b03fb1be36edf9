// toy_translation: the processes of a run. One, or several when a build with -DSEQ2SEQ_MPI=ON is
// started by mpirun: every rank runs the same program on the same data order; rank 0 alone
// prints, validates and writes files. Without MPI these are one process's answers; this file and
// the data-parallel step in train_command.cpp are the only places that know about MPI.
#ifndef TOY_TRANSLATION_PARALLEL_HPP
#define TOY_TRANSLATION_PARALLEL_HPP

#include "app.hpp"

#include <functional>
#include <string>

#if SEQ2SEQ_TOY_MPI
#include <seq2seq/distributed/communicator.hpp>
#endif

namespace toy {

/// True on the process that prints and writes files.
bool is_root();
/// Processes training together.
int process_count();
/// Runs `f` on rank 0 only; the other ranks wait for it (without spinning) and throw if it failed.
void on_root(const char* what, const std::function<void()>& f);
/// The bitwise OR of `flags` over every process (one rank's Ctrl-C or clock stops all of them).
unsigned any_process(unsigned flags);
/// Rank 0's `value` on every process.
double from_root(double value);

/// Prints an error and returns `status`. Under mpirun with several ranks it ends the whole job
/// instead (MPI_Abort), since the other ranks may be waiting for this one in a collective.
int fail(int status, const std::string& text);

/// Runs `program` in the process setup: MPI when started by mpirun (other ranks' output
/// silenced), a plain call otherwise.
int run_processes(int argc, char** argv, int (*program)(int, char**));

#if SEQ2SEQ_TOY_MPI
/// The communicator under mpirun, null otherwise.
const seq2seq::mpi::Communicator* communicator();
#endif

}  // namespace toy

#endif  // TOY_TRANSLATION_PARALLEL_HPP

// seq2seq: data-parallel training over MPI (optional; the core never includes this header):
// communicator.hpp (environment, errors, collectives), data_parallel.hpp (sharding and the
// gradient exchange), root_io.hpp (rank-0 checkpoints).
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

#include "communicator.hpp"
#include "data_parallel.hpp"
#include "root_io.hpp"

#endif  // SEQ2SEQ_DISTRIBUTED_MPI_HPP

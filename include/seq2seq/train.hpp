// seq2seq: training: the guarded step (train/trainer.hpp: forward, backward, NaN guard, clipping,
// update) and the loop over epochs (train/loop.hpp: batches, schedule, validation, early stopping,
// checkpoints, time budget, resume state), for any model with `train_batch` and `visit_parameters`.
#ifndef SEQ2SEQ_TRAIN_HPP
#define SEQ2SEQ_TRAIN_HPP

#include "train/loop.hpp"
#include "train/trainer.hpp"

#endif  // SEQ2SEQ_TRAIN_HPP

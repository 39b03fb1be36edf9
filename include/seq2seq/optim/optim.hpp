// seq2seq: umbrella for the optimizers: policies, driver, clipping, learning-rate schedules.
#ifndef SEQ2SEQ_OPTIM_OPTIM_HPP
#define SEQ2SEQ_OPTIM_OPTIM_HPP

#include "optimizer.hpp"
#include "sgd.hpp"
#include "momentum.hpp"
#include "adam.hpp"
#include "adagrad.hpp"
#include "any_policy.hpp"
#include "clip.hpp"
#include "schedule.hpp"

#endif  // SEQ2SEQ_OPTIM_OPTIM_HPP

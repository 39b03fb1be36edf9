// seq2seq: umbrella header. Sequence to Sequence Learning with Neural Networks
// (Sutskever, Vinyals & Le, 2014) as a header-only C++17 library on Eigen.
//
// Everything: the layers and the model, the data pipeline, evaluation, optimizers, the trainer
// and checkpoints (io/ needs nlohmann-json, a dependency of the package, and POSIX).
#ifndef SEQ2SEQ_SEQ2SEQ_HPP
#define SEQ2SEQ_SEQ2SEQ_HPP

#include "config.hpp"
#include "rng.hpp"
#include "param.hpp"
#include "param_layout.hpp"
#include "dropout.hpp"
#include "lstm_cell.hpp"
#include "stacked_lstm.hpp"
#include "embedding.hpp"
#include "softmax.hpp"
#include "encoder.hpp"
#include "decoder.hpp"
#include "beam_search.hpp"
#include "batch_search.hpp"
#include "model_config.hpp"
#include "precision.hpp"
#include "bf16_products.hpp"
#include "inference.hpp"
#include "decoding.hpp"
#include "model.hpp"
#include "ensemble.hpp"
#include "data/data.hpp"
#include "eval/eval.hpp"
#include "optim/optim.hpp"
#include "train.hpp"
#include "io/checkpoint.hpp"
#include "io/model_file.hpp"

#endif  // SEQ2SEQ_SEQ2SEQ_HPP

// seq2seq: umbrella header. Sequence to Sequence Learning with Neural Networks
// (Sutskever, Vinyals & Le, 2014) as a header-only C++17 library on Eigen.
#ifndef SEQ2SEQ_SEQ2SEQ_HPP
#define SEQ2SEQ_SEQ2SEQ_HPP

#include "config.hpp"
#include "param.hpp"
#include "lstm_cell.hpp"
#include "stacked_lstm.hpp"

#endif  // SEQ2SEQ_SEQ2SEQ_HPP

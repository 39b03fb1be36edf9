// seq2seq: umbrella of evaluation: corpus BLEU-4, perplexity, exact-match rate.
#ifndef SEQ2SEQ_EVAL_EVAL_HPP
#define SEQ2SEQ_EVAL_EVAL_HPP

#include "bleu.hpp"
#include "perplexity.hpp"

#endif  // SEQ2SEQ_EVAL_EVAL_HPP

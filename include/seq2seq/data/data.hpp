// seq2seq: umbrella of the data pipeline: UTF-8, tokenizer, Vocab, TSV corpus, splits, batches.
//
// text --tokenize--> words --Vocab::encode--> Sentence (token ids, no <s>/<EOS>)
//      --make_batches--> PairBatch (length-bucketed, shuffled) --> the model pads and masks.
#ifndef SEQ2SEQ_DATA_DATA_HPP
#define SEQ2SEQ_DATA_DATA_HPP

#include "types.hpp"
#include "utf8.hpp"
#include "tokenizer.hpp"
#include "vocab.hpp"
#include "shuffle.hpp"
#include "corpus.hpp"
#include "batcher.hpp"
#include "shortlist.hpp"

#endif  // SEQ2SEQ_DATA_DATA_HPP

// seq2seq: umbrella of the data pipeline: UTF-8, normalisation, tokenizers, Vocab, TSV corpus,
// splits, batches (sentencepiece.hpp is optional and not included here).
//
// text --Tokenizer::encode--> tokens --Vocab::encode--> Sentence (token ids, no <s>/<EOS>)
//      --make_batches--> PairBatch (length-bucketed, shuffled) --> the model pads and masks.
#ifndef SEQ2SEQ_DATA_DATA_HPP
#define SEQ2SEQ_DATA_DATA_HPP

#include "types.hpp"
#include "utf8.hpp"
#include "normalize.hpp"
#include "tokenizer.hpp"
#include "detokenizer.hpp"
#include "tokenizers.hpp"
#include "vocab.hpp"
#include "shuffle.hpp"
#include "corpus.hpp"
#include "batcher.hpp"

#endif  // SEQ2SEQ_DATA_DATA_HPP

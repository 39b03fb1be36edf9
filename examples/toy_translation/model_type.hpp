// toy_translation: the program's one model type, for every size: Dynamic hidden and input sizes
// and a Dynamic depth, chosen at run time from the settings.
#ifndef TOY_TRANSLATION_MODEL_TYPE_HPP
#define TOY_TRANSLATION_MODEL_TYPE_HPP

#include <seq2seq/model.hpp>

namespace toy {

using Scalar = float;
using Cell = seq2seq::LSTMCell<Scalar, seq2seq::Dynamic, seq2seq::Dynamic>;
using Stack = seq2seq::StackedLSTM<Cell, seq2seq::Dynamic>;
using Model = seq2seq::Seq2Seq<seq2seq::Encoder<Stack>, seq2seq::Decoder<Stack>>;

}  // namespace toy

#endif  // TOY_TRANSLATION_MODEL_TYPE_HPP

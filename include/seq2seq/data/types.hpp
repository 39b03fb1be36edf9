// seq2seq: token and batch types shared by the data pipeline and the model.
#ifndef SEQ2SEQ_DATA_TYPES_HPP
#define SEQ2SEQ_DATA_TYPES_HPP

#include <cstddef>
#include <cstdint>
#include <vector>

namespace seq2seq {

/// Index of a word in a Vocab.
using TokenId = std::int32_t;
/// A sentence as token ids (no <s> and no <EOS>: the model adds them).
using Sentence = std::vector<TokenId>;

/// Reserved ids of every Vocab: padding, unknown word, decoder start, end of sentence.
struct Special {
  static constexpr TokenId pad = 0, unk = 1, bos = 2, eos = 3;
  static constexpr int count = 4;
};

/// A batch of sentence pairs (token ids, without <s> and <EOS>: the model adds them).
struct PairBatch {
  std::vector<Sentence> source, target;
  std::size_t size() const { return source.size(); }
};

}  // namespace seq2seq

#endif  // SEQ2SEQ_DATA_TYPES_HPP

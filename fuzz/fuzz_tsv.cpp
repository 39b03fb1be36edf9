// libFuzzer target: the TSV corpus reader, the tokenizer, Vocab and the batcher on arbitrary bytes.
// See targets.hpp for what is checked; fuzz/CMakeLists.txt for how to build and run it.
#include "targets.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  seq2seq::fuzz::check_tsv(data, size);
  return 0;
}

// libFuzzer target: the checkpoint readers (safetensors parser, load_parameters,
// load_training_state) on arbitrary bytes. See targets.hpp for what is checked; fuzz/CMakeLists.txt
// for how to build and run it.
#include "targets.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  seq2seq::fuzz::check_checkpoint(data, size);
  return 0;
}

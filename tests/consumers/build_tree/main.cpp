// Uses seq2seq from its build tree (find_package with seq2seq_DIR = the build directory).
#include <seq2seq/model_config.hpp>

#include <iostream>

int main() {
  seq2seq::ModelConfig c = seq2seq::ModelConfig::paper();
  const seq2seq::ModelConfig back = seq2seq::config_from_json(seq2seq::config_to_json(c));
  const bool same = back.hidden == c.hidden && back.layers == c.layers && back.source_vocab == c.source_vocab;
  std::cout << "seq2seq " << SEQ2SEQ_VERSION_STRING << " from the build tree: " << seq2seq::expected_parameter_count(c)
            << " parameters in the paper's model\n";
  return same ? 0 : 1;
}

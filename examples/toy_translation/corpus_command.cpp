// toy_translation corpus: the built-in English -> Zuvi corpus (or one of its splits) as TSV.
#include "commands.hpp"
#include "run_files.hpp"
#include "toy_corpus.hpp"

#include <iostream>

namespace toy {

int run_corpus(const DataSpec& d, const std::string& output, const std::string& part) {
  std::vector<Pair> pairs;
  if (part == "all") {
    pairs = generate(d.pairs, d.corpus_seed);
  } else {
    DataSpec builtin = d;
    builtin.data.clear();
    const seq2seq::CorpusSplit s = load_splits(builtin);
    pairs = part == "train" ? s.train : part == "valid" ? s.valid : s.test;
  }
  std::string text;
  for (const Pair& p : pairs) text += p.source + "\t" + p.target + "\n";
  if (output.empty() || output == "-")
    std::cout << text;
  else
    write_text_file(output, text);
  return 0;
}

}  // namespace toy

// toy_translation eval: BLEU, exact match and perplexity of a trained model on a test set.
#include "commands.hpp"
#include "evaluation.hpp"
#include "reporting.hpp"
#include "run_files.hpp"

#include <chrono>
#include <iostream>

namespace toy {

int run_eval(const std::string& model_path, const std::string& data, const std::string& test, std::size_t beam,
             bool beam_given, std::size_t show, const std::string& output, bool tokenized) {
  const Bundle b = load_bundle(resolve_model_path(model_path));
  std::vector<Pair> pairs;
  std::string what;
  if (!test.empty()) {
    pairs = seq2seq::read_tsv_file(test);
    what = "'" + test + "'";
  } else if (!data.empty()) {
    pairs = seq2seq::read_tsv_file(data);
    what = "'" + data + "' (every pair)";
  } else {
    const seq2seq::CorpusSplit s = load_splits(b.settings.data);
    if (s.test.empty()) throw std::runtime_error("the model's data has no test split; give --test FILE");
    pairs = s.test;
    what = "the test split of the " + b.settings.data.describe();
  }
  const std::size_t k = beam_given ? beam : b.settings.beam;
  if (k == 0) throw UsageError("--beam must be at least 1");
  const auto t0 = std::chrono::steady_clock::now();
  const EvalResult r = evaluate(b, pairs, k);
  std::cout << "eval on " << what << ", " << (k <= 1 ? std::string("greedy") : "beam " + std::to_string(k)) << ":\n"
            << describe_eval(r) << "  [" << fixed(seconds_since(t0), 1) << " s]\n";
  print_samples(std::cout, r, show);
  if (!output.empty()) {
    std::string text;
    for (const std::string& h : tokenized ? r.tokenized : r.hypotheses) text += h + "\n";
    write_text_file(output, text);
  }
  return 0;
}

}  // namespace toy

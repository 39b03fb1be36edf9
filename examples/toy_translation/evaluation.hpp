// toy_translation: how well a model translates a set of pairs: multi-reference BLEU, exact
// match and perplexity.
#ifndef TOY_TRANSLATION_EVALUATION_HPP
#define TOY_TRANSLATION_EVALUATION_HPP

#include "run_files.hpp"

#include <seq2seq/eval/bleu.hpp>

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

namespace toy {

struct EvalResult {
  seq2seq::BleuResult bleu;     // lower-cased, on bleu_tokens of the detokenized text (as bleu.py)
  seq2seq::BleuResult cased_bleu;  // the same tokens with their case (models that keep case)
  bool cased = false;           // the target tokenizer keeps case: cased_bleu is set
  double exact = 0;             // fraction of sources translated as one of the references (bleu_tokens, cased if the model is)
  double perplexity = 0;        // exp(summed NLL / target tokens incl. <EOS>), every pair
  double nll_per_pair = 0;      // summed NLL / pairs: the training objective
  std::size_t sentences = 0;    // distinct sources
  std::size_t pairs = 0;
  std::size_t tokens = 0;
  std::size_t skipped = 0;      // pairs over the model's length limit
  std::vector<std::string> sources, hypotheses;  // in order of the reference groups; hypotheses detokenized
  std::vector<std::string> tokenized;            // the hypotheses' tokens joined by spaces
  std::vector<std::vector<std::string>> references;
};

/// Translates every distinct source of `pairs` (in batches of `batch_size`: greedy, or batched beam
/// search; in the model's precision, with b.shortlist when set) and scores the result against all
/// its references; perplexity over every pair. At most
/// `max_sentences` sources are translated when it is not 0. Throws Interrupted on Ctrl-C.
EvalResult evaluate(const Bundle& b, const std::vector<Pair>& pairs, std::size_t beam, std::size_t batch_size = 128,
                    std::size_t max_sentences = 0);

/// "BLEU 26.41 (58.2/32.0/19.9/12.6, BP 0.977)[, cased BLEU 24.10], exact match ..., perplexity ...".
std::string describe_eval(const EvalResult& r);
/// The first `n` sources with their first reference and the model's output.
void print_samples(std::ostream& out, const EvalResult& r, std::size_t n);

}  // namespace toy

#endif  // TOY_TRANSLATION_EVALUATION_HPP

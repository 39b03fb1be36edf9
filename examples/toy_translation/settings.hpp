// toy_translation: what a run is told (the data, the model, the recipe), recorded in every
// checkpoint so that --resume, eval and translate know how the model was made.
#ifndef TOY_TRANSLATION_SETTINGS_HPP
#define TOY_TRANSLATION_SETTINGS_HPP

#include "app.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace toy {

/// The data of a run: the built-in corpus (empty `data`) or a TSV file, split into train /
/// valid / test with no source sentence in two parts, unless --valid / --test files are given.
struct DataSpec {
  std::string data, valid, test;
  std::uint64_t pairs = 50000;       // built-in corpus size (distinct English sentences)
  std::uint64_t corpus_seed = 1;     // the built-in generator's seed
  double valid_fraction = 0.04, test_fraction = 0.04;
  std::uint64_t split_seed = 1;
  std::uint64_t max_source_vocab = 0, max_target_vocab = 0, min_count = 1;
  std::uint64_t max_length = 50;     // longer training pairs are dropped; longer inputs refused
  // Tokenizers (made from the training split, stored in every checkpoint): 0 = words (lower-cased,
  // punctuation split, detokenized by the spacing learned from the training text); N = SentencePiece
  // with N pieces per side (one model of N pieces for both sides with subwords_joint), cased.
  std::uint64_t subwords = 0;
  bool subwords_joint = false;
  std::string subword_type = "unigram";  // or "bpe"

  nlohmann::json to_json() const;
  static DataSpec from_json(const nlohmann::json& j);
  /// "built-in English -> Zuvi corpus (...)" or "'FILE'".
  std::string describe() const;
};

/// Everything `train` can be told.
struct TrainSettings {
  std::string preset = "toy";
  Index embed = 64, hidden = 128, layers = 2;
  bool reverse = true;
  // The paper's optimizer and schedule (plain SGD at 0.7, halved every half epoch after epoch 5,
  // 7.5 epochs, clip 5, uniform 0.08); a smaller model, smaller batches and a forget-gate bias of 1.
  std::string optimizer = "sgd";
  double lr = 0.7;
  std::string schedule = "paper";
  std::uint64_t batch = 32;
  double clip = 5.0;
  double init = 0.08;
  double forget_bias = 1.0;
  double epochs = 7.5;
  std::uint64_t seed = 1;
  std::uint64_t beam = 1;  // the default beam of translate and eval
  double dropout = 0;      // Zaremba et al. 2014, on the non-recurrent connections; 0 = off
  // Subword regularisation (with subwords): every epoch trains on a new segmentation of the
  // training pairs, sampled by SentencePiece with this alpha (BPE: the merge-dropout probability
  // of Provilkov et al. 2020; unigram: the smoothing of Kudo 2018); 0 = off, one segmentation.
  double subword_alpha = 0;
  // The operands of the training step's large products: "float", or "bf16" (rounded to bfloat16,
  // sums in float, seq2seq::set_bf16_products; the weights, gradients and optimizer stay float).
  std::string precision = "float";
  // What model.safetensors holds: "last" (the latest model), "best" (the best validation metric)
  // or "average" (the parameter mean of the last `average` epoch-end checkpoints).
  std::string keep = "last";
  std::uint64_t average = 3;
  std::string valid_metric = "ppl";  // "ppl" (validation perplexity) or "bleu" (greedy validation BLEU)
  std::uint64_t patience = 0;        // stop after this many validations without a better metric; 0 = never
  // Batches of similar length: every epoch the pairs are shuffled, windows of `bucket_batches`
  // batches (0 = the whole corpus) sorted by `sort_key` ("source": source length; "pair": source,
  // then target length), cut into batches and the batches shuffled (seq2seq::plan_batches).
  std::uint64_t bucket_batches = 0;
  std::string sort_key = "source";
  DataSpec data;

  /// True when a validation set is held out or given (--valid-fraction > 0 or --valid FILE).
  bool validates() const { return !data.valid.empty() || data.valid_fraction > 0; }

  nlohmann::json to_json() const;
  static TrainSettings from_json(const nlohmann::json& j);
};

/// The paper's recipe (section 3.4): 4 layers of 1000 cells, 1000-d embeddings, 160k/80k
/// vocabularies, uniform(-0.08, 0.08) initialisation, plain SGD at 0.7 halved every half epoch
/// after epoch 5, 7.5 epochs, batches of 128, gradient norm clipped at 5, beam 12. Far too big for
/// the toy corpus: it sets the values, it does not make them fast.
void apply_paper_preset(TrainSettings& s);

/// The train / valid / test pairs of a DataSpec.
seq2seq::CorpusSplit load_splits(const DataSpec& d);

}  // namespace toy

#endif  // TOY_TRANSLATION_SETTINGS_HPP

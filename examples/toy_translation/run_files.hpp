// toy_translation: the files of a run directory: model checkpoints (io::save_model's file with
// the training settings in its metadata), the CSV log and the learning curve.
#ifndef TOY_TRANSLATION_RUN_FILES_HPP
#define TOY_TRANSLATION_RUN_FILES_HPP

#include "app.hpp"
#include "model_type.hpp"
#include "settings.hpp"

#include <seq2seq/data/vocab.hpp>
#include <seq2seq/io/model_file.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace toy {

namespace fs = std::filesystem;
using seq2seq::Vocab;

/// A trained model with its vocabularies and settings, as stored in a checkpoint.
struct Bundle {
  seq2seq::ModelConfig config;
  Vocab source, target;
  // Text <-> tokens of each side (the model file's "source_tokenizer"/"target_tokenizer"; older
  // files: the legacy word tokenizer).
  std::shared_ptr<const seq2seq::Tokenizer> source_tokenizer, target_tokenizer;
  TrainSettings settings;
  std::unique_ptr<Model> model;
  std::int64_t step = 0;  // training step at which the parameters were saved
  std::map<std::string, std::string> notes;  // more metadata ("averaged_from", "shortlist")
  std::shared_ptr<const seq2seq::Shortlist> shortlist;  // used by translate and eval when set
};

/// The metadata key of the shortlist learned at training (seq2seq::Shortlist's text form).
inline constexpr const char* kShortlistNote = "shortlist";

/// Sets the decoding precision of b's model ("float", "bf16" or "int8") and its shortlist: the
/// one stored with the model (`stored`) or one read from `file` (neither: none). Throws
/// UsageError for a bad precision, std::runtime_error for a model without a stored shortlist or
/// a bad file.
void set_decoding(Bundle& b, const std::string& precision, bool stored, const std::string& file);

/// io::save_model's file (parameters, configuration, both vocabularies) with the tokenizers and the
/// training settings and step as extra metadata ("source_tokenizer", "target_tokenizer",
/// "training", "training_step").
void save_bundle(const fs::path& path, const Bundle& b);
/// io::load_model, then the settings; throws naming the file when it was not written by us.
Bundle load_bundle(const fs::path& path);
/// The same from a model already loaded (io::load_model or io::average_models) from `path`.
Bundle to_bundle(seq2seq::io::LoadedModel<Model>&& loaded, const fs::path& path);
/// The parameter mean of several model files of one run (io::average_models), with the first
/// file's vocabularies, tokenizers and settings; notes["averaged_from"] lists the files.
Bundle average_bundles(const std::vector<std::string>& paths);
/// A model directory (holding model.safetensors) or a checkpoint file.
fs::path resolve_model_path(const std::string& where);

/// One row of train_log.csv.
struct LogRow {
  std::int64_t step = 0;
  double epoch = 0, elapsed = 0;
  std::string kind;  // "train" or "valid"
  double loss = 0, perplexity = 0, tokens_per_s = 0, lr = 0, bleu = -1, exact = -1;
};
/// Rows of an existing log with step <= max_step (a resumed run drops what came after its checkpoint).
std::vector<LogRow> read_log(const fs::path& path, std::int64_t max_step);
void write_log(const fs::path& path, const std::vector<LogRow>& rows);
/// learning_curve.svg: training and validation perplexity against epochs.
void write_curve(const fs::path& path, const std::vector<LogRow>& rows, const std::string& title);

}  // namespace toy

#endif  // TOY_TRANSLATION_RUN_FILES_HPP

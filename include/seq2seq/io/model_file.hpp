// seq2seq: a whole model in one file — parameters, configuration and both vocabularies — so a
// program can load a trained model and translate text without knowing how it was built.
#ifndef SEQ2SEQ_IO_MODEL_FILE_HPP
#define SEQ2SEQ_IO_MODEL_FILE_HPP

#include "../data/tokenizers.hpp"
#include "../data/vocab.hpp"
#include "../model_config.hpp"
#include "../precision.hpp"
#include "checkpoint.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// The file is a parameter checkpoint (save_parameters) whose metadata carries three more strings,
// the convention that examples/toy_translation and tools/interop/seq2seq_torch.py share:
//
//   "config"        ModelConfig as JSON: {"embed":..,"hidden":..,"layers":..,"max_length":..,
//                   "peephole":..,"per_token_loss":..,"reverse_source":..,"source_vocab":..,
//                   "target_vocab":..} (sorted keys, no spaces). The five sizes are required; the
//                   flags default to ModelConfig's defaults when absent (PyTorch-made files).
//   "source_vocab"  Vocab::to_json() of the source vocabulary
//   "target_vocab"  Vocab::to_json() of the target vocabulary
//
// and, when the caller adds them (tokenizer_metadata), two optional ones:
//
//   "source_tokenizer", "target_tokenizer"   Tokenizer::to_json() of each side's tokenizer (a
//                   SentencePiece model inside as base64); absent: WordTokenizer::legacy()
//
// Every other caller key is kept and handed back by load_model.

namespace seq2seq {
namespace io {

// The configuration's JSON form lives with ModelConfig (model_config.hpp); io:: spellings kept.
using seq2seq::config_from_json;
using seq2seq::config_to_json;
using seq2seq::expected_parameter_count;

/// Metadata keys of save_model's file.
inline constexpr const char* kSourceTokenizerKey = "source_tokenizer";
inline constexpr const char* kTargetTokenizerKey = "target_tokenizer";
inline constexpr const char* kConfigKey = "config";
inline constexpr const char* kSourceVocabKey = "source_vocab";
inline constexpr const char* kTargetVocabKey = "target_vocab";

/// Saves `model` with its configuration (model.config()) and both vocabularies, plus the caller's
/// `metadata`, atomically. Throws std::invalid_argument when a vocabulary's size differs from the
/// configuration's, or when `metadata` uses "config", "source_vocab", "target_vocab" or the reserved
/// prefix "seq2seq.".
template <typename Model>
void save_model(const std::string& path, const Model& model, const Vocab& source_vocab, const Vocab& target_vocab,
                const std::map<std::string, std::string>& metadata = {}) {
  const ModelConfig& config = model.config();
  detail::require(static_cast<Index>(source_vocab.size()) == config.source_vocab, [&] {
    return "save_model: the source vocabulary has " + std::to_string(source_vocab.size()) +
           " tokens but the model's configuration says " + std::to_string(config.source_vocab);
  });
  detail::require(static_cast<Index>(target_vocab.size()) == config.target_vocab, [&] {
    return "save_model: the target vocabulary has " + std::to_string(target_vocab.size()) +
           " tokens but the model's configuration says " + std::to_string(config.target_vocab);
  });
  std::map<std::string, std::string> all = metadata;
  for (const char* key : {kConfigKey, kSourceVocabKey, kTargetVocabKey})
    detail::require(all.count(key) == 0, [&] {
      return std::string("save_model: metadata key '") + key + "' is written by save_model itself";
    });
  all[kConfigKey] = config_to_json(config);
  all[kSourceVocabKey] = source_vocab.to_json();
  all[kTargetVocabKey] = target_vocab.to_json();
  save_parameters(path, model, all);
}

/// What a model file describes, read from its header alone (no tensor data).
struct ModelInfo {
  ModelConfig config;
  Vocab source_vocab, target_vocab;
  std::map<std::string, std::string> metadata;  // the caller's other keys
};

/// A loaded model with everything needed to translate text.
template <typename Model>
struct LoadedModel {
  explicit LoadedModel(ModelInfo info)
      : config(info.config),
        source_vocab(std::move(info.source_vocab)),
        target_vocab(std::move(info.target_vocab)),
        metadata(std::move(info.metadata)),
        model(config) {}

  ModelConfig config;
  Vocab source_vocab, target_vocab;
  std::map<std::string, std::string> metadata;  // the caller's other keys
  Model model;
};

/// Reads and checks the configuration and vocabularies of a model file (the header only): the
/// keys must be present and parse, the vocabularies must have the configured sizes, and the
/// configuration must describe as many parameters as the file holds. Throws std::invalid_argument
/// ("seq2seq: checkpoint '<path>': ...") naming the problem.
inline ModelInfo read_model_info(const std::string& path) {
  const SafetensorsFile f = SafetensorsFile::open(path);
  detail::check_content(f, "parameters");
  const auto get = [&](const char* key) -> const std::string& {
    const auto it = f.metadata().find(key);
    if (it == f.metadata().end())
      detail::bad_file(f.source(), std::string("no \"") + key + "\" in its metadata (not written by io::save_model?)");
    return it->second;
  };
  const std::string& config_text = get(kConfigKey);
  const std::string& source_text = get(kSourceVocabKey);
  const std::string& target_text = get(kTargetVocabKey);
  ModelInfo info;
  try {
    info.config = config_from_json(config_text);
    info.source_vocab = Vocab::from_json(source_text);
    info.target_vocab = Vocab::from_json(target_text);
  } catch (const std::invalid_argument& e) {  // "seq2seq: <what>": said again with the file's name
    const std::string what = e.what();
    detail::bad_file(f.source(), what.rfind("seq2seq: ", 0) == 0 ? what.substr(9) : what);
  }
  const ModelConfig& c = info.config;
  if (static_cast<Index>(info.source_vocab.size()) != c.source_vocab ||
      static_cast<Index>(info.target_vocab.size()) != c.target_vocab)
    detail::bad_file(f.source(), "the vocabularies (" + std::to_string(info.source_vocab.size()) + " and " +
                                     std::to_string(info.target_vocab.size()) +
                                     " tokens) do not match the configuration (" + std::to_string(c.source_vocab) +
                                     " and " + std::to_string(c.target_vocab) + ")");
  // The model is allocated from the configuration, so the configuration is checked against the
  // tensors first: a damaged or hostile one cannot ask for more memory than the file itself holds.
  double in_file = 0;
  for (const TensorInfo& t : f.tensors()) in_file += static_cast<double>(t.num_elements());
  const double needed = expected_parameter_count(c);
  if (needed != in_file)
    detail::bad_file(f.source(), "its configuration describes " + detail::count_string(needed) +
                                     " parameters but the file holds " + detail::count_string(in_file));
  info.metadata = detail::user_metadata(f.metadata());
  for (const char* key : {kConfigKey, kSourceVocabKey, kTargetVocabKey}) info.metadata.erase(key);
  return info;
}

/// Loads a file written by save_model: configuration and vocabularies first (read_model_info),
/// then a `Model` built from that configuration (its compile-time sizes must agree) and its
/// parameters (load_parameters: names, shapes, dtypes, checksums, finite values). Throws
/// std::invalid_argument naming the problem.
template <typename Model>
LoadedModel<Model> load_model(const std::string& path) {
  LoadedModel<Model> out(read_model_info(path));
  load_parameters(path, out.model);
  return out;
}

/// The same, then the model's decoding precision set (Seq2Seq::set_precision): int8 or bf16
/// copies of the weights decoding multiplies, or float32's packed ones.
template <typename Model>
LoadedModel<Model> load_model(const std::string& path, Precision precision) {
  LoadedModel<Model> out = load_model<Model>(path);
  out.model.set_precision(precision);
  return out;
}

/// Checkpoint averaging: the parameter mean of several files written by save_model (e.g. the last
/// epochs of one run), which usually translates better than any one of them. Every file must hold
/// the first one's configuration and vocabularies; the result is the first file's LoadedModel
/// (its metadata included) with every parameter replaced by the element-wise mean over the files,
/// accumulated in double. Throws std::invalid_argument naming the file that differs or fails to
/// load; nothing is returned half-averaged.
template <typename Model>
LoadedModel<Model> average_models(const std::vector<std::string>& paths) {
  seq2seq::detail::require(!paths.empty(), "average_models: no files to average");
  LoadedModel<Model> out = load_model<Model>(paths.front());
  std::vector<Matrix<double>> sum;
  out.model.visit_parameters([&](const ParamName&, const auto& p) { sum.push_back(p.value.template cast<double>()); });
  const std::string config = config_to_json(out.config);
  for (std::size_t k = 1; k < paths.size(); ++k) {
    const LoadedModel<Model> other = load_model<Model>(paths[k]);
    seq2seq::detail::require(config_to_json(other.config) == config, [&] {
      return "average_models: '" + paths[k] + "' has another configuration (" + config_to_json(other.config) + ") than '" +
             paths.front() + "' (" + config + ")";
    });
    seq2seq::detail::require(other.source_vocab == out.source_vocab && other.target_vocab == out.target_vocab, [&] {
      return "average_models: '" + paths[k] + "' has other vocabularies than '" + paths.front() + "'";
    });
    for (const char* key : {kSourceTokenizerKey, kTargetTokenizerKey}) {
      const auto mine = out.metadata.find(key);
      const auto theirs = other.metadata.find(key);
      const bool same = (mine == out.metadata.end()) == (theirs == other.metadata.end()) &&
                        (mine == out.metadata.end() || mine->second == theirs->second);
      seq2seq::detail::require(same, [&] {
        return "average_models: '" + paths[k] + "' has another " + key + " than '" + paths.front() + "'";
      });
    }
    std::size_t i = 0;
    other.model.visit_parameters([&](const ParamName&, const auto& p) { sum[i++] += p.value.template cast<double>(); });
  }
  const double n = static_cast<double>(paths.size());
  std::size_t i = 0;
  out.model.visit_parameters([&](const ParamName&, auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    p.value = (sum[i++] / n).template cast<S>();
  });
  return out;
}

/// The tokenizers of a model file, both sides.
struct Tokenizers {
  std::shared_ptr<const Tokenizer> source, target;
};

/// The metadata entries that carry `source` and `target` in a model file: merge them into
/// save_model's `metadata`, and load_tokenizers rebuilds both from the loaded file's.
inline std::map<std::string, std::string> tokenizer_metadata(const Tokenizer& source, const Tokenizer& target) {
  return {{kSourceTokenizerKey, source.to_json().dump()}, {kTargetTokenizerKey, target.to_json().dump()}};
}

/// Rebuilds the tokenizers of a model file from its metadata (LoadedModel::metadata or
/// ModelInfo::metadata): a side without its key is WordTokenizer::legacy(), the word tokenizer of
/// files written before tokenizers travelled in them. Throws std::invalid_argument ("seq2seq:
/// source_tokenizer: ...") for a damaged entry or a kind this program cannot rebuild (a
/// SentencePiece model without seq2seq::sentencepiece: the message says what to link).
inline Tokenizers load_tokenizers(const std::map<std::string, std::string>& metadata) {
  const auto side = [&](const char* key) -> std::shared_ptr<const Tokenizer> {
    const auto it = metadata.find(key);
    if (it == metadata.end()) return std::make_shared<WordTokenizer>(WordTokenizer::legacy());
    try {
      return tokenizer_from_json(it->second);
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      throw std::invalid_argument(std::string("seq2seq: ") + key + ": " +
                                  (what.rfind("seq2seq: ", 0) == 0 ? what.substr(9) : what));
    }
  };
  Tokenizers t;
  t.source = side(kSourceTokenizerKey);
  t.target = side(kTargetTokenizerKey);
  return t;
}

}  // namespace io
}  // namespace seq2seq

#endif  // SEQ2SEQ_IO_MODEL_FILE_HPP

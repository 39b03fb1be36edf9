// seq2seq: a whole model in one file — parameters, configuration and both vocabularies — so a
// program can load a trained model and translate text without knowing how it was built.
#ifndef SEQ2SEQ_IO_MODEL_FILE_HPP
#define SEQ2SEQ_IO_MODEL_FILE_HPP

#include "../data/vocab.hpp"
#include "../model.hpp"
#include "checkpoint.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

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
// Every other caller key is kept and handed back by load_model.

namespace seq2seq {
namespace io {

/// Metadata keys of save_model's file.
inline constexpr const char* kConfigKey = "config";
inline constexpr const char* kSourceVocabKey = "source_vocab";
inline constexpr const char* kTargetVocabKey = "target_vocab";

namespace detail {
[[noreturn]] inline void bad_config(const std::string& what) {
  throw std::invalid_argument("seq2seq: model configuration JSON: " + what);
}
/// A count held in a double: digits while it fits in 64 bits (exact up to 2^53), "1.6e+19" beyond
/// (a hostile configuration's product of sizes must not overflow a conversion).
inline std::string count_string(double n) {
  if (n < 9.0e18) return std::to_string(static_cast<long long>(n));
  std::ostringstream out;
  out << std::setprecision(3) << n;
  return out.str();
}
}  // namespace detail

/// `config` as the JSON text of the "config" metadata key (sorted keys, no spaces).
inline std::string config_to_json(const ModelConfig& config) {
  const nlohmann::json j{{"source_vocab", config.source_vocab},
                         {"target_vocab", config.target_vocab},
                         {"embed", config.embed},
                         {"hidden", config.hidden},
                         {"layers", config.layers},
                         {"reverse_source", config.reverse_source},
                         {"peephole", config.peephole},
                         {"max_length", config.max_length},
                         {"per_token_loss", config.per_token_loss}};
  return j.dump();
}

/// Parses config_to_json's text. The five sizes are required and must be positive (max_length
/// non-negative); the flags take ModelConfig's defaults when absent; other keys are ignored (a
/// newer writer's additions). Throws std::invalid_argument ("seq2seq: model configuration JSON:
/// ...") naming the problem.
inline ModelConfig config_from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    detail::bad_config(std::string("not JSON (") + e.what() + ")");
  }
  if (!j.is_object()) detail::bad_config("not a JSON object");
  // Sizes: integers in [min, 2^31) (a larger size could not be allocated anyway, and keeps
  // products of two sizes far from overflow in Index).
  const auto size = [&](const char* key, Index min) -> Index {
    const auto it = j.find(key);
    if (it == j.end()) detail::bad_config(std::string("no \"") + key + "\"");
    if (!it->is_number_integer()) detail::bad_config(std::string("\"") + key + "\" is not an integer");
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    const bool huge = it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(kMax);
    const std::int64_t v = huge ? kMax : it->get<std::int64_t>();
    if (v < min || v > std::numeric_limits<std::int32_t>::max())
      detail::bad_config(std::string("\"") + key + "\" = " + it->dump() + " is out of range [" + std::to_string(min) +
                         ", 2^31)");
    return static_cast<Index>(v);
  };
  const auto flag = [&](const char* key, bool fallback) -> bool {
    const auto it = j.find(key);
    if (it == j.end()) return fallback;
    if (!it->is_boolean()) detail::bad_config(std::string("\"") + key + "\" is not true or false");
    return it->get<bool>();
  };
  ModelConfig c;
  c.source_vocab = size("source_vocab", 1);
  c.target_vocab = size("target_vocab", 1);
  c.embed = size("embed", 1);
  c.hidden = size("hidden", 1);
  c.layers = size("layers", 1);
  c.max_length = j.contains("max_length") ? size("max_length", 0) : 0;
  c.reverse_source = flag("reverse_source", c.reverse_source);
  c.peephole = flag("peephole", c.peephole);
  c.per_token_loss = flag("per_token_loss", c.per_token_loss);
  return c;
}

/// The number of scalars a Seq2Seq model of `config` holds (embeddings, both stacks with their
/// peepholes, the softmax), computed without building it, in double so a hostile configuration
/// cannot overflow it.
inline double expected_parameter_count(const ModelConfig& c) {
  const double E = static_cast<double>(c.embed), H = static_cast<double>(c.hidden);
  const double L = static_cast<double>(c.layers);
  const double peephole = c.peephole ? 3 * H : 0;
  const double stack = (4 * H * (E + H) + 4 * H + peephole) + (L - 1) * (4 * H * (2 * H) + 4 * H + peephole);
  return static_cast<double>(c.source_vocab) * E + stack + static_cast<double>(c.target_vocab) * E + stack +
         static_cast<double>(c.target_vocab) * (H + 1);
}

/// Saves `model` with its configuration (model.config()) and both vocabularies, plus the caller's
/// `metadata`, atomically. Throws std::invalid_argument when a vocabulary's size differs from the
/// configuration's, or when `metadata` uses "config", "source_vocab", "target_vocab" or the reserved
/// prefix "seq2seq.".
template <typename Model>
void save_model(const std::string& path, const Model& model, const Vocab& source_vocab, const Vocab& target_vocab,
                const std::map<std::string, std::string>& metadata = {}) {
  const ModelConfig& config = model.config();
  seq2seq::detail::require(static_cast<Index>(source_vocab.size()) == config.source_vocab, [&] {
    return "save_model: the source vocabulary has " + std::to_string(source_vocab.size()) +
           " tokens but the model's configuration says " + std::to_string(config.source_vocab);
  });
  seq2seq::detail::require(static_cast<Index>(target_vocab.size()) == config.target_vocab, [&] {
    return "save_model: the target vocabulary has " + std::to_string(target_vocab.size()) +
           " tokens but the model's configuration says " + std::to_string(config.target_vocab);
  });
  std::map<std::string, std::string> all = metadata;
  for (const char* key : {kConfigKey, kSourceVocabKey, kTargetVocabKey})
    seq2seq::detail::require(all.count(key) == 0, [&] {
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

}  // namespace io
}  // namespace seq2seq

#endif  // SEQ2SEQ_IO_MODEL_FILE_HPP

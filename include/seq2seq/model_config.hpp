// seq2seq: ModelConfig, the run-time description of a model: its sizes and flags, its JSON form
// (the "config" key of a model file) and the number of parameters it describes.
#ifndef SEQ2SEQ_MODEL_CONFIG_HPP
#define SEQ2SEQ_MODEL_CONFIG_HPP

#include "config.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <iomanip>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace seq2seq {

/// Run-time description of a model: what a checkpoint records and what Dynamic sizes are built from.
struct ModelConfig {
  Index source_vocab = 0;
  Index target_vocab = 0;
  Index embed = 0;
  Index hidden = 0;
  Index layers = 0;
  bool reverse_source = true;   // the paper's trick; false reads the source in order
  bool peephole = false;        // informational: must equal the compiled cell's option
  Index max_length = 0;         // longest accepted source/target in words; 0 = unlimited
  bool per_token_loss = false;  // false: summed NLL / number of sequences (the paper); true: per token

  /// The paper's configuration: 4 layers of 1000 cells, 1000-d embeddings, 160k/80k vocabularies.
  static ModelConfig paper() {
    ModelConfig c;
    c.source_vocab = 160000;
    c.target_vocab = 80000;
    c.embed = 1000;
    c.hidden = 1000;
    c.layers = 4;
    return c;
  }
};

/// The divisor of a batch's summed negative log-likelihood, decided here for every caller
/// (Seq2Seq's loss, evaluation, the data-parallel step): the number of sequences (the paper's
/// "gradient divided by 128") or, with `per_token_loss`, the number of target tokens (<EOS> included).
inline double loss_normaliser(bool per_token_loss, double sequences, double tokens) {
  return per_token_loss ? tokens : sequences;
}

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

}  // namespace seq2seq

#endif  // SEQ2SEQ_MODEL_CONFIG_HPP

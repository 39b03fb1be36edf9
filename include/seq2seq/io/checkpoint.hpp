// seq2seq: model checkpoints (parameters + metadata) and training-state checkpoints (optimizer
// state, step, epoch, data position, RNG), both in the safetensors layout of io/safetensors.hpp.
#ifndef SEQ2SEQ_IO_CHECKPOINT_HPP
#define SEQ2SEQ_IO_CHECKPOINT_HPP

#include "../config.hpp"
#include "../param.hpp"
#include "../param_layout.hpp"
#include "../rng.hpp"
#include "../optim/optimizer.hpp"
#include "safetensors.hpp"

#include <charconv>
#include <cstdint>
#include <locale>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

// Two files per checkpoint, both safetensors (readable from Python with `safetensors` or by hand):
//
// 1. Parameters (save_parameters / load_parameters): one tensor per parameter, named by
//    visit_parameters ("encoder.layer0.W"), shape [rows, cols] (vectors [n, 1]), F32 or F64 from
//    the model's Scalar, row-major. __metadata__ holds the caller's strings (the configuration and
//    vocabularies as JSON strings, say) plus seq2seq's own keys, which all start with "seq2seq."
//    ("seq2seq.content": "parameters", format version, checksums). Caller keys must not start with
//    "seq2seq."; the maps returned to callers hold only the caller's keys.
//
// 2. Training state (save_training_state / load_training_state): the optimizer's per-parameter
//    state as tensors "optim.<parameter name>.<state name>" (e.g. "optim.encoder.layer0.W.m"), and
//    in __metadata__: "seq2seq.content": "training_state", "seq2seq.optim.policy" (the policy's
//    name, checked on load when both sides have one), "seq2seq.optim.initialized" ("0"/"1"),
//    "seq2seq.optim.step", "seq2seq.train.step", "seq2seq.train.epoch" (shortest round-trip
//    decimal, so it reloads bit-exactly), "seq2seq.train.data_position", "seq2seq.train.rng_state"
//    (std::mt19937_64's textual state), and TrainingState::extra as plain keys.
//    The policy's hyper-parameters are not stored: construct the optimizer with the same ones.
//
// Loading never modifies its target unless everything checked out: the file's tensor names,
// shapes and dtypes are compared with the model's (or the optimizer's) first, the data section is
// read only then (so the allocation is bounded by the model's own size) and its checksum verified,
// and only then are values copied.

namespace seq2seq {
namespace io {

/// Where training stands, saved beside the optimizer state.
struct TrainingState {
  std::int64_t step = 0;            // trainer's step count
  double epoch = 0.0;               // fractional epochs completed (the schedule's input)
  std::uint64_t data_position = 0;  // position in the data order (e.g. next batch index)
  std::string rng_state;            // rng_state(rng): std::mt19937_64's textual state
  std::map<std::string, std::string> extra;  // caller's strings (keys must not start with "seq2seq.")
};

// rng_state / set_rng_state live in rng.hpp; io:: spellings kept for existing callers.
using seq2seq::rng_state;
using seq2seq::set_rng_state;

}  // namespace io
namespace detail {
using namespace seq2seq::io;  // io's internals live in the library's one detail namespace

constexpr const char* key_content = "seq2seq.content";
constexpr std::string_view reserved_prefix = "seq2seq.";

inline bool is_reserved_key(std::string_view key) { return key.substr(0, reserved_prefix.size()) == reserved_prefix; }

inline void check_user_metadata(const std::map<std::string, std::string>& metadata, const char* who) {
  for (const auto& kv : metadata)
    detail::require(!is_reserved_key(kv.first), std::string(who) + ": metadata key '" + kv.first +
                                                              "' starts with the reserved prefix \"seq2seq.\"");
}

inline std::map<std::string, std::string> user_metadata(const std::map<std::string, std::string>& all) {
  std::map<std::string, std::string> out;
  for (const auto& kv : all)
    if (!is_reserved_key(kv.first)) out.emplace(kv.first, kv.second);
  return out;
}

inline const std::string& required_key(const SafetensorsFile& f, const std::string& key) {
  const auto it = f.metadata().find(key);
  if (it == f.metadata().end()) bad_file(f.source(), "__metadata__ has no \"" + key + "\"");
  return it->second;
}

inline void check_content(const SafetensorsFile& f, std::string_view expected) {
  const std::string& content = required_key(f, key_content);
  if (content != expected)
    bad_file(f.source(), "holds '" + content + "', not '" + std::string(expected) + "' (wrong file?)");
}

template <typename T>
inline T parse_number(const SafetensorsFile& f, const std::string& key) {
  const std::string& s = required_key(f, key);
  T v{};
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || s.empty())
    bad_file(f.source(), "\"" + key + "\" = '" + s + "' is not a valid number");
  return v;
}

template <typename T>
inline std::string format_number(T v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form for doubles
  return std::string(buf, r.ptr);
}

/// One parameter of a model, as the checkpoint code needs it: its entry of the model's
/// ParameterLayout and the safetensors dtype of its scalar.
struct ParamRecord {
  std::string name;
  Index rows, cols;
  DType dtype;
};

template <typename Model>
std::vector<ParamRecord> parameter_records(const Model& model, const char* who) {
  std::vector<DType> dtypes;
  model.visit_parameters([&](const ParamName&, const auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    static_assert(has_dtype<S>::value, "seq2seq::io: no safetensors dtype for the model's Scalar");
    dtypes.push_back(dtype_of<S>::value);
  });
  const ParameterLayout layout = parameter_layout(model, who);
  std::vector<ParamRecord> out;
  out.reserve(layout.size());
  for (std::size_t k = 0; k < layout.size(); ++k) out.push_back({layout[k].name, layout[k].rows, layout[k].cols, dtypes[k]});
  return out;
}

inline std::string shape_string(Index rows, Index cols) {
  return "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
}

/// Throws unless the file holds exactly `expected`: same names, shapes and dtypes, nothing else.
inline void check_tensors_match(const SafetensorsFile& f, const std::vector<ParamRecord>& expected, const char* what) {
  std::map<std::string_view, const TensorInfo*> in_file;
  for (const TensorInfo& t : f.tensors()) in_file.emplace(t.name, &t);
  for (const ParamRecord& r : expected) {
    const auto it = in_file.find(r.name);
    if (it == in_file.end())
      bad_file(f.source(), std::string(what) + " '" + r.name + "' is not in the file (a checkpoint of another model?)");
    const TensorInfo& t = *it->second;
    if (!t.matches(r.rows, r.cols))
      bad_file(f.source(), "tensor '" + r.name + "' has shape " + t.shape_string() + " in the file but " +
                               shape_string(r.rows, r.cols) + " in the model");
    if (t.dtype != r.dtype)
      bad_file(f.source(), "tensor '" + r.name + "' is " + std::string(dtype_name(t.dtype)) + " in the file but " +
                               std::string(dtype_name(r.dtype)) + " in the model");
  }
  if (f.tensors().size() != expected.size()) {
    std::set<std::string_view> names;
    for (const ParamRecord& r : expected) names.insert(r.name);
    for (const TensorInfo& t : f.tensors())
      if (names.count(t.name) == 0)
        bad_file(f.source(), "the file holds tensor '" + t.name + "', which the model does not have (" +
                                 std::to_string(f.tensors().size()) + " tensors in the file, " +
                                 std::to_string(expected.size()) + " expected)");
  }
}

inline std::string optim_tensor_name(const std::string& param, std::string_view state) {
  return "optim." + param + "." + std::string(state);
}

}  // namespace detail
namespace io {

/// Saves every parameter of `model` (const visitor order, names from visit_parameters) and the
/// caller's metadata to `path`, atomically.
template <typename Model>
void save_parameters(const std::string& path, const Model& model,
                     const std::map<std::string, std::string>& metadata = {}) {
  detail::check_user_metadata(metadata, "save_parameters");
  SafetensorsWriter w;
  model.visit_parameters([&](const ParamName& name, const auto& p) { w.add(name.str(), p.value); });
  for (const auto& kv : metadata) w.add_metadata(kv.first, kv.second);
  w.add_metadata(detail::key_content, "parameters");
  w.write(path);
}

}  // namespace io
namespace detail {
using namespace seq2seq::io;  // io's internals live in the library's one detail namespace

/// What load_parameters does once the file is open and its data read: checks that `f` holds
/// exactly the model's tensors and that every value is finite, then copies them into `model`. A
/// NaN or Inf weight would only show later, as a NaN loss or a translation of garbage: it is refused
/// here, naming the tensor. Every tensor is decoded into a scratch matrix and checked before the first
/// one is copied, so a refused file leaves the model untouched. (The fuzz target runs this on files
/// parsed in memory, to compare with the file-based loader.)
template <typename Model>
void read_parameters(const SafetensorsFile& f, Model& model) {
  const std::vector<ParamRecord> records = parameter_records(std::as_const(model), "load_parameters");
  check_tensors_match(f, records, "the model's parameter");
  std::as_const(model).visit_parameters([&](const ParamName& name, const auto& p) {
    Matrix<typename std::decay_t<decltype(p.value)>::Scalar> staging(p.value.rows(), p.value.cols());
    f.read_into(*f.find(name.view()), staging);
    if (!staging.allFinite()) bad_file(f.source(), "tensor '" + name.str() + "' holds NaN or Inf values");
  });
  model.visit_parameters([&](const ParamName& name, auto& p) { f.read_into(*f.find(name.view()), p.value); });
}

}  // namespace detail
namespace io {

/// Loads the parameters saved by save_parameters into `model`, which must have exactly the
/// file's tensors (names, shapes, dtypes) and only finite values; otherwise throws naming the first
/// difference or the tensor holding NaN/Inf, and leaves the model untouched. Returns the caller's
/// metadata.
template <typename Model>
std::map<std::string, std::string> load_parameters(const std::string& path, Model& model) {
  SafetensorsFile f = SafetensorsFile::open(path);
  detail::check_content(f, "parameters");
  // The shapes are checked before the data is read, so a file of another model costs no data read.
  detail::check_tensors_match(f, detail::parameter_records(std::as_const(model), "load_parameters"),
                              "the model's parameter");
  f.load_data();
  detail::read_parameters(f, model);
  return detail::user_metadata(f.metadata());
}

/// The caller's metadata of a checkpoint (parameters or training state), reading and validating
/// the header only.
inline std::map<std::string, std::string> read_metadata(const std::string& path) {
  return detail::user_metadata(SafetensorsFile::open(path).metadata());
}

/// Saves the optimizer's state and `state` to `path`, atomically. The optimizer must match the
/// model (or not be initialised yet).
template <typename Policy, typename Scalar, typename Model>
void save_training_state(const std::string& path, const Optimizer<Policy, Scalar>& optimizer, const Model& model,
                         const TrainingState& state) {
  detail::check_user_metadata(state.extra, "save_training_state");
  SafetensorsWriter w;
  std::vector<detail::ParamRecord> records;
  if (optimizer.initialized()) {
    optimizer.check_model(model);
    records = detail::parameter_records(model, "save_training_state");
    optimizer.visit_state([&](std::size_t k, std::string_view state_name, const Matrix<Scalar>& m) {
      w.add(detail::optim_tensor_name(records[k].name, state_name), m);
    });
  }
  for (const auto& kv : state.extra) w.add_metadata(kv.first, kv.second);
  w.add_metadata(detail::key_content, "training_state");
  w.add_metadata("seq2seq.optim.policy", std::string(policy_name(optimizer.policy())));
  w.add_metadata("seq2seq.optim.initialized", optimizer.initialized() ? "1" : "0");
  w.add_metadata("seq2seq.optim.step", detail::format_number(optimizer.step_count()));
  w.add_metadata("seq2seq.train.step", detail::format_number(state.step));
  w.add_metadata("seq2seq.train.epoch", detail::format_number(state.epoch));
  w.add_metadata("seq2seq.train.data_position", detail::format_number(state.data_position));
  w.add_metadata("seq2seq.train.rng_state", state.rng_state);
  w.write(path);
}

/// Restores what save_training_state wrote: the optimizer's states (re-created for `model` with
/// the optimizer's policy, then overwritten from the file) and step count, and returns the
/// TrainingState. Throws, leaving the optimizer untouched, when the file does not match (names,
/// shapes, dtypes, policy name) or is damaged; the RNG state is checked to parse.
template <typename Policy, typename Scalar, typename Model>
TrainingState load_training_state(const std::string& path, Optimizer<Policy, Scalar>& optimizer, const Model& model) {
  SafetensorsFile f = SafetensorsFile::open(path);
  detail::check_content(f, "training_state");
  const std::string& policy = detail::required_key(f, "seq2seq.optim.policy");
  const std::string_view ours = policy_name(optimizer.policy());
  if (!policy.empty() && !ours.empty() && policy != ours)
    detail::bad_file(f.source(), "optimizer state of policy '" + policy + "', but the optimizer is '" + std::string(ours) + "'");
  const std::string& initialized = detail::required_key(f, "seq2seq.optim.initialized");
  if (initialized != "0" && initialized != "1")
    detail::bad_file(f.source(), "\"seq2seq.optim.initialized\" = '" + initialized + "' is not 0 or 1");

  TrainingState state;
  state.step = detail::parse_number<std::int64_t>(f, "seq2seq.train.step");
  state.epoch = detail::parse_number<double>(f, "seq2seq.train.epoch");
  state.data_position = detail::parse_number<std::uint64_t>(f, "seq2seq.train.data_position");
  state.rng_state = detail::required_key(f, "seq2seq.train.rng_state");
  if (!state.rng_state.empty()) {
    std::mt19937_64 probe;
    try {
      set_rng_state(probe, state.rng_state);
    } catch (const std::invalid_argument& e) {
      detail::bad_file(f.source(), std::string("\"seq2seq.train.rng_state\": ") + e.what());
    }
  }
  state.extra = detail::user_metadata(f.metadata());
  const auto optim_step = detail::parse_number<std::int64_t>(f, "seq2seq.optim.step");
  if (optim_step < 0) detail::bad_file(f.source(), "\"seq2seq.optim.step\" is negative");

  Optimizer<Policy, Scalar> restored(optimizer.policy());
  if (initialized == "1") {
    restored.initialize(model);
    const std::vector<detail::ParamRecord> params = detail::parameter_records(model, "load_training_state");
    std::vector<detail::ParamRecord> expected;
    restored.visit_state([&](std::size_t k, std::string_view state_name, const Matrix<Scalar>& m) {
      expected.push_back({detail::optim_tensor_name(params[k].name, state_name), m.rows(), m.cols(), dtype_of<Scalar>::value});
    });
    detail::check_tensors_match(f, expected, "optimizer state");
    f.load_data();
    std::size_t i = 0;
    restored.visit_state([&](std::size_t, std::string_view, Matrix<Scalar>& m) {
      const std::string& name = expected[i++].name;
      f.read_into(*f.find(name), m);
      if (!m.allFinite()) detail::bad_file(f.source(), "optimizer state '" + name + "' holds NaN or Inf values");
    });
  } else if (!f.tensors().empty()) {
    detail::bad_file(f.source(), "the optimizer was not initialised when saved, yet the file holds tensors");
  } else {
    f.load_data();  // verifies the (empty) data section's checksum
  }
  restored.set_step_count(optim_step);
  optimizer = std::move(restored);
  return state;
}

}  // namespace io
}  // namespace seq2seq

#endif  // SEQ2SEQ_IO_CHECKPOINT_HPP

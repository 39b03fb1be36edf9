// toy_translation: checkpoints, log and learning curve of a run directory (run_files.hpp).
#include "run_files.hpp"

#include "model_ops.hpp"
#include "reporting.hpp"
#include "svg.hpp"

#include <seq2seq/io/model_file.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <stdexcept>

namespace toy {

using json = nlohmann::json;

void save_bundle(const fs::path& path, const Bundle& b) {
  std::map<std::string, std::string> meta;
  meta["producer"] = version_string();
  meta["training"] = b.settings.to_json().dump();
  meta["training_step"] = std::to_string(b.step);
  for (const auto& [key, value] : b.notes) meta[key] = value;
  for (auto& [key, value] : seq2seq::io::tokenizer_metadata(*b.source_tokenizer, *b.target_tokenizer)) meta[key] = value;
  seq2seq::io::save_model(path.string(), *b.model, b.source, b.target, meta);
}

fs::path resolve_model_path(const std::string& where) {
  std::error_code ec;
  fs::path p(where);
  if (fs::is_directory(p, ec)) p /= kBestFile;
  if (!fs::exists(p, ec))
    throw std::runtime_error("no model at '" + p.string() + "' (train one first: " + kProgram + " train --out " + where + ")");
  return p;
}

Bundle load_bundle(const fs::path& path) {
  // io::load_model checks the configuration and vocabularies against the file's tensors before
  // it allocates the model, then every tensor; the training settings come from its metadata.
  return to_bundle(seq2seq::io::load_model<Model>(path.string()), path);
}

Bundle average_bundles(const std::vector<std::string>& paths) {
  if (paths.empty()) throw std::invalid_argument("no model files to average");
  Bundle b = to_bundle(seq2seq::io::average_models<Model>(paths), paths.front());
  b.notes["averaged_from"] = nlohmann::json(paths).dump();
  return b;
}

Bundle to_bundle(seq2seq::io::LoadedModel<Model>&& loaded, const fs::path& path) {
  const auto get = [&](const char* key) -> const std::string& {
    const auto it = loaded.metadata.find(key);
    if (it == loaded.metadata.end())
      throw std::runtime_error("checkpoint '" + path.string() + "' was not written by " + kProgram + " (no \"" + key +
                               "\" in its metadata)");
    return it->second;
  };
  Bundle b;
  try {
    b.settings = TrainSettings::from_json(json::parse(get("training")));
    b.step = std::stoll(get("training_step"));
  } catch (const json::exception& e) {
    throw std::runtime_error("checkpoint '" + path.string() + "': unreadable settings in its metadata: " + e.what());
  } catch (const std::logic_error& e) {  // stoll
    throw std::runtime_error("checkpoint '" + path.string() + "': bad \"training_step\" in its metadata");
  }
  b.config = loaded.config;
  b.source = std::move(loaded.source_vocab);
  b.target = std::move(loaded.target_vocab);
  b.model = std::make_unique<Model>(std::move(loaded.model));
  try {
    seq2seq::io::Tokenizers t = seq2seq::io::load_tokenizers(loaded.metadata);
    b.source_tokenizer = std::move(t.source);
    b.target_tokenizer = std::move(t.target);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("checkpoint '" + path.string() + "': " + e.what());
  }
  for (const auto& [key, value] : loaded.metadata)
    if (key != "producer" && key != "training" && key != "training_step" && key != seq2seq::io::kSourceTokenizerKey &&
        key != seq2seq::io::kTargetTokenizerKey)
      b.notes[key] = value;
  return b;
}

void set_decoding(Bundle& b, const std::string& precision, bool stored, const std::string& file) {
  seq2seq::Precision p;
  try {
    p = seq2seq::parse_precision(precision);
  } catch (const std::invalid_argument&) {
    throw UsageError("--precision must be float, bf16 or int8, not '" + precision + "'");
  }
  if (stored && !file.empty()) throw UsageError("give --shortlist or --shortlist-file, not both");
  if (stored) {
    const auto it = b.notes.find(kShortlistNote);
    if (it == b.notes.end())
      throw std::runtime_error("this model has no stored shortlist (trained with --shortlist-k 0, or before shortlists)");
    b.shortlist = std::make_shared<const seq2seq::Shortlist>(
        seq2seq::Shortlist::from_text(it->second, b.source, b.target, "the model's shortlist"));
  } else if (!file.empty()) {
    try {
      b.shortlist = std::make_shared<const seq2seq::Shortlist>(seq2seq::Shortlist::load(file, b.source, b.target));
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(e.what());
    }
  }
  set_precision(*b.model, p);
}

namespace {

constexpr const char* kLogHeader = "step,epoch,elapsed_s,kind,loss,perplexity,tokens_per_s,lr,bleu,exact_match";

std::string csv_line(const LogRow& r) {
  std::ostringstream os;
  os << r.step << ',' << fixed(r.epoch, 4) << ',' << fixed(r.elapsed, 2) << ',' << r.kind << ',' << std::setprecision(6)
     << r.loss << ',' << r.perplexity << ',' << fixed(r.tokens_per_s, 0) << ',' << r.lr << ',';
  if (r.bleu >= 0) os << fixed(r.bleu, 2);
  os << ',';
  if (r.exact >= 0) os << fixed(r.exact, 4);
  return os.str();
}

}  // namespace

std::vector<LogRow> read_log(const fs::path& path, std::int64_t max_step) {
  std::vector<LogRow> rows;
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line != kLogHeader) return rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    if (f.size() < 8) continue;
    try {
      LogRow r;
      r.step = std::stoll(f[0]);
      r.epoch = std::stod(f[1]);
      r.elapsed = std::stod(f[2]);
      r.kind = f[3];
      r.loss = std::stod(f[4]);
      r.perplexity = std::stod(f[5]);
      r.tokens_per_s = std::stod(f[6]);
      r.lr = std::stod(f[7]);
      if (f.size() > 8 && !f[8].empty()) r.bleu = std::stod(f[8]);
      if (f.size() > 9 && !f[9].empty()) r.exact = std::stod(f[9]);
      if (r.step <= max_step) rows.push_back(r);
    } catch (const std::exception&) {
      continue;  // a torn last line of an interrupted run
    }
  }
  return rows;
}

void write_log(const fs::path& path, const std::vector<LogRow>& rows) {
  std::string text = std::string(kLogHeader) + "\n";
  for (const LogRow& r : rows) text += csv_line(r) + "\n";
  write_text_file(path, text);
}

void write_curve(const fs::path& path, const std::vector<LogRow>& rows, const std::string& title) {
  Series train{"train perplexity", "#1f77b4", {}, {}, false};
  Series valid{"valid perplexity", "#d62728", {}, {}, true};
  for (const LogRow& r : rows) {
    Series& s = r.kind == "valid" ? valid : train;
    s.x.push_back(r.epoch);
    s.y.push_back(r.perplexity);
  }
  write_text_file(path, line_chart_svg(title, "epoch", "perplexity", {train, valid}, true));
}

}  // namespace toy

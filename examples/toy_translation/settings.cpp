// toy_translation: settings and data splits (settings.hpp).
#include "settings.hpp"

#include "toy_corpus.hpp"

#include <algorithm>
#include <iostream>
#include <set>
#include <stdexcept>

namespace toy {

using json = nlohmann::json;

json DataSpec::to_json() const {
  return json{{"data", data},
              {"valid", valid},
              {"test", test},
              {"pairs", pairs},
              {"corpus_seed", corpus_seed},
              {"valid_fraction", valid_fraction},
              {"test_fraction", test_fraction},
              {"split_seed", split_seed},
              {"max_source_vocab", max_source_vocab},
              {"max_target_vocab", max_target_vocab},
              {"min_count", min_count},
              {"max_length", max_length},
              {"subwords", subwords},
              {"subwords_joint", subwords_joint},
              {"subword_type", subword_type}};
}

DataSpec DataSpec::from_json(const json& j) {
  DataSpec d;
  d.data = j.at("data").get<std::string>();
  d.valid = j.at("valid").get<std::string>();
  d.test = j.at("test").get<std::string>();
  d.pairs = j.at("pairs").get<std::uint64_t>();
  d.corpus_seed = j.at("corpus_seed").get<std::uint64_t>();
  d.valid_fraction = j.at("valid_fraction").get<double>();
  d.test_fraction = j.at("test_fraction").get<double>();
  d.split_seed = j.at("split_seed").get<std::uint64_t>();
  d.max_source_vocab = j.at("max_source_vocab").get<std::uint64_t>();
  d.max_target_vocab = j.at("max_target_vocab").get<std::uint64_t>();
  d.min_count = j.at("min_count").get<std::uint64_t>();
  d.max_length = j.at("max_length").get<std::uint64_t>();
  // Later additions, absent from older checkpoints (word models).
  d.subwords = j.value("subwords", std::uint64_t{0});
  d.subwords_joint = j.value("subwords_joint", false);
  d.subword_type = j.value("subword_type", std::string("unigram"));
  return d;
}

std::string DataSpec::describe() const {
  if (data.empty())
    return "built-in English -> Zuvi corpus (" + std::to_string(pairs) + " pairs, seed " + std::to_string(corpus_seed) + ")";
  return "'" + data + "'";
}

json TrainSettings::to_json() const {
  return json{{"preset", preset},     {"embed", embed},   {"hidden", hidden},     {"layers", layers},
              {"reverse", reverse},   {"optimizer", optimizer}, {"lr", lr},       {"schedule", schedule},
              {"batch", batch},       {"clip", clip},     {"init", init},         {"forget_bias", forget_bias},
              {"epochs", epochs},     {"seed", seed},     {"beam", beam},         {"data", data.to_json()},
              {"dropout", dropout},   {"keep", keep},     {"average", average},   {"valid_metric", valid_metric},
              {"patience", patience}, {"bucket_batches", bucket_batches}, {"sort_key", sort_key},
              {"subword_alpha", subword_alpha}, {"precision", precision}};
}

TrainSettings TrainSettings::from_json(const json& j) {
  TrainSettings s;
  s.preset = j.at("preset").get<std::string>();
  s.embed = j.at("embed").get<Index>();
  s.hidden = j.at("hidden").get<Index>();
  s.layers = j.at("layers").get<Index>();
  s.reverse = j.at("reverse").get<bool>();
  s.optimizer = j.at("optimizer").get<std::string>();
  s.lr = j.at("lr").get<double>();
  s.schedule = j.at("schedule").get<std::string>();
  s.batch = j.at("batch").get<std::uint64_t>();
  s.clip = j.at("clip").get<double>();
  s.init = j.at("init").get<double>();
  s.forget_bias = j.at("forget_bias").get<double>();
  s.epochs = j.at("epochs").get<double>();
  s.seed = j.at("seed").get<std::uint64_t>();
  s.beam = j.at("beam").get<std::uint64_t>();
  s.data = DataSpec::from_json(j.at("data"));
  // Later additions: absent from older checkpoints, which kept the best validation perplexity.
  s.dropout = j.value("dropout", 0.0);
  s.keep = j.value("keep", std::string("best"));
  s.average = j.value("average", std::uint64_t{3});
  s.valid_metric = j.value("valid_metric", std::string("ppl"));
  s.patience = j.value("patience", std::uint64_t{0});
  s.bucket_batches = j.value("bucket_batches", std::uint64_t{100});  // older runs: windows of 100 batches,
  s.sort_key = j.value("sort_key", std::string("pair"));             // sorted by (source, target) length
  s.subword_alpha = j.value("subword_alpha", 0.0);
  s.precision = j.value("precision", std::string("float"));
  return s;
}

void apply_paper_preset(TrainSettings& s) {
  s.preset = "paper";
  s.embed = 1000;
  s.hidden = 1000;
  s.layers = 4;
  s.optimizer = "sgd";
  s.lr = 0.7;
  s.schedule = "paper";
  s.batch = 128;
  s.clip = 5.0;
  s.init = 0.08;
  s.forget_bias = 0.0;
  s.epochs = 7.5;
  s.beam = 12;
  s.data.max_source_vocab = 160000;
  s.data.max_target_vocab = 80000;
}

seq2seq::CorpusSplit load_splits(const DataSpec& d) {
  std::vector<Pair> pairs = d.data.empty() ? generate(d.pairs, d.corpus_seed) : seq2seq::read_tsv_file(d.data);
  const double vf = d.valid.empty() ? d.valid_fraction : 0.0;
  const double tf = d.test.empty() ? d.test_fraction : 0.0;
  seq2seq::CorpusSplit s = seq2seq::split(pairs, vf, tf, d.split_seed);
  if (!d.valid.empty()) s.valid = seq2seq::read_tsv_file(d.valid);
  if (!d.test.empty()) s.test = seq2seq::read_tsv_file(d.test);
  if (!d.valid.empty() || !d.test.empty()) {
    // Keep the promise "no source sentence in two parts" for given files too.
    std::set<std::string> held_out;
    for (const Pair& p : s.valid) held_out.insert(p.source);
    for (const Pair& p : s.test) held_out.insert(p.source);
    const std::size_t before = s.train.size();
    s.train.erase(std::remove_if(s.train.begin(), s.train.end(),
                                 [&](const Pair& p) { return held_out.count(p.source) != 0; }),
                  s.train.end());
    if (s.train.size() != before)
      std::cerr << "note: " << before - s.train.size()
                << " training pairs whose source is in the validation or test file were removed\n";
  }
  if (s.train.empty()) throw std::runtime_error("no training pairs left after the split");
  if (s.valid.empty() && !d.valid.empty()) throw std::runtime_error("the validation set is empty");
  return s;
}

}  // namespace toy

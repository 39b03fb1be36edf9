// interop_cli: the C++ side of the PyTorch interop check (tools/interop/live_test.sh).
//
//   interop_cli init   OUT.safetensors --src-vocab N --tgt-vocab N --embed E --hidden H --layers L
//                      [--seed S] [--range R] [--no-reverse]
//   interop_cli score  MODEL.safetensors PAIRS.txt     one log p(target | source) per pair
//   interop_cli greedy MODEL.safetensors PAIRS.txt     one greedy translation per source
//
// `init` writes a model initialised by seq2seq::init_uniform (U(-R, R), default R = 0.5, larger
// than the paper's 0.08 so that the distributions are far from uniform) with its configuration
// as JSON in the "config" metadata key (the layout of examples/toy_translation). PAIRS lines are
// "source ids<TAB>target ids" (space-separated ids without <s>/<EOS>); '#' lines are skipped.
// The model type has Dynamic sizes, so any checkpoint of a peephole-free model loads.
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/seq2seq.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using seq2seq::Index;
using seq2seq::Sentence;
using Cell = seq2seq::LSTMCell<float, Eigen::Dynamic, Eigen::Dynamic>;
using Stack = seq2seq::StackedLSTM<Cell, Eigen::Dynamic>;
using Model = seq2seq::Seq2Seq<seq2seq::Encoder<Stack>, seq2seq::Decoder<Stack>>;

const char* const kUsage =
    "usage: interop_cli init OUT --src-vocab N --tgt-vocab N --embed E --hidden H --layers L [--seed S] [--range R] "
    "[--no-reverse]\n"
    "       interop_cli score MODEL PAIRS\n"
    "       interop_cli greedy MODEL PAIRS\n";

Model load(const std::string& path) {
  const auto meta = seq2seq::io::read_metadata(path);
  const auto it = meta.find("config");
  if (it == meta.end()) throw std::runtime_error(path + ": no \"config\" in the metadata");
  Model model(seq2seq::config_from_json(it->second));
  seq2seq::io::load_parameters(path, model);
  return model;
}

Sentence parse_ids(const std::string& field) {
  std::istringstream in(field);
  Sentence ids;
  long v = 0;
  while (in >> v) ids.push_back(static_cast<seq2seq::TokenId>(v));
  if (!in.eof()) throw std::runtime_error("bad id list '" + field + "'");
  return ids;
}

/// (source, target) per non-comment line.
std::vector<std::pair<Sentence, Sentence>> read_pairs(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::pair<Sentence, Sentence>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab = line.find('\t');
    const std::string target = tab == std::string::npos ? "" : line.substr(tab + 1, line.find('\t', tab + 1) - tab - 1);
    out.emplace_back(parse_ids(line.substr(0, tab)), parse_ids(target));
  }
  return out;
}

int init(int argc, char** argv) {
  if (argc < 3) throw std::invalid_argument("init needs an output file");
  seq2seq::ModelConfig c;
  std::uint64_t seed = 1;
  double range = 0.5;
  for (int i = 3; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--no-reverse") {
      c.reverse_source = false;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--src-vocab") c.source_vocab = std::stol(value);
    else if (flag == "--tgt-vocab") c.target_vocab = std::stol(value);
    else if (flag == "--embed") c.embed = std::stol(value);
    else if (flag == "--hidden") c.hidden = std::stol(value);
    else if (flag == "--layers") c.layers = std::stol(value);
    else if (flag == "--seed") seed = std::stoull(value);
    else if (flag == "--range") range = std::stod(value);
    else throw std::invalid_argument("unknown flag " + flag);
  }
  Model model(c);
  seq2seq::Rng rng(seed);
  seq2seq::init_uniform(model, rng, range);
  seq2seq::io::save_parameters(argv[2], model,
                               {{"config", seq2seq::config_to_json(c)}, {"producer", "interop_cli init"}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string command = argc > 1 ? argv[1] : "";
    if (command == "init") return init(argc, argv);
    if ((command == "score" || command == "greedy") && argc == 4) {
      const Model model = load(argv[2]);
      for (const auto& [source, target] : read_pairs(argv[3])) {
        if (command == "score") {
          std::printf("%.10g\n", model.score(source, target));
        } else {
          const Sentence out = model.translate_greedy({source}).front();
          for (std::size_t k = 0; k < out.size(); ++k) std::printf(k ? " %d" : "%d", static_cast<int>(out[k]));
          std::printf("\n");
        }
      }
      return 0;
    }
    std::cerr << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "interop_cli: " << e.what() << '\n';
    return 1;
  }
}

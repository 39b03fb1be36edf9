// PyTorch interop, golden values: tests/reference/interop_model.safetensors was trained and written
// by PyTorch (tools/interop/seq2seq_torch.py golden: torch.nn.Embedding/LSTM/Linear, both LSTM
// biases non-zero and exported as their sum), and interop_scores.txt holds torch's float64
// log p(y | x) and greedy translations for a few pairs. The C++ model loads the file with
// load_parameters and must reproduce them: scores to 1e-5 (float), translations exactly.
// CI runs this without torch; the live round trip is tools/interop/live_test.sh.
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/seq2seq.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef SEQ2SEQ_TEST_DATA_DIR
#error "SEQ2SEQ_TEST_DATA_DIR must name the tests/ source directory"
#endif

namespace {

using namespace seq2seq;

const std::string kModel = std::string(SEQ2SEQ_TEST_DATA_DIR) + "/reference/interop_model.safetensors";
const std::string kScores = std::string(SEQ2SEQ_TEST_DATA_DIR) + "/reference/interop_scores.txt";

// The golden model's sizes (also recorded in its "config" metadata, checked below).
constexpr int kEmbed = 6, kHidden = 5, kLayers = 2;

struct GoldenPair {
  Sentence source, target, greedy;
  double log_prob = 0;
};

Sentence parse_ids(const std::string& field) {
  std::istringstream in(field);
  Sentence ids;
  long v = 0;
  while (in >> v) ids.push_back(static_cast<TokenId>(v));
  if (!in.eof()) throw std::runtime_error("interop_scores.txt: bad id list '" + field + "'");
  return ids;
}

std::vector<GoldenPair> read_golden() {
  std::ifstream in(kScores);
  if (!in) throw std::runtime_error("cannot read " + kScores);
  std::vector<GoldenPair> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::istringstream row(line);
    for (std::string f; std::getline(row, f, '\t');) fields.push_back(f);
    if (fields.size() != 5) throw std::runtime_error("interop_scores.txt: expected 5 tab-separated fields: " + line);
    GoldenPair p;
    p.source = parse_ids(fields[0]);
    p.target = parse_ids(fields[1]);
    p.log_prob = std::stod(fields[2]);
    p.greedy = parse_ids(fields[3]);
    out.push_back(std::move(p));
  }
  return out;
}

ModelConfig config_from_metadata() {
  const auto meta = io::read_metadata(kModel);
  const auto j = nlohmann::json::parse(meta.at("config"));
  ModelConfig c;
  c.source_vocab = j.at("source_vocab").get<Index>();
  c.target_vocab = j.at("target_vocab").get<Index>();
  c.embed = j.at("embed").get<Index>();
  c.hidden = j.at("hidden").get<Index>();
  c.layers = j.at("layers").get<Index>();
  c.reverse_source = j.at("reverse_source").get<bool>();
  return c;
}

template <int Embed, int Hidden, int Layers>
struct Sizes {
  using Cell = LSTMCell<float, Hidden, Embed>;
  using Stack = StackedLSTM<Cell, Layers>;
  using Model = Seq2Seq<Encoder<Stack>, Decoder<Stack>>;
};
using DynamicSizes = Sizes<Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>;
using FixedSizes = Sizes<kEmbed, kHidden, kLayers>;

}  // namespace

TEST_CASE("interop golden: the model file and its configuration") {
  const ModelConfig c = config_from_metadata();
  CHECK(c.embed == kEmbed);
  CHECK(c.hidden == kHidden);
  CHECK(c.layers == kLayers);
  CHECK(c.reverse_source);
  CHECK(read_golden().size() >= 5);
}

TEST_CASE_TEMPLATE("interop golden: torch's log p(y | x) and greedy translations", S, DynamicSizes, FixedSizes) {
  using Model = typename S::Model;
  const std::vector<GoldenPair> golden = read_golden();
  Model model(config_from_metadata());
  io::load_parameters(kModel, model);

  SUBCASE("one pair at a time") {
    for (const GoldenPair& p : golden) {
      const double diff = std::abs(model.score(p.source, p.target) - p.log_prob);
      CAPTURE(p.log_prob);
      CAPTURE(diff);
      CHECK(diff <= 1e-5);
    }
  }
  SUBCASE("all pairs as one padded batch") {
    PairBatch batch;
    for (const GoldenPair& p : golden) {
      batch.source.push_back(p.source);
      batch.target.push_back(p.target);
    }
    typename Model::Workspace ws;
    const std::vector<double> scores = model.score(batch, ws);
    REQUIRE(scores.size() == golden.size());
    for (std::size_t k = 0; k < golden.size(); ++k) {
      const double diff = std::abs(scores[k] - golden[k].log_prob);
      CAPTURE(k);
      CAPTURE(diff);
      CHECK(diff <= 1e-5);
    }
  }
  SUBCASE("greedy translations, batched and by beam search with beam 1") {
    std::vector<Sentence> sources;
    for (const GoldenPair& p : golden) sources.push_back(p.source);
    const std::vector<Sentence> greedy = model.translate_greedy(sources);
    REQUIRE(greedy.size() == golden.size());
    for (std::size_t k = 0; k < golden.size(); ++k) {
      CAPTURE(k);
      CHECK(greedy[k] == golden[k].greedy);
      CHECK(model.translate(golden[k].source).front().tokens == golden[k].greedy);
    }
  }
}

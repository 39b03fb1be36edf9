// toy_translation: train, evaluate and use a sequence-to-sequence translator (Sutskever, Vinyals &
// Le 2014) built on the seq2seq library, on a built-in toy language pair or on your own corpus.
//
//   toy_translation train     [--out DIR] [--data FILE] [--time-budget S] [--resume] ...
//   toy_translation eval      [--model DIR] [--test FILE] [--beam K]
//   toy_translation translate [--model DIR] [FILE...] [--beam K] [--nbest N]   (stdin without FILE)
//   toy_translation score     [--model DIR] [FILE...]        lines "source<TAB>target" -> log p
//   toy_translation pca       [--model DIR] [--input FILE] [--svg OUT]   sentence vectors, 2-D PCA
//   toy_translation corpus    [--output FILE]                the built-in corpus as TSV
//
// The built-in corpus is English -> Zuvi, a made-up head-final language (grammar: toy_corpus.hpp
// and README.md). The model sizes (--embed, --hidden, --layers) are chosen at run time: the
// program uses one instantiation, LSTMCell<float, Dynamic, Dynamic> in StackedLSTM<Cell, Dynamic>.
//
// A training run writes into --out DIR:
//   model.safetensors         the best model so far (lowest validation perplexity), with its
//                             configuration, both vocabularies and the training settings as JSON
//                             strings in the safetensors metadata;
//   last.safetensors, last.state.safetensors
//                             the latest model and the optimizer/step/RNG/data-position state,
//                             written after every epoch, when training stops and on Ctrl-C;
//                             `train --resume --out DIR` continues from them;
//   train_log.csv             one row per log interval (train) and per validation (valid);
//   learning_curve.svg        training and validation perplexity against epochs.
//
// Exit status: 0 success; 1 an error (message on stderr); 2 a command-line error; 130 training
// interrupted by Ctrl-C (SIGINT) or SIGTERM after saving a checkpoint.
//
// Built with -DSEQ2SEQ_MPI=ON, `mpirun -np N toy_translation train ...` trains data-parallel with
// the same command line (seq2seq/distributed/mpi.hpp): every process builds the same batches,
// trains on its slice of each and all-reduces the gradients, so the N processes take the steps
// one process would take; rank 0 alone prints, validates and writes files. Started without
// mpirun, such a build never initialises MPI and behaves as the plain one.
#include "svg.hpp"
#include "toy_corpus.hpp"

#include <seq2seq/data/data.hpp>
#include <seq2seq/eval/bleu.hpp>
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/io/model_file.hpp>
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/seq2seq.hpp>
#if SEQ2SEQ_TOY_MPI
#include <seq2seq/distributed/mpi.hpp>
#endif

#include <CLI/CLI.hpp>
#include <Eigen/Eigenvalues>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <sys/ioctl.h>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using seq2seq::Index;
using seq2seq::Pair;
using seq2seq::Sentence;
using seq2seq::Vocab;

// One model type for every size: Dynamic hidden/input sizes and a Dynamic depth.
using Scalar = float;
using Cell = seq2seq::LSTMCell<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
using Stack = seq2seq::StackedLSTM<Cell, Eigen::Dynamic>;
using Model = seq2seq::Seq2Seq<seq2seq::Encoder<Stack>, seq2seq::Decoder<Stack>>;

constexpr const char* kProgram = "toy_translation";
constexpr const char* kBestFile = "model.safetensors";
constexpr const char* kLastFile = "last.safetensors";
constexpr const char* kStateFile = "last.state.safetensors";
constexpr const char* kLogFile = "train_log.csv";
constexpr const char* kCurveFile = "learning_curve.svg";

std::string version_string() { return std::string(kProgram) + " (seq2seq " SEQ2SEQ_VERSION_STRING ")"; }

/// An error in how the program was called (exit status 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Ctrl-C or SIGTERM during a long evaluation (exit status 130).
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

// ---------------------------------------------------------------------------------------------
// Ctrl-C: the handler only sets a flag; the training loop checks it between batches, saves a
// checkpoint and returns. A second Ctrl-C kills the program at once.
// ---------------------------------------------------------------------------------------------
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_stop_signal = sig;
}

/// Installs on_stop_signal for SIGINT and SIGTERM while alive.
class StopSignalScope {
 public:
  StopSignalScope() {
    g_stop_signal = 0;
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignalScope() {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
  }
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;
};

/// Throws Interrupted once a stop signal has arrived (long loops outside the training loop).
void check_stop_signal() {
  if (g_stop_signal != 0) throw Interrupted();
}

// ---------------------------------------------------------------------------------------------
// Several processes (a build with -DSEQ2SEQ_MPI=ON started by mpirun): every rank runs the same
// program on the same data order; rank 0 alone prints, validates and writes files (main silences
// the other ranks' std::cout and std::cerr). Without MPI these are one process's answers.
// ---------------------------------------------------------------------------------------------
#if SEQ2SEQ_TOY_MPI
std::unique_ptr<seq2seq::mpi::Communicator> g_comm;  // set by main() under mpirun, else null
#endif

/// True on the process that prints and writes files.
bool is_root() {
#if SEQ2SEQ_TOY_MPI
  return !g_comm || g_comm->is_root();
#else
  return true;
#endif
}

/// Processes training together.
int rank_count() {
#if SEQ2SEQ_TOY_MPI
  return g_comm ? g_comm->size() : 1;
#else
  return 1;
#endif
}

/// Runs `f` on rank 0 only; the other ranks wait for it (without spinning) and throw if it failed.
template <typename F>
void on_root(const char* what, F&& f) {
#if SEQ2SEQ_TOY_MPI
  if (g_comm) {
    seq2seq::mpi::run_on_root(*g_comm, what, std::forward<F>(f));
    return;
  }
#endif
  (void)what;
  f();
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

std::string format_rate(double r) {
  char buf[32];
  if (r >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", r / 1e6);
  else if (r >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fk", r / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", r);
  return buf;
}

/// Shortest decimal that reads back as the same double (to_chars), for values saved in checkpoints.
std::string exact_decimal(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

void write_text_file(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write '" + tmp.string() + "'");
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write '" + tmp.string() + "'");
  }
  fs::rename(tmp, path);
}

/// Lines of a file, or of stdin for "-".
class LineSource {
 public:
  explicit LineSource(const std::string& name) : name_(name == "-" ? "<stdin>" : name) {
    if (name != "-") {
      std::error_code ec;
      if (fs::is_directory(name, ec)) throw std::runtime_error("cannot read '" + name + "': it is a directory");
      file_.open(name, std::ios::binary);
      if (!file_) throw std::runtime_error("cannot read '" + name + "': " + std::strerror(errno));
    }
  }
  bool next(std::string& line) {
    std::istream& in = file_.is_open() ? static_cast<std::istream&>(file_) : std::cin;
    if (!std::getline(in, line)) {
      if (in.bad()) throw std::runtime_error("read error in '" + name_ + "' after line " + std::to_string(number_));
      return false;
    }
    ++number_;
    if (number_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }
  const std::string& name() const { return name_; }
  std::size_t number() const { return number_; }

 private:
  std::string name_;
  std::ifstream file_;
  std::size_t number_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Where the sentence pairs come from, and the model/training settings a run records.
// ---------------------------------------------------------------------------------------------

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

  json to_json() const {
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
                {"max_length", max_length}};
  }
  static DataSpec from_json(const json& j) {
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
    return d;
  }
  std::string describe() const {
    if (data.empty())
      return "built-in English -> Zuvi corpus (" + std::to_string(pairs) + " pairs, seed " + std::to_string(corpus_seed) + ")";
    return "'" + data + "'";
  }
};

/// Everything `train` can be told, recorded in the checkpoint so that --resume, eval and
/// translate know how the model was made.
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
  DataSpec data;

  json to_json() const {
    return json{{"preset", preset},     {"embed", embed},   {"hidden", hidden},     {"layers", layers},
                {"reverse", reverse},   {"optimizer", optimizer}, {"lr", lr},       {"schedule", schedule},
                {"batch", batch},       {"clip", clip},     {"init", init},         {"forget_bias", forget_bias},
                {"epochs", epochs},     {"seed", seed},     {"beam", beam},         {"data", data.to_json()}};
  }
  static TrainSettings from_json(const json& j) {
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
    return s;
  }
};

/// The paper's recipe (section 3.4): 4 layers of 1000 cells, 1000-d embeddings, 160k/80k
/// vocabularies, uniform(-0.08, 0.08) initialisation, plain SGD at 0.7 halved every half epoch
/// after epoch 5, 7.5 epochs, batches of 128, gradient norm clipped at 5, beam 12. Far too big for
/// the toy corpus: it sets the values, it does not make them fast.
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

std::vector<std::string> tokens_of(const std::string& text) { return seq2seq::tokenize(text); }

/// The train / valid / test pairs of a DataSpec.
seq2seq::CorpusSplit load_splits(const DataSpec& d) {
  std::vector<Pair> pairs = d.data.empty() ? toy::generate(d.pairs, d.corpus_seed) : seq2seq::read_tsv_file(d.data);
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
  if (s.valid.empty()) throw std::runtime_error("the validation set is empty");
  return s;
}

// ---------------------------------------------------------------------------------------------
// A trained model with its vocabularies and settings, as stored in a checkpoint.
// ---------------------------------------------------------------------------------------------
struct Bundle {
  seq2seq::ModelConfig config;
  Vocab source, target;
  TrainSettings settings;
  std::unique_ptr<Model> model;
  std::int64_t step = 0;  // training step at which the parameters were saved
};

/// A checkpoint is io::save_model's file (parameters, configuration, both vocabularies) with the
/// training settings and step as extra metadata.
void save_bundle(const fs::path& path, const Bundle& b) {
  std::map<std::string, std::string> meta;
  meta["producer"] = version_string();
  meta["training"] = b.settings.to_json().dump();
  meta["training_step"] = std::to_string(b.step);
  seq2seq::io::save_model(path.string(), *b.model, b.source, b.target, meta);
}

/// A model directory (holding model.safetensors) or a checkpoint file.
fs::path resolve_model_path(const std::string& where) {
  std::error_code ec;
  fs::path p(where);
  if (fs::is_directory(p, ec)) p /= kBestFile;
  if (!fs::exists(p, ec))
    throw std::runtime_error("no model at '" + p.string() + "' (train one first: " + kProgram + " train --out " + where + ")");
  return p;
}

Bundle load_bundle(const fs::path& path) {
  // Configuration and vocabularies first, checked against the file's tensors before the model is
  // allocated (a damaged or hostile configuration cannot ask for more memory than the file holds).
  seq2seq::io::ModelInfo info = seq2seq::io::read_model_info(path.string());
  const auto get = [&](const char* key) -> const std::string& {
    const auto it = info.metadata.find(key);
    if (it == info.metadata.end())
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
  b.config = info.config;
  b.source = std::move(info.source_vocab);
  b.target = std::move(info.target_vocab);
  b.model = std::make_unique<Model>(b.config);
  seq2seq::io::load_parameters(path.string(), *b.model);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Text <-> token ids
// ---------------------------------------------------------------------------------------------
std::string decode_text(const Vocab& vocab, const Sentence& ids) { return seq2seq::detokenize(vocab.decode(ids)); }

/// Source text to ids, with the checks a user's input needs. Throws with a readable reason.
Sentence encode_source(const Bundle& b, const std::string& text, std::size_t* unknown = nullptr) {
  const std::vector<std::string> words = tokens_of(text);
  if (words.empty()) throw std::invalid_argument("empty sentence");
  if (b.config.max_length > 0 && static_cast<Index>(words.size()) > b.config.max_length)
    throw std::invalid_argument("sentence of " + std::to_string(words.size()) + " words is longer than the model's limit of " +
                                std::to_string(b.config.max_length) + " (--max-length at training)");
  std::size_t unk = 0;
  Sentence ids = b.source.encode(words, unk);
  if (unknown) *unknown = unk;
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Evaluation: BLEU (multi-reference), exact match, perplexity
// ---------------------------------------------------------------------------------------------
struct EvalResult {
  seq2seq::BleuResult bleu;
  double exact = 0;             // fraction of sources translated exactly as one of the references
  double perplexity = 0;        // exp(summed NLL / target tokens incl. <EOS>), every pair
  double nll_per_pair = 0;      // summed NLL / pairs: the training objective
  std::size_t sentences = 0;    // distinct sources
  std::size_t pairs = 0;
  std::size_t tokens = 0;
  std::size_t skipped = 0;      // pairs over the model's length limit
  std::vector<std::string> sources, hypotheses;  // in order of the reference groups
  std::vector<std::vector<std::string>> references;
};

/// Translates every distinct source of `pairs` (greedy in batches, or beam search one by one) and
/// scores the result against all its references; perplexity over every pair.
EvalResult evaluate(const Bundle& b, const std::vector<Pair>& pairs, std::size_t beam, std::size_t batch_size = 128,
                    std::size_t max_sentences = 0) {
  const Model& model = *b.model;
  EvalResult r;
  // Perplexity, teacher-forced over every pair.
  std::vector<Sentence> src, tgt;
  for (const Pair& p : pairs) {
    const auto s = tokens_of(p.source), t = tokens_of(p.target);
    if (s.empty() || t.empty() ||
        (b.config.max_length > 0 && (static_cast<Index>(s.size()) > b.config.max_length || static_cast<Index>(t.size()) > b.config.max_length))) {
      ++r.skipped;
      continue;
    }
    src.push_back(b.source.encode(s));
    tgt.push_back(b.target.encode(t));
  }
  if (src.empty()) throw std::runtime_error("no evaluation pair fits the model's length limit");
  Model::Workspace ws;
  double nll = 0;
  for (const auto& idx : seq2seq::inference_batches(src, batch_size)) {
    check_stop_signal();
    seq2seq::PairBatch batch;
    for (std::size_t i : idx) {
      batch.source.push_back(src[i]);
      batch.target.push_back(tgt[i]);
    }
    const seq2seq::LossStats ls = model.evaluate(batch, ws);
    nll += ls.nll;
    r.tokens += static_cast<std::size_t>(ls.tokens);
  }
  r.pairs = src.size();
  r.perplexity = std::exp(nll / static_cast<double>(r.tokens));
  r.nll_per_pair = nll / static_cast<double>(r.pairs);

  // BLEU and exact match over distinct sources.
  std::vector<seq2seq::ReferenceGroup> groups = seq2seq::group_references(pairs);
  if (max_sentences > 0 && groups.size() > max_sentences) groups.resize(max_sentences);
  std::vector<Sentence> inputs;
  std::vector<std::size_t> group_of;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto s = tokens_of(groups[g].source);
    if (s.empty() || (b.config.max_length > 0 && static_cast<Index>(s.size()) > b.config.max_length)) continue;
    inputs.push_back(b.source.encode(s));
    group_of.push_back(g);
  }
  std::vector<Sentence> outputs(inputs.size());
  if (beam <= 1) {
    Model::DecodeWorkspace dws;
    for (const auto& idx : seq2seq::inference_batches(inputs, batch_size)) {
      check_stop_signal();
      std::vector<Sentence> chunk;
      for (std::size_t i : idx) chunk.push_back(inputs[i]);
      const std::vector<Sentence> out = model.translate_greedy(chunk, dws);
      for (std::size_t k = 0; k < idx.size(); ++k) outputs[idx[k]] = out[k];
    }
  } else {
    seq2seq::DecodeOptions opt;
    opt.beam = static_cast<Index>(beam);
    Model::DecodeWorkspace dws;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      check_stop_signal();
      outputs[i] = model.translate(inputs[i], opt, dws).front().tokens;
    }
  }
  seq2seq::BleuStats stats;
  std::size_t exact = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const seq2seq::ReferenceGroup& g = groups[group_of[i]];
    const std::vector<std::string> hyp = b.target.decode(outputs[i]);
    std::vector<std::vector<std::string>> refs;
    for (const std::string& t : g.targets) refs.push_back(tokens_of(t));
    bool match = false;
    for (const auto& ref : refs) match = match || ref == hyp;
    exact += match ? 1 : 0;
    stats.add(hyp, refs);
    r.sources.push_back(g.source);
    r.hypotheses.push_back(seq2seq::detokenize(hyp));
    r.references.push_back(g.targets);
  }
  r.sentences = inputs.size();
  if (r.sentences == 0) throw std::runtime_error("no evaluation sentence fits the model's length limit");
  r.bleu = stats.result();
  r.exact = static_cast<double>(exact) / static_cast<double>(r.sentences);
  return r;
}

std::string describe_eval(const EvalResult& r) {
  std::ostringstream os;
  os << "BLEU " << fixed(r.bleu.bleu, 2) << " (" << fixed(r.bleu.precisions[0], 1) << "/" << fixed(r.bleu.precisions[1], 1)
     << "/" << fixed(r.bleu.precisions[2], 1) << "/" << fixed(r.bleu.precisions[3], 1) << ", BP "
     << fixed(r.bleu.brevity_penalty, 3) << "), exact match " << fixed(100.0 * r.exact, 1) << "% of " << r.sentences
     << " sentences, perplexity " << fixed(r.perplexity, 3) << " over " << r.tokens << " target tokens";
  if (r.skipped) os << " (" << r.skipped << " pairs over the length limit skipped)";
  return os.str();
}

void print_samples(std::ostream& out, const EvalResult& r, std::size_t n) {
  for (std::size_t i = 0; i < std::min(n, r.sources.size()); ++i) {
    const bool ok = std::find(r.references[i].begin(), r.references[i].end(), r.hypotheses[i]) != r.references[i].end();
    out << "  source:    " << r.sources[i] << "\n"
        << "  reference: " << r.references[i].front() << (r.references[i].size() > 1 ? "  (+" + std::to_string(r.references[i].size() - 1) + " more)" : "") << "\n"
        << "  output:    " << r.hypotheses[i] << (ok ? "   [exact]" : "") << "\n";
  }
}

// ---------------------------------------------------------------------------------------------
// Progress display: a bar redrawn in place on a terminal, plain lines otherwise.
// ---------------------------------------------------------------------------------------------
class Progress {
 public:
  explicit Progress(bool tty) : tty_(tty) {}
  bool tty() const { return tty_; }
  /// The transient status line (terminal only), redrawn at most 10 times a second.
  void status(const std::string& text, bool force = false) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && std::chrono::duration<double>(now - last_).count() < 0.1) return;
    last_ = now;
    // Cut to the terminal's width: a wrapped line could not be redrawn in place.
    winsize w{};
    const std::size_t cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 1 ? w.ws_col - 1u : 79u;
    std::cerr << "\r" << text.substr(0, cols) << "\033[K" << std::flush;
    shown_ = true;
  }
  /// A permanent line (stderr), clearing the status line first.
  void line(const std::string& text) {
    if (shown_) std::cerr << "\r\033[K";
    shown_ = false;
    std::cerr << text << "\n" << std::flush;
  }

 private:
  bool tty_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

std::string bar(double fraction, int width) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int full = static_cast<int>(fraction * width);
  return "[" + std::string(static_cast<std::size_t>(full), '#') + std::string(static_cast<std::size_t>(width - full), '.') + "]";
}

// ---------------------------------------------------------------------------------------------
// The training log (CSV) and the learning curve (SVG)
// ---------------------------------------------------------------------------------------------
struct LogRow {
  std::int64_t step = 0;
  double epoch = 0, elapsed = 0;
  std::string kind;  // "train" or "valid"
  double loss = 0, perplexity = 0, tokens_per_s = 0, lr = 0, bleu = -1, exact = -1;
};

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

/// Rows of an existing log with step <= max_step (a resumed run drops what came after its checkpoint).
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
  toy::Series train{"train perplexity", "#1f77b4", {}, {}, false};
  toy::Series valid{"valid perplexity", "#d62728", {}, {}, true};
  for (const LogRow& r : rows) {
    toy::Series& s = r.kind == "valid" ? valid : train;
    s.x.push_back(r.epoch);
    s.y.push_back(r.perplexity);
  }
  write_text_file(path, toy::line_chart_svg(title, "epoch", "perplexity", {train, valid}, true));
}

// ---------------------------------------------------------------------------------------------
// train
// ---------------------------------------------------------------------------------------------
struct TrainRequest {
  TrainSettings settings;
  std::string out = "toy_run";
  bool resume = false, overwrite = false, quiet = false;
  double time_budget = 0;   // seconds of training in this invocation; 0 = none
  // One thread by default: the toy model's products (128 x 32 columns) are too small for
  // Eigen's OpenMP split to pay, and on a busy machine its spinning threads slow training 10x.
  std::size_t threads = 1;
  std::int64_t log_every = 50;
  std::size_t show = 5;     // test translations printed at the end
};

/// A learning-rate schedule by name, as a function of fractional epochs.
std::function<double(double)> make_schedule(const TrainSettings& s) {
  if (s.schedule == "constant") return seq2seq::ConstantLR{s.lr};
  if (s.schedule == "paper") return seq2seq::PaperSchedule{s.lr, 5.0, 0.5};
  throw UsageError("unknown --schedule '" + s.schedule + "' (constant or paper)");
}

/// Encoded training data with the pairs over the length limit removed.
struct EncodedPairs {
  std::vector<Sentence> source, target;
};

EncodedPairs encode_pairs(const std::vector<Pair>& pairs, const Vocab& sv, const Vocab& tv, std::size_t max_length,
                          std::size_t* dropped) {
  std::vector<std::vector<std::string>> s, t;
  for (const Pair& p : pairs) {
    s.push_back(tokens_of(p.source));
    t.push_back(tokens_of(p.target));
  }
  const std::size_t n = seq2seq::max_length_filter(s, t, max_length, max_length);
  if (dropped) *dropped = n;
  EncodedPairs e;
  for (std::size_t i = 0; i < s.size(); ++i) {
    e.source.push_back(sv.encode(s[i]));
    e.target.push_back(tv.encode(t[i]));
  }
  return e;
}

/// State of one training invocation shared by the loop and its checkpoint code.
struct TrainContext {
  TrainRequest req;
  Bundle bundle;
  fs::path dir;
  seq2seq::CorpusSplit split;
  EncodedPairs train;
  std::vector<LogRow> log;
  double best_valid_ppl = std::numeric_limits<double>::infinity();
  Progress progress{false};
};

/// One optimizer type per policy; the loop is the same for all.
template <typename Policy>
int train_loop(TrainContext& ctx, Policy policy, seq2seq::io::TrainingState* resume_state) {
  Model& model = *ctx.bundle.model;
  const TrainSettings& s = ctx.bundle.settings;
  seq2seq::Optimizer<Policy, Scalar> optimizer(policy);
  const std::function<double(double)> schedule = make_schedule(s);
  seq2seq::Rng data_rng(s.seed * 0x9E3779B97F4A7C15ULL + 0x5EED);

  std::int64_t step = 0;
  std::int64_t epoch_index = 0;    // epochs fully done
  std::uint64_t start_batch = 0;   // next batch of the current epoch
  if (resume_state) {
#if SEQ2SEQ_TOY_MPI
    if (g_comm)  // rank 0 reads it and every rank gets its optimizer state, step and data position
      *resume_state = seq2seq::mpi::load_training_state(*g_comm, (ctx.dir / kStateFile).string(), optimizer, model);
    else
#endif
      *resume_state = seq2seq::io::load_training_state((ctx.dir / kStateFile).string(), optimizer, model);
    // An optimizer without state (SGD) has no tensors whose shapes the loader could compare, so
    // the state file also records the model configuration it belongs to.
    const auto cfg = resume_state->extra.find("model_config");
    const std::string ours = seq2seq::io::config_to_json(ctx.bundle.config);
    if (cfg == resume_state->extra.end() || cfg->second != ours)
      throw std::runtime_error("'" + (ctx.dir / kStateFile).string() + "' belongs to another model (" +
                               (cfg == resume_state->extra.end() ? std::string("no model_config") : cfg->second) +
                               ") than '" + (ctx.dir / kLastFile).string() + "' (" + ours + "); cannot resume");
    if (resume_state->step != ctx.bundle.step)
      throw std::runtime_error("'" + (ctx.dir / kLastFile).string() + "' (step " + std::to_string(ctx.bundle.step) + ") and '" +
                               (ctx.dir / kStateFile).string() + "' (step " + std::to_string(resume_state->step) +
                               ") are from different moments of training; cannot resume");
    step = resume_state->step;
    epoch_index = static_cast<std::int64_t>(std::floor(resume_state->epoch + 1e-9));
    start_batch = resume_state->data_position;
    seq2seq::io::set_rng_state(data_rng, resume_state->rng_state);
    const auto it = resume_state->extra.find("best_valid_perplexity");
    if (it != resume_state->extra.end()) {
      const std::string& v = it->second;
      const auto r = std::from_chars(v.data(), v.data() + v.size(), ctx.best_valid_ppl);
      if (r.ec != std::errc() || r.ptr != v.data() + v.size())
        throw std::runtime_error("'" + (ctx.dir / kStateFile).string() + "': bad best_valid_perplexity '" + v + "'");
    }
  }

#if SEQ2SEQ_TOY_MPI
  // Replicas start equal: rank 0's weights everywhere (a new run initialised every rank from the
  // same seed, a resumed one read the same file: this makes sure), checked by one all-reduce.
  std::unique_ptr<seq2seq::mpi::DataParallel<Scalar>> dp;
  double step_seconds = 0;  // rank 0's time in applied training steps, for the all-reduce share
  std::int64_t timed_steps = 0;
  if (g_comm) {
    g_comm->broadcast_parameters(model);
    g_comm->check_replicas(model);
    dp = std::make_unique<seq2seq::mpi::DataParallel<Scalar>>(*g_comm);
  }
#endif

  const auto save_last = [&](double epoch, std::uint64_t position, const std::string& rng_at_epoch_start) {
    ctx.bundle.step = step;
    on_root("saving the checkpoint", [&] {
      save_bundle(ctx.dir / kLastFile, ctx.bundle);
      seq2seq::io::TrainingState st;
      st.step = step;
      st.epoch = epoch;
      st.data_position = position;
      st.rng_state = rng_at_epoch_start;
      st.extra["best_valid_perplexity"] = exact_decimal(ctx.best_valid_ppl);
      st.extra["model_config"] = seq2seq::io::config_to_json(ctx.bundle.config);
      seq2seq::io::save_training_state((ctx.dir / kStateFile).string(), optimizer, model, st);
    });
  };

  const auto t_start = std::chrono::steady_clock::now();
  double elapsed_before = ctx.log.empty() ? 0.0 : ctx.log.back().elapsed;
  std::int64_t run_tokens = 0;

  // Validation: perplexity and greedy BLEU on the validation split; keeps the best model.
  const auto validate = [&](double epoch) {
    ctx.progress.status("validating ...", true);
    EvalResult v;
    try {
      v = evaluate(ctx.bundle, ctx.split.valid, 1);
    } catch (const Interrupted&) {
      ctx.progress.line("validation interrupted");
      return;  // the loop sees the signal next and saves the checkpoint
    }
    LogRow row;
    row.step = step;
    row.epoch = epoch;
    row.elapsed = elapsed_before + seconds_since(t_start);
    row.kind = "valid";
    row.loss = v.nll_per_pair;
    row.perplexity = v.perplexity;
    row.lr = schedule(epoch);
    row.bleu = v.bleu.bleu;
    row.exact = v.exact;
    ctx.log.push_back(row);
    std::string note;
    if (v.perplexity < ctx.best_valid_ppl) {
      ctx.best_valid_ppl = v.perplexity;
      ctx.bundle.step = step;
      save_bundle(ctx.dir / kBestFile, ctx.bundle);
      note = "  (best so far, saved " + std::string(kBestFile) + ")";
    }
    ctx.progress.line("epoch " + fixed(epoch, 2) + "  valid perplexity " + fixed(v.perplexity, 3) + "  BLEU " +
                      fixed(v.bleu.bleu, 2) + "  exact " + fixed(100 * v.exact, 1) + "%" + note);
    write_log(ctx.dir / kLogFile, ctx.log);
    write_curve(ctx.dir / kCurveFile, ctx.log, "toy_translation: " + ctx.bundle.settings.data.describe());
  };
  // Rank 0 validates; the others wait for it.
  const auto validate_on_root = [&](double epoch) { on_root("validation", [&] { validate(epoch); }); };

  std::string stop_reason;
  Model::Workspace ws;
  double window_nll = 0, window_loss = 0;
  std::int64_t window_tokens = 0, window_steps = 0, skipped_steps = 0, bad_in_a_row = 0;
  auto window_start = std::chrono::steady_clock::now();
  const double epochs_total = s.epochs;

  while (static_cast<double>(epoch_index) < epochs_total && stop_reason.empty()) {
    const std::string rng_at_epoch_start = seq2seq::io::rng_state(data_rng);
    const auto plan = seq2seq::plan_batches(ctx.train.source, ctx.train.target, s.batch, data_rng);
    const std::size_t nb = plan.size();
    if (start_batch > nb) throw std::runtime_error("the training state points past the end of an epoch (another corpus?)");
    std::size_t k = start_batch;
    for (; k < nb; ++k) {
      const double epoch_f = static_cast<double>(epoch_index) + static_cast<double>(k) / static_cast<double>(nb);
      if (epoch_f >= epochs_total) {
        stop_reason = "reached --epochs " + fixed(epochs_total, 2);
        break;
      }
      bool stop_signal = g_stop_signal != 0;
      bool out_of_time = ctx.req.time_budget > 0 && seconds_since(t_start) >= ctx.req.time_budget;
#if SEQ2SEQ_TOY_MPI
      if (g_comm) {  // one rank's signal or clock stops every rank before this same batch
        int flags[2] = {stop_signal ? 1 : 0, out_of_time ? 1 : 0};
        g_comm->allreduce(flags, 2, MPI_MAX);
        stop_signal = flags[0] != 0;
        out_of_time = flags[1] != 0;
      }
#endif
      if (stop_signal) {
        stop_reason = "interrupted";
        break;
      }
      if (out_of_time) {
        stop_reason = "time budget of " + toy::fmt(ctx.req.time_budget, 6) + " s used";
        break;
      }
      seq2seq::PairBatch batch;
      for (std::size_t i : plan[k]) {
        batch.source.push_back(ctx.train.source[i]);
        batch.target.push_back(ctx.train.target[i]);
      }
#if SEQ2SEQ_TOY_MPI
      const auto step_start = std::chrono::steady_clock::now();
      seq2seq::zero_grad(model);
      seq2seq::LossStats ls;
      if (dp) {
        // This rank's slice of the global batch; the hook turns every rank's gradient and loss into
        // those of the whole batch. A forward pass that meets a NaN is a lost step on every rank
        // (as in seq2seq::Trainer), not an error on one.
        const seq2seq::PairBatch& local = dp->shard(batch);
        try {
          ls = model.train_batch(local, ws);
        } catch (const seq2seq::NonFiniteInputError&) {
          ls = seq2seq::LossStats{};
          ls.loss = std::numeric_limits<double>::quiet_NaN();
        }
        (*dp)(model, ls);
      } else {
        ls = model.train_batch(batch, ws);
      }
#else
      seq2seq::zero_grad(model);
      const seq2seq::LossStats ls = model.train_batch(batch, ws);
#endif
      const double norm = s.clip > 0 ? seq2seq::clip_global_norm(model, s.clip) : seq2seq::gradient_norm(model);
      if (!std::isfinite(ls.loss) || !std::isfinite(norm)) {
        // NaN/Inf guard: the step never reaches the weights.
        ++skipped_steps;
        ctx.progress.line("warning: step " + std::to_string(step + 1) + " has a non-finite " +
                          (std::isfinite(ls.loss) ? "gradient" : "loss") + "; skipped");
        if (++bad_in_a_row >= 10)
          throw std::runtime_error("10 non-finite steps in a row (learning rate too high?); the last checkpoint in '" +
                                   ctx.dir.string() + "' is untouched");
        continue;
      }
      bad_in_a_row = 0;
      const double lr = schedule(epoch_f);
      optimizer.step(model, lr);
      ++step;
#if SEQ2SEQ_TOY_MPI
      step_seconds += seconds_since(step_start);
      ++timed_steps;
#endif
      run_tokens += ls.tokens;
      window_nll += ls.nll;
      window_loss += ls.loss;
      window_tokens += ls.tokens;
      ++window_steps;

      const double run_s = seconds_since(t_start);
      const double tok_s = static_cast<double>(run_tokens) / std::max(run_s, 1e-9);
      const double epoch_now = static_cast<double>(epoch_index) + static_cast<double>(k + 1) / static_cast<double>(nb);
      if (ctx.progress.tty() && !ctx.req.quiet) {
        // ETA: the sooner of the epoch limit and the time budget, at this run's pace.
        const double done_this_run = epoch_now - (resume_state ? resume_state->epoch : 0.0);
        double eta = done_this_run > 0 ? (epochs_total - epoch_now) * run_s / done_this_run : -1;
        if (ctx.req.time_budget > 0) eta = eta < 0 ? ctx.req.time_budget - run_s : std::min(eta, ctx.req.time_budget - run_s);
        ctx.progress.status("epoch " + std::to_string(epoch_index + 1) + "/" + fixed(std::ceil(epochs_total), 0) + " " +
                            bar(static_cast<double>(k + 1) / static_cast<double>(nb), 20) + " loss " +
                            fixed(window_loss / static_cast<double>(window_steps), 2) + " ppl " +
                            fixed(std::exp(window_nll / static_cast<double>(window_tokens)), 3) + " | " +
                            format_rate(tok_s) + " tok/s | ETA " + format_duration(eta) +
                            (s.schedule == "constant" ? std::string() : " | lr " + toy::fmt(lr, 3)));
      }
      if (step % ctx.req.log_every == 0) {
        LogRow row;
        row.step = step;
        row.epoch = epoch_now;
        row.elapsed = elapsed_before + run_s;
        row.kind = "train";
        row.loss = window_loss / static_cast<double>(window_steps);
        row.perplexity = std::exp(window_nll / static_cast<double>(window_tokens));
        row.tokens_per_s = static_cast<double>(window_tokens) / std::max(seconds_since(window_start), 1e-9);
        row.lr = lr;
        ctx.log.push_back(row);
        if (!ctx.progress.tty() && !ctx.req.quiet)
          ctx.progress.line("step " + std::to_string(step) + "  epoch " + fixed(epoch_now, 2) + "  loss " +
                            fixed(row.loss, 3) + "  ppl " + fixed(row.perplexity, 3) + "  " +
                            format_rate(row.tokens_per_s) + " tok/s  lr " + toy::fmt(lr, 3) + "  elapsed " +
                            format_duration(row.elapsed));
        window_nll = window_loss = 0;
        window_tokens = window_steps = 0;
        window_start = std::chrono::steady_clock::now();
      }
    }
    if (!stop_reason.empty()) {
      // Stopped inside the epoch: the checkpoint resumes at batch k of this same epoch order.
      const double epoch_f = static_cast<double>(epoch_index) + static_cast<double>(k) / static_cast<double>(nb);
      if (stop_reason != "interrupted" && k > start_batch) validate_on_root(epoch_f);
      save_last(epoch_f, k, rng_at_epoch_start);
      break;
    }
    ++epoch_index;
    start_batch = 0;
    validate_on_root(static_cast<double>(epoch_index));
    save_last(static_cast<double>(epoch_index), 0, seq2seq::io::rng_state(data_rng));
  }
  if (stop_reason.empty()) stop_reason = "reached --epochs " + fixed(epochs_total, 2);

  const double run_s = seconds_since(t_start);
  ctx.progress.line("stopped: " + stop_reason + " after step " + std::to_string(step) + "; this run trained " +
                    format_duration(run_s) + " at " + format_rate(static_cast<double>(run_tokens) / std::max(run_s, 1e-9)) +
                    " target tokens/s" + (skipped_steps ? " (" + std::to_string(skipped_steps) + " non-finite steps skipped)" : ""));
#if SEQ2SEQ_TOY_MPI
  if (dp && dp->timing().steps > 0 && timed_steps > 0) {
    // Rank 0's view: the hook's first exchange (counts) also waits for the slowest rank's
    // backward pass; packing and the gradient all-reduce are the communication proper.
    const seq2seq::mpi::DataParallelTiming& t = dp->timing();
    const double n = static_cast<double>(t.steps);
    const double hook_ms = 1e3 * t.total / n, wait_ms = 1e3 * t.counts / n, reduce_ms = 1e3 * (t.pack + t.reduce) / n;
    const double step_ms = 1e3 * step_seconds / std::max<double>(1.0, static_cast<double>(timed_steps));
    ctx.progress.line("data-parallel: " + std::to_string(rank_count()) + " processes, " +
                      std::to_string(seq2seq::parameter_count(model)) + " parameters; per step " + fixed(step_ms, 2) +
                      " ms, of which gradient exchange " + fixed(hook_ms, 2) + " ms (" +
                      fixed(100.0 * hook_ms / std::max(step_ms, 1e-9), 1) + "%: " + fixed(wait_ms, 2) +
                      " ms waiting for the slowest rank, " + fixed(reduce_ms, 2) + " ms packing and all-reduce)");
  }
#endif
  on_root("writing the log", [&] {
    write_log(ctx.dir / kLogFile, ctx.log);
    write_curve(ctx.dir / kCurveFile, ctx.log, "toy_translation: " + ctx.bundle.settings.data.describe());
  });
  if (stop_reason == "interrupted") {
    std::cerr << "checkpoint saved in '" << ctx.dir.string() << "'; continue with: " << kProgram << " train --resume --out "
              << ctx.req.out << "\n";
    return 130;
  }
  return 0;
}

int run_train(TrainRequest req, const std::map<std::string, bool>& given) {
  TrainContext ctx;
  ctx.dir = fs::path(req.out);
  ctx.progress = Progress(isatty(STDERR_FILENO) != 0);
  std::error_code ec;
  if (fs::exists(ctx.dir, ec) && !fs::is_directory(ctx.dir, ec))
    throw std::runtime_error("--out '" + req.out + "' exists and is not a directory");
  const bool has_run = fs::exists(ctx.dir / kLastFile, ec) || fs::exists(ctx.dir / kBestFile, ec);

  if (req.resume) {
    if (!fs::exists(ctx.dir / kLastFile, ec) || !fs::exists(ctx.dir / kStateFile, ec))
      throw std::runtime_error("nothing to resume in '" + req.out + "' (no " + kLastFile + " and " + kStateFile + ")");
    ctx.bundle = load_bundle(ctx.dir / kLastFile);
    // A resumed run keeps its recorded settings; flags that would change the model, the data or
    // the optimizer are refused rather than silently ignored.
    const TrainSettings& was = ctx.bundle.settings;
    const TrainSettings& now = req.settings;
    const auto differs = [&](const char* flag, bool changed, const std::string& old_value) {
      const auto it = given.find(flag);
      if (it != given.end() && it->second && changed)
        throw std::runtime_error("the checkpoint in '" + req.out + "' was trained with " + flag + " " + old_value +
                                 "; a resumed run cannot change it (start a new run with another --out)");
    };
    differs("--preset", now.preset != was.preset, was.preset);
    differs("--embed", now.embed != was.embed, std::to_string(was.embed));
    differs("--hidden", now.hidden != was.hidden, std::to_string(was.hidden));
    differs("--layers", now.layers != was.layers, std::to_string(was.layers));
    differs("--no-reverse", now.reverse != was.reverse, was.reverse ? "source reversal" : "--no-reverse");
    differs("--optimizer", now.optimizer != was.optimizer, was.optimizer);
    differs("--lr", now.lr != was.lr, toy::fmt(was.lr, 6));
    differs("--schedule", now.schedule != was.schedule, was.schedule);
    differs("--batch", now.batch != was.batch, std::to_string(was.batch));
    differs("--clip", now.clip != was.clip, toy::fmt(was.clip, 6));
    differs("--seed", now.seed != was.seed, std::to_string(was.seed));
    differs("--init", now.init != was.init, toy::fmt(was.init, 6));
    differs("--forget-bias", now.forget_bias != was.forget_bias, toy::fmt(was.forget_bias, 6));
    differs("--corpus-seed", now.data.corpus_seed != was.data.corpus_seed, std::to_string(was.data.corpus_seed));
    differs("--valid-fraction", now.data.valid_fraction != was.data.valid_fraction, toy::fmt(was.data.valid_fraction, 6));
    differs("--test-fraction", now.data.test_fraction != was.data.test_fraction, toy::fmt(was.data.test_fraction, 6));
    differs("--data", now.data.data != was.data.data, "'" + was.data.data + "'");
    differs("--valid", now.data.valid != was.data.valid, "'" + was.data.valid + "'");
    differs("--test", now.data.test != was.data.test, "'" + was.data.test + "'");
    differs("--pairs", now.data.pairs != was.data.pairs, std::to_string(was.data.pairs));
    differs("--max-vocab", now.data.max_source_vocab != was.data.max_source_vocab, std::to_string(was.data.max_source_vocab));
    differs("--min-count", now.data.min_count != was.data.min_count, std::to_string(was.data.min_count));
    differs("--max-length", now.data.max_length != was.data.max_length, std::to_string(was.data.max_length));
    if (given.count("--epochs") && given.at("--epochs")) ctx.bundle.settings.epochs = now.epochs;
    if (given.count("--beam") && given.at("--beam")) ctx.bundle.settings.beam = now.beam;
    ctx.log = read_log(ctx.dir / kLogFile, ctx.bundle.step);
  } else if (has_run && !req.overwrite) {
    throw std::runtime_error("'" + req.out + "' already holds a training run; continue it with --resume, or start again with --overwrite");
  }
  const TrainSettings& s = req.resume ? ctx.bundle.settings : req.settings;

  // Data.
  std::cerr << "data: " << s.data.describe() << "\n";
  ctx.split = load_splits(s.data);
  if (!req.resume) {
    std::vector<std::vector<std::string>> src_tokens, tgt_tokens;
    for (const Pair& p : ctx.split.train) {
      src_tokens.push_back(tokens_of(p.source));
      tgt_tokens.push_back(tokens_of(p.target));
    }
    ctx.bundle.source = Vocab::build(src_tokens, s.data.max_source_vocab, s.data.min_count);
    ctx.bundle.target = Vocab::build(tgt_tokens, s.data.max_target_vocab, s.data.min_count);
  }
  std::size_t dropped = 0;
  ctx.train = encode_pairs(ctx.split.train, ctx.bundle.source, ctx.bundle.target, s.data.max_length, &dropped);
  if (ctx.train.source.empty()) throw std::runtime_error("no training pair is within --max-length " + std::to_string(s.data.max_length));
  std::cerr << "pairs: " << ctx.split.train.size() << " train, " << ctx.split.valid.size() << " valid, "
            << ctx.split.test.size() << " test (no source sentence in two splits)";
  if (dropped) std::cerr << "; " << dropped << " training pairs over --max-length " << s.data.max_length << " dropped";
  std::cerr << "\nvocabulary: " << ctx.bundle.source.size() << " source, " << ctx.bundle.target.size()
            << " target tokens (4 special tokens included)\n";

  // Model.
  if (!req.resume) {
    seq2seq::ModelConfig c;
    c.source_vocab = static_cast<Index>(ctx.bundle.source.size());
    c.target_vocab = static_cast<Index>(ctx.bundle.target.size());
    c.embed = s.embed;
    c.hidden = s.hidden;
    c.layers = s.layers;
    c.reverse_source = s.reverse;
    c.max_length = static_cast<Index>(s.data.max_length);
    ctx.bundle.config = c;
    ctx.bundle.settings = s;
    ctx.bundle.model = std::make_unique<Model>(c);
    seq2seq::Rng init_rng(s.seed);
    seq2seq::init_uniform(*ctx.bundle.model, init_rng, s.init);
    if (s.forget_bias != 0) {
      ctx.bundle.model->encoder().stack().set_forget_bias(static_cast<Scalar>(s.forget_bias));
      ctx.bundle.model->decoder().stack().set_forget_bias(static_cast<Scalar>(s.forget_bias));
    }
  }
  const TrainSettings& ms = ctx.bundle.settings;
  std::cerr << "model: " << ms.layers << " layers x " << ms.hidden << " cells, " << ms.embed << "-d embeddings, source "
            << (ms.reverse ? "reversed" : "not reversed") << ", " << seq2seq::parameter_count(*ctx.bundle.model)
            << " parameters\n"
            << "training: " << ms.optimizer << " lr " << toy::fmt(ms.lr, 4) << " (" << ms.schedule << " schedule), batch "
            << ms.batch << ", clip " << toy::fmt(ms.clip, 3) << ", up to " << toy::fmt(ms.epochs, 4) << " epochs"
            << (req.time_budget > 0 ? ", time budget " + toy::fmt(req.time_budget, 6) + " s" : std::string()) << ", threads "
            << Eigen::nbThreads() << (req.resume ? ", resuming at step " + std::to_string(ctx.bundle.step) : std::string())
            << (rank_count() > 1 ? ", " + std::to_string(rank_count()) + " processes (data-parallel: each trains on a slice of every batch)"
                                 : std::string())
            << "\n";
  ctx.req = req;
  if (!req.resume) {
    // Only now, with the data read and the model made, is an older run in --out replaced.
    on_root("preparing --out", [&] {
      fs::create_directories(ctx.dir);
      for (const char* f : {kBestFile, kLastFile, kStateFile, kLogFile, kCurveFile}) fs::remove(ctx.dir / f, ec);
    });
  }

  // Ctrl-C and SIGTERM stop the loop between batches (and the evaluations after it).
  const StopSignalScope stop_signals;

  seq2seq::io::TrainingState state;
  seq2seq::io::TrainingState* resume_state = req.resume ? &state : nullptr;
  int status = 0;
  if (ms.optimizer == "sgd") status = train_loop(ctx, seq2seq::SGD{}, resume_state);
  else if (ms.optimizer == "momentum") status = train_loop(ctx, seq2seq::Momentum{}, resume_state);
  else if (ms.optimizer == "adam") status = train_loop(ctx, seq2seq::Adam{}, resume_state);
  else if (ms.optimizer == "adagrad") status = train_loop(ctx, seq2seq::Adagrad{}, resume_state);
  else throw UsageError("unknown --optimizer '" + ms.optimizer + "' (sgd, momentum, adam or adagrad)");
  if (status != 0) return status;
  if (g_stop_signal != 0) {  // arrived after the last batch, during the final validation
    std::cerr << "interrupted; the checkpoint in '" << ctx.dir.string() << "' is saved\n";
    return 130;
  }
  if (!is_root()) return 0;  // the test evaluation is rank 0's

  // Final report: the best model on the test split.
  if (ctx.split.test.empty()) {
    std::cout << "no test split (--test-fraction 0 and no --test file): skipping the test evaluation\n";
    return 0;
  }
  if (!fs::exists(ctx.dir / kBestFile, ec)) {
    std::cout << "no model has been validated yet: skipping the test evaluation\n";
    return 0;
  }
  const Bundle best = load_bundle(ctx.dir / kBestFile);
  const auto t0 = std::chrono::steady_clock::now();
  const EvalResult r = evaluate(best, ctx.split.test, ms.beam);
  std::cout << "test (" << (ms.beam <= 1 ? std::string("greedy") : "beam " + std::to_string(ms.beam)) << ", best model of step "
            << best.step << "): " << describe_eval(r) << "  [" << fixed(seconds_since(t0), 1) << " s]\n";
  print_samples(std::cout, r, req.show);
  std::cout << "files: " << (ctx.dir / kBestFile).string() << ", " << (ctx.dir / kLogFile).string() << ", "
            << (ctx.dir / kCurveFile).string() << "\n";
  return 0;
}

// ---------------------------------------------------------------------------------------------
// eval, translate, score, pca, corpus
// ---------------------------------------------------------------------------------------------
int run_eval(const std::string& model_path, const std::string& data, const std::string& test, std::size_t beam,
             bool beam_given, std::size_t show, const std::string& output) {
  const Bundle b = load_bundle(resolve_model_path(model_path));
  std::vector<Pair> pairs;
  std::string what;
  if (!test.empty()) {
    pairs = seq2seq::read_tsv_file(test);
    what = "'" + test + "'";
  } else if (!data.empty()) {
    pairs = seq2seq::read_tsv_file(data);
    what = "'" + data + "' (every pair)";
  } else {
    const seq2seq::CorpusSplit s = load_splits(b.settings.data);
    if (s.test.empty()) throw std::runtime_error("the model's data has no test split; give --test FILE");
    pairs = s.test;
    what = "the test split of the " + b.settings.data.describe();
  }
  const std::size_t k = beam_given ? beam : b.settings.beam;
  if (k == 0) throw UsageError("--beam must be at least 1");
  const auto t0 = std::chrono::steady_clock::now();
  const EvalResult r = evaluate(b, pairs, k);
  std::cout << "eval on " << what << ", " << (k <= 1 ? std::string("greedy") : "beam " + std::to_string(k)) << ":\n"
            << describe_eval(r) << "  [" << fixed(seconds_since(t0), 1) << " s]\n";
  print_samples(std::cout, r, show);
  if (!output.empty()) {
    std::string text;
    for (const std::string& h : r.hypotheses) text += h + "\n";
    write_text_file(output, text);
  }
  return 0;
}

int run_translate(const std::string& model_path, const std::vector<std::string>& inputs, std::size_t beam, bool beam_given,
                  std::size_t nbest, double alpha, bool show_scores) {
  const Bundle b = load_bundle(resolve_model_path(model_path));
  seq2seq::DecodeOptions opt;
  opt.beam = static_cast<Index>(beam_given ? beam : b.settings.beam);
  opt.nbest = static_cast<Index>(nbest);
  opt.length_alpha = alpha;
  if (opt.beam < 1) throw UsageError("--beam must be at least 1");
  if (opt.nbest < 1 || opt.nbest > opt.beam)
    throw UsageError("--nbest must be between 1 and the beam size (" + std::to_string(opt.beam) + ")");
  Model::DecodeWorkspace ws;
  std::size_t failures = 0, sentence = 0;
  for (const std::string& name : inputs.empty() ? std::vector<std::string>{"-"} : inputs) {
    LineSource in(name);
    std::string line;
    while (in.next(line)) {
      ++sentence;
      try {
        std::size_t unknown = 0;
        const Sentence src = encode_source(b, line, &unknown);
        if (unknown)
          std::cerr << in.name() << ":" << in.number() << ": note: " << unknown << " unknown word" << (unknown > 1 ? "s" : "")
                    << " read as <unk>\n";
        const std::vector<seq2seq::Hypothesis> hyps = b.model->translate(src, opt, ws);
        if (opt.nbest == 1 && !show_scores) {
          std::cout << decode_text(b.target, hyps.front().tokens) << "\n";
        } else {
          for (std::size_t r = 0; r < hyps.size(); ++r)
            std::cout << sentence << "\t" << r + 1 << "\t" << fixed(hyps[r].log_prob, 4) << "\t"
                      << decode_text(b.target, hyps[r].tokens) << "\n";
        }
      } catch (const std::invalid_argument& e) {
        // One bad line does not stop the others; its output line stays empty.
        std::cerr << in.name() << ":" << in.number() << ": error: " << e.what() << "\n";
        std::cout << "\n";
        ++failures;
      }
      std::cout.flush();
    }
  }
  if (failures) {
    std::cerr << failures << " of " << sentence << " lines could not be translated\n";
    return 1;
  }
  return 0;
}

int run_score(const std::string& model_path, const std::vector<std::string>& inputs, std::size_t batch_size) {
  const Bundle b = load_bundle(resolve_model_path(model_path));
  // Every line is validated before any is scored, so the output has one number per input pair.
  std::vector<Sentence> src, tgt;
  for (const std::string& name : inputs.empty() ? std::vector<std::string>{"-"} : inputs) {
    LineSource in(name);
    std::string line;
    while (in.next(line)) {
      const auto where = [&] { return in.name() + ":" + std::to_string(in.number()) + ": "; };
      const std::size_t tab = line.find('\t');
      if (tab == std::string::npos) throw std::invalid_argument(where() + "no tab separating source and target");
      std::size_t end = line.find('\t', tab + 1);
      if (end == std::string::npos) end = line.size();
      try {
        const std::string target = line.substr(tab + 1, end - tab - 1);
        src.push_back(encode_source(b, line.substr(0, tab)));
        const std::vector<std::string> t = tokens_of(target);
        if (t.empty()) throw std::invalid_argument("empty target sentence");
        if (b.config.max_length > 0 && static_cast<Index>(t.size()) > b.config.max_length)
          throw std::invalid_argument("target of " + std::to_string(t.size()) + " words is longer than the model's limit of " +
                                      std::to_string(b.config.max_length));
        tgt.push_back(b.target.encode(t));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(where() + e.what());
      }
    }
  }
  if (src.empty()) throw std::invalid_argument("no sentence pairs to score");
  std::vector<double> scores(src.size());
  Model::Workspace ws;
  for (const auto& idx : seq2seq::inference_batches(src, batch_size)) {
    seq2seq::PairBatch batch;
    for (std::size_t i : idx) {
      batch.source.push_back(src[i]);
      batch.target.push_back(tgt[i]);
    }
    const std::vector<double> s = b.model->score(batch, ws);
    for (std::size_t k = 0; k < idx.size(); ++k) scores[idx[k]] = s[k];
  }
  for (double s : scores) std::cout << fixed(s, 4) << "\n";
  return 0;
}

/// Sentences for the PCA picture when none are given: pairs that differ only in who does what to
/// whom, and in tense, as in the paper's Figure 2.
std::vector<std::pair<std::string, int>> default_pca_sentences() {
  std::vector<std::pair<std::string, int>> out;
  const char* verbs[][3] = {{"sees", "saw", "will see"}, {"likes", "liked", "will like"}, {"chases", "chased", "will chase"},
                            {"helps", "helped", "will help"}};
  for (const auto& v : verbs) {
    out.emplace_back(std::string("the dog ") + v[0] + " the cat", 0);
    out.emplace_back(std::string("the cat ") + v[0] + " the dog", 1);
    out.emplace_back(std::string("the dog ") + v[1] + " the cat", 0);
    out.emplace_back(std::string("the cat ") + v[1] + " the dog", 1);
    out.emplace_back(std::string("the dog ") + v[2] + " the cat", 0);
    out.emplace_back(std::string("the cat ") + v[2] + " the dog", 1);
  }
  return out;
}

int run_pca(const std::string& model_path, const std::string& input, const std::string& svg, const std::string& state_kind) {
  const Bundle b = load_bundle(resolve_model_path(model_path));
  std::vector<std::pair<std::string, int>> sentences;
  if (input.empty()) {
    if (!b.settings.data.data.empty())
      throw UsageError("this model was trained on '" + b.settings.data.data + "': give the sentences to plot with --input FILE");
    sentences = default_pca_sentences();
  } else {
    LineSource in(input);
    std::string line;
    while (in.next(line)) {
      // Optional "<TAB>group" after the sentence picks the colour.
      int group = 0;
      const std::size_t tab = line.find('\t');
      if (tab != std::string::npos) {
        try {
          group = std::stoi(line.substr(tab + 1));
        } catch (const std::exception&) {
          throw std::invalid_argument(in.name() + ":" + std::to_string(in.number()) + ": the field after the tab must be a group number");
        }
        line.erase(tab);
      }
      if (seq2seq::tokenize(line).empty()) continue;
      sentences.emplace_back(line, group);
    }
  }
  if (sentences.size() < 3) throw std::invalid_argument("the PCA needs at least 3 sentences, got " + std::to_string(sentences.size()));

  // One row per sentence: the paper's v (every layer's h and c) or the top layer's h only.
  const Index L = b.config.layers, H = b.config.hidden;
  const bool all = state_kind == "all";
  if (!all && state_kind != "top")
    throw UsageError("--state must be 'all' (every layer's h and c) or 'top' (the top layer's h)");
  const Index D = all ? 2 * L * H : H;
  Eigen::MatrixXd X(static_cast<Index>(sentences.size()), D);
  Model::Workspace ws;
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    Sentence src;
    try {
      src = encode_source(b, sentences[i].first);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("sentence " + std::to_string(i + 1) + " (\"" + sentences[i].first + "\"): " + e.what());
    }
    Model::State v;
    b.model->encode({src}, ws.encoder, v);
    const Index row = static_cast<Index>(i);
    if (all) {
      for (Index l = 0; l < L; ++l) {
        X.row(row).segment(2 * l * H, H) = v.h[static_cast<std::size_t>(l)].col(0).cast<double>().transpose();
        X.row(row).segment(2 * l * H + H, H) = v.c[static_cast<std::size_t>(l)].col(0).cast<double>().transpose();
      }
    } else {
      X.row(row) = v.h.back().col(0).cast<double>().transpose();
    }
  }
  // PCA: eigenvectors of the covariance (D x D) of the centred rows; the two with the largest
  // eigenvalues are the axes. SelfAdjointEigenSolver sorts eigenvalues in increasing order.
  const Eigen::RowVectorXd mean = X.colwise().mean();
  const Eigen::MatrixXd C = X.rowwise() - mean;
  Eigen::MatrixXd cov(D, D);
  cov.noalias() = C.transpose() * C;
  cov /= static_cast<double>(std::max<Index>(1, X.rows() - 1));
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
  if (eig.info() != Eigen::Success) throw std::runtime_error("PCA: the eigen decomposition did not converge");
  const Eigen::MatrixXd axes = eig.eigenvectors().rightCols(2).rowwise().reverse();
  Eigen::MatrixXd P(X.rows(), 2);
  P.noalias() = C * axes;
  const double total = std::max(eig.eigenvalues().sum(), 1e-300);
  const double e1 = eig.eigenvalues()(D - 1) / total, e2 = eig.eigenvalues()(D - 2) / total;

  std::vector<double> xs, ys;
  std::vector<std::string> labels;
  std::vector<int> groups;
  std::cout << "pc1\tpc2\tsentence\n";
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    xs.push_back(P(static_cast<Index>(i), 0));
    ys.push_back(P(static_cast<Index>(i), 1));
    labels.push_back(sentences[i].first);
    groups.push_back(sentences[i].second);
    std::cout << fixed(xs.back(), 4) << "\t" << fixed(ys.back(), 4) << "\t" << sentences[i].first << "\n";
  }
  const std::string what = all ? "every layer's (h, c), " + std::to_string(D) + " numbers" : "top layer's h, " + std::to_string(D) + " numbers";
  write_text_file(svg, toy::scatter_svg("2-D PCA of the encoder's sentence vectors (" + what + ")", xs, ys, labels, groups,
                                        "PC1 (" + fixed(100 * e1, 1) + "% of variance)", "PC2 (" + fixed(100 * e2, 1) + "% of variance)"));
  std::cerr << "wrote " << svg << " (" << sentences.size() << " sentences; PC1 " << fixed(100 * e1, 1) << "%, PC2 "
            << fixed(100 * e2, 1) << "% of the variance)\n";
  return 0;
}

int run_corpus(const DataSpec& d, const std::string& output, const std::string& part) {
  std::vector<Pair> pairs;
  if (part == "all") {
    pairs = toy::generate(d.pairs, d.corpus_seed);
  } else {
    DataSpec builtin = d;
    builtin.data.clear();
    const seq2seq::CorpusSplit s = load_splits(builtin);
    pairs = part == "train" ? s.train : part == "valid" ? s.valid : s.test;
  }
  std::string text;
  for (const Pair& p : pairs) text += p.source + "\t" + p.target + "\n";
  if (output.empty() || output == "-")
    std::cout << text;
  else
    write_text_file(output, text);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------
int run(int argc, char** argv) {
  CLI::App app{"toy_translation: sequence-to-sequence translation (Sutskever et al. 2014) with the seq2seq library.\n"
               "Trains on a built-in English -> Zuvi corpus or on your own source<TAB>target file."};
  app.set_version_flag("--version", version_string());
  app.require_subcommand(1);
  // A flag given twice takes its last value, so a script can override its own defaults.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  const auto versioned = [](CLI::App* sub) {
    sub->set_version_flag("--version", version_string());
    return sub;
  };

  // --- train ---
  TrainRequest req;
  TrainSettings& ts = req.settings;
  std::map<std::string, CLI::Option*> train_opts;
  CLI::App* train = versioned(app.add_subcommand("train", "Train a model (progress on stderr; Ctrl-C saves a checkpoint)"));
  std::string preset = "toy";
  std::uint64_t max_vocab = 0;
  bool no_reverse = false;
  train_opts["--preset"] = train->add_option("--preset", preset, "toy (the defaults below) or paper (4x1000 cells, 1000-d embeddings, batch 128, beam 12, ...)")
                               ->check(CLI::IsMember({"toy", "paper"}))
                               ->capture_default_str();
  train_opts["--out"] = train->add_option("--out", req.out, "Directory for checkpoints, log and learning curve")->capture_default_str();
  train_opts["--data"] = train->add_option("--data", ts.data.data, "TSV corpus source<TAB>target[<TAB>...] (default: built-in corpus)");
  train_opts["--valid"] = train->add_option("--valid", ts.data.valid, "Validation TSV (default: held out from the corpus)");
  train_opts["--test"] = train->add_option("--test", ts.data.test, "Test TSV (default: held out from the corpus)");
  train_opts["--pairs"] = train->add_option("--pairs", ts.data.pairs, "Size of the built-in corpus")->check(CLI::Range(std::uint64_t{100}, std::uint64_t{10000000}))->capture_default_str();
  train_opts["--valid-fraction"] = train->add_option("--valid-fraction", ts.data.valid_fraction, "Share of distinct sources held out for validation")->check(CLI::Range(0.0, 0.5))->capture_default_str();
  train_opts["--test-fraction"] = train->add_option("--test-fraction", ts.data.test_fraction, "Share of distinct sources held out for test")->check(CLI::Range(0.0, 0.5))->capture_default_str();
  train_opts["--max-vocab"] = train->add_option("--max-vocab", max_vocab, "Most tokens per vocabulary, special tokens included (0 = all)")->capture_default_str();
  train_opts["--min-count"] = train->add_option("--min-count", ts.data.min_count, "Words seen fewer times become <unk>")->capture_default_str();
  train_opts["--max-length"] = train->add_option("--max-length", ts.data.max_length, "Longest sentence in words (longer training pairs are dropped)")->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100000}))->capture_default_str();
  train_opts["--embed"] = train->add_option("--embed", ts.embed, "Word embedding size")->check(CLI::Range(Index{1}, Index{100000}))->capture_default_str();
  train_opts["--hidden"] = train->add_option("--hidden", ts.hidden, "LSTM cells per layer")->check(CLI::Range(Index{1}, Index{100000}))->capture_default_str();
  train_opts["--layers"] = train->add_option("--layers", ts.layers, "LSTM layers of the encoder and of the decoder")->check(CLI::Range(Index{1}, Index{64}))->capture_default_str();
  train_opts["--no-reverse"] = train->add_flag("--no-reverse", no_reverse, "Read the source in order (the paper reverses it)");
  train_opts["--optimizer"] = train->add_option("--optimizer", ts.optimizer, "sgd, momentum, adam or adagrad")->check(CLI::IsMember({"sgd", "momentum", "adam", "adagrad"}))->capture_default_str();
  train_opts["--lr"] = train->add_option("--lr", ts.lr, "Learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  train_opts["--schedule"] = train->add_option("--schedule", ts.schedule, "constant, or paper (halve every half epoch after epoch 5)")->check(CLI::IsMember({"constant", "paper"}))->capture_default_str();
  train_opts["--batch"] = train->add_option("--batch", ts.batch, "Sentence pairs per batch")->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100000}))->capture_default_str();
  train_opts["--clip"] = train->add_option("--clip", ts.clip, "Clip the global gradient norm at this value (0 = off)")->check(CLI::NonNegativeNumber)->capture_default_str();
  train_opts["--init"] = train->add_option("--init", ts.init, "Initialise every parameter uniform in [-init, init]")->check(CLI::PositiveNumber)->capture_default_str();
  train_opts["--forget-bias"] = train->add_option("--forget-bias", ts.forget_bias, "Initial forget-gate bias")->capture_default_str();
  train_opts["--epochs"] = train->add_option("--epochs", ts.epochs, "Epochs to train (may be fractional)")->check(CLI::PositiveNumber)->capture_default_str();
  train_opts["--time-budget"] = train->add_option("--time-budget", req.time_budget, "Stop training after this many seconds (0 = no limit)")->check(CLI::NonNegativeNumber)->capture_default_str();
  train_opts["--seed"] = train->add_option("--seed", ts.seed, "Seed of initialisation and batch order")->capture_default_str();
  train_opts["--beam"] = train->add_option("--beam", ts.beam, "Beam size of the final test evaluation (and the model's default)")->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000}))->capture_default_str();
  train_opts["--threads"] = train->add_option("--threads", req.threads, "Threads of Eigen's matrix products (0 = OpenMP's default; more pay only for large models)")->capture_default_str();
  train_opts["--log-every"] = train->add_option("--log-every", req.log_every, "Steps between log lines")->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000000}))->capture_default_str();
  train_opts["--show"] = train->add_option("--show", req.show, "Test translations printed at the end")->capture_default_str();
  train_opts["--resume"] = train->add_flag("--resume", req.resume, "Continue the run in --out from its last checkpoint");
  train_opts["--overwrite"] = train->add_flag("--overwrite", req.overwrite, "Start a new run even if --out holds one");
  train_opts["--quiet"] = train->add_flag("--quiet", req.quiet, "No progress bar and no per-step lines");
  train_opts["--resume"]->excludes(train_opts["--overwrite"]);

  // --- eval ---
  std::string model_path = "toy_run", eval_data, eval_test, eval_output;
  std::size_t beam = 1, show = 5, nbest = 1, batch_size = 64;
  CLI::App* eval = versioned(app.add_subcommand("eval", "BLEU (multi-reference), exact match and perplexity on a test set"));
  eval->add_option("--model", model_path, "Run directory or checkpoint file")->capture_default_str();
  eval->add_option("--test", eval_test, "Test TSV (default: the model's own test split)");
  eval->add_option("--data", eval_data, "Evaluate on every pair of this TSV");
  CLI::Option* eval_beam = eval->add_option("--beam", beam, "Beam size (default: the model's, 1 = greedy)")->check(CLI::Range(std::size_t{1}, std::size_t{1000}));
  eval->add_option("--show", show, "Translations printed")->capture_default_str();
  eval->add_option("--output", eval_output, "Write every translation to this file");

  // --- translate ---
  std::vector<std::string> files;
  double alpha = 0;
  bool show_scores = false;
  CLI::App* translate = versioned(app.add_subcommand("translate", "Translate lines of FILEs or of stdin"));
  translate->add_option("--model", model_path, "Run directory or checkpoint file")->capture_default_str();
  translate->add_option("files", files, "Input files, one sentence per line (default or '-': stdin)");
  CLI::Option* tr_beam = translate->add_option("--beam", beam, "Beam size (default: the model's, 1 = greedy)")->check(CLI::Range(std::size_t{1}, std::size_t{1000}));
  translate->add_option("--nbest", nbest, "Translations per sentence (at most the beam)")->check(CLI::Range(std::size_t{1}, std::size_t{1000}))->capture_default_str();
  translate->add_option("--length-alpha", alpha, "Rank by log p / (words + 1)^alpha (0 = the paper: none)")->check(CLI::NonNegativeNumber)->capture_default_str();
  translate->add_flag("--scores", show_scores, "Print 'line<TAB>rank<TAB>log p<TAB>translation'");

  // --- score ---
  CLI::App* score = versioned(app.add_subcommand("score", "Print log p(target | source) for lines 'source<TAB>target'"));
  score->add_option("--model", model_path, "Run directory or checkpoint file")->capture_default_str();
  score->add_option("files", files, "Input files (default or '-': stdin)");
  score->add_option("--batch", batch_size, "Pairs scored together")->check(CLI::Range(std::size_t{1}, std::size_t{100000}))->capture_default_str();

  // --- pca ---
  std::string pca_input, pca_svg = "sentence_vectors.svg", pca_state = "all";
  CLI::App* pca = versioned(app.add_subcommand("pca", "2-D PCA of the encoder's sentence vectors as an SVG picture (the paper's Figure 2)"));
  pca->add_option("--model", model_path, "Run directory or checkpoint file")->capture_default_str();
  pca->add_option("--input", pca_input, "Sentences, one per line, optionally '<TAB>group' (default: built-in examples)");
  pca->add_option("--svg", pca_svg, "Output picture")->capture_default_str();
  pca->add_option("--state", pca_state, "all: every layer's h and c (the paper's v); top: the top layer's h")->check(CLI::IsMember({"all", "top"}))->capture_default_str();

  // --- corpus ---
  DataSpec corpus_spec;
  std::string corpus_output, corpus_part = "all";
  CLI::App* corpus = versioned(app.add_subcommand("corpus", "Write the built-in English -> Zuvi corpus as TSV"));
  corpus->add_option("--pairs", corpus_spec.pairs, "Number of pairs")->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10000000}))->capture_default_str();
  corpus->add_option("--corpus-seed", corpus_spec.corpus_seed, "Generator seed")->capture_default_str();
  corpus->add_option("--part", corpus_part, "all, or the train/valid/test split that train uses")->check(CLI::IsMember({"all", "train", "valid", "test"}))->capture_default_str();
  corpus->add_option("--output", corpus_output, "Output file (default: stdout)");
  train_opts["--corpus-seed"] = train->add_option("--corpus-seed", ts.data.corpus_seed, "Seed of the built-in corpus")->capture_default_str();

  Eigen::setNbThreads(1);  // inference on one sentence or a small batch: see TrainRequest::threads
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* sub : {train, eval, translate, score, pca, corpus}) known = known || sub->get_name() == argv[1];
    if (!known)
      throw UsageError(std::string("unknown command '") + argv[1] + "' (train, eval, translate, score, pca or corpus; see --help)");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every command-line error exits 2.
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (!train->parsed() && !is_root()) return 0;  // under mpirun only `train` is shared; rank 0 runs the others
  if (train->parsed()) {
    std::map<std::string, bool> given;
    for (const auto& [name, opt] : train_opts) given[name] = opt->count() > 0;
    if (preset == "paper") {
      // The preset first, then every flag given explicitly on top of it.
      TrainSettings explicit_values = ts;
      apply_paper_preset(ts);
      const auto keep = [&](const char* flag, auto member) {
        if (given[flag]) ts.*member = explicit_values.*member;
      };
      keep("--embed", &TrainSettings::embed);
      keep("--hidden", &TrainSettings::hidden);
      keep("--layers", &TrainSettings::layers);
      keep("--optimizer", &TrainSettings::optimizer);
      keep("--lr", &TrainSettings::lr);
      keep("--schedule", &TrainSettings::schedule);
      keep("--batch", &TrainSettings::batch);
      keep("--clip", &TrainSettings::clip);
      keep("--init", &TrainSettings::init);
      keep("--forget-bias", &TrainSettings::forget_bias);
      keep("--epochs", &TrainSettings::epochs);
      keep("--beam", &TrainSettings::beam);
    }
    if (given["--max-vocab"]) ts.data.max_source_vocab = ts.data.max_target_vocab = max_vocab;
    if (max_vocab != 0 && max_vocab < 5) throw UsageError("--max-vocab must be 0 (no limit) or more than the 4 special tokens");
    ts.reverse = !no_reverse;
    Eigen::setNbThreads(static_cast<int>(req.threads));  // 0: OpenMP's default
    return run_train(req, given);
  }
  if (eval->parsed()) return run_eval(model_path, eval_data, eval_test, beam, eval_beam->count() > 0, show, eval_output);
  if (translate->parsed()) return run_translate(model_path, files, beam, tr_beam->count() > 0, nbest, alpha, show_scores);
  if (score->parsed()) return run_score(model_path, files, batch_size);
  if (pca->parsed()) return run_pca(model_path, pca_input, pca_svg, pca_state);
  if (corpus->parsed()) return run_corpus(corpus_spec, corpus_output, corpus_part);
  return 2;
}

}  // namespace

namespace {

/// Prints an error and returns `status`. Under mpirun with several ranks it ends the whole job
/// instead (MPI_Abort), since the other ranks may be waiting for this one in a collective. Rank 0
/// prints at once; another rank prints only if rank 0 has not ended the job within a second,
/// so an error every rank meets is printed once.
int fail(int status, const std::string& text) {
#if SEQ2SEQ_TOY_MPI
  if (g_comm && g_comm->size() > 1) {
    if (g_comm->is_root()) {
      std::cerr << text << std::endl;
    } else {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      std::fprintf(stderr, "%s (rank %d)\n", text.c_str(), g_comm->rank());
      std::fflush(stderr);
    }
    g_comm->abort(status);
  }
#endif
  std::cerr << text << "\n";
  return status;
}

int run_main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    // The same command line on every rank: the same error everywhere, no rank left waiting.
    std::cerr << kProgram << ": " << e.what() << "\n";
    return 2;
  } catch (const Interrupted&) {
    std::cerr << kProgram << ": interrupted\n";
    return 130;
  } catch (const std::exception& e) {
    return fail(1, std::string(kProgram) + ": error: " + e.what());
  }
}

#if SEQ2SEQ_TOY_MPI
/// Swallows what the non-root ranks would print.
struct NullBuffer : std::streambuf {
  int overflow(int c) override { return traits_type::not_eof(c); }
};
#endif

}  // namespace

int main(int argc, char** argv) {
#if SEQ2SEQ_TOY_MPI
  // MPI only when started by mpirun (read from the environment): started directly, this build
  // behaves as one without MPI and never initialises it.
  if (!seq2seq::mpi::launched_by_mpirun()) return run_main(argc, argv);
  std::unique_ptr<seq2seq::mpi::Environment> env;
  try {
    env = std::make_unique<seq2seq::mpi::Environment>(&argc, &argv);
    g_comm = std::make_unique<seq2seq::mpi::Communicator>();
  } catch (const std::exception& e) {
    std::cerr << kProgram << ": error: " << e.what() << "\n";
    return 1;
  }
  NullBuffer null_buffer;
  std::streambuf* const cout_buffer = std::cout.rdbuf();
  std::streambuf* const cerr_buffer = std::cerr.rdbuf();
  if (!g_comm->is_root()) {
    std::cout.rdbuf(&null_buffer);
    std::cerr.rdbuf(&null_buffer);
  }
  const int status = run_main(argc, argv);
  std::cout.rdbuf(cout_buffer);
  std::cerr.rdbuf(cerr_buffer);
  g_comm.reset();
  return status;
#else
  return run_main(argc, argv);
#endif
}

// The Python module `seq2seq`: the C++ engine from Python (pybind11), over the example's float
// Dynamic model (examples/toy_translation/app.hpp) and the example's own code, linked as the static
// library toy_translation_core: models load through io::load_model and the example's to_bundle,
// text becomes ids through encode_source and comes back through decode_text, and seq2seq.train is
// the example's run_train. So a model file, a tokenization or a training run is the same here as
// on the command line, bit for bit, and what the example learns (tokenizers, decoding) reaches
// Python with it.
//
//   seq2seq.Translator(path, threads=1)       a model file (or a run directory) to translate with
//     .translate(sources, beam=5, nbest=1, max_length=None, length_alpha=0.0, with_scores=False)
//     .score(sources, targets, batch_size=64) log p(target | source) per pair
//     .translate_ids / .score_ids / .encode / .decode   the same on token ids
//     .parameters()                           name -> writable numpy view of the model's weights
//     .save(path)                             the model (with edited weights) as a model file
//   seq2seq.train(out=..., train_tsv=..., epochs=..., ..., progress=callable)
//
// Threads: translate and score release the GIL while they compute, with workspaces of their own
// (the model is const), so Python threads translate in parallel; Translator(threads=N) also spreads
// one call's sentences over N threads. Errors: ValueError for bad input (empty sentences, ids out of
// range, bad options), TypeError for wrong types, OSError for model files that are missing,
// unreadable or damaged, each with the library's message.
#include "app.hpp"
#include "commands.hpp"
#include "run_files.hpp"
#include "settings.hpp"
#include "text.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace seq2seq_python {
namespace {

namespace fs = std::filesystem;
using toy::Index;
using toy::Model;
using toy::Sentence;

// --- Errors ----------------------------------------------------------------------------------

/// A model file that cannot be read or written: OSError (FileNotFoundError when it is missing).
struct FileError : std::runtime_error {
  FileError(const std::string& what, bool missing) : std::runtime_error(what), missing(missing) {}
  bool missing;
};
/// Bad input found while the GIL is released: ValueError.
struct InputError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

std::string type_name(py::handle h) { return py::str(py::type::handle_of(h).attr("__name__")).cast<std::string>(); }

// --- Python values to C++ (the GIL held) -----------------------------------------------------

/// A list (any iterable) of str; a single str is refused, not read as a list of characters.
std::vector<std::string> strings_of(py::handle obj, const char* what) {
  if (py::isinstance<py::str>(obj) || py::isinstance<py::bytes>(obj))
    throw py::type_error(std::string(what) + " must be a list of str, not a single " + type_name(obj) +
                         " (put one sentence in a list: [text])");
  if (!py::isinstance<py::iterable>(obj))
    throw py::type_error(std::string(what) + " must be a list of str, not " + type_name(obj));
  std::vector<std::string> out;
  for (py::handle item : obj) {
    if (!py::isinstance<py::str>(item))
      throw py::type_error(std::string(what) + "[" + std::to_string(out.size()) + "] is " + type_name(item) + ", not str");
    out.push_back(item.cast<std::string>());
  }
  return out;
}

/// One token-id sentence: an iterable of int (numpy integers included), each a TokenId.
Sentence ids_of(py::handle obj, const std::string& what) {
  if (py::isinstance<py::str>(obj) || py::isinstance<py::bytes>(obj) || !py::isinstance<py::iterable>(obj))
    throw py::type_error(what + " must be a list of int token ids, not " + type_name(obj));
  Sentence out;
  for (py::handle item : obj) {
    const std::string where = what + "[" + std::to_string(out.size()) + "]";
    if (py::isinstance<py::bool_>(item) || !PyIndex_Check(item.ptr()))
      throw py::type_error(where + " is " + type_name(item) + ", not int");
    const py::int_ v = py::reinterpret_steal<py::int_>(PyNumber_Index(item.ptr()));
    int overflow = 0;
    const long long id = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
    if (overflow != 0 || id < 0 || id > std::numeric_limits<seq2seq::TokenId>::max())
      throw py::value_error(where + ": token id " + py::repr(v).cast<std::string>() + " is out of range");
    out.push_back(static_cast<seq2seq::TokenId>(id));
  }
  return out;
}

std::vector<Sentence> id_lists_of(py::handle obj, const char* what) {
  if (py::isinstance<py::str>(obj) || !py::isinstance<py::iterable>(obj))
    throw py::type_error(std::string(what) + " must be a list of lists of int token ids, not " + type_name(obj));
  std::vector<Sentence> out;
  for (py::handle item : obj) out.push_back(ids_of(item, std::string(what) + "[" + std::to_string(out.size()) + "]"));
  return out;
}

// --- Work over several threads (the GIL released) --------------------------------------------

/// f(i, worker) for i in [0, n) on `threads` threads (the caller's among them), items handed out
/// one by one; the first exception stops the others and is rethrown here.
template <typename F>
void parallel_for(std::size_t n, std::size_t threads, F&& f) {
  threads = std::max<std::size_t>(1, std::min(threads, n));
  if (threads == 1) {
    for (std::size_t i = 0; i < n; ++i) f(i, std::size_t{0});
    return;
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(threads);
  const auto work = [&](std::size_t worker) {
    try {
      for (std::size_t i; (i = next.fetch_add(1)) < n;) f(i, worker);
    } catch (...) {
      errors[worker] = std::current_exception();
      next.store(n);
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t w = 1; w < threads; ++w) pool.emplace_back(work, w);
  work(0);
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

/// Eigen's matrix-product threads for a scope: 1 for inference, as the command line sets them.
class EigenThreads {
 public:
  explicit EigenThreads(int n) : before_(Eigen::nbThreads()) { Eigen::setNbThreads(n); }
  ~EigenThreads() { Eigen::setNbThreads(before_); }
  EigenThreads(const EigenThreads&) = delete;
  EigenThreads& operator=(const EigenThreads&) = delete;

 private:
  int before_;
};

// --- Translator -------------------------------------------------------------------------------

struct Decoded {
  std::vector<std::vector<seq2seq::Hypothesis>> hyps;  // per source, best first
};

class Translator {
 public:
  Translator(const std::string& where, std::size_t threads) : threads_(threads) {
    if (threads == 0) throw py::value_error("threads must be at least 1");
    py::gil_scoped_release nogil;
    load(where);
  }

  std::size_t threads() const { return threads_; }
  void set_threads(std::size_t n) {
    if (n == 0) throw py::value_error("threads must be at least 1");
    threads_ = n;
  }
  const std::string& path() const { return path_; }
  const toy::Bundle& bundle() const { return b_; }
  Model& model() { return *b_.model; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  py::dict config() const {
    const seq2seq::ModelConfig& c = b_.config;
    py::dict d;
    d["source_vocab"] = c.source_vocab;
    d["target_vocab"] = c.target_vocab;
    d["embed"] = c.embed;
    d["hidden"] = c.hidden;
    d["layers"] = c.layers;
    d["reverse_source"] = c.reverse_source;
    d["peephole"] = c.peephole;
    d["max_length"] = c.max_length;
    d["per_token_loss"] = c.per_token_loss;
    return d;
  }

  /// Source texts to ids (the example's encode_source: its tokenizer, its checks).
  std::vector<Sentence> encode_sources(const std::vector<std::string>& texts, const char* what) const {
    std::vector<Sentence> out;
    out.reserve(texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      try {
        out.push_back(toy::encode_source(b_, texts[i]));
      } catch (const std::invalid_argument& e) {
        throw InputError(std::string(what) + "[" + std::to_string(i) + "]: " + e.what());
      }
    }
    return out;
  }
  /// Target texts to ids (the example's encode_target, as its `score` command reads them).
  std::vector<Sentence> encode_targets(const std::vector<std::string>& texts) const {
    std::vector<Sentence> out;
    out.reserve(texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      try {
        out.push_back(toy::encode_target(b_, texts[i]));
      } catch (const std::invalid_argument& e) {
        throw InputError("targets[" + std::to_string(i) + "]: " + e.what());
      }
    }
    return out;
  }
  void check_ids(const std::vector<Sentence>& sentences, Index vocab, const char* what, bool allow_empty) const {
    for (std::size_t i = 0; i < sentences.size(); ++i) {
      if (sentences[i].empty() && !allow_empty) throw InputError(std::string(what) + "[" + std::to_string(i) + "]: empty sentence");
      for (std::size_t k = 0; k < sentences[i].size(); ++k)
        if (sentences[i][k] >= vocab)
          throw InputError(std::string(what) + "[" + std::to_string(i) + "][" + std::to_string(k) + "]: token id " +
                           std::to_string(sentences[i][k]) + " is outside the vocabulary of " + std::to_string(vocab) +
                           " tokens");
      if (b_.config.max_length > 0 && static_cast<Index>(sentences[i].size()) > b_.config.max_length)
        throw InputError(std::string(what) + "[" + std::to_string(i) + "]: sentence of " + std::to_string(sentences[i].size()) +
                         " tokens is longer than the model's limit of " + std::to_string(b_.config.max_length));
    }
  }

  /// Beam search of every source, spread over threads_ threads (one workspace each).
  Decoded decode(const std::vector<Sentence>& sources, const seq2seq::DecodeOptions& opt) const {
    Decoded out;
    out.hyps.resize(sources.size());
    const std::size_t workers = std::max<std::size_t>(1, std::min(threads_, sources.size()));
    std::vector<Model::DecodeWorkspace> ws(workers);
    const Model& model = *b_.model;
    parallel_for(sources.size(), workers, [&](std::size_t i, std::size_t w) { out.hyps[i] = model.translate(sources[i], opt, ws[w]); });
    return out;
  }

  /// log p(target | source) in the batches of the example's `score` command (inference_batches of
  /// `batch_size`), the batches spread over threads_ threads.
  std::vector<double> score(const std::vector<Sentence>& src, const std::vector<Sentence>& tgt, std::size_t batch_size) const {
    const std::vector<std::vector<std::size_t>> batches = seq2seq::inference_batches(src, batch_size);
    std::vector<double> scores(src.size());
    const std::size_t workers = std::max<std::size_t>(1, std::min(threads_, batches.size()));
    std::vector<Model::Workspace> ws(workers);
    const Model& model = *b_.model;
    parallel_for(batches.size(), workers, [&](std::size_t j, std::size_t w) {
      seq2seq::PairBatch batch;
      for (std::size_t i : batches[j]) {
        batch.source.push_back(src[i]);
        batch.target.push_back(tgt[i]);
      }
      const std::vector<double> s = model.score(batch, ws[w]);
      for (std::size_t k = 0; k < batches[j].size(); ++k) scores[batches[j][k]] = s[k];
    });
    return scores;
  }

  std::string decode_text(const Sentence& ids) const { return toy::decode_text(b_, ids); }

  void save(const std::string& where) const {
    try {
      if (from_example_)
        toy::save_bundle(where, b_);
      else
        seq2seq::io::save_model(where, *b_.model, b_.source, b_.target, metadata_);
    } catch (const std::exception& e) {
      throw FileError(e.what(), false);
    }
  }

 private:
  void load(const std::string& where) {
    fs::path p;
    try {
      p = toy::resolve_model_path(where);
    } catch (const std::exception& e) {
      throw FileError("seq2seq: no model file at '" + where + "'", true);
    }
    try {
      seq2seq::io::LoadedModel<Model> loaded = seq2seq::io::load_model<Model>(p.string());
      metadata_ = loaded.metadata;
      from_example_ = loaded.metadata.count("training") != 0;
      if (!from_example_) {
        // A file of io::save_model alone: the example's Bundle with default settings (they
        // only matter to training; translation reads the configuration and vocabularies).
        loaded.metadata["training"] = toy::TrainSettings{}.to_json().dump();
        loaded.metadata["training_step"] = "0";
      }
      b_ = toy::to_bundle(std::move(loaded), p);
    } catch (const std::exception& e) {
      throw FileError(e.what(), false);
    }
    path_ = p.string();
  }

  toy::Bundle b_;
  bool from_example_ = false;
  std::map<std::string, std::string> metadata_;  // the file's own metadata (caller keys)
  std::string path_;
  std::size_t threads_;
};

seq2seq::DecodeOptions decode_options(std::int64_t beam, std::int64_t nbest, const py::object& max_length, double alpha) {
  if (beam < 1) throw py::value_error("beam must be at least 1, got " + std::to_string(beam));
  if (nbest < 1 || nbest > beam)
    throw py::value_error("nbest must be between 1 and the beam size (" + std::to_string(beam) + "), got " + std::to_string(nbest));
  if (!(alpha >= 0) || !std::isfinite(alpha)) throw py::value_error("length_alpha must be a finite number >= 0");
  seq2seq::DecodeOptions opt;
  opt.beam = static_cast<Index>(beam);
  opt.nbest = static_cast<Index>(nbest);
  opt.length_alpha = alpha;
  if (!max_length.is_none()) {
    if (py::isinstance<py::bool_>(max_length) || !py::isinstance<py::int_>(max_length))
      throw py::type_error("max_length must be an int or None, not " + type_name(max_length));
    const auto m = max_length.cast<long long>();
    if (m < 1) throw py::value_error("max_length must be at least 1 (or None: 2 * source length + 10), got " + std::to_string(m));
    opt.max_length = static_cast<Index>(m);
  }
  return opt;
}

/// translate's result: one str per source, or with n-best lists / scores one list of
/// (translation, log p) per source.
template <typename Item>
py::list hypotheses_list(const Decoded& d, bool lists, const std::vector<std::vector<Item>>& items) {
  py::list out;
  for (std::size_t i = 0; i < d.hyps.size(); ++i) {
    if (!lists) {
      out.append(items[i].empty() ? py::cast(Item{}) : py::cast(items[i].front()));
      continue;
    }
    py::list n;
    for (std::size_t r = 0; r < d.hyps[i].size(); ++r) n.append(py::make_tuple(py::cast(items[i][r]), d.hyps[i][r].log_prob));
    out.append(n);
  }
  return out;
}

py::list translate_text(const Translator& t, py::handle sources, std::int64_t beam, std::int64_t nbest,
                        const py::object& max_length, double alpha, bool with_scores) {
  const seq2seq::DecodeOptions opt = decode_options(beam, nbest, max_length, alpha);
  const std::vector<std::string> texts = strings_of(sources, "sources");
  Decoded d;
  std::vector<std::vector<std::string>> out(texts.size());
  {
    py::gil_scoped_release nogil;
    d = t.decode(t.encode_sources(texts, "sources"), opt);
    for (std::size_t i = 0; i < texts.size(); ++i)
      for (const seq2seq::Hypothesis& h : d.hyps[i]) out[i].push_back(t.decode_text(h.tokens));
  }
  return hypotheses_list(d, nbest > 1 || with_scores, out);
}

py::list translate_ids(const Translator& t, py::handle sources, std::int64_t beam, std::int64_t nbest,
                       const py::object& max_length, double alpha, bool with_scores) {
  const seq2seq::DecodeOptions opt = decode_options(beam, nbest, max_length, alpha);
  const std::vector<Sentence> src = id_lists_of(sources, "sources");
  Decoded d;
  std::vector<std::vector<Sentence>> out(src.size());
  {
    py::gil_scoped_release nogil;
    t.check_ids(src, t.bundle().config.source_vocab, "sources", false);
    d = t.decode(src, opt);
    for (std::size_t i = 0; i < src.size(); ++i)
      for (const seq2seq::Hypothesis& h : d.hyps[i]) out[i].push_back(h.tokens);
  }
  return hypotheses_list(d, nbest > 1 || with_scores, out);
}

std::vector<double> score_text(const Translator& t, py::handle sources, py::handle targets, std::int64_t batch_size) {
  if (batch_size < 1) throw py::value_error("batch_size must be at least 1");
  const std::vector<std::string> s = strings_of(sources, "sources"), g = strings_of(targets, "targets");
  if (s.size() != g.size())
    throw py::value_error("score: " + std::to_string(s.size()) + " sources but " + std::to_string(g.size()) + " targets");
  if (s.empty()) return {};
  py::gil_scoped_release nogil;
  const std::vector<Sentence> src = t.encode_sources(s, "sources");
  const std::vector<Sentence> tgt = t.encode_targets(g);
  return t.score(src, tgt, static_cast<std::size_t>(batch_size));
}

std::vector<double> score_ids(const Translator& t, py::handle sources, py::handle targets, std::int64_t batch_size) {
  if (batch_size < 1) throw py::value_error("batch_size must be at least 1");
  const std::vector<Sentence> src = id_lists_of(sources, "sources"), tgt = id_lists_of(targets, "targets");
  if (src.size() != tgt.size())
    throw py::value_error("score_ids: " + std::to_string(src.size()) + " sources but " + std::to_string(tgt.size()) + " targets");
  if (src.empty()) return {};
  py::gil_scoped_release nogil;
  t.check_ids(src, t.bundle().config.source_vocab, "sources", false);
  t.check_ids(tgt, t.bundle().config.target_vocab, "targets", true);  // empty: log p(<EOS> | source)
  return t.score(src, tgt, static_cast<std::size_t>(batch_size));
}

/// name -> numpy array over the parameter's own memory (Eigen's column-major layout, shape
/// [rows, cols] as in the model file); each array keeps the Translator alive.
py::dict parameters(py::object self) {
  Translator& t = self.cast<Translator&>();
  py::dict out;
  t.model().visit_parameters([&](const seq2seq::ParamName& name, auto& p) {
    auto& m = p.value;
    using S = typename std::decay_t<decltype(m)>::Scalar;
    const auto rows = static_cast<py::ssize_t>(m.rows()), cols = static_cast<py::ssize_t>(m.cols());
    out[py::str(name.str())] = py::array_t<S>({rows, cols}, {static_cast<py::ssize_t>(sizeof(S)), static_cast<py::ssize_t>(sizeof(S)) * rows},
                                              m.data(), self);
  });
  return out;
}

// --- train ------------------------------------------------------------------------------------

/// One keyword of seq2seq.train: the command-line flag it stands for and how it is read.
struct Keyword {
  const char* name;
  const char* flag;  // the train flag, for the checks of a resumed run
  std::function<void(toy::TrainRequest&, py::handle, std::uint64_t& max_vocab)> set;
  std::function<std::string(const toy::TrainRequest&)> default_value;
};

std::string text_arg(py::handle v, const char* name) {
  py::object s = py::reinterpret_borrow<py::object>(v);
  if (!py::isinstance<py::str>(v)) {
    if (!PyObject_HasAttrString(v.ptr(), "__fspath__"))
      throw py::type_error(std::string(name) + " must be a str or a path, not " + type_name(v));
    s = py::module_::import("os").attr("fspath")(v);
    if (!py::isinstance<py::str>(s)) throw py::type_error(std::string(name) + " must be a str path");
  }
  return s.cast<std::string>();
}
std::string choice_arg(py::handle v, const char* name, const std::set<std::string>& allowed) {
  if (!py::isinstance<py::str>(v)) throw py::type_error(std::string(name) + " must be a str, not " + type_name(v));
  const std::string s = v.cast<std::string>();
  if (allowed.count(s) == 0) {
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw py::value_error(std::string(name) + " must be one of " + list + ", not '" + s + "'");
  }
  return s;
}
std::uint64_t count_arg(py::handle v, const char* name, std::uint64_t lo, std::uint64_t hi) {
  if (py::isinstance<py::bool_>(v) || !py::isinstance<py::int_>(v))
    throw py::type_error(std::string(name) + " must be an int, not " + type_name(v));
  const py::int_ i = py::reinterpret_borrow<py::int_>(v);
  if (i < py::int_(lo) || i > py::int_(hi))
    throw py::value_error(std::string(name) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                          py::str(v).cast<std::string>());
  return i.cast<std::uint64_t>();
}
/// A real number in [lo, hi] (`open_low`: above lo).
double real_arg(py::handle v, const char* name, double lo, double hi, bool open_low = false) {
  if (py::isinstance<py::bool_>(v) || !(py::isinstance<py::int_>(v) || py::isinstance<py::float_>(v)))
    throw py::type_error(std::string(name) + " must be a number, not " + type_name(v));
  const double x = v.cast<double>();
  const bool ok = std::isfinite(x) && (open_low ? x > lo : x >= lo) && x <= hi;
  if (!ok) {
    std::ostringstream os;
    os << name << " must be " << (open_low ? "above " : "at least ") << lo;
    if (hi < std::numeric_limits<double>::max()) os << " and at most " << hi;
    os << ", got " << py::str(v).cast<std::string>();
    throw py::value_error(os.str());
  }
  return x;
}
bool flag_arg(py::handle v, const char* name) {
  if (!py::isinstance<py::bool_>(v)) throw py::type_error(std::string(name) + " must be True or False, not " + type_name(v));
  return v.cast<bool>();
}

std::string show(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

/// The keywords: the flags of `toy_translation train`, with the command line's ranges and choices,
/// `train_tsv`/`valid_tsv`/`test_tsv` for --data/--valid/--test and `reverse` for --no-reverse.
const std::vector<Keyword>& keywords() {
  constexpr double kMax = std::numeric_limits<double>::max();
  constexpr std::uint64_t kU64 = std::numeric_limits<std::uint64_t>::max();
  using R = toy::TrainRequest;
  static const std::vector<Keyword> k = {
      {"out", "--out", [](R& r, py::handle v, auto&) { r.out = text_arg(v, "out"); }, [](const R& r) { return "'" + r.out + "'"; }},
      {"preset", "--preset", [](R& r, py::handle v, auto&) { r.settings.preset = choice_arg(v, "preset", {"toy", "paper"}); },
       [](const R& r) { return "'" + r.settings.preset + "'"; }},
      {"train_tsv", "--data", [](R& r, py::handle v, auto&) { r.settings.data.data = text_arg(v, "train_tsv"); },
       [](const R&) { return std::string("None (the built-in corpus)"); }},
      {"valid_tsv", "--valid", [](R& r, py::handle v, auto&) { r.settings.data.valid = text_arg(v, "valid_tsv"); },
       [](const R&) { return std::string("None (held out from the corpus)"); }},
      {"test_tsv", "--test", [](R& r, py::handle v, auto&) { r.settings.data.test = text_arg(v, "test_tsv"); },
       [](const R&) { return std::string("None (held out from the corpus)"); }},
      {"pairs", "--pairs", [](R& r, py::handle v, auto&) { r.settings.data.pairs = count_arg(v, "pairs", 100, 10000000); },
       [](const R& r) { return std::to_string(r.settings.data.pairs); }},
      {"corpus_seed", "--corpus-seed", [](R& r, py::handle v, auto&) { r.settings.data.corpus_seed = count_arg(v, "corpus_seed", 0, kU64); },
       [](const R& r) { return std::to_string(r.settings.data.corpus_seed); }},
      {"valid_fraction", "--valid-fraction", [](R& r, py::handle v, auto&) { r.settings.data.valid_fraction = real_arg(v, "valid_fraction", 0, 0.5); },
       [](const R& r) { return show(r.settings.data.valid_fraction); }},
      {"test_fraction", "--test-fraction", [](R& r, py::handle v, auto&) { r.settings.data.test_fraction = real_arg(v, "test_fraction", 0, 0.5); },
       [](const R& r) { return show(r.settings.data.test_fraction); }},
      {"max_vocab", "--max-vocab", [](R&, py::handle v, std::uint64_t& m) { m = count_arg(v, "max_vocab", 0, kU64); },
       [](const R&) { return std::string("0 (all)"); }},
      {"min_count", "--min-count", [](R& r, py::handle v, auto&) { r.settings.data.min_count = count_arg(v, "min_count", 0, kU64); },
       [](const R& r) { return std::to_string(r.settings.data.min_count); }},
      {"subwords", "--subwords", [](R& r, py::handle v, auto&) { r.settings.data.subwords = count_arg(v, "subwords", 0, 10000000); },
       [](const R& r) { return std::to_string(r.settings.data.subwords); }},
      {"subwords_joint", "--subwords-joint", [](R& r, py::handle v, auto&) { r.settings.data.subwords_joint = flag_arg(v, "subwords_joint"); },
       [](const R&) { return std::string("False"); }},
      {"subword_type", "--subword-type", [](R& r, py::handle v, auto&) { r.settings.data.subword_type = choice_arg(v, "subword_type", {"unigram", "bpe"}); },
       [](const R& r) { return "'" + r.settings.data.subword_type + "'"; }},
      {"max_length", "--max-length", [](R& r, py::handle v, auto&) { r.settings.data.max_length = count_arg(v, "max_length", 1, 100000); },
       [](const R& r) { return std::to_string(r.settings.data.max_length); }},
      {"embed", "--embed", [](R& r, py::handle v, auto&) { r.settings.embed = static_cast<Index>(count_arg(v, "embed", 1, 100000)); },
       [](const R& r) { return std::to_string(r.settings.embed); }},
      {"hidden", "--hidden", [](R& r, py::handle v, auto&) { r.settings.hidden = static_cast<Index>(count_arg(v, "hidden", 1, 100000)); },
       [](const R& r) { return std::to_string(r.settings.hidden); }},
      {"layers", "--layers", [](R& r, py::handle v, auto&) { r.settings.layers = static_cast<Index>(count_arg(v, "layers", 1, 64)); },
       [](const R& r) { return std::to_string(r.settings.layers); }},
      {"reverse", "--no-reverse", [](R& r, py::handle v, auto&) { r.settings.reverse = flag_arg(v, "reverse"); },
       [](const R& r) { return std::string(r.settings.reverse ? "True" : "False"); }},
      {"optimizer", "--optimizer",
       [](R& r, py::handle v, auto&) { r.settings.optimizer = choice_arg(v, "optimizer", {"sgd", "momentum", "adam", "adagrad"}); },
       [](const R& r) { return "'" + r.settings.optimizer + "'"; }},
      {"lr", "--lr", [](R& r, py::handle v, auto&) { r.settings.lr = real_arg(v, "lr", 0, kMax, true); }, [](const R& r) { return show(r.settings.lr); }},
      {"schedule", "--schedule", [](R& r, py::handle v, auto&) { r.settings.schedule = choice_arg(v, "schedule", {"constant", "paper"}); },
       [](const R& r) { return "'" + r.settings.schedule + "'"; }},
      {"batch", "--batch", [](R& r, py::handle v, auto&) { r.settings.batch = count_arg(v, "batch", 1, 100000); },
       [](const R& r) { return std::to_string(r.settings.batch); }},
      {"clip", "--clip", [](R& r, py::handle v, auto&) { r.settings.clip = real_arg(v, "clip", 0, kMax); }, [](const R& r) { return show(r.settings.clip); }},
      {"init", "--init", [](R& r, py::handle v, auto&) { r.settings.init = real_arg(v, "init", 0, kMax, true); }, [](const R& r) { return show(r.settings.init); }},
      {"forget_bias", "--forget-bias", [](R& r, py::handle v, auto&) { r.settings.forget_bias = real_arg(v, "forget_bias", -kMax, kMax); },
       [](const R& r) { return show(r.settings.forget_bias); }},
      {"epochs", "--epochs", [](R& r, py::handle v, auto&) { r.settings.epochs = real_arg(v, "epochs", 0, kMax, true); },
       [](const R& r) { return show(r.settings.epochs); }},
      {"time_budget", "--time-budget", [](R& r, py::handle v, auto&) { r.time_budget = real_arg(v, "time_budget", 0, kMax); },
       [](const R& r) { return show(r.time_budget); }},
      {"seed", "--seed", [](R& r, py::handle v, auto&) { r.settings.seed = count_arg(v, "seed", 0, kU64); },
       [](const R& r) { return std::to_string(r.settings.seed); }},
      {"beam", "--beam", [](R& r, py::handle v, auto&) { r.settings.beam = count_arg(v, "beam", 1, 1000); },
       [](const R& r) { return std::to_string(r.settings.beam); }},
      {"dropout", "--dropout", [](R& r, py::handle v, auto&) { r.settings.dropout = real_arg(v, "dropout", 0, 0.95); },
       [](const R& r) { return show(r.settings.dropout); }},
      {"keep", "--keep", [](R& r, py::handle v, auto&) { r.settings.keep = choice_arg(v, "keep", {"last", "best", "average"}); },
       [](const R& r) { return "'" + r.settings.keep + "'"; }},
      {"average", "--average", [](R& r, py::handle v, auto&) { r.settings.average = count_arg(v, "average", 1, 1000); },
       [](const R& r) { return std::to_string(r.settings.average); }},
      {"valid_metric", "--valid-metric", [](R& r, py::handle v, auto&) { r.settings.valid_metric = choice_arg(v, "valid_metric", {"ppl", "bleu"}); },
       [](const R& r) { return "'" + r.settings.valid_metric + "'"; }},
      {"patience", "--patience", [](R& r, py::handle v, auto&) { r.settings.patience = count_arg(v, "patience", 0, kU64); },
       [](const R& r) { return std::to_string(r.settings.patience); }},
      {"bucket_batches", "--bucket-batches", [](R& r, py::handle v, auto&) { r.settings.bucket_batches = count_arg(v, "bucket_batches", 0, kU64); },
       [](const R& r) { return std::to_string(r.settings.bucket_batches); }},
      {"sort_key", "--sort-key", [](R& r, py::handle v, auto&) { r.settings.sort_key = choice_arg(v, "sort_key", {"source", "pair"}); },
       [](const R& r) { return "'" + r.settings.sort_key + "'"; }},
      {"threads", "--threads", [](R& r, py::handle v, auto&) { r.threads = count_arg(v, "threads", 0, 4096); },
       [](const R& r) { return std::to_string(r.threads); }},
      {"log_every", "--log-every", [](R& r, py::handle v, auto&) { r.log_every = static_cast<std::int64_t>(count_arg(v, "log_every", 1, 1000000000)); },
       [](const R& r) { return std::to_string(r.log_every); }},
      {"show", "--show", [](R& r, py::handle v, auto&) { r.show = count_arg(v, "show", 0, kU64); }, [](const R& r) { return std::to_string(r.show); }},
      {"resume", "--resume", [](R& r, py::handle v, auto&) { r.resume = flag_arg(v, "resume"); }, [](const R&) { return std::string("False"); }},
      {"overwrite", "--overwrite", [](R& r, py::handle v, auto&) { r.overwrite = flag_arg(v, "overwrite"); }, [](const R&) { return std::string("False"); }},
      {"quiet", "--quiet", [](R& r, py::handle v, auto&) { r.quiet = flag_arg(v, "quiet"); }, [](const R&) { return std::string("False"); }},
  };
  return k;
}

std::string train_doc() {
  std::string doc =
      "train(*, out='toy_run', train_tsv=None, ..., progress=None) -> str\n\n"
      "Trains a model as `toy_translation train` does, with the same settings, files and code\n"
      "(the example's run_train): checkpoints, train_log.csv and learning_curve.svg in `out`, the kept\n"
      "model in out/model.safetensors (returned). Keywords are the command line's flags with '_' for\n"
      "'-' (train_tsv, valid_tsv, test_tsv for --data, --valid, --test; reverse=False for\n"
      "--no-reverse) and the same ranges; preset='paper' first sets the paper's values, and the other\n"
      "keywords given override them. A resumed run (resume=True) refuses changed settings.\n\n"
      "progress(row) is called with every row train_log.csv gets, a dict with step, epoch, elapsed,\n"
      "kind ('train' or 'valid'), loss, perplexity, tokens_per_s, lr and, for 'valid' rows, bleu and\n"
      "exact; returning False stops the run as Ctrl-C does (checkpoint saved; continue with\n"
      "resume=True). An exception in progress stops the run the same way and is raised after it.\n"
      "Ctrl-C saves a checkpoint and raises KeyboardInterrupt.\n\nKeywords and defaults:\n";
  const toy::TrainRequest defaults;
  for (const Keyword& k : keywords()) doc += "  " + std::string(k.name) + " = " + k.default_value(defaults) + "   (" + k.flag + ")\n";
  return doc;
}

py::dict row_dict(const toy::LogRow& r) {
  py::dict d;
  d["step"] = r.step;
  d["epoch"] = r.epoch;
  d["elapsed"] = r.elapsed;
  d["kind"] = r.kind;
  d["loss"] = r.loss;
  d["perplexity"] = r.perplexity;
  d["tokens_per_s"] = r.tokens_per_s;
  d["lr"] = r.lr;
  if (r.kind == "valid") {
    d["bleu"] = r.bleu;
    d["exact"] = r.exact;
  }
  return d;
}

py::object train(const py::args& args, const py::kwargs& kwargs) {
  if (!args.empty()) throw py::type_error("train() takes keyword arguments only (train(out=..., train_tsv=..., ...))");
  toy::TrainRequest req;
  std::map<std::string, bool> given;
  std::uint64_t max_vocab = 0;
  py::object progress = py::none();
  std::map<std::string, const Keyword*> by_name;
  for (const Keyword& k : keywords()) by_name[k.name] = &k;
  for (const auto& [key, value] : kwargs) {
    const std::string name = key.cast<std::string>();
    if (name == "progress") {
      if (!value.is_none() && !PyCallable_Check(value.ptr()))
        throw py::type_error("progress must be callable (progress(row) with a dict per log row), not " + type_name(value));
      progress = py::reinterpret_borrow<py::object>(value);
    } else if (!by_name.count(name)) {
      throw py::type_error("train() got an unexpected keyword argument '" + name + "'");
    }
  }
  // The preset first, then every keyword given on top of it (as the command line does).
  if (kwargs.contains("preset") && choice_arg(kwargs["preset"], "preset", {"toy", "paper"}) == "paper")
    toy::apply_paper_preset(req.settings);
  for (const Keyword& k : keywords()) {
    given[k.flag] = kwargs.contains(k.name);
    if (given[k.flag] && std::string(k.name) != "preset") k.set(req, kwargs[k.name], max_vocab);
  }
  toy::TrainSettings& ts = req.settings;
  if (given["--max-vocab"]) ts.data.max_source_vocab = ts.data.max_target_vocab = max_vocab;
  if (!req.resume && !ts.validates() && (ts.keep == "best" || ts.patience > 0))
    throw py::value_error(std::string(ts.keep == "best" ? "keep='best'" : "patience") +
                          " needs a validation set (valid_tsv or valid_fraction above 0)");
  if (ts.data.subwords_joint && ts.data.subwords == 0) throw py::value_error("subwords_joint needs subwords=N");
  if (ts.data.subwords != 0 && ts.data.subwords < 8) throw py::value_error("subwords must be 0 (words) or at least 8 pieces");
  if (ts.data.subwords != 0 && given["--max-vocab"])
    throw py::value_error("max_vocab is for word vocabularies; with subwords the vocabulary is the N pieces");
  if (max_vocab != 0 && max_vocab < 5) throw py::value_error("max_vocab must be 0 (no limit) or more than the 4 special tokens");
  if (req.resume && req.overwrite) throw py::value_error("resume and overwrite exclude each other");
  for (const std::string* file : {&ts.data.data, &ts.data.valid, &ts.data.test}) {
    std::error_code ec;
    if (!file->empty() && !fs::exists(*file, ec)) {
      PyErr_SetObject(PyExc_FileNotFoundError,
                      py::make_tuple(ENOENT, "no such corpus file", *file).ptr());
      throw py::error_already_set();
    }
  }

  // The progress callback runs on this thread with the GIL taken back; its exception, or a False,
  // stops the run like Ctrl-C (checkpoint saved), and the exception is raised afterwards.
  std::optional<py::error_already_set> failure;
  bool stopped = false;
  if (!progress.is_none()) {
    req.on_log = [&](const toy::LogRow& row) {
      py::gil_scoped_acquire gil;
      try {
        const py::object r = progress(row_dict(row));
        if (!r.is_none() && !r.cast<bool>()) stopped = true;
      } catch (py::error_already_set& e) {
        failure.emplace(std::move(e));
        stopped = true;
      } catch (const std::exception&) {  // a result that is not a truth value
        stopped = true;
      }
      return !stopped;
    };
  }
  int status = 0;
  {
    py::gil_scoped_release nogil;
    const EigenThreads threads(static_cast<int>(req.threads));  // 0: OpenMP's default, as on the command line
    try {
      status = toy::run_train(req, given);
    } catch (const toy::UsageError& e) {
      throw InputError(e.what());
    } catch (const fs::filesystem_error& e) {
      throw FileError(e.what(), false);
    }
    std::cout.flush();
    std::cerr.flush();
  }
  if (failure) throw *failure;
  if (status == 130 && !stopped) {
    if (toy::g_stop_signal == SIGTERM) std::raise(SIGTERM);  // after the checkpoint, the signal's own effect
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
  }
  if (status != 0 && status != 130) throw std::runtime_error("training failed (status " + std::to_string(status) + ")");
  return py::str((fs::path(req.out) / toy::kBestFile).string());
}

}  // namespace
}  // namespace seq2seq_python

PYBIND11_MODULE(seq2seq, m) {
  using namespace seq2seq_python;
  m.doc() =
      "seq2seq: the C++ LSTM encoder-decoder (Sutskever, Vinyals & Le 2014) from Python: translate, score\n"
      "and train with the engine and the files of examples/toy_translation (float model, sizes chosen at\n"
      "run time). See Translator and train.";
  m.attr("__version__") = SEQ2SEQ_VERSION_STRING;
  Eigen::setNbThreads(1);  // inference: one product thread per Python thread, as the command line runs

  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FileError& e) {
      PyErr_SetString(e.missing ? PyExc_FileNotFoundError : PyExc_OSError, e.what());
    } catch (const std::out_of_range& e) {  // the library's token-id checks: bad input, not an index
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  py::class_<Translator>(m, "Translator",
                         "A trained model with its vocabularies, loaded from a model file (io::save_model's, or a\n"
                         "toy_translation run directory / checkpoint). A Translator is safe to use from several\n"
                         "Python threads at once: translate and score release the GIL and use their own\n"
                         "workspaces. Translator(path, threads=1): `threads` C++ threads per call.")
      .def(py::init([](py::handle path, std::size_t threads) { return std::make_unique<Translator>(text_arg(path, "path"), threads); }),
           py::arg("path"), py::arg("threads") = 1)
      .def("translate", &translate_text, py::arg("sources"), py::arg("beam") = 5, py::arg("nbest") = 1,
           py::arg("max_length") = py::none(), py::arg("length_alpha") = 0.0, py::arg("with_scores") = false,
           "translate(sources, beam=5, nbest=1, max_length=None, length_alpha=0.0, with_scores=False)\n\n"
           "Beam search of every source text (beam 1: greedy), as `toy_translation translate` does. Returns\n"
           "one str per source; with nbest > 1 or with_scores, one list of (translation, log p) per source,\n"
           "best first. max_length: most words of a translation (None: 2 * source words + 10, capped by the\n"
           "model's limit); length_alpha > 0 ranks by log p / (words + 1)^alpha. Raises ValueError for an\n"
           "empty sentence, a sentence over the model's length limit or bad options.")
      .def("translate_ids", &translate_ids, py::arg("sources"), py::arg("beam") = 5, py::arg("nbest") = 1,
           py::arg("max_length") = py::none(), py::arg("length_alpha") = 0.0, py::arg("with_scores") = false,
           "translate on token ids: lists of source ids in, lists of target ids out (ValueError for ids\n"
           "outside the source vocabulary).")
      .def("score", &score_text, py::arg("sources"), py::arg("targets"), py::arg("batch_size") = 64,
           "score(sources, targets, batch_size=64) -> list of float: log p(target | source) of every pair\n"
           "(the paper's rescoring score), in batches of batch_size sources of similar length, as\n"
           "`toy_translation score` computes it.")
      .def("score_ids", &score_ids, py::arg("sources"), py::arg("targets"), py::arg("batch_size") = 64,
           "score on token ids (an empty target is the empty translation: log p(<EOS> | source)).")
      .def(
          "encode",
          [](const Translator& t, const std::string& text, const std::string& side) {
            if (side != "source" && side != "target") throw py::value_error("side must be 'source' or 'target'");
            py::gil_scoped_release nogil;
            return side == "source" ? t.encode_sources({text}, "text").front() : t.encode_targets({text}).front();
          },
          py::arg("text"), py::arg("side") = "source", "The token ids of `text` in the source (or target) vocabulary.")
      .def(
          "decode",
          [](const Translator& t, py::handle ids, const std::string& side) {
            if (side != "source" && side != "target") throw py::value_error("side must be 'source' or 'target'");
            const Sentence s = ids_of(ids, "ids");
            const toy::Bundle& b = t.bundle();
            try {
              // The target side as translate writes it (the model's detokenizer); the source side
              // through the source tokenizer's own decode.
              return side == "target" ? toy::decode_text(b, s) : b.source_tokenizer->decode(b.source.decode(s));
            } catch (const std::invalid_argument& e) {
              throw py::value_error(e.what());
            }
          },
          py::arg("ids"), py::arg("side") = "target", "The text of target (or source) token ids.")
      .def("parameters", &parameters,
           "parameters() -> dict name -> numpy.ndarray (float32, shape [rows, cols] as in the model file,\n"
           "e.g. 'encoder.layer0.W' of [4H, E], gates i, f, g, o). The arrays are views of the model's own\n"
           "memory, readable and writable: a write changes the model at once, for every later translate,\n"
           "score and save. Do not write while another thread translates with this Translator (a data\n"
           "race: that call may see half-written weights). Each array keeps the Translator alive.")
      .def(
          "save",
          [](const Translator& t, py::handle path) {
            const std::string where = text_arg(path, "path");
            py::gil_scoped_release nogil;
            t.save(where);
          },
          py::arg("path"), "Writes the model (current weights, vocabularies, the file's metadata) as a model file.")
      .def_property("threads", &Translator::threads, &Translator::set_threads, "C++ threads per translate/score call.")
      .def_property_readonly("path", &Translator::path, "The model file.")
      .def_property_readonly("config", &Translator::config, "The model's configuration (ModelConfig) as a dict.")
      .def_property_readonly("source_vocab", [](const Translator& t) { return t.bundle().source.tokens(); },
                             "The source tokens by id (0-3: <pad> <unk> <s> <EOS>).")
      .def_property_readonly("target_vocab", [](const Translator& t) { return t.bundle().target.tokens(); },
                             "The target tokens by id.")
      .def_property_readonly("metadata", &Translator::metadata, "The model file's metadata (its caller keys).")
      .def("__repr__", [](const Translator& t) {
        const seq2seq::ModelConfig& c = t.bundle().config;
        return "<seq2seq.Translator '" + t.path() + "': " + std::to_string(c.layers) + " layers x " + std::to_string(c.hidden) +
               " cells, vocabularies " + std::to_string(c.source_vocab) + " / " + std::to_string(c.target_vocab) + ">";
      });

  m.def("train", &train, train_doc().c_str());
}

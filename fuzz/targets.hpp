// seq2seq fuzz targets: the entry functions shared by the libFuzzer programs (fuzz_checkpoint.cpp,
// fuzz_tsv.cpp) and the corpus replay test (tests/test_fuzz_replay.cpp), and the generator of the
// seed corpus (fuzz/corpus/<target>/).
//
// Contract of an entry function: any input either passes (Outcome::accepted) or is refused with
// one of the documented exception types, std::invalid_argument or std::runtime_error
// (Outcome::rejected). Anything else escapes: another exception type, or InvariantViolation when
// the library contradicts itself (the file loader and the in-memory parser disagree, a refused load
// changed the model, tokenize throws on text read_tsv accepted, ...). libFuzzer reports an escaped
// exception as a crash; the replay test fails on it.
#ifndef SEQ2SEQ_FUZZ_TARGETS_HPP
#define SEQ2SEQ_FUZZ_TARGETS_HPP

#include <seq2seq/data/data.hpp>
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/io/model_file.hpp>
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/seq2seq.hpp>
#if defined(SEQ2SEQ_WITH_SENTENCEPIECE) && SEQ2SEQ_WITH_SENTENCEPIECE
#include <seq2seq/data/sentencepiece.hpp>
#endif

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seq2seq::fuzz {

enum class Outcome { rejected, accepted };

/// The library broke one of its own promises on this input.
class InvariantViolation : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

inline void invariant(bool ok, const std::string& what) {
  if (!ok) throw InvariantViolation("seq2seq fuzz: invariant violated: " + what);
}

/// The model every checkpoint seed belongs to: small, so the seeds are small (about 2 KB).
using FuzzModel = Seq2Seq<Encoder<StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic>>,
                          Decoder<StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic>>>;

inline ModelConfig fuzz_model_config() {
  ModelConfig c;
  c.source_vocab = 6;
  c.target_vocab = 7;
  c.embed = 2;
  c.hidden = 3;
  c.layers = 1;
  return c;
}

namespace detail {

/// Every parameter value as bytes (to compare models bit for bit).
template <typename Model>
std::string parameter_bytes(const Model& m) {
  std::string out;
  m.visit_parameters([&](const ParamName&, const auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    out.append(reinterpret_cast<const char*>(p.value.data()), sizeof(S) * static_cast<std::size_t>(p.value.size()));
  });
  return out;
}

/// A model filled with a recognisable pattern (so a partial load would show).
inline void fill_pattern(FuzzModel& m) {
  float x = 0.5f;
  m.visit_parameters([&](const ParamName&, Param<float>& p) {
    for (Index k = 0; k < p.value.size(); ++k) p.value(k) = (x += 0.25f);
  });
}

/// A path that reads back the bytes last given to set(): a memfd (no disk I/O) opened through
/// /proc/self/fd, or an unlinked temporary file where memfd_create is missing. One per process.
class ScratchFile {
 public:
  static ScratchFile& instance() {
    static ScratchFile f;
    return f;
  }
  const std::string& set(const std::string& bytes) {
    if (::ftruncate(fd_, 0) != 0) throw std::runtime_error("fuzz: ftruncate failed");
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t w = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (w <= 0) throw std::runtime_error("fuzz: pwrite failed");
      done += static_cast<std::size_t>(w);
    }
    return path_;
  }

 private:
  ScratchFile() {
#if defined(__linux__) && defined(MFD_CLOEXEC)
    fd_ = ::memfd_create("seq2seq_fuzz", MFD_CLOEXEC);
#endif
    if (fd_ < 0) {
      std::string templ = (std::filesystem::temp_directory_path() / "seq2seq_fuzz_XXXXXX").string();
      fd_ = ::mkstemp(templ.data());
      if (fd_ < 0) throw std::runtime_error("fuzz: cannot create a scratch file");
      ::unlink(templ.c_str());
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  int fd_ = -1;
  std::string path_;
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Checkpoints

/// `bytes` with both seq2seq checksums recomputed where the header has their fields as the writer
/// puts them (otherwise unchanged). Random mutations almost never keep a checksum right, so without
/// this the checks that come after the checksums (tensor table, model match, training-state keys)
/// would only ever see the seeds.
inline std::string with_fixed_checksums(std::string bytes) {
  if (bytes.size() < 8) return bytes;
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  if (n > bytes.size() - 8) return bytes;
  const std::size_t header_end = 8 + static_cast<std::size_t>(n);
  const auto digits_of = [&](const char* key) {  // offset of the key's 16 digits, or npos
    const std::string pattern = std::string("\"") + key + "\":\"";
    const std::size_t at = bytes.find(pattern, 8);
    return at == std::string::npos || at + pattern.size() + 16 > header_end ? std::string::npos : at + pattern.size();
  };
  const std::size_t data_digits = digits_of(io::key_checksum);
  if (data_digits != std::string::npos)
    bytes.replace(data_digits, 16, io::hex64(io::fnv1a64(bytes.data() + header_end, bytes.size() - header_end)));
  const std::size_t header_digits = digits_of(io::key_header_checksum);
  if (header_digits != std::string::npos) {
    bytes.replace(header_digits, 16, std::string(16, '0'));
    bytes.replace(header_digits, 16, io::hex64(io::fnv1a64(bytes.data() + 8, static_cast<std::size_t>(n))));
  }
  return bytes;
}

namespace detail {

/// One pass of check_checkpoint over `bytes`; true when a loader accepted them.
inline bool checkpoint_pass(const std::string& bytes);

}  // namespace detail

/// Feeds `data` to every checkpoint reader: the in-memory parser (SafetensorsFile::from_bytes, with
/// and without require_seq2seq, every tensor read generically), the steps of load_parameters into a
/// FuzzModel on the parsed file, and the file-based readers on the same bytes at a path
/// (load_parameters, load_training_state with Adam, read_model_info and load_model). Checks that the
/// file-based and in-memory loads agree, load the same values, and that refused loads leave the
/// model and the optimizer untouched. Then the same again with the checksums fixed (with_fixed_checksums). The
/// outcome is the first pass's: accepted when a loader took the bytes as they are, a parameter or
/// training-state file of FuzzModel.
inline Outcome check_checkpoint(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const bool accepted = detail::checkpoint_pass(bytes);
  const std::string fixed = with_fixed_checksums(bytes);
  if (fixed != bytes) (void)detail::checkpoint_pass(fixed);
  return accepted ? Outcome::accepted : Outcome::rejected;
}

inline bool detail::checkpoint_pass(const std::string& bytes) {
  const ModelConfig config = fuzz_model_config();

  // 1. In memory: header, tensor table and checksums; then what load_parameters does after opening.
  bool memory_parsed = false, memory_params = false, memory_state = false;
  FuzzModel from_memory(config);
  detail::fill_pattern(from_memory);
  try {
    const io::SafetensorsFile f = io::SafetensorsFile::from_bytes(bytes);
    memory_parsed = true;
    invariant(f.data_loaded(), "from_bytes returned a file without data");
    for (const io::TensorInfo& t : f.tensors()) {
      invariant(t.end >= t.begin && t.end <= f.data_size(), "tensor '" + t.name + "' outside the data section");
      if (t.shape.size() > 2) continue;
      if (t.dtype == io::DType::F32) {
        Matrix<float> m;
        f.read(t, m);
        invariant(static_cast<std::uint64_t>(m.size()) == t.num_elements(), "read() size");
      } else if (t.dtype == io::DType::F64) {
        Matrix<double> m;
        f.read(t, m);
        invariant(static_cast<std::uint64_t>(m.size()) == t.num_elements(), "read() size");
      }
    }
    for (const auto& kv : f.metadata()) {
      // Vocabularies travel as JSON strings in the metadata: their parser sees untrusted text too.
      try {
        (void)Vocab::from_json(kv.second);
      } catch (const std::invalid_argument&) {
      }
    }
    const auto content = f.metadata().find("seq2seq.content");
    if (content != f.metadata().end() && content->second == "parameters") {
      seq2seq::detail::read_parameters(f, from_memory);
      memory_params = true;
    } else if (content != f.metadata().end() && content->second == "training_state") {
      memory_state = true;  // fully checked by the file-based load below
    }
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }
  // Other tools' files (no seq2seq keys): the structure checks without the checksums in front.
  // Whatever the strict reader accepts, this one accepts too.
  bool foreign_ok = false;
  try {
    io::ReadOptions foreign;
    foreign.require_seq2seq = false;
    (void)io::SafetensorsFile::from_bytes(bytes, foreign);
    foreign_ok = true;
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }
  invariant(foreign_ok || !memory_parsed, "require_seq2seq = false refused a file the strict reader accepted");

  // 2. The same bytes as a file, through the public loaders (read_metadata is SafetensorsFile::open,
  // which both of these begin with).
  const std::string& path = detail::ScratchFile::instance().set(bytes);
  bool file_params = false, file_state = false;
  FuzzModel from_file(config);
  detail::fill_pattern(from_file);
  const std::string pattern = detail::parameter_bytes(from_file);
  try {
    (void)io::load_parameters(path, from_file);
    file_params = true;
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }
  Optimizer<Adam, float> optimizer;
  try {
    (void)io::load_training_state(path, optimizer, std::as_const(from_file));
    file_state = true;
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }

  invariant(file_params == memory_params, std::string("load_parameters ") + (file_params ? "accepted" : "refused") +
                                              " what the in-memory parser " + (memory_params ? "accepted" : "refused"));
  if (file_params) {
    invariant(detail::parameter_bytes(from_file) == detail::parameter_bytes(from_memory),
              "the file and in-memory loads read different values");
  } else {
    invariant(detail::parameter_bytes(from_file) == pattern, "a refused load_parameters changed the model");
  }
  // 3. As a model file (save_model's layout): configuration and vocabularies from the metadata,
  // checked before anything is allocated. When they describe FuzzModel's structure, load_model
  // must agree with load_parameters.
  try {
    const io::ModelInfo info = io::read_model_info(path);
    // The tokenizers the metadata carries (a SentencePiece model: base64, then SentencePiece's
    // own parser, when the target is built with seq2seq::sentencepiece); refusals are documented.
    try {
      const io::Tokenizers tokenizers = io::load_tokenizers(info.metadata);
      invariant(tokenizers.source != nullptr && tokenizers.target != nullptr, "load_tokenizers returned no tokenizer");
      for (const Tokenizer* t : {tokenizers.source.get(), tokenizers.target.get()}) {
        const std::vector<std::string> tokens = t->encode("Vous ai-je bless\xC3\xA9 ? J\xE2\x80\x99" "ai faim.");
        for (const std::string& token : tokens) invariant(utf8::is_valid(token), "a tokenizer made an invalid token");
        (void)t->decode(tokens);
      }
    } catch (const std::invalid_argument&) {
    } catch (const std::logic_error&) {  // a word tokenizer asking for NFC in a program without ICU
    }
    const ModelConfig& c = info.config;
    invariant(static_cast<Index>(info.source_vocab.size()) == c.source_vocab &&
                  static_cast<Index>(info.target_vocab.size()) == c.target_vocab,
              "read_model_info accepted vocabularies of other sizes than the configuration's");
    invariant(io::expected_parameter_count(c) <= static_cast<double>(bytes.size()),
              "read_model_info accepted a configuration larger than the file");
    if (c.source_vocab == config.source_vocab && c.target_vocab == config.target_vocab && c.embed == config.embed &&
        c.hidden == config.hidden && c.layers == config.layers && c.peephole == config.peephole) {
      bool model_ok = false;
      try {
        const io::LoadedModel<FuzzModel> loaded = io::load_model<FuzzModel>(path);
        invariant(detail::parameter_bytes(loaded.model) == detail::parameter_bytes(from_file),
                  "load_model and load_parameters read different values");
        model_ok = true;
      } catch (const std::invalid_argument&) {
      } catch (const std::runtime_error&) {
      }
      invariant(model_ok == file_params, std::string("load_model ") + (model_ok ? "accepted" : "refused") +
                                             " a file load_parameters " + (file_params ? "accepted" : "refused"));
    }
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }

  invariant(!file_state || memory_state, "load_training_state accepted a file the in-memory parser refused");
  if (!file_state) invariant(!optimizer.initialized() && optimizer.step_count() == 0, "a refused load_training_state changed the optimizer");
  return file_params || file_state;
}

// ---------------------------------------------------------------------------------------------
// TSV corpora and the tokenizer

inline const Detokenizer& english_rules() {
  static const Detokenizer d = Detokenizer::english();
  return d;
}
inline const Detokenizer& french_rules() {
  static const Detokenizer d = Detokenizer::french();
  return d;
}

/// Feeds `data` to read_tsv (as a stream) and, when it is accepted, every pair through the
/// normaliser (apostrophes, NFC where the program has ICU), the tokenizer, the detokenizers, a Vocab built from the tokens (encode, decode, JSON round trip), the splitter, the
/// reference grouping and the batcher, checking their promises on the way.
inline Outcome check_tsv(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::vector<Pair> pairs;
  try {
    pairs = read_tsv(in, "fuzz.tsv");
  } catch (const std::invalid_argument&) {
    return Outcome::rejected;
  } catch (const std::runtime_error&) {
    return Outcome::rejected;
  }
  invariant(!pairs.empty(), "read_tsv returned no pairs without an error");

  std::vector<std::vector<std::string>> src_tokens, tgt_tokens;
  for (const Pair& p : pairs) {
    for (const std::string* field : {&p.source, &p.target}) {
      invariant(utf8::is_valid(*field), "read_tsv accepted invalid UTF-8");
      invariant(field->find('\n') == std::string::npos && field->find('\t') == std::string::npos,
                "a field holds a tab or a line feed");
      // Normalisation keeps UTF-8 valid and is idempotent; NFC too where the program has it.
      try {
        const std::string normal = normalize(*field);
        invariant(utf8::is_valid(normal) && normalize(normal) == normal, "normalize is not idempotent");
        if (has_nfc()) {
          const std::string nfc = to_nfc(*field);
          invariant(utf8::is_valid(nfc) && to_nfc(nfc) == nfc, "to_nfc is not idempotent");
        }
      } catch (const std::invalid_argument& e) {
        invariant(false, std::string("normalize refused a field read_tsv accepted: ") + e.what());
      }
      std::vector<std::string> tokens;
      try {
        tokens = tokenize(*field);
        (void)tokenize(*field, TokenizeOptions{false, false});
        (void)lower_case(*field);
      } catch (const std::invalid_argument& e) {
        invariant(false, std::string("tokenize refused a field read_tsv accepted: ") + e.what());
      }
      invariant(!tokens.empty(), "a non-blank field has no tokens");
      for (const std::string& t : tokens) invariant(!t.empty() && utf8::is_valid(t), "an empty or invalid token");
      // Tokens are separated again by single spaces; tokenizing that text gives the same tokens.
      invariant(tokenize(detokenize(tokens)) == tokens, "tokenize(detokenize(tokens)) != tokens for '" + *field + "'");
      // Readable output re-tokenizes to the same tokens under either language's rules.
      for (const Detokenizer* d : {&english_rules(), &french_rules()})
        invariant(tokenize(d->detokenize(tokens)) == tokens, "tokenize(Detokenizer(tokens)) != tokens for '" + *field + "'");
      (field == &p.source ? src_tokens : tgt_tokens).push_back(std::move(tokens));
    }
  }

  {
    std::vector<std::string> targets;
    for (const Pair& p : pairs) targets.push_back(p.target);
    const Detokenizer learned = Detokenizer::learn(targets, Detokenizer::french());
    invariant(Detokenizer::from_json(learned.to_json()) == learned, "Detokenizer JSON round trip");
    for (const auto& tokens : tgt_tokens)
      invariant(tokenize(learned.detokenize(tokens)) == tokens, "a learned Detokenizer glued tokens together");
  }
  const Vocab source = Vocab::build(src_tokens), target = Vocab::build(tgt_tokens, 16, 1);
  invariant(Vocab::from_json(source.to_json()) == source, "Vocab JSON round trip");
  std::vector<Sentence> src_ids, tgt_ids;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    std::size_t unknown = 0;
    src_ids.push_back(source.encode(src_tokens[i], unknown));
    invariant(unknown == 0, "a word of the vocabulary's own corpus is unknown");
    invariant(source.decode(src_ids.back()) == src_tokens[i], "decode(encode(tokens)) != tokens");
    tgt_ids.push_back(target.encode(tgt_tokens[i]));  // capped at 16 words: <unk>s expected
    for (TokenId id : tgt_ids.back()) invariant(id >= Special::unk && id < static_cast<TokenId>(target.size()), "id range");
  }

  (void)group_references(pairs);
  try {
    const CorpusSplit parts = split(pairs, 0.2, 0.2, 7);
    invariant(parts.train.size() + parts.valid.size() + parts.test.size() == pairs.size(), "split lost pairs");
  } catch (const std::invalid_argument&) {  // too few distinct sources to split: documented
  }
  Rng rng(3);
  const auto plan = plan_batches(src_ids, tgt_ids, 4, rng);
  std::vector<int> used(pairs.size(), 0);
  for (const auto& batch : plan)
    for (std::size_t i : batch) ++used[i];
  for (int u : used) invariant(u == 1, "plan_batches: an example is not used exactly once");
  return Outcome::accepted;
}

// ---------------------------------------------------------------------------------------------
// Seed corpus

/// The seed files of both targets, by target ("checkpoint", "tsv") and file name. Names starting
/// with "valid_" must be accepted, "invalid_" rejected (the replay test checks this).
inline std::map<std::string, std::map<std::string, std::string>> seed_corpus() {
  std::map<std::string, std::map<std::string, std::string>> out;
  auto& ck = out["checkpoint"];
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("seq2seq_fuzz_seeds_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto save = [&](const std::string& name, auto&& write) {
    const std::string path = (dir / name).string();
    write(path);
    std::ifstream f(path, std::ios::binary);
    ck[name] = std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  };
  FuzzModel model(fuzz_model_config());
  Rng rng(1);
  init_uniform(model, rng);
  const Vocab src = Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", "hello", "world"});
  const Vocab tgt = Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", "bonjour", "le", "monde"});
  save("valid_parameters.safetensors", [&](const std::string& p) {
    io::save_parameters(p, model,
                        {{"config", "{\"embed\":2,\"hidden\":3,\"layers\":1}"},
                         {"source_vocab", src.to_json()},
                         {"target_vocab", tgt.to_json()}});
  });
  save("valid_model.safetensors", [&](const std::string& p) {
    const Vocab src6 = Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", "hello", "world"});
    const Vocab tgt7 = Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", "bonjour", "le", "monde"});
    io::save_model(p, model, src6, tgt7, {{"producer", "seed"}});
  });
  save("valid_parameters_no_metadata.safetensors", [&](const std::string& p) { io::save_parameters(p, model); });
  // Model files with their tokenizers: words (French spacing), and a small SentencePiece model
  // (with its pieces, base64) when this build has SentencePiece; then one whose model is damaged.
  save("valid_model_word_tokenizers.safetensors", [&](const std::string& p) {
    const WordTokenizer source(NormalizeOptions{false, true}, TokenizeOptions{}, Detokenizer::english());
    const WordTokenizer target(NormalizeOptions{false, true}, TokenizeOptions{}, Detokenizer::french());
    io::save_model(p, model, src, tgt, io::tokenizer_metadata(source, target));
  });
#if defined(SEQ2SEQ_WITH_SENTENCEPIECE) && SEQ2SEQ_WITH_SENTENCEPIECE
  {
    SentencePieceOptions o;
    o.vocab_size = 30;
    o.normalization = "identity";  // no NFKC table: a seed of a few kilobytes
    std::vector<std::string> text;
    for (const char* s : {"hello world", "bonjour le monde", "le monde est grand", "hello again world", "world peace",
                          "la paix du monde", "bonjour encore", "grand bonjour", "hello hello", "le grand monde"})
      text.emplace_back(s);
    const SentencePieceTokenizer sp = SentencePieceTokenizer::train(text, o);
    save("valid_model_sentencepiece.safetensors",
         [&](const std::string& p) { io::save_model(p, model, src, tgt, io::tokenizer_metadata(sp, sp)); });
    nlohmann::json damaged = sp.to_json();
    const std::string bytes = sp.serialized();
    damaged["model"] = ::seq2seq::detail::base64_encode(bytes.substr(0, bytes.size() / 3));
    // Its parameters load (so "valid_"); its target tokenizer is refused by load_tokenizers.
    save("valid_model_damaged_sentencepiece.safetensors", [&](const std::string& p) {
      io::save_model(p, model, src, tgt, {{io::kSourceTokenizerKey, sp.to_json().dump()}, {io::kTargetTokenizerKey, damaged.dump()}});
    });
  }
#endif
  Optimizer<Adam, float> opt;
  save("valid_state_fresh.safetensors", [&](const std::string& p) { io::save_training_state(p, opt, model, {}); });
  opt.initialize(model);
  opt.visit_state([&](std::size_t, std::string_view, Matrix<float>& m) { m.setConstant(0.125f); });
  opt.set_step_count(3);
  io::TrainingState st;
  st.step = 3;
  st.epoch = 0.75;
  st.data_position = 2;
  st.rng_state = io::rng_state(rng);
  st.extra["note"] = "seed";
  save("valid_state_adam.safetensors", [&](const std::string& p) { io::save_training_state(p, opt, model, st); });
  // Valid files of other shapes: the parser accepts them, the loaders refuse them.
  ModelConfig other = fuzz_model_config();
  other.hidden = 4;
  FuzzModel bigger(other);
  save("invalid_other_shape.safetensors", [&](const std::string& p) { io::save_parameters(p, bigger); });
  // A whole, checksummed file with a NaN weight and one with an Inf: the loaders refuse both (the
  // first libFuzzer run after that check was added found the in-memory path still accepting them).
  {
    FuzzModel poisoned(fuzz_model_config());
    init_uniform(poisoned, rng);
    int which = 0;
    poisoned.visit_parameters([&](const ParamName&, Param<float>& p) {
      if (which++ == 1) p.value(0, 0) = std::numeric_limits<float>::quiet_NaN();
    });
    save("invalid_nan_weight.safetensors", [&](const std::string& p) { io::save_parameters(p, poisoned); });
    which = 0;
    poisoned.visit_parameters([&](const ParamName&, Param<float>& p) {
      if (which == 1) p.value(0, 0) = 0.0f;
      if (which++ == 2) p.value(p.value.size() - 1) = -std::numeric_limits<float>::infinity();
    });
    save("invalid_inf_weight.safetensors", [&](const std::string& p) { io::save_parameters(p, poisoned); });
  }
  // SafetensorsWriter always adds seq2seq's keys; "seq2seq.content" is what save_parameters adds.
  save("invalid_no_content.safetensors", [&](const std::string& p) {
    io::SafetensorsWriter w;
    Matrix<double> m = Matrix<double>::Constant(2, 3, 1.5);
    w.add("weight", m);
    io::write_file_atomic(p, w.to_bytes());
  });
  std::filesystem::remove_all(dir);
  // Another tool's file (no seq2seq keys at all): two F32 values 1.0 and 2.0.
  const std::string foreign_header = "{\"weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  std::string foreign(8, '\0');
  foreign[0] = static_cast<char>(foreign_header.size());
  foreign += foreign_header;
  foreign += std::string("\x00\x00\x80\x3F\x00\x00\x00\x40", 8);
  ck["invalid_foreign.safetensors"] = foreign;
  // Damaged copies of a valid file.
  const std::string good = ck["valid_parameters_no_metadata.safetensors"];
  ck["invalid_truncated.safetensors"] = good.substr(0, good.size() / 2);
  std::string flipped = good;
  flipped[flipped.size() - 3] = static_cast<char>(flipped[flipped.size() - 3] ^ 0x10);
  ck["invalid_bit_flip.safetensors"] = flipped;
  std::string huge = good;
  huge.replace(0, 8, std::string("\x00\x00\x00\x00\x00\x00\x00\x40", 8));
  ck["invalid_huge_header_length.safetensors"] = huge;

  auto& tsv = out["tsv"];
  tsv["valid_simple.tsv"] = "Go.\tVa !\nHi.\tSalut !\nRun!\tCours !\n";
  tsv["valid_tatoeba.tsv"] =
      "I'm hungry.\tJ'ai faim.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1\n"
      "Where is the station?\t\xC3\x80 quelle heure part le train\xE2\x80\xAF?\tCC-BY 2.0\n";
  tsv["valid_crlf_bom_blank.tsv"] = "\xEF\xBB\xBF" "Good morning.\tGuten Morgen.\r\n\r\n  \nStra\xC3\x9F" "e\tstreet\r\n";
  tsv["valid_unicode.tsv"] = "\xC2\xBFQu\xC3\xA9 tal?\t\xC2\xABHow are you?\xC2\xBB\n\xCE\x9A\xCE\xB1\xCE\xBB\xCE\xB7\xCE\xBC\xCE\xAD\xCF\x81\xCE\xB1\tgood morning\n";
  // Real text: typographic apostrophes (U+2019, U+02BC), decomposed accents (e + U+0301, c +
  // U+0327), no-break and narrow no-break spaces (U+00A0, U+202F, U+2009), French punctuation.
  tsv["valid_typography.tsv"] =
      "I don\xE2\x80\x99t know.\tJe ne sais pas.\n"
      "It\xCA\xBCs mine.\tC\xE2\x80\x99" "est \xC3\xA0 moi\xE2\x80\xAF!\n"
      "Did I hurt you?\tVous ai-je bless\x65\xCC\x81\xC2\xA0?\n"
      "That\xE2\x80\x99ll do.\tC\xCC\xA7" "a ira\xE2\x80\x89;\xE2\x80\xAF" "c\xE2\x80\x99" "est \xC2\xAB\xC2\xA0parfait\xC2\xA0\xC2\xBB.\n"
      "Wait... what?!\tQuoi\xE2\x80\xAF?! Attends\xE2\x80\xA6 \xE2\x80\x93 3,5\xE2\x80\xAF% \xE2\x80\x9Cvrai\xE2\x80\x9D\n";
  tsv["valid_decomposed.tsv"] =
      "E\xCC\x81te\xCC\x81\t\xC3\x89t\xC3\xA9\n"
      "u\xCC\x88" "ber a\xCC\x81\xCC\xA7\t\xC3\xBC" "ber\n"
      "\xE2\x80\x99\xCA\xBC'\t'\xE2\x80\x99\n";
  tsv["invalid_no_tab.tsv"] = "a\tb\nno tab on this line\n";
  tsv["invalid_utf8.tsv"] = "caf\xE9\tcoffee\n";
  tsv["invalid_empty_target.tsv"] = "hello\t \n";
  tsv["invalid_empty.tsv"] = "";
  return out;
}

}  // namespace seq2seq::fuzz

#endif  // SEQ2SEQ_FUZZ_TARGETS_HPP

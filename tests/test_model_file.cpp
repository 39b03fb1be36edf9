// Tests of io/model_file.hpp: a whole model (parameters, configuration, vocabularies) in one file,
// the configuration's JSON form, and the checks that run before a model is allocated from a file.
#include <seq2seq/io/model_file.hpp>
#include <seq2seq/seq2seq.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "test_files.hpp"

namespace {

using namespace seq2seq;
using seq2seq::test::bit_equal;
using seq2seq::test::TempDir;
using seq2seq::test::values_of;

template <typename Cell, int Layers>
using ModelOf = Seq2Seq<Encoder<StackedLSTM<Cell, Layers>>, Decoder<StackedLSTM<Cell, Layers>>>;
using DynamicModel = ModelOf<LSTMCell<float, Dynamic, Dynamic>, Dynamic>;
using PeepholeModel = ModelOf<LSTMCell<float, Dynamic, Dynamic, true>, Dynamic>;
using FixedModel = ModelOf<LSTMCell<double, 4, 3>, 2>;

Vocab source_vocab() { return Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", "ich", "sehe", "den", "hund"}); }
Vocab target_vocab() { return Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", "i", "see", "the", "dog", "cat"}); }

ModelConfig small_config(bool peephole = false) {
  ModelConfig c;
  c.source_vocab = 8;
  c.target_vocab = 9;
  c.embed = 3;
  c.hidden = 4;
  c.layers = 2;
  c.peephole = peephole;
  c.max_length = 12;
  c.reverse_source = false;
  c.per_token_loss = true;
  return c;
}

template <typename Model>
Model random_model(const ModelConfig& c, std::uint64_t seed) {
  Model m(c);
  Rng rng(seed);
  init_uniform(m, rng, 0.5);
  return m;
}

#define CHECK_THROWS_NAMING(call, text) CHECK_THROWS_WITH_AS(call, doctest::Contains(text), std::invalid_argument)

}  // namespace

TEST_CASE("model file: expected_parameter_count is the built model's count") {
  for (int layers : {1, 2, 3}) {
    for (bool peephole : {false, true}) {
      CAPTURE(layers);
      CAPTURE(peephole);
      ModelConfig c = small_config(peephole);
      c.layers = layers;
      c.embed = 5;  // E != H, so a transposed term would show
      if (peephole) {
        PeepholeModel m(c);
        CHECK(io::expected_parameter_count(c) == static_cast<double>(parameter_count(m)));
      } else {
        DynamicModel m(c);
        CHECK(io::expected_parameter_count(c) == static_cast<double>(parameter_count(m)));
      }
    }
  }
}

TEST_CASE("model file: the configuration's JSON round-trips every field; flags may be absent") {
  ModelConfig c = small_config(true);
  const ModelConfig back = io::config_from_json(io::config_to_json(c));
  CHECK(back.source_vocab == c.source_vocab);
  CHECK(back.target_vocab == c.target_vocab);
  CHECK(back.embed == c.embed);
  CHECK(back.hidden == c.hidden);
  CHECK(back.layers == c.layers);
  CHECK(back.max_length == c.max_length);
  CHECK(back.peephole == c.peephole);
  CHECK(back.reverse_source == c.reverse_source);
  CHECK(back.per_token_loss == c.per_token_loss);
  // The layout tools/interop/seq2seq_torch.py writes for a PyTorch model: sizes and reverse_source.
  const ModelConfig torch = io::config_from_json(
      R"({"embed":6,"hidden":5,"layers":2,"reverse_source":true,"source_vocab":12,"target_vocab":14,"x":1})");
  CHECK(torch.embed == 6);
  CHECK(torch.target_vocab == 14);
  CHECK(torch.max_length == 0);
  CHECK_FALSE(torch.peephole);
  CHECK_FALSE(torch.per_token_loss);
  CHECK(torch.reverse_source);
  // Sorted keys, no spaces: the same text for the same configuration, whoever wrote it.
  CHECK(io::config_to_json(c).find(' ') == std::string::npos);
  CHECK(io::config_to_json(c).rfind("{\"embed\":3,\"hidden\":4,\"layers\":2,", 0) == 0);
}

TEST_CASE("model file: bad configuration JSON is refused, naming the problem") {
  const std::string good = io::config_to_json(small_config());
  const auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json j = nlohmann::json::parse(good);
    j[key] = std::move(value);
    return j.dump();
  };
  const auto without = [&](const char* key) {
    nlohmann::json j = nlohmann::json::parse(good);
    j.erase(key);
    return j.dump();
  };
  CHECK_THROWS_NAMING(io::config_from_json("{\"embed\":"), "not JSON");
  CHECK_THROWS_NAMING(io::config_from_json("[1,2]"), "not a JSON object");
  CHECK_THROWS_NAMING(io::config_from_json(without("hidden")), "no \"hidden\"");
  CHECK_THROWS_NAMING(io::config_from_json(with("hidden", 0)), "\"hidden\" = 0 is out of range");
  CHECK_THROWS_NAMING(io::config_from_json(with("layers", -2)), "\"layers\" = -2 is out of range");
  CHECK_THROWS_NAMING(io::config_from_json(with("embed", 1e12)), "\"embed\" is not an integer");
  CHECK_THROWS_NAMING(io::config_from_json(with("embed", 4000000000LL)), "\"embed\" = 4000000000 is out of range");
  CHECK_THROWS_NAMING(io::config_from_json(with("source_vocab", 18446744073709551615ULL)), "out of range");
  CHECK_THROWS_NAMING(io::config_from_json(with("target_vocab", "9")), "\"target_vocab\" is not an integer");
  CHECK_THROWS_NAMING(io::config_from_json(with("max_length", -1)), "\"max_length\" = -1 is out of range");
  CHECK_THROWS_NAMING(io::config_from_json(with("peephole", 1)), "\"peephole\" is not true or false");
  CHECK_NOTHROW(io::config_from_json(with("max_length", 0)));
}

TEST_CASE("model file: save_model and load_model round-trip parameters, configuration, vocabularies, metadata") {
  TempDir dir("model_file");
  const ModelConfig c = small_config();
  const DynamicModel saved = random_model<DynamicModel>(c, 7);
  const std::string path = dir.file("model.safetensors");
  io::save_model(path, saved, source_vocab(), target_vocab(), {{"producer", "test"}, {"note", "ünïcode ✓"}});
  CHECK(dir.listing() == std::set<std::string>{"model.safetensors"});

  const io::ModelInfo info = io::read_model_info(path);
  CHECK(info.config.hidden == 4);
  CHECK(info.target_vocab.tokens() == target_vocab().tokens());
  CHECK(info.metadata == std::map<std::string, std::string>{{"note", "ünïcode ✓"}, {"producer", "test"}});

  const io::LoadedModel<DynamicModel> loaded = io::load_model<DynamicModel>(path);
  CHECK(bit_equal(values_of(loaded.model), values_of(saved)));
  CHECK(loaded.config.reverse_source == false);
  CHECK(loaded.config.per_token_loss == true);
  CHECK(loaded.config.max_length == 12);
  CHECK(loaded.model.config().reverse_source == false);
  CHECK(loaded.source_vocab.tokens() == source_vocab().tokens());
  CHECK(loaded.target_vocab.tokens() == target_vocab().tokens());
  CHECK(loaded.metadata.count("config") == 0);
  CHECK(loaded.metadata.at("producer") == "test");
  // The loaded model translates and scores exactly as the saved one.
  const Sentence source = loaded.source_vocab.encode(std::vector<std::string>{"ich", "sehe", "den", "hund"});
  DecodeOptions beam;
  beam.beam = 3;
  beam.nbest = 3;
  beam.max_length = 6;
  const auto a = saved.translate(source, beam);
  const auto b = loaded.model.translate(source, beam);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].tokens == b[i].tokens);
    CHECK(a[i].log_prob == b[i].log_prob);
  }
  CHECK(saved.score(source, Sentence{4, 5, 6, 7}) == loaded.model.score(source, Sentence{4, 5, 6, 7}));

  // Fixed sizes and double, peepholes: the same file format.
  ModelConfig fc = small_config();
  fc.hidden = 4;
  fc.embed = 3;
  const FixedModel fixed = random_model<FixedModel>(fc, 8);
  io::save_model(dir.file("fixed.safetensors"), fixed, source_vocab(), target_vocab());
  CHECK(bit_equal(values_of(io::load_model<FixedModel>(dir.file("fixed.safetensors")).model), values_of(fixed)));
  const PeepholeModel peep = random_model<PeepholeModel>(small_config(true), 9);
  io::save_model(dir.file("peep.safetensors"), peep, source_vocab(), target_vocab());
  CHECK(bit_equal(values_of(io::load_model<PeepholeModel>(dir.file("peep.safetensors")).model), values_of(peep)));
}

TEST_CASE("model file: save_model refuses vocabularies of other sizes and its own metadata keys") {
  TempDir dir("model_file");
  const DynamicModel m = random_model<DynamicModel>(small_config(), 1);
  const std::string path = dir.file("m.safetensors");
  CHECK_THROWS_NAMING(io::save_model(path, m, target_vocab(), target_vocab()),
                      "source vocabulary has 9 tokens but the model's configuration says 8");
  CHECK_THROWS_NAMING(io::save_model(path, m, source_vocab(), source_vocab()),
                      "target vocabulary has 8 tokens but the model's configuration says 9");
  CHECK_THROWS_NAMING(io::save_model(path, m, source_vocab(), target_vocab(), {{"config", "{}"}}),
                      "metadata key 'config' is written by save_model itself");
  CHECK_THROWS_NAMING(io::save_model(path, m, source_vocab(), target_vocab(), {{"seq2seq.x", "1"}}), "reserved prefix");
  CHECK(dir.listing().empty());  // nothing written by a refused save
}

TEST_CASE("model file: load_model refuses files whose configuration or vocabularies do not fit, before allocating") {
  TempDir dir("model_file");
  const ModelConfig c = small_config();
  const DynamicModel m = random_model<DynamicModel>(c, 2);
  const std::string src = source_vocab().to_json(), tgt = target_vocab().to_json();
  const auto write = [&](const std::string& name, std::map<std::string, std::string> meta) {
    const std::string path = dir.file(name);
    io::save_parameters(path, m, meta);
    return path;
  };
  const auto config_with = [&](const char* key, nlohmann::json value) {
    nlohmann::json j = nlohmann::json::parse(io::config_to_json(c));
    j[key] = std::move(value);
    return j.dump();
  };

  SUBCASE("a parameter file without the model keys") {
    const std::string p = write("plain.safetensors", {});
    CHECK_THROWS_NAMING(io::load_model<DynamicModel>(p),
                        "no \"config\" in its metadata (not written by io::save_model?)");
    const std::string q = write("novocab.safetensors", {{"config", io::config_to_json(c)}, {"source_vocab", src}});
    CHECK_THROWS_NAMING(io::load_model<DynamicModel>(q), "no \"target_vocab\"");
  }
  SUBCASE("a configuration that asks for more than the file holds (a hostile file cannot make us allocate)") {
    const std::string p =
        write("huge.safetensors",
              {{"config", config_with("hidden", 2000000000)}, {"source_vocab", src}, {"target_vocab", tgt}});
    CHECK_THROWS_NAMING(io::load_model<DynamicModel>(p), "parameters but the file holds");
    const std::string q = write("deeper.safetensors",
                                {{"config", config_with("layers", 3)}, {"source_vocab", src}, {"target_vocab", tgt}});
    CHECK_THROWS_NAMING(io::load_model<DynamicModel>(q), "its configuration describes");
  }
  SUBCASE("vocabularies that differ from the configuration, or do not parse") {
    const std::string p =
        write("swap.safetensors", {{"config", io::config_to_json(c)}, {"source_vocab", tgt}, {"target_vocab", src}});
    CHECK_THROWS_NAMING(io::load_model<DynamicModel>(p), "do not match the configuration");
    const std::string q = write("badvocab.safetensors",
                                {{"config", io::config_to_json(c)}, {"source_vocab", "[]"}, {"target_vocab", tgt}});
    CHECK_THROWS_WITH_AS(io::load_model<DynamicModel>(q), doctest::Contains("badvocab.safetensors': vocabulary JSON"),
                         std::invalid_argument);
    const std::string r = write("badconfig.safetensors",
                                {{"config", config_with("embed", "x")}, {"source_vocab", src}, {"target_vocab", tgt}});
    CHECK_THROWS_WITH_AS(
        io::load_model<DynamicModel>(r),
        doctest::Contains("badconfig.safetensors': model configuration JSON: \"embed\" is not an integer"),
        std::invalid_argument);
  }
  SUBCASE("a model type the file does not fit") {
    const std::string p = dir.file("ok.safetensors");
    io::save_model(p, m, source_vocab(), target_vocab());
    CHECK_THROWS_NAMING(io::load_model<PeepholeModel>(p), "peepholes");     // the configuration says none
    CHECK_THROWS_AS(io::load_model<FixedModel>(p), std::invalid_argument);  // float file, double model
    CHECK_NOTHROW(io::load_model<DynamicModel>(p));
  }
}

TEST_CASE("model file: average_models is the element-wise mean of the files' parameters") {
  TempDir dir;
  const ModelConfig c = small_config();
  const DynamicModel a = random_model<DynamicModel>(c, 1), b = random_model<DynamicModel>(c, 2),
                     d = random_model<DynamicModel>(c, 3);
  const std::string pa = dir.file("a.safetensors"), pb = dir.file("b.safetensors"), pd = dir.file("d.safetensors");
  io::save_model(pa, a, source_vocab(), target_vocab(), {{"note", "first"}});
  io::save_model(pb, b, source_vocab(), target_vocab(), {{"note", "second"}});
  io::save_model(pd, d, source_vocab(), target_vocab());

  const io::LoadedModel<DynamicModel> avg = io::average_models<DynamicModel>({pa, pb, pd});
  CHECK(avg.metadata.at("note") == "first");  // the first file's metadata
  CHECK(avg.source_vocab == source_vocab());
  const auto va = values_of(a), vb = values_of(b), vd = values_of(d), v = values_of(avg.model);
  REQUIRE(v.size() == va.size());
  double worst = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const Matrix<double> mean = (va[i].cast<double>() + vb[i].cast<double>() + vd[i].cast<double>()) / 3.0;
    worst = std::max(worst, (v[i].cast<double>() - mean).cwiseAbs().maxCoeff());
  }
  CHECK(worst <= 1e-7);
  // One file averages to itself, bit for bit.
  CHECK(bit_equal(values_of(io::average_models<DynamicModel>({pb}).model), vb));

  SUBCASE("refused: no files, another configuration, other vocabularies") {
    CHECK_THROWS_NAMING(io::average_models<DynamicModel>({}), "no files");
    ModelConfig other = c;
    other.reverse_source = !c.reverse_source;
    const std::string po = dir.file("other.safetensors");
    io::save_model(po, random_model<DynamicModel>(other, 4), source_vocab(), target_vocab());
    CHECK_THROWS_NAMING(io::average_models<DynamicModel>({pa, po}), "another configuration");
    Vocab renamed = Vocab::from_tokens({"<pad>", "<unk>", "<s>", "<EOS>", "ich", "sehe", "die", "katze"});
    const std::string pv = dir.file("vocab.safetensors");
    io::save_model(pv, b, renamed, target_vocab());
    CHECK_THROWS_NAMING(io::average_models<DynamicModel>({pa, pv}), "other vocabularies");
  }
}

TEST_CASE("model file: tokenizers travel in the metadata; files without them mean the legacy word tokenizer") {
  TempDir dir("model_tokenizers");
  const DynamicModel model = random_model<DynamicModel>(small_config(), 3);
  const WordTokenizer source(NormalizeOptions{false, true}, TokenizeOptions{}, Detokenizer::english());
  const WordTokenizer target(NormalizeOptions{false, true}, TokenizeOptions{}, Detokenizer::french());
  std::map<std::string, std::string> meta = io::tokenizer_metadata(source, target);
  meta["producer"] = "test";
  io::save_model(dir.file("with.safetensors"), model, source_vocab(), target_vocab(), meta);
  io::save_model(dir.file("without.safetensors"), model, source_vocab(), target_vocab(), {{"producer", "test"}});

  const auto with = io::load_model<DynamicModel>(dir.file("with.safetensors"));
  const io::Tokenizers t = io::load_tokenizers(with.metadata);
  CHECK(t.source->to_json() == source.to_json());
  CHECK(t.target->to_json() == target.to_json());
  CHECK(t.target->decode(t.target->encode("Vous ai-je vu ?")) == "vous ai-je vu ?");
  const io::Tokenizers old = io::load_tokenizers(io::read_model_info(dir.file("without.safetensors")).metadata);
  CHECK(old.source->to_json() == WordTokenizer::legacy().to_json());
  CHECK(old.target->decode({"j", "'", "ai"}) == "j ' ai");

  // A damaged entry names its side.
  std::map<std::string, std::string> bad = meta;
  bad[io::kSourceTokenizerKey] = "{";
  CHECK_THROWS_WITH_AS(io::load_tokenizers(bad), doctest::Contains("source_tokenizer:"), std::invalid_argument);
  // Averaging files with other tokenizers is refused.
  CHECK_THROWS_WITH_AS(io::average_models<DynamicModel>({dir.file("with.safetensors"), dir.file("without.safetensors")}),
                       doctest::Contains("another source_tokenizer"), std::invalid_argument);
}

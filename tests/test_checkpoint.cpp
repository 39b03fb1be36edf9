// Tests of io/: the safetensors layout, bit-identical round trips, metadata, a hardened loader
// (truncation at every byte, every single-bit flip, crafted headers, wrong models, newer formats),
// atomic saves, and training resumed from a checkpoint bit-exactly.
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/io/safetensors.hpp>
#include <seq2seq/io/atomic_file.hpp>
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/stacked_lstm.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "test_files.hpp"

using namespace seq2seq;
namespace fs = std::filesystem;
using seq2seq::test::TempDir;
using seq2seq::test::slurp;
using seq2seq::test::spit;
using seq2seq::test::values_of;
using seq2seq::test::bit_equal;

namespace {

// Model cases: fixed sizes, Dynamic sizes and depth, peepholes.
struct FixedFloat {
  using Model = StackedLSTM<LSTMCell<float, 6, 4>, 2>;
  static Model make() { return Model(); }
};
struct DynamicDouble {
  using Model = StackedLSTM<LSTMCell<double, Dynamic, Dynamic>, Dynamic>;
  static Model make() { return Model(2, 6, 4); }
};
struct PeepholeDouble {
  using Model = StackedLSTM<LSTMCell<double, 5, 3, true>, 3>;
  static Model make() { return Model(); }
};

using SmallStack = StackedLSTM<LSTMCell<float, 2, 2>, 1>;

/// A small saved checkpoint (a few hundred bytes) for the byte-level tests.
std::string small_checkpoint(const TempDir& dir, SmallStack& model) {
  Rng rng(11);
  init_uniform(model, rng);
  const std::string path = dir.file("small.safetensors");
  io::save_parameters(path, model, {{"config", "{\"hidden\": 2}"}});
  return path;
}

/// A file from a raw header and data section (for crafted, possibly invalid, headers).
std::string raw_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

io::ReadOptions foreign() {
  io::ReadOptions o;
  o.require_seq2seq = false;
  return o;
}

}  // namespace

TEST_CASE("FNV-1a 64 matches the published test vectors") {
  CHECK(io::fnv1a64("", 0) == 0xcbf29ce484222325ull);
  CHECK(io::fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
  CHECK(io::fnv1a64("foobar", 6) == 0x85944171f73967e8ull);
  CHECK(io::fnv1a64("bar", 3, io::fnv1a64("foo", 3)) == 0x85944171f73967e8ull);  // in pieces
  CHECK(io::hex64(0x85944171f73967e8ull) == "85944171f73967e8");
}

TEST_CASE_TEMPLATE("Parameters round-trip bit-identically, metadata included", Case, FixedFloat, DynamicDouble,
                   PeepholeDouble) {
  using Model = typename Case::Model;
  TempDir dir;
  Model saved = Case::make();
  Rng rng(42);
  init_uniform(saved, rng);
  // Values whose bits a decimal detour would lose.
  saved.visit_parameters([](const ParamName&, auto& p) { p.value(0, 0) = -0.0; });
  saved.visit_parameters([](const ParamName&, auto& p) { p.value(p.value.rows() - 1, 0) = 1e-40; });

  const std::map<std::string, std::string> metadata = {
      {"config", R"({"layers": 2, "hidden": 6, "reverse_source": true})"},
      {"source_vocab", "<pad>\n<unk>\n<s>\n<EOS>\nchat\nhôtel\n日本\n"},
      {"tricky", "quote \" backslash \\ tab \t nul-free control \x01 end"},
      {"empty", ""}};
  const std::string path = dir.file("model.safetensors");
  io::save_parameters(path, saved, metadata);

  Model loaded = Case::make();
  const auto got = io::load_parameters(path, loaded);
  CHECK(got == metadata);
  CHECK(io::read_metadata(path) == metadata);
  CHECK(bit_equal(values_of(saved), values_of(loaded)));
  CHECK(dir.listing() == std::set<std::string>{"model.safetensors"});  // no temporary left behind
}

TEST_CASE("The file is plain safetensors: row-major [rows, cols], aligned data, checksums as documented") {
  TempDir dir;
  StackedLSTM<LSTMCell<float, 3, 2>, 1> model;  // W: 12 x 2, U: 12 x 3, b: 12 x 1
  Rng rng(5);
  init_uniform(model, rng);
  const std::string path = dir.file("m.safetensors");
  io::save_parameters(path, model, {{"note", "hello"}});
  const std::string bytes = slurp(path);

  // Decode by hand, as a Python reader would.
  REQUIRE(bytes.size() >= 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  REQUIRE(8 + n <= bytes.size());
  CHECK((8 + n) % 8 == 0);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  CHECK(header["__metadata__"]["note"] == "hello");
  CHECK(header["__metadata__"]["seq2seq.format_version"] == "1");
  CHECK(header["__metadata__"]["seq2seq.content"] == "parameters");
  const std::string data = bytes.substr(8 + n);
  CHECK(header["__metadata__"]["seq2seq.checksum"] == io::hex64(io::fnv1a64(data.data(), data.size())));

  const auto& W = header["layer0.W"];
  CHECK(W["dtype"] == "F32");
  CHECK(W["shape"] == nlohmann::json::array({12, 2}));  // 4H x I, like torch's weight_ih
  CHECK(header["layer0.b"]["shape"] == nlohmann::json::array({12, 1}));
  const std::uint64_t begin = W["data_offsets"][0];
  const std::uint64_t end = W["data_offsets"][1];
  CHECK(end - begin == 12 * 2 * 4);
  std::vector<Matrix<float>> values = values_of(model);  // W, U, b
  for (Index i = 0; i < 12; ++i)
    for (Index j = 0; j < 2; ++j) {
      float x;
      std::memcpy(&x, data.data() + begin + static_cast<std::size_t>(i * 2 + j) * 4, 4);  // row-major
      CHECK(x == values[0](i, j));
    }

  // The header checksum: FNV-1a 64 of the header with its own digits zeroed.
  std::string zeroed = bytes.substr(8, n);
  const std::string key = "\"seq2seq.header_checksum\":\"";
  const std::size_t at = zeroed.find(key);
  REQUIRE(at != std::string::npos);
  const std::string stored = zeroed.substr(at + key.size(), 16);
  zeroed.replace(at + key.size(), 16, std::string(16, '0'));
  CHECK(stored == io::hex64(io::fnv1a64(zeroed.data(), zeroed.size())));
}

TEST_CASE("Truncation at every byte offset is an exception, never a crash, and leaves the model alone") {
  TempDir dir;
  SmallStack model;
  const std::string bytes = slurp(small_checkpoint(dir, model));
  const auto original = values_of(model);
  INFO("file size " << bytes.size());
  REQUIRE(bytes.size() > 200);
  const std::string cut = dir.file("cut.safetensors");
  int not_thrown = 0, wrong_type = 0;
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    spit(cut, bytes.substr(0, len));
    SmallStack target;
    target.visit_parameters([](const ParamName&, auto& p) { p.value.setConstant(7.0f); });
    try {
      io::load_parameters(cut, target);
      ++not_thrown;
    } catch (const std::invalid_argument&) {
    } catch (const std::runtime_error&) {
    } catch (...) {
      ++wrong_type;
    }
    bool untouched = true;
    target.visit_parameters([&](const ParamName&, auto& p) { untouched = untouched && (p.value.array() == 7.0f).all(); });
    if (!untouched) FAIL("model modified by a failed load at length " << len);
  }
  CHECK(not_thrown == 0);
  CHECK(wrong_type == 0);
  // The whole file still loads.
  SmallStack whole;
  io::load_parameters(dir.file("small.safetensors"), whole);
  CHECK(bit_equal(values_of(whole), original));
}

TEST_CASE("Every single-bit flip anywhere in the file is detected") {
  // Data flips break the data checksum; header flips break the JSON, a validation rule or the
  // header checksum (which also covers the padding spaces). No flip gives a silent success.
  TempDir dir;
  SmallStack model;
  const std::string bytes = slurp(small_checkpoint(dir, model));
  const std::string flipped = dir.file("flipped.safetensors");
  int loaded = 0, wrong_type = 0, tried = 0;
  std::string first_silent;
  for (std::size_t at = 0; at < bytes.size(); ++at)
    for (int bit = 0; bit < 8; ++bit) {
      std::string b = bytes;
      b[at] = static_cast<char>(b[at] ^ (1 << bit));
      spit(flipped, b);
      SmallStack target;
      ++tried;
      try {
        io::load_parameters(flipped, target);
        if (first_silent.empty()) first_silent = "byte " + std::to_string(at) + " bit " + std::to_string(bit);
        ++loaded;
      } catch (const std::invalid_argument&) {
      } catch (const std::runtime_error&) {
      } catch (...) {
        ++wrong_type;
      }
    }
  INFO("flips tried: " << tried << ", first undetected: " << first_silent);
  CHECK(tried == static_cast<int>(bytes.size()) * 8);
  CHECK(loaded == 0);
  CHECK(wrong_type == 0);
}

TEST_CASE("A checkpoint of another shape is refused, naming the tensor and both shapes") {
  using Model = DynamicDouble::Model;
  TempDir dir;
  Model saved(2, 6, 4);
  Rng rng(3);
  init_uniform(saved, rng);
  const std::string path = dir.file("m.safetensors");
  io::save_parameters(path, saved);

  SUBCASE("other hidden size") {
    Model other(2, 5, 4);
    init_uniform(other, rng);
    const auto before = values_of(other);
    CHECK_THROWS_WITH_AS(io::load_parameters(path, other),
                         doctest::Contains("tensor 'layer0.W' has shape [24, 4] in the file but [20, 4] in the model"),
                         std::invalid_argument);
    CHECK(bit_equal(before, values_of(other)));  // untouched
  }
  SUBCASE("a layer more: missing tensor") {
    Model deeper(3, 6, 4);
    CHECK_THROWS_WITH_AS(io::load_parameters(path, deeper), doctest::Contains("'layer2.W' is not in the file"),
                         std::invalid_argument);
  }
  SUBCASE("a layer fewer: extra tensor") {
    Model shallower(1, 6, 4);
    CHECK_THROWS_WITH_AS(io::load_parameters(path, shallower),
                         doctest::Contains("holds tensor 'layer1.W', which the model does not have"), std::invalid_argument);
  }
  SUBCASE("other Scalar") {
    StackedLSTM<LSTMCell<float, Dynamic, Dynamic>, Dynamic> f32(2, 6, 4);
    CHECK_THROWS_WITH_AS(io::load_parameters(path, f32), doctest::Contains("is F64 in the file but F32 in the model"),
                         std::invalid_argument);
  }
  SUBCASE("a training-state file is not a parameter file") {
    Optimizer<SGD, double> opt;
    io::save_training_state(dir.file("t.safetensors"), opt, saved, io::TrainingState{});
    Model m(2, 6, 4);
    CHECK_THROWS_WITH_AS(io::load_parameters(dir.file("t.safetensors"), m), doctest::Contains("holds 'training_state'"),
                         std::invalid_argument);
  }
}

TEST_CASE_TEMPLATE("NaN or Inf weights in a checkpoint are refused, naming the tensor, and leave the model alone", Case,
                   FixedFloat, DynamicDouble) {
  using Model = typename Case::Model;
  using S = typename Model::Scalar;
  TempDir dir;
  for (const S bad : {std::numeric_limits<S>::quiet_NaN(), std::numeric_limits<S>::infinity(),
                      -std::numeric_limits<S>::infinity()}) {
    CAPTURE(bad);
    Model saved = Case::make();
    Rng rng(11);
    init_uniform(saved, rng);
    // The last tensor of the visit, so a loader that copied tensor by tensor would already have
    // changed the others when it found the bad one.
    std::string last;
    saved.visit_parameters([&](const ParamName& name, Param<S>& p) {
      last = name.str();
      if (name.str() == "layer1.b") p.value(2, 0) = bad;
    });
    REQUIRE(last == "layer1.b");
    const std::string path = dir.file("bad.safetensors");
    io::save_parameters(path, saved);  // saving is allowed: the file is what the model held
    Model target = Case::make();
    init_uniform(target, rng);
    const auto before = values_of(target);
    CHECK_THROWS_WITH_AS(io::load_parameters(path, target), doctest::Contains("tensor 'layer1.b' holds NaN or Inf values"),
                         std::invalid_argument);
    CHECK(bit_equal(before, values_of(target)));
  }
}

TEST_CASE("Newer format versions, huge header lengths and missing files give clear errors") {
  TempDir dir;
  SmallStack model;
  const std::string path = small_checkpoint(dir, model);
  const std::string bytes = slurp(path);
  const std::string bad = dir.file("bad.safetensors");

  SUBCASE("written by a newer seq2seq") {
    std::string b = bytes;
    const std::string v1 = "\"seq2seq.format_version\":\"1\"";
    const std::size_t at = b.find(v1);
    REQUIRE(at != std::string::npos);
    b[at + v1.size() - 2] = '2';
    spit(bad, b);
    CHECK_THROWS_WITH_AS(io::load_parameters(bad, model), doctest::Contains("written by a newer seq2seq (checkpoint format version 2"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(io::read_metadata(bad), doctest::Contains("newer seq2seq"), std::invalid_argument);
  }
  SUBCASE("header length 2^62 is refused before any allocation") {
    std::string b = bytes;
    for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = 0;
    b[7] = 0x40;  // 2^62, little-endian
    spit(bad, b);
    // std::invalid_argument (not bad_alloc / length_error): the bound was checked first.
    CHECK_THROWS_WITH_AS(io::load_parameters(bad, model), doctest::Contains("header length 4611686018427387904 exceeds"),
                         std::invalid_argument);
    CHECK_THROWS_AS(io::SafetensorsFile::from_bytes(b), std::invalid_argument);
  }
  SUBCASE("header length one past the end of the file") {
    std::string b = bytes;
    const std::uint64_t n = bytes.size() - 8 + 1;
    for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
    spit(bad, b);
    CHECK_THROWS_WITH_AS(io::load_parameters(bad, model), doctest::Contains("truncated"), std::invalid_argument);
  }
  SUBCASE("missing file, directory") {
    CHECK_THROWS_WITH_AS(io::load_parameters(dir.file("nope.safetensors"), model),
                         doctest::Contains((dir.file("nope.safetensors") + "': No such file").c_str()), std::runtime_error);
    CHECK_THROWS_WITH_AS(io::load_parameters(dir.path().string(), model), doctest::Contains("not a regular file"),
                         std::runtime_error);
  }
  SUBCASE("a foreign safetensors file is refused by default") {
    spit(bad, raw_file(R"({"layer0.W":{"dtype":"F32","shape":[8,2],"data_offsets":[0,64]}})", std::string(64, '\0')));
    CHECK_THROWS_WITH_AS(io::load_parameters(bad, model), doctest::Contains("not a seq2seq checkpoint"), std::invalid_argument);
    CHECK_NOTHROW(io::SafetensorsFile::open(bad, foreign()));
  }
}

TEST_CASE("Crafted headers: every structural rule is enforced") {
  const std::string f32x2(8, '\x01');
  auto expect_error = [](const std::string& header, const std::string& data, const std::string& message) {
    INFO("header: " << header);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile::from_bytes(raw_file(header, data), foreign()), doctest::Contains(message.c_str()),
                         std::invalid_argument);
  };
  // A valid foreign file first: 1-D shapes read as n x 1, metadata optional.
  {
    float two[2] = {1.5f, -2.0f};
    std::string data(reinterpret_cast<const char*>(two), 8);
    auto f = io::SafetensorsFile::from_bytes(raw_file(R"({"v":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data),
                                             foreign());
    Matrix<float> v;
    f.read(*f.find("v"), v);
    CHECK(v.rows() == 2);
    CHECK(v.cols() == 1);
    CHECK(v(1, 0) == -2.0f);
    Matrix<double> d(2, 1);
    CHECK_THROWS_WITH_AS(f.read_into(*f.find("v"), d), doctest::Contains("is F32, expected F64"), std::invalid_argument);
    Matrix<float> wrong(1, 2);
    CHECK_THROWS_WITH_AS(f.read_into(*f.find("v"), wrong), doctest::Contains("expected [1, 2]"), std::invalid_argument);
  }
  const std::string t = R"("dtype":"F32","shape":[2])";
  expect_error(R"({"a":{)" + t + R"(,"data_offsets":[0,8]},"a":{)" + t + R"(,"data_offsets":[0,8]}})", f32x2, "key 'a' twice");
  expect_error(R"({"a":{)" + t + R"(,"data_offsets":[0,8]},"b":{)" + t + R"(,"data_offsets":[4,12]}})", f32x2 + "1234",
               "'b' overlaps");
  expect_error(R"({"a":{)" + t + R"(,"data_offsets":[0,8]},"b":{)" + t + R"(,"data_offsets":[12,20]}})",
               f32x2 + "1234" + f32x2, "bytes [8, 12) of the data section belong to no tensor");
  expect_error(R"({"a":{)" + t + R"(,"data_offsets":[0,8]}})", f32x2 + "1234", "has 12 bytes but its tensors cover 8");
  expect_error(R"({"a":{)" + t + R"(,"data_offsets":[0,16]}})", f32x2, "outside the data section of 8 bytes");
  expect_error(R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", f32x2, "unknown dtype 'F33'");
  expect_error(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2, "not a list of non-negative integers");
  expect_error(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", f32x2, "not a list of non-negative integers");
  expect_error(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32x2, "needs 12 bytes but data_offsets give 8");
  expect_error(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", f32x2, "is too large");
  expect_error(R"({"a":{"dtype":"F32","shape":[0,9223372036854775808],"data_offsets":[0,0]}})", "", "is too large");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f32x2, "outside the data section");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", f32x2, "no data_offsets");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", f32x2, "unknown field 'extra'");
  expect_error(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", f32x2, "has no dtype");
  expect_error(R"({"":{)" + t + R"(,"data_offsets":[0,8]}})", f32x2, "empty name");
  expect_error(R"({"__metadata__":{"k":1}})", "", "value of 'k' is not a string");
  expect_error(R"({"__metadata__":[]})", "", "__metadata__ is not a JSON object");
  expect_error(R"([])", "", "not a JSON object");
  expect_error(R"({"a":)", "", "not valid JSON");
  expect_error("{\"a\xff\":1}", "", "not valid JSON");  // invalid UTF-8
  expect_error(R"({"a":[[[[[[[[[[]]]]]]]]]]})", "", "nested deeper");
  expect_error(R"({}  x)", "", "not valid JSON");  // padding must be spaces
  expect_error(R"({"__metadata__":{"seq2seq.format_version":"one"}})", "", "is not a number");
  expect_error(R"({"__metadata__":{"seq2seq.format_version":"0"}})", "", "unsupported checkpoint format version 0");
  expect_error(R"({"__metadata__":{"seq2seq.format_version":"1"}})", "", "no \"seq2seq.header_checksum\"");
  CHECK_THROWS_WITH_AS(io::SafetensorsFile::from_bytes("1234567"), doctest::Contains("too few for the 8-byte header length"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(io::SafetensorsFile::from_bytes(std::string(8, '\0')), doctest::Contains("header length 0"),
                       std::invalid_argument);
  // Empty file with padding spaces and no tensors is fine for a foreign reader.
  CHECK_NOTHROW(io::SafetensorsFile::from_bytes(raw_file("{}      ", ""), foreign()));
}

TEST_CASE("SafetensorsWriter refuses bad names and reserved keys; to_bytes equals the file") {
  Matrix<double> m = Matrix<double>::Constant(2, 3, 0.5);
  io::SafetensorsWriter w;
  w.add("m", m);
  CHECK_THROWS_AS(w.add("m", m), std::invalid_argument);
  CHECK_THROWS_AS(w.add("", m), std::invalid_argument);
  CHECK_THROWS_AS(w.add("__metadata__", m), std::invalid_argument);
  CHECK_THROWS_AS(w.add_metadata(io::key_checksum, "x"), std::invalid_argument);
  w.add_metadata("k", "v");
  TempDir dir;
  w.write(dir.file("w.safetensors"));
  CHECK(slurp(dir.file("w.safetensors")) == w.to_bytes());
  auto f = io::SafetensorsFile::from_bytes(w.to_bytes());
  Matrix<double> back;
  f.read(*f.find("m"), back);
  CHECK(back == m);
  CHECK(f.metadata().at("k") == "v");

  io::SafetensorsWriter bad_utf8;
  bad_utf8.add_metadata("k", "\xff\xfe");
  CHECK_THROWS_WITH_AS(bad_utf8.to_bytes(), doctest::Contains("not valid UTF-8"), std::invalid_argument);
  SmallStack model;
  CHECK_THROWS_WITH_AS(io::save_parameters(dir.file("x"), model, {{"seq2seq.mine", "x"}}), doctest::Contains("reserved prefix"),
                       std::invalid_argument);
}

TEST_CASE("Atomic saves: replace the old file, leave no temporary, fail cleanly") {
  TempDir dir;
  SmallStack a, b;
  Rng rng(1);
  init_uniform(a, rng);
  init_uniform(b, rng);
  const std::string path = dir.file("ckpt.safetensors");
  io::save_parameters(path, a);
  io::save_parameters(path, b);  // over an existing file
  CHECK(dir.listing() == std::set<std::string>{"ckpt.safetensors"});
  SmallStack back;
  io::load_parameters(path, back);
  CHECK(bit_equal(values_of(back), values_of(b)));

  SUBCASE("a missing directory: error naming the path, nothing left behind") {
    const std::string nowhere = dir.file("no/such/dir/ckpt.safetensors");
    CHECK_THROWS_WITH_AS(io::save_parameters(nowhere, a), doctest::Contains("no/such/dir/ckpt.safetensors.tmp."),
                         std::runtime_error);
    CHECK(dir.listing() == std::set<std::string>{"ckpt.safetensors"});
  }
  SUBCASE("a writer dropped before commit removes its temporary and keeps the old file") {
    const std::string before = slurp(path);
    {
      io::AtomicFileWriter w(path);
      w.write("partial", 7);
      CHECK(fs::exists(w.temp_path()));
    }
    CHECK(dir.listing() == std::set<std::string>{"ckpt.safetensors"});
    CHECK(slurp(path) == before);
  }
  SUBCASE("write_file_atomic and read_file") {
    io::write_file_atomic(dir.file("plain.txt"), "hello");
    CHECK(io::read_file(dir.file("plain.txt")) == "hello");
    CHECK_THROWS_WITH_AS(io::read_file(dir.file("plain.txt"), 3), doctest::Contains("more than the limit"), std::runtime_error);
    CHECK(dir.listing() == std::set<std::string>{"ckpt.safetensors", "plain.txt"});
  }
}

TEST_CASE("RNG state round-trips and bad states are refused") {
  Rng rng(123);
  for (int i = 0; i < 10; ++i) rng.uniform(0, 1);
  const std::string s = io::rng_state(rng);
  Rng other(9);
  io::set_rng_state(other, s);
  for (int i = 0; i < 5; ++i) CHECK(other.engine()() == rng.engine()());
  Rng untouched(9);
  const std::string before = io::rng_state(untouched);
  CHECK_THROWS_AS(io::set_rng_state(untouched, "not a state"), std::invalid_argument);
  CHECK_THROWS_AS(io::set_rng_state(untouched, s + " 42"), std::invalid_argument);
  CHECK(io::rng_state(untouched) == before);
}

namespace {

/// A toy regression model y = W x + b (W: 3 x 4, b: 3 x 1) for the resume test.
struct Linear {
  using Scalar = double;
  Param<double> W, b;
  Linear() {
    W.resize(3, 4);
    b.resize(3, 1);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) {
    f(prefix.child("W"), W);
    f(prefix.child("b"), b);
  }
  template <typename F>
  void visit_parameters(F&& f, const ParamName& prefix = ParamName()) const {
    f(prefix.child("W"), W);
    f(prefix.child("b"), b);
  }
};

struct Dataset {
  Matrix<double> X, Y;  // 4 x 32 inputs, 3 x 32 targets
  Dataset() {
    Rng rng(2024);
    X.resize(4, 32);
    Y.resize(3, 32);
    for (Index i = 0; i < X.size(); ++i) X(i) = rng.uniform(-1, 1);
    for (Index i = 0; i < Y.size(); ++i) Y(i) = rng.uniform(-1, 1);
  }
};

/// Where a training run stands besides the model and the optimizer.
struct Progress {
  std::int64_t step = 0;
  double epoch = 0;
  std::uint64_t position = 0;
};

/// `steps` steps: batches of 4 drawn with rng, loss 0.5 * mean ||W x + b - y||^2, clipping at 1,
/// the paper's schedule (compressed so the halvings happen inside the test).
template <typename Policy>
void train(Linear& m, Optimizer<Policy, double>& opt, Rng& rng, Progress& p, const Dataset& data, int steps) {
  const PaperSchedule schedule{0.5, 1.0, 0.25};
  for (int s = 0; s < steps; ++s) {
    zero_grad(m);
    for (int k = 0; k < 4; ++k) {
      const Index j = static_cast<Index>(rng.below(32));
      Vector<double> r = m.W.value * data.X.col(j) + m.b.value - data.Y.col(j);
      m.W.grad.noalias() += (0.25 * r) * data.X.col(j).transpose();
      m.b.grad += 0.25 * r;
    }
    clip_global_norm(m, 1.0);
    opt.step(m, schedule(p.epoch));
    ++p.step;
    p.epoch += 4.0 / 32.0 + 1e-3;  // a fraction with no short decimal form
    p.position = (p.position + 4) % 32;
  }
}

}  // namespace

TEST_CASE_TEMPLATE("Training resumed from a checkpoint is bit-identical to training that never stopped", Policy, SGD,
                   Momentum, Adam, Adagrad) {
  TempDir dir;
  const Dataset data;
  const int K = 7, N = 9;

  // Run A: K steps, save, N more steps.
  Linear a;
  Rng rng_a(77);
  init_uniform(a, rng_a);
  Optimizer<Policy, double> opt_a;
  Progress pa;
  train(a, opt_a, rng_a, pa, data, K);
  io::save_parameters(dir.file("params.safetensors"), a, {{"run", "A"}});
  io::TrainingState ts{pa.step, pa.epoch, pa.position, io::rng_state(rng_a), {{"note", "after K"}}};
  io::save_training_state(dir.file("train.safetensors"), opt_a, a, ts);
  train(a, opt_a, rng_a, pa, data, N);

  // Run B: fresh objects (another seed, so nothing is inherited by accident), load, N steps.
  Linear b;
  Rng rng_b(999);
  Optimizer<Policy, double> opt_b;
  CHECK(io::load_parameters(dir.file("params.safetensors"), b).at("run") == "A");
  const io::TrainingState got = io::load_training_state(dir.file("train.safetensors"), opt_b, b);
  CHECK(got.step == K);
  CHECK(got.epoch == ts.epoch);  // bit-exact through the decimal text
  CHECK(got.data_position == ts.data_position);
  CHECK(got.extra == ts.extra);
  CHECK(opt_b.step_count() == K);
  io::set_rng_state(rng_b, got.rng_state);
  Progress pb{got.step, got.epoch, got.data_position};
  train(b, opt_b, rng_b, pb, data, N);

  CHECK(bit_equal(values_of(a), values_of(b)));
  CHECK(opt_a.step_count() == opt_b.step_count());
  std::vector<Matrix<double>> sa, sb;
  opt_a.visit_state([&](std::size_t, std::string_view, Matrix<double>& m) { sa.push_back(m); });
  opt_b.visit_state([&](std::size_t, std::string_view, Matrix<double>& m) { sb.push_back(m); });
  CHECK(bit_equal(sa, sb));
  CHECK(io::rng_state(rng_a) == io::rng_state(rng_b));
  CHECK(pa.epoch == pb.epoch);
}

TEST_CASE_TEMPLATE("Training states move between Optimizer<Policy> and Optimizer<AnyPolicy> holding it", Policy, SGD,
                   Momentum, Adam, Adagrad) {
  TempDir dir;
  const Dataset data;
  Linear a;
  Rng rng(21);
  init_uniform(a, rng);
  Optimizer<Policy, double> typed;
  Progress p;
  train(a, typed, rng, p, data, 5);
  io::save_training_state(dir.file("typed.safetensors"), typed, a, io::TrainingState{});

  // Typed -> AnyPolicy: same policy name, same tensors; training on continues bit for bit.
  Optimizer<AnyPolicy, double> any(Policy{});
  io::load_training_state(dir.file("typed.safetensors"), any, a);
  CHECK(any.step_count() == 5);
  Linear b = a;
  Rng rng_b = rng;
  Progress pb = p;
  train(a, typed, rng, p, data, 4);
  train(b, any, rng_b, pb, data, 4);
  CHECK(bit_equal(values_of(a), values_of(b)));

  // AnyPolicy -> typed, and the file names the held policy.
  io::save_training_state(dir.file("any.safetensors"), any, b, io::TrainingState{});
  CHECK(io::SafetensorsFile::open(dir.file("any.safetensors")).metadata().at("seq2seq.optim.policy") == Policy::name);
  Optimizer<Policy, double> back;
  io::load_training_state(dir.file("any.safetensors"), back, b);
  std::vector<Matrix<double>> s1, s2;
  typed.visit_state([&](std::size_t, std::string_view, Matrix<double>& m) { s1.push_back(m); });
  back.visit_state([&](std::size_t, std::string_view, Matrix<double>& m) { s2.push_back(m); });
  CHECK(bit_equal(s1, s2));

  // AnyPolicy holding another policy refuses the file, naming both.
  Optimizer<AnyPolicy, double> other(std::is_same_v<Policy, Adam> ? AnyPolicy(Adagrad{}) : AnyPolicy(Adam{}));
  const std::string refusal = "optimizer state of policy '" + std::string(Policy::name) + "'";
  CHECK_THROWS_WITH_AS(io::load_training_state(dir.file("typed.safetensors"), other, b),
                       doctest::Contains(refusal.c_str()), std::invalid_argument);
}

TEST_CASE("Training-state files: names, policy checks, failures leave the optimizer alone") {
  TempDir dir;
  const Dataset data;
  Linear m;
  Rng rng(5);
  init_uniform(m, rng);
  Optimizer<Adam, double> opt;
  Progress p;
  train(m, opt, rng, p, data, 3);
  const std::string path = dir.file("train.safetensors");
  io::save_training_state(path, opt, m, io::TrainingState{3, 0.375, 12, io::rng_state(rng), {}});

  auto f = io::SafetensorsFile::open(path);
  std::set<std::string> names;
  for (const auto& t : f.tensors()) names.insert(t.name);
  CHECK(names == std::set<std::string>{"optim.W.m", "optim.W.v", "optim.b.m", "optim.b.v"});
  CHECK(f.metadata().at("seq2seq.optim.policy") == "adam");
  CHECK(f.metadata().at("seq2seq.optim.step") == "3");

  SUBCASE("another policy") {
    Optimizer<Momentum, double> mom;
    CHECK_THROWS_WITH_AS(io::load_training_state(path, mom, m), doctest::Contains("policy 'adam'"), std::invalid_argument);
  }
  SUBCASE("another model: the optimizer is left as it was") {
    struct Bigger : Linear {
      Bigger() { W.resize(3, 5); }
    } bigger;
    Optimizer<Adam, double> other;
    Linear fresh;
    fresh.W.grad.setOnes();
    other.step(fresh, 0.1);
    std::vector<Matrix<double>> before;
    other.visit_state([&](std::size_t, std::string_view, Matrix<double>& s) { before.push_back(s); });
    CHECK_THROWS_WITH_AS(io::load_training_state(path, other, static_cast<const Linear&>(bigger)),
                         doctest::Contains("tensor 'optim.W.m' has shape [3, 4] in the file but [3, 5] in the model"),
                         std::invalid_argument);
    std::vector<Matrix<double>> after;
    other.visit_state([&](std::size_t, std::string_view, Matrix<double>& s) { after.push_back(s); });
    CHECK(bit_equal(before, after));
    CHECK(other.step_count() == 1);
  }
  SUBCASE("an optimizer saved before its first step restores as uninitialised") {
    Optimizer<Adam, double> fresh;
    io::save_training_state(dir.file("fresh.safetensors"), fresh, m, io::TrainingState{});
    io::load_training_state(dir.file("fresh.safetensors"), opt, m);
    CHECK_FALSE(opt.initialized());
    CHECK(opt.step_count() == 0);
  }
  SUBCASE("a corrupt RNG state is refused") {
    io::save_training_state(dir.file("rng.safetensors"), opt, m, io::TrainingState{3, 0.0, 0, "garbage", {}});
    CHECK_THROWS_WITH_AS(io::load_training_state(dir.file("rng.safetensors"), opt, m), doctest::Contains("rng_state"),
                         std::invalid_argument);
  }
  SUBCASE("extra keys must not use the reserved prefix") {
    CHECK_THROWS_AS(io::save_training_state(dir.file("x"), opt, m, io::TrainingState{0, 0, 0, "", {{"seq2seq.x", "1"}}}),
                    std::invalid_argument);
  }
  SUBCASE("truncation at every byte and a flip in every bit of every 3rd byte are detected") {
    // Without the RNG text (6 KB of digits, covered by the header checksum like any metadata) the
    // file is small enough to try every offset.
    io::save_training_state(path, opt, m, io::TrainingState{3, 0.375, 12, "", {{"k", "v"}}});
    const std::string bytes = slurp(path);
    INFO("file size " << bytes.size());
    const std::string bad = dir.file("bad.safetensors");
    int silent = 0;
    for (std::size_t len = 0; len < bytes.size(); ++len) {
      spit(bad, bytes.substr(0, len));
      Optimizer<Adam, double> o;
      try {
        io::load_training_state(bad, o, m);
        ++silent;
      } catch (const std::exception&) {
      }
    }
    for (std::size_t at = 0; at < bytes.size(); at += 3)
      for (int bit = 0; bit < 8; ++bit) {
        std::string b = bytes;
        b[at] = static_cast<char>(b[at] ^ (1 << bit));
        spit(bad, b);
        Optimizer<Adam, double> o;
        try {
          io::load_training_state(bad, o, m);
          ++silent;
        } catch (const std::exception&) {
        }
      }
    CHECK(silent == 0);
  }
}

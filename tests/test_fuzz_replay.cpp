// Replays the libFuzzer corpus (fuzz/corpus/<target>/) through the fuzz entry functions
// (fuzz/targets.hpp) as a normal test, so every build checks the seeds and any crash reproducer
// stored there, with or without clang. Files named valid_* must be accepted and invalid_* refused;
// any other file (a reproducer, a minimised input) must only not escape the documented errors.
//
// Regenerate the seeds after a format change (writes into the source tree):
//   SEQ2SEQ_REGENERATE_FUZZ_CORPUS=1 seq2seq_tests --source-file='*test_fuzz_replay.cpp'
#include "../fuzz/targets.hpp"
#include "test_files.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using seq2seq::test::slurp;
using seq2seq::fuzz::Outcome;

const fs::path kCorpus = fs::path(SEQ2SEQ_TEST_DATA_DIR) / ".." / "fuzz" / "corpus";

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

template <typename Entry>
void replay(const std::string& target, Entry&& entry) {
  const fs::path dir = kCorpus / target;
  REQUIRE_MESSAGE(fs::is_directory(dir), "no corpus directory ", dir.string());
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  int accepted = 0, rejected = 0;
  for (const fs::path& f : files) {
    const std::string name = f.filename().string();
    CAPTURE(name);
    const std::string bytes = slurp(f);
    Outcome outcome = Outcome::rejected;
    bool escaped = false;
    std::string what;
    try {
      outcome = entry(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      escaped = true;
      what = e.what();
    }
    INFO("escaped: ", what);
    CHECK_FALSE(escaped);
    if (starts_with(name, "valid_")) CHECK(outcome == Outcome::accepted);
    if (starts_with(name, "invalid_")) CHECK(outcome == Outcome::rejected);
    (outcome == Outcome::accepted ? accepted : rejected) += 1;
  }
  CHECK(accepted >= 2);
  CHECK(rejected >= 2);
  MESSAGE("fuzz corpus '", target, "': ", files.size(), " files replayed, ", accepted, " accepted, ", rejected,
          " rejected");
}

}  // namespace

TEST_CASE("fuzz corpus: the stored seeds are the generated ones (or regenerate them)") {
  const auto seeds = seq2seq::fuzz::seed_corpus();
  const char* regen = std::getenv("SEQ2SEQ_REGENERATE_FUZZ_CORPUS");
  const bool regenerate = regen != nullptr && std::string(regen) == "1";
  for (const auto& [target, files] : seeds) {
    for (const auto& [name, bytes] : files) {
      const fs::path p = kCorpus / target / name;
      CAPTURE(p.string());
      if (regenerate) {
        fs::create_directories(p.parent_path());
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      }
      // Only existence is required: the writer's bytes may change (new metadata) while old seeds
      // stay good inputs. The valid_ ones must still load (checked by the replay below).
      CHECK_MESSAGE(fs::exists(p), "missing seed: run with SEQ2SEQ_REGENERATE_FUZZ_CORPUS=1");
    }
  }
}

TEST_CASE("fuzz corpus replay: checkpoint readers") { replay("checkpoint", seq2seq::fuzz::check_checkpoint); }

TEST_CASE("fuzz corpus replay: TSV reader, tokenizer, vocabulary, batcher") {
  replay("tsv", seq2seq::fuzz::check_tsv);
}

TEST_CASE("fuzz entry functions: the freshly generated seeds give the expected outcomes") {
  // Independent of the files on disk: the generator and the entry functions agree.
  for (const auto& [target, files] : seq2seq::fuzz::seed_corpus()) {
    for (const auto& [file_name, bytes] : files) {
      const std::string& name = file_name;  // CAPTURE's lambda cannot capture a structured binding (C++17)
      CAPTURE(name);
      const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
      Outcome o = Outcome::rejected;
      CHECK_NOTHROW(o = target == "checkpoint" ? seq2seq::fuzz::check_checkpoint(data, bytes.size())
                                               : seq2seq::fuzz::check_tsv(data, bytes.size()));
      CHECK((o == Outcome::accepted) == starts_with(name, "valid_"));
    }
  }
}

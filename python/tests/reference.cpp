// python_reference: the C++ side of the Python module's bit-for-bit test. Translates and scores
// the way toy_translation's translate and score commands do (load_bundle, encode_source, one
// workspace, Seq2Seq::translate per sentence; inference_batches of 64 for scores), but prints every
// log-probability exactly (C99 hex floats, as Python's float.hex() writes them):
//
//   python_reference run MODEL BEAM NBEST SOURCES PAIRS
//     T<TAB>sentence<TAB>rank<TAB>log p<TAB>translation     for each line of SOURCES
//     S<TAB>pair<TAB>log p(target | source)                 for each line "source<TAB>target" of PAIRS
//   python_reference save-plain MODEL OUT
//     MODEL rewritten by io::save_model alone (no training settings: a library user's model file)
#include "run_files.hpp"
#include "text.hpp"

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

std::string hex(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

int run(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (!((mode == "run" && argc == 7) || (mode == "save-plain" && argc == 4))) {
    std::cerr << "usage: python_reference run MODEL BEAM NBEST SOURCES PAIRS | save-plain MODEL OUT\n";
    return 2;
  }
  Eigen::setNbThreads(1);
  const toy::Bundle b = toy::load_bundle(toy::resolve_model_path(argv[2]));
  if (mode == "save-plain") {
    seq2seq::io::save_model(argv[3], *b.model, b.source, b.target);
    return 0;
  }
  seq2seq::DecodeOptions opt;
  opt.beam = std::stoi(argv[3]);
  opt.nbest = std::stoi(argv[4]);
  toy::Model::DecodeWorkspace dws;
  toy::LineSource sources(argv[5]);
  std::string line;
  for (std::size_t i = 0; sources.next(line); ++i) {
    const std::vector<seq2seq::Hypothesis> hyps = b.model->translate(toy::encode_source(b, line), opt, dws);
    for (std::size_t r = 0; r < hyps.size(); ++r)
      std::cout << "T\t" << i << "\t" << r << "\t" << hex(hyps[r].log_prob) << "\t" << toy::decode_text(b, hyps[r].tokens)
                << "\n";
  }
  std::vector<toy::Sentence> src, tgt;
  toy::LineSource pairs(argv[6]);
  while (pairs.next(line)) {
    const std::size_t tab = line.find('\t');
    const std::size_t end = line.find('\t', tab + 1);
    src.push_back(toy::encode_source(b, line.substr(0, tab)));
    tgt.push_back(toy::encode_target(b, line.substr(tab + 1, end == std::string::npos ? end : end - tab - 1)));
  }
  std::vector<double> scores(src.size());
  toy::Model::Workspace ws;
  for (const auto& idx : seq2seq::inference_batches(src, 64)) {
    seq2seq::PairBatch batch;
    for (std::size_t i : idx) {
      batch.source.push_back(src[i]);
      batch.target.push_back(tgt[i]);
    }
    const std::vector<double> s = b.model->score(batch, ws);
    for (std::size_t k = 0; k < idx.size(); ++k) scores[idx[k]] = s[k];
  }
  for (std::size_t i = 0; i < scores.size(); ++i) std::cout << "S\t" << i << "\t" << hex(scores[i]) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "python_reference: " << e.what() << "\n";
    return 1;
  }
}

// toy_translation translate and score: lines of text to translations (batched beam search, n-best
// lists, sampling; float, bf16 or int8 weights, an optional shortlist), and log p(target | source)
// of sentence pairs (the paper's rescoring score).
#include "commands.hpp"
#include "model_ops.hpp"
#include "reporting.hpp"
#include "run_files.hpp"
#include "text.hpp"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <stdexcept>

namespace toy {

int run_translate(const std::string& model_path, const std::vector<std::string>& inputs, std::size_t beam, bool beam_given,
                  std::size_t nbest, double alpha, bool show_scores, bool tokenized, const DecodeFlags& decode) {
  Bundle b = load_bundle(resolve_model_path(model_path));
  set_decoding(b, decode.precision, decode.shortlist, decode.shortlist_file);
  seq2seq::DecodeOptions opt;
  opt.beam = static_cast<Index>(beam_given ? beam : b.settings.beam);
  opt.nbest = static_cast<Index>(nbest);
  opt.length_alpha = alpha;
  opt.sample = decode.sample;
  opt.temperature = decode.temperature;
  opt.top_k = static_cast<Index>(decode.top_k);
  opt.seed = decode.seed;
  opt.shortlist = b.shortlist.get();
  if (opt.beam < 1) throw UsageError("--beam must be at least 1");
  if (!opt.sample && (opt.nbest < 1 || opt.nbest > opt.beam))
    throw UsageError("--nbest must be between 1 and the beam size (" + std::to_string(opt.beam) + ")");
  if (!(opt.temperature > 0)) throw UsageError("--temperature must be positive");
  // Lines are translated together in batches of --batch (seq2seq's batched search), except from
  // a terminal, where each line is answered at once.
  const bool terminal = (inputs.empty() || (inputs.size() == 1 && inputs.front() == "-")) && isatty(STDIN_FILENO);
  opt.batch_size = static_cast<Index>(terminal ? 1 : std::max<std::size_t>(1, decode.batch));
  Model::DecodeWorkspace ws;
  std::size_t failures = 0, sentence = 0;
  struct Pending {
    std::size_t number;
    bool ok;
  };
  std::vector<Pending> pending;
  std::vector<Sentence> sources;
  const auto flush = [&] {
    const std::vector<std::vector<seq2seq::Hypothesis>> out = translate(*b.model, sources, opt, ws);
    std::size_t next = 0;
    for (const Pending& p : pending) {
      if (!p.ok) {  // its error is reported; its output line stays empty
        std::cout << "\n";
        continue;
      }
      const std::vector<seq2seq::Hypothesis>& hyps = out[next++];
      if (opt.nbest == 1 && !show_scores) {
        std::cout << decode_text(b, hyps.front().tokens, tokenized) << "\n";
      } else {
        for (std::size_t r = 0; r < hyps.size(); ++r)
          std::cout << p.number << "\t" << r + 1 << "\t" << fixed(hyps[r].log_prob, 4) << "\t"
                    << decode_text(b, hyps[r].tokens, tokenized) << "\n";
      }
    }
    std::cout.flush();
    pending.clear();
    sources.clear();
  };
  for (const std::string& name : inputs.empty() ? std::vector<std::string>{"-"} : inputs) {
    LineSource in(name);
    std::string line;
    while (in.next(line)) {
      ++sentence;
      try {
        std::size_t unknown = 0;
        sources.push_back(encode_source(b, line, &unknown));
        pending.push_back({sentence, true});
        if (unknown)
          std::cerr << in.name() << ":" << in.number() << ": note: " << unknown << " unknown "
                    << (b.source_tokenizer->kind() == "word" ? "word" : "token") << (unknown > 1 ? "s" : "") << " read as <unk>\n";
      } catch (const std::invalid_argument& e) {
        // One bad line does not stop the others.
        std::cerr << in.name() << ":" << in.number() << ": error: " << e.what() << "\n";
        pending.push_back({sentence, false});
        ++failures;
      }
      if (static_cast<Index>(pending.size()) >= opt.batch_size) flush();
    }
  }
  flush();
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
        tgt.push_back(encode_target(b, target));
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
    const std::vector<double> s = score(*b.model, batch, ws);
    for (std::size_t k = 0; k < idx.size(); ++k) scores[idx[k]] = s[k];
  }
  for (double s : scores) std::cout << fixed(s, 4) << "\n";
  return 0;
}

}  // namespace toy

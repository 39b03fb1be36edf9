// toy_translation: BLEU, exact match and perplexity of a model on a set of pairs (evaluation.hpp).
#include "evaluation.hpp"

#include "model_ops.hpp"
#include "reporting.hpp"
#include "text.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>
#include <stdexcept>

namespace toy {

EvalResult evaluate(const Bundle& b, const std::vector<Pair>& pairs, std::size_t beam, std::size_t batch_size,
                    std::size_t max_sentences) {
  const Model& model = *b.model;
  EvalResult r;
  // Perplexity, teacher-forced over every pair.
  seq2seq::PairBatch all;
  for (const Pair& p : pairs) {
    const auto s = tokens_of(*b.source_tokenizer, p.source), t = tokens_of(*b.target_tokenizer, p.target);
    if (s.empty() || t.empty() ||
        (b.config.max_length > 0 && (static_cast<Index>(s.size()) > b.config.max_length || static_cast<Index>(t.size()) > b.config.max_length))) {
      ++r.skipped;
      continue;
    }
    all.source.push_back(b.source.encode(s));
    all.target.push_back(b.target.encode(t));
  }
  if (all.size() == 0) throw std::runtime_error("no evaluation pair fits the model's length limit");
  Model::Workspace ws;
  double nll = 0;
  for (const auto& idx : seq2seq::inference_batches(all.source, batch_size)) {
    check_stop_signal();
    seq2seq::PairBatch batch;
    for (std::size_t i : idx) {
      batch.source.push_back(all.source[i]);
      batch.target.push_back(all.target[i]);
    }
    const seq2seq::LossStats ls = evaluate_loss(model, batch, ws);
    nll += ls.nll;
    r.tokens += static_cast<std::size_t>(ls.tokens);
  }
  r.pairs = all.size();
  r.perplexity = std::exp(nll / static_cast<double>(r.tokens));
  r.nll_per_pair = nll / static_cast<double>(r.pairs);

  // BLEU and exact match over distinct sources.
  std::vector<seq2seq::ReferenceGroup> groups = seq2seq::group_references(pairs);
  if (max_sentences > 0 && groups.size() > max_sentences) groups.resize(max_sentences);
  std::vector<Sentence> inputs;
  std::vector<std::size_t> group_of;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto s = tokens_of(*b.source_tokenizer, groups[g].source);
    if (s.empty() || (b.config.max_length > 0 && static_cast<Index>(s.size()) > b.config.max_length)) continue;
    inputs.push_back(b.source.encode(s));
    group_of.push_back(g);
  }
  std::vector<Sentence> outputs(inputs.size());
  Model::DecodeWorkspace dws;
  seq2seq::DecodeOptions opt;
  opt.beam = static_cast<Index>(std::max<std::size_t>(beam, 1));
  opt.batch_size = static_cast<Index>(batch_size);
  opt.shortlist = b.shortlist.get();
  for (const auto& idx : seq2seq::inference_batches(inputs, batch_size)) {
    check_stop_signal();
    std::vector<Sentence> chunk;
    for (std::size_t i : idx) chunk.push_back(inputs[i]);
    if (beam <= 1) {
      const std::vector<Sentence> out = translate_greedy(model, chunk, dws, opt.shortlist);
      for (std::size_t k = 0; k < idx.size(); ++k) outputs[idx[k]] = out[k];
    } else {  // beam search of the whole chunk at once
      const std::vector<std::vector<seq2seq::Hypothesis>> out = translate(model, chunk, opt, dws);
      for (std::size_t k = 0; k < idx.size(); ++k) outputs[idx[k]] = out[k].front().tokens;
    }
  }
  // BLEU on text: the hypothesis detokenized, then hypothesis and references split the same way.
  r.cased = b.target_tokenizer->keeps_case();
  seq2seq::BleuStats stats, cased_stats;
  std::size_t exact = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const seq2seq::ReferenceGroup& g = groups[group_of[i]];
    const std::vector<std::string> tokens = b.target.decode(outputs[i]);
    const std::string text = b.target_tokenizer->decode(tokens);
    std::vector<std::vector<std::string>> refs, cased_refs;
    for (const std::string& t : g.targets) {
      refs.push_back(bleu_tokens(t, false));
      if (r.cased) cased_refs.push_back(bleu_tokens(t, true));
    }
    const std::vector<std::string> hyp = bleu_tokens(text, false);
    const std::vector<std::string> cased_hyp = r.cased ? bleu_tokens(text, true) : hyp;
    bool match = false;
    for (const auto& ref : r.cased ? cased_refs : refs) match = match || ref == cased_hyp;
    exact += match ? 1 : 0;
    stats.add(hyp, refs);
    if (r.cased) cased_stats.add(cased_hyp, cased_refs);
    r.sources.push_back(g.source);
    r.hypotheses.push_back(text);
    r.tokenized.push_back(seq2seq::detokenize(tokens));
    r.references.push_back(g.targets);
  }
  r.sentences = inputs.size();
  if (r.sentences == 0) throw std::runtime_error("no evaluation sentence fits the model's length limit");
  r.bleu = stats.result();
  if (r.cased) r.cased_bleu = cased_stats.result();
  r.exact = static_cast<double>(exact) / static_cast<double>(r.sentences);
  return r;
}

std::string describe_eval(const EvalResult& r) {
  std::ostringstream os;
  os << "BLEU " << fixed(r.bleu.bleu, 2) << " (" << fixed(r.bleu.precisions[0], 1) << "/" << fixed(r.bleu.precisions[1], 1)
     << "/" << fixed(r.bleu.precisions[2], 1) << "/" << fixed(r.bleu.precisions[3], 1) << ", BP "
     << fixed(r.bleu.brevity_penalty, 3) << ")";
  if (r.cased) os << ", cased BLEU " << fixed(r.cased_bleu.bleu, 2);
  os << ", exact match " << fixed(100.0 * r.exact, 1) << "% of " << r.sentences
     << " sentences, perplexity " << fixed(r.perplexity, 3) << " over " << r.tokens << " target tokens";
  if (r.skipped) os << " (" << r.skipped << " pairs over the length limit skipped)";
  return os.str();
}

void print_samples(std::ostream& out, const EvalResult& r, std::size_t n) {
  for (std::size_t i = 0; i < std::min(n, r.sources.size()); ++i) {
    bool ok = false;
    for (const std::string& ref : r.references[i]) ok = ok || bleu_tokens(ref, r.cased) == bleu_tokens(r.hypotheses[i], r.cased);
    out << "  source:    " << r.sources[i] << "\n"
        << "  reference: " << r.references[i].front()
        << (r.references[i].size() > 1 ? "  (+" + std::to_string(r.references[i].size() - 1) + " more)" : "") << "\n"
        << "  output:    " << r.hypotheses[i] << (ok ? "   [exact]" : "") << "\n";
  }
}

}  // namespace toy

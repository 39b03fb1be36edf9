// toy_translation: every call the commands make into a trained model's inference code (encoding,
// scoring, perplexity, greedy and beam search, sampling), compiled once, in model_ops.cpp. The
// library is header-only, so each file that called Model::translate itself would compile the
// whole search, the LSTM cells and Eigen's products again; here the commands only see these
// declarations (training is compiled once too, in train_command.cpp, and the build compiles the
// two files as one unity group, so the cells and products they share are compiled once).
#ifndef TOY_TRANSLATION_MODEL_OPS_HPP
#define TOY_TRANSLATION_MODEL_OPS_HPP

#include "app.hpp"
#include "model_type.hpp"

#include <vector>

namespace toy {

/// Model::translate of a list: batched beam search (or sampling), per source up to nbest
/// hypotheses, best first.
std::vector<std::vector<seq2seq::Hypothesis>> translate(const Model& model, const std::vector<Sentence>& sources,
                                                        const seq2seq::DecodeOptions& opt, Model::DecodeWorkspace& ws);
/// Model::translate_greedy: the arg-max of the logits at each step, no length limit beyond the model's.
std::vector<Sentence> translate_greedy(const Model& model, const std::vector<Sentence>& sources, Model::DecodeWorkspace& ws,
                                       const seq2seq::Shortlist* shortlist);
/// Model::score: log p(target | source) of each pair.
std::vector<double> score(const Model& model, const seq2seq::PairBatch& batch, Model::Workspace& ws);
/// Model::evaluate: the summed NLL and target tokens of a batch, teacher-forced.
seq2seq::LossStats evaluate_loss(const Model& model, const seq2seq::PairBatch& batch, Model::Workspace& ws);
/// Model::encode of one source: the paper's v (every layer's final h and c, one column each).
void encode(const Model& model, const Sentence& source, Model::Workspace& ws, Model::State& v);
/// Model::set_precision (the decoding copies of the weights in `p`).
void set_precision(Model& model, seq2seq::Precision p);

}  // namespace toy

#endif  // TOY_TRANSLATION_MODEL_OPS_HPP

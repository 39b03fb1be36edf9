// toy_translation: the model's inference code, instantiated in this one file (model_ops.hpp).
#include "model_ops.hpp"

namespace toy {

std::vector<std::vector<seq2seq::Hypothesis>> translate(const Model& model, const std::vector<Sentence>& sources,
                                                        const seq2seq::DecodeOptions& opt, Model::DecodeWorkspace& ws) {
  return model.translate(sources, opt, ws);
}

std::vector<Sentence> translate_greedy(const Model& model, const std::vector<Sentence>& sources, Model::DecodeWorkspace& ws,
                                       const seq2seq::Shortlist* shortlist) {
  return model.translate_greedy(sources, ws, 0, shortlist);
}

std::vector<double> score(const Model& model, const seq2seq::PairBatch& batch, Model::Workspace& ws) {
  return model.score(batch, ws);
}

seq2seq::LossStats evaluate_loss(const Model& model, const seq2seq::PairBatch& batch, Model::Workspace& ws) {
  return model.evaluate(batch, ws);
}

void encode(const Model& model, const Sentence& source, Model::Workspace& ws, Model::State& v) {
  model.encode({source}, ws.encoder, v);
}

void set_precision(Model& model, seq2seq::Precision p) { model.set_precision(p); }

}  // namespace toy

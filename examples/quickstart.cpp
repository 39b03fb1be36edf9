// quickstart: a 2-layer LSTM encoder-decoder learns to reverse short sequences of word ids.
#include <seq2seq/optim/adam.hpp>
#include <seq2seq/seq2seq.hpp>
#include <seq2seq/train.hpp>

#include <iostream>

int main() {
  using Stack = seq2seq::StackedLSTM<seq2seq::LSTMCell<float, 32>, 2>;  // 2 layers of 32 cells, 32-d input
  using Model = seq2seq::Seq2Seq<seq2seq::Encoder<Stack>, seq2seq::Decoder<Stack>>;
  Model model(seq2seq::ModelConfig{10, 10, 32, 32, 2});  // vocabularies 10 and 10, embed, hidden, layers
  seq2seq::Rng rng(42);
  seq2seq::init_uniform(model, rng);  // U(-0.08, 0.08), as in the paper
  // Ids 0-3 are <pad> <unk> <s> <EOS>; words start at 4. Targets are the sources reversed.
  seq2seq::PairBatch batch{{{4, 5, 6}, {7, 8, 9}, {5, 9}}, {{6, 5, 4}, {9, 8, 7}, {9, 5}}};
  seq2seq::Optimizer<seq2seq::Adam, float> adam;
  seq2seq::Trainer<Model, seq2seq::Adam> trainer(model, adam);  // clips the gradient norm at 5
  for (int step = 0; step < 300; ++step) trainer.step(batch, /*learning rate=*/0.01);
  const seq2seq::Hypothesis best = model.translate({4, 5, 6}).front();  // beam 1 = greedy
  for (seq2seq::TokenId id : best.tokens) std::cout << id << ' ';
  std::cout << "\nlog p(6 5 4 | 4 5 6) = " << model.score({4, 5, 6}, {6, 5, 4}) << '\n';
}

// toy_translation: train, evaluate and use a sequence-to-sequence translator (Sutskever, Vinyals &
// Le 2014) built on the seq2seq library, on a built-in toy language pair or on your own corpus.
//
//   toy_translation train     [--out DIR] [--data FILE] [--time-budget S] [--resume] ...
//   toy_translation eval      [--model DIR] [--test FILE] [--beam K] [--precision float|bf16|int8] [--shortlist]
//   toy_translation translate [--model DIR] [FILE...] [--beam K] [--nbest N] [--precision P] [--shortlist]
//                             [--sample --temperature T --top-k K --seed S]   (stdin without FILE)
//   toy_translation score     [--model DIR] [FILE...]        lines "source<TAB>target" -> log p
//   toy_translation pca       [--model DIR] [--input FILE] [--svg OUT]   sentence vectors, 2-D PCA
//   toy_translation corpus    [--output FILE]                the built-in corpus as TSV
//
// The built-in corpus is English -> Zuvi, a made-up head-final language (grammar: toy_corpus.hpp
// and README.md). The model sizes (--embed, --hidden, --layers) are chosen at run time: the
// program uses one instantiation, LSTMCell<float, Dynamic, Dynamic> in StackedLSTM<Cell, Dynamic>.
//
// Files: main.cpp (this), command_line.cpp (the options), <command>_command.cpp (one per command),
// settings (what a run is told), run_files (checkpoints, log, curve), evaluation (BLEU, exact
// match, perplexity), text (input lines, text <-> ids), reporting (progress, formats), parallel
// (one process or several under mpirun), svg.hpp and toy_corpus.hpp. Training itself is the
// library's loop (seq2seq/train.hpp).
//
// A training run writes into --out DIR:
//   model.safetensors         the best model so far (lowest validation perplexity), with its
//                             configuration, both vocabularies and the training settings as JSON
//                             strings in the safetensors metadata;
//   last.safetensors, last.state.safetensors
//                             the latest model and the optimizer/step/RNG/data-position state,
//                             written after every epoch, when training stops and on Ctrl-C;
//                             `train --resume --out DIR` continues from them;
//   train_log.csv             one row per log interval (train) and per validation (valid);
//   learning_curve.svg        training and validation perplexity against epochs.
//
// Exit status: 0 success; 1 an error (message on stderr); 2 a command-line error; 130 training
// interrupted by Ctrl-C (SIGINT) or SIGTERM after saving a checkpoint.
//
// Built with -DSEQ2SEQ_MPI=ON, `mpirun -np N toy_translation train ...` trains data-parallel with
// the same command line (seq2seq/distributed/mpi.hpp): every process builds the same batches,
// trains on its slice of each and all-reduces the gradients, so the N processes take the steps
// one process would take; rank 0 alone prints, validates and writes files. Started without
// mpirun, such a build never initialises MPI and behaves as the plain one.
#include "commands.hpp"
#include "parallel.hpp"

int main(int argc, char** argv) { return toy::run_processes(argc, argv, toy::run_command_line); }

// toy_translation: the command line (CLI11): every command's options, checked and handed to its
// run_* function (commands.hpp); errors become the exit status main.cpp documents.
#include "app.hpp"
#include "commands.hpp"
#include "parallel.hpp"
#include "settings.hpp"

#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <seq2seq/bf16_products.hpp>

#include <cstdint>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace toy {

namespace {

int run(int argc, char** argv) {
  CLI::App app{"toy_translation: sequence-to-sequence translation (Sutskever et al. 2014) with the seq2seq library.\n"
               "Trains on a built-in English -> Zuvi corpus or on your own source<TAB>target file."};
  app.set_version_flag("--version", version_string());
  app.require_subcommand(1);
  // A flag given twice takes its last value, so a script can override its own defaults.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  const auto versioned = [](CLI::App* sub) {
    sub->set_version_flag("--version", version_string());
    return sub;
  };

  // --- train ---
  TrainRequest req;
  TrainSettings& ts = req.settings;
  std::map<std::string, CLI::Option*> train_opts;
  CLI::App* train = versioned(app.add_subcommand("train", "Train a model (progress on stderr; Ctrl-C saves a checkpoint)"));
  std::string preset = "toy";
  std::uint64_t max_vocab = 0;
  bool no_reverse = false;
  train_opts["--preset"] = train->add_option("--preset", preset, "toy (the defaults below) or paper (4x1000 cells, 1000-d embeddings, batch 128, beam 12, ...)")
                               ->check(CLI::IsMember({"toy", "paper"}))
                               ->capture_default_str();
  train_opts["--out"] = train->add_option("--out", req.out, "Directory for checkpoints, log and learning curve")->capture_default_str();
  train_opts["--data"] = train->add_option("--data", ts.data.data, "TSV corpus source<TAB>target[<TAB>...] (default: built-in corpus)");
  train_opts["--valid"] = train->add_option("--valid", ts.data.valid, "Validation TSV (default: held out from the corpus)");
  train_opts["--test"] = train->add_option("--test", ts.data.test, "Test TSV (default: held out from the corpus)");
  train_opts["--pairs"] = train->add_option("--pairs", ts.data.pairs, "Size of the built-in corpus")->check(CLI::Range(std::uint64_t{100}, std::uint64_t{10000000}))->capture_default_str();
  train_opts["--valid-fraction"] = train->add_option("--valid-fraction", ts.data.valid_fraction, "Share of distinct sources held out for validation")->check(CLI::Range(0.0, 0.5))->capture_default_str();
  train_opts["--test-fraction"] = train->add_option("--test-fraction", ts.data.test_fraction, "Share of distinct sources held out for test")->check(CLI::Range(0.0, 0.5))->capture_default_str();
  train_opts["--max-vocab"] = train->add_option("--max-vocab", max_vocab, "Most tokens per vocabulary, special tokens included (0 = all)")->capture_default_str();
  train_opts["--min-count"] = train->add_option("--min-count", ts.data.min_count, "Words seen fewer times become <unk>")->capture_default_str();
  train_opts["--subwords"] = train->add_option("--subwords", ts.data.subwords, "SentencePiece subwords: N pieces per side, trained on the training split, cased (0 = lower-cased words)")->capture_default_str();
  train_opts["--subwords-joint"] = train->add_flag("--subwords-joint", ts.data.subwords_joint, "One SentencePiece model of --subwords pieces for both sides");
  train_opts["--subword-alpha"] = train->add_option("--subword-alpha", ts.subword_alpha, "Subword regularisation: train each epoch on a new sampled segmentation (bpe: merge-dropout probability, 0.1 usual; unigram: smoothing, 0.1-0.5; 0 = off)")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  train_opts["--precision"] = train->add_option("--precision", ts.precision, "Operands of the training step's matrix products: float, or bf16 (rounded to bfloat16, sums and weights in float; oneDNN backend, AVX512_BF16 CPUs)")->check(CLI::IsMember({"float", "bf16"}))->capture_default_str();
  train_opts["--subword-type"] = train->add_option("--subword-type", ts.data.subword_type, "SentencePiece model: unigram or bpe")->check(CLI::IsMember({"unigram", "bpe"}))->capture_default_str();
  train_opts["--max-length"] = train->add_option("--max-length", ts.data.max_length, "Longest sentence in words (longer training pairs are dropped)")->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100000}))->capture_default_str();
  train_opts["--embed"] = train->add_option("--embed", ts.embed, "Word embedding size")->check(CLI::Range(Index{1}, Index{100000}))->capture_default_str();
  train_opts["--hidden"] = train->add_option("--hidden", ts.hidden, "LSTM cells per layer")->check(CLI::Range(Index{1}, Index{100000}))->capture_default_str();
  train_opts["--layers"] = train->add_option("--layers", ts.layers, "LSTM layers of the encoder and of the decoder")->check(CLI::Range(Index{1}, Index{64}))->capture_default_str();
  train_opts["--no-reverse"] = train->add_flag("--no-reverse", no_reverse, "Read the source in order (the paper reverses it)");
  train_opts["--optimizer"] = train->add_option("--optimizer", ts.optimizer, "sgd, momentum, adam or adagrad")->check(CLI::IsMember({"sgd", "momentum", "adam", "adagrad"}))->capture_default_str();
  train_opts["--lr"] = train->add_option("--lr", ts.lr, "Learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  train_opts["--schedule"] = train->add_option("--schedule", ts.schedule, "constant, or paper (halve every half epoch after epoch 5)")->check(CLI::IsMember({"constant", "paper"}))->capture_default_str();
  train_opts["--batch"] = train->add_option("--batch", ts.batch, "Sentence pairs per batch")->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100000}))->capture_default_str();
  train_opts["--clip"] = train->add_option("--clip", ts.clip, "Clip the global gradient norm at this value (0 = off)")->check(CLI::NonNegativeNumber)->capture_default_str();
  train_opts["--init"] = train->add_option("--init", ts.init, "Initialise every parameter uniform in [-init, init]")->check(CLI::PositiveNumber)->capture_default_str();
  train_opts["--forget-bias"] = train->add_option("--forget-bias", ts.forget_bias, "Initial forget-gate bias")->capture_default_str();
  train_opts["--epochs"] = train->add_option("--epochs", ts.epochs, "Epochs to train (may be fractional)")->check(CLI::PositiveNumber)->capture_default_str();
  train_opts["--time-budget"] = train->add_option("--time-budget", req.time_budget, "Stop training after this many seconds (0 = no limit)")->check(CLI::NonNegativeNumber)->capture_default_str();
  train_opts["--seed"] = train->add_option("--seed", ts.seed, "Seed of initialisation and batch order")->capture_default_str();
  train_opts["--beam"] = train->add_option("--beam", ts.beam, "Beam size of the final test evaluation (and the model's default)")->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000}))->capture_default_str();
  train_opts["--dropout"] = train->add_option("--dropout", ts.dropout, "Dropout rate on the non-recurrent connections (Zaremba et al. 2014; 0 = off)")->check(CLI::Range(0.0, 0.95))->capture_default_str();
  train_opts["--keep"] = train->add_option("--keep", ts.keep, "What model.safetensors holds: last, best (by --valid-metric) or average (of the last --average epochs)")->check(CLI::IsMember({"last", "best", "average"}))->capture_default_str();
  train_opts["--average"] = train->add_option("--average", ts.average, "Epoch-end checkpoints averaged by --keep average")->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000}))->capture_default_str();
  train_opts["--valid-metric"] = train->add_option("--valid-metric", ts.valid_metric, "What --keep best and --patience compare: ppl (validation perplexity) or bleu (greedy validation BLEU)")->check(CLI::IsMember({"ppl", "bleu"}))->capture_default_str();
  train_opts["--patience"] = train->add_option("--patience", ts.patience, "Stop after this many validations without a better --valid-metric (0 = never)")->capture_default_str();
  train_opts["--bucket-batches"] = train->add_option("--bucket-batches", ts.bucket_batches, "Batches per length-sorting window (0 = the whole corpus)")->capture_default_str();
  train_opts["--sort-key"] = train->add_option("--sort-key", ts.sort_key, "What a window is sorted by: source (its length; ties random) or pair (source, then target length)")->check(CLI::IsMember({"source", "pair"}))->capture_default_str();
  train_opts["--threads"] = train->add_option("--threads", req.threads, "Threads of the matrix products, Eigen's or oneDNN's (0 = OpenMP's default; more pay only for large models)")->capture_default_str();
  train_opts["--log-every"] = train->add_option("--log-every", req.log_every, "Steps between log lines")->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000000}))->capture_default_str();
  train_opts["--show"] = train->add_option("--show", req.show, "Test translations printed at the end")->capture_default_str();
  train_opts["--resume"] = train->add_flag("--resume", req.resume, "Continue the run in --out from its last checkpoint");
  train_opts["--overwrite"] = train->add_flag("--overwrite", req.overwrite, "Start a new run even if --out holds one");
  train_opts["--quiet"] = train->add_flag("--quiet", req.quiet, "No progress bar and no per-step lines");
  train_opts["--shortlist-k"] = train->add_option("--shortlist-k", req.shortlist_k, "Target words kept per source word in the shortlist stored with the model (0 = no shortlist)")->check(CLI::Range(std::int64_t{0}, std::int64_t{1000000}))->capture_default_str();
  train_opts["--shortlist-frequent"] = train->add_option("--shortlist-frequent", req.shortlist_frequent, "Most frequent target words the shortlist keeps for every sentence")->check(CLI::Range(std::int64_t{0}, std::int64_t{1000000}))->capture_default_str();
  train_opts["--resume"]->excludes(train_opts["--overwrite"]);

  // --- decoding flags of eval and translate ---
  DecodeFlags decode;
  const auto add_decode_flags = [&](CLI::App* sub) {
    sub->add_option("--precision", decode.precision, "Weights of the matrix products: float, bf16 or int8")->check(CLI::IsMember({"float", "bf16", "int8"}))->capture_default_str();
    sub->add_flag("--shortlist", decode.shortlist, "Softmax over the shortlist stored with the model only (train --shortlist-k)");
    sub->add_option("--shortlist-file", decode.shortlist_file, "Softmax over the shortlist in this file only (seq2seq shortlist text form)");
    sub->add_option("--batch", decode.batch, "Sentences translated together")->check(CLI::Range(std::size_t{1}, std::size_t{100000}))->capture_default_str();
  };

  // --- eval ---
  std::string model_path = "toy_run", eval_data, eval_test, eval_output;
  std::size_t beam = 1, show = 5, nbest = 1, batch_size = 64;
  CLI::App* eval = versioned(app.add_subcommand("eval", "BLEU (multi-reference), exact match and perplexity on a test set"));
  eval->add_option("--model", model_path, "Run directory or checkpoint file")->capture_default_str();
  eval->add_option("--test", eval_test, "Test TSV (default: the model's own test split)");
  eval->add_option("--data", eval_data, "Evaluate on every pair of this TSV");
  CLI::Option* eval_beam = eval->add_option("--beam", beam, "Beam size (default: the model's, 1 = greedy)")->check(CLI::Range(std::size_t{1}, std::size_t{1000}));
  eval->add_option("--show", show, "Translations printed")->capture_default_str();
  eval->add_option("--output", eval_output, "Write every translation to this file (detokenized text)");
  bool tokenized = false;
  eval->add_flag("--tokenized", tokenized, "--output holds the tokens joined by spaces, not detokenized text");
  add_decode_flags(eval);

  // --- translate ---
  std::vector<std::string> files;
  double alpha = 0;
  bool show_scores = false;
  CLI::App* translate = versioned(app.add_subcommand("translate", "Translate lines of FILEs or of stdin"));
  translate->add_option("--model", model_path, "Run directory or checkpoint file")->capture_default_str();
  translate->add_option("files", files, "Input files, one sentence per line (default or '-': stdin)");
  CLI::Option* tr_beam = translate->add_option("--beam", beam, "Beam size (default: the model's, 1 = greedy)")->check(CLI::Range(std::size_t{1}, std::size_t{1000}));
  translate->add_option("--nbest", nbest, "Translations per sentence (at most the beam)")->check(CLI::Range(std::size_t{1}, std::size_t{1000}))->capture_default_str();
  translate->add_option("--length-alpha", alpha, "Rank by log p / (words + 1)^alpha (0 = the paper: none)")->check(CLI::NonNegativeNumber)->capture_default_str();
  translate->add_flag("--scores", show_scores, "Print 'line<TAB>rank<TAB>log p<TAB>translation'");
  add_decode_flags(translate);
  translate->add_flag("--sample", decode.sample, "Draw --nbest translations per line instead of searching (back-translation)");
  translate->add_option("--temperature", decode.temperature, "Sampling: p^(1/T)")->check(CLI::PositiveNumber)->capture_default_str();
  translate->add_option("--top-k", decode.top_k, "Sampling: only the k most likely words (0 = all)")->capture_default_str();
  translate->add_option("--seed", decode.seed, "Sampling: the same seed, the same draws")->capture_default_str();
  translate->add_flag("--tokenized", tokenized, "Print the tokens joined by spaces, not detokenized text");

  // --- score ---
  CLI::App* score = versioned(app.add_subcommand("score", "Print log p(target | source) for lines 'source<TAB>target'"));
  score->add_option("--model", model_path, "Run directory or checkpoint file")->capture_default_str();
  score->add_option("files", files, "Input files (default or '-': stdin)");
  score->add_option("--batch", batch_size, "Pairs scored together")->check(CLI::Range(std::size_t{1}, std::size_t{100000}))->capture_default_str();

  // --- pca ---
  std::string pca_input, pca_svg = "sentence_vectors.svg", pca_state = "all";
  CLI::App* pca = versioned(app.add_subcommand("pca", "2-D PCA of the encoder's sentence vectors as an SVG picture (the paper's Figure 2)"));
  pca->add_option("--model", model_path, "Run directory or checkpoint file")->capture_default_str();
  pca->add_option("--input", pca_input, "Sentences, one per line, optionally '<TAB>group' (default: built-in examples)");
  pca->add_option("--svg", pca_svg, "Output picture")->capture_default_str();
  pca->add_option("--state", pca_state, "all: every layer's h and c (the paper's v); top: the top layer's h")->check(CLI::IsMember({"all", "top"}))->capture_default_str();

  // --- corpus ---
  DataSpec corpus_spec;
  std::string corpus_output, corpus_part = "all";
  CLI::App* corpus = versioned(app.add_subcommand("corpus", "Write the built-in English -> Zuvi corpus as TSV"));
  corpus->add_option("--pairs", corpus_spec.pairs, "Number of pairs")->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10000000}))->capture_default_str();
  corpus->add_option("--corpus-seed", corpus_spec.corpus_seed, "Generator seed")->capture_default_str();
  corpus->add_option("--part", corpus_part, "all, or the train/valid/test split that train uses")->check(CLI::IsMember({"all", "train", "valid", "test"}))->capture_default_str();
  corpus->add_option("--output", corpus_output, "Output file (default: stdout)");
  train_opts["--corpus-seed"] = train->add_option("--corpus-seed", ts.data.corpus_seed, "Seed of the built-in corpus")->capture_default_str();

  // --- average ---
  std::string average_out;
  std::vector<std::string> average_inputs;
  CLI::App* average = versioned(app.add_subcommand("average", "Average the parameters of model files of one run (checkpoint averaging)"));
  average->add_option("--out", average_out, "The averaged model file")->required();
  average->add_option("models", average_inputs, "Model files or run directories (model.safetensors)")->required();

  Eigen::setNbThreads(1);  // inference on one sentence or a small batch: see TrainRequest::threads
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* sub : {train, eval, translate, score, pca, corpus, average}) known = known || sub->get_name() == argv[1];
    if (!known)
      throw UsageError(std::string("unknown command '") + argv[1] + "' (train, eval, translate, score, pca or corpus; see --help)");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every command-line error exits 2.
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (!train->parsed() && !is_root()) return 0;  // under mpirun only `train` is shared; rank 0 runs the others
  if (train->parsed()) {
    std::map<std::string, bool> given;
    for (const auto& [name, opt] : train_opts) given[name] = opt->count() > 0;
    if (preset == "paper") {
      // The preset first, then every flag given explicitly on top of it.
      TrainSettings explicit_values = ts;
      apply_paper_preset(ts);
      const auto keep = [&](const char* flag, auto member) {
        if (given[flag]) ts.*member = explicit_values.*member;
      };
      keep("--embed", &TrainSettings::embed);
      keep("--hidden", &TrainSettings::hidden);
      keep("--layers", &TrainSettings::layers);
      keep("--optimizer", &TrainSettings::optimizer);
      keep("--lr", &TrainSettings::lr);
      keep("--schedule", &TrainSettings::schedule);
      keep("--batch", &TrainSettings::batch);
      keep("--clip", &TrainSettings::clip);
      keep("--init", &TrainSettings::init);
      keep("--forget-bias", &TrainSettings::forget_bias);
      keep("--epochs", &TrainSettings::epochs);
      keep("--beam", &TrainSettings::beam);
    }
    if (given["--max-vocab"]) ts.data.max_source_vocab = ts.data.max_target_vocab = max_vocab;
    if (!req.resume && !ts.validates() && (ts.keep == "best" || ts.patience > 0))
      throw UsageError(std::string(ts.keep == "best" ? "--keep best" : "--patience") +
                       " needs a validation set (--valid FILE or --valid-fraction above 0)");
    if (ts.data.subwords_joint && ts.data.subwords == 0) throw UsageError("--subwords-joint needs --subwords N");
    if (ts.subword_alpha > 0 && ts.data.subwords == 0) throw UsageError("--subword-alpha samples subwords: it needs --subwords N");
    if (ts.precision == "bf16" && !seq2seq::bf16_products_available())
      throw UsageError("--precision bf16 needs " + seq2seq::bf16_products_unavailable_reason());
    if (ts.data.subwords != 0 && ts.data.subwords < 8) throw UsageError("--subwords must be 0 (words) or at least 8 pieces");
    if (ts.data.subwords != 0 && given["--max-vocab"])
      throw UsageError("--max-vocab is for word vocabularies; with --subwords the vocabulary is the N pieces");
    if (max_vocab != 0 && max_vocab < 5) throw UsageError("--max-vocab must be 0 (no limit) or more than the 4 special tokens");
    ts.reverse = !no_reverse;
    Eigen::setNbThreads(static_cast<int>(req.threads));  // 0: OpenMP's default
    return run_train(req, given);
  }
  if (eval->parsed()) return run_eval(model_path, eval_data, eval_test, beam, eval_beam->count() > 0, show, eval_output, tokenized, decode);
  if (translate->parsed()) return run_translate(model_path, files, beam, tr_beam->count() > 0, nbest, alpha, show_scores, tokenized, decode);
  if (score->parsed()) return run_score(model_path, files, batch_size);
  if (pca->parsed()) return run_pca(model_path, pca_input, pca_svg, pca_state);
  if (corpus->parsed()) return run_corpus(corpus_spec, corpus_output, corpus_part);
  if (average->parsed()) return run_average(average_out, average_inputs);
  return 2;
}

}  // namespace

int run_command_line(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    // The same command line on every rank: the same error everywhere, no rank left waiting.
    std::cerr << kProgram << ": " << e.what() << "\n";
    return 2;
  } catch (const Interrupted&) {
    std::cerr << kProgram << ": interrupted\n";
    return 130;
  } catch (const std::exception& e) {
    return fail(1, std::string(kProgram) + ": error: " + e.what());
  }
}

}  // namespace toy

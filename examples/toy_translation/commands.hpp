// toy_translation: the seven commands, one function each (main.cpp parses the command line and
// calls them; each lives in <command>_command.cpp).
#ifndef TOY_TRANSLATION_COMMANDS_HPP
#define TOY_TRANSLATION_COMMANDS_HPP

#include "settings.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace toy {

struct LogRow;  // one row of train_log.csv (run_files.hpp)

/// What `train` is asked to do: the settings of the run plus how this invocation runs.
struct TrainRequest {
  TrainSettings settings;
  std::string out = "toy_run";
  bool resume = false, overwrite = false, quiet = false;
  double time_budget = 0;   // seconds of training in this invocation; 0 = none
  // One thread by default: the toy model's products (128 x 32 columns) are too small for
  // Eigen's OpenMP split to pay, and on a busy machine its spinning threads slow training 10x.
  std::size_t threads = 1;
  std::int64_t log_every = 50;
  std::size_t show = 5;     // test translations printed at the end
  // The target-vocabulary shortlist learned from the training pairs and stored with the model
  // (seq2seq::Shortlist::learn); k = 0: none.
  std::int64_t shortlist_k = 20, shortlist_frequent = 100;
  // Called with every row train_log.csv gets (training rows every log_every steps, validation rows
  // after each validation); returning false stops the run as Ctrl-C does, after saving a checkpoint.
  // The command line leaves it empty; the Python module's progress callback goes here.
  std::function<bool(const LogRow&)> on_log;
};

/// How eval and translate decode (besides the beam): the weights' precision, the shortlist,
/// the lines translated together and sampling (translate only).
struct DecodeFlags {
  std::string precision = "float";  // float, bf16 or int8 (Seq2Seq::set_precision)
  bool shortlist = false;           // the shortlist stored with the model (train --shortlist-k)
  std::string shortlist_file;       // or one from a file (seq2seq::Shortlist's text form)
  std::size_t batch = 64;           // sentences decoded together
  bool sample = false;              // draw --nbest translations instead of searching
  double temperature = 1.0;
  std::size_t top_k = 0;
  std::uint64_t seed = 0;
};

/// The program: parses the command line, runs the command, returns the exit status (0, 1 an
/// error, 2 a command-line error, 130 interrupted); prints errors on stderr (command_line.cpp).
int run_command_line(int argc, char** argv);

/// `given` says which flags were on the command line (a resumed run refuses changes to them).
int run_train(const TrainRequest& req, const std::map<std::string, bool>& given);
/// `tokenized`: --output holds the tokens joined by spaces instead of detokenized text.
int run_eval(const std::string& model_path, const std::string& data, const std::string& test, std::size_t beam,
             bool beam_given, std::size_t show, const std::string& output, bool tokenized, const DecodeFlags& decode = {});
/// `tokenized`: print the tokens joined by spaces instead of detokenized text.
int run_translate(const std::string& model_path, const std::vector<std::string>& inputs, std::size_t beam, bool beam_given,
                  std::size_t nbest, double alpha, bool show_scores, bool tokenized, const DecodeFlags& decode = {});
int run_score(const std::string& model_path, const std::vector<std::string>& inputs, std::size_t batch_size);
int run_pca(const std::string& model_path, const std::string& input, const std::string& svg, const std::string& state_kind);
int run_corpus(const DataSpec& d, const std::string& output, const std::string& part);
int run_average(const std::string& out, const std::vector<std::string>& inputs);

}  // namespace toy

#endif  // TOY_TRANSLATION_COMMANDS_HPP

// toy_translation: what every file of the program shares: the names of the files a run writes,
// the program's errors and the Ctrl-C flag. It includes no model (only config.hpp's Eigen/Core):
// the files that hold a model include model_type.hpp, and only train_command.cpp and
// model_ops.cpp run one.
#ifndef TOY_TRANSLATION_APP_HPP
#define TOY_TRANSLATION_APP_HPP

#include <seq2seq/config.hpp>
#include <seq2seq/data/corpus.hpp>
#include <seq2seq/data/types.hpp>

#include <csignal>
#include <signal.h>
#include <stdexcept>
#include <string>

namespace toy {

using seq2seq::Index;
using seq2seq::Pair;
using seq2seq::Sentence;

inline constexpr const char* kProgram = "toy_translation";
inline constexpr const char* kBestFile = "model.safetensors";
inline constexpr const char* kLastFile = "last.safetensors";
inline constexpr const char* kStateFile = "last.state.safetensors";
inline constexpr const char* kLogFile = "train_log.csv";
inline constexpr const char* kCurveFile = "learning_curve.svg";

inline std::string version_string() {
  return std::string(kProgram) + " (seq2seq " SEQ2SEQ_VERSION_STRING ", products: " + seq2seq::gemm_backend() + ")";
}

/// `text` written to `path` atomically (io::write_file_atomic: a temporary file, then a rename).
void write_text_file(const std::string& path, const std::string& text);

/// An error in how the program was called (exit status 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Ctrl-C or SIGTERM during a long evaluation (exit status 130).
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

// Ctrl-C: the handler only sets a flag; the training loop checks it between batches, saves a
// checkpoint and returns. A second Ctrl-C kills the program at once.
extern volatile std::sig_atomic_t g_stop_signal;

/// Installs the stop handler for SIGINT and SIGTERM while alive; restores the previous ones after.
class StopSignalScope {
 public:
  StopSignalScope();
  ~StopSignalScope();
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
  stack_t previous_stack_{};
  void* alt_stack_ = nullptr;
  bool have_alt_stack_ = false;
};

/// Throws Interrupted once a stop signal has arrived (long loops outside the training loop).
inline void check_stop_signal() {
  if (g_stop_signal != 0) throw Interrupted();
}

}  // namespace toy

#endif  // TOY_TRANSLATION_APP_HPP

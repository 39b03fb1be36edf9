// toy_translation: the Ctrl-C flag and its handler (app.hpp), apart from main.cpp so that the
// commands also run inside another program (the Python module, python/).
#include "app.hpp"

#include <seq2seq/io/atomic_file.hpp>

namespace toy {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_stop_signal = sig;
}

StopSignalScope::StopSignalScope() {
  g_stop_signal = 0;
  previous_int_ = std::signal(SIGINT, on_stop_signal);
  previous_term_ = std::signal(SIGTERM, on_stop_signal);
}

// The handlers from before (the program's default, or the Python interpreter's own).
StopSignalScope::~StopSignalScope() {
  std::signal(SIGINT, previous_int_ == SIG_ERR ? SIG_DFL : previous_int_);
  std::signal(SIGTERM, previous_term_ == SIG_ERR ? SIG_DFL : previous_term_);
}

void write_text_file(const std::string& path, const std::string& text) { seq2seq::io::write_file_atomic(path, text); }

}  // namespace toy

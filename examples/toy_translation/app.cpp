// toy_translation: the Ctrl-C flag and its handler (app.hpp), apart from main.cpp so that the
// commands also run inside another program (the Python module, python/).
#include "app.hpp"

#include <seq2seq/io/atomic_file.hpp>

#include <Eigen/Core>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>

#if defined(_OPENMP)
#include <omp.h>
#endif

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

// oneDNN's JIT AVX-512 sgemm points the stack pointer into the heap while it runs
// (uxlfoundation/oneDNN#4845): a signal handled there writes its frame over heap memory. Measured
// here: Ctrl-C during training on the oneDNN backend under load corrupted the heap in 4 of 97
// trials. So the handler runs on an alternate stack (SA_ONSTACK) of the thread that installs it,
// and the OpenMP worker threads, which run oneDNN's kernels too, block the stop signals: the
// kernel then delivers them to this thread, on that stack.
StopSignalScope::StopSignalScope() {
  g_stop_signal = 0;
  static constexpr std::size_t kStackBytes = 1 << 16;
  alt_stack_ = std::malloc(kStackBytes);
  stack_t st{};
  st.ss_sp = alt_stack_;
  st.ss_size = kStackBytes;
  st.ss_flags = 0;
  stack_t old{};
  if (alt_stack_ != nullptr && sigaltstack(&st, &old) == 0) {
    have_alt_stack_ = true;
    previous_stack_ = old;
  }
#if defined(_OPENMP)
  {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    const int threads = std::max(omp_get_max_threads(), Eigen::nbThreads());
#pragma omp parallel num_threads(threads)
    {
      if (omp_get_thread_num() != 0) pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    }
  }
#endif
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | (have_alt_stack_ ? SA_ONSTACK : 0);
  sigaction(SIGINT, &sa, &previous_int_);
  sigaction(SIGTERM, &sa, &previous_term_);
}

// The handlers from before (the program's default, or the Python interpreter's own).
StopSignalScope::~StopSignalScope() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
  if (have_alt_stack_) sigaltstack(&previous_stack_, nullptr);
  std::free(alt_stack_);
}

void write_text_file(const std::string& path, const std::string& text) { seq2seq::io::write_file_atomic(path, text); }

}  // namespace toy

// seq2seq: the thread count of oneDNN's products (the oneDNN backend only).
#ifndef SEQ2SEQ_DETAIL_DNNL_THREADS_HPP
#define SEQ2SEQ_DETAIL_DNNL_THREADS_HPP

#if defined(SEQ2SEQ_USE_DNNL)
#include <Eigen/Core>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace seq2seq::detail {

/// oneDNN's products run as many OpenMP threads as omp_get_max_threads() says, while the library's
/// thread count is Eigen::nbThreads() (Eigen::setNbThreads, the command line's --threads). This
/// scope makes a oneDNN call run that many and gives the calling thread's OpenMP setting back
/// afterwards, so one knob sets the threads on either backend.
class DnnlThreadScope {
 public:
  DnnlThreadScope() {
#if defined(_OPENMP)
    const int want = std::max(1, Eigen::nbThreads());
    const int before = omp_get_max_threads();
    if (want != before) {
      omp_set_num_threads(want);
      restore_ = before;
    }
#endif
  }
  DnnlThreadScope(const DnnlThreadScope&) = delete;
  DnnlThreadScope& operator=(const DnnlThreadScope&) = delete;
  ~DnnlThreadScope() {
#if defined(_OPENMP)
    if (restore_ > 0) omp_set_num_threads(restore_);
#endif
  }

 private:
  [[maybe_unused]] int restore_ = 0;
};

}  // namespace seq2seq::detail

#endif  // SEQ2SEQ_USE_DNNL
#endif  // SEQ2SEQ_DETAIL_DNNL_THREADS_HPP

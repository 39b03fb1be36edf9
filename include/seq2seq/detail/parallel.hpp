// seq2seq: elementwise passes split over the library's threads (Eigen::nbThreads()).
#ifndef SEQ2SEQ_DETAIL_PARALLEL_HPP
#define SEQ2SEQ_DETAIL_PARALLEL_HPP

#include <Eigen/Core>

#include <algorithm>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace seq2seq::detail {

/// Runs f(begin, end) over [0, n) in Eigen::nbThreads() pieces, one per OpenMP thread; on one
/// thread, inside a parallel region, or for n below `min_split`, it is one call f(0, n). Pieces
/// start at multiples of `align` (default 64 elements), so a piece of an aligned array is aligned
/// too and an elementwise pass gives the same results however it is split. f must not throw.
template <typename F>
void parallel_ranges(Eigen::Index n, [[maybe_unused]] Eigen::Index min_split, F&& f, Eigen::Index align = 64) {
  int threads = 1;
#if defined(_OPENMP)
  if (n >= min_split && !omp_in_parallel()) threads = std::max(1, Eigen::nbThreads());
#endif
  const Eigen::Index pieces = std::min<Eigen::Index>(threads, (n + align - 1) / align);
  if (pieces <= 1) {
    f(Eigen::Index(0), n);
    return;
  }
#if defined(_OPENMP)
  const Eigen::Index per = ((n + pieces - 1) / pieces + align - 1) / align * align;
#pragma omp parallel for num_threads(static_cast<int>(pieces)) schedule(static)
  for (Eigen::Index p = 0; p < pieces; ++p) {
    const Eigen::Index begin = std::min(n, p * per), end = std::min(n, begin + per);
    if (begin < end) f(begin, end);
  }
#endif
}

}  // namespace seq2seq::detail

#endif  // SEQ2SEQ_DETAIL_PARALLEL_HPP

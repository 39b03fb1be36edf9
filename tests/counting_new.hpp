// Replaces the global operator new and delete with versions that count every allocation, for the
// tests that prove a steady state allocates nothing (tests/no_alloc, tests/mpi). Include it in
// exactly one translation unit of a program: replacements are definitions, not declarations.
//
// Every replaceable form is replaced, so no allocation comes from the runtime's own operator new
// and is then freed here (std::get_temporary_buffer, used by std::stable_sort, takes the nothrow
// form; AddressSanitizer reports such a mix as an alloc-dealloc mismatch). The array forms default
// to these. Over-aligned forms are not used by the library (Eigen aligns by hand), but they count
// too. malloc itself (Eigen's GEMM packing buffers, MPI) is not counted: Eigen's
// EIGEN_RUNTIME_NO_MALLOC check covers Eigen's side. Calls made while a ForeignScope is alive count
// apart, as foreign_new_count(), whichever thread makes them (a foreign library's worker threads
// allocate for its caller): tests/no_alloc wraps oneDNN's GEMM calls in one, on single-threaded
// steps of the library.
#ifndef SEQ2SEQ_TESTS_COUNTING_NEW_HPP
#define SEQ2SEQ_TESTS_COUNTING_NEW_HPP

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

// GCC 12 pairs the replaced operator new with free() in its -Wmismatched-new-delete analysis;
// here both sides are the malloc family, as the standard allows for replacements.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace seq2seq::test {

namespace counting_new_detail {
inline std::atomic<long> count{0};
inline std::atomic<long> foreign{0};
inline std::atomic<int> foreign_depth{0};
inline void tally() noexcept {
  (foreign_depth.load(std::memory_order_relaxed) > 0 ? foreign : count).fetch_add(1, std::memory_order_relaxed);
}
inline void* counted_malloc(std::size_t n) noexcept {
  tally();
  return std::malloc(n == 0 ? 1 : n);
}
inline void* counted_aligned(std::size_t n, std::align_val_t a) noexcept {
  tally();
  const auto align = static_cast<std::size_t>(a);
  return std::aligned_alloc(align, ((n == 0 ? 1 : n) + align - 1) / align * align);  // a multiple of align
}
}  // namespace counting_new_detail

/// How many times operator new (any form) has been called in this process so far, outside
/// ForeignScopes.
inline long operator_new_count() { return counting_new_detail::count.load(std::memory_order_relaxed); }
/// How many times operator new was called while a ForeignScope was alive.
inline long foreign_new_count() { return counting_new_detail::foreign.load(std::memory_order_relaxed); }

/// While alive, operator new calls (from any thread) count as foreign_new_count(), not as
/// operator_new_count(): for a call into another library that allocates on its own.
struct ForeignScope {
  ForeignScope() { counting_new_detail::foreign_depth.fetch_add(1, std::memory_order_relaxed); }
  ~ForeignScope() { counting_new_detail::foreign_depth.fetch_sub(1, std::memory_order_relaxed); }
  ForeignScope(const ForeignScope&) = delete;
  ForeignScope& operator=(const ForeignScope&) = delete;
};

}  // namespace seq2seq::test

void* operator new(std::size_t n) {
  if (void* p = seq2seq::test::counting_new_detail::counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return seq2seq::test::counting_new_detail::counted_malloc(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = seq2seq::test::counting_new_detail::counted_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return seq2seq::test::counting_new_detail::counted_aligned(n, a);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

#endif  // SEQ2SEQ_TESTS_COUNTING_NEW_HPP

// Replaces the global operator new and delete with versions that count every allocation, for the
// tests that prove a steady state allocates nothing (tests/no_alloc, tests/mpi). Include it in
// exactly one translation unit of a program: replacements are definitions, not declarations.
//
// Every replaceable form is replaced, so no allocation comes from the runtime's own operator new
// and is then freed here (std::get_temporary_buffer, used by std::stable_sort, takes the nothrow
// form; AddressSanitizer reports such a mix as an alloc-dealloc mismatch). The array forms default
// to these. Over-aligned forms are not used by the library (Eigen aligns by hand), but they count
// too. malloc itself (Eigen's GEMM packing buffers, MPI) is not counted: Eigen's
// EIGEN_RUNTIME_NO_MALLOC check covers Eigen's side.
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
inline void* counted_malloc(std::size_t n) noexcept {
  count.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
inline void* counted_aligned(std::size_t n, std::align_val_t a) noexcept {
  count.fetch_add(1, std::memory_order_relaxed);
  const auto align = static_cast<std::size_t>(a);
  return std::aligned_alloc(align, ((n == 0 ? 1 : n) + align - 1) / align * align);  // a multiple of align
}
}  // namespace counting_new_detail

/// How many times operator new (any form) has been called in this process so far.
inline long operator_new_count() { return counting_new_detail::count.load(std::memory_order_relaxed); }

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

// seq2seq: the float and bf16 products of the oneDNN backend, on oneDNN's matmul primitive: float
// sums and results, column-major operands of any leading dimension, a scratchpad the library owns
// (one grow-only buffer per thread) and a cache of plans per thread, so that once a shape has been
// seen a product creates nothing and allocates nothing: it points the plan's memory objects at its
// operands and executes.
#ifndef SEQ2SEQ_DETAIL_DNNL_MATMUL_HPP
#define SEQ2SEQ_DETAIL_DNNL_MATMUL_HPP

#if defined(SEQ2SEQ_USE_DNNL)
#include <Eigen/Core>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "dnnl_threads.hpp"

namespace seq2seq::detail {

/// A grow-only, 64-byte aligned buffer of the calling thread, one per Slot; freed at thread exit.
template <int Slot>
inline void* dnnl_thread_buffer(std::size_t bytes) {
  thread_local void* data = nullptr;
  thread_local std::size_t size = 0;
  struct Free {
    void** p;
    ~Free() { Eigen::internal::aligned_free(*p); }
  };
  thread_local Free free_at_exit{&data};
  if (bytes > size) {
    Eigen::internal::aligned_free(data);
    data = nullptr;
    data = Eigen::internal::aligned_malloc(bytes);
    size = bytes;
  }
  return data;
}

/// The CPU engine and stream of the calling thread.
inline dnnl::engine& dnnl_cpu_engine() {
  thread_local dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}
inline dnnl::stream& dnnl_cpu_stream() {
  thread_local dnnl::stream stream(dnnl_cpu_engine());
  return stream;
}

/// Everything that makes a product a primitive of its own (dims, strides, accumulation, threads).
struct DnnlMatmulKey {
  dnnl::memory::data_type type;
  bool ta, tb, accumulate;
  Eigen::Index M, N, K, lda, ldb, ldc;
  int threads;
  bool operator==(const DnnlMatmulKey& o) const {
    return type == o.type && ta == o.ta && tb == o.tb && accumulate == o.accumulate && M == o.M && N == o.N &&
           K == o.K && lda == o.lda && ldb == o.ldb && ldc == o.ldc && threads == o.threads;
  }
};

struct DnnlMatmulKeyHash {
  std::size_t operator()(const DnnlMatmulKey& k) const {
    std::size_t h = static_cast<std::size_t>(k.type) * 8 + (k.ta ? 4 : 0) + (k.tb ? 2 : 0) + (k.accumulate ? 1 : 0);
    for (const Eigen::Index v : {k.M, k.N, k.K, k.lda, k.ldb, k.ldc, static_cast<Eigen::Index>(k.threads)})
      h = h * 1000003u ^ std::hash<Eigen::Index>()(v);
    return h;
  }
};

/// One product made once: the matmul primitive and memory objects that each call points at its
/// operands.
struct DnnlMatmulPlan {
  dnnl::matmul product;
  dnnl::memory src, wei, dst, pad;
  std::size_t pad_bytes = 0;
};

inline void dnnl_check(dnnl_status_t status, const char* what) {
  if (status != dnnl_success) throw dnnl::error(status, what);
}

/// The calling thread's plan for `key`, made on first use (at most kMaxPlans per thread; when full
/// the cache starts again, and oneDNN's own primitive cache makes the rebuilt ones cheap). Call
/// inside a DnnlThreadScope: a primitive keeps the thread count it was made with.
inline const DnnlMatmulPlan& dnnl_matmul_plan(const DnnlMatmulKey& key) {
  constexpr std::size_t kMaxPlans = 512;
  dnnl::engine& engine = dnnl_cpu_engine();  // engine and stream made before the cache, so destroyed after it
  dnnl_cpu_stream();
  thread_local std::unordered_map<DnnlMatmulKey, DnnlMatmulPlan, DnnlMatmulKeyHash> plans;
  const auto found = plans.find(key);
  if (found != plans.end()) return found->second;
  if (plans.size() >= kMaxPlans) plans.clear();

  using dims = dnnl::memory::dims;
  // oneDNN's matmul is row-major: a column-major X is the row-major X^T, so C^T = op(B)^T op(A)^T.
  // src = op(B)^T (N x K): element (n, k) is op(B)(k, n); weights = op(A)^T (K x M): (k, m) is op(A)(m, k).
  const dnnl::memory::desc src({key.N, key.K}, key.type, key.tb ? dims{1, key.ldb} : dims{key.ldb, 1});
  const dnnl::memory::desc wei({key.K, key.M}, key.type, key.ta ? dims{1, key.lda} : dims{key.lda, 1});
  const dnnl::memory::desc dst({key.N, key.M}, dnnl::memory::data_type::f32, dims{key.ldc, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (key.accumulate) {
    dnnl::post_ops sum;
    sum.append_sum(1.0f);
    attr.set_post_ops(sum);
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), attr, engine);
  DnnlMatmulPlan plan;
  plan.product = dnnl::matmul(pd);
  plan.src = dnnl::memory(src, engine, nullptr);
  plan.dst = dnnl::memory(dst, engine, nullptr);
  plan.pad = dnnl::memory(pd.scratchpad_desc(), engine, nullptr);
  plan.pad_bytes = pd.scratchpad_desc().get_size();
  plan.wei = dnnl::memory(wei, engine, nullptr);
  return plans.emplace(key, std::move(plan)).first->second;
}

/// Points the plan's operands at src, wei, dst and the thread's scratchpad, and runs it.
inline void dnnl_execute(const DnnlMatmulPlan& plan, const void* src, const void* wei, float* dst) {
  plan.src.set_data_handle(const_cast<void*>(src));
  plan.wei.set_data_handle(const_cast<void*>(wei));
  plan.dst.set_data_handle(dst);
  plan.pad.set_data_handle(dnnl_thread_buffer<0>(plan.pad_bytes + 64));
  dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, plan.src.get()},
                            {DNNL_ARG_WEIGHTS, plan.wei.get()},
                            {DNNL_ARG_DST, plan.dst.get()},
                            {DNNL_ARG_SCRATCHPAD, plan.pad.get()}};
  dnnl::stream& stream = dnnl_cpu_stream();
  dnnl_check(dnnl_primitive_execute(plan.product.get(), stream.get(), 4, args), "could not execute the matmul");
  dnnl_check(dnnl_stream_wait(stream.get()), "could not wait for the stream");
}

/// C (M x N, column-major, ldc apart) = op(A) op(B), or += with `accumulate`, where op transposes
/// when ta / tb. A (lda apart) and B (ldb apart) are column-major with elements of type `type`
/// (f32 or bf16); K is op(A)'s width.
inline void dnnl_matmul(dnnl::memory::data_type type, bool ta, const void* a, Eigen::Index lda, bool tb,
                        const void* b, Eigen::Index ldb, float* c, Eigen::Index M, Eigen::Index N, Eigen::Index K,
                        Eigen::Index ldc, bool accumulate) {
  const DnnlThreadScope threads;
  try {
    const DnnlMatmulKey key{type, ta, tb, accumulate, M, N, K, lda, ldb, ldc, std::max(1, Eigen::nbThreads())};
    dnnl_execute(dnnl_matmul_plan(key), b, a, c);
  } catch (const dnnl::error& e) {
    throw std::runtime_error("seq2seq: oneDNN's matmul (" + std::to_string(M) + " x " + std::to_string(N) + " x " +
                             std::to_string(K) + ") failed: " + e.what());
  }
}

}  // namespace seq2seq::detail

#endif  // SEQ2SEQ_USE_DNNL
#endif  // SEQ2SEQ_DETAIL_DNNL_MATMUL_HPP

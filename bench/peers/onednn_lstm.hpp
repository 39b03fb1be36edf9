// Benchmark peer: oneDNN's LSTM primitive (oneDNN 2.x, C++ API `dnnl.hpp`).
//
// One layer, unidirectional, float32, input size E = H, h0 = c0 = 0 (zero memory descriptors for
// src_iter / src_iter_c, which oneDNN documents as "use zeros"). Final (h, c) are produced.
//
//   peers::OneDnnLstm net(H, B, T);
//   net.forward();           // forward_inference, once, waits on the stream
//   net.forward_backward();  // forward_training (with workspace) + lstm_backward, once, waits
//
// Everything (primitive descriptors, primitives, memories, weight reorders) is built once in the
// constructor; the timed calls only execute primitives. Weights are uniform random, created in
// the plain `ldigo` layout and reordered once into the layouts oneDNN picked (`format_tag::any`),
// separately for the inference, training-forward and backward primitives. A real training loop
// would have to redo those reorders after each weight update; this peer does not time them.
// The backward pass accumulates into diff_weights / diff_bias (oneDNN semantics); they are zeroed
// once at setup, not per call.
//
// Threads: Debian's libdnnl uses the OpenMP (libgomp) CPU runtime, so it follows
// omp_set_num_threads / OMP_NUM_THREADS. Set the thread count *before* constructing: some RNN
// kernels choose their blocking when the primitive is created.
//
// Compiled only when SEQ2SEQ_BENCH_HAVE_DNNL is defined (link with -ldnnl).
#pragma once

#if defined(SEQ2SEQ_BENCH_HAVE_DNNL)

#include <dnnl.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <unordered_map>

#include "flops.hpp"

namespace peers {

class OneDnnLstm {
public:
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    using dims = dnnl::memory::dims;

    OneDnnLstm(long H, long B, long T, std::uint32_t seed = 42)
        : H_(H), B_(B), T_(T), engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
        using namespace dnnl;
        const memory::dim L = 1, D = 1, G = 4, E = H, N = B, S = T, C = H;

        // User-side (plain layout) descriptors.
        const memory::desc src_layer_md({S, N, E}, dt::f32, tag::tnc);
        const memory::desc dst_layer_md({S, N, C}, dt::f32, tag::tnc);
        const memory::desc dst_iter_md({L, D, N, C}, dt::f32, tag::ldnc);
        const memory::desc w_layer_user_md({L, D, E, G, C}, dt::f32, tag::ldigo);
        const memory::desc w_iter_user_md({L, D, C, G, C}, dt::f32, tag::ldigo);
        const memory::desc bias_md({L, D, G, C}, dt::f32, tag::ldgo);
        const memory::desc w_layer_any({L, D, E, G, C}, dt::f32, tag::any);
        const memory::desc w_iter_any({L, D, C, G, C}, dt::f32, tag::any);
        const memory::desc bias_any({L, D, G, C}, dt::f32, tag::any);
        const memory::desc zero_md;  // h0 = c0 = 0

        std::mt19937 gen(seed);
        src_layer_ = memory(src_layer_md, engine_);
        fill_uniform(src_layer_, gen, -1.0f, 1.0f);
        memory w_layer_user(w_layer_user_md, engine_);
        memory w_iter_user(w_iter_user_md, engine_);
        fill_uniform(w_layer_user, gen, -0.08f, 0.08f);
        fill_uniform(w_iter_user, gen, -0.08f, 0.08f);
        bias_ = memory(bias_md, engine_);
        fill_uniform(bias_, gen, -0.08f, 0.08f);

        // ---- inference ---------------------------------------------------------------------
        {
            lstm_forward::desc d(prop_kind::forward_inference, rnn_direction::unidirectional_left2right,
                                 src_layer_md, zero_md, zero_md, w_layer_any, w_iter_any, bias_md,
                                 dst_layer_md, dst_iter_md, dst_iter_md);
            lstm_forward::primitive_desc pd(d, engine_);
            inf_ = lstm_forward(pd);
            memory wl = reordered(w_layer_user, pd.weights_layer_desc());
            memory wi = reordered(w_iter_user, pd.weights_iter_desc());
            inf_dst_layer_ = memory(pd.dst_layer_desc(), engine_);
            inf_dst_iter_ = memory(pd.dst_iter_desc(), engine_);
            inf_dst_iter_c_ = memory(pd.dst_iter_c_desc(), engine_);
            inf_args_ = {{DNNL_ARG_SRC_LAYER, src_layer_},     {DNNL_ARG_WEIGHTS_LAYER, wl},
                         {DNNL_ARG_WEIGHTS_ITER, wi},          {DNNL_ARG_BIAS, bias_},
                         {DNNL_ARG_DST_LAYER, inf_dst_layer_}, {DNNL_ARG_DST_ITER, inf_dst_iter_},
                         {DNNL_ARG_DST_ITER_C, inf_dst_iter_c_}};
            if (pd.scratchpad_desc().get_size() > 0)
                inf_args_.insert({DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), engine_)});
        }

        // ---- training: forward_training + backward ------------------------------------------
        {
            lstm_forward::desc fd(prop_kind::forward_training, rnn_direction::unidirectional_left2right,
                                  src_layer_md, zero_md, zero_md, w_layer_any, w_iter_any, bias_md,
                                  dst_layer_md, dst_iter_md, dst_iter_md);
            lstm_forward::primitive_desc fpd(fd, engine_);
            trn_fwd_ = lstm_forward(fpd);

            lstm_backward::desc bd(prop_kind::backward, rnn_direction::unidirectional_left2right,
                                   src_layer_md, zero_md, zero_md, w_layer_any, w_iter_any, bias_md,
                                   dst_layer_md, dst_iter_md, dst_iter_md,
                                   // diff_src_layer, diff_src_iter, diff_src_iter_c
                                   src_layer_md, zero_md, zero_md,
                                   // diff_weights_layer, diff_weights_iter, diff_bias
                                   w_layer_any, w_iter_any, bias_any,
                                   // diff_dst_layer, diff_dst_iter, diff_dst_iter_c
                                   dst_layer_md, dst_iter_md, dst_iter_md);
            lstm_backward::primitive_desc bpd(bd, engine_, fpd);
            trn_bwd_ = lstm_backward(bpd);

            memory fwl = reordered(w_layer_user, fpd.weights_layer_desc());
            memory fwi = reordered(w_iter_user, fpd.weights_iter_desc());
            memory bwl = reordered(w_layer_user, bpd.weights_layer_desc());
            memory bwi = reordered(w_iter_user, bpd.weights_iter_desc());
            memory dst_layer(fpd.dst_layer_desc(), engine_);
            memory dst_iter(fpd.dst_iter_desc(), engine_);
            memory dst_iter_c(fpd.dst_iter_c_desc(), engine_);
            memory workspace(fpd.workspace_desc(), engine_);

            memory diff_src_layer(bpd.diff_src_layer_desc(), engine_);
            memory diff_w_layer(bpd.diff_weights_layer_desc(), engine_);
            memory diff_w_iter(bpd.diff_weights_iter_desc(), engine_);
            memory diff_bias(bpd.diff_bias_desc(), engine_);
            fill_zero(diff_w_layer);
            fill_zero(diff_w_iter);
            fill_zero(diff_bias);
            memory diff_dst_layer(bpd.diff_dst_layer_desc(), engine_);
            fill_uniform(diff_dst_layer, gen, -1.0f, 1.0f);  // fixed random upstream gradient
            memory diff_dst_iter(bpd.diff_dst_iter_desc(), engine_);
            memory diff_dst_iter_c(bpd.diff_dst_iter_c_desc(), engine_);
            fill_zero(diff_dst_iter);
            fill_zero(diff_dst_iter_c);

            fwd_args_ = {{DNNL_ARG_SRC_LAYER, src_layer_}, {DNNL_ARG_WEIGHTS_LAYER, fwl},
                         {DNNL_ARG_WEIGHTS_ITER, fwi},     {DNNL_ARG_BIAS, bias_},
                         {DNNL_ARG_DST_LAYER, dst_layer},  {DNNL_ARG_DST_ITER, dst_iter},
                         {DNNL_ARG_DST_ITER_C, dst_iter_c}, {DNNL_ARG_WORKSPACE, workspace}};
            if (fpd.scratchpad_desc().get_size() > 0)
                fwd_args_.insert({DNNL_ARG_SCRATCHPAD, memory(fpd.scratchpad_desc(), engine_)});

            bwd_args_ = {{DNNL_ARG_SRC_LAYER, src_layer_},
                         {DNNL_ARG_WEIGHTS_LAYER, bwl},
                         {DNNL_ARG_WEIGHTS_ITER, bwi},
                         {DNNL_ARG_BIAS, bias_},
                         {DNNL_ARG_DST_LAYER, dst_layer},
                         {DNNL_ARG_DST_ITER, dst_iter},
                         {DNNL_ARG_DST_ITER_C, dst_iter_c},
                         {DNNL_ARG_WORKSPACE, workspace},
                         {DNNL_ARG_DIFF_SRC_LAYER, diff_src_layer},
                         {DNNL_ARG_DIFF_WEIGHTS_LAYER, diff_w_layer},
                         {DNNL_ARG_DIFF_WEIGHTS_ITER, diff_w_iter},
                         {DNNL_ARG_DIFF_BIAS, diff_bias},
                         {DNNL_ARG_DIFF_DST_LAYER, diff_dst_layer},
                         {DNNL_ARG_DIFF_DST_ITER, diff_dst_iter},
                         {DNNL_ARG_DIFF_DST_ITER_C, diff_dst_iter_c}};
            if (bpd.scratchpad_desc().get_size() > 0)
                bwd_args_.insert({DNNL_ARG_SCRATCHPAD, memory(bpd.scratchpad_desc(), engine_)});
        }
        stream_.wait();
    }

    OneDnnLstm(const OneDnnLstm&) = delete;
    OneDnnLstm& operator=(const OneDnnLstm&) = delete;

    /// Inference forward pass over the whole sequence and batch; returns when done.
    void forward() {
        inf_.execute(stream_, inf_args_);
        stream_.wait();
    }

    /// Training forward (writes the workspace) followed by the backward pass; returns when done.
    void forward_backward() {
        trn_fwd_.execute(stream_, fwd_args_);
        trn_bwd_.execute(stream_, bwd_args_);
        stream_.wait();
    }

    /// Top-layer output h_t of the inference pass, (T, B, H) row-major (`tnc`).
    const float* inference_output() const {
        return static_cast<const float*>(inf_dst_layer_.get_data_handle());
    }

    double flops(bool backward) const { return lstm_flops(H_, B_, T_, backward); }

    long hidden() const { return H_; }
    long batch() const { return B_; }
    long steps() const { return T_; }

private:
    static float* data(const dnnl::memory& m) { return static_cast<float*>(m.get_data_handle()); }
    static std::size_t count(const dnnl::memory& m) {
        return m.get_desc().get_size() / sizeof(float);
    }
    static void fill_uniform(const dnnl::memory& m, std::mt19937& gen, float lo, float hi) {
        std::uniform_real_distribution<float> dist(lo, hi);
        float* p = data(m);
        const std::size_t n = count(m);
        for (std::size_t i = 0; i < n; ++i) p[i] = dist(gen);
    }
    static void fill_zero(const dnnl::memory& m) {
        float* p = data(m);
        const std::size_t n = count(m);
        for (std::size_t i = 0; i < n; ++i) p[i] = 0.0f;
    }
    dnnl::memory reordered(dnnl::memory src, const dnnl::memory::desc& want) {
        if (src.get_desc() == want) return src;
        dnnl::memory dst(want, engine_);
        dnnl::reorder(src, dst).execute(stream_, src, dst);
        stream_.wait();
        return dst;
    }

    long H_, B_, T_;
    dnnl::engine engine_;
    dnnl::stream stream_;
    dnnl::memory src_layer_, bias_;
    dnnl::memory inf_dst_layer_, inf_dst_iter_, inf_dst_iter_c_;
    dnnl::lstm_forward inf_, trn_fwd_;
    dnnl::lstm_backward trn_bwd_;
    std::unordered_map<int, dnnl::memory> inf_args_, fwd_args_, bwd_args_;
};

}  // namespace peers

#endif  // SEQ2SEQ_BENCH_HAVE_DNNL

// Benchmark peer: oneDNN's LSTM primitive for inference in int8 (oneDNN 2.x, C++ API `dnnl.hpp`).
//
// One layer, unidirectional, input size E = H, h0 = c0 = 0, forward_inference only:
//   src_layer u8 (x quantized as 63 x + 64, oneDNN's data qparams scale 63 / shift 64, the values
//   of its cpu_rnn_inference_int8 example), weights s8 with one scale per gate and output channel
//   (127 / max|w| of that column, the attribute's mask 1<<3 | 1<<4), bias f32, dst_layer f32.
// Weights are uniform random in [-0.08, 0.08] (f32, `ldigo`), quantized once by the reorder
// with the primitive's attributes; the input is quantized once at setup (u8): the timed call
// executes the LSTM primitive alone, as the float peer in onednn_lstm.hpp does.
//
// Compiled only when SEQ2SEQ_BENCH_HAVE_DNNL is defined (link with -ldnnl).
#pragma once

#if defined(SEQ2SEQ_BENCH_HAVE_DNNL)

#include <dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

namespace peers {

class OneDnnLstmInt8 {
public:
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;

    OneDnnLstmInt8(long H, long B, long T, std::uint32_t seed = 42)
        : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
        using namespace dnnl;
        const memory::dim L = 1, D = 1, G = 4, E = H, N = B, S = T, C = H;
        std::mt19937 gen(seed);
        std::uniform_real_distribution<float> wdist(-0.08f, 0.08f), xdist(-1.0f, 1.0f);

        const memory::desc src_user_md({S, N, E}, dt::f32, tag::tnc);
        const memory::desc wl_user_md({L, D, E, G, C}, dt::f32, tag::ldigo);
        const memory::desc wi_user_md({L, D, C, G, C}, dt::f32, tag::ldigo);
        const memory::desc bias_md({L, D, G, C}, dt::f32, tag::ldgo);
        const memory::desc src_md({S, N, E}, dt::u8, tag::any);
        const memory::desc wl_md({L, D, E, G, C}, dt::s8, tag::any);
        const memory::desc wi_md({L, D, C, G, C}, dt::s8, tag::any);
        const memory::desc dst_md({S, N, C}, dt::f32, tag::tnc);
        const memory::desc zero_md;

        std::vector<float> x(static_cast<std::size_t>(S * N * E)), wl(static_cast<std::size_t>(E * G * C)),
            wi(static_cast<std::size_t>(C * G * C)), b(static_cast<std::size_t>(G * C));
        for (float& v : x) v = xdist(gen);
        for (float& v : wl) v = wdist(gen);
        for (float& v : wi) v = wdist(gen);
        for (float& v : b) v = wdist(gen);

        // One scale per (gate, output) column of both weight matrices (the larger of the two maxima).
        std::vector<float> scales(static_cast<std::size_t>(G * C), 0.0f);
        for (memory::dim i = 0; i < E; ++i)
            for (memory::dim j = 0; j < G * C; ++j)
                scales[static_cast<std::size_t>(j)] =
                    std::max(scales[static_cast<std::size_t>(j)], std::abs(wl[static_cast<std::size_t>(i * G * C + j)]));
        for (memory::dim i = 0; i < C; ++i)
            for (memory::dim j = 0; j < G * C; ++j)
                scales[static_cast<std::size_t>(j)] =
                    std::max(scales[static_cast<std::size_t>(j)], std::abs(wi[static_cast<std::size_t>(i * G * C + j)]));
        for (float& s : scales) s = s > 0 ? 127.0f / s : 1.0f;

        primitive_attr attr;
        attr.set_rnn_data_qparams(63.0f, 64.0f);
        attr.set_rnn_weights_qparams((1 << 3) | (1 << 4), scales);
        lstm_forward::desc d(prop_kind::forward_inference, rnn_direction::unidirectional_left2right, src_md, zero_md,
                             zero_md, wl_md, wi_md, bias_md, dst_md, zero_md, zero_md);
        lstm_forward::primitive_desc pd(d, attr, engine_);
        lstm_ = lstm_forward(pd);

        memory src_user(src_user_md, engine_, x.data());
        memory wl_user(wl_user_md, engine_, wl.data()), wi_user(wi_user_md, engine_, wi.data());
        bias_ = memory(bias_md, engine_);
        std::copy(b.begin(), b.end(), static_cast<float*>(bias_.get_data_handle()));
        src_ = memory(pd.src_layer_desc(), engine_);
        wl_ = memory(pd.weights_layer_desc(), engine_);
        wi_ = memory(pd.weights_iter_desc(), engine_);
        reorder(reorder::primitive_desc(src_user, src_, attr)).execute(stream_, src_user, src_);
        reorder(reorder::primitive_desc(wl_user, wl_, attr)).execute(stream_, wl_user, wl_);
        reorder(reorder::primitive_desc(wi_user, wi_, attr)).execute(stream_, wi_user, wi_);
        dst_ = memory(pd.dst_layer_desc(), engine_);
        args_ = {{DNNL_ARG_SRC_LAYER, src_}, {DNNL_ARG_WEIGHTS_LAYER, wl_}, {DNNL_ARG_WEIGHTS_ITER, wi_},
                 {DNNL_ARG_BIAS, bias_},     {DNNL_ARG_DST_LAYER, dst_}};
        if (pd.scratchpad_desc().get_size() > 0)
            args_.insert({DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), engine_)});
        stream_.wait();
    }

    OneDnnLstmInt8(const OneDnnLstmInt8&) = delete;
    OneDnnLstmInt8& operator=(const OneDnnLstmInt8&) = delete;

    /// Inference over the whole sequence and batch; returns when done.
    void forward() {
        lstm_.execute(stream_, args_);
        stream_.wait();
    }
    const float* output() const { return static_cast<const float*>(dst_.get_data_handle()); }

private:
    dnnl::engine engine_;
    dnnl::stream stream_;
    dnnl::lstm_forward lstm_;
    dnnl::memory src_, wl_, wi_, bias_, dst_;
    std::unordered_map<int, dnnl::memory> args_;
};

}  // namespace peers

#endif  // SEQ2SEQ_BENCH_HAVE_DNNL

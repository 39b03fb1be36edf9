// Benchmark peer: libtorch's `torch::nn::LSTM` (Debian's libtorch 1.13).
//
// One layer, unidirectional, float32, input size E = H, h0 = c0 = 0 (no initial state passed),
// input x of shape (T, B, H), uniform random, with requires_grad so the backward pass also
// computes dL/dx (as oneDNN's diff_src_layer and our own BPTT do).
//
//   peers::TorchLstm::set_threads(1);  // torch intra-op threads (OpenMP)
//   peers::TorchLstm net(H, B, T);
//   net.forward();           // under NoGradGuard
//   net.forward_backward();  // forward with autograd, out.backward(fixed random grad), zero grads
//
// Best-settings notes (see the benchmark README): Debian's libtorch calls OpenBLAS (pthread
// build) for its GEMMs, whose thread count comes from OPENBLAS_NUM_THREADS, independently of
// torch::set_num_threads. glibc's malloc returns torch's large temporaries to the OS on every call
// unless MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ are raised in the environment.
//
// Compiled only when SEQ2SEQ_BENCH_HAVE_TORCH is defined. Needs the include directories
// /usr/include/torch/csrc/api/include (and /usr/include) and -ltorch -ltorch_cpu -lc10.
#pragma once

#if defined(SEQ2SEQ_BENCH_HAVE_TORCH)

#include <torch/torch.h>

#include <dlfcn.h>

#include <cstdint>
#include <tuple>

#include "flops.hpp"

namespace peers {

class TorchLstm {
public:
    TorchLstm(long H, long B, long T, std::uint64_t seed = 42)
        : H_(H), B_(B), T_(T), lstm_(torch::nn::LSTMOptions(H, H).num_layers(1)) {
        torch::manual_seed(seed);
        lstm_->to(torch::kFloat32);
        {
            torch::NoGradGuard no_grad;
            for (auto& p : lstm_->parameters()) p.uniform_(-0.08, 0.08);
        }
        x_ = torch::rand({T, B, H}, torch::kFloat32).mul_(2.0).sub_(1.0).requires_grad_(true);
        grad_out_ = torch::rand({T, B, H}, torch::kFloat32).mul_(2.0).sub_(1.0);
    }

    /// Threads torch uses for its own parallel loops (OpenMP), and threads of the OpenBLAS that
    /// Debian's libtorch calls for its GEMMs (its own setting, read from OPENBLAS_NUM_THREADS at
    /// load time, changed here through openblas_set_num_threads when the library exports it) so one
    /// binary can time 1 and 2 threads at torch's best settings. Returns false when OpenBLAS's
    /// count could not be set.
    static bool set_threads(int torch_threads, int blas_threads) {
        torch::set_num_threads(torch_threads);
        using SetFn = void (*)(int);
        static const auto set_blas = reinterpret_cast<SetFn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
        if (set_blas == nullptr) return false;
        set_blas(blas_threads);
        return true;
    }
    static bool set_threads(int n) { return set_threads(n, n); }

    /// Inference forward pass over the whole sequence and batch.
    void forward() {
        torch::NoGradGuard no_grad;
        auto res = lstm_->forward(x_);
        out_ = std::get<0>(res);
    }

    /// Forward with autograd, backward of sum(out * G) for a fixed random G, then zero the grads.
    void forward_backward() {
        auto res = lstm_->forward(x_);
        torch::Tensor out = std::get<0>(res);
        out.backward(grad_out_);
        lstm_->zero_grad();
        x_.mutable_grad().zero_();
    }

    /// Output of the last forward() call, shape (T, B, H).
    const torch::Tensor& output() const { return out_; }
    torch::nn::LSTM& module() { return lstm_; }

    double flops(bool backward) const { return lstm_flops(H_, B_, T_, backward); }

    long hidden() const { return H_; }
    long batch() const { return B_; }
    long steps() const { return T_; }

private:
    long H_, B_, T_;
    torch::nn::LSTM lstm_;
    torch::Tensor x_, grad_out_, out_;
};

}  // namespace peers

#endif  // SEQ2SEQ_BENCH_HAVE_TORCH

// Shared FLOP count for the LSTM benchmarks (ours and the peers).
//
// Only the matrix products are counted: per time step and batch column the gates need
// 4H x E (input) plus 4H x H (recurrence) multiply-adds, i.e. 2 * 4H * (E + H) flops.
// Forward + backward counts three times the forward (the backward pass needs two products of
// the same size: one for the input/hidden gradients and one for the parameter gradients).
// The peers use E = H.
#pragma once

namespace peers {

inline double lstm_flops(long H, long B, long T, bool backward, long E = -1) {
    const double e = static_cast<double>(E < 0 ? H : E);
    const double h = static_cast<double>(H);
    const double fwd = 2.0 * static_cast<double>(B) * static_cast<double>(T) * 4.0 * h * (e + h);
    return backward ? 3.0 * fwd : fwd;
}

}  // namespace peers

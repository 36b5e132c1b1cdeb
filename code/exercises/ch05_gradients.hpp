// Exercises of chapter 5 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch05
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>

#include <xtensor/xtensor.hpp>

namespace exercise {

// Exercise 5.6. The gradient of the loss with respect to the head gates,
// Eq. (5.4): with heads = [Y^0, ..., Y^{H-1}] (n_q, d_model) the head
// outputs BEFORE gating, side by side, w_o (d_model, d_model) the output
// projection and dL_dy = dL/dy~ (n_q, d_model) the gradient reaching the
// layer's output, first Ybar = dL_dy w_o^T (Eq. (5.3)), then
//     dL/dxi_h = sum_{i, c} Y^h_ic Ybar_[h]ic,
// where Ybar_[h] is the block of columns [h d_k, (h+1) d_k) of Ybar.
// Return a vector of shape (H,). Throw std::invalid_argument if H is 0 or
// does not divide d_model, if w_o is not (d_model, d_model), or if dL_dy
// is not (n_q, d_model). n_q = 0 (no query) gives zeros.
inline xt::xtensor<double, 1> gate_gradients(
    const xt::xtensor<double, 2>& heads, const xt::xtensor<double, 2>& w_o,
    const xt::xtensor<double, 2>& dL_dy, std::size_t H)
{
    (void)heads;
    (void)w_o;
    (void)dL_dy;
    return xt::zeros<double>({H});  // replace this line
}

// The three gradients of one attention head (named dL_d<symbol>, so that
// d_k and d_v are always widths).
struct head_gradients {
    xt::xtensor<double, 2> dL_dq;  // dL/dq (n_q, d_k)
    xt::xtensor<double, 2> dL_dk;  // dL/dk (n_k, d_k)
    xt::xtensor<double, 2> dL_dv;  // dL/dv (n_k, d_v)
};

// Exercise 5.7. The backward pass of one unmasked attention head,
// y = a v with a = softmax_rows(q k^T / sqrt(d_k)): given dL_dy = dL/dy
// (n_q, d_v), recompute a, then follow Eqs. (5.4) to (5.6):
//     dL_dv = a^T dL_dy,   dL_da = dL_dy v^T,
//     dL_ds_il = a_il (dL_da_il - sum_j a_ij dL_da_ij),
//     dL_dq = dL_ds k / sqrt(d_k),   dL_dk = dL_ds^T q / sqrt(d_k).
// Shapes: q (n_q, d_k), k (n_k, d_k), v (n_k, d_v). Throw
// std::invalid_argument if k's width is not q's, if v's rows are not k's,
// if dL_dy is not (n_q, d_v), or if there is no key (n_k = 0).
inline head_gradients attention_backward(const xt::xtensor<double, 2>& q,
                                         const xt::xtensor<double, 2>& k,
                                         const xt::xtensor<double, 2>& v,
                                         const xt::xtensor<double, 2>& dL_dy)
{
    (void)dL_dy;
    return {xt::zeros<double>(q.shape()), xt::zeros<double>(k.shape()),
            xt::zeros<double>(v.shape())};  // replace this line
}

// Exercise 5.8 (find the bug). The head importance of Michel et al.,
// Eq. (5.10), from the gate gradients of N sequences: row x of dL_dxi
// (N, H) is dL(x)/dxi (H,) for sequence x, one row of gate_gradients per
// sequence. Returns the normalised importance I^ (H,); if every head's
// importance is 0, returns zeros (no division by zero). Throws
// std::invalid_argument if there is no sequence (N = 0) or no head
// (H = 0).
// The code below compiles, runs and returns a vector of the right shape,
// but it has ONE bug. Find it and fix it.
inline xt::xtensor<double, 1> head_importance(
    const xt::xtensor<double, 2>& dL_dxi)
{
    const std::size_t N = dL_dxi.shape()[0], H = dL_dxi.shape()[1];
    if (N == 0 || H == 0) {
        throw std::invalid_argument("head_importance: expected the gate "
                                    "gradients of at least one sequence "
                                    "and one head, (N, H)");
    }
    xt::xtensor<double, 1> importance = xt::zeros<double>({H});
    // The expectation over the sequences, Eq. (5.10)
    for (std::size_t h = 0; h < H; ++h) {
        double mean = 0.0;
        for (std::size_t x = 0; x < N; ++x) {
            mean += dL_dxi(x, h) / double(N);
        }
        importance(h) = std::abs(mean);
    }
    // Normalised by the l2 norm over the layer's heads
    double norm = 0.0;
    for (std::size_t h = 0; h < H; ++h) {
        norm += importance(h) * importance(h);
    }
    norm = std::sqrt(norm);
    for (std::size_t h = 0; h < H && norm > 0.0; ++h) {
        importance(h) /= norm;
    }
    return importance;
}

}  // namespace exercise

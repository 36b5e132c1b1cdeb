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
// does not divide d_model.
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
// Shapes: q (n_q, d_k), k (n_k, d_k), v (n_k, d_v).
inline head_gradients attention_backward(const xt::xtensor<double, 2>& q,
                                         const xt::xtensor<double, 2>& k,
                                         const xt::xtensor<double, 2>& v,
                                         const xt::xtensor<double, 2>& dL_dy)
{
    (void)dL_dy;
    return {xt::zeros<double>(q.shape()), xt::zeros<double>(k.shape()),
            xt::zeros<double>(v.shape())};  // replace this line
}

}  // namespace exercise

// Exercises of chapter 1 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch01
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>

#include <xtensor/xtensor.hpp>

namespace exercise {

// Exercise 1.6. Bahdanau's additive energies, Eq. (1.2):
//     e_ij = v_a . tanh(W_a q_{i-1} + U_a h_j),
// for the decoder states q_prev (T_y, d_h), whose i-th row is q_{i-1}, and
// the annotations h (T_x, 2d_h), with W_a (d_a, d_h), U_a (d_a, 2d_h) and
// v_a (d_a,).
// Compute U_a h_j once for each j and W_a q_{i-1} once for each i, before
// the double loop over (i, j) (the precomputation of Eq. (1.5)). Return
// the energies e of shape (T_y, T_x). Throw std::invalid_argument if the
// shapes do not fit together.
inline xt::xtensor<double, 2> additive_energies(
    const xt::xtensor<double, 2>& q_prev, const xt::xtensor<double, 2>& h,
    const xt::xtensor<double, 2>& W_a, const xt::xtensor<double, 2>& U_a,
    const xt::xtensor<double, 1>& v_a)
{
    (void)W_a;
    (void)U_a;
    (void)v_a;
    // replace the line below
    return xt::zeros<double>({h.shape()[0], q_prev.shape()[0]});
}

// The gradients of the alignment network's three arrays.
struct alignment_gradients {
    xt::xtensor<double, 2> dL_dW_a;  // dL/dW_a (d_a, d_h)
    xt::xtensor<double, 2> dL_dU_a;  // dL/dU_a (d_a, 2d_h)
    xt::xtensor<double, 1> dL_dv_a;  // dL/dv_a (d_a,)
};

// Exercise 1.7. The gradients of Eq. (1.9). Given eps = dL/de (T_y, T_x),
// the gradient that reached the energies (Eq. (1.8)), and the same inputs
// as Exercise 1.6, with z_ij = tanh(W_a q_{i-1} + U_a h_j) (d_a,) and
// u_ij = eps_ij v_a * (1 - z_ij * z_ij) (elementwise, (d_a,)):
//     dL/dv_a = sum_{i,j} eps_ij z_ij,
//     dL/dW_a = sum_i (sum_j u_ij) q_{i-1}^T,
//     dL/dU_a = sum_j (sum_i u_ij) h_j^T.
inline alignment_gradients alignment_parameter_gradients(
    const xt::xtensor<double, 2>& q_prev, const xt::xtensor<double, 2>& h,
    const xt::xtensor<double, 2>& W_a, const xt::xtensor<double, 2>& U_a,
    const xt::xtensor<double, 1>& v_a, const xt::xtensor<double, 2>& eps)
{
    (void)q_prev;
    (void)h;
    (void)eps;
    return {xt::zeros<double>(W_a.shape()), xt::zeros<double>(U_a.shape()),
            xt::zeros<double>(v_a.shape())};  // replace this line
}

}  // namespace exercise

// Exercises of chapter 1 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch01
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>

#include <xtensor/xtensor.hpp>

#include "attention/additive.hpp"

namespace exercise {

// Exercise 1.6. Bahdanau's additive energies, Eq. (1.2):
//     e_ij = v_a . tanh(W_a q_{i-1} + U_a h_j),
// for the decoder states q_prev (T_y, d_h), whose i-th row is q_{i-1}, and
// the annotations h (T_x, 2d_h), with W_a (d_a, d_h), U_a (d_a, 2d_h) and
// v_a (d_a,).
// Compute U_a h_j once for each j and W_a q_{i-1} once for each i, before
// the double loop over (i, j) (the precomputation of Eq. (1.5)). Return
// the energies e of shape (T_y, T_x); T_y = 0 or T_x = 0 gives an empty
// e of that shape. Throw std::invalid_argument if the shapes do not fit
// together (W_a not (d_a, d_h) or U_a not (d_a, 2d_h), with d_a the length
// of v_a and d_h, 2d_h the widths of q_prev and h).
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
// Return the three gradients, each of the shape of its array. Throw
// std::invalid_argument if the shapes do not fit together (as in Exercise
// 1.6, and eps not (T_y, T_x)).
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

// Exercise 1.8 (find the bug). The contexts of Eqs. (1.3) and (1.4): the
// weights a_i = softmax(e_i) of each row of the energies of Eq. (1.2),
// then c_i = sum_j a_ij h_j, for the same inputs as Exercise 1.6. It
// returns c of shape (T_y, 2d_h), stays finite for energies of +-1000, and
// throws std::invalid_argument if an input is empty or the shapes do not
// fit together (attn::additive_energies, the library's Eq. (1.2), checks
// both).
// The code below compiles and runs without a complaint, but it has one
// bug: its contexts are wrong. Find the bug and fix it with the smallest
// change you can.
inline xt::xtensor<double, 2> bahdanau_context_vectors(
    const xt::xtensor<double, 2>& q_prev, const xt::xtensor<double, 2>& h,
    const xt::xtensor<double, 2>& W_a, const xt::xtensor<double, 2>& U_a,
    const xt::xtensor<double, 1>& v_a)
{
    const xt::xtensor<double, 2> e =
        attn::additive_energies(q_prev, h, W_a, U_a, v_a);  // (T_y, T_x)
    const std::size_t T_y = e.shape()[0], T_x = e.shape()[1];
    const std::size_t width = h.shape()[1];                  // 2d_h
    xt::xtensor<double, 2> c = xt::zeros<double>({T_y, width});
    for (std::size_t i = 0; i < T_y; ++i) {
        // The denominator of Eq. (1.3), with the row's maximum m
        // subtracted as in Eq. (0.1).
        double m = e(i, 0);
        for (std::size_t j = 1; j < T_x; ++j) {
            m = std::max(m, e(i, j));
        }
        double z = 0.0;
        for (std::size_t j = 1; j < T_x; ++j) {
            z += std::exp(e(i, j) - m);
        }
        // Context c_i, Eq. (1.4).
        for (std::size_t j = 0; j < T_x; ++j) {
            const double a_ij = std::exp(e(i, j) - m) / z;
            for (std::size_t l = 0; l < width; ++l) {
                c(i, l) += a_ij * h(j, l);
            }
        }
    }
    return c;
}

}  // namespace exercise

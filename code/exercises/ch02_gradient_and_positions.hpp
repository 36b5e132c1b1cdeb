// Exercises of chapter 2 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch02
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xtensor.hpp>

namespace exercise {

// Exercise 2.7. The gradient of a loss with respect to the scores, row by
// row, given the softmax weights a = softmax_rows(s) and the gradient
// grad_a = dL/da, both (n_q, n_k). With the Jacobian of Eq. (2.7),
// dL/ds_l = sum_j grad_a_j a_j (delta_jl - a_l), which simplifies to
//     grad_s_il = a_il (grad_a_il - sum_j grad_a_ij a_ij).
// Compute it this way, in O(n_q n_k), without forming any (n_k, n_k)
// Jacobian. Return grad_s of shape (n_q, n_k). Throw std::invalid_argument
// if the shapes of a and grad_a differ.
inline xt::xtensor<double, 2> softmax_rows_backward(
    const xt::xtensor<double, 2>& a, const xt::xtensor<double, 2>& grad_a)
{
    (void)grad_a;
    return xt::zeros<double>(a.shape());  // replace this line
}

// Exercise 2.8. The similarity of the sinusoidal positional encodings of
// Eq. (2.9) for positions 0..n-1: the matrix G = PE PE^T of shape (n, n),
// G_pq = PE_p . PE_q. Exercise 5 showed that
//     G_pq = sum_{f=0}^{d_model/2 - 1} cos((q - p) omega_f),
//     omega_f = 10000^(-2f / d_model);
// compute G from this closed form, without building PE. Throw
// std::invalid_argument if d_model is odd or zero.
inline xt::xtensor<double, 2> positional_similarity(std::size_t n,
                                                    std::size_t d_model)
{
    (void)d_model;
    return xt::eye<double>(n);  // replace this line
}

}  // namespace exercise

// Exercises of chapter 0 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch00
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xtensor.hpp>

namespace exercise {

// Exercise 0.5. The softmax of one row of logits z (n,) scaled by beta:
//     a_j = exp(beta z_j) / sum_l exp(beta z_l).
// It must give finite weights for logits of +-1000 (no inf, no NaN).
// Return a vector of shape (n,); an empty z gives an empty result.
inline xt::xtensor<double, 1> softmax_scaled(const xt::xtensor<double, 1>& z,
                                             double beta)
{
    (void)beta;
    return xt::zeros<double>(z.shape());  // replace this line
}

// Exercise 0.6. The entropy of each row of a weight matrix a (n_q, n_k):
//     H_i = - sum_j a_ij log a_ij,  with 0 log 0 = 0.
// Return a vector of shape (n_q,): a has no rows, the result is empty; a
// row of no entries (n_k = 0) has entropy 0. Entries are weights: you may
// assume they are >= 0.
inline xt::xtensor<double, 1> row_entropy(const xt::xtensor<double, 2>& a)
{
    return xt::zeros<double>({a.shape()[0] + 1});  // replace this line
}

// Exercise 0.7 (find the bug). Attention of Eq. (0.2) as literal loops,
//     Y = softmax_rows(Q K^T / sqrt(d_k)) V,
// for queries Q (n_q, d_k), keys K (n_k, d_k) and values V (n_k, d_v);
// it returns Y of shape (n_q, d_v), and stays finite for scores of
// +-1000. It throws std::invalid_argument if Q or K is empty (n_q, n_k or
// d_k is 0) or if the shapes do not fit together.
// The code below compiles, checks its shapes, stays finite and returns a
// matrix of the right shape, but it has one bug: its answers are wrong.
// Find the bug and fix it with the smallest change you can.
inline xt::xtensor<double, 2> soft_lookup(const xt::xtensor<double, 2>& Q,
                                          const xt::xtensor<double, 2>& K,
                                          const xt::xtensor<double, 2>& V)
{
    const std::size_t n_q = Q.shape()[0], d_k = Q.shape()[1];
    const std::size_t n_k = K.shape()[0], d_v = V.shape()[1];
    if (n_q == 0 || n_k == 0 || d_k == 0 || K.shape()[1] != d_k
        || V.shape()[0] != n_k) {
        throw std::invalid_argument(
            "soft_lookup: expected Q (n_q, d_k), K (n_k, d_k), V (n_k, d_v)"
            " with n_q, n_k, d_k > 0");
    }
    // Scaled scores S = Q K^T / sqrt(d_k), (n_q, n_k).
    xt::xtensor<double, 2> a = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            for (std::size_t c = 0; c < d_k; ++c) {
                a(i, j) += Q(i, c) * K(j, c);
            }
            a(i, j) /= std::sqrt(double(d_k));
        }
    }
    // Weights, Eq. (0.1): subtract the maximum, exponentiate, normalise.
    for (std::size_t j = 0; j < n_k; ++j) {
        double m = a(0, j);
        for (std::size_t i = 1; i < n_q; ++i) {
            m = std::max(m, a(i, j));
        }
        double sum = 0.0;
        for (std::size_t i = 0; i < n_q; ++i) {
            a(i, j) = std::exp(a(i, j) - m);
            sum += a(i, j);
        }
        for (std::size_t i = 0; i < n_q; ++i) {
            a(i, j) /= sum;
        }
    }
    // Outputs Y = A V, (n_q, d_v).
    xt::xtensor<double, 2> y = xt::zeros<double>({n_q, d_v});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            for (std::size_t c = 0; c < d_v; ++c) {
                y(i, c) += a(i, j) * V(j, c);
            }
        }
    }
    return y;
}

}  // namespace exercise

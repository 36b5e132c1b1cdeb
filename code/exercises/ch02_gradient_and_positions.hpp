// Exercises of chapter 2 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch02
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

// Exercise 2.7. The gradient of a loss L with respect to the scores, row
// by row. Given the weights a = softmax_rows(s) and the gradient
// grad_a = dL/da, both (n_q, n_k), return grad_s = dL/ds (n_q, n_k).
// Start from the Jacobian of Eq. (2.7) and the chain rule, and find a form
// that costs O(n_k) per row: compute grad_s in O(n_q n_k) time, without
// forming any (n_k, n_k) Jacobian. n_q = 0 or n_k = 0 gives an empty
// grad_s of that shape. Throw std::invalid_argument if the shapes of a and
// grad_a differ.
inline xt::xtensor<double, 2> softmax_rows_backward(
    const xt::xtensor<double, 2>& a, const xt::xtensor<double, 2>& grad_a)
{
    (void)grad_a;
    return xt::zeros<double>(a.shape());  // replace this line
}

// Exercise 2.8. The similarity of the sinusoidal positional encodings of
// Eq. (2.9) for positions 0..n-1: the matrix G = PE PE^T of shape (n, n),
// G_pq = PE_p . PE_q. Compute each entry from the closed form in q - p
// that Exercise 5 asks you to find, without building PE. n = 0 gives a
// (0, 0) matrix. Throw std::invalid_argument if d_model is odd or zero.
inline xt::xtensor<double, 2> positional_similarity(std::size_t n,
                                                    std::size_t d_model)
{
    (void)d_model;
    return xt::eye<double>(n);  // replace this line
}

// Exercise 2.9 (find the bug). Self-attention, Eqs. (2.1) to (2.4), as
// literal loops: Q = X W_q, K = X W_k, V = X W_v, then
//     Y = softmax_rows(Q K^T / sqrt(d_k)) V,
// for a sequence X (n, d_model), W_q and W_k (d_model, d_k) and W_v
// (d_model, d_v). It returns Y of shape (n, d_v), stays finite for scores
// of +-1000, and throws std::invalid_argument if X, W_q or W_v is empty
// or the shapes do not fit together.
// The code below compiles and runs, and for some shapes its answers are
// even right, but it has one bug. Find it and fix it with the smallest
// change you can.
inline xt::xtensor<double, 2> self_attention_by_loops(
    const xt::xtensor<double, 2>& X, const xt::xtensor<double, 2>& W_q,
    const xt::xtensor<double, 2>& W_k, const xt::xtensor<double, 2>& W_v)
{
    const std::size_t n = X.shape()[0], d_model = X.shape()[1];
    const std::size_t d_k = W_q.shape()[1], d_v = W_v.shape()[1];
    if (n == 0 || d_model == 0 || d_k == 0 || d_v == 0
        || W_q.shape()[0] != d_model || W_k.shape()[0] != d_model
        || W_k.shape()[1] != d_k || W_v.shape()[0] != d_model) {
        throw std::invalid_argument(
            "self_attention_by_loops: expected X (n, d_model), W_q and W_k "
            "(d_model, d_k), W_v (d_model, d_v), none empty");
    }
    // Projections, Eq. (2.1): P = X W, one sum per entry.
    auto project = [&](const xt::xtensor<double, 2>& W) {
        xt::xtensor<double, 2> P = xt::zeros<double>({n, W.shape()[1]});
        for (std::size_t t = 0; t < n; ++t) {
            for (std::size_t c = 0; c < W.shape()[1]; ++c) {
                for (std::size_t r = 0; r < d_model; ++r) {
                    P(t, c) += X(t, r) * W(r, c);
                }
            }
        }
        return P;
    };
    const xt::xtensor<double, 2> Q = project(W_q);  // (n, d_k)
    const xt::xtensor<double, 2> K = project(W_k);  // (n, d_k)
    const xt::xtensor<double, 2> V = project(W_v);  // (n, d_v)
    // Scaled scores, Eq. (2.2).
    const double scale = 1.0 / std::sqrt(double(d_model));
    xt::xtensor<double, 2> a = xt::zeros<double>({n, n});
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            for (std::size_t c = 0; c < d_k; ++c) {
                a(i, j) += Q(i, c) * K(j, c);
            }
            a(i, j) *= scale;
        }
    }
    // Weights, Eq. (2.3), each row's maximum subtracted first.
    for (std::size_t i = 0; i < n; ++i) {
        double m = a(i, 0), sum = 0.0;
        for (std::size_t j = 1; j < n; ++j) {
            m = std::max(m, a(i, j));
        }
        for (std::size_t j = 0; j < n; ++j) {
            a(i, j) = std::exp(a(i, j) - m);
            sum += a(i, j);
        }
        for (std::size_t j = 0; j < n; ++j) {
            a(i, j) /= sum;
        }
    }
    // Outputs, Eq. (2.4).
    xt::xtensor<double, 2> y = xt::zeros<double>({n, d_v});
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            for (std::size_t c = 0; c < d_v; ++c) {
                y(i, c) += a(i, j) * V(j, c);
            }
        }
    }
    return y;
}

}  // namespace exercise

// Solutions of the coding exercises of chapter 2. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include <xtensor/xtensor.hpp>

namespace exercise {

inline xt::xtensor<double, 2> softmax_rows_backward(
    const xt::xtensor<double, 2>& a, const xt::xtensor<double, 2>& grad_a)
{
    if (a.shape() != grad_a.shape()) {
        throw std::invalid_argument(
            "softmax_rows_backward: a and grad_a must have the same shape");
    }
    const std::size_t n_q = a.shape()[0], n_k = a.shape()[1];
    xt::xtensor<double, 2> grad_s = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        double dot = 0.0;  // grad_a_i . a_i
        for (std::size_t j = 0; j < n_k; ++j) {
            dot += grad_a(i, j) * a(i, j);
        }
        for (std::size_t l = 0; l < n_k; ++l) {
            grad_s(i, l) = a(i, l) * (grad_a(i, l) - dot);
        }
    }
    return grad_s;
}

inline xt::xtensor<double, 2> positional_similarity(std::size_t n,
                                                    std::size_t d_model)
{
    if (d_model == 0 || d_model % 2 != 0) {
        throw std::invalid_argument(
            "positional_similarity: d_model must be even and positive, got "
            + std::to_string(d_model));
    }
    xt::xtensor<double, 2> g = xt::zeros<double>({n, n});
    for (std::size_t p = 0; p < n; ++p) {
        for (std::size_t q = 0; q < n; ++q) {
            const double k = double(q) - double(p);
            for (std::size_t i = 0; i < d_model / 2; ++i) {
                const double omega =
                    std::pow(10000.0, -2.0 * double(i) / double(d_model));
                g(p, q) += std::cos(k * omega);
            }
        }
    }
    return g;
}

// The starter scaled the scores by 1/sqrt(d_model), the width of the
// tokens; Eq. (2.2) scales by 1/sqrt(d_k), the width of the queries and
// keys whose dot products the scores are. The two differ whenever
// d_k != d_model (and the scores are not all 0).
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
    const double scale = 1.0 / std::sqrt(double(d_k));
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

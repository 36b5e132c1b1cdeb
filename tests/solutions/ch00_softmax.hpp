// Solutions of the coding exercises of chapter 0. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>

#include <xtensor/xtensor.hpp>

namespace exercise {

inline xt::xtensor<double, 1> softmax_scaled(const xt::xtensor<double, 1>& z,
                                             double beta)
{
    xt::xtensor<double, 1> a = beta * z;
    double m = -std::numeric_limits<double>::infinity();
    for (double x : a) {
        m = std::max(m, x);
    }
    double sum = 0.0;
    for (auto& x : a) {
        x = std::exp(x - m);
        sum += x;
    }
    return a / sum;
}

inline xt::xtensor<double, 1> row_entropy(const xt::xtensor<double, 2>& a)
{
    xt::xtensor<double, 1> h = xt::zeros<double>({a.shape()[0]});
    for (std::size_t i = 0; i < a.shape()[0]; ++i) {
        for (std::size_t j = 0; j < a.shape()[1]; ++j) {
            if (a(i, j) > 0.0) {
                h(i) -= a(i, j) * std::log(a(i, j));
            }
        }
    }
    return h;
}

// The starter's softmax ran down each column (over the queries); Eq. (0.1)
// runs along each row (over the keys). Fixed: i outside, j inside.
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
    // Weights, Eq. (0.1): subtract the maximum, exponentiate, normalise,
    // along each row.
    for (std::size_t i = 0; i < n_q; ++i) {
        double m = a(i, 0);
        for (std::size_t j = 1; j < n_k; ++j) {
            m = std::max(m, a(i, j));
        }
        double sum = 0.0;
        for (std::size_t j = 0; j < n_k; ++j) {
            a(i, j) = std::exp(a(i, j) - m);
            sum += a(i, j);
        }
        for (std::size_t j = 0; j < n_k; ++j) {
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

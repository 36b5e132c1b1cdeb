// Solutions of the coding exercises of chapter 5. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

#include <xtensor/xtensor.hpp>

namespace exercise {

inline xt::xtensor<double, 1> gate_gradients(
    const xt::xtensor<double, 2>& heads, const xt::xtensor<double, 2>& w_o,
    const xt::xtensor<double, 2>& dL_dy, std::size_t H)
{
    const std::size_t n_q = heads.shape()[0], d = heads.shape()[1];
    if (H == 0 || d % H != 0) {
        throw std::invalid_argument("gate_gradients: H = " + std::to_string(H)
                                    + " must divide d_model = "
                                    + std::to_string(d));
    }
    if (w_o.shape()[0] != d || w_o.shape()[1] != d
        || dL_dy.shape()[0] != n_q || dL_dy.shape()[1] != d) {
        throw std::invalid_argument("gate_gradients: expected w_o (d_model, "
                                    "d_model) and dL_dy (n_q, d_model)");
    }
    const std::size_t d_k = d / H;
    xt::xtensor<double, 1> dL_dxi = xt::zeros<double>({H});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t e = 0; e < d; ++e) {
            double y_bar = 0.0;  // (dL_dy w_o^T)_ie, Eq. (5.3)
            for (std::size_t c = 0; c < d; ++c) {
                y_bar += dL_dy(i, c) * w_o(e, c);
            }
            dL_dxi(e / d_k) += heads(i, e) * y_bar;  // Eq. (5.4)
        }
    }
    return dL_dxi;
}

struct head_gradients {
    xt::xtensor<double, 2> dL_dq;  // dL/dq (n_q, d_k)
    xt::xtensor<double, 2> dL_dk;  // dL/dk (n_k, d_k)
    xt::xtensor<double, 2> dL_dv;  // dL/dv (n_k, d_v)
};

inline head_gradients attention_backward(const xt::xtensor<double, 2>& q,
                                         const xt::xtensor<double, 2>& k,
                                         const xt::xtensor<double, 2>& v,
                                         const xt::xtensor<double, 2>& dL_dy)
{
    const std::size_t n_q = q.shape()[0], d_k = q.shape()[1];
    const std::size_t n_k = k.shape()[0], d_v = v.shape()[1];
    if (k.shape()[1] != d_k || v.shape()[0] != n_k || n_k == 0
        || dL_dy.shape()[0] != n_q || dL_dy.shape()[1] != d_v) {
        throw std::invalid_argument("attention_backward: expected k (n_k, "
                                    "d_k), v (n_k, d_v), dL_dy (n_q, d_v), "
                                    "n_k > 0");
    }
    const double scale = 1.0 / std::sqrt(double(d_k));
    // Forward: the weights a (n_q, n_k).
    xt::xtensor<double, 2> a = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        double m = -std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < n_k; ++j) {
            for (std::size_t c = 0; c < d_k; ++c) {
                a(i, j) += q(i, c) * k(j, c) * scale;
            }
            m = std::max(m, a(i, j));
        }
        double z = 0.0;
        for (std::size_t j = 0; j < n_k; ++j) {
            a(i, j) = std::exp(a(i, j) - m);
            z += a(i, j);
        }
        for (std::size_t j = 0; j < n_k; ++j) {
            a(i, j) /= z;
        }
    }
    head_gradients g{xt::zeros<double>({n_q, d_k}),
                     xt::zeros<double>({n_k, d_k}),
                     xt::zeros<double>({n_k, d_v})};
    for (std::size_t i = 0; i < n_q; ++i) {
        // dL_da_ij = dL_dy_i . v_j, and the row's mean a_i . dL_da_i.
        xt::xtensor<double, 1> dL_da = xt::zeros<double>({n_k});
        double mean = 0.0;
        for (std::size_t j = 0; j < n_k; ++j) {
            for (std::size_t c = 0; c < d_v; ++c) {
                dL_da(j) += dL_dy(i, c) * v(j, c);
                g.dL_dv(j, c) += a(i, j) * dL_dy(i, c);  // a^T dL_dy
            }
            mean += a(i, j) * dL_da(j);
        }
        for (std::size_t j = 0; j < n_k; ++j) {
            const double dL_ds = a(i, j) * (dL_da(j) - mean); // Eq. (5.5)
            for (std::size_t c = 0; c < d_k; ++c) {            // Eq. (5.6)
                g.dL_dq(i, c) += dL_ds * k(j, c) * scale;
                g.dL_dk(j, c) += dL_ds * q(i, c) * scale;
            }
        }
    }
    return g;
}

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
        // The mean of |dL(x)/dxi_h|: the absolute value of each sequence's
        // gradient, BEFORE the mean. (The starter took the absolute value
        // of the mean, so that sequences on which the head helps and
        // sequences on which it hurts cancelled.)
        for (std::size_t x = 0; x < N; ++x) {
            importance(h) += std::abs(dL_dxi(x, h)) / double(N);
        }
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

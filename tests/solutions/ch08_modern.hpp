// Solutions of the coding exercises of chapter 8. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "attention/masking.hpp"

namespace exercise {

inline xt::xtensor<double, 2> mean_pool_kv(const xt::xtensor<double, 2>& w_kv,
                                           std::size_t heads,
                                           std::size_t groups)
{
    if (groups == 0 || heads == 0 || heads % groups != 0
        || w_kv.shape()[1] % heads != 0) {
        throw std::invalid_argument("mean_pool_kv: G must divide H and H "
                                    "the width of w_kv");
    }
    const std::size_t d = w_kv.shape()[1] / heads, per = heads / groups;
    xt::xtensor<double, 2> out = xt::zeros<double>({w_kv.shape()[0],
                                                    groups * d});
    for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t g = h / per;
        xt::view(out, xt::all(), xt::range(g * d, (g + 1) * d)) +=
            xt::view(w_kv, xt::all(), xt::range(h * d, (h + 1) * d))
            / double(per);
    }
    return out;
}

inline xt::xtensor<double, 2> sliding_window_decode(
    const xt::xtensor<double, 2>& q, const xt::xtensor<double, 2>& k,
    const xt::xtensor<double, 2>& v, std::size_t window)
{
    if (window == 0) {
        throw std::invalid_argument("sliding_window_decode: window must be "
                                    "at least 1");
    }
    if (k.shape() != q.shape() || v.shape()[0] != k.shape()[0]) {
        throw std::invalid_argument("sliding_window_decode: expected q, k "
                                    "(n, d_k) and v (n, d_v)");
    }
    const std::size_t n = q.shape()[0], d_k = k.shape()[1],
                      d_v = v.shape()[1];
    xt::xtensor<double, 2> ring_k = xt::zeros<double>({window, d_k});
    xt::xtensor<double, 2> ring_v = xt::zeros<double>({window, d_v});
    xt::xtensor<double, 2> y = xt::zeros<double>({n, d_v});
    for (std::size_t t = 0; t < n; ++t) {
        const std::size_t slot = t % window;
        xt::view(ring_k, slot, xt::all()) = xt::view(k, t, xt::all());
        xt::view(ring_v, slot, xt::all()) = xt::view(v, t, xt::all());
        const std::size_t filled = std::min(t + 1, window);
        std::vector<double> s(filled);
        double m = -INFINITY, z = 0.0;
        for (std::size_t j = 0; j < filled; ++j) {
            double dot = 0.0;
            for (std::size_t c = 0; c < d_k; ++c) {
                dot += q(t, c) * ring_k(j, c);
            }
            s[j] = dot / std::sqrt(double(d_k));
            m = std::max(m, s[j]);
        }
        for (std::size_t j = 0; j < filled; ++j) {
            s[j] = std::exp(s[j] - m);
            z += s[j];
        }
        for (std::size_t j = 0; j < filled; ++j) {
            for (std::size_t c = 0; c < d_v; ++c) {
                y(t, c) += s[j] / z * ring_v(j, c);
            }
        }
    }
    return y;
}

// Exercise 8.10: the bug was the group of a query head.
inline xt::xtensor<double, 2> grouped_query_heads(
    const xt::xtensor<double, 2>& q, const xt::xtensor<double, 2>& k,
    const xt::xtensor<double, 2>& v, std::size_t heads, std::size_t groups)
{
    const std::size_t n = q.shape()[0];
    if (n == 0 || groups == 0 || heads == 0 || heads % groups != 0
        || q.shape()[1] % heads != 0) {
        throw std::invalid_argument("grouped_query_heads: expected n >= 1, "
                                    "G dividing H and H dividing q's width");
    }
    const std::size_t d = q.shape()[1] / heads;
    if (k.shape()[0] != n || k.shape()[1] != groups * d
        || v.shape() != k.shape()) {
        throw std::invalid_argument("grouped_query_heads: expected k and v "
                                    "(n, G d)");
    }
    const attn::mask_matrix mask = attn::causal_mask(n, n);
    xt::xtensor<double, 2> y = xt::zeros<double>({n, heads * d});
    for (std::size_t h = 0; h < heads; ++h) {
        // The fix: Eq. (8.6) puts H / G consecutive query heads in a group,
        // g = floor(h / (H / G)); h % G deals them out in turn instead.
        const std::size_t g = h / (heads / groups);
        const xt::xtensor<double, 2> q_h =
            xt::view(q, xt::all(), xt::range(h * d, (h + 1) * d));
        const xt::xtensor<double, 2> k_g =
            xt::view(k, xt::all(), xt::range(g * d, (g + 1) * d));
        const xt::xtensor<double, 2> v_g =
            xt::view(v, xt::all(), xt::range(g * d, (g + 1) * d));
        xt::view(y, xt::all(), xt::range(h * d, (h + 1) * d)) =
            attn::masked_attend(q_h, k_g, v_g, mask).y;
    }
    return y;
}

}  // namespace exercise

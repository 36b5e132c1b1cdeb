// Solutions of the coding exercises of chapter 4. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <vector>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xtensor.hpp>

namespace exercise {

inline xt::xtensor<bool, 2> causal_mask(std::size_t n_q, std::size_t n_k)
{
    xt::xtensor<bool, 2> m = xt::zeros<bool>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            // j <= n_k - n_q + i, rearranged to stay non-negative.
            m(i, j) = j + n_q <= i + n_k;
        }
    }
    return m;
}

inline xt::xtensor<double, 2> masked_softmax_rows(
    const xt::xtensor<double, 2>& s, const xt::xtensor<bool, 2>& m)
{
    if (s.shape() != m.shape()) {
        throw std::invalid_argument(
            "masked_softmax_rows: s and m must have the same shape");
    }
    const std::size_t n_q = s.shape()[0], n_k = s.shape()[1];
    xt::xtensor<double, 2> a = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        // The maximum over the allowed keys only.
        double s_max = -std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < n_k; ++j) {
            if (m(i, j) && s(i, j) > s_max) {
                s_max = s(i, j);
            }
        }
        if (s_max == -std::numeric_limits<double>::infinity()) {
            continue;  // no key allowed: the row stays zero
        }
        double z = 0.0;
        for (std::size_t j = 0; j < n_k; ++j) {
            if (m(i, j)) {
                a(i, j) = std::exp(s(i, j) - s_max);
                z += a(i, j);
            }
        }
        for (std::size_t j = 0; j < n_k; ++j) {
            a(i, j) /= z;
        }
    }
    return a;
}

inline xt::xtensor<double, 2> decode_step(xt::xtensor<double, 2>& k_cache,
                                          xt::xtensor<double, 2>& v_cache,
                                          const xt::xtensor<double, 2>& q_new,
                                          const xt::xtensor<double, 2>& k_new,
                                          const xt::xtensor<double, 2>& v_new)
{
    const std::size_t t = k_cache.shape()[0], d_k = k_cache.shape()[1];
    const std::size_t d_v = v_cache.shape()[1];
    const auto is = [](const xt::xtensor<double, 2>& m, std::size_t rows,
                       std::size_t cols) {
        return m.shape()[0] == rows && m.shape()[1] == cols;
    };
    if (v_cache.shape()[0] != t || !is(q_new, 1, d_k) || !is(k_new, 1, d_k)
        || !is(v_new, 1, d_v)) {
        throw std::invalid_argument("decode_step: expected caches (t, d_k) "
                                    "and (t, d_v), q_new and k_new (1, d_k), "
                                    "v_new (1, d_v)");
    }
    // The new token joins the cache FIRST: its query must see its own key,
    // the diagonal of the causal mask, Eq. (4.2). (The starter appended
    // after attending, so the new token saw only the t tokens before it:
    // a causal mask off by one, and a zero output at t = 0.)
    k_cache = xt::concatenate(xt::xtuple(k_cache, k_new), 0);
    v_cache = xt::concatenate(xt::xtuple(v_cache, v_new), 0);
    // The new query's scaled scores against the t + 1 cached keys
    std::vector<double> a(t + 1);
    double s_max = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j <= t; ++j) {
        a[j] = 0.0;
        for (std::size_t c = 0; c < d_k; ++c) {
            a[j] += q_new(0, c) * k_cache(j, c);
        }
        a[j] /= std::sqrt(double(d_k));
        s_max = std::max(s_max, a[j]);
    }
    // Its weights, a stable softmax, and the weighted sum of the values
    double z = 0.0;
    for (std::size_t j = 0; j <= t; ++j) {
        a[j] = std::exp(a[j] - s_max);
        z += a[j];
    }
    xt::xtensor<double, 2> y = xt::zeros<double>({std::size_t(1), d_v});
    for (std::size_t j = 0; j <= t; ++j) {
        for (std::size_t c = 0; c < d_v; ++c) {
            y(0, c) += a[j] / z * v_cache(j, c);
        }
    }
    return y;
}

}  // namespace exercise

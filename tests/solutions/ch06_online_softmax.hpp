// Solutions of the coding exercises of chapter 6. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <vector>

#include <xtensor/xtensor.hpp>

namespace exercise {

struct softmax_state {
    xt::xtensor<double, 1> m;  // (n_q,)
    xt::xtensor<double, 1> l;  // (n_q,)
    xt::xtensor<double, 2> o;  // (n_q, d_v)
};

inline softmax_state merge_states(const softmax_state& a,
                                  const softmax_state& b)
{
    if (a.m.shape() != b.m.shape() || a.l.shape() != b.l.shape()
        || a.o.shape() != b.o.shape() || a.l.shape() != a.m.shape()
        || a.o.shape()[0] != a.m.shape()[0]) {
        throw std::invalid_argument("merge_states: the states' shapes differ");
    }
    const double minus_inf = -std::numeric_limits<double>::infinity();
    softmax_state r = a;
    const std::size_t n_q = a.m.shape()[0], d_v = a.o.shape()[1];
    for (std::size_t i = 0; i < n_q; ++i) {
        const double m = std::max(a.m(i), b.m(i));
        if (m == minus_inf) {
            continue;  // neither has seen a key: r keeps a's empty row
        }
        // exp(-inf - m) = 0 for a side that has seen no key.
        const double alpha = std::exp(a.m(i) - m);
        const double beta = std::exp(b.m(i) - m);
        r.m(i) = m;
        r.l(i) = alpha * a.l(i) + beta * b.l(i);
        for (std::size_t c = 0; c < d_v; ++c) {
            r.o(i, c) = alpha * a.o(i, c) + beta * b.o(i, c);
        }
    }
    return r;
}

inline xt::xtensor<double, 2> attention_online(
    const xt::xtensor<double, 2>& q, const xt::xtensor<double, 2>& k,
    const xt::xtensor<double, 2>& v, std::size_t block_k)
{
    if (block_k == 0) {
        throw std::invalid_argument("attention_online: block_k must be >= 1");
    }
    const std::size_t n_q = q.shape()[0], d_k = q.shape()[1];
    const std::size_t n_k = k.shape()[0], d_v = v.shape()[1];
    if (k.shape()[1] != d_k || v.shape()[0] != n_k) {
        throw std::invalid_argument("attention_online: expected k (n_k, d_k) "
                                    "with the d_k of q and v (n_k, d_v)");
    }
    const double minus_inf = -std::numeric_limits<double>::infinity();
    xt::xtensor<double, 1> m = xt::zeros<double>({n_q});
    m.fill(minus_inf);
    xt::xtensor<double, 1> l = xt::zeros<double>({n_q});
    xt::xtensor<double, 2> o = xt::zeros<double>({n_q, d_v});
    xt::xtensor<double, 1> s = xt::zeros<double>({block_k});
    const double scale = 1.0 / std::sqrt(double(d_k));
    for (std::size_t j0 = 0; j0 < n_k; j0 += block_k) {
        const std::size_t j1 = std::min(n_k, j0 + block_k);
        for (std::size_t i = 0; i < n_q; ++i) {
            // The block's scores and the new maximum, Eq. (6.2).
            double m_new = m(i);
            for (std::size_t j = j0; j < j1; ++j) {
                double dot = 0.0;
                for (std::size_t c = 0; c < d_k; ++c) {
                    dot += q(i, c) * k(j, c);
                }
                s(j - j0) = dot * scale;
                m_new = std::max(m_new, s(j - j0));
            }
            // Rescale the old sums, then add the block, Eq. (6.3).
            const double alpha = std::exp(m(i) - m_new);
            l(i) *= alpha;
            for (std::size_t c = 0; c < d_v; ++c) {
                o(i, c) *= alpha;
            }
            for (std::size_t j = j0; j < j1; ++j) {
                const double p = std::exp(s(j - j0) - m_new);
                l(i) += p;
                for (std::size_t c = 0; c < d_v; ++c) {
                    o(i, c) += p * v(j, c);
                }
            }
            m(i) = m_new;
        }
    }
    // Eq. (6.4); with no keys l = 0 and o = 0: the output stays zero.
    for (std::size_t i = 0; i < n_q && n_k > 0; ++i) {
        for (std::size_t c = 0; c < d_v; ++c) {
            o(i, c) /= l(i);
        }
    }
    return o;
}

// Exercise 6.8: the bug was the cache length at the attention, one short.
inline xt::xtensor<double, 2> decode_head_with_cache(
    const xt::xtensor<double, 2>& x, const xt::xtensor<double, 2>& w_q,
    const xt::xtensor<double, 2>& w_k, const xt::xtensor<double, 2>& w_v)
{
    const std::size_t n = x.shape()[0], d_model = w_q.shape()[0];
    const std::size_t d_k = w_q.shape()[1], d_v = w_v.shape()[1];
    if (w_k.shape() != w_q.shape() || w_v.shape()[0] != d_model
        || x.shape()[1] != d_model) {
        throw std::invalid_argument("decode_head_with_cache: expected x "
                                    "(n, d_model), w_q and w_k (d_model, "
                                    "d_k), w_v (d_model, d_v)");
    }
    xt::xtensor<double, 2> k_cache = xt::zeros<double>({n, d_k});
    xt::xtensor<double, 2> v_cache = xt::zeros<double>({n, d_v});
    xt::xtensor<double, 2> y = xt::zeros<double>({n, d_v});
    std::size_t length = 0;  // rows of the cache in use
    for (std::size_t t = 0; t < n; ++t) {
        // Project the new token only; its key and value go to the cache.
        xt::xtensor<double, 1> q_t = xt::zeros<double>({d_k});
        for (std::size_t e = 0; e < d_model; ++e) {
            for (std::size_t c = 0; c < d_k; ++c) {
                q_t(c) += x(t, e) * w_q(e, c);
                k_cache(length, c) += x(t, e) * w_k(e, c);
            }
            for (std::size_t c = 0; c < d_v; ++c) {
                v_cache(length, c) += x(t, e) * w_v(e, c);
            }
        }
        length += 1;  // the fix: the new key is in the cache before the
                      // query attends (the starter added it after)
        // The query attends over the cached keys, its own included.
        std::vector<double> s(length);
        double m = -std::numeric_limits<double>::infinity(), z = 0.0;
        for (std::size_t j = 0; j < length; ++j) {
            double dot = 0.0;
            for (std::size_t c = 0; c < d_k; ++c) {
                dot += q_t(c) * k_cache(j, c);
            }
            s[j] = dot / std::sqrt(double(d_k));
            m = std::max(m, s[j]);
        }
        for (std::size_t j = 0; j < length; ++j) {
            s[j] = std::exp(s[j] - m);
            z += s[j];
        }
        for (std::size_t j = 0; j < length; ++j) {
            for (std::size_t c = 0; c < d_v; ++c) {
                y(t, c) += s[j] / z * v_cache(j, c);
            }
        }
    }
    return y;
}

}  // namespace exercise

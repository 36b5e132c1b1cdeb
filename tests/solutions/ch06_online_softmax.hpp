// Solutions of the coding exercises of chapter 6. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>

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
    // Eq. (6.4).
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t c = 0; c < d_v; ++c) {
            o(i, c) /= l(i);
        }
    }
    return o;
}

}  // namespace exercise

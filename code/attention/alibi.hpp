// ALiBi, attention with linear biases (Press, Smith and Lewis, "Train Short,
// Test Long", ICLR 2022). No position vectors at all: head h adds to the
// score of query i and key j the bias -m_h (i - j), a penalty that grows
// linearly with the distance back. The slopes m_h are fixed, not learned:
// for H a power of two, the geometric sequence 2^(-8/H), 2^(-16/H), ...,
// 2^(-8) (m_h = 2^(-8(h+1)/H), heads counted from 0); for other H, the
// authors' code takes the 2^k slopes of the largest power of two
// 2^k < H, then every other slope of the 2^(k+1) sequence for the rest.
//
// Glossary (tokens are rows):
//   m_h   head h's slope
//   bias  -m_h (i - j) for a query at position i and a key at position j
//                                                         // (n_q, n_k)
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention/core.hpp"

/// \file
/// \brief ALiBi's head slopes and linear biases (\ref ch08_modern).

namespace attn {

// [ch08-alibi-slopes]
/// \brief The slopes for H a power of two, Eq. (8.4): start 2^(-8/H),
///        ratio the same, `m_h = 2^(-8(h+1)/H)`.
/// \param heads H, a power of two
/// \return the slopes `m_0, ..., m_{H-1}`
inline std::vector<double> alibi_slopes_power_of_two(std::size_t heads)
{
    std::vector<double> m(heads);
    const double start = std::pow(2.0, -8.0 / double(heads));
    for (std::size_t h = 0; h < heads; ++h) {
        m[h] = std::pow(start, double(h + 1));
    }
    return m;
}

/// \brief ALiBi's slope of every head (Press et al. 2022, and for H not a
///        power of two the rule of the authors' code).
/// \param heads the number of heads H, at least 1
/// \return the slopes `m_0, ..., m_{H-1}`
/// \throws std::invalid_argument if `heads` is 0
inline std::vector<double> alibi_slopes(std::size_t heads)
{
    if (heads == 0) {
        throw std::invalid_argument("alibi_slopes: expected at least 1 head, "
                                    "got 0");
    }
    std::size_t p = 1;  // the largest power of two <= heads
    while (2 * p <= heads) {
        p *= 2;
    }
    std::vector<double> m = alibi_slopes_power_of_two(p);
    if (p < heads) {
        const std::vector<double> finer = alibi_slopes(2 * p);
        for (std::size_t k = 0; m.size() < heads; k += 2) {
            m.push_back(finer[k]);
        }
    }
    return m;
}
// [ch08-alibi-slopes]

/// \brief ALiBi's bias `-m (i - j)` for queries at positions
///        `p0, ..., p0 + n_q - 1` and keys at positions `0, ..., n_k - 1`
///        (with a cache, p0 = n_k - n_q puts the last query on the last
///        key). Keys after a query get a positive bias: a causal mask must
///        still remove them.
/// \param n_q   number of queries
/// \param n_k   number of keys
/// \param slope the head's slope m
/// \param p0    the position of the first query
/// \return the bias `(n_q, n_k)`
// [ch08-alibi-bias]
inline matrix alibi_bias(std::size_t n_q, std::size_t n_k, double slope,
                         std::size_t p0 = 0)
{
    matrix b = xt::empty<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            b(i, j) = -slope * (double(p0 + i) - double(j));  // Eq. (8.5)
        }
    }
    return b;
}
// [ch08-alibi-bias]

}  // namespace attn

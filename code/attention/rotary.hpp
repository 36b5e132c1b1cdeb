// Rotary position embeddings (Su et al., RoFormer, 2021). Instead of adding
// a position vector to the token, rotate the query and the key of position
// p pairwise: the pair (x_{2f}, x_{2f+1}) turns by the angle p omega_f,
// omega_f = 10000^(-2f/d) (chapter 2's frequency, Eq. 2.9, at width d).
// The score of a query at position i and a key at position j then depends
// on the positions only through i - j, because R_i R_j^T = R_{i-j}
// (chapter 2's Eq. 2.10: a shift of the sinusoid is a rotation).
//
// Two layouts of the same rotation are in use: the paper's, which pairs
// neighbouring columns (2f, 2f+1), and GPT-NeoX's and Hugging Face's
// Llama `rotate_half`, which pairs column f with column f + d/2. They
// differ by a fixed permutation of the columns of W_q and W_k.
//
// Glossary (tokens are rows):
//   x        queries or keys of consecutive positions  // (n, d), d even
//   p0       the position of the first row
//   omega_f  the angle per position of pair f: b^(-2f/d), base b = 10000
//   m        a head's queries or keys, heads side by side  // (n, H d)
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/positional.hpp"

/// \file
/// \brief Rotary position embeddings in the paper's and the rotate-half
///        layout (\ref ch08_modern).

namespace attn {

/// \brief Rotates each row of `x` by its position, pairing neighbouring
///        columns as Su et al. (2021) do: row r (position p = p0 + r) maps
///        `(x_2f, x_2f+1)` to
///        `(x_2f cos p omega_f - x_2f+1 sin p omega_f,
///          x_2f sin p omega_f + x_2f+1 cos p omega_f)`.
/// \param x  queries or keys, one position per row `(n, d)`, d even
/// \param p0 the position of the first row (a decoding step's offset)
/// \param base the base b of the angles `omega_f = b^(-2f/d)`
/// \return the rotated rows `(n, d)`
/// \throws std::invalid_argument if d is odd or zero
// [ch08-rope]
inline matrix rope_interleaved(const matrix& x, std::size_t p0 = 0,
                               double base = 10000.0)
{
    const std::size_t n = x.shape()[0], d = x.shape()[1];
    detail::expect_even_width("rope_interleaved", d);
    matrix y = x;
    for (std::size_t f = 0; f < d / 2; ++f) {
        // Eq. (8.1): pair f turns by p omega_f at position p = p0 + r
        const double omega = std::pow(base, -2.0 * double(f) / double(d));
        for (std::size_t r = 0; r < n; ++r) {
            const double angle = double(p0 + r) * omega;
            const double c = std::cos(angle), s = std::sin(angle);
            const double a = x(r, 2 * f), b = x(r, 2 * f + 1);
            y(r, 2 * f) = a * c - b * s;
            y(r, 2 * f + 1) = a * s + b * c;
        }
    }
    return y;
}
// [ch08-rope]

/// \brief The same rotation in the rotate-half layout of GPT-NeoX and
///        Llama: pair f is columns `f` and `f + d/2`.
/// \param x  queries or keys, one position per row `(n, d)`, d even
/// \param p0 the position of the first row
/// \param base the base b of the angles `omega_f = b^(-2f/d)`
/// \return the rotated rows `(n, d)`
/// \throws std::invalid_argument if d is odd or zero
inline matrix rope_half(const matrix& x, std::size_t p0 = 0,
                        double base = 10000.0)
{
    const std::size_t n = x.shape()[0], d = x.shape()[1];
    detail::expect_even_width("rope_half", d);
    const std::size_t h = d / 2;
    matrix y = x;
    for (std::size_t f = 0; f < h; ++f) {
        const double omega = std::pow(base, -2.0 * double(f) / double(d));
        for (std::size_t r = 0; r < n; ++r) {
            const double angle = double(p0 + r) * omega;
            const double c = std::cos(angle), s = std::sin(angle);
            const double a = x(r, f), b = x(r, f + h);
            y(r, f) = a * c - b * s;
            y(r, f + h) = a * s + b * c;
        }
    }
    return y;
}

/// \brief The column permutation that turns the paper's layout into the
///        rotate-half layout: column `perm[c]` of a paper-layout matrix
///        becomes column c, so that pair f's two columns `2f, 2f+1` land at
///        `f, f + d/2`.
/// \param d the width, even
/// \return `perm` with `perm[f] = 2f` and `perm[f + d/2] = 2f + 1`
/// \throws std::invalid_argument if d is odd or zero
inline std::vector<std::size_t> rope_half_permutation(std::size_t d)
{
    detail::expect_even_width("rope_half_permutation", d);
    std::vector<std::size_t> perm(d);
    for (std::size_t f = 0; f < d / 2; ++f) {
        perm[f] = 2 * f;
        perm[f + d / 2] = 2 * f + 1;
    }
    return perm;
}

/// \brief Columns of `w` in the order `perm`: column c of the result is
///        column `perm[c]` of `w`.
/// \param w    a matrix `(r, d)`
/// \param perm a permutation of `0..d-1`
/// \return the permuted matrix `(r, d)`
/// \throws std::invalid_argument if `perm` is not a permutation of the
///         columns
inline matrix permute_columns(const matrix& w,
                              const std::vector<std::size_t>& perm)
{
    const std::size_t r = w.shape()[0], d = w.shape()[1];
    std::vector<bool> seen(d, false);
    bool ok = perm.size() == d;
    for (std::size_t c = 0; ok && c < d; ++c) {
        ok = perm[c] < d && !seen[perm[c]];
        if (ok) {
            seen[perm[c]] = true;
        }
    }
    if (!ok) {
        throw std::invalid_argument(
            "permute_columns: expected a permutation of the "
            + std::to_string(d) + " columns, got " + std::to_string(perm.size())
            + " entries that are not one");
    }
    matrix y = xt::empty<double>({r, d});
    for (std::size_t i = 0; i < r; ++i) {
        for (std::size_t c = 0; c < d; ++c) {
            y(i, c) = w(i, perm[c]);
        }
    }
    return y;
}

/// \brief Rotates, in place, every head's block of `d` columns of `m`
///        (heads side by side, as chapter 3 lays them out), row r at
///        position `p0 + r`.
/// \param m    queries or keys of all heads `(n, H d)`
/// \param d    the head width, even
/// \param p0   the position of the first row
/// \param base the base of the angles
/// \throws std::invalid_argument if d is odd, zero, or does not divide
///         the width of `m`
inline void rope_heads_in_place(matrix& m, std::size_t d, std::size_t p0,
                                double base = 10000.0)
{
    detail::expect_even_width("rope_heads_in_place", d);
    if (m.shape()[1] % d != 0) {
        throw std::invalid_argument(
            "rope_heads_in_place: the head width " + std::to_string(d)
            + " must divide the width " + std::to_string(m.shape()[1]));
    }
    for (std::size_t c = 0; c < m.shape()[1]; c += d) {
        auto block = xt::view(m, xt::all(), xt::range(c, c + d));
        block = rope_interleaved(block, p0, base);
    }
}

}  // namespace attn

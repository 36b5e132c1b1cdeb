// Sinusoidal positional encodings (Vaswani et al. 2017, Sec. 3.5).
// Self-attention is blind to order: permuting the tokens permutes the
// outputs and nothing else. Adding to each token a vector that depends on
// its position gives the model something to tell positions apart by.
//
// Glossary (tokens are rows):
//   pe       the encodings of positions 0..n-1          // (n, d_model)
//   omega_f  the frequency of pair f: 10000^(-2f/d_model)
//   r_k      the shift by k positions: pe(p + k) = pe(p) r_k
//                                                       // (d_model, d_model)
#pragma once

#include <cmath>
#include <string>

#include "attention/core.hpp"

/// \file
/// \brief Sinusoidal positional encodings and the rotation that shifts
///        them by a fixed offset (\ref ch02_self_attention).

namespace attn {

namespace detail {

inline void expect_even_width(const std::string& where, std::size_t d_model)
{
    if (d_model == 0 || d_model % 2 != 0) {
        throw std::invalid_argument(where + ": d_model must be even and "
                                    "positive (sin and cos pairs), got "
                                    + std::to_string(d_model));
    }
}

}  // namespace detail

/// \brief The frequency of the `f`-th sine-cosine pair,
///        `omega_f = 10000^(-2f / d_model)`, Eq.
///        \ref eq_sinusoidal_pe "(2.9)".
/// \param f       index of the pair, `0 <= f < d_model / 2`
/// \param d_model width of the encodings, even
/// \return the angular frequency in radians per position
/// \throws std::invalid_argument if `d_model` is odd or zero
// [ch02-sinusoidal-pe]
inline double pe_frequency(std::size_t f, std::size_t d_model)
{
    detail::expect_even_width("pe_frequency", d_model);
    return std::pow(10000.0, -2.0 * double(f) / double(d_model));
}

/// \brief Sinusoidal positional encodings, Eq.
///        \ref eq_sinusoidal_pe "(2.9)": `pe(p, 2f) = sin(p omega_f)`,
///        `pe(p, 2f+1) = cos(p omega_f)`.
/// \param n       number of positions `0, ..., n-1`
/// \param d_model width of the encodings, even and positive
/// \return the encodings, one position per row, `(n, d_model)`
/// \throws std::invalid_argument if `d_model` is odd or zero
inline matrix sinusoidal_positional_encoding(std::size_t n,
                                             std::size_t d_model)
{
    detail::expect_even_width("sinusoidal_positional_encoding", d_model);
    matrix pe = xt::zeros<double>({n, d_model});              // (n, d_model)
    for (std::size_t p = 0; p < n; ++p) {
        for (std::size_t f = 0; f < d_model / 2; ++f) {
            const double angle = double(p) * pe_frequency(f, d_model);
            pe(p, 2 * f) = std::sin(angle);
            pe(p, 2 * f + 1) = std::cos(angle);
        }
    }
    return pe;
}
// [ch02-sinusoidal-pe]

// [ch02-pe-shift]
/// \brief The matrix `r_k` with `pe(p + k) = pe(p) r_k` for every position
///        `p`, Eq. \ref eq_pe_shift "(2.10)": block diagonal, one 2x2
///        rotation by the angle `k omega_f` per sine-cosine pair.
/// \param k       the offset, in positions (may be negative)
/// \param d_model width of the encodings, even and positive
/// \return `r_k`, `(d_model, d_model)`, orthogonal
/// \throws std::invalid_argument if `d_model` is odd or zero
inline matrix pe_shift_matrix(double k, std::size_t d_model)
{
    detail::expect_even_width("pe_shift_matrix", d_model);
    matrix r = xt::zeros<double>({d_model, d_model});
    for (std::size_t f = 0; f < d_model / 2; ++f) {
        const double c = std::cos(k * pe_frequency(f, d_model));
        const double s = std::sin(k * pe_frequency(f, d_model));
        // Row vector (sin a, cos a) times this block gives
        // (sin a cos b + cos a sin b, cos a cos b - sin a sin b)
        // = (sin(a + b), cos(a + b)) with b = k omega_f.
        r(2 * f, 2 * f) = c;
        r(2 * f, 2 * f + 1) = -s;
        r(2 * f + 1, 2 * f) = s;
        r(2 * f + 1, 2 * f + 1) = c;
    }
    return r;
}
// [ch02-pe-shift]

}  // namespace attn

// The row softmax, the one function that turns scores into weights in
// every chapter: forward (numerically stable, with its literal-loop
// reference), the additive bias through which a mask enters it, and its
// backward pass.
//
// Glossary (tokens are rows throughout the book):
//   s      logits (scores), one row per query               // (n_q, n_k)
//   m      mask, true = may attend                          // (n_q, n_k)
//   b      its bias: 0 where allowed, -inf where not        // (n_q, n_k)
//   a      weights: each row sums to 1, or is all zero      // (n_q, n_k)
//          when every key in it is masked (-inf)
//   dL_da  gradient of a loss L with respect to a           // (n_q, n_k)
//   dL_ds  gradient of L with respect to s                  // (n_q, n_k)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

#include <xtensor/xoperation.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xsort.hpp>
#include <xtensor/xtensor.hpp>

#include "attention/core.hpp"

/// \file
/// \brief The row softmax, forward and backward, and the bias of a mask
///        (\ref ch00_introduction).

namespace attn {

namespace detail {

// Logits may be finite or -inf (a masked key); NaN and +inf have no
// meaning as logits, so they are refused, naming the first one.
inline void expect_logits(const std::string& where, const matrix& s)
{
    for (std::size_t i = 0; i < s.size(); ++i) {
        const double x = s.data()[i];
        if (std::isnan(x) || x == std::numeric_limits<double>::infinity()) {
            throw std::invalid_argument(
                where + ": logits must be finite or -inf, got "
                + std::to_string(x) + " at index "
                + shape_string(xt::unravel_index(i, s.shape())));
        }
    }
}

}  // namespace detail

// [ch00-softmax-rows]
/// \brief Row softmax, Eq. \ref eq_softmax "(0.1)": each row of the result
///        is `exp(s_j - m) / sum_k exp(s_k - m)` with `m` the row maximum.
///
/// Subtracting the row maximum changes nothing mathematically and keeps
/// every exponent at most 0, so logits of 1000 do not overflow. An entry of
/// `-inf` is a masked key and gets weight exactly 0; a row whose entries
/// are all `-inf` (no key allowed) gets all-zero weights, never NaN.
/// \param s logits `(n_q, n_k)`; finite or `-inf`
/// \return weights `(n_q, n_k)`; each row sums to 1 or is all zero
/// \throws std::invalid_argument if `s` holds NaN or `+inf`
inline matrix softmax_rows(const matrix& s)
{
    detail::expect_logits("softmax_rows", s);
    if (s.size() == 0) {
        return s;
    }
    // Row maxima, stored before they are broadcast: xtensor 0.24.3 gives
    // wrong numbers for a lazy keep_dims reduction inside a broadcast.
    matrix m = xt::amax(s, {1}, xt::keep_dims);                // (n_q, 1)
    // A fully masked row has m = -inf; shifting it by 0 keeps it -inf,
    // so its exponentials are 0 instead of exp(-inf + inf) = NaN.
    m = xt::where(xt::isinf(m), 0.0, m);
    matrix e = xt::exp(s - m);                                 // (n_q, n_k)
    matrix z = xt::sum(e, {1}, xt::keep_dims);                 // (n_q, 1)
    z = xt::where(xt::equal(z, 0.0), 1.0, z);
    return e / z;
}
// [ch00-softmax-rows]

/// \brief The first fraction of Eq. \ref eq_softmax "(0.1)" as it stands,
///        without subtracting the row maximum: the naive softmax.
///
/// It is here to be shown failing, not used: a score above about 709
/// overflows `exp` to infinity and its row becomes NaN (chapter 0's
/// playground and test show when). The weights are otherwise those of
/// `softmax_rows`, to rounding.
/// \param s logits `(n_q, n_k)`, finite
/// \return `exp(s_ij) / sum_l exp(s_il)` `(n_q, n_k)`, NaN where it overflows
/// \throws std::invalid_argument if `s` holds NaN or an infinity
inline matrix softmax_rows_naive(const matrix& s)
{
    expect_finite("softmax_rows_naive", "s", s);
    matrix e = xt::exp(s);                                     // (n_q, n_k)
    const matrix z = xt::sum(e, {1}, xt::keep_dims);           // (n_q, 1)
    return e / z;
}

// [ch00-softmax-rows-reference]
/// \brief The same row softmax as literal loops, straight from Eq.
///        \ref eq_softmax "(0.1)"; the tests compare the two.
/// \param s logits `(n_q, n_k)`; finite or `-inf`
/// \return weights `(n_q, n_k)`
/// \throws std::invalid_argument if `s` holds NaN or `+inf`
inline matrix softmax_rows_reference(const matrix& s)
{
    detail::expect_logits("softmax_rows_reference", s);
    const std::size_t n_q = s.shape()[0], n_k = s.shape()[1];
    matrix a = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        double m = -std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < n_k; ++j) {
            m = std::max(m, s(i, j));
        }
        if (m == -std::numeric_limits<double>::infinity()) {
            continue;  // every key masked: the row stays zero
        }
        double z = 0.0;
        for (std::size_t j = 0; j < n_k; ++j) {
            z += std::exp(s(i, j) - m);
        }
        for (std::size_t j = 0; j < n_k; ++j) {
            a(i, j) = std::exp(s(i, j) - m) / z;
        }
    }
    return a;
}
// [ch00-softmax-rows-reference]


// [ch04-mask-bias]
/// \brief The additive bias of a mask, Eq. \ref eq_mask_bias "(4.5)":
///        0 where the mask allows a key, minus infinity where it does not.
/// \param m a mask `(n_q, n_k)`
/// \return the bias `(n_q, n_k)`, entries 0 or `-inf`
inline matrix mask_bias(const mask_matrix& m)
{
    const double inf = std::numeric_limits<double>::infinity();
    return xt::where(m, 0.0, -inf);
}
// [ch04-mask-bias]

namespace detail {

inline void expect_softmax_backward_shapes(const std::string& where,
                                           const matrix& a,
                                           const matrix& dL_da)
{
    expect_shape(where, "dL_da", dL_da, {a.shape()[0], a.shape()[1]},
                 "(n_q, n_k) of a");
}

}  // namespace detail

// [ch05-softmax-backward]
/// \brief Gradient through the row softmax, Eq. \ref eq_grad_softmax
///        "(5.5)": `dL_ds = a * (dL_da - rowsum(a * dL_da))`.
///
/// A masked entry has `a = 0`, so its gradient is exactly 0; a fully masked
/// row (all zero) gets an all-zero gradient.
/// \param a   weights from the forward pass `(n_q, n_k)`
/// \param dL_da gradient of the loss with respect to `a` `(n_q, n_k)`
/// \return gradient with respect to the scores `(n_q, n_k)`
/// \throws std::invalid_argument if the shapes differ
inline matrix softmax_rows_backward(const matrix& a, const matrix& dL_da)
{
    detail::expect_softmax_backward_shapes("softmax_rows_backward", a, dL_da);
    // The row sums are stored before they are broadcast (xtensor 0.24.3).
    matrix r = xt::sum(a * dL_da, {1}, xt::keep_dims);        // (n_q, 1)
    return a * (dL_da - r);                                    // (n_q, n_k)
}
// [ch05-softmax-backward]

// [ch05-softmax-backward-reference]
/// \brief The same gradient with the full softmax Jacobian of each row,
///        `J_jl = a_j (delta_jl - a_l)`, as literal loops.
/// \param a   weights `(n_q, n_k)`
/// \param dL_da gradient with respect to `a` `(n_q, n_k)`
/// \return `dL_ds` with `dL_ds[i, l] = sum_j dL_da[i, j] J_jl` `(n_q, n_k)`
/// \throws std::invalid_argument if the shapes differ
inline matrix softmax_rows_backward_reference(const matrix& a,
                                              const matrix& dL_da)
{
    detail::expect_softmax_backward_shapes("softmax_rows_backward_reference",
                                           a, dL_da);
    const std::size_t n_q = a.shape()[0], n_k = a.shape()[1];
    matrix dL_ds = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t l = 0; l < n_k; ++l) {
            for (std::size_t j = 0; j < n_k; ++j) {
                const double jacobian = a(i, j) * ((j == l ? 1.0 : 0.0)
                                                   - a(i, l));
                dL_ds(i, l) += dL_da(i, j) * jacobian;
            }
        }
    }
    return dL_ds;
}
// [ch05-softmax-backward-reference]

}  // namespace attn

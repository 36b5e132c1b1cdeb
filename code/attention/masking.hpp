// Masks: which keys a query may attend to. A mask is a boolean matrix,
// true where query i may attend to key j (the meaning of the boolean
// attn_mask of PyTorch's scaled_dot_product_attention). It acts on the
// scores as an additive bias of 0 or minus infinity before the softmax, so
// a masked key gets weight exactly 0 and the other weights renormalise over
// the keys that remain.
//
// Glossary (tokens are rows):
//   m        mask, true = may attend                     // (n_q, n_k)
//   b        additive bias, 0 or -inf                     // (n_q, n_k)
//   q, k, v  queries, keys, values                        // (n_q, d_k),
//                                                         // (n_k, d_k),
//                                                         // (n_k, d_v)
//   s        scaled scores q k^T / sqrt(d_k) + b          // (n_q, n_k)
//   a        weights softmax_rows(s)                      // (n_q, n_k)
//   y        outputs a v                                  // (n_q, d_v)
//   length   number of real (not padding) keys, n_real in Eq. (4.3)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xoperation.hpp>

#include "attention/attend.hpp"
#include "attention/core.hpp"
#include "attention/softmax.hpp"
#include "attention/self_attention.hpp"

/// \file
/// \brief Causal and padding masks, their combination, the additive
///        minus-infinity bias and masked attention
///        (\ref ch04_cross_attention).

namespace attn {

/// \brief Whether a causal mask lets a query see the key at its own
///        position.
enum class diagonal {
    included,  ///< `j <= i`: the usual causal mask of a decoder
    excluded   ///< `j < i`: only strictly earlier keys (chapter 5's task)
};

/// \brief The causal (look-ahead) mask, Eq. \ref eq_causal_mask "(4.2)":
///        query `i` may attend to key `j` when `j <= i + n_k - n_q`.
///
/// The queries are the *last* `n_q` of the `n_k` positions: query `i` sits
/// at position `n_k - n_q + i`, so the diagonal of allowed keys ends in the
/// bottom-right corner (PyTorch calls this alignment `causal_lower_right`).
/// For `n_q = n_k` it is the lower triangle with its diagonal. For
/// `n_q > n_k` the first `n_q - n_k` queries sit before the first key and
/// may attend to nothing (their rows are all false). With
/// `diagonal::excluded` a query may not see its own position either.
/// \param n_q  number of queries
/// \param n_k  number of keys
/// \param diag whether a query sees its own position (default: yes)
/// \return the mask `(n_q, n_k)`
// [ch04-causal-mask]
inline mask_matrix causal_mask(std::size_t n_q, std::size_t n_k,
                               diagonal diag = diagonal::included)
{
    mask_matrix m = xt::zeros<bool>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            // Position of query i among the keys: n_k - n_q + i; allow
            // every key at or before it (j + n_q <= i + n_k avoids
            // negative numbers in unsigned arithmetic).
            m(i, j) = diag == diagonal::included ? j + n_q <= i + n_k
                                                 : j + n_q < i + n_k;
        }
    }
    return m;
}
// [ch04-causal-mask]

// [ch04-padding-mask]
/// \brief The padding mask over keys, Eq. \ref eq_padding_mask "(4.3)":
///        every query may attend to the first `length` keys, none to the
///        padding after them.
/// \param n_q    number of queries
/// \param n_k    number of keys, real ones and padding
/// \param length number of real keys, `length <= n_k`
/// \return the mask `(n_q, n_k)`; each row is the same
/// \throws std::invalid_argument if `length > n_k`
inline mask_matrix padding_mask(std::size_t n_q, std::size_t n_k,
                                std::size_t length)
{
    if (length > n_k) {
        throw std::invalid_argument(
            "padding_mask: length must be at most n_k = "
            + std::to_string(n_k) + ", got " + std::to_string(length));
    }
    mask_matrix m = xt::zeros<bool>({n_q, n_k});
    xt::view(m, xt::all(), xt::range(0, length)) = true;
    return m;
}
// [ch04-padding-mask]

// [ch04-mask-and]
/// \brief Combines two masks, Eq. \ref eq_mask_and "(4.4)": a query may
///        attend to a key only if *both* masks allow it.
/// \param m1 a mask `(n_q, n_k)`
/// \param m2 a mask `(n_q, n_k)`
/// \return `m1 && m2`, elementwise `(n_q, n_k)`
/// \throws std::invalid_argument if the shapes differ
inline mask_matrix mask_and(const mask_matrix& m1, const mask_matrix& m2)
{
    expect_shape("mask_and", "m2", m2, {m1.shape()[0], m1.shape()[1]},
                 "(n_q, n_k) of m1");
    return m1 && m2;
}
// [ch04-mask-and]


namespace detail {

inline void expect_masked_attend_shapes(const std::string& where,
                                        const matrix& q, const matrix& k,
                                        const matrix& v,
                                        const mask_matrix& m)
{
    expect_nonempty(where, "q", q);
    expect_nonempty(where, "k", k);
    const std::size_t n_q = q.shape()[0], d_k = q.shape()[1];
    const std::size_t n_k = k.shape()[0];
    expect_shape(where, "k", k, {n_k, d_k}, "(n_k, d_k)");
    expect_shape(where, "v", v, {n_k, v.shape()[1]}, "(n_k, d_v)");
    expect_shape(where, "m", m, {n_q, n_k}, "(n_q, n_k)");
}

}  // namespace detail

// [ch04-masked-attend]
/// \brief Masked scaled dot-product attention, Eq. \ref eq_mask_bias
///        "(4.5)": `y = softmax_rows(q k^T / sqrt(d_k) + b) v` with `b`
///        the bias of `m`.
///
/// The softmax is the book's softmax_rows(), so a masked key gets weight
/// exactly 0, and a query with no key allowed gets all-zero weights and
/// a zero output.
/// \param q queries `(n_q, d_k)`
/// \param k keys `(n_k, d_k)`
/// \param v values `(n_k, d_v)`
/// \param m mask `(n_q, n_k)`, true = may attend
/// \return masked scores (with `-inf`) and weights `(n_q, n_k)`, outputs
///         `(n_q, d_v)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline attention_result masked_attend(const matrix& q, const matrix& k,
                                      const matrix& v, const mask_matrix& m)
{
    detail::expect_masked_attend_shapes("masked_attend", q, k, v, m);
    const std::size_t d_k = q.shape()[1];
    attention_result r;
    // Scaled scores plus the bias of the mask, Eq. (4.5).
    r.s = xt::linalg::dot(q, xt::transpose(k)) / std::sqrt(double(d_k))
          + mask_bias(m);                                 // (n_q, n_k)
    r.a = softmax_rows(r.s);                              // (n_q, n_k)
    r.y = xt::linalg::dot(r.a, v);                        // (n_q, d_v)
    return r;
}
// [ch04-masked-attend]

/// \brief Masked single-head self-attention: chapter 2's layer, Eqs.
///        \ref eq_qkv_projections "(2.1)" to \ref eq_self_attention_output
///        "(2.4)", with the masked attention of Eq. \ref eq_mask_bias
///        "(4.5)".
/// \param x   the sequence `(n, d_model)`
/// \param w_q query projection `(d_model, d_k)`
/// \param w_k key projection `(d_model, d_k)`
/// \param w_v value projection `(d_model, d_v)`
/// \param m   mask `(n, n)`, true = may attend
/// \return outputs `(n, d_v)`
/// \throws std::invalid_argument if a matrix is empty or the shapes do not
///         fit together
inline matrix masked_self_attention(const matrix& x, const matrix& w_q,
                                    const matrix& w_k, const matrix& w_v,
                                    const mask_matrix& m)
{
    detail::expect_self_attention_shapes("masked_self_attention", x, w_q, w_k,
                                        w_v);
    const matrix q = xt::linalg::dot(x, w_q);                 // (n, d_k)
    const matrix k = xt::linalg::dot(x, w_k);                 // (n, d_k)
    const matrix v = xt::linalg::dot(x, w_v);                 // (n, d_v)
    detail::expect_masked_attend_shapes("masked_self_attention", q, k, v, m);
    return masked_attend(q, k, v, m).y;
}

/// \brief The same masked attention as literal loops that never form
///        `-inf`: each query's softmax runs over the allowed keys only,
///        and a query with no allowed key gets a zero output.
/// \param q queries `(n_q, d_k)`
/// \param k keys `(n_k, d_k)`
/// \param v values `(n_k, d_v)`
/// \param m mask `(n_q, n_k)`
/// \return outputs `(n_q, d_v)`
/// \throws std::invalid_argument on inconsistent shapes
// [ch04-masked-attend-reference]
inline matrix masked_attend_reference(const matrix& q, const matrix& k,
                                      const matrix& v, const mask_matrix& m)
{
    detail::expect_masked_attend_shapes("masked_attend_reference", q, k, v,
                                        m);
    const std::size_t n_q = q.shape()[0], d_k = q.shape()[1];
    const std::size_t n_k = k.shape()[0], d_v = v.shape()[1];
    matrix y = xt::zeros<double>({n_q, d_v});
    for (std::size_t i = 0; i < n_q; ++i) {
        std::vector<double> s(n_k, 0.0);
        double s_max = -std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < n_k; ++j) {
            if (!m(i, j)) {
                continue;  // a masked key is simply left out
            }
            for (std::size_t c = 0; c < d_k; ++c) {
                s[j] += q(i, c) * k(j, c);
            }
            s[j] /= std::sqrt(double(d_k));
            s_max = std::max(s_max, s[j]);
        }
        double z = 0.0;
        for (std::size_t j = 0; j < n_k; ++j) {
            z += m(i, j) ? std::exp(s[j] - s_max) : 0.0;
        }
        for (std::size_t j = 0; j < n_k; ++j) {
            for (std::size_t c = 0; m(i, j) && c < d_v; ++c) {
                y(i, c) += std::exp(s[j] - s_max) / z * v(j, c);
            }
        }
    }
    return y;
}
// [ch04-masked-attend-reference]

namespace detail {

inline void expect_fill_shapes(const matrix& s, const mask_matrix& m)
{
    expect_nonempty("masked_fill_softmax", "s", s);
    expect_shape("masked_fill_softmax", "m", m, {s.shape()[0], s.shape()[1]},
                 "(n_q, n_k)");
}

}  // namespace detail

/// \brief The masked softmax as much popular code writes it, Eq.
///        \ref eq_masked_fill "(4.6)": *replace* every masked score by a
///        constant `fill` (often `-1e9`), then take a textbook softmax
///        that subtracts the row maximum and has no special case.
///
/// For a row with at least one allowed key and a `fill` far below the
/// scores, this equals the book's rule. For a fully masked row it does
/// not: a finite `fill` gives uniform weights `1 / n_k` (the query reads
/// the mean of the values it was forbidden to see), and `fill = -inf`
/// gives NaN, since the maximum is `-inf` and `-inf - (-inf)` is NaN.
/// Kept for the comparison only; the book uses \ref masked_attend.
/// \param s    scaled scores `(n_q, n_k)`, finite
/// \param m    mask `(n_q, n_k)`
/// \param fill the value written over masked scores
/// \return weights `(n_q, n_k)`, possibly uniform or NaN rows
/// \throws std::invalid_argument if the shapes differ
// [ch04-masked-fill-softmax]
inline matrix masked_fill_softmax(const matrix& s, const mask_matrix& m,
                                  double fill)
{
    detail::expect_fill_shapes(s, m);
    const std::size_t n_q = s.shape()[0], n_k = s.shape()[1];
    matrix a = xt::where(m, s, fill);                     // (n_q, n_k)
    for (std::size_t i = 0; i < n_q; ++i) {
        double s_max = a(i, 0);
        for (std::size_t j = 1; j < n_k; ++j) {
            s_max = std::max(s_max, a(i, j));
        }
        double z = 0.0;
        for (std::size_t j = 0; j < n_k; ++j) {
            a(i, j) = std::exp(a(i, j) - s_max);
            z += a(i, j);
        }
        for (std::size_t j = 0; j < n_k; ++j) {
            a(i, j) /= z;
        }
    }
    return a;
}
// [ch04-masked-fill-softmax]

}  // namespace attn

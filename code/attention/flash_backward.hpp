// Attention at scale, backward: the gradients of tiled attention without
// the n x n matrices, as FlashAttention computes them (Dao et al. 2022;
// Dao 2023), and the count of bytes that move between main memory and a
// cache of a given size, stored against tiled.
//
// Glossary (tokens are rows):
//   q, k, v, mask  as in scale.hpp           // (n_q, d_k), (n_k, d_k),
//                                            // (n_k, d_v), (n_q, n_k)
//   y      the forward pass's output         // (n_q, d_v)
//   lse    each row's log-sum-exp m + log l of its scores, -inf for a
//          row with no key allowed           // (n_q,)
//   delta  rowsum(dL_dy * y), one per query  // (n_q,)
//   dL_dy  the gradient of the loss with respect to y   // (n_q, d_v)
//   dL_dq, dL_dk, dL_dv  the gradients the backward pass returns,
//          shapes of q, k, v
//   s, a   scores and weights, only ever one block of them at a time in
//          the tiled backward                // (block_q, block_k)
//   cache_bytes  the size of the fast memory in the IO model (M_cache)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/masking.hpp"
#include "attention/scale.hpp"
#include "attention/softmax.hpp"

/// \file
/// \brief The backward pass of tiled attention from the saved log-sum-exp,
///        and the IO model of stored and tiled attention (\ref ch06_scale).

namespace attn {

/// \brief Tiled attention's output and each row's log-sum-exp, Eq.
///        \ref eq_lse_weights "(6.6)": all the backward pass keeps.
struct attention_with_lse {
    matrix y;    ///< outputs `(n_q, d_v)`
    vector lse;  ///< `m_i + log l_i` `(n_q,)`, `-inf` for a row with no key
};

/// \brief The gradients of a loss with respect to one attention's inputs.
struct attention_gradients {
    matrix dL_dq;  ///< `(n_q, d_k)`
    matrix dL_dk;  ///< `(n_k, d_k)`
    matrix dL_dv;  ///< `(n_k, d_v)`
};

namespace detail {

// Checks the arguments of a backward pass: q, k, v and the mask as for the
// forward pass; y and dL_dy (n_q, d_v), finite; lse (n_q,), finite or -inf.
// Returns (n_q, n_k, d_k, d_v).
inline std::vector<std::size_t> expect_backward_args(
    const std::string& where, const matrix& q, const matrix& k,
    const matrix& v, const mask_matrix& mask, const matrix& y,
    const vector& lse, const matrix& dL_dy)
{
    const auto n = expect_attention_args(where, q, k, v, mask);
    expect_shape(where, "y", y, {n[0], n[3]}, "(n_q, d_v)");
    expect_shape(where, "dL_dy", dL_dy, {n[0], n[3]}, "(n_q, d_v)");
    expect_shape(where, "lse", lse, {n[0]}, "(n_q,)");
    expect_finite(where, "y", y);
    expect_finite(where, "dL_dy", dL_dy);
    for (std::size_t i = 0; i < lse.size(); ++i) {
        if (std::isnan(lse(i)) || lse(i) == -minus_inf) {
            throw std::invalid_argument(
                where + ": lse must be finite or -inf, got "
                + std::to_string(lse(i)) + " at index "
                + std::to_string(i));
        }
    }
    return n;
}

// o (cols, width) += p^T x: p (rows, cols), x (rows, width), row-major.
inline void add_transposed_product(std::size_t rows, std::size_t cols,
                                   std::size_t width, const double* p,
                                   const double* x, double* o)
{
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(cols),
                int(width), int(rows), 1.0, p, int(cols), x, int(width), 1.0,
                o, int(width));
}

// [ch06-recompute-weights]
// The weights of one block, Eq. (6.6): on entry p holds the block's scaled
// scores (rows, cols); on exit a_ij = exp(s_ij - lse_i), 0 where the mask
// forbids key j or row i has no key at all (lse_i = -inf).
inline void recompute_weights(const bool* mask, std::size_t n_k,
                              std::size_t i0, std::size_t j0,
                              std::size_t rows, std::size_t cols,
                              const double* lse, double* p)
{
    mask_block(mask, n_k, i0, j0, rows, cols, p);  // -inf where forbidden
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) {
            double& a = p[i * cols + j];
            a = lse[i] == minus_inf ? 0.0 : std::exp(a - lse[i]);
        }
    }
}
// [ch06-recompute-weights]

// The arrays of one backward pass, row-major; mask may be null.
struct backward_problem {
    std::size_t n_q, n_k, d_k, d_v;
    const double *q, *k, *v;   // (n_q, d_k), (n_k, d_k), (n_k, d_v)
    const bool* mask;          // (n_q, n_k) or null
    const double *y, *dy;      // (n_q, d_v) each
    const double *lse, *delta; // (n_q,) each
    double *dq, *dk, *dv;      // shapes of q, k, v, added to
};

// [ch06-backward-block]
// One block of queries [i0, i0 + rows) against one block of keys
// [j0, j0 + cols), Eqs. (6.6) and (6.7); a and ds are (rows, cols)
// buffers. Adds the block's terms to dV_j, dQ_i and dK_j.
inline void backward_block(const backward_problem& b, std::size_t i0,
                           std::size_t rows, std::size_t j0,
                           std::size_t cols, double* a, double* ds)
{
    const std::size_t d_k = b.d_k, d_v = b.d_v;
    const double scale = 1.0 / std::sqrt(double(d_k));
    // The block's weights, recomputed from its scores and lse, Eq. (6.6).
    scaled_scores(rows, cols, d_k, scale, b.q + i0 * d_k, b.k + j0 * d_k, a);
    recompute_weights(b.mask, b.n_k, i0, j0, rows, cols, b.lse + i0, a);
    // dV_j += A^T dY_i; then dA = dY_i V_j^T, into ds.
    add_transposed_product(rows, cols, d_v, a, b.dy + i0 * d_v,
                           b.dv + j0 * d_v);
    scaled_scores(rows, cols, d_v, 1.0, b.dy + i0 * d_v, b.v + j0 * d_v, ds);
    // dS = A * (dA - delta_i), times 1 / sqrt(d_k) for dQ and dK.
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) {
            const std::size_t ij = i * cols + j;
            ds[ij] = scale * a[ij] * (ds[ij] - b.delta[i0 + i]);
        }
    }
    add_product(rows, cols, d_k, ds, b.k + j0 * d_k, b.dq + i0 * d_k);
    add_transposed_product(rows, cols, d_k, ds, b.q + i0 * d_k,
                           b.dk + j0 * d_k);
}
// [ch06-backward-block]

// delta_i = sum_c dy_ic y_ic, Eq. (6.7): (n_q,) from two (n_q, d_v).
inline std::vector<double> row_dots(std::size_t n_q, std::size_t d_v,
                                    const double* dy, const double* y)
{
    std::vector<double> delta(n_q, 0.0);
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t c = 0; c < d_v; ++c) {
            delta[i] += dy[i * d_v + c] * y[i * d_v + c];
        }
    }
    return delta;
}

// [ch06-backward-kernel]
// The backward pass in FlashAttention-2's order: key blocks outside,
// query blocks inside. b.delta is set here; dq, dk, dv are overwritten.
// Only two (block_q, block_k) blocks and delta (n_q,) are allocated.
inline void attention_backward_tiled_raw(backward_problem b,
                                         std::size_t block_q,
                                         std::size_t block_k)
{
    std::vector<double> a(block_q * block_k), ds(block_q * block_k);
    const std::vector<double> delta = row_dots(b.n_q, b.d_v, b.dy, b.y);
    b.delta = delta.data();
    std::fill(b.dq, b.dq + b.n_q * b.d_k, 0.0);
    std::fill(b.dk, b.dk + b.n_k * b.d_k, 0.0);
    std::fill(b.dv, b.dv + b.n_k * b.d_v, 0.0);
    for (std::size_t j0 = 0; j0 < b.n_k; j0 += block_k) {
        const std::size_t cols = std::min(block_k, b.n_k - j0);
        for (std::size_t i0 = 0; i0 < b.n_q; i0 += block_q) {
            const std::size_t rows = std::min(block_q, b.n_q - i0);
            backward_block(b, i0, rows, j0, cols, a.data(), ds.data());
        }
    }
}
// [ch06-backward-kernel]

}  // namespace detail

/// \brief Tiled attention that also returns each row's log-sum-exp, Eq.
///        \ref eq_lse_weights "(6.6)", for the backward pass.
/// \param q       queries `(n_q, d_k)`
/// \param k       keys `(n_k, d_k)`
/// \param v       values `(n_k, d_v)`
/// \param mask    `(n_q, n_k)`, true = may attend; empty = no mask
/// \param block_q queries per block, at least 1
/// \param block_k keys per block, at least 1
/// \return outputs `(n_q, d_v)` and log-sum-exps `(n_q,)`
/// \throws std::invalid_argument on empty or inconsistent shapes or a
///         block size of 0
inline attention_with_lse attention_tiled_with_lse(
    const matrix& q, const matrix& k, const matrix& v,
    const mask_matrix& mask = mask_matrix(), std::size_t block_q = 128,
    std::size_t block_k = 256)
{
    const std::string where = "attention_tiled_with_lse";
    const auto n = detail::expect_attention_args(where, q, k, v, mask);
    detail::expect_block_sizes(where, block_q, block_k);
    attention_with_lse r{xt::empty<double>({n[0], n[3]}),
                         xt::empty<double>({n[0]})};
    detail::attention_tiled_raw(n[0], n[1], n[2], n[3], q.data(), k.data(),
                                v.data(), mask.size() ? mask.data() : nullptr,
                                r.y.data(), block_q, block_k, r.lse.data());
    return r;
}

// [ch06-attention-backward-tiled]
/// \brief The backward pass of attention from the saved log-sum-exp, Eqs.
///        \ref eq_lse_weights "(6.6)" and \ref eq_flash_backward "(6.7)",
///        never storing an `(n_q, n_k)` matrix. Extra memory: two
///        `(block_q, block_k)` blocks and `delta` `(n_q,)`.
/// \param q, k, v, mask the forward pass's inputs, as for attention_tiled
/// \param y       the forward pass's output `(n_q, d_v)`
/// \param lse     its log-sum-exps `(n_q,)`
/// \param dL_dy   gradient of the loss with respect to `y` `(n_q, d_v)`
/// \param block_q queries per block, at least 1
/// \param block_k keys per block, at least 1
/// \return `dL_dq (n_q, d_k)`, `dL_dk (n_k, d_k)`, `dL_dv (n_k, d_v)`
/// \throws std::invalid_argument on inconsistent shapes, values that are
///         not finite, or a block size of 0
inline attention_gradients attention_backward_tiled(
    const matrix& q, const matrix& k, const matrix& v,
    const mask_matrix& mask, const matrix& y, const vector& lse,
    const matrix& dL_dy, std::size_t block_q = 128, std::size_t block_k = 256)
{
    const std::string where = "attention_backward_tiled";
    const auto n =
        detail::expect_backward_args(where, q, k, v, mask, y, lse, dL_dy);
    detail::expect_block_sizes(where, block_q, block_k);
    attention_gradients g{xt::empty<double>({n[0], n[2]}),
                          xt::empty<double>({n[1], n[2]}),
                          xt::empty<double>({n[1], n[3]})};
    detail::backward_problem b{n[0], n[1], n[2], n[3],
                               q.data(), k.data(), v.data(),
                               mask.size() ? mask.data() : nullptr,
                               y.data(), dL_dy.data(), lse.data(), nullptr,
                               g.dL_dq.data(), g.dL_dk.data(),
                               g.dL_dv.data()};
    detail::attention_backward_tiled_raw(b, block_q, block_k);
    return g;
}
// [ch06-attention-backward-tiled]

// [ch06-attention-backward-reference]
/// \brief The same gradients the plain way, storing `S` and `A`, with
///        chapter 5's softmax backward, Eqs. \ref eq_grad_head_outputs
///        "(5.4)" to \ref eq_grad_scores "(5.6)": what the tiled backward
///        is tested against.
/// \param q, k, v, mask as for attention_tiled
/// \param dL_dy gradient of the loss with respect to the output
///              `(n_q, d_v)`
/// \return the gradients with respect to `q`, `k`, `v`
/// \throws std::invalid_argument on inconsistent shapes
inline attention_gradients attention_backward_reference(
    const matrix& q, const matrix& k, const matrix& v,
    const mask_matrix& mask, const matrix& dL_dy)
{
    const auto n = detail::expect_attention_args(
        "attention_backward_reference", q, k, v, mask);
    expect_shape("attention_backward_reference", "dL_dy", dL_dy,
                 {n[0], n[3]}, "(n_q, d_v)");
    const double scale = 1.0 / std::sqrt(double(n[2]));
    matrix s = scale * xt::linalg::dot(q, xt::transpose(k)); // (n_q, n_k)
    if (mask.size() != 0) {
        s += mask_bias(mask);
    }
    const matrix a = softmax_rows(s);                         // (n_q, n_k)
    const matrix dL_da = xt::linalg::dot(dL_dy, xt::transpose(v));
    const matrix dL_ds = softmax_rows_backward(a, dL_da);     // (n_q, n_k)
    return {scale * xt::linalg::dot(dL_ds, k),                // (n_q, d_k)
            scale * xt::linalg::dot(xt::transpose(dL_ds), q), // (n_k, d_k)
            xt::linalg::dot(xt::transpose(a), dL_dy)};        // (n_k, d_v)
}
// [ch06-attention-backward-reference]

/// \brief Extra memory of \ref attention_backward_tiled beyond its inputs
///        and outputs: two blocks and `delta`.
/// \param n_q     number of queries
/// \param block_q queries per block
/// \param block_k keys per block
/// \return bytes
inline double attention_backward_extra_bytes(std::size_t n_q,
                                             std::size_t block_q,
                                             std::size_t block_k)
{
    return 8.0 * double(2 * block_q * block_k + n_q);
}

// [ch06-io-stored]
/// \brief Bytes moved between main memory and the cache by attention that
///        stores `S` and `A`, Eq. \ref eq_io_stored "(6.8)": each pass reads
///        its inputs once and writes its output once (8 bytes a number).
/// \param n_q, n_k numbers of queries and keys
/// \param d_k, d_v widths of keys and values
/// \return bytes
inline double attention_io_stored(double n_q, double n_k, double d_k,
                                  double d_v)
{
    const double scores = (n_q + n_k) * d_k + n_q * n_k;   // S = Q K^T
    const double softmax = 2.0 * n_q * n_k;                // S in, A out
    const double output = n_q * n_k + n_k * d_v + n_q * d_v;  // Y = A V
    return 8.0 * (scores + softmax + output);
}
// [ch06-io-stored]

// [ch06-io-tiled]
/// \brief Bytes moved by tiled attention, Eq. \ref eq_io_tiled "(6.9)":
///        `Q` read and `Y` written once, `K` and `V` read once for each
///        block of queries. Holds while the working set fits in the cache.
/// \param n_q, n_k numbers of queries and keys
/// \param d_k, d_v widths of keys and values
/// \param block_q  queries per block
/// \return bytes
inline double attention_io_tiled(double n_q, double n_k, double d_k,
                                 double d_v, double block_q)
{
    const double query_blocks = std::ceil(n_q / block_q);
    return 8.0 * (n_q * (d_k + d_v) + query_blocks * n_k * (d_k + d_v));
}

/// \brief Bytes the tiled kernel works on at once, `M_tile` of Eq.
///        \ref eq_io_tiled "(6.9)": the blocks of `Q`, `K`, `V` and of
///        the running `o`, the scores, `m` and `l`.
/// \param block_q, block_k queries and keys per block
/// \param d_k, d_v widths of keys and values
/// \return bytes
inline double attention_tiled_working_set(double block_q, double block_k,
                                          double d_k, double d_v)
{
    return 8.0 * ((block_q + block_k) * (d_k + d_v) + block_q * block_k
                  + 2.0 * block_q);
}
// [ch06-io-tiled]

/// \brief The largest block of queries whose working set fits in a cache
///        of `cache_bytes`, for blocks of `block_k` keys (0 if none fits).
/// \param cache_bytes the cache size `M_cache`
/// \param block_k     keys per block
/// \param d_k, d_v    widths of keys and values
/// \return queries per block
inline double largest_block_q(double cache_bytes, double block_k, double d_k,
                              double d_v)
{
    const double room = cache_bytes / 8.0 - block_k * (d_k + d_v);
    return room <= 0.0
               ? 0.0
               : std::floor(room / (d_k + d_v + block_k + 2.0));
}

}  // namespace attn

// Attention at scale: what n^2 costs, and how to compute attention without
// storing the n x n matrices. The same masked attention four ways (literal
// loops, xtensor expressions, OpenBLAS products, tiles with the online
// softmax), the cost model they are measured against, and incremental
// decoding with a key-value cache.
//
// Glossary (tokens are rows):
//   q      queries                                    // (n_q, d_k)
//   k      keys                                       // (n_k, d_k)
//   v      values                                     // (n_k, d_v)
//   mask   true = query i may attend to key j;        // (n_q, n_k)
//          an empty (0, 0) mask lets every query see every key
//   y      outputs softmax_rows(q k^T / sqrt(d_k)) v  // (n_q, d_v)
//   m, l   running maximum and running sum per query  // (n_q,)
//   o      running unnormalised output                // (n_q, d_v)
//   t      tokens so far in decoding, the new one included
//   x_t    the new token                              // (1, d_model)
//   w_q, w_k  projections to queries and keys         // (d_model, d_k)
//   w_v    projection to values                       // (d_model, d_v)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

// xtensor-blas declares cblas_dgemm (through xflens/cxxblas).
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "attention/attend.hpp"
#include "attention/core.hpp"
#include "attention/kv_cache.hpp"
#include "attention/masking.hpp"
#include "attention/softmax.hpp"

/// \file
/// \brief Attention four ways, the online softmax, the cost model and a
///        key-value cache (\ref ch06_scale).

namespace attn {

namespace detail {

inline const double minus_inf = -std::numeric_limits<double>::infinity();

// Checks q, k, v and the mask for every way; returns (n_q, n_k, d_k, d_v).
inline std::vector<std::size_t> expect_attention_args(
    const std::string& where, const matrix& q, const matrix& k,
    const matrix& v, const mask_matrix& mask)
{
    expect_nonempty(where, "q", q);
    expect_nonempty(where, "k", k);
    expect_nonempty(where, "v", v);
    expect_finite(where, "q", q);
    expect_finite(where, "k", k);
    expect_finite(where, "v", v);
    const std::size_t n_q = q.shape()[0], d_k = q.shape()[1];
    const std::size_t n_k = k.shape()[0], d_v = v.shape()[1];
    expect_shape(where, "k", k, {n_k, d_k}, "(n_k, d_k)");
    expect_shape(where, "v", v, {n_k, d_v}, "(n_k, d_v)");
    if (mask.size() != 0) {
        expect_shape(where, "mask", mask, {n_q, n_k}, "(n_q, n_k)");
    }
    return {n_q, n_k, d_k, d_v};
}

// The projections of a decoding step fit each other: w_q, w_k
// (d_model, d_k), w_v (d_model, d_v), none of them empty.
inline void expect_decode_weights(const std::string& where,
                                  const matrix& w_q, const matrix& w_k,
                                  const matrix& w_v)
{
    expect_nonempty(where, "w_q", w_q);
    expect_nonempty(where, "w_v", w_v);
    const std::size_t d_model = w_q.shape()[0], d_k = w_q.shape()[1];
    expect_shape(where, "w_k", w_k, {d_model, d_k}, "(d_model, d_k)");
    expect_shape(where, "w_v", w_v, {d_model, w_v.shape()[1]},
                 "(d_model, d_v)");
}

// The shapes decode_step_cached needs: the weights agree, x_t is one token
// of width d_model, and a cache that already holds rows has the widths of
// these weights. (append_to_cache checks that the cache is whole.)
inline void expect_decode_step(const kv_cache& cache, const matrix& x_t,
                               const matrix& w_q, const matrix& w_k,
                               const matrix& w_v)
{
    expect_decode_weights("decode_step_cached", w_q, w_k, w_v);
    const std::size_t d_model = w_q.shape()[0], d_k = w_q.shape()[1];
    const std::size_t d_v = w_v.shape()[1];
    expect_shape("decode_step_cached", "x_t", x_t, {1, d_model},
                 "(1, d_model)");
    if (cache.length > 0 && (cache.d_k != d_k || cache.d_v != d_v)) {
        throw std::invalid_argument(
            "decode_step_cached: the cache holds keys of width "
            + std::to_string(cache.d_k) + " and values of width "
            + std::to_string(cache.d_v) + ", got " + std::to_string(d_k)
            + " and " + std::to_string(d_v));
    }
}


// Tiled attention needs blocks of at least one query and one key; where
// names the function that was called.
inline void expect_block_sizes(const std::string& where,
                               std::size_t block_q,
                               std::size_t block_k)
{
    if (block_q == 0 || block_k == 0) {
        throw std::invalid_argument(where + ": block sizes must be at least "
                                    "1, got block_q = "
                                    + std::to_string(block_q) + ", block_k = "
                                    + std::to_string(block_k));
    }
}

// The shapes decode_step_uncached needs: the weights agree and x is a
// nonempty prefix of tokens of width d_model.
inline void expect_decode_prefix(const matrix& x, const matrix& w_q,
                                 const matrix& w_k, const matrix& w_v)
{
    expect_decode_weights("decode_step_uncached", w_q, w_k, w_v);
    const std::size_t t = x.shape()[0], d_model = w_q.shape()[0];
    expect_nonempty("decode_step_uncached", "x", x);
    expect_shape("decode_step_uncached", "x", x, {t, d_model},
                 "(t, d_model)");
}

}  // namespace detail

// [ch06-cost-model]
/// \brief What one head's attention costs, Eq. \ref eq_attention_cost
///        "(6.1)".
struct attention_cost {
    double multiply_adds;  ///< `n_q n_k (d_k + d_v)`: Q K^T, then A V
    double exponentials;   ///< `n_q n_k`: one per score
    double stored_bytes;   ///< `2 * 8 n_q n_k`: S and A in double
};

/// \brief The cost model of Eq. \ref eq_attention_cost "(6.1)" for
///        attention that stores its scores and weights.
/// \param n_q number of queries
/// \param n_k number of keys
/// \param d_k width of queries and keys
/// \param d_v width of values
/// \return multiply-adds, exponentials and bytes of S and A
inline attention_cost attention_cost_model(double n_q, double n_k,
                                           double d_k, double d_v)
{
    return {n_q * n_k * (d_k + d_v), n_q * n_k, 2.0 * 8.0 * n_q * n_k};
}
// [ch06-cost-model]

// [ch06-attention-loops]
/// \brief Way 1: masked attention as literal loops, straight from Eq.
///        \ref eq_attention "(0.2)", storing S and A.
/// \param q    queries `(n_q, d_k)`
/// \param k    keys `(n_k, d_k)`
/// \param v    values `(n_k, d_v)`
/// \param mask `(n_q, n_k)`, true = may attend; empty = no mask
/// \return outputs `(n_q, d_v)`; a fully masked query row gives zeros
/// \throws std::invalid_argument on empty or inconsistent shapes
inline matrix attention_loops(const matrix& q, const matrix& k,
                              const matrix& v,
                              const mask_matrix& mask = mask_matrix())
{
    const auto n = detail::expect_attention_args("attention_loops", q, k, v,
                                                mask);
    const std::size_t n_q = n[0], n_k = n[1], d_k = n[2], d_v = n[3];
    matrix s = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            double dot = 0.0;
            for (std::size_t c = 0; c < d_k; ++c) {
                dot += q(i, c) * k(j, c);
            }
            const bool allowed = mask.size() == 0 || mask(i, j);
            s(i, j) = allowed ? dot / std::sqrt(double(d_k))
                              : detail::minus_inf;
        }
    }
    const matrix a = softmax_rows_reference(s);               // (n_q, n_k)
    matrix y = xt::zeros<double>({n_q, d_v});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            for (std::size_t c = 0; c < d_v; ++c) {
                y(i, c) += a(i, j) * v(j, c);
            }
        }
    }
    return y;
}
// [ch06-attention-loops]

// [ch06-attention-xtensor]
/// \brief Way 2: the same attention as xtensor expressions, without BLAS:
///        each product is a broadcast followed by a sum.
/// \param q    queries `(n_q, d_k)`
/// \param k    keys `(n_k, d_k)`
/// \param v    values `(n_k, d_v)`
/// \param mask `(n_q, n_k)`, true = may attend; empty = no mask
/// \return outputs `(n_q, d_v)`
/// \throws std::invalid_argument on empty or inconsistent shapes
inline matrix attention_xtensor(const matrix& q, const matrix& k,
                                const matrix& v,
                                const mask_matrix& mask = mask_matrix())
{
    const auto n = detail::expect_attention_args("attention_xtensor", q, k, v,
                                                mask);
    using xt::all;
    using xt::newaxis;
    // s_ij = sum_c q_ic k_jc / sqrt(d_k): (n_q, 1, d_k) * (1, n_k, d_k).
    matrix s = xt::sum(xt::view(q, all(), newaxis(), all())
                           * xt::view(k, newaxis(), all(), all()),
                       {2})
               / std::sqrt(double(n[2]));                     // (n_q, n_k)
    if (mask.size() != 0) {
        s += mask_bias(mask);  // Eq. (4.5)
    }
    const matrix a = softmax_rows(s);                         // (n_q, n_k)
    // y_ic = sum_j a_ij v_jc: (n_q, n_k, 1) * (1, n_k, d_v).
    return xt::sum(xt::view(a, all(), all(), newaxis())
                       * xt::view(v, newaxis(), all(), all()),
                   {1});                                      // (n_q, d_v)
}
// [ch06-attention-xtensor]

// [ch06-attention-blas]
/// \brief Way 3: the same attention with OpenBLAS matrix products
///        (`xt::linalg::dot`); without a mask it is \ref attend itself.
/// \param q    queries `(n_q, d_k)`
/// \param k    keys `(n_k, d_k)`
/// \param v    values `(n_k, d_v)`
/// \param mask `(n_q, n_k)`, true = may attend; empty = no mask
/// \return outputs `(n_q, d_v)`
/// \throws std::invalid_argument on empty or inconsistent shapes
inline matrix attention_blas(const matrix& q, const matrix& k,
                             const matrix& v,
                             const mask_matrix& mask = mask_matrix())
{
    detail::expect_attention_args("attention_blas", q, k, v, mask);
    if (mask.size() == 0) {
        return attend(q, k, v).y;
    }
    matrix s = xt::linalg::dot(q, xt::transpose(k))
               / std::sqrt(double(q.shape()[1]));             // (n_q, n_k)
    s += mask_bias(mask);  // Eq. (4.5)
    return xt::linalg::dot(softmax_rows(s), v);               // (n_q, d_v)
}
// [ch06-attention-blas]

/// \brief The running state of the online softmax for a set of queries,
///        Eqs. \ref eq_online_max "(6.2)" to \ref eq_tiled_output "(6.4)".
struct online_softmax_state {
    vector m;  ///< running maximum of each query's scores `(n_q,)`
    vector l;  ///< running sum of `exp(s - m)` `(n_q,)`
    matrix o;  ///< running sum of `exp(s - m) v` `(n_q, d_v)`
};

/// \brief The state before any key has been seen: `m = -inf`, `l = 0`,
///        `o = 0`.
/// \param n_q number of queries
/// \param d_v width of the values
/// \return the empty state
inline online_softmax_state online_softmax_start(std::size_t n_q,
                                                 std::size_t d_v)
{
    online_softmax_state state{xt::empty<double>({n_q}),
                               xt::zeros<double>({n_q}),
                               xt::zeros<double>({n_q, d_v})};
    state.m.fill(detail::minus_inf);
    return state;
}

namespace detail {

// Row-major products with one BLAS call each, so that the kernels below
// read as their equations. p = scale * q k^T: q (rows, d_k), k (cols, d_k),
// p (rows, cols).
inline void scaled_scores(std::size_t rows, std::size_t cols, std::size_t d_k,
                          double scale, const double* q, const double* k,
                          double* p)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(cols),
                int(d_k), scale, q, int(d_k), k, int(d_k), 0.0, p, int(cols));
}

// o += p v: p (rows, cols), v (cols, d_v), o (rows, d_v).
inline void add_product(std::size_t rows, std::size_t cols, std::size_t d_v,
                        const double* p, const double* v, double* o)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows),
                int(d_v), int(cols), 1.0, p, int(cols), v, int(d_v), 1.0, o,
                int(d_v));
}

// Sets to -inf the scores of the block (rows, cols) at (i0, j0) whose keys
// the mask (n_q, n_k) forbids; does nothing if mask is null.
inline void mask_block(const bool* mask, std::size_t n_k, std::size_t i0,
                       std::size_t j0, std::size_t rows, std::size_t cols,
                       double* p)
{
    if (mask == nullptr) {
        return;
    }
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) {
            if (!mask[(i0 + i) * n_k + j0 + j]) {
                p[i * cols + j] = minus_inf;
            }
        }
    }
}

// The largest of x_0 .. x_{n-1}, or -inf if n = 0.
inline double row_max(std::size_t n, const double* x)
{
    double m = minus_inf;
    for (std::size_t j = 0; j < n; ++j) {
        m = std::max(m, x[j]);
    }
    return m;
}

// y_j = e^(x_j - m) for j < n, one std::exp at a time; returns their sum.
inline double exp_minus_sum(std::size_t n, const double* x, double m,
                            double* y)
{
    double sum = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
        y[j] = std::exp(x[j] - m);
        sum += y[j];
    }
    return sum;
}

// [ch06-online-update]
// Folds one block of keys into the running state of `rows` queries,
// Eqs. (6.2) and (6.3), with the two operations on a row given:
// max_of(n, x) and exp_sum(n, x, m, y), which sets y_j = e^(x_j - m) and
// returns the sum (row_max and exp_minus_sum above, or faster ones). On
// entry p holds the block's scores (rows, cols), -inf where masked; on exit
// it holds exp(s - m_new). Row-major buffers: v_block (cols, d_v), m and l
// (rows), o (rows, d_v).
template <class MaxOf, class ExpSum>
void online_softmax_fold_with(MaxOf max_of, ExpSum exp_sum,
                              std::size_t rows, std::size_t cols,
                              std::size_t d_v, double* p,
                              const double* v_block, double* m, double* l,
                              double* o)
{
    for (std::size_t i = 0; i < rows; ++i) {
        double* p_i = p + i * cols;
        // New running maximum, Eq. (6.2).
        const double m_new = std::max(m[i], max_of(cols, p_i));
        if (m_new == minus_inf) {  // no key allowed so far: add nothing
            std::fill(p_i, p_i + cols, 0.0);
            continue;
        }
        // Rescale what was summed under the old maximum, Eq. (6.3);
        // rho = exp(-inf) = 0 on the first allowed block.
        const double rho = std::exp(m[i] - m_new);
        if (rho != 1.0) {
            l[i] *= rho;
            for (std::size_t c = 0; c < d_v; ++c) {
                o[i * d_v + c] *= rho;
            }
        }
        l[i] += exp_sum(cols, p_i, m_new, p_i);  // the block's terms
        m[i] = m_new;
    }
    add_product(rows, cols, d_v, p, v_block, o);  // o += p v_block, Eq. (6.3)
}
// [ch06-online-update]

// The fold with one std::exp at a time, as chapter 6 first writes it.
inline void online_softmax_fold(std::size_t rows, std::size_t cols,
                                std::size_t d_v, double* p,
                                const double* v_block, double* m, double* l,
                                double* o)
{
    online_softmax_fold_with(row_max, exp_minus_sum, rows, cols, d_v, p,
                             v_block, m, l, o);
}

// The signature of the online-softmax step that attention_tiled_raw
// applies to each block (online_softmax_fold above, or a faster one).
using fold_step = void (*)(std::size_t rows, std::size_t cols,
                           std::size_t d_v, double* p, const double* v_block,
                           double* m, double* l, double* o);

// x *= scale for x[0] .. x[n - 1].
inline void scale_block(std::size_t n, double scale, double* x)
{
    for (std::size_t i = 0; i < n; ++i) {
        x[i] *= scale;
    }
}

// [ch06-attention-tiled-kernel]
// Tiled attention on raw row-major buffers: y (n_q, d_v) is overwritten.
// Only one block of scores (block_q, block_k) and the running m, l exist
// at a time; mask is null or (n_q, n_k). If lse is not null it receives
// each row's log-sum-exp m + log l (n_q,), -inf for a row with no key,
// which the backward pass needs. fold is the step of Eqs. (6.2) and (6.3)
// (fast_tiled.hpp passes a vectorised one); with scale_in_product false
// the scale takes a pass of its own over each block (to measure what
// folding it into the product saves).
inline void attention_tiled_raw(std::size_t n_q, std::size_t n_k,
                                std::size_t d_k, std::size_t d_v,
                                const double* q, const double* k,
                                const double* v, const bool* mask, double* y,
                                std::size_t block_q, std::size_t block_k,
                                double* lse = nullptr,
                                fold_step fold = online_softmax_fold,
                                bool scale_in_product = true)
{
    std::vector<double> p(block_q * block_k), m(block_q), l(block_q);
    const double scale = 1.0 / std::sqrt(double(d_k));
    std::fill(y, y + n_q * d_v, 0.0);
    for (std::size_t i0 = 0; i0 < n_q; i0 += block_q) {
        const std::size_t rows = std::min(block_q, n_q - i0);
        std::fill(m.begin(), m.end(), minus_inf);
        std::fill(l.begin(), l.end(), 0.0);
        double* o = y + i0 * d_v;  // the running o lives in y's rows
        for (std::size_t j0 = 0; j0 < n_k; j0 += block_k) {
            const std::size_t cols = std::min(block_k, n_k - j0);
            // The block's scores Q_i K_j^T / sqrt(d_k), Eq. (0.2), with
            // -inf where the mask forbids a key.
            scaled_scores(rows, cols, d_k, scale_in_product ? scale : 1.0,
                          q + i0 * d_k, k + j0 * d_k, p.data());
            if (!scale_in_product) {
                scale_block(rows * cols, scale, p.data());
            }
            mask_block(mask, n_k, i0, j0, rows, cols, p.data());
            fold(rows, cols, d_v, p.data(), v + j0 * d_v, m.data(), l.data(),
                 o);
        }
        // Divide by the running sum, Eq. (6.4); l = 0 (all masked) -> 0.
        for (std::size_t i = 0; i < rows; ++i) {
            const double inv = l[i] > 0.0 ? 1.0 / l[i] : 0.0;
            for (std::size_t c = 0; c < d_v; ++c) {
                o[i * d_v + c] *= inv;
            }
            if (lse != nullptr) {
                lse[i0 + i] = l[i] > 0.0 ? m[i] + std::log(l[i]) : minus_inf;
            }
        }
    }
}
// [ch06-attention-tiled-kernel]

}  // namespace detail

/// \brief Folds one block of keys into the online-softmax state, Eqs.
///        \ref eq_online_max "(6.2)" and \ref eq_online_rescale "(6.3)".
/// \param state   the running `m (n_q,)`, `l (n_q,)`, `o (n_q, d_v)`
/// \param s_block scores of the block `(n_q, b)`, finite or `-inf`
/// \param v_block values of the block `(b, d_v)`, finite
/// \throws std::invalid_argument on inconsistent shapes, on NaN or `+inf`
///         in `s_block` and on a value that is not finite
inline void online_softmax_update(online_softmax_state& state,
                                  const matrix& s_block,
                                  const matrix& v_block)
{
    const std::size_t n_q = state.m.size(), d_v = state.o.shape()[1];
    const std::size_t b = v_block.shape()[0];
    expect_shape("online_softmax_update", "state.l", state.l, {n_q}, "(n_q,)");
    expect_shape("online_softmax_update", "state.o", state.o, {n_q, d_v},
                 "(n_q, d_v)");
    expect_shape("online_softmax_update", "s_block", s_block, {n_q, b},
                 "(n_q, b)");
    expect_shape("online_softmax_update", "v_block", v_block, {b, d_v},
                 "(b, d_v)");
    detail::expect_logits("online_softmax_update: s_block", s_block);
    expect_finite("online_softmax_update", "v_block", v_block);
    if (n_q == 0 || b == 0 || d_v == 0) {
        return;
    }
    matrix p = s_block;
    detail::online_softmax_fold(n_q, b, d_v, p.data(), v_block.data(),
                                state.m.data(), state.l.data(),
                                state.o.data());
}

/// \brief The outputs from the final state, Eq. \ref eq_tiled_output
///        "(6.4)": `y_i = o_i / l_i`, or zero when `l_i = 0` (no key
///        allowed).
/// \param state the state after every block has been folded in
/// \return outputs `(n_q, d_v)`
/// \throws std::invalid_argument if `state.l` and `state.o` disagree
inline matrix online_softmax_finish(const online_softmax_state& state)
{
    expect_shape("online_softmax_finish", "state.l", state.l,
                 {state.o.shape()[0]}, "(n_q,) of state.o");
    matrix y = state.o;
    for (std::size_t i = 0; i < y.shape()[0]; ++i) {
        const double inv = state.l(i) > 0.0 ? 1.0 / state.l(i) : 0.0;
        xt::row(y, long(i)) *= inv;
    }
    return y;
}

// [ch06-attention-tiled]
/// \brief Way 4: tiled attention with the online softmax, Eqs.
///        \ref eq_online_max "(6.2)" to \ref eq_tiled_output "(6.4)":
///        keys and values in blocks, never storing the `(n_q, n_k)`
///        matrices. Extra memory: one `(block_q, block_k)` block of scores.
/// \param q       queries `(n_q, d_k)`
/// \param k       keys `(n_k, d_k)`
/// \param v       values `(n_k, d_v)`
/// \param mask    `(n_q, n_k)`, true = may attend; empty = no mask
/// \param block_q queries per block, at least 1
/// \param block_k keys per block, at least 1
/// \return outputs `(n_q, d_v)`
/// \throws std::invalid_argument on empty or inconsistent shapes or a
///         block size of 0
inline matrix attention_tiled(const matrix& q, const matrix& k,
                              const matrix& v,
                              const mask_matrix& mask = mask_matrix(),
                              std::size_t block_q = 128,
                              std::size_t block_k = 256)
{
    const auto n = detail::expect_attention_args("attention_tiled", q, k, v,
                                                mask);
    detail::expect_block_sizes("attention_tiled", block_q, block_k);
    matrix y = xt::empty<double>({n[0], n[3]});               // (n_q, d_v)
    detail::attention_tiled_raw(n[0], n[1], n[2], n[3], q.data(), k.data(),
                                v.data(),
                                mask.size() ? mask.data() : nullptr,
                                y.data(), block_q, block_k);
    return y;
}
// [ch06-attention-tiled]

/// \brief Extra memory of \ref attention_tiled beyond its inputs and
///        output: one block of scores and the running `m` and `l`.
/// \param block_q queries per block
/// \param block_k keys per block
/// \return bytes
inline double attention_tiled_extra_bytes(std::size_t block_q,
                                          std::size_t block_k)
{
    return 8.0 * double(block_q * block_k + 2 * block_q);
}

// [ch06-kv-cache]
/// \brief One decoding step with the cache, Eq. \ref eq_kv_cache_cost
///        "(6.10)": project only the new token, append its key and value,
///        and let its query attend to every cached key.
/// \param cache the cache, grown by one row
/// \param x_t   the new token `(1, d_model)`
/// \param w_q   `(d_model, d_k)`
/// \param w_k   `(d_model, d_k)`
/// \param w_v   `(d_model, d_v)`
/// \return the new token's attention output `(1, d_v)`
/// \throws std::invalid_argument on inconsistent shapes
inline matrix decode_step_cached(kv_cache& cache,
                                 const matrix& x_t, const matrix& w_q,
                                 const matrix& w_k, const matrix& w_v)
{
    detail::expect_decode_step(cache, x_t, w_q, w_k, w_v);
    const std::size_t d_k = w_q.shape()[1], d_v = w_v.shape()[1];
    // Project the new token only: 3 d_model d_k multiply-adds.
    const matrix q_t = xt::linalg::dot(x_t, w_q);                 // (1, d_k)
    const matrix k_t = xt::linalg::dot(x_t, w_k);                 // (1, d_k)
    const matrix v_t = xt::linalg::dot(x_t, w_v);                 // (1, d_v)
    append_to_cache(cache, k_t, v_t, "decode_step_cached");  // checks it
    // One query over t cached keys: 2 t d_k multiply-adds.
    matrix y_t = xt::empty<double>({std::size_t(1), d_v});        // (1, d_v)
    detail::attention_tiled_raw(1, cache.length, d_k, d_v, q_t.data(),
                                cache.k.data(), cache.v.data(), nullptr,
                                y_t.data(), 1, 512);
    return y_t;
}
// [ch06-kv-cache]

// [ch06-decode-without-cache]
/// \brief One decoding step without a cache: recompute the projections of
///        the whole prefix and causal attention over it, as a stack of
///        layers must, and keep the last row, Eq. \ref eq_kv_cache_cost
///        "(6.10)".
/// \param x   the prefix including the new token `(t, d_model)`
/// \param w_q `(d_model, d_k)`
/// \param w_k `(d_model, d_k)`
/// \param w_v `(d_model, d_v)`
/// \return the last token's attention output `(1, d_v)`
/// \throws std::invalid_argument on inconsistent shapes
inline matrix decode_step_uncached(const matrix& x, const matrix& w_q,
                                   const matrix& w_k, const matrix& w_v)
{
    detail::expect_decode_prefix(x, w_q, w_k, w_v);
    const std::size_t t = x.shape()[0];
    const matrix q = xt::linalg::dot(x, w_q);                     // (t, d_k)
    const matrix k = xt::linalg::dot(x, w_k);                     // (t, d_k)
    const matrix v = xt::linalg::dot(x, w_v);                     // (t, d_v)
    const matrix y = attention_tiled(q, k, v, causal_mask(t, t)); // (t, d_v)
    return xt::view(y, xt::range(t - 1, t), xt::all());
}
// [ch06-decode-without-cache]

/// \brief Multiply-adds of one decoding step at length `t`, Eq.
///        \ref eq_kv_cache_cost "(6.10)".
/// \param t       tokens including the new one
/// \param d_model width of a token
/// \param d_k     width of queries, keys and values
/// \param cached  with the cache (true) or recomputing the prefix (false)
/// \return multiply-adds
inline double decode_step_cost(double t, double d_model, double d_k,
                               bool cached)
{
    return cached ? 3.0 * d_model * d_k + 2.0 * t * d_k
                  : 3.0 * t * d_model * d_k + 2.0 * t * t * d_k;
}

}  // namespace attn

// Grouped-query attention (Ainslie et al., "GQA", EMNLP 2023) and its
// extreme, multi-query attention (Shazeer 2019): H query heads share G key
// and value heads, G dividing H; query head h reads key-value head
// g(h) = floor(h / (H / G)). With G = H it is chapter 3's multi-head
// attention; with G = 1 every head reads the same keys and values. A
// decoder's cache then holds G instead of H heads of keys and values.
//
// Heads are column blocks of one projected Q, K, V, read as views (chapter
// 3): sharing a key-value head is only a matter of which view a query head
// reads. Nothing is repeated or copied. The layer optionally rotates the
// queries and keys (RoPE, rotary.hpp) and adds ALiBi's biases (alibi.hpp).
//
// Glossary (tokens are rows; d the head width):
//   w_q  (d_model, H d)   w_k, w_v  (d_model, G d)   w_o  (H d, d_model)
//   b_o  (d_model,)
//   q    x_q w_q, every query head side by side          // (n_q, H d)
//   k, v x_kv w_k, x_kv w_v, every key-value head        // (n_k, G d)
//   a    each query head's weights                        // (H, n_q, n_k)
//   y_cat  the query heads' outputs side by side          // (n_q, H d)
//   y    y_cat w_o + b_o                                  // (n_q, d_model)
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/alibi.hpp"
#include "attention/core.hpp"
#include "attention/masking.hpp"
#include "attention/multi_head.hpp"
#include "attention/random.hpp"
#include "attention/rotary.hpp"

/// \file
/// \brief Grouped-query attention on shared key-value views, with rotary
///        positions and ALiBi (\ref ch08_modern).

namespace attn {

/// \brief The weights of a grouped-query attention layer.
struct grouped_query_weights {
    matrix w_q;  ///< query projection `(d_model, H d)`
    matrix w_k;  ///< key projection `(d_model, G d)`
    matrix w_v;  ///< value projection `(d_model, G d)`
    matrix w_o;  ///< output projection `(H d, d_model)`
    vector b_o;  ///< output bias `(d_model,)`
};

/// \brief Random weights of a grouped-query layer, each projection drawn
///        from N(0, 1/d_model) and the bias from N(0, 1), in the order
///        W_q, W_k, W_v, W_o, b_o.
/// \param d_model the width of a token
/// \param heads   H, query heads
/// \param groups  G, key-value heads
/// \param d       d_k, the width of one head
/// \param r       the random numbers, advanced
/// \return the weights
inline grouped_query_weights random_grouped_query_weights(
    std::size_t d_model, std::size_t heads, std::size_t groups, std::size_t d,
    rng& r)
{
    const double s = 1.0 / std::sqrt(double(d_model));
    return {normal_matrix(d_model, heads * d, r, s),
            normal_matrix(d_model, groups * d, r, s),
            normal_matrix(d_model, groups * d, r, s),
            normal_matrix(heads * d, d_model, r, s),
            xt::view(normal_matrix(1, d_model, r), 0, xt::all())};
}

/// \brief How positions enter the layer: none (the default), RoPE, ALiBi.
struct position_scheme {
    bool rope = false;          ///< rotate queries and keys, Eq. (8.1)
    double rope_base = 10000.0; ///< the base b of RoPE's angles
    std::size_t offset = 0;     ///< the absolute position of the first key
    bool alibi = false;         ///< add ALiBi's biases, Eq. (8.5)
};

/// \brief Everything one grouped-query attention step computes.
struct grouped_query_result {
    matrix q;      ///< queries, rotated if asked `(n_q, H d)`
    matrix k;      ///< keys, rotated if asked `(n_k, G d)`
    matrix v;      ///< values `(n_k, G d)`
    tensor3 a;     ///< each query head's weights `(H, n_q, n_k)`
    matrix y_cat;  ///< the heads' outputs side by side `(n_q, H d)`
    matrix y;      ///< `y_cat w_o + b_o` `(n_q, d_model)`
    /// \brief Per query head, where the blocks it read start in `q`, `k`,
    ///        `v` and where it wrote in `y_cat` (in doubles): the evidence
    ///        that heads share views and nothing was copied.
    std::vector<head_offsets> offsets;
};

// [ch08-kv-group]
/// \brief The key-value head that query head `h` reads, Eq. (8.6):
///        `floor(h / (H / G))`, the order of `repeat_interleave`.
/// \param h      the query head, `0 <= h < H`
/// \param heads  H
/// \param groups G, dividing H
/// \return the key-value head `g`, `0 <= g < G`
inline std::size_t kv_group(std::size_t h, std::size_t heads,
                            std::size_t groups)
{
    return h / (heads / groups);
}
// [ch08-kv-group]

namespace detail {

// The layer's sizes.
struct grouped_query_sizes {
    std::size_t n_q, n_k, d;
};

inline grouped_query_sizes expect_grouped_query_arguments(
    const matrix& x_q, const matrix& x_kv, const grouped_query_weights& w,
    std::size_t heads, std::size_t groups, const mask_matrix& mask)
{
    const std::string where = "grouped_query_attention";
    if (heads == 0 || groups == 0 || heads % groups != 0) {
        throw std::invalid_argument(
            where + ": expected groups G >= 1 dividing heads H >= 1, got "
            "H = " + std::to_string(heads) + ", G = " + std::to_string(groups));
    }
    expect_nonempty(where, "x_q", x_q);
    expect_nonempty(where, "x_kv", x_kv);
    const std::size_t d_model = x_q.shape()[1], n_k = x_kv.shape()[0];
    expect_shape(where, "x_kv", x_kv, {n_k, d_model}, "(n_k, d_model)");
    if (w.w_q.shape()[0] != d_model || w.w_q.shape()[1] == 0
        || w.w_q.shape()[1] % heads != 0) {
        throw std::invalid_argument(
            where + ": w_q must have shape (d_model, H d) with d_model = "
            + std::to_string(d_model) + ", H = " + std::to_string(heads)
            + ", got " + shape_string(w.w_q.shape()));
    }
    const std::size_t d = w.w_q.shape()[1] / heads;
    expect_shape(where, "w_k", w.w_k, {d_model, groups * d},
                 "(d_model, G d)");
    expect_shape(where, "w_v", w.w_v, {d_model, groups * d},
                 "(d_model, G d)");
    expect_shape(where, "w_o", w.w_o, {heads * d, d_model}, "(H d, d_model)");
    expect_shape(where, "b_o", w.b_o, {d_model}, "(d_model,)");
    if (mask.size() != 0) {
        expect_shape(where, "mask", mask, {x_q.shape()[0], n_k},
                     "(n_q, n_k)");
    }
    return {x_q.shape()[0], n_k, d};
}

// Where the blocks head h read and wrote start in r's matrices.
template <class Q, class K, class V, class Y>
head_offsets grouped_offsets_of(const grouped_query_result& r, const Q& q_h,
                                const K& k_g, const V& v_g, const Y& y_h)
{
    return {offset_in(r.q, &q_h(0, 0)), offset_in(r.k, &k_g(0, 0)),
            offset_in(r.v, &v_g(0, 0)), offset_in(r.y_cat, &y_h(0, 0))};
}

}  // namespace detail

/// \brief Grouped-query attention, Eq. (8.6), with RoPE (Eq. 8.1) and
///        ALiBi (Eq. 8.5) when `pos` asks for them.
///
/// Keys sit at positions `pos.offset, ..., pos.offset + n_k - 1`; the
/// queries are the last `n_q` of them (the last query on the last key, as
/// chapter 4's causal mask aligns them).
/// \param x_q    queries' inputs `(n_q, d_model)`
/// \param x_kv   keys' and values' inputs `(n_k, d_model)`
/// \param w      the weights, see grouped_query_weights
/// \param heads  H
/// \param groups G, dividing H
/// \param mask   `(n_q, n_k)`, true = may attend; empty = no mask
/// \param pos    RoPE, ALiBi and the position of the first key
/// \return the projections, weights `(H, n_q, n_k)` and output
///         `(n_q, d_model)`
/// \throws std::invalid_argument on inconsistent shapes or groups, or an
///         odd head width with RoPE
// [ch08-grouped-query-attention]
inline grouped_query_result grouped_query_attention(
    const matrix& x_q, const matrix& x_kv, const grouped_query_weights& w,
    std::size_t heads, std::size_t groups, const mask_matrix& mask = {},
    const position_scheme& pos = {})
{
    const auto [n_q, n_k, d] = detail::expect_grouped_query_arguments(
        x_q, x_kv, w, heads, groups, mask);
    const matrix bias = detail::bias_or_zeros(mask, n_q, n_k); // (n_q, n_k)
    grouped_query_result r;
    r.q = xt::linalg::dot(x_q, w.w_q);                 // (n_q, H d)
    r.k = xt::linalg::dot(x_kv, w.w_k);                // (n_k, G d)
    r.v = xt::linalg::dot(x_kv, w.w_v);                // (n_k, G d)
    if (pos.rope) {  // every head block at its absolute positions, Eq. (8.1)
        rope_heads_in_place(r.q, d, pos.offset + n_k - n_q, pos.rope_base);
        rope_heads_in_place(r.k, d, pos.offset, pos.rope_base);
    }
    const std::vector<double> m =
        pos.alibi ? alibi_slopes(heads) : std::vector<double>(heads, 0.0);
    r.a = xt::zeros<double>({heads, n_q, n_k});
    r.y_cat = xt::zeros<double>({n_q, heads * d});
    matrix s_h({n_q, n_k});
    for (std::size_t h = 0; h < heads; ++h) {
        // Query head h reads the views of key-value head g, Eq. (8.6)
        const std::size_t g = kv_group(h, heads, groups);
        const auto q_h = head_view(std::as_const(r.q), h, d);  // (n_q, d)
        const auto k_g = head_view(std::as_const(r.k), g, d);  // (n_k, d)
        const auto v_g = head_view(std::as_const(r.v), g, d);  // (n_k, d)
        detail::gemm_in_place(q_h, false, k_g, true, 1.0 / std::sqrt(double(d)),
                              s_h);
        auto a_h = xt::view(r.a, h, xt::all(), xt::all());     // (n_q, n_k)
        a_h = softmax_rows(s_h + alibi_bias(n_q, n_k, m[h], n_k - n_q) + bias);
        auto y_h = head_view(r.y_cat, h, d);                   // (n_q, d)
        detail::gemm_in_place(a_h, false, v_g, false, 1.0, y_h);
        r.offsets.push_back(detail::grouped_offsets_of(r, q_h, k_g, v_g, y_h));
    }
    r.y = xt::linalg::dot(r.y_cat, w.w_o) + w.b_o;     // (n_q, d_model)
    return r;
}
// [ch08-grouped-query-attention]

/// \brief Each key-value head's columns of a key or value projection
///        repeated H / G times, in head order: the `(d_model, H d)`
///        projection of the multi-head layer that computes the same as
///        grouped-query attention (what implementations call `repeat_kv`;
///        the layer above never builds it).
/// \param w_kv   `(d_model, G d)`
/// \param heads  H
/// \param groups G, dividing H
/// \return `(d_model, H d)`
inline matrix repeat_groups(const matrix& w_kv, std::size_t heads,
                            std::size_t groups)
{
    const std::size_t d_model = w_kv.shape()[0];
    const std::size_t d = w_kv.shape()[1] / groups;
    matrix out = xt::empty<double>({d_model, heads * d});
    for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t g = kv_group(h, heads, groups);
        xt::view(out, xt::all(), xt::range(h * d, (h + 1) * d)) =
            xt::view(w_kv, xt::all(), xt::range(g * d, (g + 1) * d));
    }
    return out;
}

/// \brief Numbers cached per token and layer, Eq. (8.7).
struct cache_widths {
    std::size_t multi_head;   ///< `2 H d`: every head's key and value
    std::size_t grouped;      ///< `2 G d`
    std::size_t multi_query;  ///< `2 d`
    std::size_t latent;       ///< `d_c + d_R`: one latent and one rotary key
};

// [ch08-cache-widths]
/// \brief The cache width of each scheme, Eq. (8.7).
/// \param heads  H
/// \param groups G
/// \param d      the head width of keys and values
/// \param d_c    the latent width
/// \param d_r    the width of the latent scheme's shared rotary key
/// \return the numbers cached per token and layer by each scheme
inline cache_widths cache_widths_of(std::size_t heads, std::size_t groups,
                                    std::size_t d, std::size_t d_c,
                                    std::size_t d_r)
{
    return {2 * heads * d, 2 * groups * d, 2 * d, d_c + d_r};
}
// [ch08-cache-widths]

}  // namespace attn

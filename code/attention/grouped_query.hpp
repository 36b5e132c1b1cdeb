// Grouped-query attention (Ainslie et al., "GQA", EMNLP 2023) and its
// extreme, multi-query attention (Shazeer 2019): H query heads share G key
// and value heads, G dividing H; query head h reads key-value group
// g = h / (H / G). With G = H it is chapter 3's multi-head attention; with
// G = 1 every head reads the same keys and values. A decoder's cache then
// holds G instead of H heads of keys and values: G / H of the memory.
//
// And sliding-window attention (as in Longformer, Beltagy et al. 2020, and
// Mistral 7B, Jiang et al. 2023): causal attention that sees at most the
// last w positions, itself included.
//
// Glossary (tokens are rows):
//   w_q  (d_model, H d_k)   w_k, w_v  (d_model, G d_k)   w_o  (H d_k, d_model)
//   window w: query at position i sees keys i - w + 1 .. i
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/masking.hpp"

/// \file
/// \brief Grouped-query attention and the sliding-window mask (chapter 8,
///        groundwork).

namespace attn {

/// \brief The weights of a grouped-query attention layer.
struct grouped_query_weights {
    matrix w_q;  ///< query projection `(d_model, H d_k)`
    matrix w_k;  ///< key projection `(d_model, G d_k)`
    matrix w_v;  ///< value projection `(d_model, G d_k)`
    matrix w_o;  ///< output projection `(H d_k, d_model)`
};

namespace detail {

inline void expect_groups(std::size_t heads, std::size_t groups,
                          const grouped_query_weights& w)
{
    if (heads == 0 || groups == 0 || heads % groups != 0) {
        throw std::invalid_argument(
            "grouped_query_attention: expected groups G >= 1 dividing heads "
            "H >= 1, got H = " + std::to_string(heads) + ", G = "
            + std::to_string(groups));
    }
    const std::size_t d_model = w.w_q.shape()[0];
    if (w.w_q.shape()[1] % heads != 0) {
        throw std::invalid_argument(
            "grouped_query_attention: w_q's width must be H d_k, got "
            + std::to_string(w.w_q.shape()[1]) + " for H = "
            + std::to_string(heads));
    }
    const std::size_t d_k = w.w_q.shape()[1] / heads;
    expect_shape("grouped_query_attention", "w_k", w.w_k,
                 {d_model, groups * d_k}, "(d_model, G d_k)");
    expect_shape("grouped_query_attention", "w_v", w.w_v,
                 {d_model, groups * d_k}, "(d_model, G d_k)");
    expect_shape("grouped_query_attention", "w_o", w.w_o,
                 {heads * d_k, w.w_o.shape()[1]}, "(H d_k, d_model)");
}

}  // namespace detail

/// \brief Grouped-query attention: query head h attends with key-value
///        group `h / (H / G)`.
/// \param x_q    queries' inputs `(n_q, d_model)`
/// \param x_kv   keys' and values' inputs `(n_k, d_model)`
/// \param w      the weights, see grouped_query_weights
/// \param heads  H
/// \param groups G, dividing H
/// \param mask   `(n_q, n_k)`, true = may attend; empty = no mask
/// \return the layer's output `(n_q, d_model)`
/// \throws std::invalid_argument on inconsistent shapes or groups
inline matrix grouped_query_attention(const matrix& x_q, const matrix& x_kv,
                                      const grouped_query_weights& w,
                                      std::size_t heads, std::size_t groups,
                                      const mask_matrix& mask = {})
{
    detail::expect_groups(heads, groups, w);
    const std::size_t d_k = w.w_q.shape()[1] / heads;
    const std::size_t n_q = x_q.shape()[0], n_k = x_kv.shape()[0];
    const mask_matrix m =
        mask.size() != 0 ? mask : mask_matrix(xt::ones<bool>({n_q, n_k}));
    const matrix q = xt::linalg::dot(x_q, w.w_q);   // (n_q, H d_k)
    const matrix k = xt::linalg::dot(x_kv, w.w_k);  // (n_k, G d_k)
    const matrix v = xt::linalg::dot(x_kv, w.w_v);  // (n_k, G d_k)
    matrix y_cat = xt::zeros<double>({n_q, heads * d_k});
    for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t g = h / (heads / groups);  // the head's group
        const matrix q_h = xt::view(q, xt::all(), xt::range(h * d_k, (h + 1) * d_k));
        const matrix k_g = xt::view(k, xt::all(), xt::range(g * d_k, (g + 1) * d_k));
        const matrix v_g = xt::view(v, xt::all(), xt::range(g * d_k, (g + 1) * d_k));
        xt::view(y_cat, xt::all(), xt::range(h * d_k, (h + 1) * d_k)) =
            masked_attend(q_h, k_g, v_g, m).y;
    }
    return xt::linalg::dot(y_cat, w.w_o);  // (n_q, d_model)
}

/// \brief Each group's columns of a key or value projection repeated
///        H / G times, in head order: the `(d_model, H d_k)` projection of
///        the multi-head layer that computes the same as grouped-query
///        attention (what implementations call `repeat_kv`).
/// \param w_kv   `(d_model, G d_k)`
/// \param heads  H
/// \param groups G, dividing H
/// \return `(d_model, H d_k)`
inline matrix repeat_groups(const matrix& w_kv, std::size_t heads,
                            std::size_t groups)
{
    const std::size_t d_model = w_kv.shape()[0];
    const std::size_t d_k = w_kv.shape()[1] / groups;
    matrix out = xt::empty<double>({d_model, heads * d_k});
    for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t g = h / (heads / groups);
        xt::view(out, xt::all(), xt::range(h * d_k, (h + 1) * d_k)) =
            xt::view(w_kv, xt::all(), xt::range(g * d_k, (g + 1) * d_k));
    }
    return out;
}

/// \brief The causal sliding-window mask: the query at position i (the
///        last query on the last key when `n_q < n_k`, as causal_mask)
///        may attend to the keys `i - window + 1, ..., i`.
/// \param n_q    number of queries
/// \param n_k    number of keys
/// \param window how many positions a query sees, itself included, >= 1
/// \return the mask `(n_q, n_k)`
/// \throws std::invalid_argument if `window` is 0 or `n_q > n_k`
inline mask_matrix sliding_window_mask(std::size_t n_q, std::size_t n_k,
                                       std::size_t window)
{
    if (window == 0 || n_q > n_k) {
        throw std::invalid_argument(
            "sliding_window_mask: expected a window of at least 1 position "
            "and no more queries than keys, got window = "
            + std::to_string(window) + ", n_q = " + std::to_string(n_q)
            + ", n_k = " + std::to_string(n_k));
    }
    mask_matrix m = causal_mask(n_q, n_k);
    for (std::size_t i = 0; i < n_q; ++i) {
        const std::size_t pos = n_k - n_q + i;  // the query's position
        for (std::size_t j = 0; j < n_k; ++j) {
            if (j + window <= pos) {  // j < pos - window + 1
                m(i, j) = false;
            }
        }
    }
    return m;
}

}  // namespace attn

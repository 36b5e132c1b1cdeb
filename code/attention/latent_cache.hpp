// A latent key-value cache, the idea of multi-head latent attention
// (DeepSeek-AI, "DeepSeek-V2", 2024): instead of every head's keys and
// values, cache one narrow latent c_j = x_j W_dkv per token (width d_c),
// shared by all heads, from which head h's keys and values are recovered
// as K^h = C W_uk^h, V^h = C W_uv^h. Since
// q . k_j = q . (c_j W_uk^h) = (q W_uk^h^T) . c_j, each query can be mapped
// once into the latent space ("absorbed") and scored against the cached
// latents directly; likewise A V^h = (A C) W_uv^h. No key or value is ever
// formed.
//
// DeepSeek-V2 adds to every query and key a small rotary part, its key
// shared by the heads and cached beside the latent (d_R numbers), because
// a rotation between q and W_uk^T would stop the absorption. This header
// builds the latent part only, without positions.
//
// Glossary (tokens are rows; H heads of width d, values of width d_v):
//   x      tokens                                   // (n, d_model)
//   w_q    query projection                         // (d_model, H d)
//   w_dkv  down-projection to the latent            // (d_model, d_c)
//   w_uk   latent to every head's key               // (d_c, H d)
//   w_uv   latent to every head's value             // (d_c, H d_v)
//   c      cached latents                           // (n_k, d_c)
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/masking.hpp"
#include "attention/multi_head.hpp"

/// \file
/// \brief A latent key-value cache, explicit and with the up-projections
///        absorbed (\ref ch08_modern).

namespace attn {

/// \brief The weights of a latent-cache attention layer (before `W_o`).
struct latent_weights {
    matrix w_q;    ///< query projection `(d_model, H d)`
    matrix w_dkv;  ///< down-projection to the latent `(d_model, d_c)`
    matrix w_uk;   ///< latent to keys `(d_c, H d)`
    matrix w_uv;   ///< latent to values `(d_c, H d_v)`
};

namespace detail {

inline void expect_latent_arguments(const matrix& x_q, const matrix& c,
                                    const latent_weights& w,
                                    std::size_t heads, const mask_matrix& m)
{
    const std::string where = "latent_attention";
    const std::size_t d_model = x_q.shape()[1], d_c = c.shape()[1];
    if (heads == 0 || w.w_q.shape()[1] % heads != 0
        || w.w_uv.shape()[1] % heads != 0) {
        throw std::invalid_argument(
            where + ": H = " + std::to_string(heads) + " must divide the "
            "widths of w_q and w_uv, got " + shape_string(w.w_q.shape())
            + " and " + shape_string(w.w_uv.shape()));
    }
    expect_shape(where, "w_q", w.w_q, {d_model, w.w_q.shape()[1]},
                 "(d_model, H d)");
    expect_shape(where, "w_dkv", w.w_dkv, {d_model, d_c}, "(d_model, d_c)");
    expect_shape(where, "w_uk", w.w_uk, {d_c, w.w_q.shape()[1]},
                 "(d_c, H d)");
    expect_shape(where, "w_uv", w.w_uv, {d_c, w.w_uv.shape()[1]},
                 "(d_c, H d_v)");
    expect_shape(where, "mask", m, {x_q.shape()[0], c.shape()[0]},
                 "(n_q, n_k)");
}

}  // namespace detail

/// \brief The latents to cache, Eq. (8.12): `C = X W_dkv`.
/// \param x_kv the keys' tokens `(n_k, d_model)`
/// \param w    the weights
/// \return `C` `(n_k, d_c)`
inline matrix latents(const matrix& x_kv, const latent_weights& w)
{
    return xt::linalg::dot(x_kv, w.w_dkv);
}

/// \brief Attention over the cached latents, the explicit way: every
///        head's keys `C W_uk^h` and values `C W_uv^h` are formed, Eq.
///        (8.12), then chapter 4's masked attention runs per head.
/// \param x_q  the queries' tokens `(n_q, d_model)`
/// \param c    the cached latents `(n_k, d_c)`
/// \param w    the weights
/// \param heads H
/// \param mask `(n_q, n_k)`, true = may attend
/// \return the heads' outputs side by side `(n_q, H d_v)`
/// \throws std::invalid_argument on inconsistent shapes
inline matrix latent_attention_explicit(const matrix& x_q, const matrix& c,
                                        const latent_weights& w,
                                        std::size_t heads,
                                        const mask_matrix& mask)
{
    detail::expect_latent_arguments(x_q, c, w, heads, mask);
    const std::size_t d = w.w_q.shape()[1] / heads;
    const std::size_t d_v = w.w_uv.shape()[1] / heads;
    const matrix q = xt::linalg::dot(x_q, w.w_q);  // (n_q, H d)
    const matrix k = xt::linalg::dot(c, w.w_uk);   // (n_k, H d)
    const matrix v = xt::linalg::dot(c, w.w_uv);   // (n_k, H d_v)
    matrix y_cat = xt::zeros<double>({x_q.shape()[0], heads * d_v});
    for (std::size_t h = 0; h < heads; ++h) {
        head_view(y_cat, h, d_v) =
            masked_attend(matrix(head_view(q, h, d)),
                          matrix(head_view(k, h, d)),
                          matrix(head_view(v, h, d_v)), mask).y;
    }
    return y_cat;
}

/// \brief The same attention with the up-projections absorbed, Eq.
///        (8.13): each head's query is taken into the latent space,
///        `q W_uk^h^T`, scored against the latents, and `W_uv^h` applied
///        after the mixing. No key or value is formed.
/// \param x_q  the queries' tokens `(n_q, d_model)`
/// \param c    the cached latents `(n_k, d_c)`
/// \param w    the weights
/// \param heads H
/// \param mask `(n_q, n_k)`, true = may attend
/// \return the heads' outputs side by side `(n_q, H d_v)`
/// \throws std::invalid_argument on inconsistent shapes
// [ch08-latent-absorbed]
inline matrix latent_attention_absorbed(const matrix& x_q, const matrix& c,
                                        const latent_weights& w,
                                        std::size_t heads,
                                        const mask_matrix& mask)
{
    detail::expect_latent_arguments(x_q, c, w, heads, mask);
    const std::size_t d = w.w_q.shape()[1] / heads;
    const std::size_t d_v = w.w_uv.shape()[1] / heads;
    const matrix q = xt::linalg::dot(x_q, w.w_q);           // (n_q, H d)
    matrix y_cat = xt::zeros<double>({x_q.shape()[0], heads * d_v});
    for (std::size_t h = 0; h < heads; ++h) {
        const matrix q_h = head_view(q, h, d);               // (n_q, d)
        const matrix w_uk_h = head_view(w.w_uk, h, d);       // (d_c, d)
        const matrix w_uv_h = head_view(w.w_uv, h, d_v);     // (d_c, d_v)
        // q^h W_uk^h^T: the query in the latent space, Eq. (8.13)
        const matrix q_c = xt::linalg::dot(q_h, xt::transpose(w_uk_h));
        const matrix s = xt::linalg::dot(q_c, xt::transpose(c))
                         / std::sqrt(double(d));             // (n_q, n_k)
        const matrix a = softmax_rows(s + mask_bias(mask));
        // (A C) W_uv^h: mix the latents, then map them to values
        head_view(y_cat, h, d_v) =
            xt::linalg::dot(xt::linalg::dot(a, c), w_uv_h);
    }
    return y_cat;
}
// [ch08-latent-absorbed]

}  // namespace attn

// A latent key-value cache, the idea of multi-head latent attention
// (DeepSeek-AI, "DeepSeek-V2", 2024): instead of every head's keys and
// values, cache one narrow latent c_t = x_t W_dkv per token (width d_c),
// from which keys and values are recovered as K = C W_uk, V = C W_uv.
// Since q . k_j = q . (c_j W_uk) = (q W_uk^T) . c_j, the query can be
// mapped once into the latent space ("absorbed") and the scores taken
// against the cached latents directly; likewise A V = (A C) W_uv.
// (DeepSeek-V2 adds a separate rotary part to queries and keys, because a
// rotation between q and W_uk^T would stop the absorption; this sketch
// leaves positions out.)
//
// Glossary (tokens are rows; one head for clarity):
//   x    tokens                          // (n, d_model)
//   W_dkv  down-projection               // (d_model, d_c)
//   W_uk, W_uv  up-projections           // (d_c, d_k), (d_c, d_v)
//   C    cached latents                  // (n, d_c)
#pragma once

#include <cmath>
#include <cstddef>

#include <xtensor-blas/xlinalg.hpp>

#include "attention/core.hpp"
#include "attention/masking.hpp"

/// \file
/// \brief A latent key-value cache with the up-projection absorbed into
///        the query (chapter 8, groundwork).

namespace attn {

/// \brief The weights of one head that caches latents.
struct latent_head_weights {
    matrix w_q;    ///< query projection `(d_model, d_k)`
    matrix w_dkv;  ///< down-projection to the latent `(d_model, d_c)`
    matrix w_uk;   ///< latent to key `(d_c, d_k)`
    matrix w_uv;   ///< latent to value `(d_c, d_v)`
};

/// \brief Attention of queries `x_q` over the cached latents `c`, with
///        the key up-projection absorbed into the query and the value
///        up-projection applied after the mixing: no key or value is ever
///        formed.
/// \param x_q  the queries' tokens `(n_q, d_model)`
/// \param c    the cached latents `(n_k, d_c)`
/// \param w    the head's weights
/// \param mask `(n_q, n_k)`, true = may attend
/// \return the outputs `(n_q, d_v)`
inline matrix latent_attention(const matrix& x_q, const matrix& c,
                               const latent_head_weights& w,
                               const mask_matrix& mask)
{
    const double d_k = double(w.w_q.shape()[1]);
    const matrix q = xt::linalg::dot(x_q, w.w_q);                     // (n_q, d_k)
    const matrix q_latent = xt::linalg::dot(q, xt::transpose(w.w_uk)); // (n_q, d_c)
    const matrix s = xt::linalg::dot(q_latent, xt::transpose(c))
                         / std::sqrt(d_k)
                     + mask_bias(mask);                              // (n_q, n_k)
    const matrix mixed = xt::linalg::dot(softmax_rows(s), c);       // (n_q, d_c)
    return xt::linalg::dot(mixed, w.w_uv);                           // (n_q, d_v)
}

/// \brief Doubles cached per token and layer: `2 H d_k` for multi-head
///        keys and values, `2 G d_k` with G groups, `d_c` for a latent.
struct cache_widths {
    std::size_t multi_head, grouped, latent;
};

/// \brief The cache width of each scheme.
/// \param heads  H
/// \param groups G
/// \param d_k    the head width (keys and values alike)
/// \param d_c    the latent width
/// \return the doubles per token and layer of each scheme
inline cache_widths cache_widths_of(std::size_t heads, std::size_t groups,
                                    std::size_t d_k, std::size_t d_c)
{
    return {2 * heads * d_k, 2 * groups * d_k, d_c};
}

}  // namespace attn

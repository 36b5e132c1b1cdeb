// Incremental decoding with a cache of keys and values. A decoder that
// generates one token at a time keeps the keys and values of every token
// it has already processed; the new token's query attends over all of
// them. Nothing in the cache comes after the new token, so no mask is
// needed for a single token, and the result is exactly the corresponding
// row of the causally masked full pass (Eq. 4.7). Several new tokens at
// once need the causal mask with bottom-right alignment (Eq. 4.2).
//
// Glossary (tokens are rows):
//   k, v              the cached keys and values of t tokens  // (t, d_k),
//                                                             // (t, d_v)
//   q_new, k_new,     the new tokens' queries, keys, values   // (n_new, .)
//   v_new
#pragma once

#include <cstddef>

#include <xtensor/xbuilder.hpp>

#include "attention/core.hpp"
#include "attention/masking.hpp"

/// \file
/// \brief A key-value cache for incremental causal decoding
///        (\ref ch04_cross_attention).

namespace attn {

// [ch04-kv-cache]
/// \brief The keys and values of every token a decoder has processed so
///        far, one row per token.
struct kv_cache {
    matrix k;  ///< cached keys `(t, d_k)`; empty before the first step
    matrix v;  ///< cached values `(t, d_v)`; empty before the first step

    /// \brief Number of tokens in the cache.
    /// \return `t`
    std::size_t size() const { return k.size() == 0 ? 0 : k.shape()[0]; }
};

/// \brief One decoding step, Eq. \ref eq_kv_cache "(4.7)": appends the
///        new tokens' keys and values to the cache, then lets their
///        queries attend over everything cached.
///
/// With one new token the causal mask allows every cached key; with
/// `n_new > 1` tokens at once, new token `i` may not see the new tokens
/// after it, which is the causal mask `(n_new, t + n_new)` with its
/// diagonal in the bottom-right corner.
/// \param cache the cache, updated in place: `t` rows become `t + n_new`
/// \param q_new the new tokens' queries `(n_new, d_k)`
/// \param k_new their keys `(n_new, d_k)`
/// \param v_new their values `(n_new, d_v)`
/// \return scores and weights `(n_new, t + n_new)`, outputs `(n_new, d_v)`
/// \throws std::invalid_argument if the shapes disagree with each other
///         or with the cache
inline attention_result decode_step(kv_cache& cache, const matrix& q_new,
                                    const matrix& k_new, const matrix& v_new)
{
    expect_nonempty("decode_step", "q_new", q_new);
    const std::size_t n_new = q_new.shape()[0], d_k = q_new.shape()[1];
    expect_shape("decode_step", "k_new", k_new, {n_new, d_k},
                 "(n_new, d_k)");
    expect_shape("decode_step", "v_new", v_new, {n_new, v_new.shape()[1]},
                 "(n_new, d_v)");
    if (cache.size() == 0) {
        cache.k = k_new;
        cache.v = v_new;
    } else {
        expect_shape("decode_step", "k_new", k_new,
                     {n_new, cache.k.shape()[1]}, "(n_new, d_k) of the cache");
        expect_shape("decode_step", "v_new", v_new,
                     {n_new, cache.v.shape()[1]}, "(n_new, d_v) of the cache");
        // Append the new rows: the cache grows by n_new tokens.
        cache.k = xt::concatenate(xt::xtuple(cache.k, k_new), 0);
        cache.v = xt::concatenate(xt::xtuple(cache.v, v_new), 0);
    }
    // The new queries are the last n_new of the cached positions: the
    // causal mask of Eq. (4.2), bottom-right aligned, then Eq. (4.7).
    return masked_attend(q_new, cache.k, cache.v,
                         causal_mask(n_new, cache.size()));
}
// [ch04-kv-cache]

}  // namespace attn

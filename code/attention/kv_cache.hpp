// Incremental decoding with a cache of keys and values (the one cache of
// the book: chapter 6 measures it). A decoder that
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

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xmanipulation.hpp>

#include "attention/core.hpp"
#include "attention/masking.hpp"

/// \file
/// \brief A key-value cache for incremental causal decoding
///        (\ref ch04_cross_attention).

namespace attn {

namespace detail {

// The entries of `data` as a row-major (rows, width) matrix: a view of the
// vector's storage, no copy.
inline auto rows_view(const std::vector<double>& data, std::size_t rows,
                      std::size_t width)
{
    return xt::adapt(data.data(), data.size(), xt::no_ownership(),
                     std::array<std::size_t, 2>{rows, width});
}

}  // namespace detail

// [ch04-kv-cache]
/// \brief The keys and values of every token a decoder has processed so
///        far, one row per token, grown in place by one row per token.
struct kv_cache {
    std::size_t d_k = 0;     ///< width of a key (set by the first token)
    std::size_t d_v = 0;     ///< width of a value
    std::size_t length = 0;  ///< tokens cached, `t`
    std::vector<double> k;   ///< keys, row-major `(t, d_k)`
    std::vector<double> v;   ///< values, row-major `(t, d_v)`

    /// \brief Number of tokens in the cache.
    /// \return `t`
    std::size_t size() const { return length; }
    /// \brief The cached keys as a matrix: a view of `k`, no copy, valid
    ///        until the next append.
    /// \return `(t, d_k)`
    auto keys() const { return detail::rows_view(k, length, d_k); }
    /// \brief The cached values as a matrix: a view of `v`, no copy, valid
    ///        until the next append.
    /// \return `(t, d_v)`
    auto values() const { return detail::rows_view(v, length, d_v); }
};
// [ch04-kv-cache]

namespace detail {

// The new tokens' queries, keys and values fit together.
inline void expect_decode_step_shapes(const matrix& q_new,
                                      const matrix& k_new,
                                      const matrix& v_new)
{
    expect_nonempty("decode_step", "q_new", q_new);
    const std::size_t n_new = q_new.shape()[0], d_k = q_new.shape()[1];
    expect_shape("decode_step", "k_new", k_new, {n_new, d_k},
                 "(n_new, d_k)");
    expect_shape("decode_step", "v_new", v_new, {n_new, v_new.shape()[1]},
                 "(n_new, d_v)");
}

// The cache's vectors hold exactly `length` rows of keys and values.
inline void expect_cache(const std::string& where, const kv_cache& cache)
{
    if (cache.k.size() != cache.length * cache.d_k
        || cache.v.size() != cache.length * cache.d_v) {
        throw std::invalid_argument(
            where + ": the cache says " + std::to_string(cache.length)
            + " tokens of widths " + std::to_string(cache.d_k) + " and "
            + std::to_string(cache.d_v) + " but holds "
            + std::to_string(cache.k.size()) + " key and "
            + std::to_string(cache.v.size()) + " value entries");
    }
}

}  // namespace detail

/// \brief Appends the keys and values of `n_new` tokens to the cache.
/// \param cache the cache: `t` rows become `t + n_new`
/// \param k_new keys `(n_new, d_k)`
/// \param v_new values `(n_new, d_v)`
/// \param where the calling function, for the error message
/// \throws std::invalid_argument if the widths differ from the cache's
inline void append_to_cache(kv_cache& cache, const matrix& k_new,
                            const matrix& v_new,
                            const std::string& where = "append_to_cache")
{
    detail::expect_cache(where, cache);
    const std::size_t n_new = k_new.shape()[0];
    if (cache.length == 0) {
        cache.d_k = k_new.shape()[1];
        cache.d_v = v_new.shape()[1];
    }
    expect_shape(where, "k_new", k_new, {n_new, cache.d_k},
                 "(n_new, d_k) of the cache");
    expect_shape(where, "v_new", v_new, {n_new, cache.d_v},
                 "(n_new, d_v) of the cache");
    cache.k.insert(cache.k.end(), k_new.begin(), k_new.end());
    cache.v.insert(cache.v.end(), v_new.begin(), v_new.end());
    cache.length += n_new;
}

/// \brief One decoding step, Eq. \ref eq_kv_cache "(4.7)": appends the
///        new tokens' keys and values to the cache, then lets their
///        queries attend over everything cached.
///
/// With one new token the causal mask allows every cached key; with
/// `n_new > 1` tokens at once, new token `i` may not see the new tokens
/// after it, which is the causal mask `(n_new, t + n_new)` with its
/// diagonal in the bottom-right corner. The attention is masked_attend()'s,
/// on views of the cache's storage, so nothing cached is copied.
/// \param cache the cache, updated in place: `t` rows become `t + n_new`
/// \param q_new the new tokens' queries `(n_new, d_k)`
/// \param k_new their keys `(n_new, d_k)`
/// \param v_new their values `(n_new, d_v)`
/// \return scores and weights `(n_new, t + n_new)`, outputs `(n_new, d_v)`
/// \throws std::invalid_argument if the shapes disagree with each other
///         or with the cache
// [ch04-decode-step]
inline attention_result decode_step(kv_cache& cache, const matrix& q_new,
                                    const matrix& k_new, const matrix& v_new)
{
    detail::expect_decode_step_shapes(q_new, k_new, v_new);
    append_to_cache(cache, k_new, v_new, "decode_step");
    const std::size_t n_new = q_new.shape()[0], d_k = q_new.shape()[1];
    const auto k = cache.keys();    // (t + n_new, d_k), views of the
    const auto v = cache.values();  // (t + n_new, d_v)  cache, no copy
    // The new queries are the last n_new of the cached positions: the
    // causal mask of Eq. (4.2), bottom-right aligned, then Eq. (4.7).
    attention_result r;
    r.s = xt::linalg::dot(q_new, xt::transpose(k)) / std::sqrt(double(d_k))
          + mask_bias(causal_mask(n_new, cache.size()));
    r.a = softmax_rows(r.s);                        // (n_new, t + n_new)
    r.y = xt::linalg::dot(r.a, v);                  // (n_new, d_v)
    return r;
}
// [ch04-decode-step]

}  // namespace attn

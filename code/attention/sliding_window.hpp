// Masks of today's decoders, in chapter 4's convention (true = may attend;
// masks compose with AND), and the cache that a window makes finite.
//
// Sliding-window attention (as in Longformer, Beltagy et al. 2020, and
// Mistral 7B, Jiang et al. 2023): the query at position i sees the keys
// i - W + 1, ..., i, at most W of them. A decoder then needs only the last
// W keys and values: a ring buffer of W slots, position j in slot j mod W,
// each new token overwriting the oldest.
//
// The prefix-LM mask (as in Raffel et al. 2020, T5): the first p tokens
// (the prefix) see each other in both directions, the rest causally. The
// packed-sequence mask: several documents in one row, each token sees
// only the earlier tokens of its own document.
//
// Glossary (tokens are rows):
//   W        the window, positions seen by a query, itself included
//   ring     the W slots of keys and values          // (W, d_k), (W, d_v)
//   doc      the document of every position          // (n,)
#pragma once

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "attention/attend.hpp"
#include "attention/core.hpp"
#include "attention/masking.hpp"

/// \file
/// \brief The sliding-window, prefix-LM and packed-sequence masks, and the
///        ring-buffer cache of a window (\ref ch08_modern).

namespace attn {

/// \brief The causal sliding-window mask, Eq. (8.8): the query at position
///        i (the last query on the last key when `n_q < n_k`, as
///        causal_mask) may attend to the keys `i - window + 1, ..., i`.
/// \param n_q    number of queries
/// \param n_k    number of keys
/// \param window how many positions a query sees, itself included, >= 1
/// \return the mask `(n_q, n_k)`
/// \throws std::invalid_argument if `window` is 0 or `n_q > n_k`
// [ch08-sliding-window-mask]
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
    mask_matrix m = xt::zeros<bool>({n_q, n_k});
    for (std::size_t r = 0; r < n_q; ++r) {
        const std::size_t i = n_k - n_q + r;  // the query's position
        for (std::size_t j = 0; j < n_k; ++j) {
            m(r, j) = j <= i && i - j < window;  // Eq. (8.8)
        }
    }
    return m;
}
// [ch08-sliding-window-mask]

/// \brief The keys and values of the last W positions of a decoder, in W
///        slots: position j lives in slot `j mod W`, Eq. (8.9).
// [ch08-ring-cache]
struct ring_kv_cache {
    std::size_t window;      ///< W, the number of slots
    matrix k;                ///< the slots' keys `(W, d_k)`
    matrix v;                ///< the slots' values `(W, d_v)`
    std::size_t seen = 0;    ///< positions appended so far, t

    /// \brief An empty cache of W slots.
    /// \param w   the window W, at least 1
    /// \param d_k the key width
    /// \param d_v the value width
    ring_kv_cache(std::size_t w, std::size_t d_k, std::size_t d_v)
        : window(w), k(xt::zeros<double>({w, d_k})),
          v(xt::zeros<double>({w, d_v}))
    {
        if (w == 0) {
            throw std::invalid_argument("ring_kv_cache: expected a window "
                                        "of at least 1 slot, got 0");
        }
    }
};
// [ch08-ring-cache]

namespace detail {

inline void expect_ring_row(const std::string& where, const std::string& name,
                            const matrix& row, std::size_t width)
{
    expect_shape(where, name, row, {1, width}, "(1, width of the cache)");
}

}  // namespace detail

// [ch08-ring-append]
/// \brief Appends position t's key and value into slot `t mod W`,
///        overwriting the key of position t - W, which no later query sees.
/// \param c     the cache
/// \param k_new the key `(1, d_k)`
/// \param v_new the value `(1, d_v)`
/// \throws std::invalid_argument if a row does not fit the cache
inline void ring_append(ring_kv_cache& c, const matrix& k_new,
                        const matrix& v_new)
{
    detail::expect_ring_row("ring_append", "k_new", k_new, c.k.shape()[1]);
    detail::expect_ring_row("ring_append", "v_new", v_new, c.v.shape()[1]);
    const std::size_t slot = c.seen % c.window;  // Eq. (8.9)
    xt::view(c.k, slot, xt::all()) = xt::view(k_new, 0, xt::all());
    xt::view(c.v, slot, xt::all()) = xt::view(v_new, 0, xt::all());
    ++c.seen;
}

/// \brief The newest position's query attends over the filled slots:
///        `min(t, W)` keys, whatever their order in the ring (attention
///        does not depend on the order of its keys).
/// \param c     the cache, after appending the query's own key
/// \param q_new the query `(1, d_k)`
/// \return the output `(1, d_v)`
/// \throws std::invalid_argument if `q_new` does not fit the cache
inline matrix ring_attend(const ring_kv_cache& c, const matrix& q_new)
{
    detail::expect_ring_row("ring_attend", "q_new", q_new, c.k.shape()[1]);
    const std::size_t filled = std::min(c.seen, c.window);
    const matrix k = xt::view(c.k, xt::range(0, filled), xt::all());
    const matrix v = xt::view(c.v, xt::range(0, filled), xt::all());
    return attend(q_new, k, v).y;
}
// [ch08-ring-append]

/// \brief The prefix-LM mask, Eq. (8.10): position i may attend to key j
///        if j <= i (causal) or if j lies in the prefix (`j < prefix`).
/// \param n      number of positions (queries and keys)
/// \param prefix length p of the bidirectional prefix, `p <= n`
/// \return the mask `(n, n)`
/// \throws std::invalid_argument if `prefix > n`
// [ch08-prefix-lm-mask]
inline mask_matrix prefix_lm_mask(std::size_t n, std::size_t prefix)
{
    if (prefix > n) {
        throw std::invalid_argument(
            "prefix_lm_mask: expected a prefix of at most n = "
            + std::to_string(n) + " positions, got " + std::to_string(prefix));
    }
    mask_matrix m = causal_mask(n, n);
    xt::view(m, xt::all(), xt::range(0, prefix)) = true;  // the prefix
    return m;
}
// [ch08-prefix-lm-mask]

// [ch08-packed-mask]
/// \brief The block-diagonal part of Eq. (8.11): position i may attend
///        to key j only within its own document, `doc[i] == doc[j]`.
/// \param doc the document of every position `(n,)`
/// \return the mask `(n, n)`, block-diagonal for contiguous documents
inline mask_matrix same_document_mask(const std::vector<std::size_t>& doc)
{
    const std::size_t n = doc.size();
    mask_matrix m = xt::zeros<bool>({n, n});
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            m(i, j) = doc[i] == doc[j];
        }
    }
    return m;
}

/// \brief The packed-sequence mask, Eq. (8.11): same document AND
///        causal.
/// \param doc the document of every position `(n,)`
/// \return the mask `(n, n)`
inline mask_matrix packed_causal_mask(const std::vector<std::size_t>& doc)
{
    return mask_and(same_document_mask(doc),
                    causal_mask(doc.size(), doc.size()));
}
// [ch08-packed-mask]

}  // namespace attn

// One transformer decoder block, reduced to its two attention layers:
// masked multi-head self-attention over the target so far, then multi-head
// cross-attention from the target to the encoder's output, each with a
// residual connection. The position-wise feed-forward layer and the layer
// normalisations of Vaswani et al. (2017) are left out: both act on each
// position alone, so they change no argument about which position may see
// which.
//
// Glossary (tokens are rows; H heads):
//   x          the decoder's input, one row per target position
//                                                        // (n_t, d_model)
//   z          the encoder's output, one row per source position
//                                                        // (n_s, d_model)
//   m_self     mask of the self-attention                // (n_t, n_t)
//   m_cross    mask of the cross-attention               // (n_t, n_s)
//   u          x + self-attention(x)                     // (n_t, d_model)
//   y          X_out = u + cross-attention(u, z)         // (n_t, d_model)
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "attention/core.hpp"
#include "attention/masking.hpp"
#include "attention/multi_head.hpp"

/// \file
/// \brief A decoder block: masked self-attention, then cross-attention
///        over the encoder's output, with residual connections
///        (\ref ch04_cross_attention).

namespace attn {

/// \brief The weights of a decoder block: one multi-head attention layer
///        for the self-attention, one for the cross-attention.
struct decoder_block_weights {
    multi_head_weights self;   ///< masked self-attention over the target
    multi_head_weights cross;  ///< cross-attention to the encoder's output
};

/// \brief Everything a decoder block computes.
struct decoder_block_result {
    multi_head_result self;   ///< the self-attention layer, weights
                              ///< `(H, n_t, n_t)`
    multi_head_result cross;  ///< the cross-attention layer, weights
                              ///< `(H, n_t, n_s)`
    matrix u;                 ///< after the first residual `(n_t, d_model)`
    matrix y;                 ///< the block's output `X_out`
                              ///< `(n_t, d_model)`
};

namespace detail {

inline void expect_decoder_block(const matrix& x, const matrix& z,
                                std::size_t heads, const mask_matrix& m_self,
                                const mask_matrix& m_cross)
{
    const std::string where = "decoder_block";
    expect_nonempty(where, "x", x);
    expect_nonempty(where, "z", z);
    const std::size_t n_t = x.shape()[0], n_s = z.shape()[0];
    expect_shape(where, "z", z, {n_s, x.shape()[1]}, "(n_s, d_model)");
    if (heads == 0 || x.shape()[1] % heads != 0) {
        throw std::invalid_argument(
            where + ": the number of heads H = " + std::to_string(heads)
            + " must divide d_model = " + std::to_string(x.shape()[1]));
    }
    if (m_self.size() != 0) {
        expect_shape(where, "m_self", m_self, {n_t, n_t}, "(n_t, n_t)");
    }
    if (m_cross.size() != 0) {
        expect_shape(where, "m_cross", m_cross, {n_t, n_s}, "(n_t, n_s)");
    }
}

}  // namespace detail

// [ch04-decoder-block]
/// \brief A decoder block, Eq. \ref eq_decoder_block "(4.8)":
///        `u = x + MHA(x, x; m_self)`, then the block's output
///        `X_out = u + MHA(u, z; m_cross)`, returned as `y`.
///
/// For training with teacher forcing, `m_self` is the causal mask
/// (ANDed with the target's padding mask) and `m_cross` is the source's
/// padding mask, with no causal part.
/// \param x       the decoder's input `(n_t, d_model)`
/// \param z       the encoder's output `(n_s, d_model)`
/// \param w       the two layers' weights, each `(d_model, d_model)`
/// \param heads   the number of heads `H`; it must divide `d_model`
/// \param m_self  `(n_t, n_t)`, true = may attend; empty means no mask
/// \param m_cross `(n_t, n_s)`, true = may attend; empty means no mask
/// \return both layers' results, `u` and `y` `(n_t, d_model)`
/// \throws std::invalid_argument on inconsistent shapes
inline decoder_block_result decoder_block(const matrix& x, const matrix& z,
                                          const decoder_block_weights& w,
                                          std::size_t heads,
                                          const mask_matrix& m_self,
                                          const mask_matrix& m_cross)
{
    detail::expect_decoder_block(x, z, heads, m_self, m_cross);
    decoder_block_result r;
    // Masked self-attention with a residual connection, Eq. (4.8)
    r.self = multi_head_attention(x, x, w.self, heads, m_self);
    r.u = x + r.self.y;                                    // (n_t, d_model)
    // Cross-attention: queries from u, keys and values from z, Eq. (4.8)
    r.cross = multi_head_attention(r.u, z, w.cross, heads, m_cross);
    r.y = r.u + r.cross.y;                         // X_out, (n_t, d_model)
    return r;
}
// [ch04-decoder-block]

}  // namespace attn

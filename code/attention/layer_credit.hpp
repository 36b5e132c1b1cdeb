// Chapter 7's ways of crediting a head or a token of a trained decoder
// model with its prediction, to set beside the raw attention weights:
//   - attention rollout (Abnar and Zuidema 2020): each layer's weights,
//     averaged over heads, mixed half and half with the identity for the
//     residual path, multiplied across layers;
//   - occlusion of a token: key j hidden from every other query of every
//     layer, and the loss measured again;
//   - a head's direct contribution to the correct logit through the
//     residual stream (its output, read by the unembedding);
//   - path ablation: a head of one layer removed from what a later layer's
//     queries read, or from what its keys and values read, but left in
//     the residual stream: which side of the later layer needs it tells
//     Q-composition from K- (and V-) composition.
//
// Glossary (tokens are rows, H heads per layer, D layers):
//   a_l       layer l's weights                                // (H, n, n)
//   A-bar_l   their mean over heads                            // (n, n)
//   A-hat_l   (A-bar_l + I) / 2, rows still sum to 1           // (n, n)
//   A-tilde   rollout A-hat_{D-1} ... A-hat_0 (Abnar and Zuidema's A~) // (n, n)
//   O^{l,h}   head h of layer l's write into the stream:
//             its block of Y_cat times its rows of W_o         // (n, d)
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/masking.hpp"
#include "attention/softmax.hpp"
#include "attention/multi_head.hpp"
#include "attention/decoder_model.hpp"

/// \file
/// \brief Crediting heads and tokens of chapter 7's decoder model:
///        attention rollout, occlusion, direct logit attribution and path
///        ablation (\ref ch07_layers).

namespace attn {

namespace detail {

// At least one layer; every layer's weights (H, n, n) of the same shape.
inline void expect_layer_weights(const std::string& where,
                                 const std::vector<tensor3>& a)
{
    if (a.empty() || a[0].shape()[0] == 0
        || a[0].shape()[1] != a[0].shape()[2]) {
        throw std::invalid_argument(
            where + ": expected at least one layer of weights (H, n, n), got "
            + (a.empty() ? std::string("none") : shape_string(a[0].shape())));
    }
    for (const auto& w : a) {
        expect_shape(where, "a_l", w, {a[0].shape()[0], a[0].shape()[1],
                                       a[0].shape()[2]}, "(H, n, n)");
    }
}

}  // namespace detail

// [ch07-rollout]
/// \brief Attention rollout, Eq. \ref eq_rollout "(7.9)": per layer the
///        mean of the heads' weights mixed half and half with the
///        identity, multiplied from the first layer to the last.
/// \param a every layer's weights, first layer first `(H, n, n)` each
/// \return A-tilde, row i: how much of position i's last stream is credited to
///         each input token `(n, n)`
/// \throws std::invalid_argument for no layers or unequal shapes
inline matrix attention_rollout(const std::vector<tensor3>& a)
{
    detail::expect_layer_weights("attention_rollout", a);
    const std::size_t heads = a[0].shape()[0], n = a[0].shape()[1];
    const matrix identity = xt::eye<double>(n);                   // (n, n)
    matrix rollout = identity;                                    // A-tilde
    for (const auto& a_l : a) {
        matrix mean = xt::zeros<double>({n, n});                  // A-bar_l
        for (std::size_t h = 0; h < heads; ++h) {
            mean += xt::view(a_l, h, xt::all(), xt::all()) / double(heads);
        }
        const matrix hat = 0.5 * mean + 0.5 * identity;           // A-hat_l
        rollout = xt::linalg::dot(hat, rollout);                  // (n, n)
    }
    return rollout;
}
// [ch07-rollout]

// [ch07-head-write]
/// \brief What head h of a layer writes into the residual stream: its
///        block of `Y_cat` times its rows of `W_o` (the bias, shared by
///        the heads, is not part of it).
/// \param layer the layer's forward result
/// \param w_o   the layer's output projection `(d, d)`
/// \param heads H
/// \param h     the head, 0 <= h < H
/// \return O^{l,h} `(n, d)`; the H of them and b_o sum to the layer's output
inline matrix head_write(const multi_head_result& layer, const matrix& w_o,
                         std::size_t heads, std::size_t h)
{
    const std::size_t d = w_o.shape()[0], d_k = d / heads;
    if (heads == 0 || d % heads != 0 || h >= heads
        || layer.heads.shape()[1] != d) {
        throw std::invalid_argument(
            "head_write: expected 0 <= h < H, H dividing d and Y_cat of width "
            "d = " + std::to_string(d) + ", got h = " + std::to_string(h)
            + ", H = " + std::to_string(heads) + ", Y_cat "
            + shape_string(layer.heads.shape()));
    }
    auto block = xt::range(h * d_k, (h + 1) * d_k);
    const matrix y_h = xt::view(layer.heads, xt::all(), block);  // (n, d_k)
    const matrix w_h = xt::view(w_o, block, xt::all());         // (d_k, d)
    return xt::linalg::dot(y_h, w_h);                           // (n, d)
}
// [ch07-head-write]

/// \brief Direct logit attribution of every head at every position: the
///        part of the correct token's logit that the head's write adds,
///        read straight off by the unembedding.
/// \param s      the sizes
/// \param m      the model
/// \param f      a forward pass of `m`
/// \param target the targets of that pass, -1 for none `(n,)`
/// \return per layer a matrix `(H, n)`: O^{l,h}[i] . W_U[:, target_i]
///         (0 where there is no target)
inline std::vector<matrix> direct_logit_attribution(
    const decoder_sizes& s, const decoder_model& m, const decoder_forward& f,
    const std::vector<int>& target)
{
    const std::size_t n = target.size();
    if (f.layer.size() != m.layers.size() || f.x.empty()
        || f.x[0].shape()[0] != n) {
        throw std::invalid_argument(
            "direct_logit_attribution: expected a forward pass of the model "
            "on " + std::to_string(n) + " tokens, got "
            + std::to_string(f.layer.size()) + " layers of "
            + (f.x.empty() ? std::string("no") : std::to_string(
                  f.x[0].shape()[0])) + " rows");
    }
    std::vector<matrix> dla;
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        matrix r = xt::zeros<double>({s.heads, n});               // (H, n)
        for (std::size_t h = 0; h < s.heads; ++h) {
            const matrix o = head_write(f.layer[l], m.layers[l].w_o,
                                        s.heads, h);               // (n, d)
            for (std::size_t i = 0; i < n; ++i) {
                if (target[i] >= 0) {
                    r(h, i) = xt::linalg::vdot(
                        xt::row(o, i),
                        xt::col(m.w_u, std::size_t(target[i])));
                }
            }
        }
        dla.push_back(r);
    }
    return dla;
}

/// \brief Which input of a later layer a path ablation removes a head
///        from.
enum class path_side {
    queries,      ///< only what the later layer's queries read
    keys_values,  ///< only what its keys and values read
    both          ///< both (the residual stream still keeps the head)
};

/// \brief One head of layer `from` removed from the input of layer `to`
///        (> `from`) on one side only, the residual stream left whole.
/// \param s      the sizes
/// \param m      the model
/// \param tokens t `(n,)`
/// \param target the targets `(n,)`
/// \param from   the layer of the head
/// \param head   the head
/// \param to     the later layer whose input loses the head's write
/// \param side   which of that layer's inputs loses it
/// \return the forward pass so edited (its x are the streams as edited,
///         its p the predictions)
/// \throws std::invalid_argument unless from < to < L and head < H
inline decoder_forward decoder_forward_path_ablated(
    const decoder_sizes& s, const decoder_model& m,
    const std::vector<std::size_t>& tokens, const std::vector<int>& target,
    std::size_t from, std::size_t head, std::size_t to, path_side side)
{
    if (!(from < to && to < m.layers.size() && head < s.heads)) {
        throw std::invalid_argument(
            "decoder_forward_path_ablated: expected from < to < D = "
            + std::to_string(m.layers.size()) + " and head < H = "
            + std::to_string(s.heads) + ", got from = "
            + std::to_string(from) + ", to = " + std::to_string(to)
            + ", head = " + std::to_string(head));
    }
    // The plain pass up to layer `to`, then layer `to` and those after it
    // again, with the head's write subtracted from one side's input.
    decoder_forward f = decoder_model_forward(s, m, tokens, target);
    const matrix o = head_write(f.layer[from], m.layers[from].w_o, s.heads,
                                head);                             // (n, d)
    const std::size_t n = tokens.size();
    const auto mask = causal_mask(n, n);
    for (std::size_t l = to; l < m.layers.size(); ++l) {
        // Layer `to` reads the stream without o on the chosen side; the
        // layers after it read their (changed) stream whole.
        const matrix without = l == to ? matrix(f.x[l] - o) : f.x[l];
        const matrix& x_q = side == path_side::keys_values ? f.x[l] : without;
        const matrix& x_kv = side == path_side::queries ? f.x[l] : without;
        f.layer[l] = multi_head_attention(x_q, x_kv, m.layers[l], s.heads,
                                          mask);
        f.x[l + 1] = f.x[l] + f.layer[l].y;
    }
    f.logits = xt::linalg::dot(f.x.back(), m.w_u);
    f.p = softmax_rows(f.logits);
    return f;
}

/// \brief The causal mask with key j hidden from every query but its own
///        (occlusion of token j in every layer).
/// \param n tokens
/// \param j the hidden key, j < n
/// \return the mask `(n, n)`, true where a query may attend
inline mask_matrix hide_key_mask(std::size_t n, std::size_t j)
{
    if (j >= n) {
        throw std::invalid_argument("hide_key_mask: expected j < n = "
                                    + std::to_string(n) + ", got j = "
                                    + std::to_string(j));
    }
    mask_matrix mask = causal_mask(n, n);
    for (std::size_t i = j + 1; i < n; ++i) {
        mask(i, j) = false;
    }
    return mask;
}

}  // namespace attn

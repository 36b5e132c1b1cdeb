// The decoder-only model of chapter 7: token embedding plus learned
// positions, D layers of causal multi-head self-attention each added to
// the residual stream, and an unembedding that reads the next token's
// logits off the last stream. Attention only: no LayerNorm, no MLP.
// Its backward pass calls chapter 5's layer backward once per layer, from
// the last layer down; what is new is the embedding, the unembedding and
// the residual stream that carries the gradient past every layer.
//
// Glossary (tokens are rows, d = d_model, H heads per layer):
//   t          the tokens                                         // (n,)
//   W_E        token embedding, row t is token t's vector         // (|V|, d)
//   W_P        learned positions (file P.npy), row i: position i // (n_max, d)
//   X^(0)      W_E[t_i] + W_P[i], the residual stream's start    // (n, d)
//   X^(l+1)    X^(l) + MHA_l(X^(l)) under the causal mask         // (n, d)
//   W_U        unembedding                                        // (d, |V|)
//   logits     X^(D) W_U                                          // (n, |V|)
//   p          softmax_rows(logits)                               // (n, |V|)
//   L          mean cross-entropy over the positions with a target
//   xi_l       head gates of layer l (ablation; empty = all on)   // (H,)
//   dL_d<symbol>  dL/d<symbol>, the same shape as <symbol>
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/random.hpp"
#include "attention/masking.hpp"
#include "attention/softmax.hpp"
#include "attention/multi_head.hpp"
#include "attention/multi_head_backward.hpp"

/// \file
/// \brief The decoder-only, attention-only model of chapter 7: forward and
///        backward passes (\ref ch07_layers).

namespace attn {

/// \brief The sizes of a decoder model.
struct decoder_sizes {
    std::size_t vocab = 16;    ///< |V|
    std::size_t n_max = 16;    ///< longest sequence (rows of W_P)
    std::size_t d_model = 32;  ///< d, divisible by H
    std::size_t heads = 2;     ///< H, heads per layer
    std::size_t layers = 2;    ///< D, the depth (layers)
};

/// \brief The trainable weights of a decoder model.
struct decoder_model {
    matrix w_e;                              ///< W_E `(|V|, d)`
    matrix w_p;                              ///< W_P `(n_max, d)`, positions
    std::vector<multi_head_weights> layers;  ///< one per layer, L of them
    matrix w_u;                              ///< W_U `(d, |V|)`
};

namespace detail {

inline void expect_decoder_sizes(const std::string& where,
                                 const decoder_sizes& s)
{
    if (s.vocab == 0 || s.n_max == 0 || s.heads == 0
        || s.d_model % s.heads != 0 || s.d_model == 0) {
        throw std::invalid_argument(
            where + ": expected |V|, n_max, d_model, H >= 1 and H dividing "
            "d_model, got |V| = " + std::to_string(s.vocab) + ", n_max = "
            + std::to_string(s.n_max) + ", d_model = "
            + std::to_string(s.d_model) + ", H = " + std::to_string(s.heads));
    }
}

}  // namespace detail

/// \brief Throws `std::invalid_argument` unless the model's weights have
///        the shapes of `s`.
/// \param s the sizes
/// \param m the model
inline void expect_decoder_model(const decoder_sizes& s,
                                 const decoder_model& m)
{
    const std::string where = "expect_decoder_model";
    detail::expect_decoder_sizes(where, s);
    const std::size_t d = s.d_model;
    expect_shape(where, "W_E", m.w_e, {s.vocab, d}, "(|V|, d_model)");
    expect_shape(where, "W_P", m.w_p, {s.n_max, d}, "(n_max, d_model)");
    expect_shape(where, "W_U", m.w_u, {d, s.vocab}, "(d_model, |V|)");
    if (m.layers.size() != s.layers) {
        throw std::invalid_argument(where + ": expected D = "
                                    + std::to_string(s.layers)
                                    + " layers, got "
                                    + std::to_string(m.layers.size()));
    }
    for (const auto& w : m.layers) {
        expect_shape(where, "W_q", w.w_q, {d, d}, "(d_model, d_model)");
        expect_shape(where, "W_k", w.w_k, {d, d}, "(d_model, d_model)");
        expect_shape(where, "W_v", w.w_v, {d, d}, "(d_model, d_model)");
        expect_shape(where, "W_o", w.w_o, {d, d}, "(d_model, d_model)");
        expect_shape(where, "b_o", w.b_o, {d}, "(d_model,)");
    }
}

/// \brief A model with W_E and W_P drawn from N(0, 1) (as PyTorch's
///        `nn.Embedding`), the other weights from N(0, 1/d), zero biases.
///
/// Rows of norm about sqrt(d) let the first layer's scores, which are
/// products of such rows, grow large enough to attend sharply; with rows
/// of norm 1 the two-layer model took longer to form its induction head.
/// \param s    the sizes
/// \param seed seed of the weights
/// \return the model
inline decoder_model init_decoder_model(const decoder_sizes& s,
                                        std::uint64_t seed)
{
    detail::expect_decoder_sizes("init_decoder_model", s);
    rng g(seed);
    const std::size_t d = s.d_model;
    const double scale = 1.0 / std::sqrt(double(d));
    decoder_model m;
    m.w_e = normal_matrix(s.vocab, d, g, 1.0);
    m.w_p = normal_matrix(s.n_max, d, g, 1.0);
    for (std::size_t l = 0; l < s.layers; ++l) {
        multi_head_weights w;
        w.w_q = normal_matrix(d, d, g, scale);
        w.w_k = normal_matrix(d, d, g, scale);
        w.w_v = normal_matrix(d, d, g, scale);
        w.w_o = normal_matrix(d, d, g, scale);
        w.b_o = xt::zeros<double>({d});
        m.layers.push_back(w);
    }
    m.w_u = normal_matrix(d, s.vocab, g, scale);
    return m;
}

/// \brief What the forward pass computes on one sequence, kept for the
///        backward pass.
struct decoder_forward {
    std::vector<matrix> x;                  ///< X^(0) .. X^(D), `(n, d)` each
    std::vector<multi_head_result> layer;   ///< each layer's result
    matrix logits;                          ///< `(n, |V|)`
    matrix p;                               ///< `(n, |V|)`
    double loss = 0.0;                      ///< mean cross-entropy
    std::size_t scored = 0;                 ///< positions with a target
};

namespace detail {

// The sequence fits the model: 1 <= n <= n_max, tokens below |V|, one
// target per token, each -1 or below |V|; one gate vector (H,) per layer,
// or none.
inline void expect_sequence(const std::string& where, const decoder_sizes& s,
                            const decoder_model& m,
                            const std::vector<std::size_t>& tokens,
                            const std::vector<int>& target,
                            const std::vector<vector>& gates,
                            const mask_matrix& allowed = {})
{
    try {
        expect_decoder_model(s, m);
    } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(where + ": " + error.what());
    }
    const std::size_t n = tokens.size();
    if (n == 0 || n > s.n_max || target.size() != n) {
        throw std::invalid_argument(
            where + ": expected 1 <= n <= n_max = " + std::to_string(s.n_max)
            + " tokens and one target per token, got "
            + std::to_string(n) + " tokens and "
            + std::to_string(target.size()) + " targets");
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (tokens[i] >= s.vocab || target[i] < -1
            || target[i] >= int(s.vocab)) {
            throw std::invalid_argument(
                where + ": token " + std::to_string(tokens[i]) + " or target "
                + std::to_string(target[i]) + " at position "
                + std::to_string(i) + " is out of range for |V| = "
                + std::to_string(s.vocab));
        }
    }
    if (allowed.size() != 0) {
        expect_shape(where, "mask", allowed, {n, n}, "(n, n)");
    }
    if (!gates.empty() && gates.size() != s.layers) {
        throw std::invalid_argument(where + ": expected no gates or one "
                                    "gate vector per layer, got "
                                    + std::to_string(gates.size()));
    }
}

}  // namespace detail

// [ch07-decoder-forward]
/// \brief The decoder model on one sequence: embedding, L residual
///        attention layers, unembedding, mean cross-entropy.
/// \param s      the sizes
/// \param m      the model
/// \param tokens t `(n,)`
/// \param target the next token at each position, -1 for none `(n,)`
/// \param gates  one gate vector `(H,)` per layer; empty: every head on
/// \param allowed which keys each query may attend `(n, n)`; empty: the
///                causal mask (another mask hides tokens, Section
///                \ref ch07_credit)
/// \return everything the backward pass needs, and the loss
/// \throws std::invalid_argument if the sequence does not fit the model
inline decoder_forward decoder_model_forward(
    const decoder_sizes& s, const decoder_model& m,
    const std::vector<std::size_t>& tokens, const std::vector<int>& target,
    const std::vector<vector>& gates = {}, const mask_matrix& allowed = {})
{
    detail::expect_sequence("decoder_model_forward", s, m, tokens, target,
                            gates, allowed);
    const std::size_t n = tokens.size();
    decoder_forward f;
    matrix x0 = xt::view(m.w_p, xt::range(0, n), xt::all());     // (n, d)
    for (std::size_t i = 0; i < n; ++i) {
        xt::row(x0, i) += xt::row(m.w_e, tokens[i]);  // W_E[t_i] + W_P[i]
    }
    f.x.push_back(x0);
    const mask_matrix mask = allowed.size() ? allowed : causal_mask(n, n);
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        // The residual stream: X^(l+1) = X^(l) + MHA_l(X^(l)).
        f.layer.push_back(multi_head_attention(
            f.x[l], f.x[l], m.layers[l], s.heads, mask,
            gates.empty() ? vector{} : gates[l]));
        f.x.push_back(f.x[l] + f.layer[l].y);                  // (n, d)
    }
    f.logits = xt::linalg::dot(f.x.back(), m.w_u);             // (n, |V|)
    f.p = softmax_rows(f.logits);                              // (n, |V|)
    for (std::size_t i = 0; i < n; ++i) {
        if (target[i] >= 0) {
            f.loss -= std::log(f.p(i, std::size_t(target[i])));
            f.scored += 1;
        }
    }
    f.loss /= double(std::max<std::size_t>(f.scored, 1));
    return f;
}
// [ch07-decoder-forward]

/// \brief The gradients of the loss with respect to every weight.
struct decoder_gradients {
    matrix dL_dw_e;                           ///< `(|V|, d)`
    matrix dL_dw_p;                           ///< `(n_max, d)`
    std::vector<multi_head_gradients> layers; ///< per layer, from ch. 5
    matrix dL_dw_u;                           ///< `(d, |V|)`
};

namespace detail {

// f must be the forward pass of this sequence through this model.
inline void expect_decoder_forward_of(const std::string& where,
                                      const decoder_sizes& s,
                                      const decoder_model& m,
                                      const std::vector<std::size_t>& tokens,
                                      const std::vector<int>& target,
                                      const decoder_forward& f,
                                      const std::vector<vector>& gates)
{
    expect_sequence(where, s, m, tokens, target, gates);
    const std::size_t n = tokens.size();
    if (f.x.size() != s.layers + 1 || f.layer.size() != s.layers) {
        throw std::invalid_argument(where + ": the forward pass has "
                                    + std::to_string(f.layer.size())
                                    + " layers, the model "
                                    + std::to_string(s.layers));
    }
    for (const auto& x : f.x) {
        expect_shape(where, "X^(l)", x, {n, s.d_model}, "(n, d_model)");
    }
    expect_shape(where, "p", f.p, {n, s.vocab}, "(n, |V|)");
}

// The first line of Eq. (7.5): the gradient of the mean cross-entropy with
// respect to the logits, (P_i - e_{t_{i+1}}) / |S| on the rows with a
// target, 0 on the others.
inline matrix cross_entropy_backward(const matrix& p,
                                     const std::vector<int>& target,
                                     std::size_t scored)
{
    matrix dL_dlogits = p;                                     // (n, |V|)
    for (std::size_t i = 0; i < target.size(); ++i) {
        if (target[i] < 0) {
            xt::row(dL_dlogits, i) = 0.0;
        } else {
            dL_dlogits(i, std::size_t(target[i])) -= 1.0;
        }
    }
    dL_dlogits /= double(std::max<std::size_t>(scored, 1));
    return dL_dlogits;
}

// The last line of Eq. (7.5): X^(0) = W_E[t_i] + W_P[i], so row i of
// dL/dX^(0) goes back to token t_i's row of W_E and, when the positions
// are learned, to row i of W_P (the other rows of W_P get 0).
inline void add_embedding_gradients(const decoder_model& m,
                                    const std::vector<std::size_t>& tokens,
                                    const matrix& dL_dx0, bool learned,
                                    decoder_gradients& g)
{
    g.dL_dw_e = xt::zeros_like(m.w_e);                         // (|V|, d)
    g.dL_dw_p = xt::zeros_like(m.w_p);                         // (n_max, d)
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        xt::row(g.dL_dw_e, tokens[i]) += xt::row(dL_dx0, i);
        if (learned) {
            xt::row(g.dL_dw_p, i) = xt::row(dL_dx0, i);
        }
    }
}

}  // namespace detail

// [ch07-decoder-backward]
/// \brief Gradients of the loss of `decoder_model_forward` with respect to
///        every weight, chapter 5's layer backward called once per layer.
/// \param s      the sizes
/// \param m      the model
/// \param tokens t `(n,)`
/// \param target the targets `(n,)`
/// \param f      the forward pass of `m` on this sequence with `gates`
/// \param gates  the gates the forward pass used (empty: every head on)
/// \return the gradients
/// \throws std::invalid_argument if `f` is not a forward pass of `m`
inline decoder_gradients decoder_model_backward(
    const decoder_sizes& s, const decoder_model& m,
    const std::vector<std::size_t>& tokens, const std::vector<int>& target,
    const decoder_forward& f, const std::vector<vector>& gates = {})
{
    detail::expect_decoder_forward_of("decoder_model_backward", s, m, tokens,
                                      target, f, gates);
    // Cross-entropy through the softmax: (P - onehot(target)) / |S|.
    const matrix dL_dlogits =
        detail::cross_entropy_backward(f.p, target, f.scored); // (n, |V|)
    decoder_gradients g;
    g.dL_dw_u = xt::linalg::dot(xt::transpose(f.x.back()), dL_dlogits);
    matrix dL_dx = xt::linalg::dot(dL_dlogits, xt::transpose(m.w_u));
    g.layers.resize(m.layers.size());
    for (std::size_t l = m.layers.size(); l-- > 0;) {
        // X^(l+1) = X^(l) + MHA_l(X^(l)): the stream passes dL/dX^(l+1)
        // on unchanged, and the layer adds its own path to X^(l).
        g.layers[l] = multi_head_attention_backward(
            f.x[l], f.x[l], m.layers[l], s.heads, f.layer[l], dL_dx,
            gates.empty() ? vector{} : gates[l]);
        dL_dx += g.layers[l].dL_dx_q + g.layers[l].dL_dx_kv;  // (n, d)
    }
    // X^(0) = W_E[t_i] + W_P[i]: each row goes back to its token and position.
    detail::add_embedding_gradients(m, tokens, dL_dx, true, g);
    return g;
}
// [ch07-decoder-backward]

}  // namespace attn

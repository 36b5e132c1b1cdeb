// Chapter 7's decoder model with four ways of telling it where a token is:
// learned absolute positions (chapter 7's W_P), sinusoidal encodings added
// to the input (chapter 2's PE, nothing learned), RoPE on queries and keys
// (Eq. 8.1, no W_P) and ALiBi's bias on the scores (Eq. 8.5, no W_P).
// Its layers are chapter 8's grouped-query attention with G = H; its
// backward pass is chapter 5's, step for step, with one step added: the
// gradient of a rotated query or key turns back through the transposed
// rotation, Eq. (8.15). ALiBi's bias is a constant, so nothing is added
// for it. Training and the loss on fresh and repeated positions reuse
// chapter 7's helpers.
//
// Glossary (tokens are rows, d = d_model, H heads of width d_k = d / H):
//   kind         learned, sinusoidal, rope or alibi
//   X^(0)        the input of layer 0, Eq. (8.14)                  // (n, d)
//   R_i          RoPE's rotation at position i, Eq. (8.1)       // (d_k, d_k)
//   q~_i, k~_i   the rotated query and key rows, q_i R_i^T, k_i R_i^T
//   dL_dq_rot    dL/dq~, the gradient of the rotated queries      // (n, d)
//   dL_d<symbol> dL/d<symbol>, the same shape as <symbol>
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/softmax.hpp"
#include "attention/masking.hpp"
#include "attention/positional.hpp"
#include "attention/rotary.hpp"
#include "attention/grouped_query.hpp"
#include "attention/multi_head_backward.hpp"
#include "attention/decoder_model.hpp"
#include "attention/decoder_training.hpp"

/// \file
/// \brief Chapter 7's decoder with learned, sinusoidal, rotary or ALiBi
///        positions, its backward pass and its training (\ref ch08_modern).

namespace attn {

/// \brief How the model learns where a token is.
enum class position_kind { learned, sinusoidal, rope, alibi };

/// \brief The name of a position scheme, as the tables print it.
/// \param kind the scheme
/// \return "learned", "sinusoidal", "RoPE" or "ALiBi"
inline std::string position_name(position_kind kind)
{
    switch (kind) {
    case position_kind::learned: return "learned";
    case position_kind::sinusoidal: return "sinusoidal";
    case position_kind::rope: return "RoPE";
    case position_kind::alibi: return "ALiBi";
    }
    return "?";
}

/// \brief The layer's position scheme (chapter 8's `position_scheme`):
///        RoPE or ALiBi inside attention, nothing for the other two.
/// \param kind the scheme
/// \return the flags of `grouped_query_attention`
inline position_scheme attention_positions(position_kind kind)
{
    position_scheme pos;
    pos.rope = kind == position_kind::rope;
    pos.alibi = kind == position_kind::alibi;
    return pos;
}

/// \brief Rotates each row of `x` back: row r times `R_i` at position
///        i = `p0 + r`, which undoes RoPE's `q_i R_i^T` (Eq. 8.1), pair by
///        pair in the paper's layout, every head block of width `d_k`.
/// \param x   rotated queries or keys of all heads `(n, H d_k)`
/// \param d_k the head width, even
/// \param p0  the position of the first row
/// \return `(n, H d_k)`
/// \throws std::invalid_argument if d_k is odd or does not divide the width
inline matrix rope_heads_transpose(const matrix& x, std::size_t d_k,
                                   std::size_t p0 = 0)
{
    detail::expect_even_width("rope_heads_transpose", d_k);
    if (x.shape()[1] % d_k != 0) {
        throw std::invalid_argument(
            "rope_heads_transpose: the head width " + std::to_string(d_k)
            + " must divide the width " + std::to_string(x.shape()[1]));
    }
    matrix y = x;
    for (std::size_t c = 0; c < x.shape()[1]; c += 2) {
        const std::size_t f = (c % d_k) / 2;
        const double omega = std::pow(10000.0, -2.0 * double(f) / double(d_k));
        for (std::size_t r = 0; r < x.shape()[0]; ++r) {
            // Turning back by -i omega_f: the sine changes sign.
            const double angle = double(p0 + r) * omega;
            const double co = std::cos(angle), si = std::sin(angle);
            y(r, c) = x(r, c) * co + x(r, c + 1) * si;
            y(r, c + 1) = -x(r, c) * si + x(r, c + 1) * co;
        }
    }
    return y;
}

// [ch08-position-input]
/// \brief The input of layer 0, Eq. (8.14): the token's embedding, plus
///        its learned position (W_P) or its sinusoidal encoding (Eq.
///        2.9); RoPE and ALiBi add nothing here.
/// \param kind   the scheme
/// \param m      the model (W_E, and W_P when learned)
/// \param tokens t `(n,)`, below |V|; n <= n_max when learned
/// \return X^(0) `(n, d)`
inline matrix position_input(position_kind kind, const decoder_model& m,
                             const std::vector<std::size_t>& tokens)
{
    const std::size_t n = tokens.size(), d = m.w_e.shape()[1];
    matrix x0 = xt::zeros<double>({n, d});                    // (n, d)
    if (kind == position_kind::learned) {
        x0 = xt::view(m.w_p, xt::range(0, n), xt::all());
    } else if (kind == position_kind::sinusoidal) {
        x0 = sinusoidal_positional_encoding(n, d);
    }
    for (std::size_t i = 0; i < n; ++i) {
        xt::row(x0, i) += xt::row(m.w_e, tokens[i]);
    }
    return x0;
}
// [ch08-position-input]

/// \brief What the forward pass computes on one sequence.
struct position_forward {
    std::vector<matrix> x;                    ///< X^(0) .. X^(D) `(n, d)`
    std::vector<grouped_query_result> layer;  ///< each layer's result
    matrix p;                                 ///< `(n, |V|)`
    double loss = 0.0;                        ///< mean cross-entropy
    std::size_t scored = 0;                   ///< positions with a target
};

namespace detail {

inline grouped_query_weights as_grouped(const multi_head_weights& w)
{
    return {w.w_q, w.w_k, w.w_v, w.w_o, w.b_o};
}

// The sequence must fit: learned positions have n_max rows, no more.
inline void expect_position_sequence(const std::string& where,
                                     position_kind kind,
                                     const decoder_sizes& s,
                                     const decoder_model& m,
                                     const std::vector<std::size_t>& tokens,
                                     const std::vector<int>& target)
{
    decoder_sizes any_length = s;
    if (kind != position_kind::learned) {
        any_length.n_max = std::max(s.n_max, tokens.size());
        decoder_model copy = m;
        copy.w_p = xt::zeros<double>({any_length.n_max, s.d_model});
        expect_sequence(where, any_length, copy, tokens, target, {});
    } else {
        expect_sequence(where, s, m, tokens, target, {});
    }
}

}  // namespace detail

/// \brief The model on one sequence with positions of kind `kind`: Eq.
///        (8.14), then D residual causal layers, unembedding, mean
///        cross-entropy (chapter 7's forward pass otherwise).
/// \param kind   the scheme
/// \param s      the sizes (n_max bounds n only when learned)
/// \param m      the model
/// \param tokens t `(n,)`
/// \param target the next token at each position, -1 for none `(n,)`
/// \return the streams, each layer's result, p and the loss
/// \throws std::invalid_argument if the sequence does not fit the model
inline position_forward position_model_forward(
    position_kind kind, const decoder_sizes& s, const decoder_model& m,
    const std::vector<std::size_t>& tokens, const std::vector<int>& target)
{
    detail::expect_position_sequence("position_model_forward", kind, s, m,
                                     tokens, target);
    const std::size_t n = tokens.size();
    position_forward f;
    f.x.push_back(position_input(kind, m, tokens));
    const mask_matrix mask = causal_mask(n, n);
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        f.layer.push_back(grouped_query_attention(
            f.x[l], f.x[l], detail::as_grouped(m.layers[l]), s.heads,
            s.heads, mask, attention_positions(kind)));
        f.x.push_back(f.x[l] + f.layer[l].y);                  // (n, d)
    }
    f.p = softmax_rows(xt::linalg::dot(f.x.back(), m.w_u));    // (n, |V|)
    for (std::size_t i = 0; i < n; ++i) {
        if (target[i] >= 0) {
            f.loss -= std::log(f.p(i, std::size_t(target[i])));
            f.scored += 1;
        }
    }
    f.loss /= double(std::max<std::size_t>(f.scored, 1));
    return f;
}

/// \brief The backward pass of one self-attention layer with RoPE or
///        ALiBi: chapter 5's steps (Eqs. 5.3 to 5.7) on the rotated
///        queries and keys, then back through the rotation, Eq. (8.15).
/// \param x     the layer's input `(n, d)`
/// \param w     its weights
/// \param heads H
/// \param r     its forward pass on x
/// \param dL_dy gradient of the loss with respect to its output `(n, d)`
/// \param pos   the scheme the forward pass used
/// \return the gradients (no gates: dL_dxi is empty; dL_dx_kv holds the
///         whole input gradient, dL_dx_q zeros)
// [ch08-position-layer-backward]
inline multi_head_gradients position_attention_backward(
    const matrix& x, const multi_head_weights& w, std::size_t heads,
    const grouped_query_result& r, const matrix& dL_dy,
    const position_scheme& pos)
{
    const std::size_t n = x.shape()[0], d_k = x.shape()[1] / heads;
    const double scale = 1.0 / std::sqrt(double(d_k));
    multi_head_gradients g;
    g.dL_dw.w_o = xt::linalg::dot(xt::transpose(r.y_cat), dL_dy); // (5.3)
    g.dL_dw.b_o = xt::sum(dL_dy, {0});
    const matrix dL_dycat = xt::linalg::dot(dL_dy, xt::transpose(w.w_o));
    matrix dL_dq = xt::zeros_like(r.q), dL_dk = xt::zeros_like(r.k);
    matrix dL_dv = xt::zeros_like(r.v);                        // (n, d)
    for (std::size_t h = 0; h < heads; ++h) {
        const matrix a_h = xt::view(r.a, h, xt::all(), xt::all());
        const matrix q_h = head_view(r.q, h, d_k);             // (n, d_k)
        const matrix k_h = head_view(r.k, h, d_k);             // rotated
        const matrix v_h = head_view(r.v, h, d_k);
        const matrix dL_dy_h = head_view(dL_dycat, h, d_k);
        const matrix dL_da = xt::linalg::dot(dL_dy_h, xt::transpose(v_h));
        head_view(dL_dv, h, d_k) = xt::linalg::dot(xt::transpose(a_h), dL_dy_h);
        // ALiBi's bias and the mask are constants: dL/dS passes unchanged.
        const matrix dL_ds = softmax_rows_backward(a_h, dL_da); // (5.5)
        head_view(dL_dq, h, d_k) = scale * xt::linalg::dot(dL_ds, k_h);
        head_view(dL_dk, h, d_k) =
            scale * xt::linalg::dot(xt::transpose(dL_ds), q_h); // (5.6)
    }
    if (pos.rope) {  // Eq. (8.15): dL/dq_i = (dL/dq~_i) R_i, keys alike
        dL_dq = rope_heads_transpose(dL_dq, d_k);
        dL_dk = rope_heads_transpose(dL_dk, d_k);
    }
    g.dL_dw.w_q = xt::linalg::dot(xt::transpose(x), dL_dq);   // (5.7)
    g.dL_dw.w_k = xt::linalg::dot(xt::transpose(x), dL_dk);
    g.dL_dw.w_v = xt::linalg::dot(xt::transpose(x), dL_dv);
    g.dL_dx_kv = xt::linalg::dot(dL_dq, xt::transpose(w.w_q))
                 + xt::linalg::dot(dL_dk, xt::transpose(w.w_k))
                 + xt::linalg::dot(dL_dv, xt::transpose(w.w_v)); // (n, d)
    g.dL_dx_q = xt::zeros<double>({n, x.shape()[1]});
    return g;
}
// [ch08-position-layer-backward]

/// \brief Gradients of the loss of `position_model_forward` with respect
///        to every weight (dL_dW_P is zero unless the positions are
///        learned).
/// \param kind   the scheme
/// \param s      the sizes
/// \param m      the model
/// \param tokens t `(n,)`
/// \param target the targets `(n,)`
/// \param f      the forward pass of `m` on this sequence
/// \return the gradients, in chapter 7's layout
inline decoder_gradients position_model_backward(
    position_kind kind, const decoder_sizes& s, const decoder_model& m,
    const std::vector<std::size_t>& tokens, const std::vector<int>& target,
    const position_forward& f)
{
    detail::expect_position_sequence("position_model_backward", kind, s, m,
                                     tokens, target);
    const std::size_t n = tokens.size();
    if (f.x.size() != s.layers + 1 || f.p.shape()[0] != n) {
        throw std::invalid_argument("position_model_backward: the forward "
                                    "pass is not of this sequence and model");
    }
    const matrix dL_dlogits =
        detail::cross_entropy_backward(f.p, target, f.scored); // (n, |V|)
    decoder_gradients g;
    g.dL_dw_u = xt::linalg::dot(xt::transpose(f.x.back()), dL_dlogits);
    matrix dL_dx = xt::linalg::dot(dL_dlogits, xt::transpose(m.w_u));
    g.layers.resize(m.layers.size());
    for (std::size_t l = m.layers.size(); l-- > 0;) {
        g.layers[l] = position_attention_backward(
            f.x[l], m.layers[l], s.heads, f.layer[l], dL_dx,
            attention_positions(kind));
        dL_dx += g.layers[l].dL_dx_kv;                         // (n, d)
    }
    detail::add_embedding_gradients(m, tokens, dL_dx,
                                    kind == position_kind::learned, g);
    return g;
}

/// \brief Trains a model with positions of kind `kind` as chapter 7's
///        `train_decoder_model` does (same initial weights, sequences,
///        batches and Adam); W_P is initialised but stays unused and
///        unchanged unless the positions are learned.
/// \param kind    the scheme
/// \param s       the sizes
/// \param task    the task (its n is the training length)
/// \param options steps, batch, step size, seed
/// \return the trained model
inline decoder_model train_position_model(
    position_kind kind, const decoder_sizes& s, const induction_task& task,
    const decoder_training_options& options)
{
    detail::expect_decoder_training("train_position_model", s, task,
                                    options);
    decoder_model m = init_decoder_model(s, options.seed);
    decoder_adam opt{zeros_like(m), zeros_like(m), {}};
    opt.s.lr = options.lr;
    for (std::size_t step = 1; step <= options.steps; ++step) {
        decoder_gradients sum;
        for (std::size_t b = 0; b < options.batch; ++b) {
            const auto e = repeat_example(task, options.seed, 0,
                                          step * options.batch + b);
            const auto f = position_model_forward(kind, s, m, e.tokens,
                                                  e.target);
            detail::add_gradients(sum, position_model_backward(
                                           kind, s, m, e.tokens, e.target, f),
                                  b);
        }
        detail::scale_gradients(sum, 1.0 / double(options.batch));
        adam_step(m, sum, opt);
    }
    return m;
}

/// \brief Losses on fresh and repeated positions of held-out sequences,
///        which may be longer than the training length unless the
///        positions are learned.
/// \param kind     the scheme
/// \param s        the sizes
/// \param m        the model
/// \param examples the sequences
/// \return the two mean losses
inline repeat_losses evaluate_position_losses(
    position_kind kind, const decoder_sizes& s, const decoder_model& m,
    const std::vector<induction_example>& examples)
{
    detail::repeat_tally tally;
    for (const auto& e : examples) {
        const auto f = position_model_forward(kind, s, m, e.tokens, e.target);
        decoder_forward as_ch07;
        as_ch07.p = f.p;
        tally.add(as_ch07, e);
    }
    return tally.take();
}

}  // namespace attn

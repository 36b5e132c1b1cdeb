// The backward pass of multi-head attention: given the gradient of a loss
// with respect to the layer's output, the gradients with respect to every
// weight, every head gate and both inputs. Each step inverts one step of the
// forward pass of chapter 3, read from the bottom up.
//
// Glossary (tokens are rows, d = d_model; head h owns columns
// [h d_k, (h+1) d_k), d_k = d / H):
//   x_q, x_kv       inputs of the queries and of the keys/values
//                                                  // (n_q, d), (n_k, d)
//   q, k, v         projections x_q W_q, x_kv W_k, x_kv W_v
//   s^h, a^h        scores and weights of head h   // (n_q, n_k)
//   y^h             head output a^h v^h            // (n_q, d_k)
//   xi_h            gate of head h (1 = on, 0 = off)
//   heads           [xi_1 y^1, ..., xi_H y^H]      // (n_q, d)
//   y~              heads W_o + b_o, the output    // (n_q, d)
//   dL_d<symbol>    dL/d<symbol>, the same shape as <symbol>; so d_k,
//                   d_model are always widths, never gradients
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/softmax.hpp"
#include "attention/multi_head.hpp"

/// \file
/// \brief Backward pass of multi-head attention, with head-gate gradients
///        (\ref ch05_heads).

namespace attn {

/// \brief The gradients of a loss with respect to everything a multi-head
///        attention layer depends on.
struct multi_head_gradients {
    multi_head_weights dL_dw;  ///< `dL/dW_q`, `dL/dW_k`, `dL/dW_v`,
                               ///< `dL/dW_o` `(d, d)` and `dL/db_o` `(d,)`
    vector dL_dxi;             ///< `dL/dxi_h`, one per head gate `(H,)`
    matrix dL_dx_q;            ///< `dL/dx_q` `(n_q, d)`
    matrix dL_dx_kv;           ///< `dL/dx_kv` `(n_k, d)`
};

/// \brief The backward pass of `multi_head_attention`, Eqs.
///        \ref eq_grad_output_projection "(5.3)" to
///        \ref eq_grad_projections "(5.7)".
///
/// For self-attention (`x_q` and `x_kv` the same matrix) the gradient with
/// respect to the input is `dL_dx_q + dL_dx_kv`.
/// \param x_q   queries' inputs `(n_q, d)`
/// \param x_kv  keys' and values' inputs `(n_k, d)`
/// \param w     the layer's weights
/// \param heads number of heads H (divides d)
/// \param r     the forward pass's result for these inputs and gates
/// \param dL_dy gradient of the loss with respect to the output `y~`
///              `(n_q, d)`
/// \param gates the gates the forward pass used `(H,)`; empty means ones
/// \return the gradients
/// \throws std::invalid_argument on inconsistent shapes
inline multi_head_gradients multi_head_attention_backward(
    const matrix& x_q, const matrix& x_kv, const multi_head_weights& w,
    std::size_t heads, const multi_head_result& r, const matrix& dL_dy,
    const vector& gates = {})
{
    const std::string where = "multi_head_attention_backward";
    expect_nonempty(where, "x_q", x_q);
    expect_nonempty(where, "x_kv", x_kv);
    const std::size_t n_q = x_q.shape()[0], n_k = x_kv.shape()[0];
    const std::size_t d = x_q.shape()[1];
    if (heads == 0 || d % heads != 0) {
        throw std::invalid_argument(where + ": heads must divide d_model = "
                                    + std::to_string(d) + ", got "
                                    + std::to_string(heads));
    }
    const std::size_t d_k = d / heads;
    expect_shape(where, "x_kv", x_kv, {n_k, d}, "(n_k, d_model)");
    expect_shape(where, "W_q", w.w_q, {d, d}, "(d_model, d_model)");
    expect_shape(where, "W_k", w.w_k, {d, d}, "(d_model, d_model)");
    expect_shape(where, "W_v", w.w_v, {d, d}, "(d_model, d_model)");
    expect_shape(where, "W_o", w.w_o, {d, d}, "(d_model, d_model)");
    expect_shape(where, "a", r.a, {heads, n_q, n_k}, "(H, n_q, n_k)");
    expect_shape(where, "q", r.q, {n_q, d}, "(n_q, d_model)");
    expect_shape(where, "k", r.k, {n_k, d}, "(n_k, d_model)");
    expect_shape(where, "v", r.v, {n_k, d}, "(n_k, d_model)");
    expect_shape(where, "heads", r.heads, {n_q, d}, "(n_q, d_model)");
    expect_shape(where, "dL_dy", dL_dy, {n_q, d}, "(n_q, d_model)");
    vector xi = gates.size() ? gates : vector(xt::ones<double>({heads}));
    expect_shape(where, "gates", xi, {heads}, "(H,)");
    multi_head_gradients g;

    // [ch05-grad-output-projection]
    // Output projection y~ = Y W_o + b_o, Eq. (5.3); Y = r.heads holds the
    // gated head outputs xi_h Y^h side by side.
    g.dL_dw.w_o = xt::linalg::dot(xt::transpose(r.heads), dL_dy); // (d, d)
    g.dL_dw.b_o = xt::sum(dL_dy, {0});                         // (d,)
    const matrix dL_dheads =
        xt::linalg::dot(dL_dy, xt::transpose(w.w_o));          // (n_q, d)
    // [ch05-grad-output-projection]

    // [ch05-grad-heads]
    g.dL_dxi = xt::zeros<double>({heads});                     // (H,)
    matrix dL_dq = xt::zeros<double>({n_q, d});                // (n_q, d)
    matrix dL_dk = xt::zeros<double>({n_k, d});                // (n_k, d)
    matrix dL_dv = xt::zeros<double>({n_k, d});                // (n_k, d)
    const double scale = 1.0 / std::sqrt(double(d_k));
    for (std::size_t h = 0; h < heads; ++h) {
        const matrix a_h = xt::view(r.a, h, xt::all(), xt::all());
        const matrix q_h = head_view(r.q, h, d_k);             // (n_q, d_k)
        const matrix k_h = head_view(r.k, h, d_k);             // (n_k, d_k)
        const matrix v_h = head_view(r.v, h, d_k);             // (n_k, d_k)
        const matrix dL_dheads_h = head_view(dL_dheads, h, d_k);
        // Gate and head output, Eq. (5.4): Y^h = A^h V^h ungated.
        const matrix y_h = xt::linalg::dot(a_h, v_h);          // (n_q, d_k)
        g.dL_dxi(h) = xt::sum(y_h * dL_dheads_h)();
        const matrix dL_dy_h = xi(h) * dL_dheads_h;            // (n_q, d_k)
        // Weights and values, Eq. (5.4).
        const matrix dL_da = xt::linalg::dot(dL_dy_h, xt::transpose(v_h));
        head_view(dL_dv, h, d_k) =
            xt::linalg::dot(xt::transpose(a_h), dL_dy_h);      // (n_k, d_k)
        // Through the softmax, Eq. (5.5).
        const matrix dL_ds = softmax_rows_backward(a_h, dL_da); // (n_q, n_k)
        // Scores s^h = q^h k^h^T / sqrt(d_k), Eq. (5.6).
        head_view(dL_dq, h, d_k) =
            scale * xt::linalg::dot(dL_ds, k_h);               // (n_q, d_k)
        head_view(dL_dk, h, d_k) =
            scale * xt::linalg::dot(xt::transpose(dL_ds), q_h); // (n_k, d_k)
    }
    // [ch05-grad-heads]

    // [ch05-grad-projections]
    // Projections q = x_q W_q, k = x_kv W_k, v = x_kv W_v, Eq. (5.7).
    g.dL_dw.w_q = xt::linalg::dot(xt::transpose(x_q), dL_dq);  // (d, d)
    g.dL_dw.w_k = xt::linalg::dot(xt::transpose(x_kv), dL_dk); // (d, d)
    g.dL_dw.w_v = xt::linalg::dot(xt::transpose(x_kv), dL_dv); // (d, d)
    g.dL_dx_q = xt::linalg::dot(dL_dq, xt::transpose(w.w_q));  // (n_q, d)
    g.dL_dx_kv = xt::linalg::dot(dL_dk, xt::transpose(w.w_k))
                 + xt::linalg::dot(dL_dv, xt::transpose(w.w_v)); // (n_k, d)
    // [ch05-grad-projections]
    return g;
}

}  // namespace attn

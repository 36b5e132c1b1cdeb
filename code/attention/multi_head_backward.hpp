// The backward pass of multi-head attention: given the gradient of a loss
// with respect to the layer's output, the gradients with respect to every
// weight, every head gate and both inputs. Each step inverts one step of the
// forward pass of chapter 3, read from the bottom up.
//
// Glossary (tokens are rows; head h owns columns [h d_k, (h+1) d_k), and
// the code calls the width d_k of a head d_head, for d_k is dL/dk):
//   x_q, x_kv       inputs of the queries and of the keys/values
//                                                  // (n_q, d), (n_k, d)
//   q, k, v         projections x_q W_q, x_kv W_k, x_kv W_v
//   s^h, a^h        scores and weights of head h   // (n_q, n_k)
//   y^h             head output a^h v^h            // (n_q, d_k)
//   xi_h            gate of head h (1 = on, 0 = off)
//   heads           [xi_1 y^1, ..., xi_H y^H]      // (n_q, d)
//   y~              heads W_o + b_o, the output    // (n_q, d)
//   d_<symbol>      dL/d<symbol>, the same shape as <symbol>
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/multi_head.hpp"

/// \file
/// \brief Backward pass of multi-head attention, with head-gate gradients
///        (\ref ch05_heads).

namespace attn {

namespace detail {

inline void expect_softmax_backward_shapes(const std::string& where,
                                           const matrix& a, const matrix& d_a)
{
    expect_shape(where, "d_a", d_a, {a.shape()[0], a.shape()[1]},
                 "(n_q, n_k) of a");
}

}  // namespace detail

// [ch05-softmax-backward]
/// \brief Gradient through the row softmax, Eq. \ref eq_grad_softmax
///        "(5.5)": `d_s = a * (d_a - rowsum(a * d_a))`.
///
/// A masked entry has `a = 0`, so its gradient is exactly 0; a fully masked
/// row (all zero) gets an all-zero gradient.
/// \param a   weights from the forward pass `(n_q, n_k)`
/// \param d_a gradient of the loss with respect to `a` `(n_q, n_k)`
/// \return gradient with respect to the scores `(n_q, n_k)`
/// \throws std::invalid_argument if the shapes differ
inline matrix softmax_rows_backward(const matrix& a, const matrix& d_a)
{
    detail::expect_softmax_backward_shapes("softmax_rows_backward", a, d_a);
    // The row sums are stored before they are broadcast (xtensor 0.24.3).
    matrix r = xt::sum(a * d_a, {1}, xt::keep_dims);          // (n_q, 1)
    return a * (d_a - r);                                      // (n_q, n_k)
}
// [ch05-softmax-backward]

// [ch05-softmax-backward-reference]
/// \brief The same gradient with the full softmax Jacobian of each row,
///        `J_jl = a_j (delta_jl - a_l)`, as literal loops.
/// \param a   weights `(n_q, n_k)`
/// \param d_a gradient with respect to `a` `(n_q, n_k)`
/// \return `d_s` with `d_s[i, l] = sum_j d_a[i, j] J_jl` `(n_q, n_k)`
/// \throws std::invalid_argument if the shapes differ
inline matrix softmax_rows_backward_reference(const matrix& a,
                                              const matrix& d_a)
{
    detail::expect_softmax_backward_shapes("softmax_rows_backward_reference",
                                           a, d_a);
    const std::size_t n_q = a.shape()[0], n_k = a.shape()[1];
    matrix d_s = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t l = 0; l < n_k; ++l) {
            for (std::size_t j = 0; j < n_k; ++j) {
                const double jacobian = a(i, j) * ((j == l ? 1.0 : 0.0)
                                                   - a(i, l));
                d_s(i, l) += d_a(i, j) * jacobian;
            }
        }
    }
    return d_s;
}
// [ch05-softmax-backward-reference]

/// \brief The gradients of a loss with respect to everything a multi-head
///        attention layer depends on.
struct multi_head_gradients {
    multi_head_weights d_w;  ///< `dL/dW_q`, `dL/dW_k`, `dL/dW_v`,
                             ///< `dL/dW_o` `(d, d)` and `dL/db_o` `(d,)`
    vector d_gates;          ///< `dL/dxi_h` `(H,)`
    matrix d_x_q;            ///< `dL/dx_q` `(n_q, d)`
    matrix d_x_kv;           ///< `dL/dx_kv` `(n_k, d)`
};

/// \brief The backward pass of `multi_head_attention`, Eqs.
///        \ref eq_grad_output_projection "(5.3)" to
///        \ref eq_grad_projections "(5.7)".
///
/// For self-attention (`x_q` and `x_kv` the same matrix) the gradient with
/// respect to the input is `d_x_q + d_x_kv`.
/// \param x_q   queries' inputs `(n_q, d)`
/// \param x_kv  keys' and values' inputs `(n_k, d)`
/// \param w     the layer's weights
/// \param heads number of heads H (divides d)
/// \param r     the forward pass's result for these inputs and gates
/// \param d_y   gradient of the loss with respect to the output `y~`
///              `(n_q, d)`
/// \param gates the gates the forward pass used `(H,)`; empty means ones
/// \return the gradients
/// \throws std::invalid_argument on inconsistent shapes
inline multi_head_gradients multi_head_attention_backward(
    const matrix& x_q, const matrix& x_kv, const multi_head_weights& w,
    std::size_t heads, const multi_head_result& r, const matrix& d_y,
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
    const std::size_t d_head = d / heads;
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
    expect_shape(where, "d_y", d_y, {n_q, d}, "(n_q, d_model)");
    vector xi = gates.size() ? gates : vector(xt::ones<double>({heads}));
    expect_shape(where, "gates", xi, {heads}, "(H,)");
    multi_head_gradients g;

    // [ch05-grad-output-projection]
    // Output projection y~ = Y W_o + b_o, Eq. (5.3); Y = r.heads holds the
    // gated head outputs xi_h Y^h side by side.
    g.d_w.w_o = xt::linalg::dot(xt::transpose(r.heads), d_y);  // (d, d)
    g.d_w.b_o = xt::sum(d_y, {0});                             // (d,)
    matrix d_heads = xt::linalg::dot(d_y, xt::transpose(w.w_o)); // (n_q, d)
    // [ch05-grad-output-projection]

    // [ch05-grad-heads]
    g.d_gates = xt::zeros<double>({heads});                    // (H,)
    matrix d_q = xt::zeros<double>({n_q, d});                  // (n_q, d)
    matrix d_k = xt::zeros<double>({n_k, d});                  // (n_k, d)
    matrix d_v = xt::zeros<double>({n_k, d});                  // (n_k, d)
    const double scale = 1.0 / std::sqrt(double(d_head));
    for (std::size_t h = 0; h < heads; ++h) {
        const matrix a_h = xt::view(r.a, h, xt::all(), xt::all());
        const matrix q_h = head_view(r.q, h, d_head);        // (n_q, d_k)
        const matrix k_h = head_view(r.k, h, d_head);        // (n_k, d_k)
        const matrix v_h = head_view(r.v, h, d_head);        // (n_k, d_k)
        const matrix d_heads_h = head_view(d_heads, h, d_head);
        // Gate and head output, Eq. (5.4): Y^h = A^h V^h ungated.
        const matrix y_h = xt::linalg::dot(a_h, v_h);          // (n_q, d_k)
        g.d_gates(h) = xt::sum(y_h * d_heads_h)();
        const matrix d_y_h = xi(h) * d_heads_h;                // (n_q, d_k)
        // Weights and values, Eq. (5.4).
        const matrix d_a = xt::linalg::dot(d_y_h, xt::transpose(v_h));
        head_view(d_v, h, d_head) =
            xt::linalg::dot(xt::transpose(a_h), d_y_h);        // (n_k, d_k)
        // Through the softmax, Eq. (5.5).
        const matrix d_s = softmax_rows_backward(a_h, d_a);    // (n_q, n_k)
        // Scores s^h = q^h k^h^T / sqrt(d_k), Eq. (5.6).
        head_view(d_q, h, d_head) =
            scale * xt::linalg::dot(d_s, k_h);                 // (n_q, d_k)
        head_view(d_k, h, d_head) =
            scale * xt::linalg::dot(xt::transpose(d_s), q_h);  // (n_k, d_k)
    }
    // [ch05-grad-heads]

    // [ch05-grad-projections]
    // Projections q = x_q W_q, k = x_kv W_k, v = x_kv W_v, Eq. (5.7).
    g.d_w.w_q = xt::linalg::dot(xt::transpose(x_q), d_q);      // (d, d)
    g.d_w.w_k = xt::linalg::dot(xt::transpose(x_kv), d_k);     // (d, d)
    g.d_w.w_v = xt::linalg::dot(xt::transpose(x_kv), d_v);     // (d, d)
    g.d_x_q = xt::linalg::dot(d_q, xt::transpose(w.w_q));      // (n_q, d)
    g.d_x_kv = xt::linalg::dot(d_k, xt::transpose(w.w_k))
               + xt::linalg::dot(d_v, xt::transpose(w.w_v));   // (n_k, d)
    // [ch05-grad-projections]
    return g;
}

}  // namespace attn

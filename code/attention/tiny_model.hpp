// The tiny attention model of chapter 5: one multi-head self-attention
// layer with a residual connection and a linear read-out, trained from
// scratch on the task of heads_task.hpp. Its forward pass is chapter 3's
// layer, called once; its backward pass is the layer's backward pass of
// multi_head_backward.hpp behind the cross-entropy and the read-out. Also
// the accuracy and loss of a model on a set of sequences.
//
// Glossary (tokens are rows, n = L + 1 positions, d = d_model, H heads):
//   x       fixed input: one-hot token (V + 1) | one-hot position (n) | 0
//                                                            // (n, d)
//   M       strict causal mask, M_ij = [j < i]               // (n, n)
//   y       multi-head attention of x under M                // (n, d)
//   x1      x + y, the residual stream after the layer (X^(1)) // (n, d)
//   W_u     read-out weights                                 // (d, 2V)
//   b_u     read-out bias                                    // (2V,)
//   logits  x1 W_u + b_u (Lambda in the chapter)              // (n, 2V)
//   p       softmax_rows(logits)                             // (n, 2V)
//   L       mean cross-entropy over the scored positions     // scalar
//   xi      head gates                                       // (H,)
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
#include "attention/heads_task.hpp"

/// \file
/// \brief The tiny model of chapter 5, its forward and backward passes, and
///        its accuracy on a set of sequences (\ref ch05_heads).

namespace attn {

/// \brief The model's fixed input: one-hot token, one-hot position, zeros.
/// \param task   the sizes
/// \param tokens the sequence `(n,)`
/// \return x `(n, d)`
/// \throws std::invalid_argument if d is too small or a token is out of
///         range
inline matrix embed_tokens(const heads_task& task,
                           const std::vector<std::size_t>& tokens)
{
    const std::size_t n = tokens.size(), d = task.d_model;
    if (d < task.vocab + 1 + n) {
        throw std::invalid_argument(
            "embed_tokens: d_model must be at least V + 1 + n = "
            + std::to_string(task.vocab + 1 + n) + ", got "
            + std::to_string(d));
    }
    matrix x = xt::zeros<double>({n, d});                      // (n, d)
    for (std::size_t i = 0; i < n; ++i) {
        if (tokens[i] > task.vocab) {
            throw std::invalid_argument("embed_tokens: token "
                                        + std::to_string(tokens[i])
                                        + " out of range");
        }
        x(i, tokens[i]) = 1.0;
        x(i, task.vocab + 1 + i) = 1.0;
    }
    return x;
}

/// \brief The trainable weights of the tiny model.
struct tiny_model {
    multi_head_weights attention;  ///< the attention layer
    matrix w_u;                    ///< read-out `(d, 2V)`
    vector b_u;                    ///< read-out bias `(2V,)`
};

/// \brief A model with weights drawn from N(0, 1/d) and zero biases.
/// \param task the sizes
/// \param seed seed of the random weights
/// \return the model
inline tiny_model init_tiny_model(const heads_task& task, std::uint64_t seed)
{
    detail::expect_task("init_tiny_model", task);
    rng g(seed);
    const std::size_t d = task.d_model;
    const double scale = 1.0 / std::sqrt(double(d));
    tiny_model m;
    m.attention.w_q = normal_matrix(d, d, g, scale);
    m.attention.w_k = normal_matrix(d, d, g, scale);
    m.attention.w_v = normal_matrix(d, d, g, scale);
    m.attention.w_o = normal_matrix(d, d, g, scale);
    m.attention.b_o = xt::zeros<double>({d});
    m.w_u = normal_matrix(d, task.classes(), g, scale);
    m.b_u = xt::zeros<double>({task.classes()});
    return m;
}

/// \brief Throws `std::invalid_argument` unless the model's weights fit the
///        task's sizes.
/// \param task the sizes
/// \param m    the model
inline void expect_tiny_model(const heads_task& task, const tiny_model& m)
{
    const std::size_t d = task.d_model, c = task.classes();
    const std::string where = "expect_tiny_model";
    detail::expect_task(where, task);
    expect_shape(where, "W_q", m.attention.w_q, {d, d}, "(d_model, d_model)");
    expect_shape(where, "W_k", m.attention.w_k, {d, d}, "(d_model, d_model)");
    expect_shape(where, "W_v", m.attention.w_v, {d, d}, "(d_model, d_model)");
    expect_shape(where, "W_o", m.attention.w_o, {d, d}, "(d_model, d_model)");
    expect_shape(where, "b_o", m.attention.b_o, {d}, "(d_model,)");
    expect_shape(where, "W_u", m.w_u, {d, c}, "(d_model, 2V)");
    expect_shape(where, "b_u", m.b_u, {c}, "(2V,)");
}

/// \brief What the forward pass of the tiny model computes on one sequence.
struct tiny_forward {
    matrix x;                  ///< input `(n, d)`
    multi_head_result layer;   ///< the attention layer's result
    matrix x1;                 ///< residual stream x + y, X^(1) `(n, d)`
    matrix logits;             ///< `(n, 2V)`
    matrix p;                  ///< class probabilities `(n, 2V)`
    double loss = 0.0;         ///< mean cross-entropy over scored positions
    std::size_t correct = 0;   ///< scored positions whose argmax is right
    std::size_t scored = 0;    ///< positions with a target
};

namespace detail {

// The model fits the task and the example is one of the task's sequences:
// a target (or -1) for every token, each target a class below 2V.
inline void expect_model_and_example(const std::string& where,
                                     const heads_task& task,
                                     const tiny_model& m,
                                     const heads_example& e)
{
    try {
        expect_tiny_model(task, m);
    } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(where + ": " + error.what());
    }
    if (e.tokens.empty() || e.target.size() != e.tokens.size()) {
        throw std::invalid_argument(
            where + ": expected one target per token, got "
            + std::to_string(e.tokens.size()) + " tokens and "
            + std::to_string(e.target.size()) + " targets");
    }
    for (std::size_t i = 0; i < e.target.size(); ++i) {
        if (e.target[i] < -1 || e.target[i] >= int(task.classes())) {
            throw std::invalid_argument(
                where + ": target " + std::to_string(e.target[i])
                + " at position " + std::to_string(i) + " is not -1 or a "
                "class below 2V = " + std::to_string(task.classes()));
        }
    }
}

}  // namespace detail

namespace detail {

// The mean cross-entropy of Eq. (5.1) over the scored positions of e, how
// many of them the argmax names right, and how many there are.
inline void score_positions(tiny_forward& f, const heads_example& e)
{
    for (std::size_t i = 0; i < e.tokens.size(); ++i) {
        if (e.target[i] < 0) {
            continue;
        }
        const auto t = std::size_t(e.target[i]);
        f.loss -= std::log(f.p(i, t));
        const auto row = xt::row(f.p, i);
        const auto best = std::size_t(std::max_element(row.begin(),
                                                       row.end())
                                      - row.begin());
        f.correct += best == t ? 1 : 0;
        f.scored += 1;
    }
    f.loss /= double(std::max<std::size_t>(f.scored, 1));
}

}  // namespace detail

// [ch05-tiny-forward]
/// \brief The tiny model on one sequence, Eq. \ref eq_tiny_model "(5.1)".
/// \param task  the sizes
/// \param m     the model
/// \param e     the sequence and its targets
/// \param gates head gates xi `(H,)`; empty means all heads on
/// \return everything the backward pass needs, the loss and the hits
inline tiny_forward tiny_model_forward(const heads_task& task,
                                       const tiny_model& m,
                                       const heads_example& e,
                                       const vector& gates = {})
{
    detail::expect_model_and_example("tiny_model_forward", task, m, e);
    tiny_forward f;
    f.x = embed_tokens(task, e.tokens);                        // (n, d)
    const auto mask = causal_mask(e.tokens.size(), e.tokens.size(),
                                  diagonal::excluded); // (n, n)
    f.layer = multi_head_attention(f.x, f.x, m.attention, task.heads, mask,
                                   gates);
    f.x1 = f.x + f.layer.y;                                    // (n, d)
    f.logits = xt::linalg::dot(f.x1, m.w_u) + m.b_u;            // (n, 2V)
    f.p = softmax_rows(f.logits);                              // (n, 2V)
    detail::score_positions(f, e);  // the loss L, the hits, |S|
    return f;
}
// [ch05-tiny-forward]

/// \brief Gradients of the tiny model's loss on one sequence.
struct tiny_gradients {
    multi_head_gradients layer;  ///< of the attention layer, gates, input
    matrix dL_dw_u;              ///< `dL/dW_u` `(d, 2V)`
    vector dL_db_u;              ///< `dL/db_u` `(2V,)`
};

namespace detail {

// f must be the forward pass of this example through this model.
inline void expect_forward_of(const std::string& where,
                              const heads_task& task, const tiny_model& m,
                              const heads_example& e, const tiny_forward& f)
{
    expect_model_and_example(where, task, m, e);
    const std::size_t n = e.tokens.size();
    expect_shape(where, "f.x", f.x, {n, task.d_model}, "(n, d_model)");
    expect_shape(where, "f.x1", f.x1, {n, task.d_model}, "(n, d_model)");
    expect_shape(where, "f.p", f.p, {n, task.classes()}, "(n, 2V)");
}

}  // namespace detail

/// \brief Gradients of the loss of Eq. \ref eq_tiny_model "(5.1)" of model
///        `m` on sequence `e`, whose forward pass with these `gates` is
///        `f`, by Eqs. \ref eq_grad_logits "(5.2)" to
///        \ref eq_grad_projections "(5.7)".
/// \param task  the task the model was built for
/// \param m     the model
/// \param e     one sequence with its targets
/// \param f     the forward pass of `m` on `e` with `gates`
/// \param gates one gate per head (empty: every head open)
/// \return the gradient of the loss with respect to every weight of `m`
/// \throws std::invalid_argument if `f` is not a forward pass of `m` on `e`
// [ch05-tiny-backward]
inline tiny_gradients tiny_model_backward(const heads_task& task,
                                          const tiny_model& m,
                                          const heads_example& e,
                                          const tiny_forward& f,
                                          const vector& gates = {})
{
    detail::expect_forward_of("tiny_model_backward", task, m, e, f);
    // Cross-entropy through the softmax and the read-out, Eq. (5.2).
    matrix dL_dlogits = f.p;                                   // (n, 2V)
    for (std::size_t i = 0; i < e.tokens.size(); ++i) {
        if (e.target[i] < 0) {
            xt::row(dL_dlogits, i) = 0.0;
        } else {
            dL_dlogits(i, std::size_t(e.target[i])) -= 1.0;
        }
    }
    dL_dlogits /= double(std::max<std::size_t>(f.scored, 1));
    tiny_gradients g;
    g.dL_dw_u = xt::linalg::dot(xt::transpose(f.x1),
                                dL_dlogits);                   // (d, 2V)
    g.dL_db_u = xt::sum(dL_dlogits, {0});                      // (2V,)
    // x1 = x + y: the residual passes dL/dx1 to y unchanged.
    const matrix dL_dy = xt::linalg::dot(dL_dlogits, xt::transpose(m.w_u));
    g.layer = multi_head_attention_backward(f.x, f.x, m.attention,
                                            task.heads, f.layer, dL_dy,
                                            gates);
    return g;
}
// [ch05-tiny-backward]

/// \brief A model of zeros shaped like `m`, for Adam's moments.
/// \param m a model
/// \return zeros of the same shapes
inline tiny_model zeros_like(const tiny_model& m)
{
    tiny_model zero;
    zero.attention.w_q = xt::zeros_like(m.attention.w_q);
    zero.attention.w_k = xt::zeros_like(m.attention.w_k);
    zero.attention.w_v = xt::zeros_like(m.attention.w_v);
    zero.attention.w_o = xt::zeros_like(m.attention.w_o);
    zero.attention.b_o = xt::zeros_like(m.attention.b_o);
    zero.w_u = xt::zeros_like(m.w_u);
    zero.b_u = xt::zeros_like(m.b_u);
    return zero;
}

/// \brief Accuracy and mean loss of a model on a set of sequences.
struct evaluation {
    double accuracy = 0.0;  ///< share of scored positions right
    double loss = 0.0;      ///< mean of the sequences' losses
};

/// \brief Evaluates a model, with some heads gated off if asked.
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \param gates    head gates `(H,)`; empty means all on
/// \return accuracy and loss
inline evaluation evaluate_tiny_model(
    const heads_task& task, const tiny_model& m,
    const std::vector<heads_example>& examples, const vector& gates = {})
{
    detail::expect_examples("evaluate_tiny_model", examples);
    evaluation r;
    std::size_t correct = 0, scored = 0;
    for (const auto& e : examples) {
        const auto f = tiny_model_forward(task, m, e, gates);
        correct += f.correct;
        scored += f.scored;
        r.loss += f.loss;
    }
    r.accuracy = double(correct) / double(std::max<std::size_t>(scored, 1));
    r.loss /= double(std::max<std::size_t>(examples.size(), 1));
    return r;
}

}  // namespace attn

// Exercises of chapter 7 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch07
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "attention/decoder_model.hpp"
#include "attention/masking.hpp"
#include "attention/multi_head.hpp"

namespace exercise {

// The gradients of the embedding, Eq. (7.5), last line.
struct embedding_gradients {
    xt::xtensor<double, 2> dL_dw_e;  // dL/dW_E (vocab, d)
    xt::xtensor<double, 2> dL_dw_p;  // dL/dW_P (n_max, d)
};

// Exercise 7.6. X^(0)_i = W_E[t_i] + W_P[i] (Eq. (7.2)). Given the tokens
// t (n,), the gradient dL_dx0 = dL/dX^(0) (n, d), the vocabulary size and
// n_max (the rows of W_P), return dL/dW_E and dL/dW_P: row v of dL/dW_E
// is the sum of the rows i of dL_dx0 whose token t_i is v; row i of
// dL/dW_P is row i of dL_dx0 for i < n, and zero for n <= i < n_max.
// Throw std::invalid_argument if a token is >= vocab, if n > n_max or if
// dL_dx0 does not have one row per token.
inline embedding_gradients embedding_backward(
    const std::vector<std::size_t>& tokens,
    const xt::xtensor<double, 2>& dL_dx0, std::size_t vocab,
    std::size_t n_max)
{
    (void)tokens;
    const std::size_t d = dL_dx0.shape()[1];
    return {xt::zeros<double>({vocab, d}),
            xt::zeros<double>({n_max, d})};  // replace this line
}

// Exercise 7.7. Attention rollout, Eq. (7.9): `layers[l]` holds layer l's
// weights (H, n, n), first layer first. For each layer take the mean over
// its H heads, A-bar (n, n), mix it with the identity,
// A-hat = A-bar / 2 + I / 2, and return the product
// A-hat_{L-1} ... A-hat_1 A-hat_0 (n, n) (the LAST layer on the left).
// Throw std::invalid_argument for an empty list, and if the layers do not
// all have the shape (H, n, n) of the first, with H >= 1.
inline xt::xtensor<double, 2> rollout(
    const std::vector<xt::xtensor<double, 3>>& layers)
{
    if (layers.empty()) {
        return {};
    }
    const std::size_t n = layers[0].shape()[1];
    return xt::zeros<double>({n, n});  // replace this line
}

// Exercise 7.8. The induction score of one head, Eq. (7.6): `a` is its
// weights (n, n) on a sequence of the repeat task whose last r tokens
// repeat the r before them. Return the mean, over the repeated positions
// i = n - r .. n - 2, of a(i, i - r + 1): the weight on the token that
// followed the earlier occurrence of t_i. Throw std::invalid_argument
// unless 2 <= r <= n / 2 and a is square.
inline double induction_score(const xt::xtensor<double, 2>& a, std::size_t r)
{
    (void)a;
    (void)r;
    return -1.0;  // replace this line
}

// Exercise 7.9 (find the bug). decoder_logits computes the logits of
// chapter 7's attention-only decoder on one sequence: the residual
// stream's start X^(0) (Eq. (7.2)), then each layer of m.layers in turn
// under the causal mask (Eq. (7.3)), then the logits X^(D) W_U (Eq. (7.4)).
// m holds W_E (vocab, d), W_P (n_max, d), one chapter 3 layer per depth
// and W_U (d, vocab); heads is H. The result is (n, vocab), n the number
// of tokens. Throw std::invalid_argument if there are no tokens, more
// than n_max, or a token >= vocab (chapter 3's layer itself throws if H
// does not divide d).
// The function below compiles, runs and gives the right logits for a
// model of one layer, but one line is wrong. Find the bug and fix it.
inline xt::xtensor<double, 2> decoder_logits(
    const std::vector<std::size_t>& tokens, const attn::decoder_model& m,
    std::size_t heads)
{
    const std::size_t n = tokens.size(), vocab = m.w_e.shape()[0];
    if (n == 0 || n > m.w_p.shape()[0]) {
        throw std::invalid_argument("decoder_logits: expected 1 to n_max "
                                    "tokens");
    }
    // X^(0)_i = W_E[t_i] + W_P[i], Eq. (7.2)
    xt::xtensor<double, 2> x0 =
        xt::view(m.w_p, xt::range(0, n), xt::all());                 // (n, d)
    for (std::size_t i = 0; i < n; ++i) {
        if (tokens[i] >= vocab) {
            throw std::invalid_argument("decoder_logits: a token >= vocab");
        }
        xt::row(x0, i) += xt::row(m.w_e, tokens[i]);
    }
    // The layers, each reading the stream under the causal mask, Eq. (7.3)
    const attn::mask_matrix mask = attn::causal_mask(n, n);
    xt::xtensor<double, 2> x = x0;
    for (const attn::multi_head_weights& layer : m.layers) {
        const xt::xtensor<double, 2> y =
            attn::multi_head_attention(x, x, layer, heads, mask).y;  // (n, d)
        x = x0 + y;
    }
    return xt::linalg::dot(x, m.w_u);                   // Eq. (7.4), (n, vocab)
}

}  // namespace exercise

// The capstone: a tiny decoder-only language model, built part by part.
// Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh capstone
// The page "Capstone: a tiny language model" of the book says in which
// order to build the parts and how many points each is worth. Each function
// says what it must compute, the shapes, and what to throw. The bodies here
// compile but do not solve anything yet, so every grader fails.
//
// Build it from your own code: the graders compare what you compute with
// the book's library (code/attention), so calling the library from here
// would only compare the library with itself.
//
// The model (tokens are rows; H query heads of width d share G key-value
// heads, G dividing H; no LayerNorm, no MLP, as chapter 7's model):
//   x^(0)    row i is W_E[t_i], the embedding of token t_i  // (n, d_model)
//   x^(l+1)  x^(l) + layer_l(x^(l))                          // (n, d_model)
//   logits   x^(D) W_U                                        // (n, V)
// where layer_l is causal grouped-query self-attention with rotary
// positions: there is no learned position table, RoPE alone tells the
// model where a token is. Positions count from 0.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

namespace capstone {

using matrix = xt::xtensor<double, 2>;
using vector = xt::xtensor<double, 1>;

// Part C.1 (chapters 2 and 8). Rotary positions in the paper's layout:
// row r of x is the token at position p = p0 + r; its pair of columns
// (2f, 2f+1), f = 0 .. d/2 - 1, turns by the angle p * omega_f, with
// omega_f = base^(-2f/d), counter-clockwise (as Eq. 8.1 of chapter 8):
//     (a, b) -> (a cos(angle) - b sin(angle), a sin(angle) + b cos(angle)).
// Shapes: x (n, d), the result (n, d). n = 0 is allowed (return an empty
// (0, d) matrix). Throw std::invalid_argument if d is 0 or odd.
inline matrix rope_rotate(const matrix& x, std::size_t p0,
                          double base = 10000.0)
{
    (void)p0;
    (void)base;
    return x;  // replace this line
}

// Part C.2 (chapters 3, 4 and 8). Causal grouped-query attention on
// queries, keys and values that are already projected (and rotated):
//   q (n_q, H d): query head h is columns [h d, (h+1) d);
//   k, v (n_k, G d): key-value head g is columns [g d, (g+1) d);
//   query head h reads key-value head h / (H / G) (Eq. 8.6).
// Each head: softmax over the keys of the scaled scores q_h k_g^T / sqrt(d)
// under the causal mask, times v_g. The queries are the LAST n_q of the n_k
// positions (query i sits at position n_k - n_q + i and may see the keys
// at positions 0 .. n_k - n_q + i): with n_q = n_k it is the usual lower
// triangle; with n_q = 1 the query sees every key (a decoding step).
// Return the heads' outputs side by side, (n_q, H d), before any output
// projection.
// Throw std::invalid_argument if H or G is 0, G does not divide H, q or k
// has no rows, n_q > n_k, the width of q is not a multiple of H, or k and v
// are not both (n_k, G d) with the d of q.
inline matrix causal_gqa(const matrix& q, const matrix& k, const matrix& v,
                         std::size_t heads, std::size_t groups)
{
    (void)k;
    (void)v;
    (void)heads;
    (void)groups;
    return xt::zeros<double>({q.shape()[0], q.shape()[1]});  // replace
}

// The weights of one attention layer (grouped-query, chapter 8).
struct layer_weights {
    matrix w_q;  // (d_model, H d)
    matrix w_k;  // (d_model, G d)
    matrix w_v;  // (d_model, G d)
    matrix w_o;  // (H d, d_model)
    vector b_o;  // (d_model,)
};

// Part C.3 (chapters 3 and 8). One attention layer on the tokens x at
// positions p0, p0 + 1, ..., p0 + n - 1, every token seeing itself and the
// tokens before it:
//   q = x w_q, k = x w_k, v = x w_v;
//   rotate every head's block of q and of k by its positions (C.1, at the
//   head width d: each head is rotated on its own, the values are not);
//   the heads' outputs by C.2, then times w_o, plus b_o.
// Shapes: x (n, d_model), the result (n, d_model); d = width of w_q / H.
// Throw std::invalid_argument if x has no rows, or a weight does not have
// the shape above, or H, G do not fit (as C.2), or d is odd.
inline matrix attention_layer(const matrix& x, const layer_weights& w,
                              std::size_t heads, std::size_t groups,
                              std::size_t p0 = 0, double base = 10000.0)
{
    (void)w;
    (void)heads;
    (void)groups;
    (void)p0;
    (void)base;
    return xt::zeros<double>({x.shape()[0], x.shape()[1]});  // replace
}

// The model: its sizes and weights.
struct model {
    std::size_t heads = 4;         // H, query heads per layer
    std::size_t groups = 2;        // G, key-value heads per layer
    double rope_base = 10000.0;    // the base of RoPE's angles
    matrix w_e;                    // W_E (V, d_model), row t: token t
    std::vector<layer_weights> layers;  // D layers
    matrix w_u;                    // W_U (d_model, V)
};

// Part C.4 (chapter 7). The full pass: logits of every position at once,
// x^(0) = rows W_E[t_i], then x^(l+1) = x^(l) + attention_layer(x^(l)) for
// every layer (positions from 0), then logits = x^(D) W_U. Row i of the
// logits scores the token that follows token i. Return logits, not
// probabilities.
// Shapes: tokens (n,), the result (n, V).
// Throw std::invalid_argument if tokens is empty, a token is not below V,
// or a weight does not fit (W_U must be (d_model, V)).
inline matrix model_forward(const model& m,
                            const std::vector<std::size_t>& tokens)
{
    return xt::zeros<double>({tokens.size(), m.w_u.shape()[1]});  // replace
}

// One layer's cache of keys and values (chapters 4, 6 and 8): the ROTATED
// keys and the values of every token processed so far, row-major, one row
// of G d numbers per token (only G key-value heads are kept, not H).
struct layer_cache {
    std::size_t length = 0;  // tokens cached, t; the next token is at t
    std::vector<double> k;   // rotated keys (t, G d), row-major
    std::vector<double> v;   // values (t, G d), row-major
};

// Part C.5 (chapters 4, 6 and 8). One layer, n_new new tokens at positions
// t, ..., t + n_new - 1, where t = cache.length:
//   project x_new to q, k, v; rotate q and k at those positions;
//   append the rotated keys and the values to the cache (length grows by
//   n_new); let the new queries attend over everything cached (C.2: they
//   are the last n_new positions); times w_o, plus b_o.
// The result must equal rows t .. t + n_new - 1 of attention_layer on all
// the tokens so far, without recomputing the old tokens' keys and values.
// Shapes: x_new (n_new, d_model), the result (n_new, d_model).
// Throw std::invalid_argument, and leave the cache unchanged, if x_new has
// no rows, a weight does not fit, or the cache's vectors do not hold
// length rows of G d numbers.
inline matrix attention_step(layer_cache& cache, const matrix& x_new,
                             const layer_weights& w, std::size_t heads,
                             std::size_t groups, double base = 10000.0)
{
    (void)cache;
    (void)w;
    (void)heads;
    (void)groups;
    (void)base;
    return xt::zeros<double>({x_new.shape()[0], x_new.shape()[1]});  // replace
}

// Part C.6, first half (chapters 6 and 7). The model on n_new new tokens,
// with one cache per layer (an empty vector of caches means a fresh start:
// make one empty cache per layer). The new tokens sit after everything the
// caches hold. Return their logits (n_new, V): the same rows as
// model_forward on all the tokens so far.
// Throw std::invalid_argument if tokens_new is empty, a token is not below
// V, or caches is neither empty nor one per layer.
inline matrix decode_step(const model& m, std::vector<layer_cache>& caches,
                          const std::vector<std::size_t>& tokens_new)
{
    (void)caches;
    return xt::zeros<double>({tokens_new.size(), m.w_u.shape()[1]});
}

// What generate_cached returns.
struct generation {
    std::vector<std::size_t> tokens;  // the prompt, then the new tokens
    matrix logits;  // (tokens.size(), V): row i scores the token after i
};

// Part C.6, second half. Greedy generation with the cache: feed the
// prompt (one decode_step on all of it); then n_new times: take the token
// of largest logit in the last row of logits (the smallest index if two
// are equal), append it to tokens, and feed it alone (one decode_step).
// Every token is fed once, so logits has one row per token, and the last
// row scores the token that would come next: with the same rows,
// generation.logits equals model_forward(m, generation.tokens).
// n_new = 0 returns the prompt and its logits.
// Throw std::invalid_argument if the prompt is empty or a token is not
// below V.
inline generation generate_cached(const model& m,
                                  const std::vector<std::size_t>& prompt,
                                  std::size_t n_new)
{
    (void)m;
    (void)n_new;
    return {prompt, xt::zeros<double>({std::size_t(0), std::size_t(0)})};
}

}  // namespace capstone

// Solutions of the coding exercises of chapter 7. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "attention/decoder_model.hpp"
#include "attention/masking.hpp"
#include "attention/multi_head.hpp"

namespace exercise {

struct embedding_gradients {
    xt::xtensor<double, 2> dL_dw_e;  // dL/dW_E (vocab, d)
    xt::xtensor<double, 2> dL_dw_p;  // dL/dW_P (n_max, d)
};

inline embedding_gradients embedding_backward(
    const std::vector<std::size_t>& tokens,
    const xt::xtensor<double, 2>& dL_dx0, std::size_t vocab,
    std::size_t n_max)
{
    const std::size_t n = tokens.size(), d = dL_dx0.shape()[1];
    if (n > n_max || dL_dx0.shape()[0] != n) {
        throw std::invalid_argument(
            "embedding_backward: expected n <= n_max and one row of dL_dx0 "
            "per token, got n = " + std::to_string(n) + ", n_max = "
            + std::to_string(n_max) + ", "
            + std::to_string(dL_dx0.shape()[0]) + " rows");
    }
    embedding_gradients g{xt::zeros<double>({vocab, d}),
                          xt::zeros<double>({n_max, d})};
    for (std::size_t i = 0; i < n; ++i) {
        if (tokens[i] >= vocab) {
            throw std::invalid_argument("embedding_backward: token "
                                        + std::to_string(tokens[i])
                                        + " >= vocab");
        }
        for (std::size_t c = 0; c < d; ++c) {
            g.dL_dw_e(tokens[i], c) += dL_dx0(i, c);
            g.dL_dw_p(i, c) = dL_dx0(i, c);
        }
    }
    return g;
}

inline xt::xtensor<double, 2> rollout(
    const std::vector<xt::xtensor<double, 3>>& layers)
{
    if (layers.empty()) {
        throw std::invalid_argument("rollout: expected at least one layer");
    }
    const std::size_t heads = layers[0].shape()[0], n = layers[0].shape()[1];
    for (const auto& a : layers) {
        if (heads == 0 || a.shape() != layers[0].shape()
            || a.shape()[2] != n) {
            throw std::invalid_argument("rollout: expected every layer of "
                                        "shape (H, n, n), H >= 1, as the "
                                        "first");
        }
    }
    xt::xtensor<double, 2> r = xt::zeros<double>({n, n});
    for (std::size_t i = 0; i < n; ++i) {
        r(i, i) = 1.0;
    }
    for (const auto& a : layers) {
        xt::xtensor<double, 2> hat = xt::zeros<double>({n, n});
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < n; ++j) {
                double mean = 0.0;
                for (std::size_t h = 0; h < heads; ++h) {
                    mean += a(h, i, j) / double(heads);
                }
                hat(i, j) = 0.5 * mean + (i == j ? 0.5 : 0.0);
            }
        }
        xt::xtensor<double, 2> next = xt::zeros<double>({n, n});
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < n; ++j) {
                for (std::size_t k = 0; k < n; ++k) {
                    next(i, j) += hat(i, k) * r(k, j);
                }
            }
        }
        r = next;
    }
    return r;
}

inline double induction_score(const xt::xtensor<double, 2>& a, std::size_t r)
{
    const std::size_t n = a.shape()[0];
    if (a.shape()[1] != n || r < 2 || 2 * r > n) {
        throw std::invalid_argument("induction_score: expected square "
                                    "weights and 2 <= r <= n / 2");
    }
    double sum = 0.0;
    for (std::size_t i = n - r; i + 2 <= n; ++i) {
        sum += a(i, i - r + 1);
    }
    return sum / double(r - 1);
}

// Exercise 7.9: the bug was the residual added to X^(0) instead of to
// the stream the layer read, which drops every earlier layer's output.
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
        x = x + y;  // the fix: X^(l+1) = X^(l) + Y^l, not X^(0) + Y^l
    }
    return xt::linalg::dot(x, m.w_u);                   // Eq. (7.4), (n, vocab)
}

}  // namespace exercise

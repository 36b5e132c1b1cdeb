// Solutions of the coding exercises of chapter 7. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

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

}  // namespace exercise

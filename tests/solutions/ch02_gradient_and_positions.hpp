// Solutions of the coding exercises of chapter 2. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include <xtensor/xtensor.hpp>

namespace exercise {

inline xt::xtensor<double, 2> softmax_rows_backward(
    const xt::xtensor<double, 2>& a, const xt::xtensor<double, 2>& grad_a)
{
    if (a.shape() != grad_a.shape()) {
        throw std::invalid_argument(
            "softmax_rows_backward: a and grad_a must have the same shape");
    }
    const std::size_t n_q = a.shape()[0], n_k = a.shape()[1];
    xt::xtensor<double, 2> grad_s = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        double dot = 0.0;  // grad_a_i . a_i
        for (std::size_t j = 0; j < n_k; ++j) {
            dot += grad_a(i, j) * a(i, j);
        }
        for (std::size_t l = 0; l < n_k; ++l) {
            grad_s(i, l) = a(i, l) * (grad_a(i, l) - dot);
        }
    }
    return grad_s;
}

inline xt::xtensor<double, 2> positional_similarity(std::size_t n,
                                                    std::size_t d_model)
{
    if (d_model == 0 || d_model % 2 != 0) {
        throw std::invalid_argument(
            "positional_similarity: d_model must be even and positive, got "
            + std::to_string(d_model));
    }
    xt::xtensor<double, 2> g = xt::zeros<double>({n, n});
    for (std::size_t p = 0; p < n; ++p) {
        for (std::size_t q = 0; q < n; ++q) {
            const double k = double(q) - double(p);
            for (std::size_t i = 0; i < d_model / 2; ++i) {
                const double omega =
                    std::pow(10000.0, -2.0 * double(i) / double(d_model));
                g(p, q) += std::cos(k * omega);
            }
        }
    }
    return g;
}

}  // namespace exercise

// Solutions of the coding exercises of chapter 4. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>

#include <xtensor/xtensor.hpp>

namespace exercise {

inline xt::xtensor<bool, 2> causal_mask(std::size_t n_q, std::size_t n_k)
{
    xt::xtensor<bool, 2> m = xt::zeros<bool>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            // j <= n_k - n_q + i, rearranged to stay non-negative.
            m(i, j) = j + n_q <= i + n_k;
        }
    }
    return m;
}

inline xt::xtensor<double, 2> masked_softmax_rows(
    const xt::xtensor<double, 2>& s, const xt::xtensor<bool, 2>& m)
{
    if (s.shape() != m.shape()) {
        throw std::invalid_argument(
            "masked_softmax_rows: s and m must have the same shape");
    }
    const std::size_t n_q = s.shape()[0], n_k = s.shape()[1];
    xt::xtensor<double, 2> a = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        // The maximum over the allowed keys only.
        double s_max = -std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < n_k; ++j) {
            if (m(i, j) && s(i, j) > s_max) {
                s_max = s(i, j);
            }
        }
        if (s_max == -std::numeric_limits<double>::infinity()) {
            continue;  // no key allowed: the row stays zero
        }
        double z = 0.0;
        for (std::size_t j = 0; j < n_k; ++j) {
            if (m(i, j)) {
                a(i, j) = std::exp(s(i, j) - s_max);
                z += a(i, j);
            }
        }
        for (std::size_t j = 0; j < n_k; ++j) {
            a(i, j) /= z;
        }
    }
    return a;
}

}  // namespace exercise

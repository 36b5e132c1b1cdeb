// Solutions of the coding exercises of chapter 0. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include <xtensor/xtensor.hpp>

namespace exercise {

inline xt::xtensor<double, 1> softmax_scaled(const xt::xtensor<double, 1>& z,
                                             double beta)
{
    xt::xtensor<double, 1> a = beta * z;
    double m = -std::numeric_limits<double>::infinity();
    for (double x : a) {
        m = std::max(m, x);
    }
    double sum = 0.0;
    for (auto& x : a) {
        x = std::exp(x - m);
        sum += x;
    }
    return a / sum;
}

inline xt::xtensor<double, 1> row_entropy(const xt::xtensor<double, 2>& a)
{
    xt::xtensor<double, 1> h = xt::zeros<double>({a.shape()[0]});
    for (std::size_t i = 0; i < a.shape()[0]; ++i) {
        for (std::size_t j = 0; j < a.shape()[1]; ++j) {
            if (a(i, j) > 0.0) {
                h(i) -= a(i, j) * std::log(a(i, j));
            }
        }
    }
    return h;
}

}  // namespace exercise

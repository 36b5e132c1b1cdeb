// Solutions of the coding exercises of chapter 3. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include <xtensor/xtensor.hpp>

namespace exercise {

inline std::size_t head_width(std::size_t d_model, std::size_t H)
{
    if (H == 0 || d_model % H != 0) {
        throw std::invalid_argument(
            "H = " + std::to_string(H) + " must divide d_model = "
            + std::to_string(d_model));
    }
    return d_model / H;
}

inline xt::xtensor<double, 3> split_heads(const xt::xtensor<double, 2>& m,
                                          std::size_t H)
{
    const std::size_t n = m.shape()[0];
    const std::size_t d_k = head_width(m.shape()[1], H);
    xt::xtensor<double, 3> t = xt::zeros<double>({H, n, d_k});
    for (std::size_t h = 0; h < H; ++h) {
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t c = 0; c < d_k; ++c) {
                t(h, i, c) = m(i, h * d_k + c);
            }
        }
    }
    return t;
}

inline xt::xtensor<double, 2> merge_heads(const xt::xtensor<double, 3>& t)
{
    const std::size_t H = t.shape()[0], n = t.shape()[1], d_k = t.shape()[2];
    xt::xtensor<double, 2> m = xt::zeros<double>({n, H * d_k});
    for (std::size_t h = 0; h < H; ++h) {
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t c = 0; c < d_k; ++c) {
                m(i, h * d_k + c) = t(h, i, c);
            }
        }
    }
    return m;
}

inline xt::xtensor<double, 3> head_contributions(
    const xt::xtensor<double, 2>& heads, const xt::xtensor<double, 2>& w_o,
    std::size_t H)
{
    const std::size_t n_q = heads.shape()[0], d_model = heads.shape()[1];
    const std::size_t d_k = head_width(d_model, H);
    if (w_o.shape()[0] != d_model || w_o.shape()[1] != d_model) {
        throw std::invalid_argument(
            "head_contributions: w_o must be (d_model, d_model)");
    }
    xt::xtensor<double, 3> out = xt::zeros<double>({H, n_q, d_model});
    for (std::size_t h = 0; h < H; ++h) {
        for (std::size_t i = 0; i < n_q; ++i) {
            for (std::size_t c = 0; c < d_model; ++c) {
                for (std::size_t e = h * d_k; e < (h + 1) * d_k; ++e) {
                    out(h, i, c) += heads(i, e) * w_o(e, c);
                }
            }
        }
    }
    return out;
}

}  // namespace exercise

// Solutions of the coding exercises of chapter 3. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

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

inline xt::xtensor<double, 2> head_block(const xt::xtensor<double, 2>& m,
                                         std::size_t h, std::size_t H)
{
    // Head h owns the columns [h d_k, (h+1) d_k) of every row, Eq. (3.1).
    // (The starter reshaped m's row-major buffer to (H, n, d_k), which
    // cuts it into H slabs of n d_k consecutive numbers: whole rows, not
    // column blocks, unless n = 1 or H = 1.)
    const std::size_t d_k = m.shape()[1] / H;
    return xt::view(m, xt::all(), xt::range(h * d_k, (h + 1) * d_k));
}

inline xt::xtensor<double, 2> multi_head_outputs(
    const xt::xtensor<double, 2>& q, const xt::xtensor<double, 2>& k,
    const xt::xtensor<double, 2>& v, std::size_t H)
{
    const std::size_t n_q = q.shape()[0], d_model = q.shape()[1];
    const std::size_t n_k = k.shape()[0];
    if (H == 0 || d_model % H != 0) {
        throw std::invalid_argument("multi_head_outputs: H must divide "
                                    "d_model");
    }
    if (k.shape()[1] != d_model || v.shape()[0] != n_k
        || v.shape()[1] != d_model || n_k == 0) {
        throw std::invalid_argument("multi_head_outputs: k and v must be "
                                    "(n_k, d_model) with n_k > 0");
    }
    const std::size_t d_k = d_model / H;
    xt::xtensor<double, 2> y_cat = xt::zeros<double>({n_q, d_model});
    for (std::size_t h = 0; h < H; ++h) {
        const auto q_h = head_block(q, h, H);           // (n_q, d_k)
        const auto k_h = head_block(k, h, H);           // (n_k, d_k)
        const auto v_h = head_block(v, h, H);           // (n_k, d_k)
        for (std::size_t i = 0; i < n_q; ++i) {
            // Query i's scaled scores, Eq. (3.2), and their maximum
            std::vector<double> a(n_k);
            double s_max = -std::numeric_limits<double>::infinity();
            for (std::size_t j = 0; j < n_k; ++j) {
                a[j] = 0.0;
                for (std::size_t c = 0; c < d_k; ++c) {
                    a[j] += q_h(i, c) * k_h(j, c);
                }
                a[j] /= std::sqrt(double(d_k));
                s_max = std::max(s_max, a[j]);
            }
            // Its weights: a stable softmax over the keys
            double z = 0.0;
            for (std::size_t j = 0; j < n_k; ++j) {
                a[j] = std::exp(a[j] - s_max);
                z += a[j];
            }
            // a_i v^h into head h's columns of Y_cat, Eq. (3.3)
            for (std::size_t j = 0; j < n_k; ++j) {
                for (std::size_t c = 0; c < d_k; ++c) {
                    y_cat(i, h * d_k + c) += a[j] / z * v_h(j, c);
                }
            }
        }
    }
    return y_cat;
}

}  // namespace exercise

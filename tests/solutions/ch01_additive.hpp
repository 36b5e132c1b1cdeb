// Solutions of the coding exercises of chapter 1. Instructors: delete the
// folder tests/solutions before handing the kit out (see README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>

#include <xtensor/xtensor.hpp>

#include "attention/additive.hpp"

namespace exercise {

inline void expect_alignment_shapes(const xt::xtensor<double, 2>& q_prev,
                                   const xt::xtensor<double, 2>& h,
                                   const xt::xtensor<double, 2>& W_a,
                                   const xt::xtensor<double, 2>& U_a,
                                   const xt::xtensor<double, 1>& v_a)
{
    const std::size_t d_a = v_a.shape()[0];
    if (W_a.shape()[0] != d_a || W_a.shape()[1] != q_prev.shape()[1]
        || U_a.shape()[0] != d_a || U_a.shape()[1] != h.shape()[1]) {
        throw std::invalid_argument(
            "additive energies: W_a must be (d_a, d_h) and U_a (d_a, 2d_h)");
    }
}

// W_a q_{i-1} for every i (T_y, d_a) or U_a h_j for every j (T_x, d_a):
// rows of x times the transpose of w.
inline xt::xtensor<double, 2> project_rows(const xt::xtensor<double, 2>& x,
                                           const xt::xtensor<double, 2>& w)
{
    xt::xtensor<double, 2> p = xt::zeros<double>({x.shape()[0], w.shape()[0]});
    for (std::size_t r = 0; r < x.shape()[0]; ++r) {
        for (std::size_t k = 0; k < w.shape()[0]; ++k) {
            for (std::size_t l = 0; l < w.shape()[1]; ++l) {
                p(r, k) += w(k, l) * x(r, l);
            }
        }
    }
    return p;
}

inline xt::xtensor<double, 2> additive_energies(
    const xt::xtensor<double, 2>& q_prev, const xt::xtensor<double, 2>& h,
    const xt::xtensor<double, 2>& W_a, const xt::xtensor<double, 2>& U_a,
    const xt::xtensor<double, 1>& v_a)
{
    expect_alignment_shapes(q_prev, h, W_a, U_a, v_a);
    const std::size_t T_y = q_prev.shape()[0], T_x = h.shape()[0];
    const std::size_t d_a = v_a.shape()[0];
    const xt::xtensor<double, 2> Wq = project_rows(q_prev, W_a);  // (T_y, d_a)
    const xt::xtensor<double, 2> Uh = project_rows(h, U_a);       // (T_x, d_a)
    xt::xtensor<double, 2> e = xt::zeros<double>({T_y, T_x});
    for (std::size_t i = 0; i < T_y; ++i) {
        for (std::size_t j = 0; j < T_x; ++j) {
            for (std::size_t k = 0; k < d_a; ++k) {
                e(i, j) += v_a(k) * std::tanh(Wq(i, k) + Uh(j, k));
            }
        }
    }
    return e;
}

struct alignment_gradients {
    xt::xtensor<double, 2> dL_dW_a;  // dL/dW_a (d_a, d_h)
    xt::xtensor<double, 2> dL_dU_a;  // dL/dU_a (d_a, 2d_h)
    xt::xtensor<double, 1> dL_dv_a;  // dL/dv_a (d_a,)
};

inline alignment_gradients alignment_parameter_gradients(
    const xt::xtensor<double, 2>& q_prev, const xt::xtensor<double, 2>& h,
    const xt::xtensor<double, 2>& W_a, const xt::xtensor<double, 2>& U_a,
    const xt::xtensor<double, 1>& v_a, const xt::xtensor<double, 2>& eps)
{
    expect_alignment_shapes(q_prev, h, W_a, U_a, v_a);
    const std::size_t T_y = q_prev.shape()[0], T_x = h.shape()[0];
    if (eps.shape()[0] != T_y || eps.shape()[1] != T_x) {
        throw std::invalid_argument(
            "alignment_parameter_gradients: eps must be (T_y, T_x)");
    }
    const std::size_t d_a = v_a.shape()[0];
    const xt::xtensor<double, 2> Wq = project_rows(q_prev, W_a);  // (T_y, d_a)
    const xt::xtensor<double, 2> Uh = project_rows(h, U_a);       // (T_x, d_a)
    xt::xtensor<double, 2> u_i = xt::zeros<double>({T_y, d_a});
    xt::xtensor<double, 2> u_j = xt::zeros<double>({T_x, d_a});
    alignment_gradients g{xt::zeros<double>(W_a.shape()),
                          xt::zeros<double>(U_a.shape()),
                          xt::zeros<double>(v_a.shape())};
    for (std::size_t i = 0; i < T_y; ++i) {
        for (std::size_t j = 0; j < T_x; ++j) {
            for (std::size_t k = 0; k < d_a; ++k) {
                const double z = std::tanh(Wq(i, k) + Uh(j, k));
                g.dL_dv_a(k) += eps(i, j) * z;
                const double u = eps(i, j) * v_a(k) * (1.0 - z * z);
                u_i(i, k) += u;  // summed over j
                u_j(j, k) += u;  // summed over i
            }
        }
    }
    for (std::size_t k = 0; k < d_a; ++k) {
        for (std::size_t l = 0; l < W_a.shape()[1]; ++l) {
            for (std::size_t i = 0; i < T_y; ++i) {
                g.dL_dW_a(k, l) += u_i(i, k) * q_prev(i, l);
            }
        }
        for (std::size_t l = 0; l < U_a.shape()[1]; ++l) {
            for (std::size_t j = 0; j < T_x; ++j) {
                g.dL_dU_a(k, l) += u_j(j, k) * h(j, l);
            }
        }
    }
    return g;
}

// The starter's denominator summed j from 1, like the maximum's loop above
// it, and so left out the term exp(e_i0 - m): fixed, j from 0.
inline xt::xtensor<double, 2> bahdanau_context_vectors(
    const xt::xtensor<double, 2>& q_prev, const xt::xtensor<double, 2>& h,
    const xt::xtensor<double, 2>& W_a, const xt::xtensor<double, 2>& U_a,
    const xt::xtensor<double, 1>& v_a)
{
    const xt::xtensor<double, 2> e =
        attn::additive_energies(q_prev, h, W_a, U_a, v_a);  // (T_y, T_x)
    const std::size_t T_y = e.shape()[0], T_x = e.shape()[1];
    const std::size_t width = h.shape()[1];                  // 2d_h
    xt::xtensor<double, 2> c = xt::zeros<double>({T_y, width});
    for (std::size_t i = 0; i < T_y; ++i) {
        // The denominator of Eq. (1.3), with the row's maximum m
        // subtracted as in Eq. (0.1).
        double m = e(i, 0);
        for (std::size_t j = 1; j < T_x; ++j) {
            m = std::max(m, e(i, j));
        }
        double z = 0.0;
        for (std::size_t j = 0; j < T_x; ++j) {
            z += std::exp(e(i, j) - m);
        }
        // Context c_i, Eq. (1.4).
        for (std::size_t j = 0; j < T_x; ++j) {
            const double a_ij = std::exp(e(i, j) - m) / z;
            for (std::size_t l = 0; l < width; ++l) {
                c(i, l) += a_ij * h(j, l);
            }
        }
    }
    return c;
}

}  // namespace exercise

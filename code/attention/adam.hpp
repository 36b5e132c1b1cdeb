// Adam (Kingma and Ba, 2014), the optimiser that trains chapter 5's tiny
// model: each weight's step is scaled by running estimates of the first
// and second moments of its gradient, with their bias from a start at zero
// undone.
//
// Glossary (every symbol is per weight, element by element, shaped like
// the weight tensor theta it updates):
//   theta   a weight tensor
//   g       its gradient dL/dtheta
//   m, v    first and second moments of g
//   t       steps taken (starts at 1)                        // scalar
//   alpha   step size (lr); beta1, beta2 the moments' decay; eps
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention/core.hpp"
#include "attention/tiny_model.hpp"

/// \file
/// \brief Adam, the optimiser of the tiny model (\ref ch05_heads).

namespace attn {

/// \brief First and second moments of Adam for every weight of the model.
struct adam_state {
    tiny_model m;           ///< first moments, shaped like the model
    tiny_model v;           ///< second moments, shaped like the model
    std::size_t t = 0;      ///< steps taken
    double lr = 0.01;       ///< step size alpha
    double beta1 = 0.9;     ///< decay of the first moment
    double beta2 = 0.999;   ///< decay of the second moment
    double eps = 1e-8;      ///< added to the denominator
};

namespace detail {

template <class T>
void expect_adam_arguments(const T& theta, const T& g, const T& m,
                           const T& v, const adam_state& s)
{
    const std::string where = "adam_update";
    const auto& shape = theta.shape();
    const std::vector<std::size_t> expected(shape.begin(), shape.end());
    expect_shape(where, "g", g, expected);
    expect_shape(where, "m", m, expected);
    expect_shape(where, "v", v, expected);
    if (s.t == 0) {
        throw std::invalid_argument(where + ": the step count t must be at "
                                    "least 1 (increment it first), got 0");
    }
}

}  // namespace detail

// [ch05-adam]
/// \brief One Adam update of one weight tensor, Eq. \ref eq_adam "(5.8)".
/// \param theta the weights, updated in place
/// \param g     their gradient, same shape
/// \param m     first moment, same shape, updated
/// \param v     second moment, same shape, updated
/// \param s     the step count (already incremented) and the constants
template <class T>
void adam_update(T& theta, const T& g, T& m, T& v, const adam_state& s)
{
    detail::expect_adam_arguments(theta, g, m, v, s);
    m = s.beta1 * m + (1.0 - s.beta1) * g;
    v = s.beta2 * v + (1.0 - s.beta2) * g * g;
    const double c1 = 1.0 - std::pow(s.beta1, double(s.t));
    const double c2 = 1.0 - std::pow(s.beta2, double(s.t));
    theta -= s.lr * (m / c1) / (xt::sqrt(v / c2) + s.eps);
}
// [ch05-adam]

/// \brief Adam's state before the first step: moments of zero.
/// \param m  the model to train (only its shapes are read)
/// \param lr the step size alpha
/// \return the state, t = 0
inline adam_state adam_start(const tiny_model& m, double lr)
{
    adam_state s;
    s.m = zeros_like(m);
    s.v = zeros_like(m);
    s.lr = lr;
    return s;
}

/// \brief One Adam step on every weight of the model.
/// \param m the model, updated
/// \param g the gradient of the loss, averaged over a batch
/// \param s Adam's state, updated
inline void adam_step(tiny_model& m, const tiny_gradients& g, adam_state& s)
{
    s.t += 1;
    auto& a = m.attention;
    const auto& dL_dw = g.layer.dL_dw;
    adam_update(a.w_q, dL_dw.w_q, s.m.attention.w_q, s.v.attention.w_q, s);
    adam_update(a.w_k, dL_dw.w_k, s.m.attention.w_k, s.v.attention.w_k, s);
    adam_update(a.w_v, dL_dw.w_v, s.m.attention.w_v, s.v.attention.w_v, s);
    adam_update(a.w_o, dL_dw.w_o, s.m.attention.w_o, s.v.attention.w_o, s);
    adam_update(a.b_o, dL_dw.b_o, s.m.attention.b_o, s.v.attention.b_o, s);
    adam_update(m.w_u, g.dL_dw_u, s.m.w_u, s.v.w_u, s);
    adam_update(m.b_u, g.dL_db_u, s.m.b_u, s.v.b_u, s);
}

}  // namespace attn

// Exercises of chapter 3 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch03
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <vector>

#include <xtensor/xstrided_view.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

namespace exercise {

// Exercise 3.6. Split a projected Q, K or V m (n, d_model) into H heads,
// as copies, Eq. (3.1): head h owns the columns [h d_k, (h+1) d_k) of m,
// with d_k = d_model / H. Return t of shape (H, n, d_k), head h in t(h).
// Throw std::invalid_argument if H is 0 or does not divide d_model. An m
// with no rows (n = 0) gives a t of shape (H, 0, d_k).
inline xt::xtensor<double, 3> split_heads(const xt::xtensor<double, 2>& m,
                                          std::size_t H)
{
    const std::size_t n = m.shape()[0];
    const std::size_t d_k = H == 0 ? 0 : m.shape()[1] / H;
    return xt::zeros<double>({H, n, d_k});  // replace this line
}

// Exercise 3.6 (continued). The inverse, the concatenation of Eq. (3.3):
// put the H head outputs t (H, n, d_k) side by side, head h in columns
// [h d_k, (h+1) d_k) of the result, of shape (n, H d_k). An empty t
// (H, n or d_k equal to 0) gives an empty result of that shape.
inline xt::xtensor<double, 2> merge_heads(const xt::xtensor<double, 3>& t)
{
    return xt::zeros<double>({t.shape()[1], t.shape()[0] * t.shape()[2]});
    // replace the line above
}

// Exercise 3.7. Each head's contribution to the output, Eq. (3.6): with
// heads = Y_cat = [Y^0, ..., Y^{H-1}] (n_q, d_model) the concatenated heads
// and W_o^h the block of ROWS [h d_k, (h+1) d_k) of w_o (d_model, d_model),
//     contribution(h) = Y^h W_o^h,    of shape (n_q, d_model) each,
// returned as one tensor of shape (H, n_q, d_model). Summed over h they
// give heads w_o. Throw std::invalid_argument if H is 0 or does not
// divide d_model, or if w_o is not (d_model, d_model).
inline xt::xtensor<double, 3> head_contributions(
    const xt::xtensor<double, 2>& heads, const xt::xtensor<double, 2>& w_o,
    std::size_t H)
{
    (void)w_o;
    return xt::zeros<double>({H, heads.shape()[0], heads.shape()[1]});
    // replace the line above
}

// Exercise 3.8 (find the bug). The heads of Eqs. (3.1) to (3.3), from
// projected q (n_q, d_model), k (n_k, d_model) and v (n_k, d_model): head
// h attends with its own blocks q^h, k^h, v^h of d_k = d_model / H
// columns, Eq. (3.2), and the H outputs are put side by side, Eq. (3.3).
// Returns Y_cat (n_q, d_model), before W_o; n_q = 0 gives (0, d_model).
// Throws std::invalid_argument if H is 0 or does not divide d_model, if
// k or v is not (n_k, d_model), or if n_k is 0.
// The code below compiles, runs and returns a matrix of the right shape,
// but it has ONE bug. Find it and fix it.
inline xt::xtensor<double, 2> head_block(const xt::xtensor<double, 2>& m,
                                         std::size_t h, std::size_t H)
{
    const std::size_t n = m.shape()[0], d_k = m.shape()[1] / H;
    // All heads of m at once, (H, n, d_k); head h is the slice t(h)
    const xt::xtensor<double, 3> t = xt::reshape_view(m, {H, n, d_k});
    return xt::view(t, h, xt::all(), xt::all());        // (n, d_k)
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

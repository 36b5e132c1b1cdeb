// Exercises of chapter 8 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch08
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>

#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

namespace exercise {

// Exercise 8.5. Ainslie et al.'s conversion of a multi-head checkpoint to
// grouped-query attention: the key (or value) projection w_kv of H heads
// of width d, (d_model, H d), head h owning columns [h d, (h+1) d),
// becomes the projection of G key-value heads, (d_model, G d), where
// group g's block is the MEAN of the blocks of the H / G heads that
// Eq. (8.6) assigns to it (heads g H/G, ..., (g+1) H/G - 1).
// Throw std::invalid_argument if G is 0, G does not divide H, or H does
// not divide the width of w_kv.
inline xt::xtensor<double, 2> mean_pool_kv(const xt::xtensor<double, 2>& w_kv,
                                           std::size_t heads,
                                           std::size_t groups)
{
    (void)heads;
    (void)groups;
    return w_kv;  // replace this line
}

// Exercise 8.6. Sliding-window decoding with a ring buffer, Eqs. (8.8)
// and (8.9): go through the positions t = 0, ..., n-1 one at a time;
// store key t and value t in slot t mod W of a buffer of W rows (W =
// window); let query t attend (softmax(q_t k^T / sqrt(d_k)) v) over the
// min(t + 1, W) filled slots; row t of the result is its output.
// Shapes: q, k (n, d_k), v (n, d_v); the result (n, d_v). Keep no more
// than W keys and values at any time.
// Throw std::invalid_argument if window is 0.
inline xt::xtensor<double, 2> sliding_window_decode(
    const xt::xtensor<double, 2>& q, const xt::xtensor<double, 2>& k,
    const xt::xtensor<double, 2>& v, std::size_t window)
{
    (void)q;
    (void)k;
    (void)window;
    return xt::zeros<double>({v.shape()[0], v.shape()[1]});  // replace
}

}  // namespace exercise

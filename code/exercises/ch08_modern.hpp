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

#include "attention/masking.hpp"

namespace exercise {

// Exercise 8.5. Ainslie et al.'s conversion of a multi-head checkpoint to
// grouped-query attention: the key (or value) projection w_kv of H heads
// of width d, (d_model, H d), head h owning columns [h d, (h+1) d),
// becomes the projection of G key-value heads, (d_model, G d), where
// group g's block is the MEAN of the blocks of the H / G heads that
// Eq. (8.6) assigns to it (heads g H/G, ..., (g+1) H/G - 1).
// Throw std::invalid_argument if G is 0, G does not divide H, H is 0, or
// H does not divide the width of w_kv.
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
// than W keys and values at any time. With no positions (n = 0) return
// (0, d_v).
// Throw std::invalid_argument if window is 0, if k is not the shape of q,
// or if v does not have one row per key.
inline xt::xtensor<double, 2> sliding_window_decode(
    const xt::xtensor<double, 2>& q, const xt::xtensor<double, 2>& k,
    const xt::xtensor<double, 2>& v, std::size_t window)
{
    (void)q;
    (void)k;
    (void)window;
    return xt::zeros<double>({v.shape()[0], v.shape()[1]});  // replace
}

// Exercise 8.10 (find the bug). grouped_query_heads computes the heads of
// grouped-query attention from queries, keys and values already
// projected: query head h (columns [h d, (h+1) d) of q) attends, under the
// causal mask, over the key-value head g that Eq. (8.6) assigns to it
// (columns [g d, (g+1) d) of k and v), softmax(q_h k_g^T / sqrt(d)) v_g.
// Shapes: q (n, H d), k and v (n, G d); the result (n, H d) holds the
// heads' outputs side by side, head h in columns [h d, (h+1) d), before
// any output projection. Throw std::invalid_argument if there are no
// tokens, if G is 0 or does not divide H, if H is 0 or does not divide the
// width of q, or if k and v are not both (n, G d).
// The function below compiles, runs, and is right for multi-head (G = H)
// and multi-query (G = 1) attention, but one line is wrong. Find the bug
// and fix it.
inline xt::xtensor<double, 2> grouped_query_heads(
    const xt::xtensor<double, 2>& q, const xt::xtensor<double, 2>& k,
    const xt::xtensor<double, 2>& v, std::size_t heads, std::size_t groups)
{
    const std::size_t n = q.shape()[0];
    if (n == 0 || groups == 0 || heads == 0 || heads % groups != 0
        || q.shape()[1] % heads != 0) {
        throw std::invalid_argument("grouped_query_heads: expected n >= 1, "
                                    "G dividing H and H dividing q's width");
    }
    const std::size_t d = q.shape()[1] / heads;
    if (k.shape()[0] != n || k.shape()[1] != groups * d
        || v.shape() != k.shape()) {
        throw std::invalid_argument("grouped_query_heads: expected k and v "
                                    "(n, G d)");
    }
    const attn::mask_matrix mask = attn::causal_mask(n, n);
    xt::xtensor<double, 2> y = xt::zeros<double>({n, heads * d});
    for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t g = h % groups;  // the key-value head, Eq. (8.6)
        const xt::xtensor<double, 2> q_h =
            xt::view(q, xt::all(), xt::range(h * d, (h + 1) * d));
        const xt::xtensor<double, 2> k_g =
            xt::view(k, xt::all(), xt::range(g * d, (g + 1) * d));
        const xt::xtensor<double, 2> v_g =
            xt::view(v, xt::all(), xt::range(g * d, (g + 1) * d));
        xt::view(y, xt::all(), xt::range(h * d, (h + 1) * d)) =
            attn::masked_attend(q_h, k_g, v_g, mask).y;
    }
    return y;
}

}  // namespace exercise

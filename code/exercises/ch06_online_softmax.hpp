// Exercises of chapter 6 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch06
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <vector>

#include <xtensor/xtensor.hpp>

namespace exercise {

// The running state of the online softmax of Eqs. (6.2)-(6.3) for n_q
// queries, over some set of keys: for each query i, m(i) is the largest
// score seen, l(i) = sum_j exp(s_ij - m(i)) and
// o(i, :) = sum_j exp(s_ij - m(i)) v_j over those keys. A state that has
// seen no key has m = -inf, l = 0, o = 0.
struct softmax_state {
    xt::xtensor<double, 1> m;  // (n_q,)
    xt::xtensor<double, 1> l;  // (n_q,)
    xt::xtensor<double, 2> o;  // (n_q, d_v)
};

// Exercise 6.6. Merge two states a and b computed on two DISJOINT sets of
// keys (for example on two machines) into the state of their union, row
// by row: the (m, l, o) that folding all of the union's keys with
// Eqs. (6.2)-(6.3) would give (deriving it is exercise 3). A state that
// has seen no key (m = -inf) must add nothing, and merging two such states
// gives one (never NaN from -inf - -inf).
// Throw std::invalid_argument if the shapes of a and b differ.
inline softmax_state merge_states(const softmax_state& a,
                                  const softmax_state& b)
{
    (void)b;
    return a;  // replace this line
}

// Exercise 6.7. Exact attention y = softmax_rows(q k^T / sqrt(d_k)) v
// without the (n_q, n_k) matrices: go through the keys and values in
// blocks of block_k rows (the last block may be shorter) and fold each
// block into a running state with Eqs. (6.2) and (6.3), then return
// y = o / l, Eq. (6.4). Memory beyond q, k, v and y: O(n_q block_k).
// Shapes: q (n_q, d_k), k (n_k, d_k), v (n_k, d_v), y (n_q, d_v).
// Edge cases: with no keys (n_k = 0) every query has seen nothing, so
// return zeros (n_q, d_v), never NaN (the book's convention for a query
// with no key); with no queries (n_q = 0) return (0, d_v).
// Throw std::invalid_argument if block_k is 0, if k is not (n_k, d_k)
// with the d_k of q, or if v does not have one row per key.
inline xt::xtensor<double, 2> attention_online(
    const xt::xtensor<double, 2>& q, const xt::xtensor<double, 2>& k,
    const xt::xtensor<double, 2>& v, std::size_t block_k)
{
    (void)k;
    (void)block_k;
    return xt::zeros<double>({q.shape()[0], v.shape()[1]});  // replace
}

// Exercise 6.8 (find the bug). decode_head_with_cache generates the outputs of
// one causal attention head token by token, as a decoder does with its
// key-value cache: at step t it projects only token t, appends its key and
// value to the cache, and lets its query attend over the cached keys,
// softmax(q_t k^T / sqrt(d_k)) v. Row t of the result must equal row t of
// causal self-attention over the whole sequence (chapter 4's
// masked_attend(x w_q, x w_k, x w_v, causal_mask(n, n))).
// Shapes: x (n, d_model), w_q and w_k (d_model, d_k), w_v (d_model, d_v);
// the result (n, d_v). With no tokens (n = 0) it returns (0, d_v).
// Throw std::invalid_argument if w_k is not the shape of w_q, if w_v does
// not have d_model rows, or if x is not d_model wide.
// The function below compiles, runs, never produces NaN and gives
// plausible numbers, but one line is in the wrong place. Find the bug and
// fix it.
inline xt::xtensor<double, 2> decode_head_with_cache(
    const xt::xtensor<double, 2>& x, const xt::xtensor<double, 2>& w_q,
    const xt::xtensor<double, 2>& w_k, const xt::xtensor<double, 2>& w_v)
{
    const std::size_t n = x.shape()[0], d_model = w_q.shape()[0];
    const std::size_t d_k = w_q.shape()[1], d_v = w_v.shape()[1];
    if (w_k.shape() != w_q.shape() || w_v.shape()[0] != d_model
        || x.shape()[1] != d_model) {
        throw std::invalid_argument("decode_head_with_cache: expected x "
                                    "(n, d_model), w_q and w_k (d_model, "
                                    "d_k), w_v (d_model, d_v)");
    }
    xt::xtensor<double, 2> k_cache = xt::zeros<double>({n, d_k});
    xt::xtensor<double, 2> v_cache = xt::zeros<double>({n, d_v});
    xt::xtensor<double, 2> y = xt::zeros<double>({n, d_v});
    std::size_t length = 0;  // rows of the cache in use
    for (std::size_t t = 0; t < n; ++t) {
        // Project the new token only; its key and value go to the cache.
        xt::xtensor<double, 1> q_t = xt::zeros<double>({d_k});
        for (std::size_t e = 0; e < d_model; ++e) {
            for (std::size_t c = 0; c < d_k; ++c) {
                q_t(c) += x(t, e) * w_q(e, c);
                k_cache(length, c) += x(t, e) * w_k(e, c);
            }
            for (std::size_t c = 0; c < d_v; ++c) {
                v_cache(length, c) += x(t, e) * w_v(e, c);
            }
        }
        // The query attends over the cached keys.
        std::vector<double> s(length);
        double m = -std::numeric_limits<double>::infinity(), z = 0.0;
        for (std::size_t j = 0; j < length; ++j) {
            double dot = 0.0;
            for (std::size_t c = 0; c < d_k; ++c) {
                dot += q_t(c) * k_cache(j, c);
            }
            s[j] = dot / std::sqrt(double(d_k));
            m = std::max(m, s[j]);
        }
        for (std::size_t j = 0; j < length; ++j) {
            s[j] = std::exp(s[j] - m);
            z += s[j];
        }
        for (std::size_t j = 0; j < length; ++j) {
            for (std::size_t c = 0; c < d_v; ++c) {
                y(t, c) += s[j] / z * v_cache(j, c);
            }
        }
        length += 1;
    }
    return y;
}

}  // namespace exercise

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
// keys (for example on two machines) into the state of their union
// (exercise 3):
//     m = max(m_a, m_b),
//     l = exp(m_a - m) l_a + exp(m_b - m) l_b,
//     o = exp(m_a - m) o_a + exp(m_b - m) o_b,
// row by row. A state that has seen no key (m = -inf) must add nothing,
// and merging two such states gives one (never NaN from -inf - -inf).
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
// Throw std::invalid_argument if block_k is 0.
inline xt::xtensor<double, 2> attention_online(
    const xt::xtensor<double, 2>& q, const xt::xtensor<double, 2>& k,
    const xt::xtensor<double, 2>& v, std::size_t block_k)
{
    (void)k;
    (void)block_k;
    return xt::zeros<double>({q.shape()[0], v.shape()[1]});  // replace
}

}  // namespace exercise

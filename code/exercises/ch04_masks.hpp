// Exercises of chapter 4 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch04
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <vector>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xtensor.hpp>

namespace exercise {

// Exercise 4.6. The causal mask of Eq. (4.2), aligned bottom-right: the
// n_q queries are the LAST n_q of n_k positions, so query i sits at
// position n_k - n_q + i and may attend to every key j at or before it.
// Return a boolean matrix (n_q, n_k), true = may attend. For n_q = n_k it
// is the lower triangle with its diagonal; for n_q > n_k the first
// n_q - n_k rows are all false. Beware: i + n_k - n_q is negative for
// those rows, and std::size_t arithmetic would wrap around. n_q = 0 or
// n_k = 0 gives an empty mask of that shape.
inline xt::xtensor<bool, 2> causal_mask(std::size_t n_q, std::size_t n_k)
{
    xt::xtensor<bool, 2> m = xt::zeros<bool>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            m(i, j) = j <= i;  // top-left: wrong unless n_q = n_k
        }
    }
    return m;
}

// Exercise 4.7. The softmax of each row of the scores s (n_q, n_k) over
// the keys the mask m (n_q, n_k) allows (true = may attend):
//     a_ij = exp(s_ij) / sum_{l allowed} exp(s_il)  if key j is allowed,
//     a_ij = 0                                      if it is not.
// A row with no key allowed gets all-zero weights (never NaN, never
// uniform). It must work for scores of +-1000, also when a masked key has
// the largest score. Return the weights (n_q, n_k); an s with no rows
// gives no rows. Throw std::invalid_argument if the shapes of s and m
// differ.
inline xt::xtensor<double, 2> masked_softmax_rows(
    const xt::xtensor<double, 2>& s, const xt::xtensor<bool, 2>& m)
{
    (void)m;
    const double n_k = double(s.shape()[1]);
    xt::xtensor<double, 2> a = xt::zeros<double>(s.shape());
    a.fill(1.0 / n_k);  // uniform: replace this
    return a;
}

// Exercise 4.8 (find the bug). One step of incremental decoding with a
// cache of keys and values, Eq. (4.7). k_cache (t, d_k) and v_cache
// (t, d_v) hold the keys and values of the t tokens decoded so far; t may
// be 0, an empty cache still has its widths: (0, d_k) and (0, d_v).
// q_new, k_new (1, d_k) and v_new (1, d_v) are the new token's query, key
// and value. The step appends k_new and v_new to the cache, in place
// (t rows become t + 1), and returns the new token's attention output
// (1, d_v), which must equal the last row of the causally masked full
// pass over all t + 1 tokens. Throws std::invalid_argument if q_new or
// k_new is not (1, d_k), if v_new is not (1, d_v), or if the two caches
// hold different numbers of rows.
// The code below compiles, runs and returns a matrix of the right shape,
// but it has ONE bug. Find it and fix it.
inline xt::xtensor<double, 2> decode_step(xt::xtensor<double, 2>& k_cache,
                                          xt::xtensor<double, 2>& v_cache,
                                          const xt::xtensor<double, 2>& q_new,
                                          const xt::xtensor<double, 2>& k_new,
                                          const xt::xtensor<double, 2>& v_new)
{
    const std::size_t t = k_cache.shape()[0], d_k = k_cache.shape()[1];
    const std::size_t d_v = v_cache.shape()[1];
    const auto is = [](const xt::xtensor<double, 2>& m, std::size_t rows,
                       std::size_t cols) {
        return m.shape()[0] == rows && m.shape()[1] == cols;
    };
    if (v_cache.shape()[0] != t || !is(q_new, 1, d_k) || !is(k_new, 1, d_k)
        || !is(v_new, 1, d_v)) {
        throw std::invalid_argument("decode_step: expected caches (t, d_k) "
                                    "and (t, d_v), q_new and k_new (1, d_k), "
                                    "v_new (1, d_v)");
    }
    // The new query's scaled scores against the cached keys, Eq. (4.7)
    std::vector<double> a(t);
    double s_max = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < t; ++j) {
        a[j] = 0.0;
        for (std::size_t c = 0; c < d_k; ++c) {
            a[j] += q_new(0, c) * k_cache(j, c);
        }
        a[j] /= std::sqrt(double(d_k));
        s_max = std::max(s_max, a[j]);
    }
    // Its weights, a stable softmax, and the weighted sum of the values
    double z = 0.0;
    for (std::size_t j = 0; j < t; ++j) {
        a[j] = std::exp(a[j] - s_max);
        z += a[j];
    }
    xt::xtensor<double, 2> y = xt::zeros<double>({std::size_t(1), d_v});
    for (std::size_t j = 0; j < t; ++j) {
        for (std::size_t c = 0; c < d_v; ++c) {
            y(0, c) += a[j] / z * v_cache(j, c);
        }
    }
    // The new token's key and value join the cache for the next steps
    k_cache = xt::concatenate(xt::xtuple(k_cache, k_new), 0);
    v_cache = xt::concatenate(xt::xtuple(v_cache, v_new), 0);
    return y;
}

}  // namespace exercise

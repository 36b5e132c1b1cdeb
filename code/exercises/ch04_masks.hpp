// Exercises of chapter 4 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch04
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>

#include <xtensor/xtensor.hpp>

namespace exercise {

// Exercise 4.6. The causal mask of Eq. (4.2), aligned bottom-right: the
// n_q queries are the LAST n_q of n_k positions, so query i sits at
// position n_k - n_q + i and may attend to every key j at or before it.
// Return a boolean matrix (n_q, n_k), true = may attend. For n_q = n_k it
// is the lower triangle with its diagonal; for n_q > n_k the first
// n_q - n_k rows are all false. Beware: i + n_k - n_q is negative for
// those rows, and std::size_t arithmetic would wrap around.
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
// the largest score. Return the weights (n_q, n_k). Throw
// std::invalid_argument if the shapes of s and m differ.
inline xt::xtensor<double, 2> masked_softmax_rows(
    const xt::xtensor<double, 2>& s, const xt::xtensor<bool, 2>& m)
{
    (void)m;
    const double n_k = double(s.shape()[1]);
    xt::xtensor<double, 2> a = xt::zeros<double>(s.shape());
    a.fill(1.0 / n_k);  // uniform: replace this
    return a;
}

}  // namespace exercise

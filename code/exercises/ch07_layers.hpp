// Exercises of chapter 7 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch07
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

#include <xtensor/xtensor.hpp>

namespace exercise {

// The gradients of the embedding, Eq. (7.5), last line.
struct embedding_gradients {
    xt::xtensor<double, 2> dL_dw_e;  // dL/dW_E (vocab, d)
    xt::xtensor<double, 2> dL_dw_p;  // dL/dW_P (n_max, d)
};

// Exercise 7.6. X^(0)_i = W_E[t_i] + W_P[i] (Eq. (7.2)). Given the tokens
// t (n,), the gradient dL_dx0 = dL/dX^(0) (n, d), the vocabulary size and
// n_max (the rows of W_P), return dL/dW_E and dL/dW_P: row v of dL/dW_E
// is the sum of the rows i of dL_dx0 whose token t_i is v; row i of
// dL/dW_P is row i of dL_dx0 for i < n, and zero for n <= i < n_max.
// Throw std::invalid_argument if a token is >= vocab, if n > n_max or if
// dL_dx0 does not have one row per token.
inline embedding_gradients embedding_backward(
    const std::vector<std::size_t>& tokens,
    const xt::xtensor<double, 2>& dL_dx0, std::size_t vocab,
    std::size_t n_max)
{
    (void)tokens;
    const std::size_t d = dL_dx0.shape()[1];
    return {xt::zeros<double>({vocab, d}),
            xt::zeros<double>({n_max, d})};  // replace this line
}

// Exercise 7.7. Attention rollout, Eq. (7.9): `layers[l]` holds layer l's
// weights (H, n, n), first layer first. For each layer take the mean over
// its H heads, A-bar (n, n), mix it with the identity,
// A-hat = A-bar / 2 + I / 2, and return the product
// A-hat_{L-1} ... A-hat_1 A-hat_0 (n, n) (the LAST layer on the left).
// Throw std::invalid_argument for an empty list.
inline xt::xtensor<double, 2> rollout(
    const std::vector<xt::xtensor<double, 3>>& layers)
{
    if (layers.empty()) {
        return {};
    }
    const std::size_t n = layers[0].shape()[1];
    return xt::zeros<double>({n, n});  // replace this line
}

// Exercise 7.8. The induction score of one head, Eq. (7.6): `a` is its
// weights (n, n) on a sequence of the repeat task whose last r tokens
// repeat the r before them. Return the mean, over the repeated positions
// i = n - r .. n - 2, of a(i, i - r + 1): the weight on the token that
// followed the earlier occurrence of t_i. Throw std::invalid_argument
// unless 2 <= r <= n / 2 and a is square.
inline double induction_score(const xt::xtensor<double, 2>& a, std::size_t r)
{
    (void)a;
    (void)r;
    return -1.0;  // replace this line
}

}  // namespace exercise

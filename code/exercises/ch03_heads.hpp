// Exercises of chapter 3 (coding). Edit the bodies below, then grade them:
//     sh code/tools/grade_exercises.sh ch03
// Each function says what it must compute and the shapes. The bodies
// here compile but do not solve the exercise yet, so their graders fail.
#pragma once

#include <cstddef>
#include <stdexcept>

#include <xtensor/xtensor.hpp>

namespace exercise {

// Exercise 3.6. Split a projected Q, K or V m (n, d_model) into H heads,
// as copies: head h owns the columns [h d_k, (h+1) d_k) with
// d_k = d_model / H, so that
//     t(h, i, c) = m(i, h d_k + c),    t of shape (H, n, d_k).
// Throw std::invalid_argument if H is 0 or does not divide d_model.
inline xt::xtensor<double, 3> split_heads(const xt::xtensor<double, 2>& m,
                                          std::size_t H)
{
    const std::size_t n = m.shape()[0];
    const std::size_t d_k = H == 0 ? 0 : m.shape()[1] / H;
    return xt::zeros<double>({H, n, d_k});  // replace this line
}

// Exercise 3.6 (continued). The inverse, the concatenation of Eq. (3.3):
// put the H head outputs t (H, n, d_k) side by side, head h in columns
// [h d_k, (h+1) d_k) of the result, of shape (n, H d_k).
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

}  // namespace exercise

// Chapter 0's playground, "ch00-lookup": the soft look-up of Eq. (0.2) for
// one query against chapter 0's four keys and values, with the scores
// multiplied by a sharpness beta before the softmax (Figure 0.1's beta;
// the temperature is 1/beta), and the naive softmax beside the stable one.
//
// Inputs:  q (2,)  the query;  beta (1,) in [0.01, 10000]
// Outputs: s (4,)  scores beta q.k_j / sqrt(2)
//          a (4,)  weights, the library's softmax_rows (Eq. 0.1, stable)
//          y (1,)  the output a V
//          a_naive (4,) the naive softmax (NaN once exp overflows)
//          top (1,)    the weight of the best key
#pragma once

#include <xtensor-blas/xlinalg.hpp>

#include "attention/attend.hpp"
#include "attention/softmax.hpp"
#include "web/playground.hpp"

namespace web::ch00 {

inline outputs lookup(const inputs& in)
{
    // Chapter 0's example (code/ch00_introduction.cpp, ch00-lookup-example).
    const attn::matrix keys = {{1.0, 0.0}, {0.0, 1.0}, {-1.0, 0.0},
                               {0.0, -1.0}};
    const attn::matrix values = {{10.0}, {20.0}, {30.0}, {40.0}};
    const attn::matrix q = in.matrix("q", 1, 2);
    const double beta = in.number("beta", 0.01, 10000.0);

    const attn::matrix s = beta * attn::attend(q, keys, values).s;  // (1, 4)
    const attn::matrix a = attn::softmax_rows(s);
    const attn::matrix y = xt::linalg::dot(a, values);              // (1, 1)
    outputs out;
    out.add_tensor("s", s);
    out.add_tensor("a", a);
    out.add_tensor("y", y);
    out.add_tensor("a_naive", attn::softmax_rows_naive(s));
    out.add_number("top", xt::amax(a)());
    return out;
}

inline const define lookup_playground{"ch00-lookup", lookup};

}  // namespace web::ch00

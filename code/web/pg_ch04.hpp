// Chapter 4's playground, "ch04-masks": masked attention, Eq. (4.5), of
// n_q queries over n_k = 6 keys with any mask. The tokens and the
// projections are drawn once from a fixed seed with attn::rng (d = 4):
// one sequence of 6 tokens (the encoder's, or the decoder's own) and a
// second sequence of 6 decoder tokens. In self-attention the queries are
// the last n_q tokens of the one sequence (the causal mask's alignment,
// Eq. 4.2); in cross-attention they are the first n_q decoder tokens, and
// the keys and values come from the other sequence.
//
// Inputs:  n_q (1,) whole in [1, 6];  cross (1,) 0 = self-attention,
//          1 = cross-attention;  pad (1,) padding keys at the end, in
//          [0, 6];  mask (n_q, 6) nonzero = may attend
// Outputs: a      (n_q, 6)  the weights of masked_attend, Eq. (4.5)
//          y      (n_q, 4)  the outputs A V
//          row_sum (n_q,)   each row's sum of weights (1, or 0 for a
//                           fully masked row)
//          causal, padding, causal_padding (n_q, 6): the library's masks
//          for these sizes (Eqs. 4.2, 4.3, 4.4), for the page's presets
#pragma once

#include <cmath>
#include <cstddef>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/masking.hpp"
#include "attention/random.hpp"
#include "web/playground.hpp"

namespace web::ch04 {

inline attn::matrix as_numbers(const attn::mask_matrix& m)
{
    return xt::cast<double>(m);
}

inline outputs masks(const inputs& in)
{
    const std::size_t n_k = 6, d = 4;
    const std::size_t n_q = in.whole("n_q", 1, n_k);
    const bool cross = in.whole("cross", 0, 1) == 1;
    const std::size_t pad = in.whole("pad", 0, n_k);
    const attn::mask_matrix m = in.mask("mask", n_q, n_k);

    attn::rng random(4);
    const attn::matrix x = attn::normal_matrix(n_k, d, random);      // (6, d)
    const attn::matrix x_dec = attn::normal_matrix(n_k, d, random);  // (6, d)
    const double scale = 1.0 / std::sqrt(double(d));
    const attn::matrix w_q = attn::normal_matrix(d, d, random, scale);
    const attn::matrix w_k = attn::normal_matrix(d, d, random, scale);
    const attn::matrix w_v = attn::normal_matrix(d, d, random, scale);
    const attn::matrix x_q =
        cross ? attn::matrix(xt::view(x_dec, xt::range(0, n_q), xt::all()))
              : attn::matrix(
                    xt::view(x, xt::range(n_k - n_q, n_k), xt::all()));
    const attn::matrix q = xt::linalg::dot(x_q, w_q);  // (n_q, d)
    const attn::matrix k = xt::linalg::dot(x, w_k);    // (n_k, d)
    const attn::matrix v = xt::linalg::dot(x, w_v);    // (n_k, d)
    const auto r = attn::masked_attend(q, k, v, m);

    const attn::mask_matrix causal = attn::causal_mask(n_q, n_k);
    const attn::mask_matrix padding = attn::padding_mask(n_q, n_k, n_k - pad);
    outputs out;
    out.add_tensor("a", r.a);
    out.add_tensor("y", r.y);
    out.add_tensor("row_sum", attn::vector(xt::sum(r.a, {1})));
    out.add_tensor("causal", as_numbers(causal));
    out.add_tensor("padding", as_numbers(padding));
    out.add_tensor("causal_padding",
                   as_numbers(attn::mask_and(causal, padding)));
    return out;
}

inline const define masks_playground{"ch04-masks", masks};

}  // namespace web::ch04

// Chapter 3's playgrounds, "ch03-heads" and "ch03-gates": one random
// multi-head attention layer of n = 4 tokens and d_model = 8, drawn from a
// seed with attn::rng the way ch03_multi_head draws its random layer
// (X normal, the four projections normal with standard deviation
// 1/sqrt(d_model), b_o normal), run by the library's multi_head_attention
// with H heads and the head gates xi of Eq. (3.7).
//
// Inputs:  seed (1,) whole in [0, 999];  heads (1,) H, dividing 8 (the
//          library checks);  xi (H,) the gates, each in [0, 1]
// Outputs: a      (H, n, n)  each head's weights A^h, Eq. (3.2)
//          heads  (n, 8)     Y_cat, the gated head outputs side by side,
//                            Eq. (3.3)
//          y      (n, 8)     the output Y~ with the gates, Eq. (3.7)
//          y_on   (n, 8)     the output with every gate 1, Eq. (3.4)
//          change (n, 8)     y - y_on
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include <xtensor/xview.hpp>

#include "attention/multi_head.hpp"
#include "attention/random.hpp"
#include "web/playground.hpp"

namespace web::ch03 {

inline outputs layer(const inputs& in)
{
    const std::size_t n = 4, d_model = 8;
    const std::size_t seed = in.whole("seed", 0, 999);
    const std::size_t heads = in.whole("heads", 1, d_model);
    const attn::matrix xi_row = in.matrix("xi", 1, heads);
    for (double g : xi_row) {
        if (g < 0.0 || g > 1.0) {
            throw input_error("input 'xi': expected gates in [0, 1], got "
                              + std::to_string(g));
        }
    }
    const attn::vector xi = xt::view(xi_row, 0, xt::all());

    // The random layer, as ch03_multi_head's identities_demo draws it.
    attn::rng random(static_cast<std::uint64_t>(seed));
    const attn::matrix x = attn::normal_matrix(n, d_model, random);
    const attn::multi_head_weights w =
        attn::random_multi_head_weights(d_model, random);

    const auto r = attn::multi_head_attention(x, x, w, heads, {}, xi);
    const auto on = attn::multi_head_attention(x, x, w, heads);
    outputs out;
    out.add_tensor("a", r.a);
    out.add_tensor("heads", r.heads);
    out.add_tensor("y", r.y);
    out.add_tensor("y_on", on.y);
    out.add_tensor("change", attn::matrix(r.y - on.y));
    return out;
}

inline const define heads_playground{"ch03-heads", layer};
inline const define gates_playground{"ch03-gates", layer};

}  // namespace web::ch03

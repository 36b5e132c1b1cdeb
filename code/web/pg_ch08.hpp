// Chapter 8's playground, "ch08-rope": the relative property of rotary
// position embeddings, Eq. (8.2). A query q and a key k, drawn from
// N(0, 1) for a seed, are rotated by the library's rope_interleaved
// (Eq. 8.1) to positions i + s and j + s; their score q~ k~^T does not
// change with the shift s, and changes with i - j.
//
// Inputs:  d (1,)      the width d_k, even, 2 to 8
//          seed (1,)   the seed of q and k
//          i, j (1,)   the positions of the query and the key, 0 to 7
//          shift (1,)  s, added to both positions, 0 to 1000
// Outputs: q, k (d,)   the query and the key before rotation
//          q_rot (d,)  q rotated to position i + s
//          k_rot (d,)  k rotated to position j + s
//          score (1,)  q_rot . k_rot
//          score_unshifted (1,)  the same at positions i and j (s = 0)
//          S (8, 8)    the scores of q at positions s + 0..7 (rows)
//                      against k at positions s + 0..7 (columns)
#pragma once

#include <xtensor-blas/xlinalg.hpp>

#include "attention/random.hpp"
#include "attention/rotary.hpp"
#include "web/playground.hpp"

namespace web::ch08 {

inline outputs rope(const inputs& in)
{
    const std::size_t d = in.whole("d", 2, 8);
    const std::size_t seed = in.whole("seed", 0, 1000000);
    const std::size_t i = in.whole("i", 0, 7);
    const std::size_t j = in.whole("j", 0, 7);
    const std::size_t s = in.whole("shift", 0, 1000);
    attn::rng g(seed);
    const attn::matrix q = attn::normal_matrix(1, d, g);           // (1, d)
    const attn::matrix k = attn::normal_matrix(1, d, g);           // (1, d)

    // Eq. (8.1) at positions i + s and j + s, then the score of Eq. (8.2).
    const attn::matrix q_rot = attn::rope_interleaved(q, i + s);   // (1, d)
    const attn::matrix k_rot = attn::rope_interleaved(k, j + s);   // (1, d)
    const attn::matrix score =
        xt::linalg::dot(q_rot, xt::transpose(k_rot));              // (1, 1)
    const attn::matrix score_unshifted = xt::linalg::dot(
        attn::rope_interleaved(q, i),
        xt::transpose(attn::rope_interleaved(k, j)));              // (1, 1)

    // Every pair of positions s + 0..7: row r of q_rows sits at s + r.
    const std::size_t n = 8;
    const attn::matrix q_rows = attn::rope_interleaved(
        xt::repeat(q, n, 0), s);                                   // (8, d)
    const attn::matrix k_rows = attn::rope_interleaved(
        xt::repeat(k, n, 0), s);                                   // (8, d)
    const attn::matrix all =
        xt::linalg::dot(q_rows, xt::transpose(k_rows));            // (8, 8)

    outputs out;
    out.add_tensor("q", q);
    out.add_tensor("k", k);
    out.add_tensor("q_rot", q_rot);
    out.add_tensor("k_rot", k_rot);
    out.add_number("score", score(0, 0));
    out.add_number("score_unshifted", score_unshifted(0, 0));
    out.add_tensor("S", all);
    return out;
}

inline const define rope_playground{"ch08-rope", rope};

}  // namespace web::ch08

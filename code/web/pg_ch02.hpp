// Chapter 2's playgrounds.
//
// "ch02-sentence": self-attention (Eqs. 2.1 to 2.3) on a sentence of up to
// 8 words of the chapter's hand-made kinds (attn::sentence in
// self_attention.hpp: one-hot x_t, W_k = W_v = I), with a choice of W_q
// and with or without the scale 1/sqrt(d_k).
//
// Inputs:  kinds (n,) n in 1..8, each a kind 0..7 (animal, thing, det,
//          verb, pron, prep, conj, adj: the program's order)
//          preset (1,) 0: the chapter's W_q (its rules), 1: each word
//          looks for its own kind (W_q = c I), 2: W_q = 0
//          scale (1,) 1: divide the scores by sqrt(d_k), 0: do not
// Outputs: s (n, n) the scores that enter the softmax
//          a (n, n) the weights, softmax over each row
//
// "ch02-saturation": the softmax of the scores of random queries against
// 8 random keys, entries i.i.d. standard normal (attn::rng), as the width
// d_k grows, with and without the scale (Eq. 2.7's measurements, small).
//
// Inputs:  d_k (1,) in 1..1024;  seed (1,) in 1..1000;  scale (1,) 0 or 1
// Outputs: s (4, 8), a (4, 8)   scores and weights of 4 queries at d_k
//          max_w (4,), entropy (4,)  each row's largest weight and entropy
//          sweep_d (11,)  d_k = 1, 2, 4, ..., 1024
//          sweep_max_raw, sweep_max_scaled, sweep_entropy_raw,
//          sweep_entropy_scaled (11,)  their means over 64 queries (the
//          first 4 are the map's), unscaled and scaled
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <xtensor/xview.hpp>

#include "attention/additive.hpp"
#include "attention/random.hpp"
#include "attention/self_attention.hpp"
#include "attention/softmax.hpp"
#include "web/playground.hpp"

namespace web::ch02 {

using attn::sentence::d_model;

// The W_q presets: 0 the chapter's (attn::sentence::w_q), 1 "each word
// looks for its own kind" (c I, with the chapter's c = 3 sqrt(d_k)),
// 2 W_q = 0.
inline attn::matrix preset_w_q(std::size_t preset)
{
    const double c = 3.0 * std::sqrt(double(d_model));
    if (preset == 0) {
        return attn::sentence::w_q();
    }
    if (preset == 1) {
        return c * xt::eye<double>(std::size_t(d_model));
    }
    return xt::zeros<double>({std::size_t(d_model), std::size_t(d_model)});
}

inline outputs sentence(const inputs& in)
{
    const auto& kinds = in.get("kinds");
    if (kinds.empty() || kinds.size() > 8) {
        throw input_error("input 'kinds': expected 1 to 8 words, got "
                          + std::to_string(kinds.size()));
    }
    std::vector<attn::sentence::feature> features;
    for (const double k : kinds) {
        if (!(k >= 0 && k < d_model) || k != std::floor(k)) {
            throw input_error("input 'kinds': expected kinds 0 to 7");
        }
        features.push_back(attn::sentence::feature(int(k)));
    }
    const attn::matrix x = attn::sentence::embed(features);   // (n, 8)
    const std::size_t preset = in.whole("preset", 0, 2);
    const bool scale = in.whole("scale", 0, 1) == 1;
    const attn::matrix eye = xt::eye<double>(std::size_t(d_model));
    const auto r = attn::self_attention(x, preset_w_q(preset), eye, eye);
    outputs out;
    if (scale) {
        out.add_tensor("s", r.s);
        out.add_tensor("a", r.a);
    } else {
        // The same scores without the scale, as the program's "it" line.
        const attn::matrix s = r.s * std::sqrt(double(d_model));
        out.add_tensor("s", s);
        out.add_tensor("a", attn::softmax_rows(s));
    }
    return out;
}

inline const define sentence_playground{"ch02-sentence", sentence};

// Scores of n_q random queries against n_k = 8 random keys of width d_k,
// drawn from attn::rng(seed): the keys first, then the queries row by
// row, so that the first 4 queries are the same for any n_q.
inline attn::matrix random_scores(std::size_t d_k, std::uint64_t seed,
                                  bool scale, std::size_t n_q)
{
    attn::rng r(seed);
    const attn::matrix k = attn::normal_matrix(8, d_k, r);      // (8, d_k)
    const attn::matrix q = attn::normal_matrix(n_q, d_k, r);    // (n_q, d_k)
    return scale ? attn::scaled_dot_scores(q, k) : attn::dot_scores(q, k);
}

inline outputs saturation(const inputs& in)
{
    const std::size_t d_k = in.whole("d_k", 1, 1024);
    const std::uint64_t seed = in.whole("seed", 1, 1000);
    const bool scale = in.whole("scale", 0, 1) == 1;
    const attn::matrix s = random_scores(d_k, seed, scale, 4);  // (4, 8)
    std::vector<double> max_w, entropy;
    for (std::size_t i = 0; i < s.shape()[0]; ++i) {
        const attn::matrix row = xt::view(s, xt::range(i, i + 1), xt::all());
        const auto m = attn::measure_saturation(row);
        max_w.push_back(m.max_weight);
        entropy.push_back(m.entropy);
    }
    // The sweep averages over more queries than the map shows (its first
    // 4 are the map's), so that the trend stands out of the noise.
    const std::size_t sweep_queries = 64;
    std::vector<double> d, max_raw, max_scaled, ent_raw, ent_scaled;
    for (std::size_t w = 1; w <= 1024; w *= 2) {
        const auto raw = attn::measure_saturation(
            random_scores(w, seed, false, sweep_queries));
        const auto scaled = attn::measure_saturation(
            random_scores(w, seed, true, sweep_queries));
        d.push_back(double(w));
        max_raw.push_back(raw.max_weight);
        max_scaled.push_back(scaled.max_weight);
        ent_raw.push_back(raw.entropy);
        ent_scaled.push_back(scaled.entropy);
    }
    outputs out;
    out.add_tensor("s", s);
    out.add_tensor("a", attn::softmax_rows(s));
    out.add("max_w", max_w);
    out.add("entropy", entropy);
    out.add("sweep_d", d);
    out.add("sweep_max_raw", max_raw);
    out.add("sweep_max_scaled", max_scaled);
    out.add("sweep_entropy_raw", ent_raw);
    out.add("sweep_entropy_scaled", ent_scaled);
    return out;
}

inline const define saturation_playground{"ch02-saturation", saturation};

}  // namespace web::ch02

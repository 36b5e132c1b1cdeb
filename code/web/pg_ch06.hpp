// Chapter 6's playground, "ch06-online-softmax": one query against n keys,
// folded in block by block with the library's online-softmax step
// (attn::online_softmax_update, Eqs. 6.2 and 6.3), stopped after `step`
// blocks; after the last block, o / l (attn::online_softmax_finish,
// Eq. 6.4) beside ordinary softmax attention on all keys at once
// (attn::attend, Eq. 0.2).
//
// The query, keys and values are drawn with attn::rng from `seed`: q (1, 4)
// with standard deviation `scale` (so the scores spread with it), then
// 16 keys (16, 4) and 16 values (16, 1), of which the first n are used, so
// that a larger n only adds keys.
//
// Inputs:  seed (1,) whole in [0, 999];  n (1,) whole in [1, 16];
//          block (1,) keys per block, whole in [1, 16];
//          step (1,) blocks folded in, whole in [0, T], T = ceil(n / block);
//          scale (1,) in [0.01, 1000]
// Outputs: s (n,) scores q k_j / sqrt(4);  v (n,) values;
//          a (n,) weights softmax(s) of attn::attend;  blocks (1,) T;
//          m, rho, l, o (step,) the state after each block 1..step:
//          running maximum, rescaling factor e^(m_old - m_new), running
//          sum, running unnormalised output;
//          y_t (1,) o / l after `step` blocks (0 before any block);
//          y_direct (1,) ordinary softmax attention sum_j a_j v_j
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <xtensor/xview.hpp>

#include "attention/attend.hpp"
#include "attention/random.hpp"
#include "attention/scale.hpp"
#include "web/playground.hpp"

namespace web::ch06 {

inline outputs online_softmax(const inputs& in)
{
    const std::size_t max_keys = 16, d_k = 4;
    const std::size_t seed = in.whole("seed", 0, 999);
    const std::size_t n = in.whole("n", 1, max_keys);
    const std::size_t block = in.whole("block", 1, max_keys);
    const std::size_t blocks = (n + block - 1) / block;        // T
    const std::size_t step = in.whole("step", 0, blocks);
    const double scale = in.number("scale", 0.01, 1000.0);

    attn::rng r(seed);
    const attn::matrix q = attn::normal_matrix(1, d_k, r, scale);  // (1, 4)
    const attn::matrix k_all = attn::normal_matrix(max_keys, d_k, r);
    const attn::matrix v_all = attn::normal_matrix(max_keys, 1, r);
    const attn::matrix k = xt::view(k_all, xt::range(0, n), xt::all());
    const attn::matrix v = xt::view(v_all, xt::range(0, n), xt::all());

    // Ordinary softmax attention over all n keys at once, Eq. (0.2).
    const attn::attention_result direct = attn::attend(q, k, v);

    // The online softmax, one block of keys at a time, Eqs. (6.2), (6.3).
    auto state = attn::online_softmax_start(1, 1);
    std::vector<double> m, rho, l, o, y;
    for (std::size_t t = 0; t < step; ++t) {
        const std::size_t j0 = t * block, j1 = std::min(n, j0 + block);
        const attn::matrix s_b = xt::view(direct.s, xt::all(),
                                          xt::range(j0, j1));
        const attn::matrix v_b = xt::view(v, xt::range(j0, j1), xt::all());
        const double m_old = state.m(0);
        attn::online_softmax_update(state, s_b, v_b);
        m.push_back(state.m(0));
        rho.push_back(std::exp(m_old - state.m(0)));
        l.push_back(state.l(0));
        o.push_back(state.o(0, 0));
        y.push_back(attn::online_softmax_finish(state)(0, 0));  // (6.4)
    }

    outputs out;
    out.add_tensor("s", direct.s);
    out.add_tensor("v", v);
    out.add_tensor("a", direct.a);
    out.add_number("blocks", double(blocks));
    out.add("m", m);
    out.add("rho", rho);
    out.add("l", l);
    out.add("o", o);
    out.add("y", y);
    out.add_number("y_t", attn::online_softmax_finish(state)(0, 0));  // (6.4)
    out.add_number("y_direct", direct.y(0, 0));
    return out;
}

inline const define online_softmax_playground{"ch06-online-softmax",
                                              online_softmax};

}  // namespace web::ch06

// Chapter 1's playgrounds.
//
// "ch01-additive": Bahdanau attention, Eqs. (1.2) to (1.4), for one decoder
// state q_{i-1} against the six annotations of the chapter's random
// encoder example (attn::random_encoder_example(1), as the program draws it):
// either one of the program's four random decoder states or the reader's.
//
// Inputs:  row (1,) in 0..4: the decoder state q_{i-1} of target word
//          i = row, or, for 4, the reader's own state q
//          q (3,)   the reader's own decoder state (d_h = 3)
// Outputs: q_used (3,) the decoder state scored
//          e (6,)  energies e_ij = v_a^T tanh(W_a q_{i-1} + U_a h_j)
//          a (6,)  weights a_ij, the softmax of the energies (Eq. 1.3)
//          c (6,)  the context c_i = sum_j a_ij h_j (Eq. 1.4)
//
// "ch01-alignment": the trained model of the reversal task (the chapter's
// training run; ch01_bahdanau writes its parameters as pg_ch01_*.npy and
// the page sends them back) on a source sequence the reader types.
//
// Inputs:  x (8,)  the source tokens, each in [0, |V|) (a = 0, ..., h = 7)
//          W_a (d_a, 8), U_a (d_a, 16), v_a (d_a,), W_r (8, 16), b_r (8,)
//          the trained parameters; E (8, 8) the token embeddings
// Outputs: a (8, 8)  the weights a_ij, target position i by source j
//          y (8,)    the token each target position outputs (argmax p_i)
//          aligned (1,) the number of rows whose largest weight is on
//                    the right source position T - 1 - i
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "attention/additive.hpp"
#include "attention/alignment_toy.hpp"
#include "attention/random.hpp"
#include "web/playground.hpp"

namespace web::ch01 {

inline outputs additive(const inputs& in)
{
    static const attn::encoder_example ex = attn::random_encoder_example(1);
    const std::size_t row = in.whole("row", 0, 4);
    attn::matrix q = in.matrix("q", 1, 3);
    if (row < ex.q_prev.shape()[0]) {
        q = xt::view(ex.q_prev, xt::range(row, row + 1), xt::all());
    }
    const auto r = attn::bahdanau_attention(q, ex.h, ex.W_a, ex.U_a, ex.v_a);
    outputs out;
    out.add_tensor("q_used", q);
    out.add_tensor("e", r.e);
    out.add_tensor("a", r.a);
    out.add_tensor("c", r.c);
    return out;
}

inline const define additive_playground{"ch01-additive", additive};

inline outputs alignment(const inputs& in)
{
    const std::size_t T = 8, vocab_size = 8;
    const std::size_t d_a = in.get("v_a").size();
    if (d_a < 1 || d_a > 64) {
        throw input_error("input 'v_a': expected 1 to 64 numbers, got "
                          + std::to_string(d_a));
    }
    attn::alignment_model model;
    model.W_a = in.matrix("W_a", d_a, T);
    model.U_a = in.matrix("U_a", d_a, 2 * T);
    model.v_a = xt::row(in.matrix("v_a", 1, d_a), 0);
    model.W_r = in.matrix("W_r", vocab_size, 2 * T);
    model.b_r = xt::row(in.matrix("b_r", 1, vocab_size), 0);
    attn::reversal_task task = attn::make_reversal_task(T, vocab_size, 1);
    task.E = in.matrix("E", vocab_size, T);
    // The tokens as whole numbers; their count and range are the
    // library's to check (task_annotations).
    std::vector<std::size_t> x;
    for (double t : in.get("x")) {
        if (!std::isfinite(t) || t < 0 || t != std::floor(t) || t > 1e6) {
            throw input_error("input 'x': expected token numbers 0, 1, ...");
        }
        x.push_back(std::size_t(t));
    }
    const auto f = attn::alignment_forward(model, task.Q,
                                           attn::task_annotations(task, x));
    std::vector<double> y;
    double aligned = 0;
    for (std::size_t i = 0; i < T; ++i) {
        y.push_back(double(attn::detail::argmax_row(f.p, i)));
        aligned += attn::detail::argmax_row(f.a, i) == task.source_of[i];
    }
    outputs out;
    out.add_tensor("a", f.a);
    out.add("y", y);
    out.add_number("aligned", aligned);
    return out;
}

inline const define alignment_playground{"ch01-alignment", alignment};

}  // namespace web::ch01

// Chapter 5's playground, "ch05-pruning": the tiny model that chapter 5
// trained, with a gate xi_h in [0, 1] on each head's output (Eq. 5.1 with
// gates, attn::tiny_model_forward), on one sequence of the task and on the
// chapter's test set (attn::evaluate_tiny_model). Gates of 0 and 1 are the
// ablation and pruning of the chapter; values between scale a head's
// output down.
//
// The trained weights come from ch05_heads's --out run (pg_ch05_*.npy,
// packed into the page by code/tools/playground_data.py); the page sends
// them with every computation, so that the native check runs the same
// model.
//
// Inputs:  W_q, W_k, W_v, W_o (d, d);  b_o (d,);  W_u (d, 2V);  b_u (2V,)
//          the trained weights (d = 16, V = 5, H = 4, L = 9)
//          tokens (L,)  t_1 .. t_L, each a whole number below V (BOS is
//                       put in front)
//          gates (H,)   xi_h in [0, 1]
//          test_seed (1,), test_count (1,) in [1, 1000]: the test set of
//                       attn::make_heads_examples, as ch05_heads draws it
// Outputs: a (H, n, n)  each head's weights on the sequence
//          target (n,)  class c_i to name (-1 at positions 0 and 1)
//          predicted (n,) the model's most probable class
//          p_target (n,) the probability it gives c_i (0 where none)
//          loss, accuracy (1,)           on the sequence
//          test_loss, test_accuracy (1,) on the test set
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "attention/heads_task.hpp"
#include "attention/tiny_model.hpp"
#include "web/playground.hpp"

namespace web::ch05 {

// A (1, count) input as a vector (count,).
inline attn::vector row_input(const inputs& in, const std::string& name,
                              std::size_t count)
{
    const attn::matrix m = in.matrix(name, 1, count);
    return xt::row(m, 0);
}

inline outputs pruning(const inputs& in)
{
    const attn::heads_task task;  // chapter 5's sizes
    const std::size_t d = task.d_model, c = task.classes(), h = task.heads;
    attn::tiny_model m;
    m.attention.w_q = in.matrix("W_q", d, d);
    m.attention.w_k = in.matrix("W_k", d, d);
    m.attention.w_v = in.matrix("W_v", d, d);
    m.attention.w_o = in.matrix("W_o", d, d);
    m.attention.b_o = row_input(in, "b_o", d);
    m.w_u = in.matrix("W_u", d, c);
    m.b_u = row_input(in, "b_u", c);

    std::vector<std::size_t> tokens{task.vocab};  // BOS first
    for (double t : in.get("tokens", task.length)) {
        if (!(t >= 0.0 && t < double(task.vocab) && t == std::floor(t))) {
            throw input_error("input 'tokens': expected " + std::to_string(
                task.length) + " whole numbers from 0 to " + std::to_string(
                task.vocab - 1));
        }
        tokens.push_back(std::size_t(t));
    }
    const attn::heads_example e = attn::heads_example_from_tokens(task,
                                                                  tokens);
    attn::vector gates = row_input(in, "gates", h);                // (H,)
    for (double g : gates) {
        if (!(g >= 0.0 && g <= 1.0)) {
            throw input_error("input 'gates': expected numbers in [0, 1]");
        }
    }
    const auto test_seed = in.whole("test_seed", 0, 1000000000);
    const auto test_count = in.whole("test_count", 1, 1000);

    const attn::tiny_forward f = attn::tiny_model_forward(task, m, e, gates);
    std::vector<double> target, predicted, p_target;
    for (std::size_t i = 0; i < e.tokens.size(); ++i) {
        const auto row = xt::row(f.p, i);
        predicted.push_back(double(std::max_element(row.begin(), row.end())
                                   - row.begin()));
        target.push_back(e.target[i]);
        p_target.push_back(e.target[i] < 0 ? 0.0
                           : f.p(i, std::size_t(e.target[i])));
    }
    const auto test = attn::make_heads_examples(task, test_count, test_seed);
    const attn::evaluation on_test = attn::evaluate_tiny_model(task, m, test,
                                                               gates);
    outputs out;
    out.add_tensor("a", f.layer.a);
    out.add("target", target);
    out.add("predicted", predicted);
    out.add("p_target", p_target);
    out.add_number("loss", f.loss);
    out.add_number("accuracy",
                   double(f.correct) / double(std::max<std::size_t>(
                       f.scored, 1)));
    out.add_number("test_loss", on_test.loss);
    out.add_number("test_accuracy", on_test.accuracy);
    return out;
}

inline const define pruning_playground{"ch05-pruning", pruning};

}  // namespace web::ch05

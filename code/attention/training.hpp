// Training chapter 5's tiny model: Adam steps on the mean gradient of
// batches of fresh random sequences, none of which is a sequence of the
// held-out set, with progress reported along the way.
//
// Glossary:
//   steps   Adam steps taken; batch  sequences per step
//   lr      Adam's step size alpha
//   seed    seed of the initial weights and of every training sequence
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include "attention/heads_task.hpp"
#include "attention/tiny_model.hpp"
#include "attention/adam.hpp"

/// \file
/// \brief Training the tiny model with Adam (\ref ch05_heads).

namespace attn {

/// \brief Settings of a training run.
struct training_options {
    std::size_t steps = 600;       ///< Adam steps
    std::size_t batch = 32;        ///< sequences per step
    double lr = 0.01;              ///< Adam's step size
    std::size_t report_every = 50; ///< steps between progress reports
    std::uint64_t seed = 1;        ///< seed of the weights and the data
};

/// \brief One progress report of a training run.
struct training_report {
    std::size_t step = 0;      ///< steps done
    double loss = 0.0;         ///< mean loss over the last reported steps
    double accuracy = 0.0;     ///< share of positions right, same steps
};

namespace detail {

inline void expect_training_options(const std::string& where,
                                    const heads_task& task,
                                    const training_options& options)
{
    expect_task(where, task);
    if (options.batch == 0 || options.report_every == 0
        || !(options.lr > 0.0) || !std::isfinite(options.lr)) {
        throw std::invalid_argument(
            where + ": expected batch >= 1, report_every >= 1 and a finite "
            "lr > 0, got batch = " + std::to_string(options.batch)
            + ", report_every = " + std::to_string(options.report_every)
            + ", lr = " + std::to_string(options.lr));
    }
}

// sum += g, weight by weight.
inline void add_gradients(tiny_gradients& sum, const tiny_gradients& g)
{
    auto& w = sum.layer.dL_dw;
    w.w_q += g.layer.dL_dw.w_q;
    w.w_k += g.layer.dL_dw.w_k;
    w.w_v += g.layer.dL_dw.w_v;
    w.w_o += g.layer.dL_dw.w_o;
    w.b_o += g.layer.dL_dw.b_o;
    sum.dL_dw_u += g.dL_dw_u;
    sum.dL_db_u += g.dL_db_u;
}

// g *= factor, weight by weight.
inline void scale_gradients(tiny_gradients& g, double factor)
{
    for (auto* t : {&g.layer.dL_dw.w_q, &g.layer.dL_dw.w_k,
                    &g.layer.dL_dw.w_v, &g.layer.dL_dw.w_o, &g.dL_dw_u}) {
        *t *= factor;
    }
    g.layer.dL_dw.b_o *= factor;
    g.dL_db_u *= factor;
}

}  // namespace detail

// [ch05-train]
/// \brief Trains a tiny model with Adam on fresh random sequences.
/// \param task     the sizes
/// \param options  steps, batch, step size, seed
/// \param progress called with each report and the model so far (may be
///        empty)
/// \return the trained model
inline tiny_model train_tiny_model(
    const heads_task& task, const training_options& options,
    const std::function<void(const training_report&, const tiny_model&)>&
        progress = {})
{
    detail::expect_training_options("train_tiny_model", task, options);
    tiny_model m = init_tiny_model(task, options.seed);
    adam_state s;
    s.m = zeros_like(m);
    s.v = zeros_like(m);
    s.lr = options.lr;
    double loss_sum = 0.0;
    std::size_t correct = 0, scored = 0;
    for (std::size_t step = 1; step <= options.steps; ++step) {
        tiny_gradients sum;
        for (std::size_t b = 0; b < options.batch; ++b) {
            // Sequence seeds never repeat, and never meet the test set's.
            const auto e = make_heads_example(
                task, detail::sequence_seed(options.seed, 0,
                                            step * options.batch + b));
            const auto f = tiny_model_forward(task, m, e);
            const auto g = tiny_model_backward(task, m, e, f);
            if (b == 0) {
                sum = g;
            } else {
                detail::add_gradients(sum, g);
            }
            loss_sum += f.loss;
            correct += f.correct;
            scored += f.scored;
        }
        // The batch's mean gradient, then one step of Eq. (5.8).
        detail::scale_gradients(sum, 1.0 / double(options.batch));
        adam_step(m, sum, s);
        if (progress && (step % options.report_every == 0
                         || step == options.steps)) {
            const std::size_t since = step % options.report_every
                                          ? step % options.report_every
                                          : options.report_every;
            progress({step, loss_sum / double(since * options.batch),
                      double(correct) / double(std::max<std::size_t>(
                                            scored, 1))},
                     m);
            loss_sum = 0.0;
            correct = scored = 0;
        }
    }
    return m;
}
// [ch05-train]

}  // namespace attn

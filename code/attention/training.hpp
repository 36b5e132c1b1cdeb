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

// sum += g, weight by weight; the first of a batch (b = 0) is copied.
inline void add_gradients(tiny_gradients& sum, const tiny_gradients& g,
                          std::size_t b)
{
    if (b == 0) {
        sum = g;
        return;
    }
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

/// \brief Sequence `b` of the batch of training step `step`: the same
///        sequence on every machine for a seed, never one of the test set.
/// \param task    the sizes
/// \param options the run's settings (its seed and batch size)
/// \param step    the step, from 1
/// \param b       the sequence's place in the batch, below `batch`
/// \return the sequence and its targets
inline heads_example training_example(const heads_task& task,
                                      const training_options& options,
                                      std::size_t step, std::size_t b)
{
    // Sequence seeds never repeat, and never meet the test set's.
    return make_heads_example(
        task, detail::sequence_seed(options.seed, 0,
                                    step * options.batch + b));
}

namespace detail {

// Loss and hits on the training batches since the last report: measured
// by each step's forward pass, with the weights before that step's update.
struct training_tally {
    double loss_sum = 0.0;
    std::size_t sequences = 0, correct = 0, scored = 0;

    void add(const tiny_forward& f)
    {
        loss_sum += f.loss;
        sequences += 1;
        correct += f.correct;
        scored += f.scored;
    }
    // The report for `step`, and a fresh start for the next one.
    training_report take(std::size_t step)
    {
        const training_report r{
            step, loss_sum / double(sequences),
            double(correct) / double(std::max<std::size_t>(scored, 1))};
        *this = training_tally{};
        return r;
    }
};

}  // namespace detail

/// \brief Trains a tiny model with Adam on fresh random sequences of
///        `task`, as `options` says.
/// \param task     the task whose sequences it trains on
/// \param options  steps, batch, learning rate, seed and report interval
/// \param progress called (unless empty) with each report and the model so
///                 far
/// \return the trained model
/// \throws std::invalid_argument on options the task cannot train with
// [ch05-train]
inline tiny_model train_tiny_model(
    const heads_task& task, const training_options& options,
    const std::function<void(const training_report&, const tiny_model&)>&
        progress = {})
{
    detail::expect_training_options("train_tiny_model", task, options);
    tiny_model m = init_tiny_model(task, options.seed);
    adam_state s = adam_start(m, options.lr);
    detail::training_tally tally;  // loss and hits since the last report
    for (std::size_t step = 1; step <= options.steps; ++step) {
        tiny_gradients sum;
        for (std::size_t b = 0; b < options.batch; ++b) {
            const auto e = training_example(task, options, step, b);
            const auto f = tiny_model_forward(task, m, e);
            detail::add_gradients(sum, tiny_model_backward(task, m, e, f), b);
            tally.add(f);
        }
        // The batch's mean gradient, then one step of Eq. (5.8).
        detail::scale_gradients(sum, 1.0 / double(options.batch));
        adam_step(m, sum, s);
        if (progress && (step % options.report_every == 0
                         || step == options.steps)) {
            progress(tally.take(step), m);
        }
    }
    return m;
}
// [ch05-train]

}  // namespace attn

// Training chapter 7's decoder model on the repeat task with chapter 5's
// Adam, and measuring it: the loss on fresh and on repeated positions,
// and each head's previous-token and induction scores.
//
// Glossary:
//   steps, batch   Adam steps, sequences per step
//   lr             Adam's step size alpha
//   seed           seed of the initial weights and of every sequence
//   fresh loss     mean cross-entropy where the next token is random
//                  (cannot fall below ln |V|)
//   repeated loss  mean cross-entropy where it is a copy (can approach 0)
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention/core.hpp"
#include "attention/adam.hpp"
#include "attention/heads_task.hpp"
#include "attention/induction_task.hpp"
#include "attention/decoder_model.hpp"

/// \file
/// \brief Training the decoder model on the repeat task with Adam, and its
///        losses and head scores (\ref ch07_layers).

namespace attn {

/// \brief A model of zeros shaped like `m`, for Adam's moments.
/// \param m a model
/// \return zeros of the same shapes
inline decoder_model zeros_like(const decoder_model& m)
{
    decoder_model zero;
    zero.w_e = xt::zeros_like(m.w_e);
    zero.w_p = xt::zeros_like(m.w_p);
    for (const auto& w : m.layers) {
        zero.layers.push_back({xt::zeros_like(w.w_q), xt::zeros_like(w.w_k),
                               xt::zeros_like(w.w_v), xt::zeros_like(w.w_o),
                               xt::zeros_like(w.b_o)});
    }
    zero.w_u = xt::zeros_like(m.w_u);
    return zero;
}

/// \brief Adam's moments for every weight of a decoder model, and its
///        constants and step count (chapter 5's `adam_state`, whose own
///        moments stay empty).
struct decoder_adam {
    decoder_model m;    ///< first moments
    decoder_model v;    ///< second moments
    adam_state s;       ///< t, lr, beta1, beta2, eps
};

/// \brief One Adam step, Eq. (5.8), on every weight of the model.
/// \param m   the model, updated
/// \param g   the gradient, averaged over a batch
/// \param opt Adam's state, updated
inline void adam_step(decoder_model& m, const decoder_gradients& g,
                      decoder_adam& opt)
{
    opt.s.t += 1;
    adam_update(m.w_e, g.dL_dw_e, opt.m.w_e, opt.v.w_e, opt.s);
    adam_update(m.w_p, g.dL_dw_p, opt.m.w_p, opt.v.w_p, opt.s);
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        auto& w = m.layers[l];
        const auto& dw = g.layers[l].dL_dw;
        auto& mw = opt.m.layers[l];
        auto& vw = opt.v.layers[l];
        adam_update(w.w_q, dw.w_q, mw.w_q, vw.w_q, opt.s);
        adam_update(w.w_k, dw.w_k, mw.w_k, vw.w_k, opt.s);
        adam_update(w.w_v, dw.w_v, mw.w_v, vw.w_v, opt.s);
        adam_update(w.w_o, dw.w_o, mw.w_o, vw.w_o, opt.s);
        adam_update(w.b_o, dw.b_o, mw.b_o, vw.b_o, opt.s);
    }
    adam_update(m.w_u, g.dL_dw_u, opt.m.w_u, opt.v.w_u, opt.s);
}

/// \brief Settings of a training run.
struct decoder_training_options {
    std::size_t steps = 1000;        ///< Adam steps
    std::size_t batch = 16;          ///< sequences per step
    double lr = 0.01;                ///< Adam's step size
    std::size_t report_every = 50;   ///< steps between progress reports
    std::uint64_t seed = 1;          ///< seed of the weights and the data
};

/// \brief Losses of a model on fresh and on repeated positions.
struct repeat_losses {
    double fresh = 0.0;     ///< mean loss where the next token is random
                            ///< (the boundary n - r - 1 excluded)
    double repeated = 0.0;  ///< mean loss where it is a copy
};

/// \brief One progress report of a training run.
struct decoder_report {
    std::size_t step = 0;   ///< steps done
    repeat_losses loss;     ///< on the training batches since the last one
};

namespace detail {

// sum += g, weight by weight; the first of a batch (b = 0) is copied.
inline void add_gradients(decoder_gradients& sum, const decoder_gradients& g,
                          std::size_t b)
{
    if (b == 0) {
        sum = g;
        return;
    }
    sum.dL_dw_e += g.dL_dw_e;
    sum.dL_dw_p += g.dL_dw_p;
    for (std::size_t l = 0; l < sum.layers.size(); ++l) {
        auto& w = sum.layers[l].dL_dw;
        const auto& gw = g.layers[l].dL_dw;
        w.w_q += gw.w_q;
        w.w_k += gw.w_k;
        w.w_v += gw.w_v;
        w.w_o += gw.w_o;
        w.b_o += gw.b_o;
    }
    sum.dL_dw_u += g.dL_dw_u;
}

// g *= factor, weight by weight.
inline void scale_gradients(decoder_gradients& g, double factor)
{
    g.dL_dw_e *= factor;
    g.dL_dw_p *= factor;
    for (auto& layer : g.layers) {
        layer.dL_dw.w_q *= factor;
        layer.dL_dw.w_k *= factor;
        layer.dL_dw.w_v *= factor;
        layer.dL_dw.w_o *= factor;
        layer.dL_dw.b_o *= factor;
    }
    g.dL_dw_u *= factor;
}

// Sums of the loss over fresh and over repeated positions, and counts
// (the boundary position n - r - 1 counts in neither).
struct repeat_tally {
    double fresh = 0.0, repeated = 0.0;
    std::size_t n_fresh = 0, n_repeated = 0;

    void add(const decoder_forward& f, const induction_example& e)
    {
        for (std::size_t i = 0; i < e.tokens.size(); ++i) {
            if (e.target[i] < 0) {
                continue;
            }
            const double l = -std::log(f.p(i, std::size_t(e.target[i])));
            if (e.repeated(i)) {
                repeated += l;
                n_repeated += 1;
            } else if (e.fresh(i)) {
                fresh += l;
                n_fresh += 1;
            }
        }
    }
    repeat_losses take()
    {
        const repeat_losses r{fresh / double(std::max<std::size_t>(n_fresh, 1)),
                              repeated
                                  / double(std::max<std::size_t>(n_repeated,
                                                                 1))};
        *this = repeat_tally{};
        return r;
    }
};

}  // namespace detail

/// \brief Sequence `k` of a stream of a run: training uses stream 0 (the
///        `b`-th sequence of step `step` is k = step * batch + b), the
///        held-out set stream 1, so that no sequence seed repeats.
/// \param task   the task
/// \param seed   the run's seed
/// \param stream 0 for training, 1 for evaluation
/// \param k      the sequence's number within its stream
/// \return the sequence
inline induction_example repeat_example(const induction_task& task,
                                        std::uint64_t seed,
                                        std::uint64_t stream, std::uint64_t k)
{
    return make_induction_example(task,
                                  detail::sequence_seed(seed, stream, k));
}

namespace detail {

// The model reads the task's tokens and sequences; the options can train.
inline void expect_decoder_training(const std::string& where,
                                    const decoder_sizes& s,
                                    const induction_task& task,
                                    const decoder_training_options& o)
{
    expect_decoder_sizes(where, s);
    expect_induction_task(where, task);
    if (s.vocab != task.vocab || s.n_max < task.length || o.batch == 0
        || o.report_every == 0 || !(o.lr > 0.0) || !std::isfinite(o.lr)) {
        throw std::invalid_argument(
            where + ": expected the model's |V| = the task's, n_max >= n, "
            "batch >= 1, report_every >= 1 and a finite lr > 0, got |V| = "
            + std::to_string(s.vocab) + " and " + std::to_string(task.vocab)
            + ", n_max = " + std::to_string(s.n_max) + ", n = "
            + std::to_string(task.length) + ", batch = "
            + std::to_string(o.batch) + ", report_every = "
            + std::to_string(o.report_every) + ", lr = "
            + std::to_string(o.lr));
    }
}

}  // namespace detail

// [ch07-train]
/// \brief Trains a decoder model on fresh sequences of the repeat task.
/// \param s        the model's sizes (n_max >= the task's n)
/// \param task     the task
/// \param options  steps, batch, step size, seed, report interval
/// \param progress called (unless empty) with each report and the model
/// \return the trained model
/// \throws std::invalid_argument if the model does not fit the task or the
///         options cannot train
inline decoder_model train_decoder_model(
    const decoder_sizes& s, const induction_task& task,
    const decoder_training_options& options,
    const std::function<void(const decoder_report&, const decoder_model&)>&
        progress = {})
{
    detail::expect_decoder_training("train_decoder_model", s, task,
                                    options);
    decoder_model m = init_decoder_model(s, options.seed);
    decoder_adam opt{zeros_like(m), zeros_like(m), {}};
    opt.s.lr = options.lr;
    detail::repeat_tally tally;
    for (std::size_t step = 1; step <= options.steps; ++step) {
        decoder_gradients sum;
        for (std::size_t b = 0; b < options.batch; ++b) {
            const auto e = repeat_example(task, options.seed, 0,
                                          step * options.batch + b);
            const auto f = decoder_model_forward(s, m, e.tokens, e.target);
            detail::add_gradients(
                sum, decoder_model_backward(s, m, e.tokens, e.target, f), b);
            tally.add(f, e);
        }
        detail::scale_gradients(sum, 1.0 / double(options.batch));
        adam_step(m, sum, opt);
        if (progress && (step % options.report_every == 0
                         || step == options.steps)) {
            progress({step, tally.take()}, m);
        }
    }
    return m;
}
// [ch07-train]

/// \brief Losses on fresh and repeated positions of held-out sequences,
///        with some heads gated off if asked.
/// \param s        the sizes
/// \param m        the model
/// \param examples the sequences
/// \param gates    one gate vector per layer (empty: all on)
/// \return the two mean losses
inline repeat_losses evaluate_repeat_losses(
    const decoder_sizes& s, const decoder_model& m,
    const std::vector<induction_example>& examples,
    const std::vector<vector>& gates = {})
{
    detail::repeat_tally tally;
    for (const auto& e : examples) {
        tally.add(decoder_model_forward(s, m, e.tokens, e.target, gates), e);
    }
    return tally.take();
}

/// \brief Mean previous-token, induction and duplicate-token scores of
///        every head of every layer over held-out sequences.
struct head_scores {
    std::vector<vector> previous;   ///< per layer `(H,)`
    std::vector<vector> induction;  ///< per layer `(H,)`
    std::vector<vector> duplicate;  ///< per layer `(H,)`
};

/// \brief The head scores of a model, averaged over sequences.
/// \param s        the sizes
/// \param m        the model
/// \param examples the sequences (at least one)
/// \return per layer, per head, both scores
inline head_scores measure_head_scores(
    const decoder_sizes& s, const decoder_model& m,
    const std::vector<induction_example>& examples)
{
    if (examples.empty()) {
        throw std::invalid_argument("measure_head_scores: expected at "
                                    "least one sequence, got none");
    }
    head_scores r;
    for (std::size_t l = 0; l < s.layers; ++l) {
        r.previous.push_back(xt::zeros<double>({s.heads}));
        r.induction.push_back(xt::zeros<double>({s.heads}));
        r.duplicate.push_back(xt::zeros<double>({s.heads}));
    }
    const double w = 1.0 / double(examples.size());
    for (const auto& e : examples) {
        const auto f = decoder_model_forward(s, m, e.tokens, e.target);
        for (std::size_t l = 0; l < s.layers; ++l) {
            r.previous[l] += w * previous_token_scores(f.layer[l].a, e);
            r.induction[l] += w * induction_scores(f.layer[l].a, e);
            r.duplicate[l] += w * duplicate_token_scores(f.layer[l].a, e);
        }
    }
    return r;
}

}  // namespace attn

// A tiny attention model trained from scratch: one multi-head self-attention
// layer with a residual connection and a linear read-out, on a synthetic
// task that needs two kinds of attention. Also the three measures of how
// much each head matters (ablation, gradient importance, confidence) and
// pruning by them.
//
// The task. A sequence is BOS t_1 ... t_L with tokens t_i in {0..V-1}. At
// each position i >= 2 the model must name one of 2V classes:
//     class = 2 * t_{i-1} + seen_i,
// seen_i = 1 if t_i already occurred among t_1 .. t_{i-1}, else 0.
// The first half needs a positional head (look one step back), the second
// a content head (look for an earlier copy of my own token).
//
// Glossary (tokens are rows, n = L + 1 positions, d = d_model):
//   x       fixed input: one-hot token (V + 1) | one-hot position (n) | 0
//                                                            // (n, d)
//   y       multi-head attention of x, strict causal mask    // (n, d)
//   z       x + y, the residual stream                       // (n, d)
//   ell     logits z W_u + b_u                               // (n, 2V)
//   p       softmax_rows(ell)                                // (n, 2V)
//   xi      head gates                                       // (H,)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/random.hpp"
#include "attention/masking.hpp"
#include "attention/softmax.hpp"
#include "attention/multi_head.hpp"
#include "attention/multi_head_backward.hpp"

/// \file
/// \brief A tiny multi-head attention model, its training, and the
///        importance and pruning of its heads (\ref ch05_heads).

namespace attn {

/// \brief Sizes of the synthetic task and of the model.
struct heads_task {
    std::size_t vocab = 5;    ///< V, number of ordinary tokens
    std::size_t length = 9;   ///< L, tokens after BOS; n = L + 1 positions
    std::size_t d_model = 16; ///< d, at least V + 1 + n, divisible by H
    std::size_t heads = 4;    ///< H
    /// \brief Number of positions n = L + 1.
    /// \return n
    std::size_t positions() const { return length + 1; }
    /// \brief Number of classes 2V.
    /// \return 2V
    std::size_t classes() const { return 2 * vocab; }
};

/// \brief One sequence of the task and its targets.
struct heads_example {
    std::vector<std::size_t> tokens;  ///< BOS (= V) then L tokens, `(n,)`
    std::vector<int> target;          ///< class at each position, -1 where
                                      ///< none (positions 0 and 1), `(n,)`
};

namespace detail {

// Seed of sequence k of a stream (0 = training, 1 = evaluation) of a run.
inline std::uint64_t sequence_seed(std::uint64_t seed, std::uint64_t stream,
                                   std::uint64_t k)
{
    return (seed << 40) ^ (stream << 36) ^ k;
}

// The sizes of a task must make sense together: V, L, H >= 1, H divides
// d_model, and d_model holds the one-hot token and position codes.
inline void expect_task(const std::string& where, const heads_task& task)
{
    const std::size_t needed = task.vocab + 1 + task.positions();
    if (task.vocab == 0 || task.length == 0 || task.heads == 0
        || task.d_model % task.heads != 0 || task.d_model < needed) {
        throw std::invalid_argument(
            where + ": expected V, L, H >= 1, H dividing d_model and "
            "d_model >= V + 1 + n = " + std::to_string(needed) + ", got V = "
            + std::to_string(task.vocab) + ", L = "
            + std::to_string(task.length) + ", H = "
            + std::to_string(task.heads) + ", d_model = "
            + std::to_string(task.d_model));
    }
}

// Measures over no sequence at all would be 0/0.
inline void expect_examples(const std::string& where,
                            const std::vector<heads_example>& examples)
{
    if (examples.empty()) {
        throw std::invalid_argument(where + ": expected at least one "
                                    "sequence, got none");
    }
}

}  // namespace detail

// [ch05-task]
/// \brief The targets of a sequence: at each position i >= 2 the class
///        `2 t_{i-1} + seen_i`, where `seen_i` says whether t_i occurred
///        among t_1 .. t_{i-1}.
/// \param task   the sizes
/// \param tokens BOS (= V) then L tokens in {0..V-1} `(n,)`
/// \return the sequence with its targets
/// \throws std::invalid_argument if the tokens do not fit the task
inline heads_example heads_example_from_tokens(
    const heads_task& task, const std::vector<std::size_t>& tokens)
{
    const std::size_t n = task.positions();
    bool fits = tokens.size() == n && tokens[0] == task.vocab;
    for (std::size_t i = 1; fits && i < n; ++i) {
        fits = tokens[i] < task.vocab;
    }
    if (!fits) {
        throw std::invalid_argument(
            "heads_example_from_tokens: expected BOS (" + std::to_string(
                task.vocab) + ") then " + std::to_string(task.length)
            + " tokens below " + std::to_string(task.vocab));
    }
    heads_example e{tokens, std::vector<int>(n, -1)};
    for (std::size_t i = 2; i < n; ++i) {
        bool seen = false;                         // content: a copy before?
        for (std::size_t j = 1; j < i; ++j) {
            seen = seen || tokens[j] == tokens[i];
        }
        // position: the previous token
        e.target[i] = int(2 * tokens[i - 1] + (seen ? 1 : 0));
    }
    return e;
}
// [ch05-task]

/// \brief Draws one sequence of the task, with its targets.
/// \param task the sizes
/// \param seed seed of this sequence's random tokens
/// \return BOS, L tokens drawn uniformly from {0..V-1}, and the targets
inline heads_example make_heads_example(const heads_task& task,
                                        std::uint64_t seed)
{
    detail::expect_task("make_heads_example", task);
    rng g(seed);
    std::vector<std::size_t> tokens(task.positions(), task.vocab);
    for (std::size_t i = 1; i < tokens.size(); ++i) {
        tokens[i] = g.below(task.vocab);
    }
    return heads_example_from_tokens(task, tokens);
}

/// \brief A held-out set of `count` sequences, never met in training.
/// \param task  the sizes
/// \param count number of sequences
/// \param seed  seed of the set
/// \return the sequences
inline std::vector<heads_example> make_heads_examples(const heads_task& task,
                                                      std::size_t count,
                                                      std::uint64_t seed)
{
    std::vector<heads_example> out;
    for (std::size_t k = 0; k < count; ++k) {
        out.push_back(make_heads_example(task,
                                         detail::sequence_seed(seed, 1, k)));
    }
    return out;
}

/// \brief The model's fixed input: one-hot token, one-hot position, zeros.
/// \param task   the sizes
/// \param tokens the sequence `(n,)`
/// \return x `(n, d)`
/// \throws std::invalid_argument if d is too small or a token is out of
///         range
inline matrix embed_tokens(const heads_task& task,
                           const std::vector<std::size_t>& tokens)
{
    const std::size_t n = tokens.size(), d = task.d_model;
    if (d < task.vocab + 1 + n) {
        throw std::invalid_argument(
            "embed_tokens: d_model must be at least V + 1 + n = "
            + std::to_string(task.vocab + 1 + n) + ", got "
            + std::to_string(d));
    }
    matrix x = xt::zeros<double>({n, d});                      // (n, d)
    for (std::size_t i = 0; i < n; ++i) {
        if (tokens[i] > task.vocab) {
            throw std::invalid_argument("embed_tokens: token "
                                        + std::to_string(tokens[i])
                                        + " out of range");
        }
        x(i, tokens[i]) = 1.0;
        x(i, task.vocab + 1 + i) = 1.0;
    }
    return x;
}

/// \brief The trainable weights of the tiny model.
struct tiny_model {
    multi_head_weights attention;  ///< the attention layer
    matrix w_u;                    ///< read-out `(d, 2V)`
    vector b_u;                    ///< read-out bias `(2V,)`
};

/// \brief A model with weights drawn from N(0, 1/d) and zero biases.
/// \param task the sizes
/// \param seed seed of the random weights
/// \return the model
inline tiny_model init_tiny_model(const heads_task& task, std::uint64_t seed)
{
    detail::expect_task("init_tiny_model", task);
    rng g(seed);
    const std::size_t d = task.d_model;
    const double scale = 1.0 / std::sqrt(double(d));
    auto draw = [&](std::size_t rows, std::size_t cols) {
        matrix m = xt::zeros<double>({rows, cols});
        for (auto& value : m) {
            value = scale * g.normal();
        }
        return m;
    };
    tiny_model m;
    m.attention.w_q = draw(d, d);
    m.attention.w_k = draw(d, d);
    m.attention.w_v = draw(d, d);
    m.attention.w_o = draw(d, d);
    m.attention.b_o = xt::zeros<double>({d});
    m.w_u = draw(d, task.classes());
    m.b_u = xt::zeros<double>({task.classes()});
    return m;
}

/// \brief Throws `std::invalid_argument` unless the model's weights fit the
///        task's sizes.
/// \param task the sizes
/// \param m    the model
inline void expect_tiny_model(const heads_task& task, const tiny_model& m)
{
    const std::size_t d = task.d_model, c = task.classes();
    const std::string where = "expect_tiny_model";
    detail::expect_task(where, task);
    expect_shape(where, "W_q", m.attention.w_q, {d, d}, "(d_model, d_model)");
    expect_shape(where, "W_k", m.attention.w_k, {d, d}, "(d_model, d_model)");
    expect_shape(where, "W_v", m.attention.w_v, {d, d}, "(d_model, d_model)");
    expect_shape(where, "W_o", m.attention.w_o, {d, d}, "(d_model, d_model)");
    expect_shape(where, "b_o", m.attention.b_o, {d}, "(d_model,)");
    expect_shape(where, "W_u", m.w_u, {d, c}, "(d_model, 2V)");
    expect_shape(where, "b_u", m.b_u, {c}, "(2V,)");
}

/// \brief What the forward pass of the tiny model computes on one sequence.
struct tiny_forward {
    matrix x;                  ///< input `(n, d)`
    multi_head_result layer;   ///< the attention layer's result
    matrix z;                  ///< residual stream x + y `(n, d)`
    matrix logits;             ///< `(n, 2V)`
    matrix p;                  ///< class probabilities `(n, 2V)`
    double loss = 0.0;         ///< mean cross-entropy over scored positions
    std::size_t correct = 0;   ///< scored positions whose argmax is right
    std::size_t scored = 0;    ///< positions with a target
};

namespace detail {

// The model fits the task and the example is one of the task's sequences:
// a target (or -1) for every token, each target a class below 2V.
inline void expect_model_and_example(const std::string& where,
                                     const heads_task& task,
                                     const tiny_model& m,
                                     const heads_example& e)
{
    try {
        expect_tiny_model(task, m);
    } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(where + ": " + error.what());
    }
    if (e.tokens.empty() || e.target.size() != e.tokens.size()) {
        throw std::invalid_argument(
            where + ": expected one target per token, got "
            + std::to_string(e.tokens.size()) + " tokens and "
            + std::to_string(e.target.size()) + " targets");
    }
    for (std::size_t i = 0; i < e.target.size(); ++i) {
        if (e.target[i] < -1 || e.target[i] >= int(task.classes())) {
            throw std::invalid_argument(
                where + ": target " + std::to_string(e.target[i])
                + " at position " + std::to_string(i) + " is not -1 or a "
                "class below 2V = " + std::to_string(task.classes()));
        }
    }
}

}  // namespace detail

// [ch05-tiny-forward]
/// \brief The tiny model on one sequence, Eq. \ref eq_tiny_model "(5.1)".
/// \param task  the sizes
/// \param m     the model
/// \param e     the sequence and its targets
/// \param gates head gates xi `(H,)`; empty means all heads on
/// \return everything the backward pass needs, the loss and the hits
inline tiny_forward tiny_model_forward(const heads_task& task,
                                       const tiny_model& m,
                                       const heads_example& e,
                                       const vector& gates = {})
{
    detail::expect_model_and_example("tiny_model_forward", task, m, e);
    tiny_forward f;
    f.x = embed_tokens(task, e.tokens);                        // (n, d)
    const auto mask = causal_mask(e.tokens.size(), e.tokens.size(),
                                  diagonal::excluded); // (n, n)
    f.layer = multi_head_attention(f.x, f.x, m.attention, task.heads, mask,
                                   gates);
    f.z = f.x + f.layer.y;                                     // (n, d)
    f.logits = xt::linalg::dot(f.z, m.w_u) + m.b_u;            // (n, 2V)
    f.p = softmax_rows(f.logits);                              // (n, 2V)
    for (std::size_t i = 0; i < e.tokens.size(); ++i) {
        if (e.target[i] < 0) {
            continue;
        }
        const auto t = std::size_t(e.target[i]);
        f.loss -= std::log(f.p(i, t));
        const auto row = xt::row(f.p, i);
        const auto best = std::size_t(std::max_element(row.begin(),
                                                       row.end())
                                      - row.begin());
        f.correct += best == t ? 1 : 0;
        f.scored += 1;
    }
    f.loss /= double(std::max<std::size_t>(f.scored, 1));
    return f;
}
// [ch05-tiny-forward]

/// \brief Gradients of the tiny model's loss on one sequence.
struct tiny_gradients {
    multi_head_gradients layer;  ///< of the attention layer, gates, input
    matrix d_w_u;                ///< `dL/dW_u` `(d, 2V)`
    vector d_b_u;                ///< `dL/db_u` `(2V,)`
};

namespace detail {

// f must be the forward pass of this example through this model.
inline void expect_forward_of(const std::string& where,
                              const heads_task& task, const tiny_model& m,
                              const heads_example& e, const tiny_forward& f)
{
    expect_model_and_example(where, task, m, e);
    const std::size_t n = e.tokens.size();
    expect_shape(where, "f.x", f.x, {n, task.d_model}, "(n, d_model)");
    expect_shape(where, "f.z", f.z, {n, task.d_model}, "(n, d_model)");
    expect_shape(where, "f.p", f.p, {n, task.classes()}, "(n, 2V)");
}

}  // namespace detail

// [ch05-tiny-backward]
/// \brief Gradients of the loss of Eq. \ref eq_tiny_model "(5.1)", by Eqs.
///        \ref eq_grad_logits "(5.2)" to \ref eq_grad_projections "(5.7)".
/// \param task  the sizes
/// \param m     the model
/// \param e     the sequence and its targets
/// \param f     the forward pass on `e` with the same gates
/// \param gates head gates xi `(H,)`; empty means all on
/// \return the gradients
inline tiny_gradients tiny_model_backward(const heads_task& task,
                                          const tiny_model& m,
                                          const heads_example& e,
                                          const tiny_forward& f,
                                          const vector& gates = {})
{
    detail::expect_forward_of("tiny_model_backward", task, m, e, f);
    // Cross-entropy through the softmax and the read-out, Eq. (5.2).
    matrix d_logits = f.p;                                     // (n, 2V)
    for (std::size_t i = 0; i < e.tokens.size(); ++i) {
        if (e.target[i] < 0) {
            xt::row(d_logits, i) = 0.0;
        } else {
            d_logits(i, std::size_t(e.target[i])) -= 1.0;
        }
    }
    d_logits /= double(std::max<std::size_t>(f.scored, 1));
    tiny_gradients g;
    g.d_w_u = xt::linalg::dot(xt::transpose(f.z), d_logits);   // (d, 2V)
    g.d_b_u = xt::sum(d_logits, {0});                          // (2V,)
    // z = x + y: the residual passes dL/dz to y unchanged.
    matrix d_y = xt::linalg::dot(d_logits, xt::transpose(m.w_u));
    g.layer = multi_head_attention_backward(f.x, f.x, m.attention,
                                            task.heads, f.layer, d_y, gates);
    return g;
}
// [ch05-tiny-backward]

/// \brief First and second moments of Adam for every weight of the model.
struct adam_state {
    tiny_model m;           ///< first moments, shaped like the model
    tiny_model v;           ///< second moments, shaped like the model
    std::size_t t = 0;      ///< steps taken
    double lr = 0.01;       ///< step size alpha
    double beta1 = 0.9;     ///< decay of the first moment
    double beta2 = 0.999;   ///< decay of the second moment
    double eps = 1e-8;      ///< added to the denominator
};

namespace detail {

template <class T>
void expect_adam_arguments(const T& theta, const T& g, const T& m,
                           const T& v, const adam_state& s)
{
    const std::string where = "adam_update";
    const auto& shape = theta.shape();
    const std::vector<std::size_t> expected(shape.begin(), shape.end());
    expect_shape(where, "g", g, expected);
    expect_shape(where, "m", m, expected);
    expect_shape(where, "v", v, expected);
    if (s.t == 0) {
        throw std::invalid_argument(where + ": the step count t must be at "
                                    "least 1 (increment it first), got 0");
    }
}

}  // namespace detail

// [ch05-adam]
/// \brief One Adam update of one weight tensor, Eq. \ref eq_adam "(5.8)".
/// \param theta the weights, updated in place
/// \param g     their gradient, same shape
/// \param m     first moment, same shape, updated
/// \param v     second moment, same shape, updated
/// \param s     the step count (already incremented) and the constants
template <class T>
void adam_update(T& theta, const T& g, T& m, T& v, const adam_state& s)
{
    detail::expect_adam_arguments(theta, g, m, v, s);
    m = s.beta1 * m + (1.0 - s.beta1) * g;
    v = s.beta2 * v + (1.0 - s.beta2) * g * g;
    const double c1 = 1.0 - std::pow(s.beta1, double(s.t));
    const double c2 = 1.0 - std::pow(s.beta2, double(s.t));
    theta -= s.lr * (m / c1) / (xt::sqrt(v / c2) + s.eps);
}
// [ch05-adam]

/// \brief A model of zeros shaped like `m`, for Adam's moments.
/// \param m a model
/// \return zeros of the same shapes
inline tiny_model zeros_like(const tiny_model& m)
{
    tiny_model z;
    z.attention.w_q = xt::zeros_like(m.attention.w_q);
    z.attention.w_k = xt::zeros_like(m.attention.w_k);
    z.attention.w_v = xt::zeros_like(m.attention.w_v);
    z.attention.w_o = xt::zeros_like(m.attention.w_o);
    z.attention.b_o = xt::zeros_like(m.attention.b_o);
    z.w_u = xt::zeros_like(m.w_u);
    z.b_u = xt::zeros_like(m.b_u);
    return z;
}

/// \brief One Adam step on every weight of the model.
/// \param m the model, updated
/// \param g the gradient of the loss, averaged over a batch
/// \param s Adam's state, updated
inline void adam_step(tiny_model& m, const tiny_gradients& g, adam_state& s)
{
    s.t += 1;
    auto& a = m.attention;
    const auto& d = g.layer.d_w;
    adam_update(a.w_q, d.w_q, s.m.attention.w_q, s.v.attention.w_q, s);
    adam_update(a.w_k, d.w_k, s.m.attention.w_k, s.v.attention.w_k, s);
    adam_update(a.w_v, d.w_v, s.m.attention.w_v, s.v.attention.w_v, s);
    adam_update(a.w_o, d.w_o, s.m.attention.w_o, s.v.attention.w_o, s);
    adam_update(a.b_o, d.b_o, s.m.attention.b_o, s.v.attention.b_o, s);
    adam_update(m.w_u, g.d_w_u, s.m.w_u, s.v.w_u, s);
    adam_update(m.b_u, g.d_b_u, s.m.b_u, s.v.b_u, s);
}

/// \brief Settings of a training run.
struct training_config {
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

inline void expect_training_config(const std::string& where,
                                   const heads_task& task,
                                   const training_config& config)
{
    expect_task(where, task);
    if (config.batch == 0 || config.report_every == 0
        || !(config.lr > 0.0) || !std::isfinite(config.lr)) {
        throw std::invalid_argument(
            where + ": expected batch >= 1, report_every >= 1 and a finite "
            "lr > 0, got batch = " + std::to_string(config.batch)
            + ", report_every = " + std::to_string(config.report_every)
            + ", lr = " + std::to_string(config.lr));
    }
}

}  // namespace detail

// [ch05-train]
/// \brief Trains a tiny model with Adam on fresh random sequences.
/// \param task     the sizes
/// \param config   steps, batch, step size, seed
/// \param progress called with each report and the model so far (may be
///        empty)
/// \return the trained model
inline tiny_model train_tiny_model(
    const heads_task& task, const training_config& config,
    const std::function<void(const training_report&, const tiny_model&)>&
        progress = {})
{
    detail::expect_training_config("train_tiny_model", task, config);
    tiny_model m = init_tiny_model(task, config.seed);
    adam_state s;
    s.m = zeros_like(m);
    s.v = zeros_like(m);
    s.lr = config.lr;
    double loss_sum = 0.0;
    std::size_t correct = 0, scored = 0;
    for (std::size_t step = 1; step <= config.steps; ++step) {
        tiny_gradients sum;
        for (std::size_t b = 0; b < config.batch; ++b) {
            // Sequence seeds never repeat, and never meet the test set's.
            const auto e = make_heads_example(
                task, detail::sequence_seed(config.seed, 0,
                                            step * config.batch + b));
            const auto f = tiny_model_forward(task, m, e);
            const auto g = tiny_model_backward(task, m, e, f);
            if (b == 0) {
                sum = g;
            } else {
                auto& w = sum.layer.d_w;
                w.w_q += g.layer.d_w.w_q;
                w.w_k += g.layer.d_w.w_k;
                w.w_v += g.layer.d_w.w_v;
                w.w_o += g.layer.d_w.w_o;
                w.b_o += g.layer.d_w.b_o;
                sum.d_w_u += g.d_w_u;
                sum.d_b_u += g.d_b_u;
            }
            loss_sum += f.loss;
            correct += f.correct;
            scored += f.scored;
        }
        const double inv = 1.0 / double(config.batch);
        for (auto* t : {&sum.layer.d_w.w_q, &sum.layer.d_w.w_k,
                        &sum.layer.d_w.w_v, &sum.layer.d_w.w_o,
                        &sum.d_w_u}) {
            *t *= inv;
        }
        sum.layer.d_w.b_o *= inv;
        sum.d_b_u *= inv;
        adam_step(m, sum, s);
        if (progress && (step % config.report_every == 0
                         || step == config.steps)) {
            const std::size_t since = step % config.report_every
                                          ? step % config.report_every
                                          : config.report_every;
            progress({step, loss_sum / double(since * config.batch),
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

/// \brief Accuracy and mean loss of a model on a set of sequences.
struct evaluation {
    double accuracy = 0.0;  ///< share of scored positions right
    double loss = 0.0;      ///< mean of the sequences' losses
};

/// \brief Evaluates a model, with some heads gated off if asked.
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \param gates    head gates `(H,)`; empty means all on
/// \return accuracy and loss
inline evaluation evaluate_tiny_model(
    const heads_task& task, const tiny_model& m,
    const std::vector<heads_example>& examples, const vector& gates = {})
{
    detail::expect_examples("evaluate_tiny_model", examples);
    evaluation r;
    std::size_t correct = 0, scored = 0;
    for (const auto& e : examples) {
        const auto f = tiny_model_forward(task, m, e, gates);
        correct += f.correct;
        scored += f.scored;
        r.loss += f.loss;
    }
    r.accuracy = double(correct) / double(std::max<std::size_t>(scored, 1));
    r.loss /= double(std::max<std::size_t>(examples.size(), 1));
    return r;
}

// [ch05-ablation]
/// \brief Accuracy lost when head h alone is gated off, Eq.
///        \ref eq_head_ablation "(5.9)".
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \return `acc(all heads) - acc(xi_h = 0)` for each head `(H,)`
inline vector head_ablation(const heads_task& task, const tiny_model& m,
                            const std::vector<heads_example>& examples)
{
    detail::expect_examples("head_ablation", examples);
    const double full = evaluate_tiny_model(task, m, examples).accuracy;
    vector drop = xt::zeros<double>({task.heads});             // (H,)
    for (std::size_t h = 0; h < task.heads; ++h) {
        vector xi = xt::ones<double>({task.heads});
        xi(h) = 0.0;
        drop(h) = full - evaluate_tiny_model(task, m, examples, xi).accuracy;
    }
    return drop;
}
// [ch05-ablation]

// [ch05-importance]
/// \brief The head importance of Michel et al. (2019), Eq.
///        \ref eq_head_importance "(5.10)": `I_h = E_x |dL(x)/dxi_h|` at
///        the given gates, then divided by the l2 norm over the layer.
/// \param task      the sizes
/// \param m         the model
/// \param examples  the sequences x (the expectation is their mean)
/// \param gates     where the derivative is taken `(H,)`; empty = ones
/// \param normalise divide by the l2 norm of the H scores
/// \return I `(H,)`
inline vector head_importance(const heads_task& task, const tiny_model& m,
                              const std::vector<heads_example>& examples,
                              const vector& gates = {}, bool normalise = true)
{
    detail::expect_examples("head_importance", examples);
    vector importance = xt::zeros<double>({task.heads});       // (H,)
    for (const auto& e : examples) {
        const auto f = tiny_model_forward(task, m, e, gates);
        const auto g = tiny_model_backward(task, m, e, f, gates);
        importance += xt::abs(g.layer.d_gates);
    }
    importance /= double(std::max<std::size_t>(examples.size(), 1));
    if (normalise) {
        const double norm = std::sqrt(xt::sum(importance * importance)());
        importance /= norm > 0 ? norm : 1.0;
    }
    return importance;
}
// [ch05-importance]

// [ch05-confidence]
/// \brief The confidence of Voita et al. (2019), Eq.
///        \ref eq_head_confidence "(5.11)": the largest weight of each
///        query, averaged over the scored positions of all sequences.
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \return confidence of each head `(H,)`, in [0, 1]
inline vector head_confidence(const heads_task& task, const tiny_model& m,
                              const std::vector<heads_example>& examples)
{
    detail::expect_examples("head_confidence", examples);
    vector confidence = xt::zeros<double>({task.heads});       // (H,)
    std::size_t queries = 0;
    for (const auto& e : examples) {
        const auto f = tiny_model_forward(task, m, e);
        for (std::size_t i = 0; i < e.tokens.size(); ++i) {
            if (e.target[i] < 0) {
                continue;
            }
            for (std::size_t h = 0; h < task.heads; ++h) {
                confidence(h) += xt::amax(
                    xt::view(f.layer.a, h, i, xt::all()))();
            }
            queries += 1;
        }
    }
    return confidence / double(std::max<std::size_t>(queries, 1));
}
// [ch05-confidence]

/// \brief Where a head puts its weight, averaged over scored positions.
struct head_pattern {
    double previous = 0.0;  ///< weight on key i - 1
    double copies = 0.0;    ///< weight on earlier copies of t_i, over the
                            ///< positions where a copy exists
    double bos = 0.0;       ///< weight on BOS, over the positions where no
                            ///< copy exists
};

/// \brief Measures each head's pattern on a set of sequences.
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \return one pattern per head
inline std::vector<head_pattern> head_patterns(
    const heads_task& task, const tiny_model& m,
    const std::vector<heads_example>& examples)
{
    detail::expect_examples("head_patterns", examples);
    std::vector<head_pattern> out(task.heads);
    std::size_t scored = 0, with_copy = 0, without_copy = 0;
    for (const auto& e : examples) {
        const auto f = tiny_model_forward(task, m, e);
        for (std::size_t i = 2; i < e.tokens.size(); ++i) {
            const bool seen = e.target[i] % 2 == 1;
            scored += 1;
            with_copy += seen ? 1 : 0;
            without_copy += seen ? 0 : 1;
            for (std::size_t h = 0; h < task.heads; ++h) {
                out[h].previous += f.layer.a(h, i, i - 1);
                double copies = 0.0;
                for (std::size_t j = 1; j < i; ++j) {
                    copies += e.tokens[j] == e.tokens[i] ? f.layer.a(h, i, j)
                                                         : 0.0;
                }
                out[h].copies += seen ? copies : 0.0;
                out[h].bos += seen ? 0.0 : f.layer.a(h, i, 0);
            }
        }
    }
    for (auto& p : out) {
        p.previous /= double(std::max<std::size_t>(scored, 1));
        p.copies /= double(std::max<std::size_t>(with_copy, 1));
        p.bos /= double(std::max<std::size_t>(without_copy, 1));
    }
    return out;
}

namespace detail {

// 2^H subsets, each evaluated on every example: H = 20 is already a
// million evaluations.
inline void expect_subsets(const std::string& where, const heads_task& task,
                           const std::vector<heads_example>& examples)
{
    expect_task(where, task);
    expect_examples(where, examples);
    if (task.heads > 20) {
        throw std::invalid_argument(where + ": 2^H subsets of heads are too "
                                    "many for H = "
                                    + std::to_string(task.heads)
                                    + "; expected H <= 20");
    }
}

}  // namespace detail

// [ch05-prune]
/// \brief Accuracy of the model with every subset of its heads on: entry
///        `mask` has head h on when bit h of `mask` is set.
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \return accuracies `(2^H,)`; the last entry has all heads on
inline vector subset_accuracies(const heads_task& task, const tiny_model& m,
                                const std::vector<heads_example>& examples)
{
    detail::expect_subsets("subset_accuracies", task, examples);
    const std::size_t subsets = std::size_t(1) << task.heads;
    vector accuracy = xt::zeros<double>({subsets});            // (2^H,)
    for (std::size_t mask = 0; mask < subsets; ++mask) {
        vector xi = xt::zeros<double>({task.heads});
        for (std::size_t h = 0; h < task.heads; ++h) {
            xi(h) = (mask >> h) & 1 ? 1.0 : 0.0;
        }
        accuracy(mask) = evaluate_tiny_model(task, m, examples, xi).accuracy;
    }
    return accuracy;
}

/// \brief Accuracy as heads are gated off one at a time in a given order.
/// \param accuracy the accuracy of every subset of heads `(2^H,)`, from
///        subset_accuracies()
/// \param order    the heads in the order they are removed `(H,)`
/// \return accuracy with H, H - 1, ..., 0 heads left `(H + 1,)`
/// \throws std::invalid_argument if `order` is not a permutation of the
///         heads
inline std::vector<double> pruning_curve(const vector& accuracy,
                                         const std::vector<std::size_t>& order)
{
    if (order.size() > 20
        || accuracy.size() != (std::size_t(1) << order.size())) {
        throw std::invalid_argument(
            "pruning_curve: expected 2^H subset accuracies for the H = "
            + std::to_string(order.size()) + " heads of order (H <= 20), got "
            + std::to_string(accuracy.size()));
    }
    std::size_t mask = accuracy.size() - 1;                    // all on
    std::vector<double> curve{accuracy(mask)};
    for (std::size_t h : order) {
        if (h >= order.size() || !((mask >> h) & 1)) {
            throw std::invalid_argument("pruning_curve: order must name "
                                        "each head once");
        }
        mask &= ~(std::size_t(1) << h);
        curve.push_back(accuracy(mask));
    }
    return curve;
}
// [ch05-prune]

/// \brief A pruning order that measures the importance of Eq.
///        \ref eq_head_importance "(5.10)" again after every removal, at
///        the gates of the heads still on, and removes the least important
///        head still on.
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \return the heads in the order they are removed `(H,)`
inline std::vector<std::size_t> importance_order_remeasured(
    const heads_task& task, const tiny_model& m,
    const std::vector<heads_example>& examples)
{
    vector xi = xt::ones<double>({task.heads});
    std::vector<std::size_t> order;
    while (order.size() < task.heads) {
        const vector score = head_importance(task, m, examples, xi, false);
        std::size_t best = task.heads;
        for (std::size_t h = 0; h < task.heads; ++h) {
            if (xi(h) != 0.0 && (best == task.heads
                                 || score(h) < score(best))) {
                best = h;
            }
        }
        order.push_back(best);
        xi(best) = 0.0;
    }
    return order;
}

/// \brief The heads ordered from least to most important by a score.
/// \param score one score per head `(H,)`
/// \return head indices, lowest score first (ties by index)
inline std::vector<std::size_t> order_by_score(const vector& score)
{
    std::vector<std::size_t> order(score.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) {
                         return score(a) < score(b);
                     });
    return order;
}

}  // namespace attn

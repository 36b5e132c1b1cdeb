// A learned alignment: the toy task of chapter 1, whose right alignment is
// known. Source sequences of T tokens are reversed; the annotations say
// what each token is and where it stands, the decoder state says only which
// target position it is at, and the output reads only the context. The
// alignment network of additive.hpp and a linear readout are trained by
// plain gradient descent: the task, the model, its forward and backward
// passes, its evaluation and its training loop with their options and
// records.
//
// Glossary (tokens are rows; T_x = T_y = T, d_h = T here; |V| is the
// size of the vocabulary, vocab_size in code):
//   E        fixed random token embeddings                  // (|V|, T)
//   P        one-hot source position codes                  // (T, T)
//   Q        decoder states, row i is q_{i-1}: one-hot i    // (T, T)
//   h        annotations [E_{x_j} ; P_j]                    // (T_x, 2d_h)
//   W_a      alignment weights on the decoder state         // (d_a, d_h)
//   U_a      alignment weights on the annotations           // (d_a, 2d_h)
//   v_a      alignment output weights                       // (d_a,)
//   z        tanh(W_a q_{i-1} + U_a h_j)                    // (T_y, T_x, d_a)
//   a        the weights a_ij (the matrix A)                // (T_y, T_x)
//   W_r, b_r the readout                                // (|V|, 2d_h), (|V|,)
//   o, p     readout logits and probabilities               // (T_y, |V|)
//   y        the right output tokens                        // (T_y)
//   dL_do    gradient of the loss at the logits, delta      // (T_y, |V|)
//   dL_dc    gradient at the contexts                       // (T_y, 2d_h)
//   dL_da    gradient at the weights, g                     // (T_y, T_x)
//   dL_de    gradient at the energies, epsilon              // (T_y, T_x)
//   u        gradient at the input of the tanh layer        // (T_y, T_x, d_a)
//   dL_dtheta  the gradient of every parameter, shaped as the model
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/additive.hpp"
#include "attention/core.hpp"
#include "attention/random.hpp"
#include "attention/softmax.hpp"

/// \file
/// \brief A reversal task whose right alignment is known, the additive
///        alignment model with a readout, its gradients and its training
///        by gradient descent (\ref ch01_bahdanau).

namespace attn {

/// \brief The trainable parameters of the toy alignment model: the
///        alignment network of Eq. \ref eq_additive_energy "(1.2)" and the
///        readout of Eq. \ref eq_alignment_loss "(1.7)". A gradient has
///        the same shapes and is stored in the same struct.
struct alignment_model {
    matrix W_a;  ///< weights on the decoder state `(d_a, d_h)`
    matrix U_a;  ///< weights on the annotations `(d_a, 2d_h)`
    vector v_a;  ///< output weights of the alignment network `(d_a,)`
    matrix W_r;  ///< readout weights `(|V|, 2d_h)`
    vector b_r;  ///< readout biases `(|V|,)`
};

/// \brief Everything the forward pass of the toy model computes for one
///        sequence, kept for the backward pass.
struct alignment_forward_pass {
    tensor3 z;  ///< `tanh(W_a q_{i-1} + U_a h_j)` `(T_y, T_x, d_a)`
    matrix e;   ///< energies `(T_y, T_x)`
    matrix a;   ///< weights `(T_y, T_x)`
    matrix c;   ///< contexts `(T_y, 2d_h)`
    matrix o;   ///< readout logits `(T_y, |V|)`
    matrix p;   ///< output probabilities `(T_y, |V|)`
};

namespace detail {

inline void expect_readout_shapes(const matrix& c, const matrix& W_r,
                                  const vector& b_r)
{
    expect_nonempty("alignment_readout", "c", c);
    expect_nonempty("alignment_readout", "b_r", b_r);
    expect_shape("alignment_readout", "W_r", W_r,
                 {b_r.shape()[0], c.shape()[1]}, "(|V|, 2d_h)");
}

// One target token per row of o, each in [0, |V|).
inline void expect_loss_targets(const matrix& o,
                                const std::vector<std::size_t>& y)
{
    expect_nonempty("alignment_loss", "o", o);
    if (y.size() != o.shape()[0]) {
        throw std::invalid_argument(
            "alignment_loss: expected " + std::to_string(o.shape()[0])
            + " target tokens, one per row of o, got "
            + std::to_string(y.size()));
    }
    for (std::size_t token : y) {
        if (token >= o.shape()[1]) {
            throw std::invalid_argument(
                "alignment_loss: token " + std::to_string(token)
                + " outside [0, " + std::to_string(o.shape()[1]) + ")");
        }
    }
}

}  // namespace detail

// [ch01-readout]
/// \brief The readout of Eq. \ref eq_alignment_loss "(1.7)": logits
///        `o_i = W_r c_i + b_r` for every target position.
/// \param c,W_r,b_r contexts `(T_y, 2d_h)`, readout weights `(|V|, 2d_h)`
///        and biases `(|V|,)`
/// \return the logits `(T_y, |V|)`
inline matrix alignment_readout(const matrix& c, const matrix& W_r,
                                const vector& b_r)
{
    detail::expect_readout_shapes(c, W_r, b_r);
    return xt::linalg::dot(c, xt::transpose(W_r)) + b_r;      // (T_y, |V|)
}

/// \brief The loss of Eq. \ref eq_alignment_loss "(1.7)": the mean over
///        target positions of `-log p_i[y_i]`, computed from the logits.
/// \param o,y logits `(T_y, |V|)` and the right token of each row
/// \return the mean cross-entropy
inline double alignment_loss(const matrix& o,
                             const std::vector<std::size_t>& y)
{
    detail::expect_loss_targets(o, y);
    const std::size_t T_y = o.shape()[0], vocab_size = o.shape()[1];
    double loss = 0.0;
    for (std::size_t i = 0; i < T_y; ++i) {
        const double m = xt::amax(xt::view(o, i, xt::all()))();
        double z = 0.0;
        for (std::size_t v = 0; v < vocab_size; ++v) {
            z += std::exp(o(i, v) - m);
        }
        loss += m + std::log(z) - o(i, y[i]);
    }
    return loss / double(T_y);
}
// [ch01-readout]

namespace detail {

// The column of the largest entry of row i (the first one on a tie).
inline std::size_t argmax_row(const matrix& m, std::size_t i)
{
    std::size_t best = 0;
    for (std::size_t j = 1; j < m.shape()[1]; ++j) {
        if (m(i, j) > m(i, best)) {
            best = j;
        }
    }
    return best;
}

inline void expect_model_shapes(const std::string& where,
                                const alignment_model& model,
                                const matrix& q_prev, const matrix& h)
{
    expect_alignment_shapes(where, q_prev, h, model.W_a, model.U_a,
                            model.v_a);
    expect_nonempty(where, "b_r", model.b_r);
    expect_shape(where, "W_r", model.W_r,
                 {model.b_r.shape()[0], h.shape()[1]}, "(|V|, 2d_h)");
}

}  // namespace detail

// [ch01-alignment-forward]
/// \brief The forward pass of the toy model for one sequence: Eqs.
///        \ref eq_additive_energy "(1.2)" to \ref eq_bahdanau_context
///        "(1.4)", then the readout of Eq. \ref eq_alignment_loss "(1.7)".
/// \param model  the parameters
/// \param q_prev decoder states, the i-th row is `q_{i-1}` `(T_y, d_h)`
/// \param h      annotations `(T_x, 2d_h)`
/// \return every intermediate quantity
/// \throws std::invalid_argument on inconsistent or empty shapes
inline alignment_forward_pass alignment_forward(const alignment_model& model,
                                                const matrix& q_prev,
                                                const matrix& h)
{
    detail::expect_model_shapes("alignment_forward", model, q_prev, h);
    alignment_forward_pass f;
    const matrix Uh = xt::linalg::dot(h, xt::transpose(model.U_a));
    const matrix Wq = xt::linalg::dot(q_prev, xt::transpose(model.W_a));
    f.z = xt::tanh(xt::view(Wq, xt::all(), xt::newaxis(), xt::all())
                   + xt::view(Uh, xt::newaxis(), xt::all(), xt::all()));
    f.e = xt::sum(f.z * model.v_a, {2});               // Eq. (1.2)
    f.a = softmax_rows(f.e);                           // Eq. (1.3)
    f.c = bahdanau_context(f.a, h);                    // Eq. (1.4)
    f.o = alignment_readout(f.c, model.W_r, model.b_r);  // Eq. (1.7)
    f.p = softmax_rows(f.o);
    return f;
}
// [ch01-alignment-forward]

/// \brief The loss of one sequence and its gradients.
struct alignment_backward_pass {
    double loss = 0.0;  ///< the loss of Eq. \ref eq_alignment_loss "(1.7)"
    matrix dL_dc;  ///< gradient with respect to the contexts `(T_y, 2d_h)`
    matrix dL_de;  ///< gradient with respect to the energies `(T_y, T_x)`
    alignment_model dL_dtheta;  ///< gradient of every parameter
};

// [ch01-alignment-gradients]
/// \brief The loss of Eq. \ref eq_alignment_loss "(1.7)" for one sequence
///        and its gradients, by Eqs. \ref eq_alignment_energy_gradient
///        "(1.8)" and \ref eq_alignment_parameter_gradients "(1.9)".
/// \param model,q_prev,h as for alignment_forward
/// \param y the right output token of each target position (`T_y`)
/// \return the loss and the gradients at `c`, `e` and every parameter
inline alignment_backward_pass alignment_gradients(
    const alignment_model& model, const matrix& q_prev, const matrix& h,
    const std::vector<std::size_t>& y)
{
    const alignment_forward_pass f = alignment_forward(model, q_prev, h);
    const std::size_t T_y = q_prev.shape()[0];
    alignment_backward_pass b;
    b.loss = alignment_loss(f.o, y);
    // Readout: dL/do_i = delta_i = (p_i - onehot(y_i)) / T_y.
    matrix dL_do = f.p;                                        // (T_y, |V|)
    for (std::size_t i = 0; i < T_y; ++i) {
        dL_do(i, y[i]) -= 1.0;
    }
    dL_do /= double(T_y);
    b.dL_dtheta.W_r = xt::linalg::dot(xt::transpose(dL_do), f.c);
    b.dL_dtheta.b_r = xt::sum(dL_do, {0});                     // (|V|,)
    b.dL_dc = xt::linalg::dot(dL_do, model.W_r);               // (T_y, 2d_h)
    // Eq. (1.8): through c_i = sum_j a_ij h_j, then the softmax.
    const matrix dL_da = xt::linalg::dot(b.dL_dc, xt::transpose(h));
                                                    // g_ij, (T_y, T_x)
    b.dL_de = softmax_rows_backward(f.a, dL_da);               // (T_y, T_x)
    // Eq. (1.9): through v_a^T tanh(.), then W_a q_{i-1} and U_a h_j.
    const tensor3 eps = xt::view(b.dL_de, xt::all(), xt::all(),
                                 xt::newaxis());            // (T_y, T_x, 1)
    b.dL_dtheta.v_a = xt::sum(eps * f.z, {0, 1});              // (d_a,)
    const tensor3 u = eps * model.v_a * (1.0 - f.z * f.z); // (T_y, T_x, d_a)
    const matrix u_i = xt::sum(u, {1});                        // (T_y, d_a)
    const matrix u_j = xt::sum(u, {0});                        // (T_x, d_a)
    b.dL_dtheta.W_a = xt::linalg::dot(xt::transpose(u_i), q_prev);
    b.dL_dtheta.U_a = xt::linalg::dot(xt::transpose(u_j), h);  // (d_a, 2d_h)
    return b;
}
// [ch01-alignment-gradients]

/// \brief The toy task: reverse a sequence of tokens. Its right alignment
///        is known: target position `i` must read source position
///        `T - 1 - i`.
struct reversal_task {
    std::size_t T = 0;           ///< sequence length, source and target
    std::size_t vocab_size = 0;  ///< number of distinct tokens, |V|
    matrix E;  ///< fixed random token embeddings `(|V|, T)`
    matrix P;  ///< source position codes, one-hot `(T, T)`
    matrix Q;  ///< decoder states, the i-th row is `q_{i-1}`,
               ///< a one-hot code of target position i `(T, T)`
    std::vector<std::size_t> source_of;  ///< the right alignment
};

/// \brief Builds the reversal task: one-hot position codes and random
///        normal token embeddings of width `T`, so that `d_h = T` and the
///        annotations `[E_{x_j} ; P_j]` have width `2d_h`.
/// \param T          sequence length
/// \param vocab_size number of distinct tokens |V|
/// \param seed       seed of the token embeddings
/// \return the task
/// \throws std::invalid_argument if `T` or `vocab_size` is 0
inline reversal_task make_reversal_task(std::size_t T, std::size_t vocab_size,
                                        std::uint64_t seed)
{
    if (T == 0 || vocab_size == 0) {
        throw std::invalid_argument(
            "make_reversal_task: T and vocab_size must be positive, got T = "
            + std::to_string(T) + ", vocab_size = "
            + std::to_string(vocab_size));
    }
    reversal_task task;
    task.T = T;
    task.vocab_size = vocab_size;
    rng r(seed);
    task.E = normal_matrix(vocab_size, T, r);
    task.P = xt::eye<double>(T);
    task.Q = xt::eye<double>(T);
    for (std::size_t i = 0; i < T; ++i) {
        task.source_of.push_back(T - 1 - i);
    }
    return task;
}

// [ch01-task-annotations]
/// \brief The annotations of a source sequence in the toy task: row `j` is
///        `[E_{x_j} ; P_j]`, what the token is and where it stands.
/// \param task   the task
/// \param tokens the source tokens, `T` of them, each in `[0, |V|)`
/// \return the annotations `(T, 2d_h)`
/// \throws std::invalid_argument on a wrong length or a bad token
inline matrix task_annotations(const reversal_task& task,
                               const std::vector<std::size_t>& tokens)
{
    if (tokens.size() != task.T) {
        throw std::invalid_argument(
            "task_annotations: expected " + std::to_string(task.T)
            + " tokens, got " + std::to_string(tokens.size()));
    }
    matrix what = xt::zeros<double>({task.T, task.E.shape()[1]});
    for (std::size_t j = 0; j < task.T; ++j) {
        if (tokens[j] >= task.vocab_size) {
            throw std::invalid_argument("task_annotations: token "
                                        + std::to_string(tokens[j])
                                        + " outside [0, "
                                        + std::to_string(task.vocab_size)
                                        + ")");
        }
        for (std::size_t l = 0; l < what.shape()[1]; ++l) {
            what(j, l) = task.E(tokens[j], l);
        }
    }
    return annotations(what, task.P);                         // (T, 2d_h)
}
// [ch01-task-annotations]

namespace detail {

// A task as make_reversal_task builds it: T, |V| > 0 and matrices that fit.
inline void expect_alignment_task(const std::string& where,
                                  const reversal_task& task)
{
    if (task.T == 0 || task.vocab_size == 0) {
        throw std::invalid_argument(
            where + ": the task needs T and vocab_size positive (see "
            "make_reversal_task), got T = " + std::to_string(task.T)
            + ", vocab_size = " + std::to_string(task.vocab_size));
    }
    expect_shape(where, "task.E", task.E, {task.vocab_size, task.T},
                 "(|V|, T)");
    expect_shape(where, "task.P", task.P, {task.T, task.T}, "(T, T)");
    expect_shape(where, "task.Q", task.Q, {task.T, task.T}, "(T, T)");
    if (task.source_of.size() != task.T) {
        throw std::invalid_argument(where + ": task.source_of must have "
                                    + std::to_string(task.T)
                                    + " entries, got "
                                    + std::to_string(task.source_of.size()));
    }
}

}  // namespace detail

/// \brief How the toy model is trained.
struct alignment_training_options {
    std::size_t d_a = 16;          ///< alignment hidden width d_a
    std::size_t steps = 600;       ///< gradient steps
    std::size_t batch = 32;        ///< sequences per step
    std::size_t test_size = 64;    ///< held-out sequences for the accuracy
    std::size_t log_every = 10;    ///< record the history every so often
    double learning_rate = 1.0;    ///< step size eta
    double init_scale = 0.5;       ///< std. deviation of W_a and U_a at start
    double readout_scale = 0.1;    ///< std. deviation of W_r at start
    std::uint64_t seed = 1;        ///< seed of the data and the start
};

/// \brief One point of the training history, measured on the held-out
///        sequences.
struct training_record {
    std::size_t step = 0;             ///< gradient steps taken so far
    double train_loss = 0.0;          ///< mean loss of the last batch
    double test_loss = 0.0;           ///< mean loss on held-out sequences
    double alignment_accuracy = 0.0;  ///< share of `argmax_j a_ij`
                                      ///< equal to the right position
    double output_accuracy = 0.0;     ///< share of right output tokens
};

/// \brief The trained model, its history and the held-out sequences.
struct training_result {
    alignment_model model;                        ///< the final parameters
    std::vector<training_record> history;         ///< every `log_every` steps
    std::vector<std::vector<std::size_t>> test;   ///< held-out sources
};

/// \brief The right output tokens of a source sequence: the source read at
///        `task.source_of`, that is reversed.
/// \param task the task
/// \param x    the source tokens, `T` of them
/// \return the `T` target tokens
inline std::vector<std::size_t> task_targets(const reversal_task& task,
                                             const std::vector<std::size_t>& x)
{
    std::vector<std::size_t> y(task.T);
    for (std::size_t i = 0; i < task.T; ++i) {
        y[i] = x[task.source_of[i]];
    }
    return y;
}

/// \brief Measures a model on held-out sequences of the task.
/// \param model the parameters
/// \param task  the task
/// \param test  source sequences, `T` tokens each
/// \return the test loss and the two accuracies (`step` and `train_loss`
///         left 0)
/// \throws std::invalid_argument on inconsistent shapes or no test
///         sequence
inline training_record evaluate_alignment(
    const alignment_model& model, const reversal_task& task,
    const std::vector<std::vector<std::size_t>>& test)
{
    detail::expect_alignment_task("evaluate_alignment", task);
    if (test.empty()) {
        throw std::invalid_argument("evaluate_alignment: expected at least "
                                    "one test sequence, got none");
    }
    training_record r;
    std::size_t aligned = 0, right = 0, total = 0;
    for (const auto& x : test) {
        const matrix h = task_annotations(task, x);
        const auto f = alignment_forward(model, task.Q, h);
        const std::vector<std::size_t> y = task_targets(task, x);
        for (std::size_t i = 0; i < task.T; ++i) {
            aligned += detail::argmax_row(f.a, i) == task.source_of[i];
            right += detail::argmax_row(f.p, i) == y[i];
            ++total;
        }
        r.test_loss += alignment_loss(f.o, y) / double(test.size());
    }
    r.alignment_accuracy = double(aligned) / double(total);
    r.output_accuracy = double(right) / double(total);
    return r;
}

namespace detail {

inline void expect_alignment_training_options(
    const std::string& where, const reversal_task& task,
    const alignment_training_options& options)
{
    if (options.batch == 0 || options.d_a == 0
        || options.log_every == 0 || options.test_size == 0) {
        throw std::invalid_argument(
            where + ": batch, d_a, log_every and test_size must be "
            "positive, got " + std::to_string(options.batch) + ", "
            + std::to_string(options.d_a) + ", "
            + std::to_string(options.log_every) + ", "
            + std::to_string(options.test_size));
    }
    expect_alignment_task(where, task);
}

// T random tokens of the task, drawn from r.
inline std::vector<std::size_t> random_tokens(const reversal_task& task,
                                              rng& r)
{
    std::vector<std::size_t> x(task.T);
    for (auto& t : x) {
        t = r.below(task.vocab_size);
    }
    return x;
}

// `count` sequences of random tokens, drawn from r one after the other.
inline std::vector<std::vector<std::size_t>> random_sequences(
    const reversal_task& task, std::size_t count, rng& r)
{
    std::vector<std::vector<std::size_t>> xs;
    for (std::size_t k = 0; k < count; ++k) {
        xs.push_back(random_tokens(task, r));
    }
    return xs;
}

// The starting parameters, drawn from r: W_a and U_a ~ N(0, init_scale^2),
// v_a = 0 (Bahdanau et al., App. B.1), W_r ~ N(0, readout_scale^2), b_r = 0.
inline alignment_model initial_alignment_model(
    const reversal_task& task, const alignment_training_options& options,
    rng& r)
{
    const std::size_t d_h = task.Q.shape()[1];
    const std::size_t two_d_h = 2 * task.E.shape()[1];
    alignment_model m;
    m.W_a = normal_matrix(options.d_a, d_h, r, options.init_scale);
    m.U_a = normal_matrix(options.d_a, two_d_h, r, options.init_scale);
    m.v_a = xt::zeros<double>({options.d_a});
    m.W_r = normal_matrix(task.vocab_size, two_d_h, r, options.readout_scale);
    m.b_r = xt::zeros<double>({task.vocab_size});
    return m;
}

// Measures result.model on the held-out sequences, appends the record to
// the history and hands it, with the model, to on_log (if set).
inline void log_training(
    training_result& result, const reversal_task& task, std::size_t step,
    double train_loss,
    const std::function<void(const training_record&,
                             const alignment_model&)>& on_log)
{
    training_record record = evaluate_alignment(result.model, task,
                                                result.test);
    record.step = step;
    record.train_loss = train_loss;
    result.history.push_back(record);
    if (on_log) {
        on_log(record, result.model);
    }
}

}  // namespace detail

// [ch01-batch-gradients]
/// \brief The loss and the gradients (Eq.
///        \ref eq_alignment_parameter_gradients "(1.9)") summed over a
///        batch of `batch` random sequences drawn from `r`.
/// \param model,task the parameters and the task
/// \param batch      sequences in the batch, at least 1
/// \param r          the generator the sequences come from
/// \return the summed loss and gradients (`dL_dc`, `dL_de` of the first)
inline alignment_backward_pass batch_gradient_sum(
    const alignment_model& model, const reversal_task& task,
    std::size_t batch, rng& r)
{
    alignment_backward_pass sum;
    for (std::size_t k = 0; k < batch; ++k) {
        const auto x = detail::random_tokens(task, r);
        auto b = alignment_gradients(model, task.Q, task_annotations(task, x),
                                     task_targets(task, x));
        if (k == 0) {
            sum = std::move(b);
            continue;
        }
        sum.loss += b.loss;
        sum.dL_dtheta.W_a += b.dL_dtheta.W_a;
        sum.dL_dtheta.U_a += b.dL_dtheta.U_a;
        sum.dL_dtheta.v_a += b.dL_dtheta.v_a;
        sum.dL_dtheta.W_r += b.dL_dtheta.W_r;
        sum.dL_dtheta.b_r += b.dL_dtheta.b_r;
    }
    return sum;
}
// [ch01-batch-gradients]

// [ch01-train-alignment]
/// \brief Trains the toy model by plain gradient descent on the mean over
///        each batch of the gradients of Eq.
///        \ref eq_alignment_parameter_gradients "(1.9)".
/// \param task,options,on_log the task; sizes, steps, step size and seed;
///        if set, a function called with every record and the model then
/// \return the model, its history and the held-out sequences
inline training_result train_alignment(
    const reversal_task& task, const alignment_training_options& options,
    const std::function<void(const training_record&,
                             const alignment_model&)>& on_log = nullptr)
{
    detail::expect_alignment_training_options("train_alignment", task,
                                              options);
    rng r(options.seed);  // held-out data, start and batches, in this order
    training_result result;
    result.test = detail::random_sequences(task, options.test_size, r);
    result.model = detail::initial_alignment_model(task, options, r);
    alignment_model& m = result.model;
    detail::log_training(result, task, 0, std::nan(""), on_log);  // no batch
    for (std::size_t step = 1; step <= options.steps; ++step) {
        const auto sum = batch_gradient_sum(m, task, options.batch, r);
        // eta times the batch's mean gradient: sum holds their sum.
        const double rate = options.learning_rate / double(options.batch);
        m.W_a -= rate * sum.dL_dtheta.W_a;
        m.U_a -= rate * sum.dL_dtheta.U_a;
        m.v_a -= rate * sum.dL_dtheta.v_a;
        m.W_r -= rate * sum.dL_dtheta.W_r;
        m.b_r -= rate * sum.dL_dtheta.b_r;
        if (step % options.log_every == 0 || step == options.steps) {
            detail::log_training(result, task, step,
                                 sum.loss / double(options.batch), on_log);
        }
    }
    return result;
}
// [ch01-train-alignment]

}  // namespace attn

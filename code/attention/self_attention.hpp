// Self-attention: the queries, keys and values of one sequence all come
// from that same sequence, through three learned projections, and every
// position attends to every position in one step. The retrieval itself is
// attn::attend of the introduction; this header builds its inputs, keeps a
// literal-loop reference beside it, gives the column form of the author's
// notes, and measures why the scores are divided by sqrt(d_k).
//
// Glossary (tokens are rows):
//   x     the sequence, one token per row                 // (n, d_model)
//   w_q   query projection                                // (d_model, d_k)
//   w_k   key projection                                  // (d_model, d_k)
//   w_v   value projection                                // (d_model, d_v)
//   q     queries x w_q                                   // (n, d_k)
//   k     keys x w_k                                      // (n, d_k)
//   v     values x w_v                                    // (n, d_v)
//   s     scaled scores q k^T / sqrt(d_k)                 // (n, n)
//   a     weights softmax_rows(s)                         // (n, n)
//   y     outputs a v                                     // (n, d_v)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "attention/attend.hpp"
#include "attention/core.hpp"
#include "attention/random.hpp"
#include "attention/softmax.hpp"

/// \file
/// \brief Self-attention, its literal loops and column form, and the
///        measurements behind the scale 1/sqrt(d_k)
///        (\ref ch02_self_attention).

namespace attn {

/// \brief Everything one self-attention step computes, named after the
///        symbols of Eqs. (2.1)-(2.4).
struct self_attention_result {
    matrix q;  ///< queries `x w_q`, `(n, d_k)`
    matrix k;  ///< keys `x w_k`, `(n, d_k)`
    matrix v;  ///< values `x w_v`, `(n, d_v)`
    matrix s;  ///< scaled scores `q k^T / sqrt(d_k)`, `(n, n)`
    matrix a;  ///< weights `softmax_rows(s)`, rows summing to 1, `(n, n)`
    matrix y;  ///< outputs `a v`, `(n, d_v)`
};

namespace detail {

inline void expect_self_attention_shapes(const std::string& where,
                                        const matrix& x, const matrix& w_q,
                                        const matrix& w_k, const matrix& w_v)
{
    expect_nonempty(where, "x", x);
    expect_nonempty(where, "w_q", w_q);
    expect_nonempty(where, "w_v", w_v);
    const std::size_t d_model = x.shape()[1], d_k = w_q.shape()[1];
    expect_shape(where, "w_q", w_q, {d_model, d_k}, "(d_model, d_k)");
    expect_shape(where, "w_k", w_k, {d_model, d_k}, "(d_model, d_k)");
    expect_shape(where, "w_v", w_v, {d_model, w_v.shape()[1]},
                 "(d_model, d_v)");
}

}  // namespace detail

// [ch02-self-attention]
/// \brief Self-attention, Eqs. \ref eq_qkv_projections "(2.1)" to
///        \ref eq_self_attention_output "(2.4)": project one sequence into
///        queries, keys and values, then let every token attend to every
///        token with attn::attend.
/// \param x   the sequence, one token per row, `(n, d_model)`
/// \param w_q query projection `(d_model, d_k)`
/// \param w_k key projection `(d_model, d_k)`
/// \param w_v value projection `(d_model, d_v)`
/// \return `q, k (n, d_k)`, `v (n, d_v)`, `s, a (n, n)`, `y (n, d_v)`
/// \throws std::invalid_argument if a matrix is empty or the shapes do not
///         fit together
inline self_attention_result self_attention(const matrix& x,
                                            const matrix& w_q,
                                            const matrix& w_k,
                                            const matrix& w_v)
{
    detail::expect_self_attention_shapes("self_attention", x, w_q, w_k, w_v);
    self_attention_result r;
    // Three projections of the same sequence, Eq. (2.1).
    r.q = xt::linalg::dot(x, w_q);                            // (n, d_k)
    r.k = xt::linalg::dot(x, w_k);                            // (n, d_k)
    r.v = xt::linalg::dot(x, w_v);                            // (n, d_v)
    // Scaled scores, weights and outputs, Eqs. (2.2)-(2.4) = Eq. (0.2).
    attention_result step = attend(r.q, r.k, r.v);
    r.s = std::move(step.s);                                  // (n, n)
    r.a = std::move(step.a);                                  // (n, n)
    r.y = std::move(step.y);                                  // (n, d_v)
    return r;
}
// [ch02-self-attention]

/// \brief A projection of Eq. \ref eq_qkv_projections "(2.1)" as literal
///        loops, one sum per entry: `x w`.
/// \param x the sequence `(n, d_model)`
/// \param w a projection `(d_model, d)`
/// \return `x w`, `(n, d)`
/// \throws std::invalid_argument if `w` does not have `d_model` rows
// [ch02-projection-reference]
inline matrix project_reference(const matrix& x, const matrix& w)
{
    expect_shape("project_reference", "w", w, {x.shape()[1], w.shape()[1]},
                 "(d_model, d)");
    matrix p = xt::zeros<double>({x.shape()[0], w.shape()[1]});
    for (std::size_t t = 0; t < x.shape()[0]; ++t) {      // token t
        for (std::size_t c = 0; c < w.shape()[1]; ++c) {
            for (std::size_t m = 0; m < x.shape()[1]; ++m) {
                p(t, c) += x(t, m) * w(m, c);
            }
        }
    }
    return p;
}
// [ch02-projection-reference]

/// \brief The same self-attention as literal loops, one sum per entry,
///        straight from Eqs. (2.1)-(2.4); the tests compare the two.
/// \param x   the sequence `(n, d_model)`
/// \param w_q query projection `(d_model, d_k)`
/// \param w_k key projection `(d_model, d_k)`
/// \param w_v value projection `(d_model, d_v)`
/// \return the same six matrices as attn::self_attention
/// \throws std::invalid_argument on the same shapes as attn::self_attention
// [ch02-self-attention-reference]
inline self_attention_result self_attention_reference(const matrix& x,
                                                      const matrix& w_q,
                                                      const matrix& w_k,
                                                      const matrix& w_v)
{
    detail::expect_self_attention_shapes("self_attention_reference", x, w_q,
                                        w_k, w_v);
    self_attention_result r;
    r.q = project_reference(x, w_q);               // Eq. (2.1)
    r.k = project_reference(x, w_k);
    r.v = project_reference(x, w_v);
    const std::size_t n = x.shape()[0];
    const std::size_t d_k = w_q.shape()[1], d_v = w_v.shape()[1];
    r.s = xt::zeros<double>({n, n});
    for (std::size_t i = 0; i < n; ++i) {          // Eq. (2.2), s_ij
        for (std::size_t j = 0; j < n; ++j) {
            for (std::size_t c = 0; c < d_k; ++c) {
                r.s(i, j) += r.q(i, c) * r.k(j, c);
            }
            r.s(i, j) /= std::sqrt(double(d_k));
        }
    }
    r.a = softmax_rows_reference(r.s);             // Eq. (2.3)
    r.y = xt::zeros<double>({n, d_v});
    for (std::size_t i = 0; i < n; ++i) {          // Eq. (2.4), y_i
        for (std::size_t j = 0; j < n; ++j) {
            for (std::size_t c = 0; c < d_v; ++c) {
                r.y(i, c) += r.a(i, j) * r.v(j, c);
            }
        }
    }
    return r;
}
// [ch02-self-attention-reference]

/// \brief The inputs of the walk-through of chapter 2: a six-token
///        sentence, `d_model = d_k = d_v = 4`, every number chosen by hand
///        (`x` and `w_v` hold halves, `w_q` and `w_k` whole numbers, so
///        that `q` and `k` hold halves, the scores `q . k / 2` eighths and
///        `v` quarters).
struct walkthrough_inputs {
    std::vector<std::string> tokens;  ///< the words, one per row of `x`
    matrix x;                         ///< the sequence `(6, 4)`
    matrix w_q;                       ///< query projection `(4, 4)`
    matrix w_k;                       ///< key projection `(4, 4)`
    matrix w_v;                       ///< value projection `(4, 4)`
};

/// \brief The walk-through's sentence "the dog chased a red ball" and its
///        hand-chosen projections.
/// \return the tokens, `x (6, 4)` and `w_q, w_k, w_v (4, 4)`
inline walkthrough_inputs walkthrough_example()
{
    walkthrough_inputs in;
    in.tokens = {"the", "dog", "chased", "a", "red", "ball"};
    in.x = {{0.0, 0.0, 1.0, 0.0},    // the
            {1.0, 0.5, 0.0, 0.0},    // dog
            {0.0, 1.0, 0.0, 0.5},    // chased
            {0.0, 0.0, 1.0, 0.5},    // a
            {0.5, 0.0, 0.0, 1.0},    // red
            {1.0, 0.0, 0.5, 0.0}};   // ball
    in.w_q = {{0.0, 1.0, 0.0, 0.0},
              {2.0, 0.0, 0.0, 1.0},
              {1.0, 0.0, 0.0, 0.0},
              {0.0, 0.0, 1.0, 0.0}};
    in.w_k = {{2.0, 0.0, 0.0, 0.0},
              {0.0, 1.0, 0.0, 0.0},
              {0.0, 0.0, 1.0, 0.0},
              {0.0, 0.0, 0.0, 1.0}};
    in.w_v = {{1.0, 0.0, 0.0, 0.5},
              {0.0, 1.0, 0.0, 0.0},
              {0.0, 0.0, 1.0, 0.0},
              {0.0, 0.5, 0.0, 1.0}};
    return in;
}

/// \brief Chapter 2's hand-made sentence, "the cat sat on the mat because
///        it was tired": one-hot embeddings of each word's kind and a
///        hand-set \f$W_q\f$ (\ref ch02_self_attention, *A sentence
///        attending to itself*). The chapter's program and its playground
///        both use it.
namespace sentence {

// [ch02-sentence-example]
// A ten-word sentence with hand-made embeddings: each word is one-hot in
// the feature of its kind (d_model = 8), so x_t says only WHAT a word is,
// never WHERE it stands.
/// The kinds of word, one feature each; `d_model`, last, counts them.
enum feature {
    animal,  ///< a noun for an animal ("cat")
    thing,   ///< a noun for a thing ("mat")
    det,     ///< a determiner ("the")
    verb,    ///< a verb ("sat", "was")
    pron,    ///< a pronoun ("it")
    prep,    ///< a preposition ("on")
    conj,    ///< a conjunction ("because")
    adj,     ///< an adjective ("tired")
    d_model  ///< the number of kinds, 8: the width of an embedding
};
/// The sentence's words.
inline const std::vector<std::string> words = {
    "the", "cat", "sat", "on", "the", "mat", "because", "it", "was", "tired"};
/// The kind of each word.
inline const std::vector<feature> kinds = {det,  animal, verb, prep, det,
                                           thing, conj,  pron, verb, adj};

// The row of W_q for a kind is the query of a word of that kind: which
// features it looks for in the keys. W_k = W_v = I, so a key or value is
// the word's kind.
// Each match adds c to a score; c = 3 sqrt(d_k) makes it 3 after scaling.
/// \brief The hand-set query projection.
/// \return \f$W_q\f$ `(d_model, d_model)`
inline matrix w_q()
{
    const double d_k = double(d_model);  // W_k = I: keys as wide as x
    const double c = 3.0 * std::sqrt(d_k);
    matrix w_q = xt::zeros<double>({std::size_t(d_model),
                                    std::size_t(d_model)});
    w_q(det, animal) = w_q(det, thing) = c;    // "the" looks for its noun
    w_q(animal, det) = w_q(thing, det) = c;    // a noun for its "the"
    w_q(verb, animal) = w_q(verb, pron) = c;   // a verb for its subject
    w_q(pron, animal) = c;                     // "it" for an animal
    w_q(adj, pron) = c;                        // "tired" for who is tired
    w_q(prep, thing) = c;                      // "on" for a place
    w_q(conj, verb) = c;                       // "because" links two verbs
    return w_q;
}
// [ch02-sentence-example]

/// \brief One-hot embeddings of a sequence of kinds.
/// \param k the kind of each word
/// \return `x (k.size(), d_model)`: row t is 1 in the feature of `k[t]`
inline matrix embed(const std::vector<feature>& k)
{
    matrix x = xt::zeros<double>({k.size(), std::size_t(d_model)});
    for (std::size_t t = 0; t < k.size(); ++t) {
        x(t, k[t]) = 1.0;
    }
    return x;
}

}  // namespace sentence

/// \brief The steps of one query row of Eqs. (2.3) and (2.4), as a reader
///        does them by hand.
struct row_by_hand {
    double m = 0.0;               ///< the row's largest score `m_i`
    std::vector<double> shifted;  ///< `s_ij - m_i`, one per key
    std::vector<double> e;        ///< `exp(s_ij - m_i)`, one per key
    double total = 0.0;           ///< the sum of `e`
    std::vector<double> a;        ///< the weights `a_ij = e_j / total`
    matrix y;                     ///< the output `sum_j a_ij v_j`, `(1, d_v)`
};

namespace detail {

inline void expect_row_by_hand_args(const matrix& s, const matrix& v,
                                    std::size_t i)
{
    expect_nonempty("attention_row_by_hand", "s", s);
    expect_shape("attention_row_by_hand", "v", v,
                 {s.shape()[1], v.shape()[1]}, "(n_k, d_v)");
    if (i >= s.shape()[0]) {
        throw std::invalid_argument(
            "attention_row_by_hand: i must be a row of s, below "
            + std::to_string(s.shape()[0]) + ", got " + std::to_string(i));
    }
}

}  // namespace detail

/// \brief Row `i` of Eqs. \ref eq_self_attention_weights "(2.3)" and
///        \ref eq_self_attention_output "(2.4)" step by step, in loops:
///        subtract the largest score, exponentiate, normalise, mix.
/// \param s the scaled scores `(n_q, n_k)`
/// \param v the values `(n_k, d_v)`
/// \param i the query row, `i < n_q`
/// \return every intermediate number of the row
/// \throws std::invalid_argument if the shapes do not fit or `i` is too
///         large
// [ch02-row-by-hand]
inline row_by_hand attention_row_by_hand(const matrix& s, const matrix& v,
                                         std::size_t i)
{
    detail::expect_row_by_hand_args(s, v, i);
    const std::size_t n_k = s.shape()[1], d_v = v.shape()[1];
    row_by_hand r;
    r.m = s(i, 0);
    for (std::size_t j = 1; j < n_k; ++j) {
        r.m = std::max(r.m, s(i, j));
    }
    for (std::size_t j = 0; j < n_k; ++j) {
        r.shifted.push_back(s(i, j) - r.m);     // at most 0
        r.e.push_back(std::exp(r.shifted[j]));  // in (0, 1]
        r.total += r.e[j];
    }
    r.y = xt::zeros<double>({std::size_t(1), d_v});
    for (std::size_t j = 0; j < n_k; ++j) {
        r.a.push_back(r.e[j] / r.total);        // Eq. (2.3)
        for (std::size_t c = 0; c < d_v; ++c) {
            r.y(0, c) += r.a[j] * v(j, c);      // Eq. (2.4)
        }
    }
    return r;
}
// [ch02-row-by-hand]

namespace detail {

// The shape checks of attn::self_attention_columns: x_cols (d_model, n),
// wq_cols and wk_cols (d_k, d_model), wv_cols (d_v, d_model).
inline void expect_columns_shapes(const matrix& x_cols, const matrix& wq_cols,
                                  const matrix& wk_cols, const matrix& wv_cols)
{
    expect_nonempty("self_attention_columns", "x_cols", x_cols);
    expect_nonempty("self_attention_columns", "wq_cols", wq_cols);
    expect_nonempty("self_attention_columns", "wv_cols", wv_cols);
    const std::size_t d_model = x_cols.shape()[0], d_k = wq_cols.shape()[0];
    expect_shape("self_attention_columns", "wq_cols", wq_cols, {d_k, d_model},
                 "(d_k, d_model)");
    expect_shape("self_attention_columns", "wk_cols", wk_cols, {d_k, d_model},
                 "(d_k, d_model)");
    expect_shape("self_attention_columns", "wv_cols", wv_cols,
                 {wv_cols.shape()[0], d_model}, "(d_v, d_model)");
}

}  // namespace detail

// [ch02-self-attention-columns]
/// \brief Self-attention in the column form of the author's notes,
///        Eq. \ref eq_self_attention_column_form "(2.5)": tokens are
///        columns, `Q = W_q X`, `K = W_k X`, `V = W_v X` and
///        `V~ = V softmax_columns(K^T Q / sqrt(d_attn))`.
/// \param x_cols   the sequence as columns `(d_model, n)`
/// \param wq_cols  query projection in column form `(d_k, d_model)`, the
///                 transpose of the row form's `w_q`
/// \param wk_cols  key projection in column form `(d_k, d_model)`
/// \param wv_cols  value projection in column form `(d_v, d_model)`
/// \return the outputs as columns `(d_v, n)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix self_attention_columns(const matrix& x_cols,
                                     const matrix& wq_cols,
                                     const matrix& wk_cols,
                                     const matrix& wv_cols)
{
    detail::expect_columns_shapes(x_cols, wq_cols, wk_cols, wv_cols);
    const matrix q_cols = xt::linalg::dot(wq_cols, x_cols);      // (d_k, n)
    const matrix k_cols = xt::linalg::dot(wk_cols, x_cols);      // (d_k, n)
    const matrix v_cols = xt::linalg::dot(wv_cols, x_cols);      // (d_v, n)
    return attend_columns(q_cols, k_cols, v_cols);               // (d_v, n)
}
// [ch02-self-attention-columns]

/// \brief Returns the rows of `x` in the order `perm`: row `t` of the
///        result is row `perm[t]` of `x` (the matrix product `P x` with
///        `P[t, perm[t]] = 1`).
/// \param x    any matrix `(n, d)`
/// \param perm a permutation of `0, ..., n-1`
/// \return the permuted matrix `(n, d)`
/// \throws std::invalid_argument if `perm` is not a permutation of the
///         rows of `x`
inline matrix permute_rows(const matrix& x,
                           const std::vector<std::size_t>& perm)
{
    const std::size_t n = x.shape()[0];
    std::vector<bool> seen(n, false);
    bool valid = perm.size() == n;
    for (std::size_t t = 0; valid && t < n; ++t) {
        valid = perm[t] < n && !seen[perm[t]];
        if (valid) {
            seen[perm[t]] = true;
        }
    }
    if (!valid) {
        throw std::invalid_argument(
            "permute_rows: perm must be a permutation of 0, ..., n-1 with "
            "n = " + std::to_string(n) + " (the rows of x), got "
            + std::to_string(perm.size()) + " entries or a repeat");
    }
    matrix out = xt::zeros<double>(x.shape());
    for (std::size_t t = 0; t < n; ++t) {
        for (std::size_t c = 0; c < x.shape()[1]; ++c) {
            out(t, c) = x(perm[t], c);
        }
    }
    return out;
}

// ------------------------------------------------- why 1/sqrt(d_k)

/// \brief Sample statistics of the dot product `q . k` of random vectors.
struct dot_product_sample {
    std::size_t d_k = 0;      ///< length of `q` and `k`
    std::size_t n = 0;        ///< number of independent pairs drawn
    double mean = 0.0;        ///< sample mean of `q . k`
    double variance = 0.0;    ///< sample variance of `q . k` (divisor n - 1)
    double mean_scaled = 0.0;      ///< sample mean of `q . k / sqrt(d_k)`
    double variance_scaled = 0.0;  ///< sample variance of the scaled one
};

namespace detail {

// The check of attn::measure_dot_products: vectors of at least one entry,
// at least two pairs for a sample variance.
inline void expect_dot_sample_size(std::size_t d_k, std::size_t n)
{
    if (d_k < 1 || n < 2) {
        throw std::invalid_argument("measure_dot_products: need d_k >= 1 and "
                                    "n >= 2, got d_k = " + std::to_string(d_k)
                                    + ", n = " + std::to_string(n));
    }
}

}  // namespace detail

/// \brief Draws `n` independent pairs `q, k` with i.i.d. standard normal
///        entries and measures the mean and variance of `q . k` and of
///        `q . k / sqrt(d_k)`, the claim of Eq.
///        \ref eq_dot_variance "(2.6)".
/// \param d_k  length of the vectors, at least 1
/// \param n    number of pairs, at least 2
/// \param seed seed of the random numbers (attn::rng)
/// \return the sample statistics
/// \throws std::invalid_argument if `d_k < 1` or `n < 2`
// [ch02-dot-variance]
inline dot_product_sample measure_dot_products(std::size_t d_k,
                                               std::size_t n,
                                               std::uint64_t seed)
{
    detail::expect_dot_sample_size(d_k, n);
    rng random(seed);
    double sum = 0.0, sum_sq = 0.0;
    for (std::size_t t = 0; t < n; ++t) {
        double dot = 0.0;                       // q . k = sum_c q_c k_c
        for (std::size_t c = 0; c < d_k; ++c) {
            const double q_c = random.normal();
            const double k_c = random.normal();
            dot += q_c * k_c;
        }
        sum += dot;
        sum_sq += dot * dot;
    }
    dot_product_sample r;
    r.d_k = d_k;
    r.n = n;
    r.mean = sum / double(n);
    r.variance = (sum_sq - double(n) * r.mean * r.mean) / double(n - 1);
    // Dividing every sample by sqrt(d_k) divides the mean by sqrt(d_k) and
    // the variance by d_k, exactly.
    r.mean_scaled = r.mean / std::sqrt(double(d_k));
    r.variance_scaled = r.variance / double(d_k);
    return r;
}
// [ch02-dot-variance]

namespace detail {

// The checks of attn::softmax_jacobian: one non-empty row of weights.
inline void expect_weight_row(const matrix& a)
{
    expect_nonempty("softmax_jacobian", "a", a);
    expect_shape("softmax_jacobian", "a", a, {1, a.shape()[1]}, "(1, n_k)");
}

// The checks of attn::measure_saturation: scores not empty, all finite.
inline void expect_finite_scores(const matrix& s)
{
    expect_nonempty("measure_saturation", "s", s);
    expect_finite("measure_saturation", "s", s);
}

}  // namespace detail

// [ch02-softmax-jacobian]
/// \brief The Jacobian of the softmax at one row of weights,
///        Eq. \ref eq_softmax_jacobian "(2.7)":
///        `J[j, l] = d a_j / d s_l = a_j (delta_jl - a_l)`.
/// \param a one row of softmax weights, `(1, n_k)`
/// \return `diag(a) - a^T a`, `(n_k, n_k)`
/// \throws std::invalid_argument unless `a` is one non-empty row
inline matrix softmax_jacobian(const matrix& a)
{
    detail::expect_weight_row(a);
    const std::size_t n_k = a.shape()[1];
    matrix J = xt::zeros<double>({n_k, n_k});
    for (std::size_t j = 0; j < n_k; ++j) {
        for (std::size_t l = 0; l < n_k; ++l) {
            J(j, l) = a(0, j) * ((j == l ? 1.0 : 0.0) - a(0, l));  // Eq. (2.7)
        }
    }
    return J;
}
// [ch02-softmax-jacobian]

/// \brief How saturated the softmax of a set of score rows is: averages
///        over the rows.
struct softmax_saturation {
    double max_weight = 0.0;     ///< mean of the largest weight of a row
    double entropy = 0.0;        ///< mean entropy `-sum_j a_j log a_j`, nats
    double jacobian_norm = 0.0;  ///< mean Frobenius norm of Eq. (2.7)
};

// [ch02-saturation]
/// \brief Measures, for the softmax of each row of `s`, the largest weight,
///        the entropy and the Frobenius norm of the Jacobian
///        (Eq. \ref eq_softmax_jacobian "(2.7)"), and averages them.
/// \param s scores, one row per query, `(n_q, n_k)`, finite
/// \return the three averages
/// \throws std::invalid_argument if `s` is empty or not finite
inline softmax_saturation measure_saturation(const matrix& s)
{
    detail::expect_finite_scores(s);
    const matrix a = softmax_rows(s);                         // (n_q, n_k)
    const std::size_t n_q = a.shape()[0], n_k = a.shape()[1];
    softmax_saturation r;
    for (std::size_t i = 0; i < n_q; ++i) {
        double largest = 0.0, entropy = 0.0;
        matrix row = xt::zeros<double>({std::size_t(1), n_k});
        for (std::size_t j = 0; j < n_k; ++j) {
            const double w = a(i, j);
            row(0, j) = w;
            largest = std::max(largest, w);
            entropy -= w > 0.0 ? w * std::log(w) : 0.0;
        }
        const matrix jac = softmax_jacobian(row);             // (n_k, n_k)
        r.max_weight += largest / double(n_q);
        r.entropy += entropy / double(n_q);
        r.jacobian_norm += std::sqrt(xt::sum(jac * jac)()) / double(n_q);
    }
    return r;
}
// [ch02-saturation]

}  // namespace attn

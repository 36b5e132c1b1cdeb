// Additive attention as Bahdanau, Cho and Bengio (2014) built it for
// translation: annotations from a bidirectional encoder, energies from a
// one-layer network, weights from a softmax, a context per target word.
// Beside it, the dot, general and scaled dot scores of Luong et al. (2015)
// and Vaswani et al. (2017). The small alignment model that chapter 1
// trains on a task whose right alignment is known is in alignment_toy.hpp.
//
// Glossary (tokens are rows; i and j count from 0, the paper's from 1):
//   x        source word vectors                            // (T_x, m)
//   h_fwd    forward encoder states, row j is ->h_j         // (T_x, d_h)
//   h_bwd    backward encoder states, row j is <-h_j        // (T_x, d_h)
//   h        annotations [->h_j ; <-h_j]                    // (T_x, 2d_h)
//   q_prev   decoder states, the queries: row i is q_{i-1}  // (T_y, d_h)
//            (Bahdanau et al. write s_{i-1}; s is a score in this book)
//   W_a      alignment weights on the decoder state         // (d_a, d_h)
//   U_a      alignment weights on the annotations           // (d_a, 2d_h)
//   v_a      alignment output weights                       // (d_a,)
//   e        energies e_ij                                  // (T_y, T_x)
//   a        weights a_ij (the matrix A), each row sums to 1 // (T_y, T_x)
//   c        contexts, the i-th row is c_i                  // (T_y, 2d_h)
//   q        decoder states of Luong's scores               // (T_y, d_q)
//   W        weights of Luong's general score               // (d_q, d_k)
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/random.hpp"
#include "attention/softmax.hpp"

/// \file
/// \brief Bahdanau's additive attention and the scores of Luong and
///        Vaswani (\ref ch01_bahdanau).

namespace attn {

namespace detail {

inline void expect_rnn_shapes(const matrix& x, const matrix& W,
                              const matrix& U)
{
    expect_nonempty("rnn_states", "x", x);
    expect_nonempty("rnn_states", "W", W);
    const std::size_t d_h = W.shape()[0], m = x.shape()[1];
    expect_shape("rnn_states", "W", W, {d_h, m}, "(d_h, m)");
    expect_shape("rnn_states", "U", U, {d_h, d_h}, "(d_h, d_h)");
}

}  // namespace detail

// [ch01-rnn-states]
/// \brief The states of a plain tanh recurrent network, the stand-in for
///        the encoder of Eq. \ref eq_bahdanau_annotations "(1.1)".
/// \param x        source word vectors `(T_x, m)`
/// \param W        input weights `(d_h, m)`
/// \param U        recurrent weights `(d_h, d_h)`
/// \param backward read the sequence from its last word to its first
/// \return the states, row `j` is the state after word `j` `(T_x, d_h)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix rnn_states(const matrix& x, const matrix& W, const matrix& U,
                         bool backward)
{
    detail::expect_rnn_shapes(x, W, U);
    const std::size_t T_x = x.shape()[0], d_h = W.shape()[0];
    // W x_j for every j at once: it does not depend on the previous state.
    const matrix Wx = xt::linalg::dot(x, xt::transpose(W));    // (T_x, d_h)
    matrix states = xt::zeros<double>({T_x, d_h});             // (T_x, d_h)
    matrix prev = xt::zeros<double>({std::size_t(1), d_h});    // (1, d_h)
    for (std::size_t step = 0; step < T_x; ++step) {
        const std::size_t j = backward ? T_x - 1 - step : step;
        prev = xt::tanh(xt::view(Wx, xt::range(j, j + 1), xt::all())
                        + xt::linalg::dot(prev, xt::transpose(U)));
        xt::view(states, xt::range(j, j + 1), xt::all()) = prev;
    }
    return states;
}
// [ch01-rnn-states]

// [ch01-annotations]
/// \brief Annotations, Eq. \ref eq_bahdanau_annotations "(1.1)":
///        `h_j = [->h_j ; <-h_j]`, the forward and the backward state of
///        word `j` side by side.
/// \param h_fwd forward states `(T_x, d_h)`
/// \param h_bwd backward states `(T_x, d_h)`
/// \return the annotations `(T_x, 2d_h)`
/// \throws std::invalid_argument if the shapes differ or are empty
inline matrix annotations(const matrix& h_fwd, const matrix& h_bwd)
{
    expect_nonempty("annotations", "h_fwd", h_fwd);
    expect_shape("annotations", "h_bwd", h_bwd,
                 {h_fwd.shape()[0], h_fwd.shape()[1]}, "(T_x, d_h)");
    return xt::concatenate(xt::xtuple(h_fwd, h_bwd), 1);      // (T_x, 2d_h)
}
// [ch01-annotations]

namespace detail {

inline void expect_alignment_shapes(const std::string& where,
                                    const matrix& q_prev, const matrix& h,
                                    const matrix& W_a, const matrix& U_a,
                                    const vector& v_a)
{
    expect_nonempty(where, "q_prev", q_prev);
    expect_nonempty(where, "h", h);
    expect_nonempty(where, "v_a", v_a);
    const std::size_t d_a = v_a.shape()[0];
    expect_shape(where, "W_a", W_a, {d_a, q_prev.shape()[1]}, "(d_a, d_h)");
    expect_shape(where, "U_a", U_a, {d_a, h.shape()[1]}, "(d_a, 2d_h)");
}

// X M^T as literal loops, one count per multiplication: the products
// U_a h_j (X = h, M = U_a) and W_a q_{i-1} (X = q_prev, M = W_a).
inline matrix projections_counted(const matrix& X, const matrix& M,
                                  std::size_t& count)
{
    matrix XM = xt::zeros<double>({X.shape()[0], M.shape()[0]});
    for (std::size_t r = 0; r < X.shape()[0]; ++r) {
        for (std::size_t k = 0; k < M.shape()[0]; ++k) {
            for (std::size_t l = 0; l < X.shape()[1]; ++l) {
                XM(r, k) += M(k, l) * X(r, l);
                ++count;
            }
        }
    }
    return XM;
}

}  // namespace detail

// [ch01-additive-energies]
/// \brief Additive energies, Eq. \ref eq_additive_energy "(1.2)":
///        `e_ij = v_a^T tanh(W_a q_{i-1} + U_a h_j)`, with `U_a h_j`
///        computed once per source sentence and `W_a q_{i-1}` once per
///        target word.
///
/// The annotation width is `2d_h` in the paper; any width works here, as
/// long as `U_a` has as many columns as `h`.
/// \param q_prev decoder states, the i-th row is `q_{i-1}` `(T_y, d_h)`
/// \param h      annotations `(T_x, 2d_h)`
/// \param W_a    weights on the decoder state `(d_a, d_h)`
/// \param U_a    weights on the annotations `(d_a, 2d_h)`
/// \param v_a    output weights `(d_a,)`
/// \return the energies `(T_y, T_x)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix additive_energies(const matrix& q_prev, const matrix& h,
                                const matrix& W_a, const matrix& U_a,
                                const vector& v_a)
{
    detail::expect_alignment_shapes("additive_energies", q_prev, h, W_a, U_a,
                                    v_a);
    // U_a h_j for every j: it does not depend on i (App. A.1.2).
    const matrix Uh = xt::linalg::dot(h, xt::transpose(U_a));   // (T_x, d_a)
    // W_a q_{i-1} for every i: it does not depend on j.
    const matrix Wq = xt::linalg::dot(q_prev, xt::transpose(W_a));
                                                                 // (T_y, d_a)
    // Eq. (1.2) for every pair (i, j) at once, by broadcasting.
    const tensor3 z = xt::tanh(                            // (T_y, T_x, d_a)
        xt::view(Wq, xt::all(), xt::newaxis(), xt::all())
        + xt::view(Uh, xt::newaxis(), xt::all(), xt::all()));
    return xt::sum(z * v_a, {2});                               // (T_y, T_x)
}
// [ch01-additive-energies]

// [ch01-additive-energies-naive]
/// \brief The same energies as literal loops that evaluate Eq.
///        \ref eq_additive_energy "(1.2)" afresh for every pair `(i, j)`,
///        counting their multiplications (Eq. \ref eq_additive_cost "(1.5)").
/// \param q_prev,h,W_a,U_a,v_a as for additive_energies
/// \param multiplications if not null, receives their number
/// \return the energies `(T_y, T_x)`
inline matrix additive_energies_naive(const matrix& q_prev, const matrix& h,
                                      const matrix& W_a, const matrix& U_a,
                                      const vector& v_a,
                                      std::size_t* multiplications = nullptr)
{
    detail::expect_alignment_shapes("additive_energies_naive", q_prev, h, W_a,
                                    U_a, v_a);
    const std::size_t T_y = q_prev.shape()[0], T_x = h.shape()[0];
    std::size_t count = 0;
    matrix e = xt::zeros<double>({T_y, T_x});                   // (T_y, T_x)
    for (std::size_t i = 0; i < T_y; ++i) {
        for (std::size_t j = 0; j < T_x; ++j) {
            for (std::size_t k = 0; k < v_a.shape()[0]; ++k) {
                double pre = 0.0;  // row k of W_a q_{i-1} + U_a h_j
                for (std::size_t l = 0; l < q_prev.shape()[1]; ++l, ++count) {
                    pre += W_a(k, l) * q_prev(i, l);
                }
                for (std::size_t l = 0; l < h.shape()[1]; ++l, ++count) {
                    pre += U_a(k, l) * h(j, l);
                }
                e(i, j) += v_a(k) * std::tanh(pre);
                ++count;
            }
        }
    }
    if (multiplications) {
        *multiplications = count;
    }
    return e;
}
// [ch01-additive-energies-naive]

// [ch01-additive-energies-precomputed]
/// \brief The energies of Eq. \ref eq_additive_energy "(1.2)" as literal
///        loops with `U_a h_j` and `W_a q_{i-1}` computed once each,
///        counting their multiplications (Eq. \ref eq_additive_cost "(1.5)").
/// \param q_prev,h,W_a,U_a,v_a as for additive_energies
/// \param multiplications if not null, receives their number
/// \return the energies `(T_y, T_x)`
inline matrix additive_energies_precomputed(
    const matrix& q_prev, const matrix& h, const matrix& W_a,
    const matrix& U_a, const vector& v_a,
    std::size_t* multiplications = nullptr)
{
    detail::expect_alignment_shapes("additive_energies_precomputed", q_prev,
                                    h, W_a, U_a, v_a);
    std::size_t count = 0;
    // Once per source word and once per target word, as literal loops.
    const matrix Uh = detail::projections_counted(h, U_a, count); // (T_x, d_a)
    const matrix Wq = detail::projections_counted(q_prev, W_a, count);
                                                                  // (T_y, d_a)
    // Once per pair: the tanh layer and v_a.
    matrix e = xt::zeros<double>({Wq.shape()[0], Uh.shape()[0]}); // (T_y, T_x)
    for (std::size_t i = 0; i < e.shape()[0]; ++i) {
        for (std::size_t j = 0; j < e.shape()[1]; ++j) {
            for (std::size_t k = 0; k < v_a.shape()[0]; ++k) {
                e(i, j) += v_a(k) * std::tanh(Wq(i, k) + Uh(j, k));
                ++count;
            }
        }
    }
    if (multiplications) {
        *multiplications = count;
    }
    return e;
}
// [ch01-additive-energies-precomputed]

/// \brief Multiplications needed for the energies of one sentence pair.
struct multiplication_count {
    std::size_t naive;        ///< every pair `(i, j)` from scratch
    std::size_t precomputed;  ///< `U_a h_j` and `W_a q_{i-1}` once each
};

// [ch01-additive-cost]
/// \brief The multiplications of Eq. \ref eq_additive_cost "(1.5)", in
///        closed form: `T_y T_x d_a (d_h + 2d_h + 1)` when every pair is
///        computed from scratch, `T_x d_a 2d_h + T_y d_a d_h + T_y T_x d_a`
///        when `U_a h_j` and `W_a q_{i-1}` are computed once each.
/// \param T_x     source length
/// \param T_y     target length
/// \param d_h     decoder state width
/// \param two_d_h annotation width (2d_h in the paper)
/// \param d_a     alignment hidden width
/// \return both counts
inline multiplication_count additive_multiplications(std::size_t T_x,
                                                     std::size_t T_y,
                                                     std::size_t d_h,
                                                     std::size_t two_d_h,
                                                     std::size_t d_a)
{
    return {T_y * T_x * d_a * (d_h + two_d_h + 1),
            T_x * d_a * two_d_h + T_y * d_a * d_h + T_y * T_x * d_a};
}
// [ch01-additive-cost]

// [ch01-context]
/// \brief Contexts, Eq. \ref eq_bahdanau_context "(1.4)":
///        `c_i = sum_j a_ij h_j`, all at once as `A h`.
/// \param a weights `(T_y, T_x)`
/// \param h annotations `(T_x, 2d_h)`
/// \return the contexts, the i-th row is `c_i` `(T_y, 2d_h)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix bahdanau_context(const matrix& a, const matrix& h)
{
    expect_nonempty("bahdanau_context", "h", h);
    expect_shape("bahdanau_context", "a", a, {a.shape()[0], h.shape()[0]},
                 "(T_y, T_x)");
    return xt::linalg::dot(a, h);                               // (T_y, 2d_h)
}
// [ch01-context]

/// \brief The contexts of Eq. \ref eq_bahdanau_context "(1.4)" as literal
///        loops; the tests compare the two.
/// \param a weights `(T_y, T_x)`
/// \param h annotations `(T_x, 2d_h)`
/// \return the contexts `(T_y, 2d_h)`
/// \throws std::invalid_argument on inconsistent shapes
inline matrix bahdanau_context_reference(const matrix& a, const matrix& h)
{
    expect_shape("bahdanau_context_reference", "a", a,
                 {a.shape()[0], h.shape()[0]}, "(T_y, T_x)");
    const std::size_t T_y = a.shape()[0], T_x = h.shape()[0];
    const std::size_t width = h.shape()[1];
    matrix c = xt::zeros<double>({T_y, width});
    for (std::size_t i = 0; i < T_y; ++i) {
        for (std::size_t j = 0; j < T_x; ++j) {
            for (std::size_t l = 0; l < width; ++l) {
                c(i, l) += a(i, j) * h(j, l);
            }
        }
    }
    return c;
}

/// \brief Energies, weights and contexts of one sentence pair.
struct bahdanau_result {
    matrix e;  ///< energies `(T_y, T_x)`
    matrix a;  ///< weights, rows summing to 1 `(T_y, T_x)`
    matrix c;  ///< contexts `(T_y, 2d_h)`
};

// [ch01-bahdanau-attention]
/// \brief Bahdanau attention for every target word: energies (Eq.
///        \ref eq_additive_energy "(1.2)"), weights (Eq.
///        \ref eq_bahdanau_weights "(1.3)") and contexts (Eq.
///        \ref eq_bahdanau_context "(1.4)").
/// \param q_prev decoder states, the i-th row is `q_{i-1}` `(T_y, d_h)`
/// \param h      annotations `(T_x, 2d_h)`
/// \param W_a    weights on the decoder state `(d_a, d_h)`
/// \param U_a    weights on the annotations `(d_a, 2d_h)`
/// \param v_a    output weights `(d_a,)`
/// \return `e` and `a` `(T_y, T_x)`, `c` `(T_y, 2d_h)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline bahdanau_result bahdanau_attention(const matrix& q_prev,
                                          const matrix& h, const matrix& W_a,
                                          const matrix& U_a, const vector& v_a)
{
    detail::expect_alignment_shapes("bahdanau_attention", q_prev, h, W_a,
                                    U_a, v_a);
    bahdanau_result r;
    r.e = additive_energies(q_prev, h, W_a, U_a, v_a);  // Eq. (1.2)
    r.a = softmax_rows(r.e);                             // Eq. (1.3)
    r.c = bahdanau_context(r.a, h);                      // Eq. (1.4)
    return r;
}
// [ch01-bahdanau-attention]

/// \brief Chapter 1's random example: an encoder's annotations, four
///        decoder states and an alignment network (what its program and
///        its playground score).
struct encoder_example {
    matrix h;       ///< annotations `(T_x, 2d_h)`, T_x = 6, d_h = 3
    matrix q_prev;  ///< decoder states q_{-1}..q_2 `(T_y, d_h)`, T_y = 4
    matrix W_a;     ///< `(d_a, d_h)`, d_a = 5
    matrix U_a;     ///< `(d_a, 2d_h)`
    vector v_a;     ///< `(d_a,)`
};

/// \brief Draws chapter 1's random example from one generator.
/// \param seed the seed of the one attn::rng every number comes from
/// \return the annotations of a random encoder over six random words, four
///         random decoder states and a random alignment network
inline encoder_example random_encoder_example(std::uint64_t seed)
{
    // [ch01-encoder-example]
    // Six source words as random vectors of width m = 4, a forward and a
    // backward tanh network with d_h = 3, four random decoder states
    // q_{-1}..q_2 (T_y = 4; no decoder runs), and an alignment network of
    // width d_a = 5, all drawn in this order from one attn::rng.
    const std::size_t T_x = 6, m = 4, d_h = 3, T_y = 4, d_a = 5;
    rng r(seed);
    const matrix x = normal_matrix(T_x, m, r);                 // (T_x, m)
    const matrix W_fwd = normal_matrix(d_h, m, r);
    const matrix U_fwd = normal_matrix(d_h, d_h, r);
    const matrix W_bwd = normal_matrix(d_h, m, r);
    const matrix U_bwd = normal_matrix(d_h, d_h, r);
    const matrix h_fwd = rnn_states(x, W_fwd, U_fwd, false);   // (T_x, d_h)
    const matrix h_bwd = rnn_states(x, W_bwd, U_bwd, true);    // (T_x, d_h)
    encoder_example ex;
    ex.h = annotations(h_fwd, h_bwd);                          // (T_x, 2d_h)
    ex.q_prev = normal_matrix(T_y, d_h, r);                    // (T_y, d_h)
    ex.W_a = normal_matrix(d_a, d_h, r);
    ex.U_a = normal_matrix(d_a, 2 * d_h, r);
    ex.v_a = xt::row(normal_matrix(1, d_a, r), 0);
    // [ch01-encoder-example]
    return ex;
}

namespace detail {

inline void expect_dot_shapes(const std::string& where, const matrix& q,
                              const matrix& h)
{
    expect_nonempty(where, "q", q);
    expect_nonempty(where, "h", h);
    expect_shape(where, "h", h, {h.shape()[0], q.shape()[1]}, "(T_x, d)");
}

inline void expect_general_shapes(const matrix& q, const matrix& h,
                                  const matrix& W)
{
    expect_nonempty("general_scores", "q", q);
    expect_nonempty("general_scores", "h", h);
    expect_shape("general_scores", "W", W, {q.shape()[1], h.shape()[1]},
                 "(d_q, d_k)");
}

}  // namespace detail

// [ch01-score-functions]
/// \brief Luong's dot score, Eq. \ref eq_score_functions "(1.6)":
///        `score(q_i, h_j) = q_i^T h_j`.
/// \param q,h decoder states `(T_y, d)` and annotations `(T_x, d)`
/// \return the scores `(T_y, T_x)`
inline matrix dot_scores(const matrix& q, const matrix& h)
{
    detail::expect_dot_shapes("dot_scores", q, h);
    return xt::linalg::dot(q, xt::transpose(h));                // (T_y, T_x)
}

/// \brief Luong's general score, Eq. \ref eq_score_functions "(1.6)":
///        `score(q_i, h_j) = q_i^T W h_j`.
/// \param q,h,W decoder states `(T_y, d_q)`, annotations `(T_x, d_k)`,
///        the score's weights `(d_q, d_k)`
/// \return the scores `(T_y, T_x)`
inline matrix general_scores(const matrix& q, const matrix& h,
                             const matrix& W)
{
    detail::expect_general_shapes(q, h, W);
    const matrix Wh = xt::linalg::dot(h, xt::transpose(W));     // (T_x, d_q)
    return xt::linalg::dot(q, xt::transpose(Wh));               // (T_y, T_x)
}

/// \brief The scaled dot score of Vaswani et al., Eq.
///        \ref eq_score_functions "(1.6)": `q_i^T h_j / sqrt(d)`.
/// \param q,h decoder states `(T_y, d)` and annotations `(T_x, d)`
/// \return the scores `(T_y, T_x)`
inline matrix scaled_dot_scores(const matrix& q, const matrix& h)
{
    detail::expect_dot_shapes("scaled_dot_scores", q, h);
    return dot_scores(q, h) / std::sqrt(double(q.shape()[1]));  // (T_y, T_x)
}
// [ch01-score-functions]

}  // namespace attn

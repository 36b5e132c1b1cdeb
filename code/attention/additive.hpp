// Additive attention as Bahdanau, Cho and Bengio (2014) built it for
// translation: annotations from a bidirectional encoder, energies from a
// one-layer network, weights from a softmax, a context per target word.
// Beside it, the dot, general and scaled dot scores of Luong et al. (2015)
// and Vaswani et al. (2017). The small alignment model that chapter 1
// trains on a task whose right alignment is known is in alignment_toy.hpp.
//
// Glossary (tokens are rows; the paper counts i and j from 1):
//   x        source word vectors                            // (T_x, m)
//   h_fwd    forward encoder states, row j is ->h_j         // (T_x, n)
//   h_bwd    backward encoder states, row j is <-h_j        // (T_x, n)
//   h        annotations [->h_j ; <-h_j]                    // (T_x, 2n)
//   s_prev   decoder states: the i-th row is s_{i-1}        // (T_y, n)
//   W_a      alignment weights on the decoder state         // (n', n)
//   U_a      alignment weights on the annotations           // (n', 2n)
//   v_a      alignment output weights                       // (n',)
//   e        energies e_ij                                  // (T_y, T_x)
//   alpha    weights alpha_ij, each row sums to 1           // (T_y, T_x)
//   c        contexts, the i-th row is c_i                  // (T_y, 2n)
//   s        decoder states of Luong's scores               // (T_y, d_s)
//   W        weights of Luong's general score               // (d_s, d_h)
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/softmax.hpp"

/// \file
/// \brief Bahdanau's additive attention and the scores of Luong and
///        Vaswani (\ref ch01_bahdanau).

namespace attn {

// [ch01-rnn-states]
/// \brief The states of a plain tanh recurrent network, the stand-in for
///        the encoder of Eq. \ref eq_bahdanau_annotations "(1.1)":
///        `h_j = tanh(W x_j + U h_{j-1})` with `h_0 = 0`, or, running
///        backwards, `h_j = tanh(W x_j + U h_{j+1})` with `h_{T_x+1} = 0`.
///
/// The paper uses gated units; the recurrence is the same in shape.
/// \param x        source word vectors `(T_x, m)`
/// \param W        input weights `(n, m)`
/// \param U        recurrent weights `(n, n)`
/// \param backward read the sequence from its last word to its first
/// \return the states, row `j` is the state after word `j` `(T_x, n)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix rnn_states(const matrix& x, const matrix& W, const matrix& U,
                         bool backward)
{
    expect_nonempty("rnn_states", "x", x);
    expect_nonempty("rnn_states", "W", W);
    const std::size_t T_x = x.shape()[0], m = x.shape()[1];
    const std::size_t n = W.shape()[0];
    expect_shape("rnn_states", "W", W, {n, m}, "(n, m)");
    expect_shape("rnn_states", "U", U, {n, n}, "(n, n)");
    // W x_j for every j at once: it does not depend on the previous state.
    const matrix Wx = xt::linalg::dot(x, xt::transpose(W));      // (T_x, n)
    matrix states = xt::zeros<double>({T_x, n});                 // (T_x, n)
    matrix prev = xt::zeros<double>({std::size_t(1), n});        // (1, n)
    for (std::size_t step = 0; step < T_x; ++step) {
        const std::size_t j = backward ? T_x - 1 - step : step;
        prev = xt::tanh(xt::view(Wx, xt::range(j, j + 1), xt::all())
                        + xt::linalg::dot(prev, xt::transpose(U)));  // (1, n)
        xt::view(states, xt::range(j, j + 1), xt::all()) = prev;
    }
    return states;
}
// [ch01-rnn-states]

// [ch01-annotations]
/// \brief Annotations, Eq. \ref eq_bahdanau_annotations "(1.1)":
///        `h_j = [->h_j ; <-h_j]`, the forward and the backward state of
///        word `j` side by side.
/// \param h_fwd forward states `(T_x, n)`
/// \param h_bwd backward states `(T_x, n)`
/// \return the annotations `(T_x, 2n)`
/// \throws std::invalid_argument if the shapes differ or are empty
inline matrix annotations(const matrix& h_fwd, const matrix& h_bwd)
{
    expect_nonempty("annotations", "h_fwd", h_fwd);
    expect_shape("annotations", "h_bwd", h_bwd,
                 {h_fwd.shape()[0], h_fwd.shape()[1]}, "(T_x, n)");
    return xt::concatenate(xt::xtuple(h_fwd, h_bwd), 1);        // (T_x, 2n)
}
// [ch01-annotations]

namespace detail {

inline void expect_alignment_shapes(const std::string& where,
                                    const matrix& s_prev, const matrix& h,
                                    const matrix& W_a, const matrix& U_a,
                                    const vector& v_a)
{
    expect_nonempty(where, "s_prev", s_prev);
    expect_nonempty(where, "h", h);
    expect_nonempty(where, "v_a", v_a);
    const std::size_t n_prime = v_a.shape()[0];
    expect_shape(where, "W_a", W_a, {n_prime, s_prev.shape()[1]}, "(n', n)");
    expect_shape(where, "U_a", U_a, {n_prime, h.shape()[1]}, "(n', 2n)");
}

}  // namespace detail

// [ch01-additive-energies]
/// \brief Additive energies, Eq. \ref eq_additive_energy "(1.2)":
///        `e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j)`, with `U_a h_j`
///        computed once per source sentence and `W_a s_{i-1}` once per
///        target word.
///
/// The annotation width is `2n` in the paper; any width works here, as
/// long as `U_a` has as many columns as `h`.
/// \param s_prev decoder states, the i-th row is `s_{i-1}` `(T_y, n)`
/// \param h      annotations `(T_x, 2n)`
/// \param W_a    weights on the decoder state `(n′, n)`
/// \param U_a    weights on the annotations `(n′, 2n)`
/// \param v_a    output weights `(n′,)`
/// \return the energies `(T_y, T_x)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix additive_energies(const matrix& s_prev, const matrix& h,
                                const matrix& W_a, const matrix& U_a,
                                const vector& v_a)
{
    detail::expect_alignment_shapes("additive_energies", s_prev, h, W_a, U_a,
                                    v_a);
    // U_a h_j for every j: it does not depend on i (App. A.1.2).
    const matrix Uh = xt::linalg::dot(h, xt::transpose(U_a));   // (T_x, n')
    // W_a s_{i-1} for every i: it does not depend on j.
    const matrix Ws = xt::linalg::dot(s_prev, xt::transpose(W_a));
                                                                 // (T_y, n')
    // Eq. (1.2) for every pair (i, j) at once, by broadcasting.
    const tensor3 z = xt::tanh(
        xt::view(Ws, xt::all(), xt::newaxis(), xt::all())
        + xt::view(Uh, xt::newaxis(), xt::all(), xt::all()));  // (T_y, T_x, n')
    return xt::sum(z * v_a, {2});                               // (T_y, T_x)
}
// [ch01-additive-energies]

// [ch01-additive-energies-naive]
/// \brief The same energies as literal loops that evaluate Eq.
///        \ref eq_additive_energy "(1.2)" afresh for every pair `(i, j)`,
///        counting their multiplications (Eq. \ref eq_additive_cost "(1.5)").
/// \param s_prev decoder states `(T_y, n)`
/// \param h      annotations `(T_x, 2n)`
/// \param W_a    weights on the decoder state `(n′, n)`
/// \param U_a    weights on the annotations `(n′, 2n)`
/// \param v_a    output weights `(n′,)`
/// \param multiplications if not null, receives the number of
///        multiplications done
/// \return the energies `(T_y, T_x)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix additive_energies_naive(const matrix& s_prev, const matrix& h,
                                      const matrix& W_a, const matrix& U_a,
                                      const vector& v_a,
                                      std::size_t* multiplications = nullptr)
{
    detail::expect_alignment_shapes("additive_energies_naive", s_prev, h, W_a,
                                    U_a, v_a);
    const std::size_t T_y = s_prev.shape()[0], T_x = h.shape()[0];
    const std::size_t n = s_prev.shape()[1], two_n = h.shape()[1];
    const std::size_t n_prime = v_a.shape()[0];
    std::size_t count = 0;
    matrix e = xt::zeros<double>({T_y, T_x});                   // (T_y, T_x)
    for (std::size_t i = 0; i < T_y; ++i) {
        for (std::size_t j = 0; j < T_x; ++j) {
            for (std::size_t k = 0; k < n_prime; ++k) {
                double a = 0.0;  // row k of W_a s_{i-1} + U_a h_j
                for (std::size_t l = 0; l < n; ++l) {
                    a += W_a(k, l) * s_prev(i, l);
                    ++count;
                }
                for (std::size_t l = 0; l < two_n; ++l) {
                    a += U_a(k, l) * h(j, l);
                    ++count;
                }
                e(i, j) += v_a(k) * std::tanh(a);
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
///        loops with `U_a h_j` and `W_a s_{i-1}` computed once each,
///        counting their multiplications (Eq. \ref eq_additive_cost "(1.5)").
/// \param s_prev decoder states `(T_y, n)`
/// \param h      annotations `(T_x, 2n)`
/// \param W_a    weights on the decoder state `(n′, n)`
/// \param U_a    weights on the annotations `(n′, 2n)`
/// \param v_a    output weights `(n′,)`
/// \param multiplications if not null, receives the number of
///        multiplications done
/// \return the energies `(T_y, T_x)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix additive_energies_precomputed(
    const matrix& s_prev, const matrix& h, const matrix& W_a,
    const matrix& U_a, const vector& v_a,
    std::size_t* multiplications = nullptr)
{
    detail::expect_alignment_shapes("additive_energies_precomputed", s_prev,
                                    h, W_a, U_a, v_a);
    const std::size_t T_y = s_prev.shape()[0], T_x = h.shape()[0];
    const std::size_t n = s_prev.shape()[1], two_n = h.shape()[1];
    const std::size_t n_prime = v_a.shape()[0];
    std::size_t count = 0;
    // Once per source sentence: U_a h_j for every j.
    matrix Uh = xt::zeros<double>({T_x, n_prime});              // (T_x, n')
    for (std::size_t j = 0; j < T_x; ++j) {
        for (std::size_t k = 0; k < n_prime; ++k) {
            for (std::size_t l = 0; l < two_n; ++l) {
                Uh(j, k) += U_a(k, l) * h(j, l);
                ++count;
            }
        }
    }
    // Once per target word: W_a s_{i-1} for every i.
    matrix Ws = xt::zeros<double>({T_y, n_prime});              // (T_y, n')
    for (std::size_t i = 0; i < T_y; ++i) {
        for (std::size_t k = 0; k < n_prime; ++k) {
            for (std::size_t l = 0; l < n; ++l) {
                Ws(i, k) += W_a(k, l) * s_prev(i, l);
                ++count;
            }
        }
    }
    // Once per pair: the tanh layer and v_a.
    matrix e = xt::zeros<double>({T_y, T_x});                   // (T_y, T_x)
    for (std::size_t i = 0; i < T_y; ++i) {
        for (std::size_t j = 0; j < T_x; ++j) {
            for (std::size_t k = 0; k < n_prime; ++k) {
                e(i, j) += v_a(k) * std::tanh(Ws(i, k) + Uh(j, k));
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
    std::size_t precomputed;  ///< `U_a h_j` and `W_a s_{i-1}` once each
};

// [ch01-additive-cost]
/// \brief The multiplications of Eq. \ref eq_additive_cost "(1.5)", in
///        closed form: `T_y T_x n′ (n + 2n + 1)` when every pair is
///        computed from scratch, `T_x n′ 2n + T_y n′ n + T_y T_x n′` when
///        `U_a h_j` and `W_a s_{i-1}` are computed once each.
/// \param T_x     source length
/// \param T_y     target length
/// \param n       decoder state width
/// \param two_n   annotation width (2n in the paper)
/// \param n_prime alignment hidden width n′
/// \return both counts
inline multiplication_count additive_multiplications(std::size_t T_x,
                                                     std::size_t T_y,
                                                     std::size_t n,
                                                     std::size_t two_n,
                                                     std::size_t n_prime)
{
    return {T_y * T_x * n_prime * (n + two_n + 1),
            T_x * n_prime * two_n + T_y * n_prime * n + T_y * T_x * n_prime};
}
// [ch01-additive-cost]

// [ch01-context]
/// \brief Contexts, Eq. \ref eq_bahdanau_context "(1.4)":
///        `c_i = sum_j alpha_ij h_j`, all at once as `alpha h`.
/// \param alpha weights `(T_y, T_x)`
/// \param h     annotations `(T_x, 2n)`
/// \return the contexts, the i-th row is `c_i` `(T_y, 2n)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix bahdanau_context(const matrix& alpha, const matrix& h)
{
    expect_nonempty("bahdanau_context", "h", h);
    expect_shape("bahdanau_context", "alpha", alpha,
                 {alpha.shape()[0], h.shape()[0]}, "(T_y, T_x)");
    return xt::linalg::dot(alpha, h);                           // (T_y, 2n)
}
// [ch01-context]

/// \brief The contexts of Eq. \ref eq_bahdanau_context "(1.4)" as literal
///        loops; the tests compare the two.
/// \param alpha weights `(T_y, T_x)`
/// \param h     annotations `(T_x, 2n)`
/// \return the contexts `(T_y, 2n)`
/// \throws std::invalid_argument on inconsistent shapes
inline matrix bahdanau_context_reference(const matrix& alpha, const matrix& h)
{
    expect_shape("bahdanau_context_reference", "alpha", alpha,
                 {alpha.shape()[0], h.shape()[0]}, "(T_y, T_x)");
    const std::size_t T_y = alpha.shape()[0], T_x = h.shape()[0];
    const std::size_t width = h.shape()[1];
    matrix c = xt::zeros<double>({T_y, width});
    for (std::size_t i = 0; i < T_y; ++i) {
        for (std::size_t j = 0; j < T_x; ++j) {
            for (std::size_t l = 0; l < width; ++l) {
                c(i, l) += alpha(i, j) * h(j, l);
            }
        }
    }
    return c;
}

/// \brief Energies, weights and contexts of one sentence pair.
struct bahdanau_result {
    matrix e;      ///< energies `(T_y, T_x)`
    matrix alpha;  ///< weights, rows summing to 1 `(T_y, T_x)`
    matrix c;      ///< contexts `(T_y, 2n)`
};

// [ch01-bahdanau-attention]
/// \brief Bahdanau attention for every target word: energies (Eq.
///        \ref eq_additive_energy "(1.2)"), weights (Eq.
///        \ref eq_bahdanau_weights "(1.3)") and contexts (Eq.
///        \ref eq_bahdanau_context "(1.4)").
/// \param s_prev decoder states, the i-th row is `s_{i-1}` `(T_y, n)`
/// \param h      annotations `(T_x, 2n)`
/// \param W_a    weights on the decoder state `(n′, n)`
/// \param U_a    weights on the annotations `(n′, 2n)`
/// \param v_a    output weights `(n′,)`
/// \return `e` and `alpha` `(T_y, T_x)`, `c` `(T_y, 2n)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline bahdanau_result bahdanau_attention(const matrix& s_prev,
                                          const matrix& h, const matrix& W_a,
                                          const matrix& U_a, const vector& v_a)
{
    detail::expect_alignment_shapes("bahdanau_attention", s_prev, h, W_a,
                                    U_a, v_a);
    bahdanau_result r;
    r.e = additive_energies(s_prev, h, W_a, U_a, v_a);  // Eq. (1.2)
    r.alpha = softmax_rows(r.e);                         // Eq. (1.3)
    r.c = bahdanau_context(r.alpha, h);                  // Eq. (1.4)
    return r;
}
// [ch01-bahdanau-attention]

namespace detail {

inline void expect_dot_shapes(const std::string& where, const matrix& s,
                              const matrix& h)
{
    expect_nonempty(where, "s", s);
    expect_nonempty(where, "h", h);
    expect_shape(where, "h", h, {h.shape()[0], s.shape()[1]}, "(T_x, d)");
}

}  // namespace detail

// [ch01-score-functions]
/// \brief Luong's dot score, Eq. \ref eq_score_functions "(1.6)":
///        `score(s_i, h_j) = s_i^T h_j`.
/// \param s decoder states, one per row `(T_y, d)`
/// \param h annotations `(T_x, d)`
/// \return the scores `(T_y, T_x)`
/// \throws std::invalid_argument if the widths differ or a shape is empty
inline matrix dot_scores(const matrix& s, const matrix& h)
{
    detail::expect_dot_shapes("dot_scores", s, h);
    return xt::linalg::dot(s, xt::transpose(h));                // (T_y, T_x)
}

/// \brief Luong's general score, Eq. \ref eq_score_functions "(1.6)":
///        `score(s_i, h_j) = s_i^T W h_j`.
/// \param s decoder states `(T_y, d_s)`
/// \param h annotations `(T_x, d_h)`
/// \param W the score's weights `(d_s, d_h)`
/// \return the scores `(T_y, T_x)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix general_scores(const matrix& s, const matrix& h,
                             const matrix& W)
{
    expect_nonempty("general_scores", "s", s);
    expect_nonempty("general_scores", "h", h);
    expect_shape("general_scores", "W", W, {s.shape()[1], h.shape()[1]},
                 "(d_s, d_h)");
    const matrix Wh = xt::linalg::dot(h, xt::transpose(W));     // (T_x, d_s)
    return xt::linalg::dot(s, xt::transpose(Wh));               // (T_y, T_x)
}

/// \brief The scaled dot score of Vaswani et al., Eq.
///        \ref eq_score_functions "(1.6)": `s_i^T h_j / sqrt(d)`.
/// \param s decoder states (queries) `(T_y, d)`
/// \param h annotations (keys) `(T_x, d)`
/// \return the scores `(T_y, T_x)`
/// \throws std::invalid_argument if the widths differ or a shape is empty
inline matrix scaled_dot_scores(const matrix& s, const matrix& h)
{
    detail::expect_dot_shapes("scaled_dot_scores", s, h);
    return dot_scores(s, h) / std::sqrt(double(s.shape()[1]));  // (T_y, T_x)
}
// [ch01-score-functions]

}  // namespace attn

// Additive attention as Bahdanau, Cho and Bengio (2014) built it for
// translation: annotations from a bidirectional encoder, energies from a
// one-layer network, weights from a softmax, a context per target word.
// Beside it, the dot, general and scaled dot scores of Luong et al. (2015)
// and Vaswani et al. (2017), and a small alignment model trained by
// gradient descent on a task whose right alignment is known.
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
//   W_r, b_r the toy task's readout                         // (V, 2n), (V,)
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/softmax.hpp"

/// \file
/// \brief Bahdanau's additive attention, the scores of Luong and Vaswani,
///        and a trained alignment (\ref ch01_bahdanau).

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

// ------------------------------------------------------------------------
// A learned alignment: a toy task whose right alignment is known.

/// \brief The trainable parameters of the toy alignment model: the
///        alignment network of Eq. \ref eq_additive_energy "(1.2)" and the
///        readout of Eq. \ref eq_alignment_loss "(1.7)". A gradient has
///        the same shapes and is stored in the same struct.
struct alignment_model {
    matrix W_a;  ///< weights on the decoder state `(n', n)`
    matrix U_a;  ///< weights on the annotations `(n', 2n)`
    vector v_a;  ///< output weights of the alignment network `(n',)`
    matrix W_r;  ///< readout weights `(V, 2n)`
    vector b_r;  ///< readout biases `(V,)`
};

/// \brief Everything the forward pass of the toy model computes for one
///        sequence, kept for the backward pass.
struct alignment_forward_pass {
    tensor3 z;     ///< `tanh(W_a s_{i-1} + U_a h_j)` `(T_y, T_x, n')`
    matrix e;      ///< energies `(T_y, T_x)`
    matrix alpha;  ///< weights `(T_y, T_x)`
    matrix c;      ///< contexts `(T_y, 2n)`
    matrix o;      ///< readout logits `(T_y, V)`
    matrix p;      ///< output probabilities `(T_y, V)`
};

// [ch01-readout]
/// \brief The readout of Eq. \ref eq_alignment_loss "(1.7)": logits
///        `o_i = W_r c_i + b_r` for every target position.
/// \param c   contexts `(T_y, 2n)`
/// \param W_r readout weights `(V, 2n)`
/// \param b_r readout biases `(V,)`
/// \return the logits `(T_y, V)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix alignment_readout(const matrix& c, const matrix& W_r,
                                const vector& b_r)
{
    expect_nonempty("alignment_readout", "c", c);
    expect_nonempty("alignment_readout", "b_r", b_r);
    expect_shape("alignment_readout", "W_r", W_r,
                 {b_r.shape()[0], c.shape()[1]}, "(V, 2n)");
    return xt::linalg::dot(c, xt::transpose(W_r)) + b_r;        // (T_y, V)
}

/// \brief The loss of Eq. \ref eq_alignment_loss "(1.7)": the mean over
///        target positions of `-log p_i[y_i]`, computed from the logits
///        as `log sum_v exp(o_iv) - o_i[y_i]` so that it never takes the
///        logarithm of an underflowed 0.
/// \param o logits `(T_y, V)`
/// \param y the right output token of each target position, `T_y` of them
/// \return the mean cross-entropy
/// \throws std::invalid_argument if `y` has the wrong length or a token
///         outside `[0, V)`
inline double alignment_loss(const matrix& o,
                             const std::vector<std::size_t>& y)
{
    const std::size_t T_y = o.shape()[0], V = o.shape()[1];
    expect_nonempty("alignment_loss", "o", o);
    if (y.size() != T_y) {
        throw std::invalid_argument(
            "alignment_loss: expected " + std::to_string(T_y)
            + " target tokens, one per row of o, got "
            + std::to_string(y.size()));
    }
    double loss = 0.0;
    for (std::size_t i = 0; i < T_y; ++i) {
        if (y[i] >= V) {
            throw std::invalid_argument(
                "alignment_loss: token " + std::to_string(y[i])
                + " outside [0, " + std::to_string(V) + ")");
        }
        const double m = xt::amax(xt::view(o, i, xt::all()))();
        double z = 0.0;
        for (std::size_t v = 0; v < V; ++v) {
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
                                const matrix& s_prev, const matrix& h)
{
    expect_alignment_shapes(where, s_prev, h, model.W_a, model.U_a,
                            model.v_a);
    expect_nonempty(where, "b_r", model.b_r);
    expect_shape(where, "W_r", model.W_r,
                 {model.b_r.shape()[0], h.shape()[1]}, "(V, 2n)");
}

}  // namespace detail

// [ch01-alignment-forward]
/// \brief The forward pass of the toy model for one sequence: Eqs.
///        \ref eq_additive_energy "(1.2)" to \ref eq_bahdanau_context
///        "(1.4)", then the readout of Eq. \ref eq_alignment_loss "(1.7)".
/// \param model  the parameters
/// \param s_prev decoder states, the i-th row is `s_{i-1}` `(T_y, n)`
/// \param h      annotations `(T_x, 2n)`
/// \return every intermediate quantity
/// \throws std::invalid_argument on inconsistent or empty shapes
inline alignment_forward_pass alignment_forward(const alignment_model& model,
                                                const matrix& s_prev,
                                                const matrix& h)
{
    detail::expect_model_shapes("alignment_forward", model, s_prev, h);
    alignment_forward_pass f;
    const matrix Uh = xt::linalg::dot(h, xt::transpose(model.U_a));
    const matrix Ws = xt::linalg::dot(s_prev, xt::transpose(model.W_a));
    f.z = xt::tanh(xt::view(Ws, xt::all(), xt::newaxis(), xt::all())
                   + xt::view(Uh, xt::newaxis(), xt::all(), xt::all()));
    f.e = xt::sum(f.z * model.v_a, {2});               // Eq. (1.2)
    f.alpha = softmax_rows(f.e);                       // Eq. (1.3)
    f.c = bahdanau_context(f.alpha, h);                // Eq. (1.4)
    f.o = alignment_readout(f.c, model.W_r, model.b_r);  // Eq. (1.7)
    f.p = softmax_rows(f.o);
    return f;
}
// [ch01-alignment-forward]

/// \brief The loss of one sequence and its gradients.
struct alignment_backward_pass {
    double loss = 0.0;  ///< the loss of Eq. \ref eq_alignment_loss "(1.7)"
    matrix dL_dc;       ///< gradient with respect to the contexts `(T_y, 2n)`
    matrix dL_de;       ///< gradient with respect to the energies `(T_y, T_x)`
    alignment_model d;  ///< gradients with respect to every parameter
};

// [ch01-alignment-gradients]
/// \brief The loss of Eq. \ref eq_alignment_loss "(1.7)" for one sequence
///        and its gradients, by Eqs. \ref eq_alignment_energy_gradient
///        "(1.8)" and \ref eq_alignment_parameter_gradients "(1.9)".
/// \param model  the parameters
/// \param s_prev decoder states, the i-th row is `s_{i-1}` `(T_y, n)`
/// \param h      annotations `(T_x, 2n)`
/// \param y      the right output token of each target position (`T_y`)
/// \return the loss, the gradients with respect to `c` and `e`, and the
///         gradient of every parameter (same shapes as `model`)
/// \throws std::invalid_argument on inconsistent shapes or bad tokens
inline alignment_backward_pass alignment_gradients(
    const alignment_model& model, const matrix& s_prev, const matrix& h,
    const std::vector<std::size_t>& y)
{
    const alignment_forward_pass f = alignment_forward(model, s_prev, h);
    const std::size_t T_y = s_prev.shape()[0];
    alignment_backward_pass b;
    b.loss = alignment_loss(f.o, y);
    // Readout: dL/do_i = (p_i - onehot(y_i)) / T_y.
    matrix delta = f.p;                                          // (T_y, V)
    for (std::size_t i = 0; i < T_y; ++i) {
        delta(i, y[i]) -= 1.0;
    }
    delta /= double(T_y);
    b.d.W_r = xt::linalg::dot(xt::transpose(delta), f.c);       // (V, 2n)
    b.d.b_r = xt::sum(delta, {0});                               // (V,)
    b.dL_dc = xt::linalg::dot(delta, model.W_r);                 // (T_y, 2n)
    // Eq. (1.8): through c_i = sum_j alpha_ij h_j, then the softmax.
    const matrix g = xt::linalg::dot(b.dL_dc, xt::transpose(h)); // (T_y, T_x)
    const matrix mean_g = xt::sum(f.alpha * g, {1}, xt::keep_dims);
                                                                 // (T_y, 1)
    b.dL_de = f.alpha * (g - mean_g);                            // (T_y, T_x)
    // Eq. (1.9): through v_a^T tanh(.), then W_a s_{i-1} and U_a h_j.
    const tensor3 eps = xt::view(b.dL_de, xt::all(), xt::all(),
                                 xt::newaxis());                 // (T_y, T_x, 1)
    b.d.v_a = xt::sum(eps * f.z, {0, 1});                        // (n',)
    const tensor3 u = eps * model.v_a * (1.0 - f.z * f.z);  // (T_y, T_x, n')
    const matrix u_i = xt::sum(u, {1});                          // (T_y, n')
    const matrix u_j = xt::sum(u, {0});                          // (T_x, n')
    b.d.W_a = xt::linalg::dot(xt::transpose(u_i), s_prev);       // (n', n)
    b.d.U_a = xt::linalg::dot(xt::transpose(u_j), h);            // (n', 2n)
    return b;
}
// [ch01-alignment-gradients]

/// \brief The toy task: reverse a sequence of tokens. Its right alignment
///        is known: target position `i` must read source position
///        `T - 1 - i` (counting from 0).
struct reversal_task {
    std::size_t T = 0;  ///< sequence length, source and target
    std::size_t V = 0;  ///< number of distinct tokens
    matrix E;           ///< fixed random token embeddings `(V, T)`
    matrix P;           ///< source position codes, one-hot `(T, T)`
    matrix S;           ///< decoder states, the i-th row is `s_{i-1}`,
                        ///< a one-hot code of target position i `(T, T)`
    std::vector<std::size_t> source_of;  ///< the right alignment
};

/// \brief Builds the reversal task: one-hot position codes and random
///        normal token embeddings of width `T`, so that `n = T` and the
///        annotations `[E_{x_j} ; P_j]` have width `2n`.
/// \param T    sequence length
/// \param V    number of distinct tokens
/// \param seed seed of the token embeddings
/// \return the task
/// \throws std::invalid_argument if `T` or `V` is 0
inline reversal_task make_reversal_task(std::size_t T, std::size_t V,
                                        std::uint64_t seed)
{
    if (T == 0 || V == 0) {
        throw std::invalid_argument("make_reversal_task: T and V must be "
                                    "positive, got T = " + std::to_string(T)
                                    + ", V = " + std::to_string(V));
    }
    reversal_task task;
    task.T = T;
    task.V = V;
    std::mt19937_64 engine(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    task.E = xt::zeros<double>({V, T});
    for (double& x : task.E) {
        x = normal(engine);
    }
    task.P = xt::eye<double>(T);
    task.S = xt::eye<double>(T);
    for (std::size_t i = 0; i < T; ++i) {
        task.source_of.push_back(T - 1 - i);
    }
    return task;
}

// [ch01-task-annotations]
/// \brief The annotations of a source sequence in the toy task: row `j` is
///        `[E_{x_j} ; P_j]`, what the token is and where it stands.
/// \param task   the task
/// \param tokens the source tokens, `T` of them, each in `[0, V)`
/// \return the annotations `(T, 2n)`
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
        if (tokens[j] >= task.V) {
            throw std::invalid_argument("task_annotations: token "
                                        + std::to_string(tokens[j])
                                        + " outside [0, "
                                        + std::to_string(task.V) + ")");
        }
        for (std::size_t l = 0; l < what.shape()[1]; ++l) {
            what(j, l) = task.E(tokens[j], l);
        }
    }
    return annotations(what, task.P);                           // (T, 2n)
}
// [ch01-task-annotations]

namespace detail {

// A task as make_reversal_task builds it: T, V > 0 and matrices that fit.
inline void expect_task(const std::string& where, const reversal_task& task)
{
    if (task.T == 0 || task.V == 0) {
        throw std::invalid_argument(where + ": the task needs T and V "
                                    "positive (see make_reversal_task), "
                                    "got T = " + std::to_string(task.T)
                                    + ", V = " + std::to_string(task.V));
    }
    expect_shape(where, "task.E", task.E, {task.V, task.T}, "(V, T)");
    expect_shape(where, "task.P", task.P, {task.T, task.T}, "(T, T)");
    expect_shape(where, "task.S", task.S, {task.T, task.T}, "(T, T)");
    if (task.source_of.size() != task.T) {
        throw std::invalid_argument(where + ": task.source_of must have "
                                    + std::to_string(task.T)
                                    + " entries, got "
                                    + std::to_string(task.source_of.size()));
    }
}

}  // namespace detail

/// \brief How the toy model is trained.
struct training_options {
    std::size_t n_prime = 16;      ///< alignment hidden width n'
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
    double alignment_accuracy = 0.0;  ///< share of `argmax_j alpha_ij`
                                      ///< equal to the right position
    double output_accuracy = 0.0;     ///< share of right output tokens
};

/// \brief The trained model, its history and the held-out sequences.
struct training_result {
    alignment_model model;                        ///< the final parameters
    std::vector<training_record> history;         ///< every `log_every` steps
    std::vector<std::vector<std::size_t>> test;   ///< held-out sources
};

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
    detail::expect_task("evaluate_alignment", task);
    if (test.empty()) {
        throw std::invalid_argument("evaluate_alignment: expected at least "
                                    "one test sequence, got none");
    }
    training_record r;
    std::size_t aligned = 0, right = 0, total = 0;
    for (const auto& x : test) {
        const matrix h = task_annotations(task, x);
        const auto f = alignment_forward(model, task.S, h);
        std::vector<std::size_t> y(task.T);
        for (std::size_t i = 0; i < task.T; ++i) {
            y[i] = x[task.source_of[i]];
            aligned += detail::argmax_row(f.alpha, i) == task.source_of[i];
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

inline void expect_training_setup(const std::string& where,
                                  const reversal_task& task,
                                  const training_options& options)
{
    if (options.batch == 0 || options.n_prime == 0
        || options.log_every == 0 || options.test_size == 0) {
        throw std::invalid_argument(
            where + ": batch, n_prime, log_every and test_size must be "
            "positive, got " + std::to_string(options.batch) + ", "
            + std::to_string(options.n_prime) + ", "
            + std::to_string(options.log_every) + ", "
            + std::to_string(options.test_size));
    }
    expect_task(where, task);
}

}  // namespace detail

// [ch01-train-alignment]
/// \brief Trains the toy model by plain gradient descent, Eq.
///        \ref eq_alignment_parameter_gradients "(1.9)" followed by
///        `theta <- theta - eta dL/dtheta` on the mean over a batch.
///
/// Deterministic for `options.seed`: the held-out sequences, the starting
/// parameters and every batch come from one `std::mt19937_64`. As in
/// Bahdanau et al. (App. B.1), `v_a` starts at 0, so every weight starts
/// at `1/T`.
/// \param task     the task
/// \param options  sizes, steps and step size
/// \param on_log   if set, called with every record and the model then
/// \return the model, its history and the held-out sequences
/// \throws std::invalid_argument if `options.batch`, `n_prime`,
///         `log_every` or `test_size` is 0, or the task is not one
///         that make_reversal_task builds
inline training_result train_alignment(
    const reversal_task& task, const training_options& options,
    const std::function<void(const training_record&,
                             const alignment_model&)>& on_log = nullptr)
{
    detail::expect_training_setup("train_alignment", task, options);
    std::mt19937_64 engine(options.seed);
    std::uniform_int_distribution<std::size_t> token(0, task.V - 1);
    std::normal_distribution<double> normal(0.0, 1.0);
    auto sequence = [&] {
        std::vector<std::size_t> x(task.T);
        for (auto& t : x) {
            t = token(engine);
        }
        return x;
    };
    auto random_matrix = [&](std::size_t rows, std::size_t cols,
                             double scale) {
        matrix m = xt::zeros<double>({rows, cols});
        for (double& w : m) {
            w = scale * normal(engine);
        }
        return m;
    };
    training_result result;
    for (std::size_t k = 0; k < options.test_size; ++k) {
        result.test.push_back(sequence());
    }
    const std::size_t n = task.S.shape()[1], two_n = 2 * task.E.shape()[1];
    alignment_model& m = result.model;
    m.W_a = random_matrix(options.n_prime, n, options.init_scale);
    m.U_a = random_matrix(options.n_prime, two_n, options.init_scale);
    m.v_a = xt::zeros<double>({options.n_prime});
    m.W_r = random_matrix(task.V, two_n, options.readout_scale);
    m.b_r = xt::zeros<double>({task.V});
    auto record = [&](std::size_t step, double train_loss) {
        training_record r = evaluate_alignment(m, task, result.test);
        r.step = step;
        r.train_loss = train_loss;
        result.history.push_back(r);
        if (on_log) {
            on_log(r, m);
        }
    };
    record(0, std::nan(""));
    for (std::size_t step = 1; step <= options.steps; ++step) {
        alignment_backward_pass sum;
        for (std::size_t k = 0; k < options.batch; ++k) {
            const auto x = sequence();
            std::vector<std::size_t> y(task.T);
            for (std::size_t i = 0; i < task.T; ++i) {
                y[i] = x[task.source_of[i]];
            }
            auto b = alignment_gradients(m, task.S, task_annotations(task, x),
                                         y);
            if (k == 0) {
                sum = std::move(b);
                continue;
            }
            sum.loss += b.loss;
            sum.d.W_a += b.d.W_a;
            sum.d.U_a += b.d.U_a;
            sum.d.v_a += b.d.v_a;
            sum.d.W_r += b.d.W_r;
            sum.d.b_r += b.d.b_r;
        }
        // One step of gradient descent on the mean over the batch.
        const double eta = options.learning_rate / double(options.batch);
        m.W_a -= eta * sum.d.W_a;
        m.U_a -= eta * sum.d.U_a;
        m.v_a -= eta * sum.d.v_a;
        m.W_r -= eta * sum.d.W_r;
        m.b_r -= eta * sum.d.b_r;
        if (step % options.log_every == 0 || step == options.steps) {
            record(step, sum.loss / double(options.batch));
        }
    }
    return result;
}
// [ch01-train-alignment]

}  // namespace attn

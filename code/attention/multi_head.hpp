// Multi-head attention: H heads attend in parallel, each on its own block of
// d_k = d_model / H columns of the one projected Q, K and V, and the output
// projection mixes what they found. The split and the concatenation are
// only logical: a head is a view of a column block, BLAS reads the block in
// place (leading dimension d_model), and each head writes its output
// straight into its own column block of `heads`. Nothing is copied.
//
// Glossary (tokens are rows; H heads, d_k = d_model / H):
//   x_q        queries' inputs                         // (n_q, d_model)
//   x_kv       keys' and values' inputs                // (n_k, d_model)
//   w_q, w_k, w_v, w_o   projections                   // (d_model, d_model)
//   b_o        output bias                             // (d_model,)
//   q, k, v    projections x_q w_q, x_kv w_k, x_kv w_v // (n_*, d_model)
//   q^h        head h's columns [h d_k, (h+1) d_k) of q // (n_q, d_k)
//   a^h        head h's weights                        // (n_q, n_k)
//   y^h        head h's output a^h v^h                 // (n_q, d_k)
//   heads      Y_cat = [y^0, ..., y^{H-1}] side by side // (n_q, d_model)
//   xi_h       head h's gate                           // scalar
//   y          Y~ = Y_cat w_o + b_o                    // (n_q, d_model)
//   offsets    where head h's blocks start in q, k, v and heads, in
//              doubles from each matrix's first entry: h d_k for a view
#pragma once

#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "attention/attend.hpp"
#include "attention/core.hpp"
#include "attention/random.hpp"
#include "attention/softmax.hpp"

/// \file
/// \brief Multi-head attention on column-block views of one projected
///        Q, K, V, with head gates (\ref ch03_multi_head).

namespace attn {

/// \brief The weights of one multi-head attention layer. Head `h` owns
///        columns `[h d_k, (h+1) d_k)` of `w_q`, `w_k`, `w_v` and the same
///        rows of `w_o`.
struct multi_head_weights {
    matrix w_q;  ///< query projection `(d_model, d_model)`
    matrix w_k;  ///< key projection `(d_model, d_model)`
    matrix w_v;  ///< value projection `(d_model, d_model)`
    matrix w_o;  ///< output projection `(d_model, d_model)`
    vector b_o;  ///< output bias `(d_model,)`
};

/// \brief A random layer: W_q, W_k, W_v, W_o with standard normal entries
///        divided by sqrt(d_model), then b_o standard normal, drawn in
///        that order.
/// \param d_model the width of the layer
/// \param random  the generator the weights are drawn from
/// \return the weights, each projection `(d_model, d_model)`
inline multi_head_weights random_multi_head_weights(std::size_t d_model,
                                                    rng& random)
{
    const double scale = 1.0 / std::sqrt(double(d_model));
    multi_head_weights w;
    w.w_q = normal_matrix(d_model, d_model, random, scale);
    w.w_k = normal_matrix(d_model, d_model, random, scale);
    w.w_v = normal_matrix(d_model, d_model, random, scale);
    w.w_o = normal_matrix(d_model, d_model, random, scale);
    w.b_o = xt::view(normal_matrix(1, d_model, random), 0, xt::all());
    return w;
}

/// \brief Where head `h`'s blocks, as the layer read and wrote them, start
///        inside the layer's own matrices, counted in doubles from each
///        matrix's first entry. A block that is a view of columns
///        `[h d_k, (h+1) d_k)` starts at `h d_k`; a block that was copied
///        lies outside the matrix and gets `not_inside`.
struct head_offsets {
    /// \brief The offset of a block that does not lie in the matrix.
    static constexpr std::size_t not_inside = std::size_t(-1);
    std::size_t q;      ///< of the `q^h` the scores read, in `q`
    std::size_t k;      ///< of the `k^h` the scores read, in `k`
    std::size_t v;      ///< of the `v^h` the mixing read, in `v`
    std::size_t heads;  ///< of the `y^h` the mixing wrote, in `heads`
};

/// \brief Everything one multi-head attention step computes.
struct multi_head_result {
    matrix q;      ///< projected queries `(n_q, d_model)`
    matrix k;      ///< projected keys `(n_k, d_model)`
    matrix v;      ///< projected values `(n_k, d_model)`
    tensor3 a;     ///< each head's weights `(H, n_q, n_k)`
    matrix heads;  ///< `Y_cat`, the (gated) head outputs side by side,
                   ///< before `w_o`, `(n_q, d_model)`
    matrix y;      ///< the layer's output `Y~ = Y_cat w_o + b_o`
                   ///< `(n_q, d_model)`
    /// \brief Per head, where its blocks start in `q`, `k`, `v` and
    ///        `heads` (empty for the literal-loop reference, which has no
    ///        blocks): the evidence that no head was copied.
    std::vector<head_offsets> offsets;
};

namespace detail {

// Head h's columns [h d_k, (h+1) d_k) lie inside m.
inline void expect_head_block(const matrix& m, std::size_t h,
                              std::size_t d_k)
{
    if (d_k == 0 || (h + 1) * d_k > m.shape()[1]) {
        throw std::invalid_argument(
            "head_view: columns [" + std::to_string(h * d_k) + ", "
            + std::to_string((h + 1) * d_k) + ") of head " + std::to_string(h)
            + " do not fit in a matrix of shape " + shape_string(m.shape()));
    }
}

}  // namespace detail

// [ch03-head-view]
/// \brief Head `h`'s block of columns `[h d_k, (h+1) d_k)` of `m`, as an
///        xtensor view into `m`'s own buffer: no copy; writing through the
///        view writes into `m`.
/// \param m   a projected `Q`, `K`, `V` or the heads' output
///            `(n, d_model)`
/// \param h   the head, `0 <= h < d_model / d_k`
/// \param d_k columns per head, `d_model / H`
/// \return a view of shape `(n, d_k)`
/// \throws std::invalid_argument if `d_k` is 0 or the block does not fit
inline auto head_view(matrix& m, std::size_t h, std::size_t d_k)
{
    detail::expect_head_block(m, h, d_k);
    return xt::view(m, xt::all(), xt::range(h * d_k, (h + 1) * d_k));
}
// [ch03-head-view]

/// \brief Head `h`'s block of columns of a constant matrix, as a read-only
///        view (see the other overload).
/// \param m   `(n, d_model)`
/// \param h   the head, `0 <= h < d_model / d_k`
/// \param d_k columns per head
/// \return a read-only view of shape `(n, d_k)`
/// \throws std::invalid_argument if `d_k` is 0 or the block does not fit
inline auto head_view(const matrix& m, std::size_t h, std::size_t d_k)
{
    detail::expect_head_block(m, h, d_k);
    return xt::view(m, xt::all(), xt::range(h * d_k, (h + 1) * d_k));
}

namespace detail {

// The position of the entry at `p` in `m`'s buffer, counted in doubles
// from its first entry, or head_offsets::not_inside if `p` is not in it.
inline std::size_t offset_in(const matrix& m, const double* p)
{
    const std::less<const double*> before;
    if (before(p, m.data()) || !before(p, m.data() + m.size())) {
        return head_offsets::not_inside;
    }
    return std::size_t(p - m.data());
}

// The distance in doubles between two rows of a row-major block whose
// rows are contiguous. xtensor stores stride 0 for an extent of 1, which
// BLAS refuses as a leading dimension, so a single row reports its width.
template <class M>
xt::blas_index_t leading_dimension(const M& m)
{
    if (m.shape()[1] > 1 && m.strides()[1] != 1) {
        throw std::logic_error("multi_head: a head block must have "
                               "contiguous rows");
    }
    const std::size_t ld = m.shape()[0] > 1 ? std::size_t(m.strides()[0])
                                            : std::max<std::size_t>(
                                                  m.shape()[1], 1);
    return static_cast<xt::blas_index_t>(ld);
}

// c (rows, cols) must receive op(a) op(b), with op(a) (rows, inner) and
// op(b) (inner_b, cols).
template <class C>
void expect_gemm_shapes(const C& c, std::size_t rows, std::size_t cols,
                        std::size_t inner, std::size_t inner_b)
{
    if (c.shape()[0] != rows || c.shape()[1] != cols || inner_b != inner) {
        throw std::logic_error("multi_head: gemm_in_place shape mismatch");
    }
}

// The one BLAS call of gemm_in_place: c = scale op(a) op(b) in row-major
// storage, each matrix given by its first entry and its leading dimension
// (the distance between its rows), so that a column block is read and
// written where it lies in its parent.
template <class A, class B, class C>
void blas_gemm(bool trans_a, bool trans_b, std::size_t rows,
               std::size_t cols, std::size_t inner, double scale,
               const A& a, const B& b, C& c)
{
    if (rows == 0 || cols == 0) {
        return;
    }
    if (inner == 0) {
        c.fill(0.0);
        return;
    }
    cxxblas::gemm<xt::blas_index_t>(
        cxxblas::StorageOrder::RowMajor,
        trans_a ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
        trans_b ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
        xt::blas_index_t(rows), xt::blas_index_t(cols),
        xt::blas_index_t(inner), scale, &a(0, 0), leading_dimension(a),
        &b(0, 0), leading_dimension(b), 0.0, &c(0, 0), leading_dimension(c));
}

// [ch03-gemm-in-place]
// c = scale op(a) op(b), where op transposes when asked. a, b and c may be
// column blocks of larger matrices: blas_gemm reads and writes them where
// they lie, with one BLAS call.
template <class A, class B, class C>
void gemm_in_place(const A& a, bool trans_a, const B& b, bool trans_b,
                   double scale, C&& c)
{
    // op(a) is (rows, inner), op(b) is (inner, cols), c is (rows, cols)
    const std::size_t rows = trans_a ? a.shape()[1] : a.shape()[0];
    const std::size_t inner = trans_a ? a.shape()[0] : a.shape()[1];
    const std::size_t cols = trans_b ? b.shape()[0] : b.shape()[1];
    const std::size_t inner_b = trans_b ? b.shape()[1] : b.shape()[0];
    expect_gemm_shapes(c, rows, cols, inner, inner_b);
    blas_gemm(trans_a, trans_b, rows, cols, inner, scale, a, b, c);
}
// [ch03-gemm-in-place]

// The sizes of one multi-head attention step.
struct multi_head_sizes {
    std::size_t n_q;  // queries
    std::size_t n_k;  // keys and values
    std::size_t d_k;  // columns per head, d_model / H
};

// Checks a layer's arguments and returns its sizes.
inline multi_head_sizes expect_multi_head_arguments(
    const std::string& where, const matrix& x_q, const matrix& x_kv,
    const multi_head_weights& w, std::size_t heads,
    const mask_matrix& mask = {}, const vector& gates = {})
{
    expect_nonempty(where, "x_q", x_q);
    expect_nonempty(where, "x_kv", x_kv);
    const std::size_t d_model = x_q.shape()[1], n_k = x_kv.shape()[0];
    expect_shape(where, "x_kv", x_kv, {n_k, d_model}, "(n_k, d_model)");
    expect_shape(where, "w_q", w.w_q, {d_model, d_model},
                 "(d_model, d_model)");
    expect_shape(where, "w_k", w.w_k, {d_model, d_model},
                 "(d_model, d_model)");
    expect_shape(where, "w_v", w.w_v, {d_model, d_model},
                 "(d_model, d_model)");
    expect_shape(where, "w_o", w.w_o, {d_model, d_model},
                 "(d_model, d_model)");
    expect_shape(where, "b_o", w.b_o, {d_model}, "(d_model,)");
    if (heads == 0 || d_model % heads != 0) {
        throw std::invalid_argument(
            where + ": the number of heads H = " + std::to_string(heads)
            + " must divide d_model = " + std::to_string(d_model));
    }
    if (mask.size() != 0) {
        expect_shape(where, "mask", mask, {x_q.shape()[0], n_k},
                     "(n_q, n_k)");
    }
    if (gates.size() != 0) {
        expect_shape(where, "gates", gates, {heads}, "(H,)");
    }
    return {x_q.shape()[0], n_k, d_model / heads};
}

// The additive bias of the mask (0 or -inf), or zeros without a mask.
inline matrix bias_or_zeros(const mask_matrix& mask, std::size_t n_q,
                            std::size_t n_k)
{
    return mask.size() != 0 ? mask_bias(mask)
                            : matrix(xt::zeros<double>({n_q, n_k}));
}

// Where head h's blocks, as BLAS read and wrote them, start in r's q, k, v
// and heads (h d_k in each, if they are views).
template <class Q, class K, class V, class Y>
head_offsets offsets_of(const multi_head_result& r, const Q& q_h,
                        const K& k_h, const V& v_h, const Y& y_h)
{
    return {offset_in(r.q, &q_h(0, 0)), offset_in(r.k, &k_h(0, 0)),
            offset_in(r.v, &v_h(0, 0)), offset_in(r.heads, &y_h(0, 0))};
}

// The literal loops of the matrix product a b, plus the row `init` if one
// is given, counting one multiply-add per += of a product.
inline matrix product_loops(const matrix& a, const matrix& b,
                            std::size_t& count, const vector& init = {})
{
    matrix c = xt::zeros<double>({a.shape()[0], b.shape()[1]});
    for (std::size_t i = 0; i < a.shape()[0]; ++i) {
        for (std::size_t col = 0; col < b.shape()[1]; ++col) {
            c(i, col) = init.size() != 0 ? init(col) : 0.0;
            for (std::size_t e = 0; e < a.shape()[1]; ++e) {
                c(i, col) += a(i, e) * b(e, col);
                ++count;
            }
        }
    }
    return c;
}

// Head h's scaled scores as literal loops, Eq. (3.2): the dot product of
// q_i and k_j over head h's columns, divided by sqrt(d_k), and -inf where
// the mask forbids key j; one multiply-add counted per += of a product.
inline matrix head_score_loops(const multi_head_result& r, std::size_t h,
                               std::size_t d_k, const mask_matrix& mask,
                               std::size_t& count)
{
    const std::size_t n_q = r.q.shape()[0], n_k = r.k.shape()[0];
    matrix s = xt::empty<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            double dot = 0.0;
            for (std::size_t c = h * d_k; c < (h + 1) * d_k; ++c) {
                dot += r.q(i, c) * r.k(j, c);
                ++count;
            }
            s(i, j) = mask.size() == 0 || mask(i, j)
                          ? dot / std::sqrt(double(d_k))
                          : -std::numeric_limits<double>::infinity();
        }
    }
    return s;
}

}  // namespace detail

/// \brief Multi-head attention, Eqs. \ref eq_head_projections "(3.1)" to
///        \ref eq_output_projection "(3.4)", with the head gates of Eq.
///        \ref eq_head_gates "(3.7)".
///
/// Queries come from `x_q`, keys and values from `x_kv` (self-attention
/// passes the same matrix twice). Each head attends on its own column block
/// of the one projected `q`, `k`, `v` (a view, no copy) and writes its
/// output, scaled by its gate, into its own column block of `heads`, the
/// concatenation `Y_cat` of Eq. \ref eq_concat_heads "(3.3)".
/// A query row whose keys are all masked gets zero weights and a zero head
/// output in every head, so its row of `y` is `b_o`.
/// \param x_q   queries' inputs `(n_q, d_model)`
/// \param x_kv  keys' and values' inputs `(n_k, d_model)`
/// \param w     the layer's weights, see multi_head_weights
/// \param heads the number of heads `H`; it must divide `d_model`
/// \param mask  `(n_q, n_k)`, true = may attend, applied as a bias of
///              `-inf` before the softmax; empty (size 0) means no mask
/// \param gates `(H,)`, head `h`'s output is scaled by `gates(h)`
///              (`xi_h`); empty means all ones
/// \return the projections, each head's weights `(H, n_q, n_k)`, the
///         concatenated head outputs and the output `(n_q, d_model)`
/// \throws std::invalid_argument on inconsistent or empty shapes, or if
///         `H` does not divide `d_model`
// [ch03-multi-head-attention]
inline multi_head_result multi_head_attention(
    const matrix& x_q, const matrix& x_kv, const multi_head_weights& w,
    std::size_t heads, const mask_matrix& mask = {}, const vector& gates = {})
{
    const auto [n_q, n_k, d_k] = detail::expect_multi_head_arguments(
        "multi_head_attention", x_q, x_kv, w, heads, mask, gates);
    const matrix bias = detail::bias_or_zeros(mask, n_q, n_k); // (n_q, n_k)
    multi_head_result r;
    // All heads' projections at once, Eq. (3.1)
    r.q = xt::linalg::dot(x_q, w.w_q);                     // (n_q, d_model)
    r.k = xt::linalg::dot(x_kv, w.w_k);                    // (n_k, d_model)
    r.v = xt::linalg::dot(x_kv, w.w_v);                    // (n_k, d_model)
    r.a = xt::zeros<double>({heads, n_q, n_k});
    r.heads = xt::zeros<double>({n_q, heads * d_k});       // Y_cat
    matrix s_h({n_q, n_k});
    for (std::size_t h = 0; h < heads; ++h) {
        // Head h's blocks: views into q, k, v, no copy, Eq. (3.1)
        const auto q_h = head_view(std::as_const(r.q), h, d_k); // (n_q, d_k)
        const auto k_h = head_view(std::as_const(r.k), h, d_k); // (n_k, d_k)
        const auto v_h = head_view(std::as_const(r.v), h, d_k); // (n_k, d_k)
        // Scaled scores plus the mask's bias, then weights, Eq. (3.2)
        detail::gemm_in_place(q_h, false, k_h, true,
                              1.0 / std::sqrt(double(d_k)), s_h);
        auto a_h = xt::view(r.a, h, xt::all(), xt::all());    // (n_q, n_k)
        a_h = softmax_rows(s_h + bias);
        // xi_h A^h V^h into head h's columns of Y_cat, Eqs. (3.3), (3.7)
        const double xi_h = gates.size() != 0 ? gates(h) : 1.0;
        auto y_h = head_view(r.heads, h, d_k);                // (n_q, d_k)
        detail::gemm_in_place(a_h, false, v_h, false, xi_h, y_h);
        r.offsets.push_back(detail::offsets_of(r, q_h, k_h, v_h, y_h));
    }
    r.y = xt::linalg::dot(r.heads, w.w_o) + w.b_o;  // Eq. (3.4), (n_q, d_model)
    return r;
}
// [ch03-multi-head-attention]

/// \brief The same multi-head attention as literal loops, straight from
///        Eqs. \ref eq_head_projections "(3.1)" to
///        \ref eq_head_gates "(3.7)"; the tests compare the two.
/// \param x_q   `(n_q, d_model)`
/// \param x_kv  `(n_k, d_model)`
/// \param w     the layer's weights
/// \param heads `H`, dividing `d_model`
/// \param mask  `(n_q, n_k)`, true = may attend, or empty
/// \param gates `(H,)`, or empty for all ones
/// \param multiply_adds if not null, receives the number of multiply-adds
///        the loops performed
/// \return the same members as multi_head_attention
/// \throws std::invalid_argument on inconsistent shapes
// [ch03-multi-head-reference]
inline multi_head_result multi_head_attention_reference(
    const matrix& x_q, const matrix& x_kv, const multi_head_weights& w,
    std::size_t heads, const mask_matrix& mask = {},
    const vector& gates = {}, std::size_t* multiply_adds = nullptr)
{
    const auto [n_q, n_k, d_k] = detail::expect_multi_head_arguments(
        "multi_head_attention_reference", x_q, x_kv, w, heads, mask, gates);
    std::size_t count = 0;  // multiply-adds, one per += of a product
    multi_head_result r;
    r.q = detail::product_loops(x_q, w.w_q, count);   // Eq. (3.1)
    r.k = detail::product_loops(x_kv, w.w_k, count);
    r.v = detail::product_loops(x_kv, w.w_v, count);
    r.a = xt::zeros<double>({heads, n_q, n_k});
    r.heads = xt::zeros<double>({n_q, heads * d_k});  // Y_cat
    for (std::size_t h = 0; h < heads; ++h) {
        // Eq. (3.2) with chapter 0's softmax loops (a row of -inf stays 0)
        const matrix s_h = detail::head_score_loops(r, h, d_k, mask, count);
        xt::view(r.a, h, xt::all(), xt::all()) = softmax_rows_reference(s_h);
        // xi_h a_ij v_j into head h's columns of Y_cat, Eqs. (3.3), (3.7)
        const double xi_h = gates.size() != 0 ? gates(h) : 1.0;
        for (std::size_t i = 0; i < n_q; ++i) {
            for (std::size_t j = 0; j < n_k; ++j) {
                for (std::size_t c = h * d_k; c < (h + 1) * d_k; ++c) {
                    r.heads(i, c) += xi_h * r.a(h, i, j) * r.v(j, c);
                    ++count;
                }
            }
        }
    }
    r.y = detail::product_loops(r.heads, w.w_o, count, w.b_o);  // Eq. (3.4)
    if (multiply_adds != nullptr) {
        *multiply_adds = count;
    }
    return r;
}
// [ch03-multi-head-reference]

// [ch03-multiply-adds]
/// \brief Multiply-adds of one multi-head attention step, counted as the
///        matrix products of Eqs. \ref eq_head_projections "(3.1)" to
///        \ref eq_output_projection "(3.4)" do them.
struct multi_head_cost {
    std::size_t projections;  ///< `Q`, `K`, `V`: `(n_q + 2 n_k) d_model^2`
    std::size_t scores;       ///< `H` heads of `n_q n_k d_k`
    std::size_t mixing;       ///< `A^h V^h`: `H` heads of `n_q n_k d_k`
    std::size_t output;       ///< `heads W_o`: `n_q d_model^2`
    std::size_t exponentials; ///< softmax: `H n_q n_k` (not multiply-adds)
    /// \brief The multiply-adds of all four products.
    /// \return `projections + scores + mixing + output`
    std::size_t total() const
    {
        return projections + scores + mixing + output;
    }
};

/// \brief Counts the multiply-adds of multi-head attention with `heads`
///        heads of width `d_model / heads`.
/// \param n_q     queries
/// \param n_k     keys
/// \param d_model model width
/// \param heads   `H`, dividing `d_model`
/// \return the counts per product
/// \throws std::invalid_argument if `heads` does not divide `d_model`
inline multi_head_cost multi_head_multiply_adds(std::size_t n_q,
                                                std::size_t n_k,
                                                std::size_t d_model,
                                                std::size_t heads)
{
    if (heads == 0 || d_model % heads != 0) {
        throw std::invalid_argument(
            "multi_head_multiply_adds: H = " + std::to_string(heads)
            + " must divide d_model = " + std::to_string(d_model));
    }
    const std::size_t d_k = d_model / heads;
    return {(n_q + 2 * n_k) * d_model * d_model, heads * n_q * n_k * d_k,
            heads * n_q * n_k * d_k, n_q * d_model * d_model,
            heads * n_q * n_k};
}
// [ch03-multiply-adds]

namespace detail {

// Checks the column form's arguments: tokens are columns.
inline void expect_columns_arguments(const matrix& x_cols,
                                     const matrix& z_cols,
                                     const multi_head_weights& w,
                                     std::size_t heads)
{
    const std::string where = "multi_head_attention_columns";
    expect_nonempty(where, "x_cols", x_cols);
    expect_nonempty(where, "z_cols", z_cols);
    expect_shape(where, "z_cols", z_cols,
                 {x_cols.shape()[0], z_cols.shape()[1]}, "(d_model, n_k)");
    expect_multi_head_arguments(where, xt::transpose(x_cols),
                                xt::transpose(z_cols), w, heads);
}

}  // namespace detail

/// \brief Multi-head attention in the column form of the author's notes
///        and Phuong & Hutter (2022, Algorithm 5), Eq.
///        \ref eq_mha_column_form "(3.5)": tokens are columns, the heads'
///        outputs are stacked as blocks of rows, `Y_cat^T = [Y^0^T; ...;
///        Y^(H-1)^T]` (the notes count heads from 1), and
///        `V~ = W_o Y_cat^T + b_o 1^T`.
///
/// The weights are the row form's, transposed: head `h`'s
/// `W_q^h = (w_q[:, h d_k : (h+1) d_k])^T` and the notes' `W_o` is `w_o^T`.
/// Each head runs attend_columns().
/// \param x_cols the queries' inputs as columns `(d_model, n_q)`
/// \param z_cols the keys' and values' inputs as columns `(d_model, n_k)`
/// \param w      the row form's weights
/// \param heads  `H`, dividing `d_model`
/// \return `V~` `(d_model, n_q)`, the transpose of the row form's `y`
/// \throws std::invalid_argument on inconsistent shapes
// [ch03-column-form]
inline matrix multi_head_attention_columns(const matrix& x_cols,
                                           const matrix& z_cols,
                                           const multi_head_weights& w,
                                           std::size_t heads)
{
    detail::expect_columns_arguments(x_cols, z_cols, w, heads);
    const std::size_t d_model = x_cols.shape()[0], d_k = d_model / heads;
    matrix y_cols = xt::zeros<double>({d_model, x_cols.shape()[1]});
    for (std::size_t h = 0; h < heads; ++h) {
        // Head h's projections, W^h X with W^h (d_k, d_model)
        const matrix w_q_h = xt::transpose(head_view(w.w_q, h, d_k));
        const matrix w_k_h = xt::transpose(head_view(w.w_k, h, d_k));
        const matrix w_v_h = xt::transpose(head_view(w.w_v, h, d_k));
        const matrix q_h = xt::linalg::dot(w_q_h, x_cols);      // (d_k, n_q)
        const matrix k_h = xt::linalg::dot(w_k_h, z_cols);      // (d_k, n_k)
        const matrix v_h = xt::linalg::dot(w_v_h, z_cols);      // (d_k, n_k)
        // Y^h^T is the h-th block of rows of y_cols = Y_cat^T
        xt::view(y_cols, xt::range(h * d_k, (h + 1) * d_k), xt::all()) =
            attend_columns(q_h, k_h, v_h);                     // (d_k, n_q)
    }
    // V~ = W_o Y_cat^T + b_o 1^T, with the notes' W_o = w_o^T
    const matrix b_col = xt::view(w.b_o, xt::all(), xt::newaxis());
    const matrix w_o_cols = xt::transpose(w.w_o);
    return xt::linalg::dot(w_o_cols, y_cols) + b_col;      // (d_model, n_q)
}
// [ch03-column-form]

}  // namespace attn

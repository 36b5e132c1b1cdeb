// Attention in its most general single-head form, as the introduction
// states it: every query retrieves a weighted mix of the values, weighted
// by how well its key matches. Later chapters build the queries, keys and
// values (chapter 2), split them into heads (chapter 3) and mask them
// (chapter 4); the retrieval itself stays this function.
//
// Glossary (tokens are rows):
//   q   queries                          // (n_q, d_k)
//   k   keys                             // (n_k, d_k)
//   v   values                           // (n_k, d_v)
//   s   scaled scores q k^T / sqrt(d_k)  // (n_q, n_k)
//   a   weights softmax_rows(s)          // (n_q, n_k)
//   y   outputs a v                      // (n_q, d_v)
#pragma once

#include <cmath>
#include <string>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>

#include "attention/core.hpp"
#include "attention/softmax.hpp"

/// \file
/// \brief Single-head scaled dot-product attention in row and column form
///        (\ref ch00_introduction).

namespace attn {

/// \brief The three results of one attention step.
struct attention_result {
    matrix s;  ///< scaled scores `(n_q, n_k)`
    matrix a;  ///< weights, rows summing to 1 `(n_q, n_k)`
    matrix y;  ///< outputs `(n_q, d_v)`
};

namespace detail {

// The shape checks of attn::attend: q (n_q, d_k), k (n_k, d_k),
// v (n_k, d_v), q and k not empty.
inline void expect_attend_shapes(const matrix& q, const matrix& k,
                                 const matrix& v)
{
    expect_nonempty("attend", "q", q);
    expect_nonempty("attend", "k", k);
    const std::size_t d_k = q.shape()[1], n_k = k.shape()[0];
    expect_shape("attend", "k", k, {n_k, d_k}, "(n_k, d_k)");
    expect_shape("attend", "v", v, {n_k, v.shape()[1]}, "(n_k, d_v)");
}

// The same for attn::attend_columns, tokens as columns: q_cols (d_k, n_q),
// k_cols (d_k, n_k), v_cols (d_v, n_k).
inline void expect_attend_columns_shapes(const matrix& q_cols,
                                         const matrix& k_cols,
                                         const matrix& v_cols)
{
    expect_nonempty("attend_columns", "q_cols", q_cols);
    expect_nonempty("attend_columns", "k_cols", k_cols);
    const std::size_t d_k = q_cols.shape()[0], n_k = k_cols.shape()[1];
    expect_shape("attend_columns", "k_cols", k_cols, {d_k, n_k},
                 "(d_k, n_k)");
    expect_shape("attend_columns", "v_cols", v_cols, {v_cols.shape()[0], n_k},
                 "(d_v, n_k)");
}

}  // namespace detail

// [ch00-attend]
/// \brief Scaled dot-product attention, Eq. \ref eq_attention "(0.2)":
///        `y = softmax_rows(q k^T / sqrt(d_k)) v`.
/// \param q queries `(n_q, d_k)`
/// \param k keys `(n_k, d_k)`
/// \param v values `(n_k, d_v)`
/// \return scores and weights `(n_q, n_k)`, outputs `(n_q, d_v)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline attention_result attend(const matrix& q, const matrix& k,
                               const matrix& v)
{
    detail::expect_attend_shapes(q, k, v);
    const std::size_t d_k = q.shape()[1];
    attention_result r;
    r.s = xt::linalg::dot(q, xt::transpose(k)) / std::sqrt(double(d_k));
    r.a = softmax_rows(r.s);                          // (n_q, n_k)
    r.y = xt::linalg::dot(r.a, v);                    // (n_q, d_v)
    return r;
}
// [ch00-attend]

// [ch00-attend-columns]
/// \brief The same attention in the column form of Phuong & Hutter (2022),
///        Eq. \ref eq_column_form "(0.3)": tokens are columns and
///        `V~ = V softmax(S / sqrt(d_attn))` with the softmax taken over
///        each column.
/// \param q_cols queries as columns `(d_k, n_q)`
/// \param k_cols keys as columns `(d_k, n_k)`
/// \param v_cols values as columns `(d_v, n_k)`
/// \return the outputs as columns `(d_v, n_q)`
/// \throws std::invalid_argument on inconsistent or empty shapes
inline matrix attend_columns(const matrix& q_cols, const matrix& k_cols,
                             const matrix& v_cols)
{
    detail::expect_attend_columns_shapes(q_cols, k_cols, v_cols);
    const std::size_t d_k = q_cols.shape()[0];
    // S[j, i] = k_j . q_i: one column per query, one row per key.
    matrix s_cols = xt::linalg::dot(xt::transpose(k_cols), q_cols);
    matrix scaled = s_cols / std::sqrt(double(d_k));          // (n_k, n_q)
    // Softmax over each column, that is over the keys of one query.
    matrix a_cols = xt::transpose(softmax_rows(xt::transpose(scaled)));
    return xt::linalg::dot(v_cols, a_cols);                   // (d_v, n_q)
}
// [ch00-attend-columns]

}  // namespace attn

// The common core every chapter stands on: the tensor types, the shape
// checks that turn a wrong shape into a clear message, and the numerically
// stable row softmax with its literal-loop reference.
//
// Glossary (tokens are rows throughout the book):
//   s      logits, one row per query                        // (n_q, n_k)
//   a      weights: each row sums to 1, or is all zero      // (n_q, n_k)
//          when every key in it is masked (-inf)
#pragma once

#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

/// \file
/// \brief Tensor types, shape checks and the stable row softmax
///        (\ref ch00_introduction).

/// \brief The book's library: one header per concept, each function
///        named after the quantity it computes, tokens as rows.
namespace attn {

/// A matrix of doubles, one token per row.
using matrix = xt::xtensor<double, 2>;
/// A vector of doubles.
using vector = xt::xtensor<double, 1>;
/// A rank-3 tensor, for example one `(n_q, n_k)` weight matrix per head.
using tensor3 = xt::xtensor<double, 3>;

/// \brief Writes a shape as `(2, 3)`.
/// \param shape any sequence of extents
/// \return the shape in the book's notation
template <class S>
std::string shape_string(const S& shape)
{
    std::ostringstream out;
    out << '(';
    std::size_t k = 0;
    for (auto extent : shape) {
        out << (k++ ? ", " : "") << extent;
    }
    out << (k == 1 ? ",)" : ")");
    return out.str();
}

/// \brief Throws `std::invalid_argument` unless `t` has exactly the shape
///        `expected`.
///
/// The message names the function, the argument, the shape expected (with
/// its symbolic form, for example `(n', 2n)`) and the shape that came:
/// `additive_scores: U_a must have shape (n', 2n) = (8, 6), got (8, 5)`.
/// \param where    the function doing the check
/// \param name     the argument's symbol
/// \param t        the tensor checked, any rank
/// \param expected the extents expected, one per dimension
/// \param symbolic the shape in symbols, for the message (may be empty)
template <class T>
void expect_shape(const std::string& where, const std::string& name,
                  const T& t, std::vector<std::size_t> expected,
                  const std::string& symbolic = "")
{
    const auto& shape = t.shape();
    bool same = shape.size() == expected.size();
    for (std::size_t k = 0; same && k < expected.size(); ++k) {
        same = shape[k] == expected[k];
    }
    if (!same) {
        throw std::invalid_argument(
            where + ": " + name + " must have shape "
            + (symbolic.empty() ? "" : symbolic + " = ")
            + shape_string(expected) + ", got " + shape_string(shape));
    }
}

/// \brief Throws `std::invalid_argument` when a dimension that must be
///        positive is zero, for example an empty sequence.
/// \param where  the function doing the check
/// \param name   the argument's symbol
/// \param t      the tensor checked
template <class T>
void expect_nonempty(const std::string& where, const std::string& name,
                     const T& t)
{
    for (auto extent : t.shape()) {
        if (extent == 0) {
            throw std::invalid_argument(where + ": " + name
                                        + " must not be empty, got shape "
                                        + shape_string(t.shape()));
        }
    }
}

namespace detail {

// Logits may be finite or -inf (a masked key); NaN and +inf have no
// meaning as logits, so they are refused, naming the first one.
inline void expect_logits(const std::string& where, const matrix& s)
{
    for (std::size_t i = 0; i < s.size(); ++i) {
        const double x = s.data()[i];
        if (std::isnan(x) || x == std::numeric_limits<double>::infinity()) {
            throw std::invalid_argument(
                where + ": logits must be finite or -inf, got "
                + std::to_string(x) + " at index "
                + shape_string(xt::unravel_index(i, s.shape())));
        }
    }
}

}  // namespace detail

// [ch00-softmax-rows]
/// \brief Row softmax, Eq. \ref eq_softmax "(0.1)": each row of the result
///        is `exp(s_j - m) / sum_k exp(s_k - m)` with `m` the row maximum.
///
/// Subtracting the row maximum changes nothing mathematically and keeps
/// every exponent at most 0, so logits of 1000 do not overflow. An entry of
/// `-inf` is a masked key and gets weight exactly 0; a row whose entries
/// are all `-inf` (no key allowed) gets all-zero weights, never NaN.
/// \param s logits `(n_q, n_k)`; finite or `-inf`
/// \return weights `(n_q, n_k)`; each row sums to 1 or is all zero
/// \throws std::invalid_argument if `s` holds NaN or `+inf`
inline matrix softmax_rows(const matrix& s)
{
    detail::expect_logits("softmax_rows", s);
    if (s.size() == 0) {
        return s;
    }
    // Row maxima, stored before they are broadcast: xtensor 0.24.3 gives
    // wrong numbers for a lazy keep_dims reduction inside a broadcast.
    matrix m = xt::amax(s, {1}, xt::keep_dims);                // (n_q, 1)
    // A fully masked row has m = -inf; shifting it by 0 keeps it -inf,
    // so its exponentials are 0 instead of exp(-inf + inf) = NaN.
    m = xt::where(xt::isinf(m), 0.0, m);
    matrix e = xt::exp(s - m);                                 // (n_q, n_k)
    matrix z = xt::sum(e, {1}, xt::keep_dims);                 // (n_q, 1)
    z = xt::where(xt::equal(z, 0.0), 1.0, z);
    return e / z;
}
// [ch00-softmax-rows]

// [ch00-softmax-rows-reference]
/// \brief The same row softmax as literal loops, straight from Eq.
///        \ref eq_softmax "(0.1)"; the tests compare the two.
/// \param s logits `(n_q, n_k)`; finite or `-inf`
/// \return weights `(n_q, n_k)`
/// \throws std::invalid_argument if `s` holds NaN or `+inf`
inline matrix softmax_rows_reference(const matrix& s)
{
    detail::expect_logits("softmax_rows_reference", s);
    const std::size_t n_q = s.shape()[0], n_k = s.shape()[1];
    matrix a = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        double m = -std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < n_k; ++j) {
            m = std::max(m, s(i, j));
        }
        if (m == -std::numeric_limits<double>::infinity()) {
            continue;  // every key masked: the row stays zero
        }
        double z = 0.0;
        for (std::size_t j = 0; j < n_k; ++j) {
            z += std::exp(s(i, j) - m);
        }
        for (std::size_t j = 0; j < n_k; ++j) {
            a(i, j) = std::exp(s(i, j) - m) / z;
        }
    }
    return a;
}
// [ch00-softmax-rows-reference]

/// \brief Throws `std::invalid_argument` if any entry of `t` is NaN or
///        infinite, naming the first one by its index.
/// \param where the function doing the check
/// \param name  the argument's symbol
/// \param t     the tensor checked, any rank
template <class T>
void expect_finite(const std::string& where, const std::string& name,
                   const T& t)
{
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (!std::isfinite(t.data()[i])) {
            auto index = xt::unravel_index(i, t.shape());
            throw std::invalid_argument(where + ": " + name
                                        + " must be finite, got "
                                        + std::to_string(t.data()[i])
                                        + " at index "
                                        + shape_string(index));
        }
    }
}

}  // namespace attn

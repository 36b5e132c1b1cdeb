// The common core every chapter stands on: the tensor types (a mask among
// them) and the checks that turn a wrong shape or a non-finite value into a
// clear message. The softmax is in softmax.hpp.
//
// Glossary (tokens are rows throughout the book):
//   matrix       one token per row                          // (n, d)
//   mask_matrix  true where query i may attend to key j     // (n_q, n_k)
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
/// \brief Tensor types and the checks of shapes and values
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
/// A boolean mask `(n_q, n_k)`: `true` where query `i` may attend to key
/// `j` (the book's conventions, \ref ch00_introduction).
using mask_matrix = xt::xtensor<bool, 2>;

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

// What a grader tells a student when an exercise fails: the failing case's
// inputs, what was expected and what came, side by side, and a hint when
// the grader recognises a common mistake. Graders attach these with
// Catch2's INFO before the check; code/tools/grade_exercises.sh prints them
// as one block per exercise.
//
//     INFO(kit::show("Q", q));                       // an input, in full
//     INFO(kit::side_by_side(expected, got));        // expected | got
//     INFO(kit::hint_if(kit::off_by_factor(got, expected, std::sqrt(d_k)),
//                       "your output differs by a factor of sqrt(d_k): "
//                       "is the scale missing?"));
//     REQUIRE_THAT(got, IsCloseTo(expected));
//
// A hint is an INFO message that starts with "hint: "; an empty message
// (a hint_if whose mistake was not seen) is not printed.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <sstream>
#include <string>
#include <type_traits>

#include "attention/core.hpp"

namespace kit {

/// The largest matrix printed in full; larger ones print their shape and
/// their top-left corner.
inline constexpr std::size_t full_rows = 8, full_cols = 8;

inline std::string number(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%9.4g", v);
    return buf;
}

/// `name (rows, cols) =` then the rows, each on its own line.
template <class E>
std::string show(const std::string& name, const E& m)
{
    std::ostringstream out;
    const auto& s = m.shape();
    const std::size_t rows = s.size() > 1 ? s[0] : 1;
    const std::size_t cols = s.size() > 1 ? s[1] : (s.empty() ? 1 : s[0]);
    out << name << " " << attn::shape_string(s) << " =";
    const std::size_t r_max = rows < full_rows ? rows : full_rows;
    const std::size_t c_max = cols < full_cols ? cols : full_cols;
    for (std::size_t i = 0; i < r_max; ++i) {
        out << "\n   ";
        for (std::size_t j = 0; j < c_max; ++j) {
            const auto v = m.data()[i * cols + j];
            out << ' ' << (std::is_same_v<std::decay_t<decltype(v)>, bool>
                               ? (v ? "        1" : "        0")
                               : number(double(v)));
        }
        if (c_max < cols) {
            out << " ...";
        }
    }
    if (r_max < rows) {
        out << "\n    ...";
    }
    return out.str();
}

/// Expected and got as two columns of rows: `expected | got`.
template <class A, class B>
std::string side_by_side(const A& expected, const B& got)
{
    std::istringstream left(show("expected", expected));
    std::istringstream right(show("got", got));
    std::ostringstream out;
    std::string l, r;
    std::size_t width = 0;
    {
        std::istringstream probe(show("expected", expected));
        while (std::getline(probe, l)) {
            width = l.size() > width ? l.size() : width;
        }
    }
    bool first = true;
    while (true) {
        const bool has_l = bool(std::getline(left, l));
        const bool has_r = bool(std::getline(right, r));
        if (!has_l && !has_r) {
            break;
        }
        if (!has_l) {
            l.clear();
        }
        if (!has_r) {
            r.clear();
        }
        out << (first ? "" : "\n") << l << std::string(width - l.size(), ' ')
            << "  |  " << r;
        first = false;
    }
    return out.str();
}

/// True when `got` has the shape of `other` and every entry within
/// `rtol (1 + |other|)` of it: for telling which known mistake a wrong
/// answer matches, before choosing a hint.
inline bool close(const attn::matrix& got, const attn::matrix& other,
                  double rtol = 1e-9)
{
    if (got.shape() != other.shape()) {
        return false;
    }
    for (std::size_t k = 0; k < got.size(); ++k) {
        if (!(std::abs(got.data()[k] - other.data()[k])
              <= rtol * (1.0 + std::abs(other.data()[k])))) {
            return false;
        }
    }
    return true;
}

/// `"hint: " + text` when `seen`, else an empty message (not printed).
inline std::string hint_if(bool seen, const std::string& text)
{
    return seen ? "hint: " + text : std::string();
}

/// True when `got` equals `expected` times `factor` (or divided by it),
/// entry by entry, to `rtol`, and the factor is not 1: a missing or
/// doubled scale.
template <class A, class B>
bool off_by_factor(const A& got, const B& expected, double factor,
                   double rtol = 1e-9)
{
    if (got.shape() != expected.shape() || std::abs(factor - 1.0) < 1e-12) {
        return false;
    }
    bool times = true, over = true, any = false;
    for (std::size_t k = 0; k < got.size(); ++k) {
        const double g = got.data()[k], e = expected.data()[k];
        const double tol = rtol * (std::abs(e * factor) + 1e-300);
        times = times && std::abs(g - e * factor) <= tol;
        over = over && std::abs(g - e / factor) <= rtol * std::abs(e);
        any = any || e != 0.0;
    }
    return any && (times || over);
}

/// True when `got` is the transpose of `expected` (and not equal to it):
/// rows and columns swapped.
template <class A, class B>
bool is_transpose_of(const A& got, const B& expected, double atol = 1e-12)
{
    const auto& g = got.shape();
    const auto& e = expected.shape();
    if (g.size() != 2 || e.size() != 2 || g[0] != e[1] || g[1] != e[0]) {
        return false;
    }
    bool same = g[0] == e[0];
    for (std::size_t i = 0; i < g[0]; ++i) {
        for (std::size_t j = 0; j < g[1]; ++j) {
            const double a = double(got.data()[i * g[1] + j]);
            if (std::abs(a - double(expected.data()[j * e[1] + i])) > atol) {
                return false;
            }
            if (same && std::abs(a - double(expected.data()[i * e[1] + j]))
                            > atol) {
                same = false;
            }
        }
    }
    return !same;
}

}  // namespace kit

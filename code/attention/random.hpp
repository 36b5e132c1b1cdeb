// The book's one source of random numbers. Every program and test draws
// from attn::rng, so that a seed gives the same numbers on every machine:
// the engine std::mt19937_64 is specified bit for bit by the C++ standard,
// but the distributions of <random> (std::normal_distribution and the
// others, which xt::random uses too) are not, and differ between standard
// libraries. So the uniform and normal numbers are drawn here by hand.
//
// Glossary:
//   u   a uniform number in [0, 1)
//   z   a standard normal number (mean 0, variance 1)
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>

#include <xtensor/xbuilder.hpp>

#include "attention/core.hpp"

/// \file
/// \brief The one source of random numbers, the same on every machine
///        (\ref ch00_introduction).

namespace attn {

/// \brief A seeded generator of uniform and normal numbers.
struct rng {
    std::mt19937_64 engine;  ///< 64 random bits per call

    /// \brief A generator for a seed.
    /// \param seed any number; the same seed gives the same numbers
    explicit rng(std::uint64_t seed) : engine(seed) {}

    /// \brief A uniform number: the top 53 bits of the engine as a double.
    /// \return `u` in `[0, 1)`
    double uniform() { return double(engine() >> 11) * 0x1.0p-53; }

    /// \brief A whole number below `n`.
    /// \param n the bound, at least 1
    /// \return one of `0 .. n - 1`
    std::size_t below(std::size_t n) { return std::size_t(engine() % n); }

    /// \brief A standard normal number, by the Box-Muller transform.
    /// \return `z`
    double normal()
    {
        const double two_pi = 6.283185307179586;
        const double u = 1.0 - uniform(), v = uniform();  // u in (0, 1]
        return std::sqrt(-2.0 * std::log(u)) * std::cos(two_pi * v);
    }
};

/// \brief A `(rows, cols)` matrix of normal numbers with standard
///        deviation `scale`, drawn row by row.
/// \param rows  number of rows
/// \param cols  number of columns
/// \param r     the generator, advanced by `rows * cols` draws
/// \param scale the standard deviation
/// \return the matrix `(rows, cols)`
inline matrix normal_matrix(std::size_t rows, std::size_t cols, rng& r,
                            double scale = 1.0)
{
    matrix m = xt::empty<double>({rows, cols});
    for (double& x : m) {
        x = scale * r.normal();
    }
    return m;
}

/// \brief A `(rows, cols)` matrix of uniform numbers in `[low, high)`.
/// \param rows number of rows
/// \param cols number of columns
/// \param r    the generator, advanced by `rows * cols` draws
/// \param low  the smallest value
/// \param high the bound above
/// \return the matrix `(rows, cols)`
inline matrix uniform_matrix(std::size_t rows, std::size_t cols, rng& r,
                             double low = 0.0, double high = 1.0)
{
    matrix m = xt::empty<double>({rows, cols});
    for (double& x : m) {
        x = low + (high - low) * r.uniform();
    }
    return m;
}

}  // namespace attn

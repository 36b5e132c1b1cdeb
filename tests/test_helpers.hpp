// Shared test helpers: a matcher that compares tensors only after checking
// that their shapes agree (xt::allclose broadcasts, and would call a (3, 1)
// tensor equal to a (3, 4) one), and seeded random inputs.
#pragma once

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xio.hpp>
#include <xtensor/xrandom.hpp>

#include "attention/core.hpp"

namespace book_test {

/// Matches a tensor whose shape equals the expected one and whose entries
/// satisfy |actual - expected| <= atol + rtol * |expected| everywhere.
class TensorClose : public Catch::MatcherBase<xt::xarray<double>> {
public:
    TensorClose(xt::xarray<double> expected, double rtol, double atol)
        : expected_(std::move(expected)), rtol_(rtol), atol_(atol)
    {
    }

    bool match(const xt::xarray<double>& actual) const override
    {
        if (actual.shape() != expected_.shape()) {
            why_ = "shape " + attn::shape_string(actual.shape())
                   + " differs from expected "
                   + attn::shape_string(expected_.shape());
            return false;
        }
        for (std::size_t i = 0; i < actual.size(); ++i) {
            const double a = actual.data()[i], e = expected_.data()[i];
            const bool both_nan = std::isnan(a) && std::isnan(e);
            const bool same_inf = std::isinf(a) && a == e;
            if (!(both_nan || same_inf
                  || std::abs(a - e) <= atol_ + rtol_ * std::abs(e))) {
                std::ostringstream out;
                out << "first difference at index "
                    << attn::shape_string(
                           xt::unravel_index(i, actual.shape()))
                    << ": " << a << " vs expected " << e;
                why_ = out.str();
                return false;
            }
        }
        return true;
    }

    std::string describe() const override
    {
        std::ostringstream out;
        out << "is close to (rtol " << rtol_ << ", atol " << atol_ << ")\n"
            << expected_ << "\n" << why_;
        return out.str();
    }

private:
    xt::xarray<double> expected_;
    double rtol_, atol_;
    mutable std::string why_;
};

/// `REQUIRE_THAT(actual, IsCloseTo(expected))`: shapes first, then values.
template <class E>
TensorClose IsCloseTo(const E& expected, double rtol = 1e-12,
                      double atol = 1e-12)
{
    return TensorClose(xt::xarray<double>(expected), rtol, atol);
}

/// A `(rows, cols)` matrix of standard normal numbers for `seed`.
inline attn::matrix random_matrix(std::size_t rows, std::size_t cols,
                                  std::uint64_t seed, double scale = 1.0)
{
    xt::random::seed(seed);
    return scale * xt::random::randn<double>({rows, cols});
}

}  // namespace book_test

// Shared test helpers: a matcher that compares tensors only after checking
// that their shapes agree (xt::allclose broadcasts, and would call a (3, 1)
// tensor equal to a (3, 4) one), and seeded random inputs.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

#include <catch2/catch.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xio.hpp>
#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/multi_head.hpp"
#include "attention/random.hpp"

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

/// Infinity, for masked scores and refused values.
inline const double inf = std::numeric_limits<double>::infinity();

/// A `(rows, cols)` matrix of standard normal numbers for `seed`.
inline attn::matrix random_matrix(std::size_t rows, std::size_t cols,
                                  std::uint64_t seed, double scale = 1.0)
{
    attn::rng r(seed);
    return attn::normal_matrix(rows, cols, r, scale);
}

/// A `(n,)` vector of standard normal numbers for `seed`.
inline attn::vector random_vector(std::size_t n, std::uint64_t seed,
                                  double scale = 1.0)
{
    return xt::view(random_matrix(1, n, seed, scale), 0, xt::all());
}

/// Random queries, keys and values of one attention: Q `(n_q, d_k)` drawn
/// with `seed`, K `(n_k, d_k)` with `seed + step` and V `(n_k, d_v)` with
/// `seed + 2 step`.
struct qkv {
    attn::matrix q, k, v;
};

inline qkv random_qkv(std::size_t n_q, std::size_t n_k, std::size_t d_k,
                      std::size_t d_v, std::uint64_t seed, std::uint64_t step)
{
    return {random_matrix(n_q, d_k, seed),
            random_matrix(n_k, d_k, seed + step),
            random_matrix(n_k, d_v, seed + 2 * step)};
}

/// Random inputs of one self-attention head: X `(n, d_model)` drawn with
/// `seed` and standard deviation `x_scale`, W_q and W_k `(d_model, d_k)`
/// with seed + 10 and seed + 20, W_v `(d_model, d_v)` with seed + 30.
struct head_inputs {
    attn::matrix x, w_q, w_k, w_v;
};

inline head_inputs random_head_inputs(std::size_t n, std::size_t d_model,
                                      std::size_t d_k, std::size_t d_v,
                                      std::uint64_t seed, double x_scale = 1.0)
{
    return {random_matrix(n, d_model, seed, x_scale),
            random_matrix(d_model, d_k, seed + 10),
            random_matrix(d_model, d_k, seed + 20),
            random_matrix(d_model, d_v, seed + 30)};
}

/// Largest |a - b| over all entries, for "changed" / "unchanged" checks.
inline double max_abs_diff(const attn::matrix& a, const attn::matrix& b)
{
    return xt::amax(xt::abs(a - b))();
}

/// A `(n_q, n_k)` mask for `seed` whose entries are true (may attend) with
/// probability `p_allowed`, each on its own.
inline attn::mask_matrix random_mask(std::size_t n_q, std::size_t n_k,
                                        std::uint64_t seed, double p_allowed)
{
    attn::rng r(seed);
    return attn::uniform_matrix(n_q, n_k, r) < p_allowed;
}

/// Random weights of a multi-head layer of width `d_model`: W_q, W_k, W_v,
/// W_o drawn with seeds seed..seed+3 and standard deviation `scale`, b_o
/// with seed + 4 and standard deviation 1.
inline attn::multi_head_weights random_multi_head_weights(
    std::size_t d_model, std::uint64_t seed, double scale)
{
    attn::multi_head_weights w;
    w.w_q = random_matrix(d_model, d_model, seed, scale);
    w.w_k = random_matrix(d_model, d_model, seed + 1, scale);
    w.w_v = random_matrix(d_model, d_model, seed + 2, scale);
    w.w_o = random_matrix(d_model, d_model, seed + 3, scale);
    w.b_o = random_vector(d_model, seed + 4);
    return w;
}

// [ch05-central-differences]
// dL/dtheta by central differences, one entry at a time:
// (L(theta + eps e_i) - L(theta - eps e_i)) / 2 eps. Its truncation error
// is O(eps^2), its rounding error about 1e-16 L / eps.
template <class T>
T central_differences(T theta, const std::function<double(const T&)>& loss,
                      double eps = 1e-5)
{
    T grad = xt::zeros_like(theta);
    for (std::size_t i = 0; i < theta.size(); ++i) {
        const double keep = theta.data()[i];
        theta.data()[i] = keep + eps;
        const double up = loss(theta);
        theta.data()[i] = keep - eps;
        const double down = loss(theta);
        theta.data()[i] = keep;
        grad.data()[i] = (up - down) / (2.0 * eps);
    }
    return grad;
}
// [ch05-central-differences]

// Tolerances of a gradient against central differences with eps = 1e-5:
// the truncation error is about eps^2 |L'''| ~ 1e-10, the rounding error
// about 1e-16 L / eps ~ 1e-11.
inline constexpr double fd_rtol = 1e-6, fd_atol = 1e-8;

// Central differences of `loss` for the tensor that `pick` returns in a
// copy of `whole` (a model, or a layer case), all else held fixed.
template <class Whole, class Pick, class Loss>
auto fd_part(const Whole& whole, Pick pick, Loss loss)
{
    Whole varied = whole;
    using T = std::decay_t<decltype(pick(varied))>;
    return central_differences<T>(pick(varied), [&](const T& t) {
        pick(varied) = t;
        return loss(varied);
    });
}

// Every gradient of a decoder model of chapter 7 or 8 (W_E, W_P, W_U and
// each layer's W_q, W_k, W_v, W_o, b_o) against central differences of
// `loss`, a function of the model.
template <class Gradients, class Model, class Loss>
void require_decoder_gradients(const Gradients& g, const Model& m, Loss loss)
{
    REQUIRE_THAT(g.dL_dw_e, IsCloseTo(fd_part(m, [](Model& p) -> auto& {
        return p.w_e;
    }, loss), fd_rtol, fd_atol));
    REQUIRE_THAT(g.dL_dw_p, IsCloseTo(fd_part(m, [](Model& p) -> auto& {
        return p.w_p;
    }, loss), fd_rtol, fd_atol));
    REQUIRE_THAT(g.dL_dw_u, IsCloseTo(fd_part(m, [](Model& p) -> auto& {
        return p.w_u;
    }, loss), fd_rtol, fd_atol));
    using weights = attn::multi_head_weights;
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        CAPTURE(l);
        for (auto which : {&weights::w_q, &weights::w_k, &weights::w_v,
                           &weights::w_o}) {
            const auto pick = [l, which](Model& p) -> attn::matrix& {
                return p.layers[l].*which;
            };
            REQUIRE_THAT(g.layers[l].dL_dw.*which,
                         IsCloseTo(fd_part(m, pick, loss), fd_rtol,
                                   fd_atol));
        }
        const auto b_o = [l](Model& p) -> attn::vector& {
            return p.layers[l].b_o;
        };
        REQUIRE_THAT(g.layers[l].dL_dw.b_o,
                     IsCloseTo(fd_part(m, b_o, loss), fd_rtol, fd_atol));
    }
}

}  // namespace book_test

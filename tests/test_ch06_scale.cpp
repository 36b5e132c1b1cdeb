// Tests of chapter 6: the cost model (Eq. 6.1), the online softmax's
// running maximum (Eq. 6.2) and rescaling (Eq. 6.3), tiled attention and
// the three other ways (Eq. 6.4), the vector exponential and fast
// attention (Eq. 6.5), the backward pass from the log-sum-exp (Eqs. 6.6
// and 6.7), the bytes moved (Eqs. 6.8 and 6.9), and decoding with a
// key-value cache (Eq. 6.10).
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "attention/fast_tiled.hpp"
#include "attention/scale.hpp"
#include "test_helpers.hpp"

using attn::mask_matrix;
using attn::matrix;
using book_test::inf;
using book_test::IsCloseTo;
using book_test::random_matrix;
using book_test::random_qkv;

namespace {

// Largest |a - b| over the largest |b|: the relative error of the issue.
double relative_error(const matrix& a, const matrix& b)
{
    REQUIRE(a.shape() == b.shape());
    const double scale = std::max(xt::amax(xt::abs(b))(), 1e-300);
    return book_test::max_abs_diff(a, b) / scale;
}

// Folds the columns [from, to) of s and the rows [from, to) of v.
void fold(attn::online_softmax_state& state, const matrix& s, const matrix& v,
          std::size_t from, std::size_t to)
{
    const matrix s_b = xt::view(s, xt::all(), xt::range(from, to));
    const matrix v_b = xt::view(v, xt::range(from, to), xt::all());
    attn::online_softmax_update(state, s_b, v_b);
}

}  // namespace

TEST_CASE("Eq. 6.1: cost model, hand-worked", "[ch06][eq_attention_cost]")
{
    // n_q = 2, n_k = 3, d_k = 4, d_v = 5: Q K^T is 2 * 3 dot products of
    // length 4 (24 multiply-adds), A V is 2 * 5 sums of 3 products (30):
    // 54 in all; 2 * 3 = 6 exponentials; S and A hold 6 doubles each,
    // 2 * 6 * 8 = 96 bytes.
    const auto c = attn::attention_cost_model(2, 3, 4, 5);
    REQUIRE(c.multiply_adds == 54.0);
    REQUIRE(c.exponentials == 6.0);
    REQUIRE(c.stored_bytes == 96.0);
    // n = 32768, d = 64: one n x n matrix of doubles is 8 GiB, S and A 16.
    const auto big = attn::attention_cost_model(32768, 32768, 64, 64);
    REQUIRE(big.stored_bytes == 16.0 * 1024 * 1024 * 1024);
    // Tiled: one (128, 256) block of scores and two (128,) vectors.
    REQUIRE(attn::attention_tiled_extra_bytes(128, 256)
            == 8.0 * (128 * 256 + 2 * 128));
}

TEST_CASE("Eq. 6.2: the running maximum, hand-worked",
          "[ch06][eq_online_max]")
{
    // One row of scores (1, 3 | 5, 2) in two blocks: the maximum is 3 after
    // the first block and 5 after the second; before any block it is -inf.
    const matrix s = {{1.0, 3.0, 5.0, 2.0}};
    const matrix v = {{10.0}, {20.0}, {30.0}, {40.0}};
    auto state = attn::online_softmax_start(1, 1);
    REQUIRE(state.m(0) == -inf);
    fold(state, s, v, 0, 2);
    REQUIRE(state.m(0) == 3.0);
    fold(state, s, v, 2, 4);
    REQUIRE(state.m(0) == 5.0);
}

TEST_CASE("Eq. 6.2: the running maximum is the row maximum for any blocks",
          "[ch06][eq_online_max]")
{
    for (std::uint64_t seed : {1u, 2u, 3u, 4u}) {
        CAPTURE(seed);
        const matrix s = random_matrix(5, 23, seed, 10.0);
        const matrix v = random_matrix(23, 3, seed + 100);
        for (std::size_t b : {1u, 4u, 7u, 23u}) {
            auto state = attn::online_softmax_start(5, 3);
            for (std::size_t j = 0; j < 23; j += b) {
                fold(state, s, v, j, std::min<std::size_t>(j + b, 23));
            }
            const attn::vector row_max = xt::amax(s, {1});
            REQUIRE_THAT(state.m, IsCloseTo(row_max, 0.0, 0.0));
        }
    }
}

TEST_CASE("Eq. 6.3: the rescaling step, hand-worked",
          "[ch06][eq_online_rescale]")
{
    // Block 1, scores (1, 3), m = 3:  l = e^-2 + 1,
    //   o = 10 e^-2 + 20.
    // Block 2, scores (5, 2), m = 5: rho = e^(3 - 5) = e^-2, so
    //   l = (e^-2 + 1) e^-2 + 1 + e^-3,
    //   o = (10 e^-2 + 20) e^-2 + 30 + 40 e^-3.
    const matrix s = {{1.0, 3.0, 5.0, 2.0}};
    const matrix v = {{10.0}, {20.0}, {30.0}, {40.0}};
    const double e2 = std::exp(-2.0), e3 = std::exp(-3.0);
    auto state = attn::online_softmax_start(1, 1);
    fold(state, s, v, 0, 2);
    REQUIRE(state.l(0) == Approx(e2 + 1.0).epsilon(1e-15));
    REQUIRE(state.o(0, 0) == Approx(10.0 * e2 + 20.0).epsilon(1e-15));
    fold(state, s, v, 2, 4);
    REQUIRE(state.l(0) == Approx((e2 + 1.0) * e2 + 1.0 + e3).epsilon(1e-15));
    REQUIRE(state.o(0, 0)
            == Approx((10.0 * e2 + 20.0) * e2 + 30.0 + 40.0 * e3)
                   .epsilon(1e-15));
}

TEST_CASE("Eq. 6.3: l and o equal their closed form for any split",
          "[ch06][eq_online_rescale]")
{
    // After all blocks, l_i = sum_j exp(s_ij - m_i) and
    // o_i = sum_j exp(s_ij - m_i) v_j, whatever the blocks were: the
    // rescaling exactly undoes the earlier, smaller maxima.
    for (std::uint64_t seed : {5u, 6u, 7u}) {
        CAPTURE(seed);
        // Scale 300: scores in the hundreds, where exp alone overflows.
        const matrix s = random_matrix(4, 17, seed, seed == 7 ? 300.0 : 3.0);
        const matrix v = random_matrix(17, 2, seed + 50);
        const matrix m = xt::amax(s, {1}, xt::keep_dims);      // (4, 1)
        const matrix e = xt::exp(s - m);                        // (4, 17)
        const attn::vector l_closed = xt::sum(e, {1});
        const matrix o_closed = xt::linalg::dot(e, v);
        for (std::size_t b : {1u, 3u, 5u, 17u}) {
            auto state = attn::online_softmax_start(4, 2);
            for (std::size_t j = 0; j < 17; j += b) {
                fold(state, s, v, j, std::min<std::size_t>(j + b, 17));
            }
            REQUIRE_THAT(state.l, IsCloseTo(l_closed, 1e-13, 0.0));
            REQUIRE_THAT(state.o, IsCloseTo(o_closed, 1e-13, 1e-13));
        }
        // Folding the blocks in reverse order gives the same state.
        auto reversed = attn::online_softmax_start(4, 2);
        for (std::size_t j = 17; j > 0; j -= std::min<std::size_t>(j, 4)) {
            fold(reversed, s, v, j - std::min<std::size_t>(j, 4), j);
        }
        REQUIRE_THAT(reversed.o, IsCloseTo(o_closed, 1e-13, 1e-13));
    }
}

TEST_CASE("Eq. 6.3: masked blocks add nothing, a jump of 2000 overflows "
          "nothing",
          "[ch06][eq_online_rescale]")
{
    // Row 0: a fully masked first block leaves m = -inf, l = 0, o = 0;
    // then scores (0, ln 3), m = ln 3: l = e^-ln 3 + 1 = 4/3,
    // o = 4/3 + 8 = 28/3 (values 4, 8), y = o / l = 7.
    // Row 1: scores (-1000, -1000) give m = -1000, l = 2; then (1000, -inf)
    // rescale the old sum by e^-2000 = 0: l = 1, o = 4, y = 4.
    const matrix s = {{-inf, -inf, 0.0, std::log(3.0)},
                      {-1000.0, -1000.0, 1000.0, -inf}};
    const matrix v = {{100.0}, {200.0}, {4.0}, {8.0}};
    auto state = attn::online_softmax_start(2, 1);
    fold(state, s, v, 0, 2);
    REQUIRE(state.m(0) == -inf);
    REQUIRE(state.l(0) == 0.0);
    REQUIRE(state.o(0, 0) == 0.0);
    fold(state, s, v, 2, 4);
    REQUIRE(state.l(0) == Approx(4.0 / 3.0).epsilon(1e-15));
    REQUIRE(state.o(0, 0) == Approx(28.0 / 3.0).epsilon(1e-15));
    const matrix y = attn::online_softmax_finish(state);
    REQUIRE(y(0, 0) == Approx(7.0).epsilon(1e-15));
    REQUIRE(y(1, 0) == 4.0);
    REQUIRE(std::isfinite(state.l(1)));
}

TEST_CASE("Eq. 6.4: tiled attention, hand-worked", "[ch06][eq_tiled_output]")
{
    // d_k = 1, q = ln 3, keys 0 and 1: scores 0 and ln 3 (sqrt(1) = 1),
    // weights 1/4 and 3/4, values 4 and 8: y = 1 + 6 = 7. A second query
    // whose keys are all masked gets 0.
    const matrix q = {{std::log(3.0)}, {1.0}};
    const matrix k = {{0.0}, {1.0}};
    const matrix v = {{4.0}, {8.0}};
    const mask_matrix mask = {{true, true}, {false, false}};
    const matrix expected = {{7.0}, {0.0}};
    for (std::size_t block_k : {1u, 2u, 5u}) {
        REQUIRE_THAT(attn::attention_tiled(q, k, v, mask, 1, block_k),
                     IsCloseTo(expected, 1e-15, 1e-15));
    }
    REQUIRE_THAT(attn::attention_loops(q, k, v, mask),
                 IsCloseTo(expected, 1e-15, 1e-15));
}

TEST_CASE("Eq. 6.4: the four ways agree to 1e-12, with and without masks",
          "[ch06][eq_tiled_output]")
{
    // (n_q, n_k, d_k, d_v): square, n_q < n_k, n_q > n_k, one query, one
    // key, and sizes that the default blocks (128, 256) do not divide.
    const std::vector<std::array<std::size_t, 4>> shapes = {
        {6, 6, 4, 4}, {3, 40, 8, 5}, {50, 7, 3, 6},
        {1, 33, 5, 2}, {9, 1, 4, 3}, {130, 300, 16, 8}};
    std::uint64_t seed = 1;
    for (const auto& n : shapes) {
        CAPTURE(seed);
        const auto [q, k, v] = random_qkv(n[0], n[1], n[2], n[3], seed, 1);
        mask_matrix mask = book_test::random_mask(n[0], n[1], seed + 3, 0.6);
        xt::row(mask, 0) = false;  // one query with no key at all
        for (const mask_matrix& m : {mask_matrix(), mask}) {
            const matrix ref = attn::attention_loops(q, k, v, m);
            REQUIRE(relative_error(attn::attention_xtensor(q, k, v, m), ref)
                    <= 1e-12);
            REQUIRE(relative_error(attn::attention_blas(q, k, v, m), ref)
                    <= 1e-12);
            REQUIRE(relative_error(attn::attention_tiled(q, k, v, m), ref)
                    <= 1e-12);
            for (auto [bq, bk] : {std::pair<std::size_t, std::size_t>{1, 1},
                                  {4, 3}, {1000, 1000}}) {
                REQUIRE(relative_error(
                            attn::attention_tiled(q, k, v, m, bq, bk), ref)
                        <= 1e-12);
            }
            if (m.size() != 0) {
                // The query with no key gets exactly zero in every way.
                for (const matrix& y :
                     {ref, attn::attention_xtensor(q, k, v, m),
                      attn::attention_blas(q, k, v, m),
                      attn::attention_tiled(q, k, v, m, 4, 3)}) {
                    REQUIRE(xt::all(xt::equal(xt::row(y, 0), 0.0)));
                }
            }
        }
        seed += 10;
    }
}

TEST_CASE("Eq. 6.4: the loops agree with attn::attend",
          "[ch06][eq_tiled_output]")
{
    // The reference of this chapter is itself checked against chapter 0.
    const auto [q, k, v] = random_qkv(5, 8, 4, 3, 91, 1);
    REQUIRE_THAT(attn::attention_loops(q, k, v),
                 IsCloseTo(attn::attend(q, k, v).y, 1e-13, 1e-14));
}

TEST_CASE("Errors: the four ways refuse inconsistent shapes",
          "[ch06][errors]")
{
    const matrix q = random_matrix(3, 4, 1);
    const matrix k = random_matrix(5, 4, 2);
    const matrix v = random_matrix(5, 2, 3);
    const matrix k_bad = random_matrix(5, 3, 4);
    const matrix v_bad = random_matrix(6, 2, 5);
    const mask_matrix mask_bad = xt::ones<bool>({5, 3});
    for (auto way : {attn::attention_loops, attn::attention_xtensor,
                     attn::attention_blas}) {
        REQUIRE_THROWS_WITH(way(q, k_bad, v, mask_matrix()),
                            Catch::Contains("k must have shape"));
        REQUIRE_THROWS_WITH(way(q, k, v_bad, mask_matrix()),
                            Catch::Contains("v must have shape"));
        REQUIRE_THROWS_WITH(way(q, k, v, mask_bad),
                            Catch::Contains("mask must have shape "
                                            "(n_q, n_k) = (3, 5)"));
    }
    REQUIRE_THROWS_WITH(attn::attention_tiled(q, k, v, mask_bad),
                        Catch::Contains("attention_tiled: mask"));
    REQUIRE_THROWS_WITH(attn::attention_tiled(q, k, v, mask_matrix(), 0, 4),
                        Catch::Contains("block sizes must be at least 1"));
    REQUIRE_THROWS_AS(attn::attention_tiled(matrix(xt::zeros<double>({0, 4})),
                                            k, v),
                      std::invalid_argument);
}

// The largest |y - std::exp(x)| / std::exp(x) over x, in units of the last
// place, for attn::vector_exp_minus_sum with m = 0 on one path (AVX2 or not).
namespace {

double worst_ulps(const std::vector<double>& x, bool vector_unit)
{
    std::vector<double> y(x.size());
    attn::vector_exp_minus_sum(x.size(), x.data(), 0.0, y.data(),
                               vector_unit);
    double worst = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double e = std::exp(x[i]);
        worst = std::max(worst, std::abs(y[i] - e) / e);
    }
    return worst / std::ldexp(1.0, -52);
}

}  // namespace

TEST_CASE("Eq. 6.5: the vector exponential, hand-worked",
          "[ch06][eq_vector_exp]")
{
    for (bool vector_unit : {true, false}) {
        CAPTURE(vector_unit);
        // x - m for x = (2, 2 - ln 2, 2 - 708.5, -inf, 2 - 30), m = 2:
        // e^0 = 1 exactly (kappa = 0, phi = 0: every term but 1 is 0);
        // e^(-ln 2) = 1/2 up to rounding; below -708 and at -inf the
        // result is 0 by definition; e^-30 = 9.357623e-14 (by hand,
        // e^-30 = 1 / (e^10)^3 = 1 / 22026.4658^3). Five values: one
        // full group of four lanes and one lane of a second.
        const std::vector<double> x = {2.0, 2.0 - std::log(2.0), 2.0 - 708.5,
                                       -inf, 2.0 - 30.0};
        std::vector<double> y(5);
        const double sum =
            attn::vector_exp_minus_sum(5, x.data(), 2.0, y.data(),
                                       vector_unit);
        REQUIRE(y[0] == 1.0);
        REQUIRE(y[1] == Approx(0.5).epsilon(1e-15));
        REQUIRE(y[2] == 0.0);
        REQUIRE(y[3] == 0.0);
        REQUIRE(y[4] == Approx(9.357623e-14).epsilon(1e-6));
        REQUIRE(sum == y[0] + y[1] + y[4]);  // the zeros add nothing
    }
}

TEST_CASE("Eq. 6.5: within 4 units in the last place of std::exp from "
          "-708 to 0",
          "[ch06][eq_vector_exp]")
{
    // 2^16 + 1 evenly spaced points, the ends, and the neighbourhoods of
    // the places where kappa changes (x = (j + 1/2) ln 2), where |phi|
    // is largest.
    std::vector<double> x;
    const std::size_t n = 1 << 16;
    for (std::size_t i = 0; i <= n; ++i) {
        x.push_back(-708.0 * double(i) / double(n));
    }
    for (int j = 0; j < 1021; ++j) {
        const double edge = -(j + 0.5) * std::log(2.0);
        for (double dx : {-1e-12, 0.0, 1e-12}) {
            if (edge + dx >= -708.0) {
                x.push_back(edge + dx);
            }
        }
    }
    for (bool vector_unit : {true, false}) {
        CAPTURE(vector_unit);
        REQUIRE(worst_ulps(x, vector_unit) <= 4.0);
    }
}

TEST_CASE("Eq. 6.5: the check fails for an exponential with a term "
          "missing",
          "[ch06][eq_vector_exp]")
{
    // Eq. 6.5 in plain loops with a Taylor polynomial of a given degree,
    // the same range reduction as the library (ln 2 in two parts). With
    // degree 12 it passes the 4-unit check above; with degree 11 the term
    // phi^12 / 12! it leaves out is up to 0.347^12 / 12! = 6.3e-15, about
    // 28 units in the last place, and the same check must reject it.
    const auto taylor = [](double x, int degree) {
        const double kappa = std::nearbyint(x / std::log(2.0));
        const double phi = (x - kappa * 6.93147180369123816490e-01)
                           - kappa * 1.90821492927058770002e-10;
        double p = 0.0, term = 1.0;
        for (int u = 0; u <= degree; ++u) {
            p += term;
            term *= phi / double(u + 1);
        }
        return std::ldexp(p, int(kappa));
    };
    const auto worst = [&](int degree) {
        double w = 0.0;
        for (int i = 0; i <= 4096; ++i) {
            const double x = -708.0 * double(i) / 4096.0;
            w = std::max(w, std::abs(taylor(x, degree) - std::exp(x))
                                / std::exp(x));
        }
        return w / std::ldexp(1.0, -52);
    };
    REQUIRE(worst(12) <= 4.0);
    REQUIRE(worst(11) > 4.0);
}

TEST_CASE("Eq. 6.5: fast attention agrees with the loops for every lever",
          "[ch06][eq_vector_exp]")
{
    // The vector exponential inside the tiled kernel (and every other
    // switch of fast_options) changes the result only at the level of
    // rounding: shapes that the tiles do not divide, a mask with a query
    // that sees no key (whose output must be exactly zero), one to three
    // threads (more threads than queries included).
    const std::vector<std::array<std::size_t, 4>> shapes = {
        {7, 11, 5, 3}, {130, 300, 16, 8}, {2, 9, 4, 4}};
    std::uint64_t seed = 5;
    for (const auto& n : shapes) {
        const auto [q, k, v] = random_qkv(n[0], n[1], n[2], n[3], seed, 1);
        mask_matrix mask = book_test::random_mask(n[0], n[1], seed + 1, 0.6);
        xt::row(mask, 0) = false;
        for (const mask_matrix& m : {mask_matrix(), mask}) {
            const matrix ref = attn::attention_loops(q, k, v, m);
            for (bool vexp : {false, true}) {
                for (bool in_product : {false, true}) {
                    for (std::size_t threads : {1u, 2u, 3u}) {
                        for (auto [bq, bk] :
                             {std::pair<std::size_t, std::size_t>{1, 1},
                              {4, 3}, {256, 256}}) {
                            attn::fast_options opt;
                            opt.vector_exp = vexp;
                            opt.scale_in_product = in_product;
                            opt.threads = threads;
                            opt.block_q = bq;
                            opt.block_k = bk;
                            const matrix y =
                                attn::attention_fast(q, k, v, m, opt);
                            REQUIRE(relative_error(y, ref) <= 1e-12);
                            if (m.size() != 0) {
                                REQUIRE(xt::all(
                                    xt::equal(xt::row(y, 0), 0.0)));
                            }
                        }
                    }
                }
            }
        }
        seed += 7;
    }
}

TEST_CASE("Tiles from the cache: the largest square power of two that "
          "fits, hand-worked",
          "[ch06]")
{
    // A tile of b x b doubles takes 8 b^2 bytes: 256 x 256 is 512 KiB,
    // 512 x 512 is 2 MiB.
    using tiles = std::pair<std::size_t, std::size_t>;
    REQUIRE(attn::tile_sizes_for_cache(512.0 * 1024) == tiles{256, 256});
    REQUIRE(attn::tile_sizes_for_cache(512.0 * 1024 - 1) == tiles{128, 128});
    REQUIRE(attn::tile_sizes_for_cache(2.0 * 1024 * 1024) == tiles{512, 512});
    REQUIRE(attn::tile_sizes_for_cache(1024.0) == tiles{16, 16});  // floor
    REQUIRE(attn::tile_sizes_for_cache(1e12) == tiles{1024, 1024});  // cap
}

TEST_CASE("Errors: fast attention refuses tiles or threads of 0",
          "[ch06][errors]")
{
    const auto [q, k, v] = random_qkv(3, 4, 2, 2, 1, 1);
    for (int which = 0; which < 3; ++which) {
        attn::fast_options opt;
        (which == 0 ? opt.block_q : which == 1 ? opt.block_k : opt.threads) =
            0;
        REQUIRE_THROWS_WITH(attn::attention_fast(q, k, v, {}, opt),
                            Catch::Contains("must be at least 1"));
    }
    // k = q has 3 rows, v has 4: v does not fit the keys.
    REQUIRE_THROWS_WITH(attn::attention_fast(q, q, v),
                        Catch::Contains("attention_fast")
                            && Catch::Contains("(n_k, d_v)"));
}

TEST_CASE("Eq. 6.10: decoding step cost, hand-worked",
          "[ch06][eq_kv_cache_cost]")
{
    // t = 10, d_model = 8, d_k = 4. With the cache: project one token,
    // 3 * 8 * 4 = 96, and one query over 10 keys, 2 * 10 * 4 = 80: 176.
    // Without: project 10 tokens, 3 * 10 * 8 * 4 = 960, and 10 queries over
    // 10 keys, 2 * 100 * 4 = 800: 1760.
    REQUIRE(attn::decode_step_cost(10, 8, 4, true) == 176.0);
    REQUIRE(attn::decode_step_cost(10, 8, 4, false) == 1760.0);
}

TEST_CASE("Eq. 6.10: decoding with the cache gives causal attention's rows",
          "[ch06][eq_kv_cache_cost]")
{
    for (std::uint64_t seed : {11u, 12u}) {
        CAPTURE(seed);
        const std::size_t t_max = 20, d_model = 6, d_k = 4, d_v = 3;
        const matrix x = random_matrix(t_max, d_model, seed);
        const matrix w_q = random_matrix(d_model, d_k, seed + 1);
        const matrix w_k = random_matrix(d_model, d_k, seed + 2);
        const matrix w_v = random_matrix(d_model, d_v, seed + 3);
        // The whole sequence at once, causal mask by literal loops.
        mask_matrix causal = xt::zeros<bool>({t_max, t_max});
        for (std::size_t i = 0; i < t_max; ++i) {
            for (std::size_t j = 0; j <= i; ++j) {
                causal(i, j) = true;
            }
        }
        const matrix y_all = attn::attention_loops(
            xt::linalg::dot(x, w_q), xt::linalg::dot(x, w_k),
            xt::linalg::dot(x, w_v), causal);                  // (t, d_v)
        attn::kv_cache cache;
        for (std::size_t t = 1; t <= t_max; ++t) {
            const matrix x_t = xt::view(x, xt::range(t - 1, t), xt::all());
            const matrix y_t = attn::decode_step_cached(cache, x_t, w_q, w_k,
                                                        w_v);
            const matrix expected = xt::view(y_all, xt::range(t - 1, t),
                                             xt::all());
            REQUIRE_THAT(y_t, IsCloseTo(expected, 1e-12, 1e-13));
            const matrix prefix = xt::view(x, xt::range(0, t), xt::all());
            REQUIRE_THAT(attn::decode_step_uncached(prefix, w_q, w_k, w_v),
                         IsCloseTo(expected, 1e-12, 1e-13));
        }
        REQUIRE(cache.length == t_max);
        REQUIRE(cache.k.size() == t_max * d_k);
    }
}

TEST_CASE("Errors: a decoding step refuses a token of the wrong width",
          "[ch06][errors]")
{
    attn::kv_cache cache;
    REQUIRE_THROWS_WITH(
        attn::decode_step_cached(cache, random_matrix(1, 5, 1),
                                 random_matrix(6, 4, 2),
                                 random_matrix(6, 4, 3),
                                 random_matrix(6, 3, 4)),
        Catch::Contains("x_t must have shape (1, d_model) = (1, 6)"));
}

// ------------------------------------------------------------------------
// Errors: the functions of scale.hpp not covered above.

TEST_CASE("Errors: the four ways refuse NaN and infinite inputs, naming "
          "the first bad entry", "[ch06][errors]")
{
    const matrix q = random_matrix(3, 4, 1);
    matrix k = random_matrix(5, 4, 2);
    const matrix v = random_matrix(5, 2, 3);
    k(2, 1) = std::numeric_limits<double>::infinity();
    REQUIRE_THROWS_WITH(attn::attention_tiled(q, k, v),
                        "attention_tiled: k must be finite, got inf at "
                        "index (2, 1)");
    REQUIRE_THROWS_WITH(attn::attention_loops(q, k, v),
                        Catch::Contains("attention_loops: k must be finite"));
}

TEST_CASE("Errors: the online softmax refuses blocks that do not fit its "
          "state, +inf or NaN scores and values that are not finite",
          "[ch06][errors]")
{
    auto state = attn::online_softmax_start(2, 3);           // n_q 2, d_v 3
    REQUIRE_THROWS_WITH(attn::online_softmax_update(
                            state, random_matrix(2, 4, 1),
                            random_matrix(5, 3, 2)),
                        "online_softmax_update: s_block must have shape "
                        "(n_q, b) = (2, 5), got (2, 4)");
    REQUIRE_THROWS_WITH(attn::online_softmax_update(
                            state, random_matrix(2, 4, 1),
                            random_matrix(4, 2, 2)),
                        "online_softmax_update: v_block must have shape "
                        "(b, d_v) = (4, 3), got (4, 2)");
    // Scores may be -inf (a masked key), not +inf or NaN; values must be
    // finite. The state is left as it was.
    matrix s_bad = random_matrix(2, 4, 1);
    s_bad(1, 3) = std::numeric_limits<double>::infinity();
    REQUIRE_THROWS_WITH(attn::online_softmax_update(
                            state, s_bad, random_matrix(4, 3, 2)),
                        "online_softmax_update: s_block: logits must be "
                        "finite or -inf, got inf at index (1, 3)");
    s_bad(1, 3) = std::numeric_limits<double>::quiet_NaN();
    REQUIRE_THROWS_WITH(attn::online_softmax_update(
                            state, s_bad, random_matrix(4, 3, 2)),
                        Catch::Contains("got nan at index (1, 3)"));
    matrix v_bad = random_matrix(4, 3, 2);
    v_bad(0, 2) = -std::numeric_limits<double>::infinity();
    REQUIRE_THROWS_WITH(attn::online_softmax_update(
                            state, random_matrix(2, 4, 1), v_bad),
                        "online_softmax_update: v_block must be finite, got "
                        "-inf at index (0, 2)");
    REQUIRE(xt::all(xt::equal(state.l, 0.0)));
    state.l = xt::zeros<double>({1});
    REQUIRE_THROWS_WITH(attn::online_softmax_finish(state),
                        "online_softmax_finish: state.l must have shape "
                        "(n_q,) of state.o = (2,), got (1,)");
}

TEST_CASE("Errors: the decoding steps refuse projections that do not fit "
          "and a damaged cache", "[ch06][errors]")
{
    const matrix w_q = random_matrix(6, 4, 2), w_v = random_matrix(6, 3, 4);
    REQUIRE_THROWS_WITH(attn::decode_step_uncached(random_matrix(3, 6, 1),
                                                   w_q,
                                                   random_matrix(6, 5, 3),
                                                   w_v),
                        "decode_step_uncached: w_k must have shape "
                        "(d_model, d_k) = (6, 4), got (6, 5)");
    REQUIRE_THROWS_WITH(attn::decode_step_uncached(random_matrix(3, 5, 1),
                                                   w_q, w_q, w_v),
                        "decode_step_uncached: x must have shape "
                        "(t, d_model) = (3, 6), got (3, 5)");
    attn::kv_cache cache;
    REQUIRE_THROWS_WITH(attn::decode_step_cached(cache,
                                                 random_matrix(1, 6, 1),
                                                 matrix(xt::zeros<double>(
                                                     {6, 0})),
                                                 w_q, w_v),
                        "decode_step_cached: w_q must not be empty, got "
                        "shape (6, 0)");
    attn::decode_step_cached(cache, random_matrix(1, 6, 1), w_q, w_q, w_v);
    cache.k.pop_back();
    REQUIRE_THROWS_WITH(attn::decode_step_cached(cache,
                                                 random_matrix(1, 6, 5),
                                                 w_q, w_q, w_v),
                        "decode_step_cached: the cache says 1 tokens of "
                        "widths 4 and 3 but holds 3 key and 3 value entries");
}

// ------------------------------------------------------------------------
// Edge cases of the tiled way: block size 1, a fully masked row, one
// token, d_k = 1, identical keys, huge logits.

TEST_CASE("Edge: tiled attention with blocks of 1 and a fully masked row "
          "equals the three other ways", "[ch06][edge]")
{
    for (std::uint64_t seed : {191u, 192u}) {
        CAPTURE(seed);
        const matrix q = random_matrix(4, 3, seed, 5.0);
        const matrix k = random_matrix(6, 3, seed + 1, 5.0);
        const matrix v = random_matrix(6, 2, seed + 2);
        mask_matrix mask = random_matrix(4, 6, seed + 3) > -0.3;
        xt::row(mask, 2) = false;                 // query 2 sees no key
        const matrix y = attn::attention_tiled(q, k, v, mask, 1, 1);
        REQUIRE_THAT(matrix(xt::view(y, xt::range(2, 3), xt::all())),
                     IsCloseTo(xt::zeros<double>({1, 2}), 0.0, 0.0));
        REQUIRE_THAT(y, IsCloseTo(attn::attention_loops(q, k, v, mask),
                                  1e-12, 1e-14));
        REQUIRE_THAT(attn::attention_xtensor(q, k, v, mask),
                     IsCloseTo(y, 1e-12, 1e-14));
        REQUIRE_THAT(attn::attention_blas(q, k, v, mask),
                     IsCloseTo(y, 1e-12, 1e-14));
        // Every key masked: all-zero outputs, with any block sizes.
        const mask_matrix none = xt::zeros<bool>({4, 6});
        REQUIRE_THAT(attn::attention_tiled(q, k, v, none, 3, 4),
                     IsCloseTo(xt::zeros<double>({4, 2}), 0.0, 0.0));
    }
}

TEST_CASE("Edge: tiled attention with one token, d_k = 1, identical keys "
          "and logits near the largest double", "[ch06][edge]")
{
    // One key: weight 1, the output is its value, for any block size.
    const matrix v1 = {{2.0, -3.0}};
    REQUIRE_THAT(attn::attention_tiled(matrix{{7.0}}, matrix{{-5.0}}, v1,
                                       mask_matrix(), 1, 1),
                 IsCloseTo(v1, 0.0, 0.0));
    // d_k = 1, identical keys: every score the same, the output is the
    // mean of the values (1 + 2 + 6) / 3 = 3.
    const matrix k = {{0.5}, {0.5}, {0.5}};
    const matrix v = {{1.0}, {2.0}, {6.0}};
    REQUIRE_THAT(attn::attention_tiled(matrix{{4.0}, {-9.0}}, k, v,
                                       mask_matrix(), 1, 2),
                 IsCloseTo(matrix{{3.0}, {3.0}}, 1e-15));
    // Scores of +-1e306 split over blocks of 1: the running maximum jumps
    // from -1e306 to +1e306, so the first block is rescaled by
    // exp(-2e306) = 0 and the output is the second value alone.
    const matrix q = {{1e153}};
    const matrix kb = {{-1e153}, {1e153}};
    const matrix vb = {{5.0}, {7.0}};
    REQUIRE_THAT(attn::attention_tiled(q, kb, vb, mask_matrix(), 1, 1),
                 IsCloseTo(matrix{{7.0}}, 0.0, 0.0));
    REQUIRE_THAT(attn::attention_loops(q, kb, vb), IsCloseTo(matrix{{7.0}},
                                                             0.0, 0.0));
}

// ------------------------------------------------------------------------
// The backward pass without the n x n matrix (Eqs. 6.6 and 6.7) and the
// IO model (Eqs. 6.8 and 6.9), in attention/flash_backward.hpp.

#include "attention/flash_backward.hpp"
#include "attention/multi_head_backward.hpp"

namespace {

// One attention and the gradient dL/dY of the loss L = sum(dY * Y) that
// the tests differentiate (dY is held fixed).
struct backward_case {
    matrix q, k, v, dy;
    mask_matrix mask;
};

backward_case random_backward_case(std::size_t n_q, std::size_t n_k,
                                   std::size_t d_k, std::size_t d_v,
                                   std::uint64_t seed, bool masked)
{
    const auto [q, k, v] = random_qkv(n_q, n_k, d_k, d_v, seed, 1);
    backward_case c{q, k, v, random_matrix(n_q, d_v, seed + 7), {}};
    if (masked) {
        c.mask = book_test::random_mask(n_q, n_k, seed + 3, 0.6);
        xt::row(c.mask, 0) = false;  // query 0 sees no key at all
    }
    return c;
}

attn::attention_gradients tiled_gradients(const backward_case& c,
                                          std::size_t bq, std::size_t bk)
{
    const auto f = attn::attention_tiled_with_lse(c.q, c.k, c.v, c.mask, bq,
                                                  bk);
    return attn::attention_backward_tiled(c.q, c.k, c.v, c.mask, f.y, f.lse,
                                          c.dy, bq, bk);
}

// The tiled backward's loop with a delta given from outside, so that a
// test can hand it a wrong one: detail::backward_block is the kernel's own
// step; only delta differs.
attn::attention_gradients gradients_with_delta(const backward_case& c,
                                               const std::vector<double>& d)
{
    const std::size_t n_q = c.q.shape()[0], n_k = c.k.shape()[0];
    const std::size_t d_k = c.q.shape()[1], d_v = c.v.shape()[1];
    const auto f = attn::attention_tiled_with_lse(c.q, c.k, c.v, c.mask);
    attn::attention_gradients g{xt::zeros<double>({n_q, d_k}),
                                xt::zeros<double>({n_k, d_k}),
                                xt::zeros<double>({n_k, d_v})};
    attn::detail::backward_problem b{
        n_q, n_k, d_k, d_v, c.q.data(), c.k.data(), c.v.data(),
        c.mask.size() ? c.mask.data() : nullptr, f.y.data(), c.dy.data(),
        f.lse.data(), d.data(), g.dL_dq.data(), g.dL_dk.data(),
        g.dL_dv.data()};
    std::vector<double> a(3 * 2), ds(3 * 2);  // blocks of 3 queries, 2 keys
    for (std::size_t j0 = 0; j0 < n_k; j0 += 2) {
        for (std::size_t i0 = 0; i0 < n_q; i0 += 3) {
            attn::detail::backward_block(b, i0, std::min<std::size_t>(3,
                                         n_q - i0), j0,
                                         std::min<std::size_t>(2, n_k - j0),
                                         a.data(), ds.data());
        }
    }
    return g;
}

// L = sum(dY * Y) with Y from the tiled forward pass.
double weighted_output(const backward_case& c)
{
    return xt::sum(c.dy * attn::attention_tiled(c.q, c.k, c.v, c.mask))();
}

// Whether gradients agree with central differences of L, entry by entry,
// within book_test::fd_rtol and fd_atol.
bool matches_central_differences(const backward_case& c,
                                 const attn::attention_gradients& g)
{
    using book_test::fd_part;
    const auto close = [](const matrix& a, const matrix& fd) {
        return a.shape() == fd.shape()
               && xt::all(xt::abs(a - fd)
                          <= book_test::fd_atol
                                 + book_test::fd_rtol * xt::abs(fd));
    };
    const matrix fd_q = fd_part(c, [](backward_case& x) -> matrix& {
        return x.q; }, weighted_output);
    const matrix fd_k = fd_part(c, [](backward_case& x) -> matrix& {
        return x.k; }, weighted_output);
    const matrix fd_v = fd_part(c, [](backward_case& x) -> matrix& {
        return x.v; }, weighted_output);
    return close(g.dL_dq, fd_q) && close(g.dL_dk, fd_k)
           && close(g.dL_dv, fd_v);
}

}  // namespace

TEST_CASE("Eq. 6.6: the log-sum-exp, hand-worked, gives back the weights",
          "[ch06][eq_lse_weights]")
{
    // d_k = 1, q = 1, keys 1, 3, 5, 2: the scores of the chapter's worked
    // row, (1, 3 | 5, 2). lse = log(e + e^3 + e^5 + e^2)
    //   = 5 + log(e^-4 + e^-2 + 1 + e^-3)
    //   = 5 + log(0.0183156 + 0.1353353 + 1 + 0.0497871)
    //   = 5 + log(1.2034380) = 5 + 0.1851825 = 5.1851825.
    // A second query whose keys are all masked: lse = -inf, y = 0.
    const matrix q = {{1.0}, {1.0}};
    const matrix k = {{1.0}, {3.0}, {5.0}, {2.0}};
    const matrix v = {{10.0}, {20.0}, {30.0}, {40.0}};
    const mask_matrix mask = {{true, true, true, true},
                              {false, false, false, false}};
    for (std::size_t bk : {1u, 2u, 3u, 9u}) {
        CAPTURE(bk);
        const auto f = attn::attention_tiled_with_lse(q, k, v, mask, 1, bk);
        REQUIRE(f.lse(0) == Approx(5.1851825).epsilon(1e-7));
        REQUIRE(f.lse(1) == -inf);
        REQUIRE(f.y(1, 0) == 0.0);
    }
    // exp(s - lse) is the softmax, for random scores and masks, block by
    // block (blocks of 3 x 4 at (3, 4)) and with a row that has no key.
    for (std::uint64_t seed : {11u, 12u, 13u}) {
        CAPTURE(seed);
        const auto [qr, kr, vr] = random_qkv(9, 11, 5, 2, seed, 1);
        mask_matrix m = book_test::random_mask(9, 11, seed + 5, 0.5);
        xt::row(m, 4) = false;
        const auto f = attn::attention_tiled_with_lse(qr, kr, vr, m, 2, 3);
        const matrix s = xt::linalg::dot(qr, xt::transpose(kr))
                         / std::sqrt(5.0) + attn::mask_bias(m);
        const matrix a = attn::softmax_rows_reference(s);     // (9, 11)
        matrix p = xt::zeros<double>({3, 4});
        attn::detail::scaled_scores(3, 4, 5, 1.0 / std::sqrt(5.0),
                                    qr.data() + 3 * 5, kr.data() + 4 * 5,
                                    p.data());
        attn::detail::recompute_weights(m.data(), 11, 3, 4, 3, 4,
                                        f.lse.data() + 3, p.data());
        REQUIRE_THAT(p, IsCloseTo(xt::view(a, xt::range(3, 6),
                                           xt::range(4, 8)), 1e-12, 1e-15));
        // The whole row 4 has lse = -inf and gets weights 0.
        REQUIRE(f.lse(4) == -inf);
    }
}

TEST_CASE("Eq. 6.7: the backward pass, hand-worked",
          "[ch06][eq_flash_backward]")
{
    // d_k = d_v = 1, q = ln 3, keys 0 and 1: scores (0, ln 3), weights
    // a = (1/4, 3/4). Values 1 and 5: y = 1/4 + 15/4 = 4. dY = 1:
    //   delta = dY y = 4,  dV = a^T dY = (1/4, 3/4),
    //   dA = dY V^T = (1, 5),
    //   dS = a * (dA - delta) = (1/4 (1 - 4), 3/4 (5 - 4)) = (-3/4, 3/4),
    //   dQ = dS K = -3/4 * 0 + 3/4 * 1 = 3/4,
    //   dK = dS^T q = (-3/4 ln 3, 3/4 ln 3).
    const backward_case c{{{std::log(3.0)}}, {{0.0}, {1.0}}, {{1.0}, {5.0}},
                          {{1.0}}, {}};
    for (std::size_t bk : {1u, 2u, 3u}) {
        CAPTURE(bk);
        const auto g = tiled_gradients(c, 1, bk);
        REQUIRE_THAT(g.dL_dv, IsCloseTo(matrix{{0.25}, {0.75}}, 1e-15));
        REQUIRE_THAT(g.dL_dq, IsCloseTo(matrix{{0.75}}, 1e-15));
        REQUIRE_THAT(g.dL_dk, IsCloseTo(matrix{{-0.75 * std::log(3.0)},
                                               {0.75 * std::log(3.0)}},
                                        1e-15));
    }
    // Its extra memory: two blocks of 2 x 3 and delta for 100 queries,
    // 8 (2 * 6 + 100) = 896 bytes.
    REQUIRE(attn::attention_backward_extra_bytes(100, 2, 3) == 896.0);
}

TEST_CASE("Eq. 6.7: the tiled backward agrees with the stored one to 1e-12",
          "[ch06][eq_flash_backward]")
{
    // (n_q, n_k, d_k, d_v): square, n_q < n_k, n_q > n_k, one query, one
    // key, sizes the default blocks do not divide.
    const std::vector<std::array<std::size_t, 4>> shapes = {
        {6, 6, 4, 4}, {3, 40, 8, 5}, {50, 7, 3, 6},
        {1, 33, 5, 2}, {9, 1, 4, 3}, {130, 300, 16, 8}};
    std::uint64_t seed = 300;
    for (const auto& n : shapes) {
        for (bool masked : {false, true}) {
            CAPTURE(seed, masked);
            const auto c = random_backward_case(n[0], n[1], n[2], n[3], seed,
                                                masked);
            const auto ref = attn::attention_backward_reference(
                c.q, c.k, c.v, c.mask, c.dy);
            for (auto [bq, bk] : {std::pair<std::size_t, std::size_t>{1, 1},
                                  {3, 5}, {7, 2}, {128, 256}, {1000, 1000}}) {
                CAPTURE(bq, bk);
                const auto g = tiled_gradients(c, bq, bk);
                REQUIRE(relative_error(g.dL_dv, ref.dL_dv) <= 1e-12);
                if (n[1] == 1) {
                    // One key has weight 1 whatever its score: dS = 0
                    // (Eq. 5.5), so dQ and dK vanish up to rounding.
                    REQUIRE(xt::amax(xt::abs(g.dL_dq))() <= 1e-14);
                    REQUIRE(xt::amax(xt::abs(g.dL_dk))() <= 1e-14);
                    continue;
                }
                REQUIRE(relative_error(g.dL_dq, ref.dL_dq) <= 1e-12);
                REQUIRE(relative_error(g.dL_dk, ref.dL_dk) <= 1e-12);
                if (masked) {  // query 0 sees no key: zero output, zero dQ
                    const auto f = attn::attention_tiled_with_lse(
                        c.q, c.k, c.v, c.mask, bq, bk);
                    REQUIRE(xt::all(xt::equal(xt::row(f.y, 0), 0.0)));
                    REQUIRE(xt::all(xt::equal(xt::row(g.dL_dq, 0), 0.0)));
                }
            }
            seed += 10;
        }
    }
}

TEST_CASE("Eq. 6.7: the tiled backward agrees with chapter 5's "
          "multi_head_attention_backward", "[ch06][eq_flash_backward]")
{
    // Chapter 5's layer with H = 1 and d_model = d_k + d_v computes this
    // attention when its inputs and weights only place Q, K, V:
    //   x_q = [Q | 0], x_kv = [K | V];
    //   W_q = c [[I, 0], [0, 0]] with c = sqrt(d_model / d_k), so that its
    //     1 / sqrt(d_model) becomes our 1 / sqrt(d_k);
    //   W_k = [[I, 0], [0, 0]]: keys [K | 0];
    //   W_v = [[0, 0], [I, 0]]: values [V | 0];  W_o = I, b_o = 0.
    // Then its output is [Y | 0]; with dL/dy = [dY | 0] its dL/dx_q is
    // [dQ | 0] and its dL/dx_kv = dk W_k^T + dv W_v^T is [dK | dV].
    std::uint64_t seed = 500;
    for (const auto& n : std::vector<std::array<std::size_t, 4>>{
             {5, 5, 3, 3}, {4, 9, 2, 5}, {11, 6, 4, 1}}) {
        for (bool masked : {false, true}) {
            CAPTURE(seed, masked);
            const std::size_t n_q = n[0], n_k = n[1], d_k = n[2], d_v = n[3];
            const std::size_t d = d_k + d_v;
            const auto c = random_backward_case(n_q, n_k, d_k, d_v, seed,
                                                masked);
            matrix x_q = xt::zeros<double>({n_q, d});
            xt::view(x_q, xt::all(), xt::range(0, d_k)) = c.q;
            const matrix x_kv = xt::concatenate(xt::xtuple(c.k, c.v), 1);
            attn::multi_head_weights w{
                xt::zeros<double>({d, d}), xt::zeros<double>({d, d}),
                xt::zeros<double>({d, d}), xt::eye<double>(d),
                xt::zeros<double>({d})};
            for (std::size_t i = 0; i < d_k; ++i) {
                w.w_q(i, i) = std::sqrt(double(d) / double(d_k));
                w.w_k(i, i) = 1.0;
            }
            for (std::size_t i = 0; i < d_v; ++i) {
                w.w_v(d_k + i, i) = 1.0;
            }
            matrix dy_full = xt::zeros<double>({n_q, d});
            xt::view(dy_full, xt::all(), xt::range(0, d_v)) = c.dy;
            const auto r = attn::multi_head_attention(x_q, x_kv, w, 1,
                                                      c.mask);
            const auto g5 = attn::multi_head_attention_backward(
                x_q, x_kv, w, 1, r, dy_full);
            const auto f = attn::attention_tiled_with_lse(c.q, c.k, c.v,
                                                          c.mask, 2, 3);
            const auto g = attn::attention_backward_tiled(
                c.q, c.k, c.v, c.mask, f.y, f.lse, c.dy, 2, 3);
            using xt::all;
            using xt::range;
            REQUIRE(relative_error(f.y, xt::view(r.y, all(), range(0, d_v)))
                    <= 1e-12);
            REQUIRE(relative_error(g.dL_dq,
                                   xt::view(g5.dL_dx_q, all(), range(0, d_k)))
                    <= 1e-12);
            REQUIRE(relative_error(g.dL_dk,
                                   xt::view(g5.dL_dx_kv, all(),
                                            range(0, d_k))) <= 1e-12);
            REQUIRE(relative_error(g.dL_dv,
                                   xt::view(g5.dL_dx_kv, all(),
                                            range(d_k, d))) <= 1e-12);
            // The padding columns of dL/dx_q are zero: nothing leaks.
            REQUIRE(xt::amax(xt::abs(xt::view(g5.dL_dx_q, all(),
                                              range(d_k, d))))() == 0.0);
            seed += 10;
        }
    }
}

TEST_CASE("Eq. 6.7: the tiled backward agrees with central differences",
          "[ch06][eq_flash_backward]")
{
    for (std::uint64_t seed : {600u, 610u}) {
        for (bool masked : {false, true}) {
            CAPTURE(seed, masked);
            const auto c = random_backward_case(5, 7, 3, 2, seed, masked);
            REQUIRE(matches_central_differences(c, tiled_gradients(c, 2, 3)));
            REQUIRE(matches_central_differences(c, tiled_gradients(c, 1, 1)));
        }
    }
}

TEST_CASE("Eq. 6.7: a wrong delta is caught by the same checks",
          "[ch06][eq_flash_backward]")
{
    // The kernel's own block step with three deltas: the right one passes
    // (the harness is honest); without the "- delta_i" term, or with
    // delta_i = sum_j dA_ij (the weights a_ij forgotten), it fails both
    // central differences and the stored reference.
    const auto c = random_backward_case(5, 7, 3, 2, 700, true);
    const std::size_t n_q = 5, d_v = 2;
    const auto f = attn::attention_tiled_with_lse(c.q, c.k, c.v, c.mask);
    const std::vector<double> right = attn::detail::row_dots(
        n_q, d_v, c.dy.data(), f.y.data());
    const std::vector<double> none(n_q, 0.0);
    std::vector<double> unweighted(n_q, 0.0);
    const attn::vector v_sums = xt::sum(c.v, {0});            // (d_v,)
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t col = 0; col < d_v; ++col) {
            unweighted[i] += c.dy(i, col) * v_sums(col);
        }
    }
    const auto ref = attn::attention_backward_reference(c.q, c.k, c.v,
                                                        c.mask, c.dy);
    const auto agrees = [&](const attn::attention_gradients& g) {
        return relative_error(g.dL_dq, ref.dL_dq) <= 1e-12
               && relative_error(g.dL_dk, ref.dL_dk) <= 1e-12;
    };
    REQUIRE(matches_central_differences(c, gradients_with_delta(c, right)));
    REQUIRE(agrees(gradients_with_delta(c, right)));
    const std::vector<const std::vector<double>*> wrongs = {&none,
                                                            &unweighted};
    for (const auto* wrong : wrongs) {
        const auto g = gradients_with_delta(c, *wrong);
        REQUIRE_FALSE(matches_central_differences(c, g));
        REQUIRE_FALSE(agrees(g));
        // dV does not depend on delta: only dQ and dK go wrong.
        REQUIRE(relative_error(g.dL_dv, ref.dL_dv) <= 1e-12);
    }
}

TEST_CASE("Errors: the tiled backward refuses arguments that do not fit",
          "[ch06][errors]")
{
    const auto c = random_backward_case(3, 4, 2, 2, 800, false);
    const auto f = attn::attention_tiled_with_lse(c.q, c.k, c.v, c.mask);
    using Catch::Matchers::Contains;
    REQUIRE_THROWS_WITH(
        attn::attention_backward_tiled(c.q, c.k, c.v, c.mask, f.y, f.lse,
                                       random_matrix(3, 3, 1)),
        Contains("dL_dy") && Contains("(n_q, d_v)"));
    REQUIRE_THROWS_WITH(
        attn::attention_backward_tiled(c.q, c.k, c.v, c.mask,
                                       random_matrix(2, 2, 1), f.lse, c.dy),
        Contains("y must have shape"));
    REQUIRE_THROWS_WITH(
        attn::attention_backward_tiled(c.q, c.k, c.v, c.mask, f.y,
                                       attn::vector{1.0, 2.0}, c.dy),
        Contains("lse"));
    attn::vector bad_lse = f.lse;
    bad_lse(1) = inf;
    REQUIRE_THROWS_WITH(
        attn::attention_backward_tiled(c.q, c.k, c.v, c.mask, f.y, bad_lse,
                                       c.dy),
        Contains("lse must be finite or -inf"));
    matrix bad_dy = c.dy;
    bad_dy(2, 1) = std::nan("");
    REQUIRE_THROWS_WITH(
        attn::attention_backward_tiled(c.q, c.k, c.v, c.mask, f.y, f.lse,
                                       bad_dy),
        Contains("dL_dy"));
    REQUIRE_THROWS_WITH(
        attn::attention_backward_tiled(c.q, c.k, c.v, c.mask, f.y, f.lse,
                                       c.dy, 0, 4),
        Contains("block sizes"));
    REQUIRE_THROWS_WITH(
        attn::attention_tiled_with_lse(c.q, c.k, random_matrix(5, 2, 1)),
        Contains("v must have shape"));
}

TEST_CASE("Eq. 6.8: bytes moved by stored attention, hand-worked",
          "[ch06][eq_io_stored]")
{
    // n_q = n_k = 2, d_k = d_v = 1, in numbers:
    //   S = Q K^T: read Q and K (2 + 2), write S (4)        =  8
    //   softmax: read S (4), write A (4)                     =  8
    //   Y = A V: read A (4) and V (2), write Y (2)           =  8
    // 24 numbers of 8 bytes: 192 bytes.
    REQUIRE(attn::attention_io_stored(2, 2, 1, 1) == 192.0);
    // n_q = 3, n_k = 5, d_k = 2, d_v = 4:
    //   (3 + 5) 2 + 15 = 31;  2 * 15 = 30;  15 + 5 * 4 + 3 * 4 = 47;
    // 108 numbers: 864 bytes.
    REQUIRE(attn::attention_io_stored(3, 5, 2, 4) == 864.0);
}

TEST_CASE("Eq. 6.9: bytes moved by tiled attention, hand-worked and "
          "counted along the loops", "[ch06][eq_io_tiled]")
{
    // n_q = n_k = 4, d_k = d_v = 1, blocks of 2 queries: Q read and Y
    // written once (4 + 4), K and V read once per query block
    // (2 blocks x 4 keys x 2): 8 + 16 = 24 numbers, 192 bytes. Blocks of 3
    // queries also make 2 blocks: the same. One block of 4: 8 + 8 = 16
    // numbers; blocks of 1: 8 + 4 * 8 = 40.
    REQUIRE(attn::attention_io_tiled(4, 4, 1, 1, 2) == 192.0);
    REQUIRE(attn::attention_io_tiled(4, 4, 1, 1, 3) == 192.0);
    REQUIRE(attn::attention_io_tiled(4, 4, 1, 1, 4) == 128.0);
    REQUIRE(attn::attention_io_tiled(4, 4, 1, 1, 1) == 320.0);
    // Working set of blocks of 2 x 2 with d_k = d_v = 1: Q_i, o_i, K_j,
    // V_j (4 x 2 numbers), the scores (4), m and l (4): 16 numbers, 128
    // bytes. A cache of 128 bytes holds blocks of 2 queries, not 3.
    REQUIRE(attn::attention_tiled_working_set(2, 2, 1, 1) == 128.0);
    REQUIRE(attn::largest_block_q(128, 2, 1, 1) == 2.0);
    // Against a count along the tiled kernel's loops: per query block,
    // Q_i in and Y_i out; per pair of blocks, K_j and V_j in.
    for (auto [n_q, n_k, d_k, d_v, bq, bk] :
         std::vector<std::array<std::size_t, 6>>{
             {7, 5, 3, 2, 3, 2}, {64, 100, 8, 4, 16, 32}, {5, 9, 2, 2, 8, 1}}) {
        double numbers = 0.0;
        for (std::size_t i0 = 0; i0 < n_q; i0 += bq) {
            const std::size_t rows = std::min(bq, n_q - i0);
            numbers += double(rows * (d_k + d_v));
            for (std::size_t j0 = 0; j0 < n_k; j0 += bk) {
                numbers += double(std::min(bk, n_k - j0) * (d_k + d_v));
            }
        }
        REQUIRE(attn::attention_io_tiled(n_q, n_k, d_k, d_v, bq)
                == 8.0 * numbers);
    }
    // The largest block fits and one more query does not, for caches from
    // 64 KiB to 8 MiB; with it, a cache 4 times larger cuts the traffic of
    // K and V about 4 times: Theta(n^2 d^2 / M_cache) for blocks of
    // b_k = d keys.
    for (double cache = 65536; cache <= 8388608; cache *= 2) {
        CAPTURE(cache);
        const double bq = attn::largest_block_q(cache, 64, 64, 64);
        REQUIRE(attn::attention_tiled_working_set(bq, 64, 64, 64) <= cache);
        REQUIRE(attn::attention_tiled_working_set(bq + 1, 64, 64, 64)
                > cache);
    }
    const double n = 65536, d = 64;
    const auto kv_bytes = [&](double cache) {
        return attn::attention_io_tiled(n, n, d, d,
                                        attn::largest_block_q(cache, d, d, d))
               - 8.0 * n * 2 * d;
    };
    // 1 MiB: blocks of 633 queries, 104 of them; 4 MiB: 2660, 25 of them.
    const double ratio = kv_bytes(1 << 20) / kv_bytes(1 << 22);
    REQUIRE(ratio > 3.8);
    REQUIRE(ratio < 4.3);
    // A cache smaller than one block of keys and values holds no block.
    REQUIRE(attn::largest_block_q(1000, 64, 64, 64) == 0.0);
}

// Grader of the coding exercises of chapter 4. It is compiled twice: with
// the student's files (code/exercises) and with the reference solutions
// (tests/solutions). Each TEST_CASE grades one exercise, tagged [ex_4_N].
#include <cmath>
#include <cstddef>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "attention/masking.hpp"
#include "ch04_masks.hpp"
#include "kit.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;
using book_test::random_matrix;

namespace {

// Masks compared entry by entry, shape first.
void require_same_mask(const attn::mask_matrix& got,
                       const attn::mask_matrix& expected)
{
    INFO("expected a mask of shape " << attn::shape_string(expected.shape()));
    INFO(kit::side_by_side(expected, got));
    INFO(kit::hint_if(kit::is_transpose_of(got, expected),
                      "your mask is the transpose of the expected one: "
                      "row i is query i, column j is key j"));
    REQUIRE(got.shape()[0] == expected.shape()[0]);
    REQUIRE(got.shape()[1] == expected.shape()[1]);
    for (std::size_t i = 0; i < got.shape()[0]; ++i) {
        for (std::size_t j = 0; j < got.shape()[1]; ++j) {
            INFO("entry (" << i << ", " << j << ")");
            REQUIRE(got(i, j) == expected(i, j));
        }
    }
}

}  // namespace

TEST_CASE("Exercise 4.6: causal_mask aligned bottom-right",
          "[grade][ex_4_6]")
{
    SECTION("hand-worked")
    {
        // A mask aligned top-left (key j allowed when j <= i), wrong
        // unless n_q = n_k: seen in the case n_q = 2, n_k = 5.
        const attn::mask_matrix top_left = {{true, false, false, false, false},
                                            {true, true, false, false, false}};
        INFO(kit::hint_if(xt::xtensor<bool, 2>(exercise::causal_mask(2, 5))
                              == top_left,
                          "for n_q = 2, n_k = 5 your mask is aligned "
                          "top-left (j <= i): the queries are the LAST n_q "
                          "positions, query i sits at n_k - n_q + i"));
        // n_q = n_k = 3: the lower triangle with its diagonal.
        require_same_mask(exercise::causal_mask(3, 3),
                          {{true, false, false},
                           {true, true, false},
                           {true, true, true}});
        // n_q = 2, n_k = 5 (exercise 1): the queries sit at positions 3
        // and 4, so query 0 sees keys 0..3 and query 1 sees keys 0..4.
        require_same_mask(exercise::causal_mask(2, 5),
                          {{true, true, true, true, false},
                           {true, true, true, true, true}});
        // n_q = 4, n_k = 2: query i sits at position 2 - 4 + i = i - 2;
        // queries 0 and 1 come before every key and see nothing, query 2
        // sits at 0 and query 3 at 1.
        require_same_mask(exercise::causal_mask(4, 2),
                          {{false, false},
                           {false, false},
                           {true, false},
                           {true, true}});
        // One query, the newest token while decoding: it sees every key.
        require_same_mask(exercise::causal_mask(1, 4),
                          {{true, true, true, true}});
    }
    SECTION("equals attn::causal_mask for every shape up to 6 x 6")
    {
        for (std::size_t n_q = 1; n_q <= 6; ++n_q) {
            for (std::size_t n_k = 1; n_k <= 6; ++n_k) {
                INFO("n_q = " << n_q << ", n_k = " << n_k);
                require_same_mask(exercise::causal_mask(n_q, n_k),
                                  attn::causal_mask(n_q, n_k));
            }
        }
    }
}

TEST_CASE("Exercise 4.7: masked_softmax_rows", "[grade][ex_4_7]")
{
    const double e = std::exp(1.0);
    SECTION("hand-worked rows")
    {
        // Row 0 (exercise 2): scores (2, 0, 1), key 1 masked. Allowed
        //   e^2 and e^1: weights e^2 / (e^2 + e) = e / (e + 1) and
        //   e / (e^2 + e) = 1 / (e + 1); key 1 gets exactly 0.
        // Row 1: every key masked: all zero, not NaN, not uniform.
        // Row 2: scores (1000, 0, ln 3) with key 0 masked: the largest
        //   score is masked and must not matter; exp(0) : exp(ln 3) = 1 : 3,
        //   weights (0, 1/4, 3/4).
        // Row 3: nothing masked, scores (1000, 1000 - ln 3, -1000):
        //   3 : 1 : exp(-2000) = 0, weights (3/4, 1/4, 0).
        const attn::matrix s = {{2.0, 0.0, 1.0},
                                {1.0, 2.0, 3.0},
                                {1000.0, 0.0, std::log(3.0)},
                                {1000.0, 1000.0 - std::log(3.0), -1000.0}};
        const attn::mask_matrix m = {{true, false, true},
                                        {false, false, false},
                                        {false, true, true},
                                        {true, true, true}};
        const attn::matrix expected = {{e / (e + 1), 0.0, 1 / (e + 1)},
                                       {0.0, 0.0, 0.0},
                                       {0.0, 0.25, 0.75},
                                       {0.75, 0.25, 0.0}};
        INFO(kit::show("s", s));
        INFO(kit::show("m (1 = may attend)", m));
        const attn::matrix a = exercise::masked_softmax_rows(s, m);
        INFO(kit::side_by_side(expected, a));
        const bool nan_or_inf = !xt::all(xt::isfinite(a));
        INFO(kit::hint_if(nan_or_inf && a.shape() == expected.shape()
                              && std::isnan(a(1, 0)),
                          "NaN in row 1, where every key is masked: such a "
                          "row must be all zeros (0 / 0 is NaN)"));
        INFO(kit::hint_if(nan_or_inf && a.shape() == expected.shape()
                              && !std::isnan(a(1, 0)),
                          "inf or NaN: exp(1000) overflows; subtract the "
                          "row's largest allowed score before exp"));
        INFO(kit::hint_if(a.shape() == expected.shape()
                              && std::abs(a(1, 0) - 1.0 / 3) < 1e-12,
                          "row 1 (every key masked) is uniform: it must be "
                          "all zeros"));
        REQUIRE_THAT(a, IsCloseTo(expected, 1e-12, 1e-15));
        // Masked weights are exactly zero, not merely small.
        REQUIRE(a(0, 1) == 0.0);
        REQUIRE(a(2, 0) == 0.0);
    }
    SECTION("equals attn::softmax_rows(s + attn::mask_bias(m)) over seeds")
    {
        for (std::uint64_t seed = 1; seed <= 5; ++seed) {
            CAPTURE(seed);
            const attn::matrix s = random_matrix(5, 7, seed, 3.0);
            // A causal mask, with every third key also removed from one
            // row.
            attn::mask_matrix m = attn::causal_mask(5, 7);
            for (std::size_t j = 0; j < 7; ++j) {
                m(seed % 5, j) = m(seed % 5, j) && (j + seed) % 3 != 0;
            }
            const attn::matrix expected =
                attn::softmax_rows(s + attn::mask_bias(m));
            REQUIRE_THAT(exercise::masked_softmax_rows(s, m),
                         IsCloseTo(expected, 1e-12, 1e-15));
        }
    }
    SECTION("refuses a mask of another shape")
    {
        const attn::matrix s = xt::zeros<double>({2, 3});
        const attn::mask_matrix m = xt::ones<bool>({3, 2});
        REQUIRE_THROWS_AS(exercise::masked_softmax_rows(s, m),
                          std::invalid_argument);
    }
}

// Exercise 4.8 onwards (headers included here, so that the exercises above
// stay as they were).
#include <string>

#include "attention/attend.hpp"
#include "exercises/kit.hpp"

namespace {

// The strict causal mask, j < i: what a decoding step computes when the
// new token's key and value are not yet in the cache as its query reads
// it. A row with no key allowed gives a zero output (the book's rule).
attn::mask_matrix strict_causal_mask(std::size_t n)
{
    attn::mask_matrix m = xt::zeros<bool>({n, n});
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            m(i, j) = true;
        }
    }
    return m;
}

bool same_matrix_ch04(const attn::matrix& got, const attn::matrix& expected)
{
    return got.shape() == expected.shape()
           && xt::allclose(got, expected, 1e-12, 1e-14);
}

const std::string self_hint =
    "your new token does not attend to itself: its query sees only the t "
    "tokens before it, a causal mask off by one (at t = 0 it sees nothing). "
    "Its own key and value must be in the cache before its query reads it: "
    "Eq. (4.7) is the last row of the causal mask of Eq. (4.2), diagonal "
    "included.";

}  // namespace

TEST_CASE("Exercise 4.8: find the bug in decode_step", "[grade][ex_4_8]")
{
    SECTION("hand-worked: an empty cache, then one cached token")
    {
        // t = 0, d_k = 1, d_v = 2: the first token's only key is its own,
        // weight 1, so its output is its own value (5, -1).
        attn::matrix k_cache = xt::zeros<double>({0, 1});
        attn::matrix v_cache = xt::zeros<double>({0, 2});
        const attn::matrix got = exercise::decode_step(
            k_cache, v_cache, {{0.7}}, {{0.0}}, {{5.0, -1.0}});
        INFO("t = 0, q_new = (0.7), k_new = (0), v_new = (5, -1)");
        INFO(kit::side_by_side(attn::matrix{{5.0, -1.0}}, got));
        INFO(kit::hint_if(same_matrix_ch04(got, xt::zeros<double>({1, 2})),
                          self_hint));
        REQUIRE_THAT(got, IsCloseTo(attn::matrix{{5.0, -1.0}}));
        INFO("the cache must now hold the new key and value: (1, 1), "
             "(1, 2)");
        REQUIRE_THAT(k_cache, IsCloseTo(attn::matrix{{0.0}}));
        REQUIRE_THAT(v_cache, IsCloseTo(attn::matrix{{5.0, -1.0}}));
        // t = 1: a second token, q_new = (ln 3), k_new = (1), v_new =
        // (6, 2). Scores against the cached key 0 and its own key 1:
        // (0, ln 3), weights (1/4, 3/4); output
        // 1/4 (5, -1) + 3/4 (6, 2) = (23/4, 5/4).
        const attn::matrix got2 = exercise::decode_step(
            k_cache, v_cache, {{std::log(3.0)}}, {{1.0}}, {{6.0, 2.0}});
        const attn::matrix expected2 = {{23.0 / 4, 5.0 / 4}};
        INFO("t = 1, cache k = (0), v = (5, -1); q_new = (ln 3), k_new = "
             "(1), v_new = (6, 2)");
        INFO(kit::side_by_side(expected2, got2));
        INFO(kit::hint_if(same_matrix_ch04(got2, {{5.0, -1.0}}), self_hint));
        REQUIRE_THAT(got2, IsCloseTo(expected2));
        REQUIRE_THAT(k_cache, IsCloseTo(attn::matrix{{0.0}, {1.0}}));
        REQUIRE_THAT(v_cache, IsCloseTo(attn::matrix{{5.0, -1.0},
                                                     {6.0, 2.0}}));
    }
    SECTION("token by token equals the causally masked full pass, over "
            "seeds")
    {
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            const std::size_t n = 4 + seed, d_k = 1 + seed % 3, d_v = 2;
            const attn::matrix q = random_matrix(n, d_k, seed);
            const attn::matrix k = random_matrix(n, d_k, seed + 10);
            const attn::matrix v = random_matrix(n, d_v, seed + 20);
            const attn::matrix full =
                attn::masked_attend(q, k, v, attn::causal_mask(n, n)).y;
            const attn::matrix off_by_one =
                attn::masked_attend(q, k, v, strict_causal_mask(n)).y;
            attn::matrix k_cache = xt::zeros<double>({std::size_t(0), d_k});
            attn::matrix v_cache = xt::zeros<double>({std::size_t(0), d_v});
            for (std::size_t i = 0; i < n; ++i) {
                const auto row = [i](const attn::matrix& m) {
                    return attn::matrix(xt::view(m, xt::range(i, i + 1),
                                                 xt::all()));
                };
                const attn::matrix got = exercise::decode_step(
                    k_cache, v_cache, row(q), row(k), row(v));
                INFO("seed " << seed << ", step " << i << " (t = " << i
                             << " tokens cached before it)");
                INFO(kit::show("q_new", row(q)));
                INFO(kit::side_by_side(row(full), got));
                INFO(kit::hint_if(same_matrix_ch04(got, row(off_by_one)),
                                  self_hint));
                REQUIRE_THAT(got, IsCloseTo(row(full), 1e-12, 1e-14));
                INFO("after the step the cache holds the first " << i + 1
                                                                 << " keys");
                const attn::matrix k_so_far =
                    xt::view(k, xt::range(0, i + 1), xt::all());
                const attn::matrix v_so_far =
                    xt::view(v, xt::range(0, i + 1), xt::all());
                REQUIRE_THAT(k_cache, IsCloseTo(k_so_far, 0.0, 0.0));
                REQUIRE_THAT(v_cache, IsCloseTo(v_so_far, 0.0, 0.0));
            }
        }
    }
    SECTION("refuses inconsistent shapes")
    {
        attn::matrix k_cache = xt::zeros<double>({2, 3});
        attn::matrix v_cache = xt::zeros<double>({2, 4});
        const attn::matrix q3 = xt::ones<double>({1, 3});
        const attn::matrix v4 = xt::ones<double>({1, 4});
        INFO("each call must throw std::invalid_argument: q_new of width "
             "2, k_new of 2 rows, v_new of width 3, caches of 2 and 1 rows");
        REQUIRE_THROWS_AS(exercise::decode_step(k_cache, v_cache,
                                                xt::ones<double>({1, 2}), q3,
                                                v4),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::decode_step(k_cache, v_cache, q3,
                                                xt::ones<double>({2, 3}), v4),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::decode_step(k_cache, v_cache, q3, q3,
                                                xt::ones<double>({1, 3})),
                          std::invalid_argument);
        attn::matrix v_short = xt::zeros<double>({1, 4});
        REQUIRE_THROWS_AS(exercise::decode_step(k_cache, v_short, q3, q3, v4),
                          std::invalid_argument);
    }
}

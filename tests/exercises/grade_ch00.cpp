// Grader of the coding exercises of chapter 0. It is compiled twice: with
// the student's files (code/exercises) and with the reference solutions
// (tests/solutions). Each TEST_CASE grades one exercise, tagged [ex_0_N].
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "ch00_softmax.hpp"
#include "kit.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;

TEST_CASE("Exercise 0.5: softmax_scaled", "[grade][ex_0_5]")
{
    // exp(0), exp(ln 2), exp(ln 3) are 1, 2, 3: weights 1/6, 2/6, 3/6.
    const xt::xtensor<double, 1> z = {0.0, std::log(2.0), std::log(3.0)};
    INFO(kit::show("z", z));
    const xt::xtensor<double, 1> beta_1 = {1.0 / 6, 2.0 / 6, 3.0 / 6};
    {
        INFO("beta = 1");
        const xt::xtensor<double, 1> got = exercise::softmax_scaled(z, 1.0);
        INFO(kit::side_by_side(beta_1, got));
        REQUIRE_THAT(got, IsCloseTo(beta_1, 1e-12));
    }
    // beta = 2 squares the ratios: 1, 4, 9 over 14.
    {
        INFO("beta = 2");
        const xt::xtensor<double, 1> got = exercise::softmax_scaled(z, 2.0);
        const xt::xtensor<double, 1> expected = {1.0 / 14, 4.0 / 14,
                                                 9.0 / 14};
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(xt::allclose(got, beta_1, 1e-12, 1e-12),
                          "your weights are those of beta = 1: is beta "
                          "multiplied into the logits?"));
        REQUIRE_THAT(got, IsCloseTo(expected, 1e-12));
    }
    // beta = 0: every weight 1/3.
    {
        INFO("beta = 0");
        const xt::xtensor<double, 1> got = exercise::softmax_scaled(z, 0.0);
        const xt::xtensor<double, 1> expected = {1.0 / 3, 1.0 / 3, 1.0 / 3};
        INFO(kit::side_by_side(expected, got));
        REQUIRE_THAT(got, IsCloseTo(expected, 1e-12));
    }
    // Logits of 1000: exp overflows unless the maximum is subtracted.
    // 1000 and 1000 - ln 3 are 3 : 1.
    const xt::xtensor<double, 1> big = {1000.0, 1000.0 - std::log(3.0)};
    {
        INFO("beta = 1, " << kit::show("z", big));
        const xt::xtensor<double, 1> got = exercise::softmax_scaled(big, 1.0);
        INFO(kit::side_by_side(xt::xtensor<double, 1>{0.75, 0.25}, got));
        INFO(kit::hint_if(!xt::all(xt::isfinite(got)),
                          "inf or NaN: exp(1000) overflows; subtract the "
                          "largest logit before exp"));
        REQUIRE_THAT(got,
                     IsCloseTo(xt::xtensor<double, 1>{0.75, 0.25}, 1e-12));
    }
    const xt::xtensor<double, 1> small = {-1000.0, -1000.0};
    {
        INFO("beta = 1, " << kit::show("z", small));
        const xt::xtensor<double, 1> got =
            exercise::softmax_scaled(small, 1.0);
        INFO(kit::side_by_side(xt::xtensor<double, 1>{0.5, 0.5}, got));
        INFO(kit::hint_if(!xt::all(xt::isfinite(got)),
                          "NaN: exp(-1000) is 0 and 0 / 0 is NaN; subtract "
                          "the largest logit before exp"));
        REQUIRE_THAT(got, IsCloseTo(xt::xtensor<double, 1>{0.5, 0.5}, 1e-12));
    }
}

TEST_CASE("Exercise 0.6: row_entropy", "[grade][ex_0_6]")
{
    // Row 0 uniform over 4 keys: log 4. Row 1 one-hot: 0 (0 log 0 = 0).
    // Row 2 (1/2, 1/4, 1/4, 0): 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2.
    const xt::xtensor<double, 2> a = {{0.25, 0.25, 0.25, 0.25},
                                      {0.0, 1.0, 0.0, 0.0},
                                      {0.5, 0.25, 0.25, 0.0}};
    INFO(kit::show("a", a));
    const xt::xtensor<double, 1> got = exercise::row_entropy(a);
    const xt::xtensor<double, 1> expected = {std::log(4.0), 0.0,
                                             1.5 * std::log(2.0)};
    INFO(kit::side_by_side(expected, got));
    INFO(kit::hint_if(got.size() == 3 && !xt::all(xt::isfinite(got)),
                      "NaN: 0 log 0 is NaN in floating point; skip the "
                      "zero weights (0 log 0 = 0)"));
    REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-15));
}

// Exercise 0.7's grader, below, needs these too.
#include <algorithm>
#include <cstddef>
#include <stdexcept>

#include "attention/attend.hpp"
#include "kit.hpp"

namespace grade_ch00 {

// softmax(scale Q K^T) V as literal loops, the softmax taken along each row
// (over_rows, Eq. (0.1)) or, a mistake the grader recognises, down each
// column. Only for hints: the expected values come from elsewhere.
inline attn::matrix lookup_variant(const attn::matrix& Q,
                                   const attn::matrix& K,
                                   const attn::matrix& V, double scale,
                                   bool over_rows)
{
    const std::size_t n_q = Q.shape()[0], n_k = K.shape()[0];
    attn::matrix a = xt::zeros<double>({n_q, n_k});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            for (std::size_t c = 0; c < Q.shape()[1]; ++c) {
                a(i, j) += scale * Q(i, c) * K(j, c);
            }
        }
    }
    const std::size_t outer = over_rows ? n_q : n_k;
    const std::size_t inner = over_rows ? n_k : n_q;
    auto at = [&](std::size_t o, std::size_t n) -> double& {
        return over_rows ? a(o, n) : a(n, o);
    };
    for (std::size_t o = 0; o < outer; ++o) {
        double m = -std::numeric_limits<double>::infinity(), sum = 0.0;
        for (std::size_t n = 0; n < inner; ++n) {
            m = std::max(m, at(o, n));
        }
        for (std::size_t n = 0; n < inner; ++n) {
            sum += std::exp(at(o, n) - m);
        }
        for (std::size_t n = 0; n < inner; ++n) {
            at(o, n) = std::exp(at(o, n) - m) / sum;
        }
    }
    attn::matrix y = xt::zeros<double>({n_q, V.shape()[1]});
    for (std::size_t i = 0; i < n_q; ++i) {
        for (std::size_t j = 0; j < n_k; ++j) {
            for (std::size_t c = 0; c < V.shape()[1]; ++c) {
                y(i, c) += a(i, j) * V(j, c);
            }
        }
    }
    return y;
}

using kit::close;  // same shape, every entry within 1e-9 (relative)

inline bool finite(const attn::matrix& m)
{
    return std::all_of(m.begin(), m.end(),
                       [](double x) { return std::isfinite(x); });
}

// What the student sees before each check of soft_lookup: the inputs, the
// expected and the got, and a hint for each mistake the grader knows.
inline void check_lookup(const attn::matrix& Q, const attn::matrix& K,
                         const attn::matrix& V, const attn::matrix& expected)
{
    const attn::matrix got = exercise::soft_lookup(Q, K, V);
    const double scale = 1.0 / std::sqrt(double(Q.shape()[1]));
    INFO(kit::show("Q", Q));
    INFO(kit::show("K", K));
    INFO(kit::show("V", V));
    INFO(kit::side_by_side(expected, got));
    INFO(kit::hint_if(
        close(got, lookup_variant(Q, K, V, scale, false)),
        "your weights are normalised down each column of S, over the "
        "queries; Eq. (0.1) normalises along each row, over the keys, so "
        "that the weights of one query sum to 1"));
    INFO(kit::hint_if(
        Q.shape()[1] > 1 && close(got, lookup_variant(Q, K, V, 1.0, true)),
        "your scores are not divided by sqrt(d_k)"));
    INFO(kit::hint_if(!finite(got),
                      "your output holds inf or NaN: are the exponents "
                      "still at most 0, as in Eq. (0.1)?"));
    REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-12));
}

}  // namespace grade_ch00

TEST_CASE("Exercise 0.7: find the bug in soft_lookup", "[grade][ex_0_7]")
{
    SECTION("hand-worked, d_k = 4, two queries, two keys")
    {
        // Q K^T = [[2 ln 3, 0], [0, 0]]; divided by sqrt(4) = 2:
        // S = [[ln 3, 0], [0, 0]]. Row 0: exp = (3, 1), weights
        // (3/4, 1/4); row 1: (1/2, 1/2). Y = A V with V = [[4, 0], [0, 8]]:
        // row 0 = (3/4 4, 1/4 8) = (3, 2); row 1 = (2, 4).
        const double l3 = std::log(3.0);
        const attn::matrix Q = {{l3, l3, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0}};
        const attn::matrix K = {{1.0, 1.0, 0.0, 0.0}, {0.0, 0.0, 1.0, 1.0}};
        const attn::matrix V = {{4.0, 0.0}, {0.0, 8.0}};
        grade_ch00::check_lookup(Q, K, V, attn::matrix{{3.0, 2.0},
                                                       {2.0, 4.0}});
    }
    SECTION("one query: its weights must sum to 1")
    {
        // The look-up of the chapter with a query along the first key,
        // q = (ln 3 sqrt 2, 0): scaled scores (ln 3, 0, -ln 3, 0), exp =
        // (3, 1, 1/3, 1), sum 16/3, weights (9, 3, 1, 3) / 16. Values
        // 10, 20, 30, 40: Y = (90 + 60 + 30 + 120) / 16 = 300 / 16.
        const attn::matrix Q = {{std::log(3.0) * std::sqrt(2.0), 0.0}};
        const attn::matrix K = {{1.0, 0.0}, {0.0, 1.0}, {-1.0, 0.0},
                                {0.0, -1.0}};
        const attn::matrix V = {{10.0}, {20.0}, {30.0}, {40.0}};
        grade_ch00::check_lookup(Q, K, V, attn::matrix{{300.0 / 16}});
    }
    SECTION("scores of +-1000 stay finite")
    {
        // S = [[1000, -1000], [-1000, 1000]]: all the weight on the larger
        // score (the other weight is exp(-2000) = 0 in double), so Y = V
        // row by row.
        const attn::matrix Q = {{1000.0}, {-1000.0}};
        const attn::matrix K = {{1.0}, {-1.0}};
        const attn::matrix V = {{1.0, 2.0}, {3.0, 4.0}};
        grade_ch00::check_lookup(Q, K, V, V);
    }
    SECTION("equals attn::attend over seeds, with n_q != n_k")
    {
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            CAPTURE(seed);
            const std::size_t n_q = 2 + seed, n_k = 7 - seed, d_k = 3,
                              d_v = 2;
            const attn::matrix Q = book_test::random_matrix(n_q, d_k, seed);
            const attn::matrix K =
                book_test::random_matrix(n_k, d_k, seed + 10);
            const attn::matrix V =
                book_test::random_matrix(n_k, d_v, seed + 20);
            grade_ch00::check_lookup(Q, K, V, attn::attend(Q, K, V).y);
        }
    }
    SECTION("refuses empty inputs and shapes that do not fit")
    {
        const attn::matrix Q = xt::zeros<double>({2, 3});
        const attn::matrix K = xt::zeros<double>({4, 3});
        const attn::matrix V = xt::zeros<double>({4, 5});
        CHECK_THROWS_AS(exercise::soft_lookup(Q, xt::zeros<double>({4, 2}),
                                              V),
                        std::invalid_argument);
        CHECK_THROWS_AS(exercise::soft_lookup(Q, K, xt::zeros<double>({3, 5})),
                        std::invalid_argument);
        CHECK_THROWS_AS(exercise::soft_lookup(xt::zeros<double>({0, 3}), K, V),
                        std::invalid_argument);
        CHECK_THROWS_AS(exercise::soft_lookup(Q, xt::zeros<double>({0, 3}),
                                              xt::zeros<double>({0, 5})),
                        std::invalid_argument);
    }
}

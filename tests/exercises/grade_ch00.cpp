// Grader of the coding exercises of chapter 0. It is compiled twice: with
// the student's files (code/exercises) and with the reference solutions
// (tests/solutions). Each TEST_CASE grades one exercise, tagged [ex_0_N].
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "ch00_softmax.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;

TEST_CASE("Exercise 0.5: softmax_scaled", "[grade][ex_0_5]")
{
    // exp(0), exp(ln 2), exp(ln 3) are 1, 2, 3: weights 1/6, 2/6, 3/6.
    const xt::xtensor<double, 1> z = {0.0, std::log(2.0), std::log(3.0)};
    REQUIRE_THAT(exercise::softmax_scaled(z, 1.0),
                 IsCloseTo(xt::xtensor<double, 1>{1.0 / 6, 2.0 / 6, 3.0 / 6},
                           1e-12));
    // beta = 2 squares the ratios: 1, 4, 9 over 14.
    REQUIRE_THAT(exercise::softmax_scaled(z, 2.0),
                 IsCloseTo(xt::xtensor<double, 1>{1.0 / 14, 4.0 / 14,
                                                   9.0 / 14}, 1e-12));
    // beta = 0: every weight 1/3.
    REQUIRE_THAT(exercise::softmax_scaled(z, 0.0),
                 IsCloseTo(xt::xtensor<double, 1>{1.0 / 3, 1.0 / 3, 1.0 / 3},
                           1e-12));
    // Logits of 1000: exp overflows unless the maximum is subtracted.
    // 1000 and 1000 - ln 3 are 3 : 1.
    const xt::xtensor<double, 1> big = {1000.0, 1000.0 - std::log(3.0)};
    REQUIRE_THAT(exercise::softmax_scaled(big, 1.0),
                 IsCloseTo(xt::xtensor<double, 1>{0.75, 0.25}, 1e-12));
    const xt::xtensor<double, 1> small = {-1000.0, -1000.0};
    REQUIRE_THAT(exercise::softmax_scaled(small, 1.0),
                 IsCloseTo(xt::xtensor<double, 1>{0.5, 0.5}, 1e-12));
}

TEST_CASE("Exercise 0.6: row_entropy", "[grade][ex_0_6]")
{
    // Row 0 uniform over 4 keys: log 4. Row 1 one-hot: 0 (0 log 0 = 0).
    // Row 2 (1/2, 1/4, 1/4, 0): 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2.
    const xt::xtensor<double, 2> a = {{0.25, 0.25, 0.25, 0.25},
                                      {0.0, 1.0, 0.0, 0.0},
                                      {0.5, 0.25, 0.25, 0.0}};
    REQUIRE_THAT(exercise::row_entropy(a),
                 IsCloseTo(xt::xtensor<double, 1>{std::log(4.0), 0.0,
                                                   1.5 * std::log(2.0)},
                           1e-12, 1e-15));
}

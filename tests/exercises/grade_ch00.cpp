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

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

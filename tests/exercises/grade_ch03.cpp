// Grader of the coding exercises of chapter 3. It is compiled twice: with
// the student's files (code/exercises) and with the reference solutions
// (tests/solutions). Each TEST_CASE grades one exercise, tagged [ex_3_N].
#include <cstddef>
#include <stdexcept>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/multi_head.hpp"
#include "ch03_heads.hpp"
#include "kit.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;
using book_test::random_matrix;

TEST_CASE("Exercise 3.6: split_heads and merge_heads", "[grade][ex_3_6]")
{
    SECTION("hand-worked, two heads of width 2")
    {
        // d_model = 4, H = 2, d_k = 2: head 0 owns columns 0, 1 and head 1
        // owns columns 2, 3 of every row.
        const attn::matrix m = {{1, 2, 3, 4}, {5, 6, 7, 8}};
        INFO(kit::show("m", m));
        const attn::tensor3 expected = {{{1, 2}, {5, 6}},    // head 0
                                        {{3, 4}, {7, 8}}};   // head 1
        // Head h taken from rows instead of columns: {{1, 2}, {3, 4}},
        // {{5, 6}, {7, 8}}, the row-major reshape of m.
        const attn::tensor3 by_rows = {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}};
        INFO(kit::hint_if(
            xt::allclose(xt::xarray<double>(exercise::split_heads(m, 2)),
                         xt::xarray<double>(by_rows)),
            "your split_heads(m, 2) is m reshaped to (2, 2, 2): head h "
            "must take COLUMNS [h d_k, (h+1) d_k) of every row"));
        REQUIRE_THAT(exercise::split_heads(m, 2), IsCloseTo(expected));
        REQUIRE_THAT(exercise::merge_heads(expected), IsCloseTo(m));
        // H = 4, d_k = 1: head h is column h.
        const attn::tensor3 columns = {{{1}, {5}}, {{2}, {6}},
                                       {{3}, {7}}, {{4}, {8}}};
        REQUIRE_THAT(exercise::split_heads(m, 4), IsCloseTo(columns));
        // H = 1: one head, the whole matrix.
        const attn::tensor3 whole = {{{1, 2, 3, 4}, {5, 6, 7, 8}}};
        REQUIRE_THAT(exercise::split_heads(m, 1), IsCloseTo(whole));
    }
    SECTION("head h equals attn::head_view(m, h, d_k); merge inverts split")
    {
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            CAPTURE(seed);
            const std::size_t n = 3 + seed, H = 1 + seed % 4, d_k = 2 + seed;
            const attn::matrix m = random_matrix(n, H * d_k, seed);
            const attn::tensor3 t = exercise::split_heads(m, H);
            REQUIRE(t.shape()[0] == H);
            for (std::size_t h = 0; h < H; ++h) {
                const attn::matrix expected = attn::head_view(m, h, d_k);
                const attn::matrix got = xt::view(t, h, xt::all(), xt::all());
                REQUIRE_THAT(got, IsCloseTo(expected, 0.0, 0.0));
            }
            REQUIRE_THAT(exercise::merge_heads(t), IsCloseTo(m, 0.0, 0.0));
        }
    }
    SECTION("refuses a number of heads that does not divide d_model")
    {
        const attn::matrix m = xt::zeros<double>({2, 6});
        REQUIRE_THROWS_AS(exercise::split_heads(m, 4), std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::split_heads(m, 0), std::invalid_argument);
    }
}

TEST_CASE("Exercise 3.7: head_contributions of Eq. (3.6)", "[grade][ex_3_7]")
{
    SECTION("hand-worked, two heads of width 1")
    {
        // d_model = 2, H = 2, d_k = 1: Y^0 is column 0 of heads, Y^1 is
        // column 1; W_o^0 is row 0 of w_o = (1, 0), W_o^1 is row 1 = (3, 4).
        // Query 0, heads (1, 2): head 0 adds 1 (1, 0) = (1, 0), head 1 adds
        //   2 (3, 4) = (6, 8); together (7, 8) = (1 1 + 2 3, 1 0 + 2 4).
        // Query 1, heads (0, -1): head 0 adds (0, 0), head 1 (-3, -4).
        const attn::matrix heads = {{1, 2}, {0, -1}};
        const attn::matrix w_o = {{1, 0}, {3, 4}};
        INFO(kit::show("heads", heads));
        INFO(kit::show("w_o", w_o));
        const attn::tensor3 expected = {{{1, 0}, {0, 0}},
                                        {{6, 8}, {-3, -4}}};
        REQUIRE_THAT(exercise::head_contributions(heads, w_o, 2),
                     IsCloseTo(expected));
    }
    SECTION("against attn::multi_head_attention: the sum, and one gate open")
    {
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            CAPTURE(seed);
            const std::size_t H = 1 + seed, d_model = 4 * H, n = 5;
            const attn::multi_head_weights w =
                book_test::random_multi_head_weights(d_model, seed, 0.5);
            const attn::matrix x = random_matrix(n, d_model, seed + 10);
            const attn::multi_head_result r =
                attn::multi_head_attention(x, x, w, H);
            const attn::tensor3 c =
                exercise::head_contributions(r.heads, w.w_o, H);
            REQUIRE(c.shape()[0] == H);
            // Eq. (3.6): the contributions add up to heads w_o = y - b_o.
            const attn::matrix sum = xt::sum(c, {0});
            REQUIRE_THAT(sum, IsCloseTo(r.y - w.b_o, 1e-10, 1e-12));
            // Eq. (3.7): with only gate h open the layer outputs
            // contribution(h) + b_o.
            for (std::size_t h = 0; h < H; ++h) {
                attn::vector gates = xt::zeros<double>({H});
                gates(h) = 1.0;
                const attn::matrix y_h =
                    attn::multi_head_attention(x, x, w, H, {}, gates).y;
                const attn::matrix c_h = xt::view(c, h, xt::all(), xt::all());
                REQUIRE_THAT(c_h, IsCloseTo(y_h - w.b_o, 1e-10, 1e-12));
            }
        }
    }
    SECTION("refuses inconsistent shapes")
    {
        const attn::matrix heads = xt::zeros<double>({2, 6});
        const attn::matrix w_o = xt::zeros<double>({6, 6});
        REQUIRE_THROWS_AS(exercise::head_contributions(heads, w_o, 4),
                          std::invalid_argument);
        const attn::matrix w_bad = xt::zeros<double>({4, 6});
        REQUIRE_THROWS_AS(exercise::head_contributions(heads, w_bad, 2),
                          std::invalid_argument);
    }
}

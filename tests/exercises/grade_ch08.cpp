// Grader of the coding exercises of chapter 8. It is compiled twice: with
// the student's files (code/exercises) and with the reference solutions
// (tests/solutions). Each TEST_CASE grades one exercise, tagged [ex_8_N].
#include <cmath>
#include <cstddef>
#include <stdexcept>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/grouped_query.hpp"
#include "attention/multi_head.hpp"
#include "attention/rotary.hpp"
#include "attention/sliding_window.hpp"
#include "ch08_modern.hpp"
#include "kit.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;
using book_test::random_matrix;

TEST_CASE("Exercise 8.5: mean_pool_kv, Ainslie et al.'s conversion to "
          "grouped-query attention", "[grade][ex_8_5]")
{
    SECTION("hand-worked: H = 4 heads of width 1, G = 2")
    {
        // Heads 0, 1 form group 0, heads 2, 3 group 1: row (1, 3, 5, 9)
        // pools to ((1 + 3)/2, (5 + 9)/2) = (2, 7).
        const attn::matrix w = {{1.0, 3.0, 5.0, 9.0}, {0.0, 2.0, -2.0, 4.0}};
        const attn::matrix expected = {{2.0, 7.0}, {1.0, 1.0}};
        INFO("H = 4, G = 2, " << kit::show("w", w));
        const attn::matrix got = exercise::mean_pool_kv(w, 4, 2);
        INFO(kit::side_by_side(expected, got));
        // Pooling heads 0 and 2 (h mod G) instead of neighbours 0 and 1:
        // (1 + 5)/2, (3 + 9)/2 = (3, 6) and (-1, 3).
        INFO(kit::hint_if(got.shape() == expected.shape()
                              && xt::allclose(got, attn::matrix{{3.0, 6.0},
                                                                {-1.0, 3.0}}),
                          "you pooled heads h and h + G together: group g "
                          "holds the NEIGHBOURING heads g H/G ... "
                          "(g+1) H/G - 1"));
        REQUIRE_THAT(got, IsCloseTo(expected));
    }
    SECTION("G = H keeps every head, G = 1 averages them all")
    {
        const attn::matrix w = random_matrix(6, 12, 3);  // H = 4, d = 3
        REQUIRE_THAT(exercise::mean_pool_kv(w, 4, 4), IsCloseTo(w));
        attn::matrix mean = xt::zeros<double>({6, 3});
        for (std::size_t h = 0; h < 4; ++h) {
            mean += xt::view(w, xt::all(), xt::range(3 * h, 3 * h + 3)) / 4.0;
        }
        REQUIRE_THAT(exercise::mean_pool_kv(w, 4, 1), IsCloseTo(mean));
    }
    SECTION("heads that are equal within each group: the converted layer "
            "computes what the multi-head layer did")
    {
        const std::size_t d_model = 8, heads = 4, groups = 2, d = 2;
        const attn::matrix g_k = random_matrix(d_model, groups * d, 5);
        const attn::matrix g_v = random_matrix(d_model, groups * d, 6);
        const attn::multi_head_weights mh{
            random_matrix(d_model, d_model, 7),
            attn::repeat_groups(g_k, heads, groups),
            attn::repeat_groups(g_v, heads, groups),
            random_matrix(d_model, d_model, 8),
            xt::zeros<double>({d_model})};
        const attn::grouped_query_weights gq{
            mh.w_q, exercise::mean_pool_kv(mh.w_k, heads, groups),
            exercise::mean_pool_kv(mh.w_v, heads, groups), mh.w_o, mh.b_o};
        const attn::matrix x = random_matrix(5, d_model, 9);
        const auto mask = attn::causal_mask(5, 5);
        REQUIRE_THAT(
            attn::grouped_query_attention(x, x, gq, heads, groups, mask).y,
            IsCloseTo(attn::multi_head_attention(x, x, mh, heads, mask).y,
                      1e-12));
    }
    SECTION("bad groups are refused")
    {
        const attn::matrix w = random_matrix(3, 8, 1);
        REQUIRE_THROWS_AS(exercise::mean_pool_kv(w, 4, 3),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::mean_pool_kv(w, 4, 0),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::mean_pool_kv(w, 3, 1),
                          std::invalid_argument);
    }
}

TEST_CASE("Exercise 8.6: sliding_window_decode with a ring buffer equals "
          "the windowed full pass", "[grade][ex_8_6]")
{
    SECTION("hand-worked: W = 1, each query sees only its own value")
    {
        const attn::matrix q = {{1.0}, {2.0}, {3.0}};
        const attn::matrix v = {{4.0, 0.0}, {5.0, 1.0}, {6.0, 2.0}};
        REQUIRE_THAT(exercise::sliding_window_decode(q, q, v, 1),
                     IsCloseTo(v));
    }
    SECTION("against the masked full pass, many wraps, with RoPE")
    {
        for (std::size_t window : {2u, 3u, 5u, 40u}) {
            CAPTURE(window);
            const std::size_t n = 31;
            const attn::matrix q =
                attn::rope_interleaved(random_matrix(n, 4, window));
            const attn::matrix k =
                attn::rope_interleaved(random_matrix(n, 4, window + 50));
            const attn::matrix v = random_matrix(n, 3, window + 100);
            const attn::matrix expected = attn::masked_attend(
                q, k, v, attn::sliding_window_mask(n, n, window)).y;
            REQUIRE_THAT(exercise::sliding_window_decode(q, k, v, window),
                         IsCloseTo(expected, 1e-12));
        }
    }
    SECTION("a window of 0 is refused")
    {
        const attn::matrix q = random_matrix(2, 2, 1);
        REQUIRE_THROWS_AS(exercise::sliding_window_decode(q, q, q, 0),
                          std::invalid_argument);
    }
}

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

// What a grader shows a student (tests/exercises/kit.hpp), for the test
// cases below; included here so that the file above stays as it was.
#include <string>
#include <vector>

#include "attention/masking.hpp"
#include "kit.hpp"

// Exercise 8.5's edge case stated in its starter: H = 0.
TEST_CASE("Exercise 8.5 (edge cases): mean_pool_kv refuses H = 0",
          "[grade][ex_8_5]")
{
    const attn::matrix w = random_matrix(3, 8, 1);
    REQUIRE_THROWS_AS(exercise::mean_pool_kv(w, 0, 1),
                      std::invalid_argument);
}

// Exercise 8.6's edge cases stated in its starter: no positions, and
// shapes that do not fit (chosen so that a function that does not check
// them reads no row or column that is not there).
TEST_CASE("Exercise 8.6 (edge cases): sliding_window_decode with no "
          "positions, and shapes that do not fit", "[grade][ex_8_6]")
{
    const attn::matrix none = xt::zeros<double>({0, 2});
    REQUIRE_THAT(exercise::sliding_window_decode(
                     none, none, attn::matrix(xt::zeros<double>({0, 3})), 2),
                 IsCloseTo(attn::matrix(xt::zeros<double>({0, 3}))));
    const attn::matrix q = random_matrix(4, 2, 1);
    {
        INFO("k has 5 rows for 4 queries");
        REQUIRE_THROWS_AS(exercise::sliding_window_decode(
                              q, random_matrix(5, 2, 2),
                              random_matrix(5, 3, 3), 2),
                          std::invalid_argument);
    }
    {
        INFO("q is 3 wide, k 2");
        REQUIRE_THROWS_AS(exercise::sliding_window_decode(
                              random_matrix(4, 3, 4), q,
                              random_matrix(4, 3, 5), 2),
                          std::invalid_argument);
    }
    {
        INFO("v has 5 rows for 4 keys");
        REQUIRE_THROWS_AS(exercise::sliding_window_decode(
                              q, q, random_matrix(5, 3, 6), 2),
                          std::invalid_argument);
    }
}

TEST_CASE("Exercise 8.10: find the bug in grouped_query_heads",
          "[grade][ex_8_10]")
{
    // The heads by the book's grouped-query layer (chapter 8's library,
    // tested there), fed q, k and v through projections that pick their
    // columns: x = [q | k | v], so x W_q = q, x W_k = k, x W_v = v exactly.
    const auto library_heads = [](const attn::matrix& q, const attn::matrix& k,
                                  const attn::matrix& v, std::size_t heads,
                                  std::size_t groups) {
        const std::size_t n = q.shape()[0], w_q = q.shape()[1],
                          w_kv = k.shape()[1], d_x = w_q + 2 * w_kv;
        attn::matrix x = xt::zeros<double>({n, d_x});
        xt::view(x, xt::all(), xt::range(0, w_q)) = q;
        xt::view(x, xt::all(), xt::range(w_q, w_q + w_kv)) = k;
        xt::view(x, xt::all(), xt::range(w_q + w_kv, d_x)) = v;
        const auto pick = [d_x](std::size_t from, std::size_t width) {
            attn::matrix p = xt::zeros<double>({d_x, width});
            for (std::size_t c = 0; c < width; ++c) {
                p(from + c, c) = 1.0;
            }
            return p;
        };
        const attn::grouped_query_weights w{
            pick(0, w_q), pick(w_q, w_kv), pick(w_q + w_kv, w_kv),
            xt::zeros<double>({w_q, d_x}), xt::zeros<double>({d_x})};
        return attn::grouped_query_attention(x, x, w, heads, groups,
                                             attn::causal_mask(n, n)).y_cat;
    };
    // What dealing the query heads out in turn (g = h mod G) gives.
    const auto dealt_in_turn = [](const attn::matrix& q, const attn::matrix& k,
                                  const attn::matrix& v, std::size_t heads,
                                  std::size_t groups) {
        const std::size_t n = q.shape()[0], d = q.shape()[1] / heads;
        attn::matrix y = xt::zeros<double>({n, heads * d});
        for (std::size_t h = 0; h < heads; ++h) {
            const std::size_t g = h % groups;
            const attn::matrix q_h =
                xt::view(q, xt::all(), xt::range(h * d, (h + 1) * d));
            const attn::matrix k_g =
                xt::view(k, xt::all(), xt::range(g * d, (g + 1) * d));
            const attn::matrix v_g =
                xt::view(v, xt::all(), xt::range(g * d, (g + 1) * d));
            xt::view(y, xt::all(), xt::range(h * d, (h + 1) * d)) =
                attn::masked_attend(q_h, k_g, v_g,
                                    attn::causal_mask(n, n)).y;
        }
        return y;
    };
    const std::string in_turn =
        "query head h reads key-value head h mod G: the groups are dealt out "
        "in turn. Eq. (8.6) puts H / G consecutive heads in one group, "
        "g = floor(h / (H / G)) (the order of repeat_interleave)";
    SECTION("hand-worked: one token, H = 4, G = 2, d = 1")
    {
        // With one token each head's only key is its group's, with weight
        // 1: head h outputs v_g. Heads 0, 1 read group 0 (v = 10), heads
        // 2, 3 group 1 (v = 20).
        const attn::matrix q = {{1.0, -2.0, 3.0, 0.5}};
        const attn::matrix k = {{0.3, -0.7}};
        const attn::matrix v = {{10.0, 20.0}};
        const attn::matrix expected = {{10.0, 10.0, 20.0, 20.0}};
        const attn::matrix got = exercise::grouped_query_heads(q, k, v, 4, 2);
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(got.shape() == expected.shape()
                              && xt::allclose(got, attn::matrix{{10.0, 20.0,
                                                                 10.0, 20.0}}),
                          in_turn));
        REQUIRE_THAT(got, IsCloseTo(expected));
    }
    SECTION("equals the library's grouped-query layer, causal mask")
    {
        const std::size_t n = 5, d = 2;
        for (const auto& [heads, groups] :
             std::vector<std::pair<std::size_t, std::size_t>>{
                 {4, 2}, {6, 2}, {6, 3}, {4, 4}, {4, 1}}) {
            INFO("H = " << heads << ", G = " << groups);
            const attn::matrix q = random_matrix(n, heads * d, heads);
            const attn::matrix k = random_matrix(n, groups * d, 10 + groups);
            const attn::matrix v = random_matrix(n, groups * d, 20 + groups);
            const attn::matrix expected =
                library_heads(q, k, v, heads, groups);
            const attn::matrix got =
                exercise::grouped_query_heads(q, k, v, heads, groups);
            const attn::matrix wrong = dealt_in_turn(q, k, v, heads, groups);
            INFO(kit::side_by_side(expected, got));
            INFO(kit::hint_if(got.shape() == wrong.shape()
                                  && xt::allclose(got, wrong, 1e-9, 1e-12)
                                  && !xt::allclose(expected, wrong),
                              in_turn));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-12));
        }
    }
    SECTION("refuses no tokens, bad groups and keys or values that do not "
            "fit")
    {
        const attn::matrix q = random_matrix(3, 8, 1);   // H = 4, d = 2
        const attn::matrix kv = random_matrix(3, 4, 2);  // G = 2
        REQUIRE_THROWS_AS(exercise::grouped_query_heads(
                              attn::matrix(xt::zeros<double>({0, 8})),
                              attn::matrix(xt::zeros<double>({0, 4})),
                              attn::matrix(xt::zeros<double>({0, 4})), 4, 2),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::grouped_query_heads(q, kv, kv, 4, 3),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::grouped_query_heads(q, kv, kv, 4, 0),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::grouped_query_heads(q, kv, kv, 3, 1),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::grouped_query_heads(
                              q, random_matrix(3, 6, 3), kv, 4, 2),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::grouped_query_heads(
                              q, kv, random_matrix(4, 4, 4), 4, 2),
                          std::invalid_argument);
    }
}

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

// Exercise 3.8 onwards (headers included here, so that the exercises above
// stay as they were).
#include <array>
#include <cmath>
#include <string>

#include "attention/attend.hpp"
#include "exercises/kit.hpp"

namespace {

// What the heads come out as when each of q, k, v is cut into heads by a
// reshape of its row-major buffer to (H, n, d_k) instead of by column
// blocks: head h gets the n d_k consecutive numbers from h n d_k on. The
// grader recognises this mistake by computing it with chapter 2's attend.
attn::matrix heads_of_reshape(const attn::matrix& q, const attn::matrix& k,
                              const attn::matrix& v, std::size_t H)
{
    const std::size_t n_q = q.shape()[0], d_model = q.shape()[1];
    const std::size_t n_k = k.shape()[0], d_k = d_model / H;
    const auto slab = [&](const attn::matrix& m, std::size_t n,
                          std::size_t h) {
        attn::matrix b = xt::zeros<double>({n, d_k});
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t c = 0; c < d_k; ++c) {
                b(i, c) = m.data()[h * n * d_k + i * d_k + c];
            }
        }
        return b;
    };
    attn::matrix y = xt::zeros<double>({n_q, d_model});
    for (std::size_t h = 0; h < H; ++h) {
        const attn::matrix y_h =
            attn::attend(slab(q, n_q, h), slab(k, n_k, h), slab(v, n_k, h)).y;
        xt::view(y, xt::all(), xt::range(h * d_k, (h + 1) * d_k)) = y_h;
    }
    return y;
}

// got equals expected, shapes first (the check the hint is attached to).
bool same_matrix_ch03(const attn::matrix& got, const attn::matrix& expected)
{
    return got.shape() == expected.shape()
           && xt::allclose(got, expected, 1e-12, 1e-14);
}

}  // namespace

TEST_CASE("Exercise 3.8: find the bug in multi_head_outputs",
          "[grade][ex_3_8]")
{
    const std::string reshape_hint =
        "your heads are slabs of consecutive numbers of the row-major "
        "buffer (a reshape to (H, n, d_k)), that is whole rows: head h must "
        "own the columns [h d_k, (h+1) d_k) of every row, Eq. (3.1). A "
        "reshape is right only when n = 1 or H = 1.";
    SECTION("hand-worked, two heads of width 1")
    {
        // q = k = 0: every score is 0, so each head's weights are uniform,
        // (1/2, 1/2), and its output is the mean of its values. Head 0's
        // values are column 0 of v, (1, 3), mean 2; head 1's are column 1,
        // (2, 4), mean 3. Both queries get (2, 3).
        const attn::matrix q = xt::zeros<double>({2, 2});
        const attn::matrix k = xt::zeros<double>({2, 2});
        const attn::matrix v = {{1, 2}, {3, 4}};
        const attn::matrix expected = {{2, 3}, {2, 3}};
        const attn::matrix got = exercise::multi_head_outputs(q, k, v, 2);
        INFO(kit::show("v", v));
        INFO("q = k = 0, H = 2");
        INFO(kit::side_by_side(expected, got));
        // A reshape gives head 0 the values (1, 2) (row 0), mean 1.5, and
        // head 1 the values (3, 4), mean 3.5.
        INFO(kit::hint_if(same_matrix_ch03(got, {{1.5, 3.5}, {1.5, 3.5}}),
                          reshape_hint));
        REQUIRE_THAT(got, IsCloseTo(expected));
    }
    SECTION("hand-worked, one head of width 2: the scale 1/sqrt(d_k)")
    {
        // H = 1, d_k = 2, q = (a, a) with a = ln 3 / sqrt(2), keys (1, 1)
        // and (0, 0): scores (2a / sqrt(2), 0) = (ln 3, 0), weights
        // (3/4, 1/4); values (4, 8) and (0, 4): output (3, 7).
        const double a = std::log(3.0) / std::sqrt(2.0);
        const attn::matrix q = {{a, a}};
        const attn::matrix k = {{1, 1}, {0, 0}};
        const attn::matrix v = {{4, 8}, {0, 4}};
        const attn::matrix expected = {{3, 7}};
        const attn::matrix got = exercise::multi_head_outputs(q, k, v, 1);
        INFO(kit::show("q", q));
        INFO(kit::show("k", k));
        INFO(kit::show("v", v));
        INFO(kit::side_by_side(expected, got));
        REQUIRE_THAT(got, IsCloseTo(expected));
    }
    SECTION("head h is chapter 2's attend on column block h, over seeds")
    {
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            const std::size_t n_q = 2 + seed, n_k = 3 + seed % 3;
            const std::size_t H = 2 + seed % 3, d_k = 1 + seed % 2;
            const std::size_t d_model = H * d_k;
            const attn::matrix q = random_matrix(n_q, d_model, seed);
            const attn::matrix k = random_matrix(n_k, d_model, seed + 10);
            const attn::matrix v = random_matrix(n_k, d_model, seed + 20);
            attn::matrix expected = xt::zeros<double>({n_q, d_model});
            for (std::size_t h = 0; h < H; ++h) {
                const attn::matrix q_h = attn::head_view(q, h, d_k);
                const attn::matrix k_h = attn::head_view(k, h, d_k);
                const attn::matrix v_h = attn::head_view(v, h, d_k);
                xt::view(expected, xt::all(),
                         xt::range(h * d_k, (h + 1) * d_k)) =
                    attn::attend(q_h, k_h, v_h).y;
            }
            const attn::matrix got = exercise::multi_head_outputs(q, k, v, H);
            INFO("seed " << seed << ": n_q = " << n_q << ", n_k = " << n_k
                         << ", H = " << H << ", d_k = " << d_k);
            INFO(kit::show("q", q));
            INFO(kit::side_by_side(expected, got));
            INFO(kit::hint_if(same_matrix_ch03(got, heads_of_reshape(q, k, v, H)),
                              reshape_hint));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-14));
        }
    }
    SECTION("edge cases: no query; refuses bad H and bad shapes")
    {
        const attn::matrix k = xt::ones<double>({3, 6});
        const attn::matrix none = xt::zeros<double>({0, 6});
        INFO("n_q = 0 must give Y_cat of shape (0, 6)");
        REQUIRE(exercise::multi_head_outputs(none, k, k, 2).shape()
                == std::array<std::size_t, 2>{0, 6});
        INFO("H = 4 or 0 with d_model = 6, k of width 4, v of 2 rows, "
             "n_k = 0: each must throw std::invalid_argument");
        const attn::matrix q = xt::ones<double>({2, 6});
        REQUIRE_THROWS_AS(exercise::multi_head_outputs(q, k, k, 4),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::multi_head_outputs(q, k, k, 0),
                          std::invalid_argument);
        const attn::matrix k_narrow = xt::ones<double>({3, 4});
        REQUIRE_THROWS_AS(exercise::multi_head_outputs(q, k_narrow, k, 2),
                          std::invalid_argument);
        const attn::matrix v_short = xt::ones<double>({2, 6});
        REQUIRE_THROWS_AS(exercise::multi_head_outputs(q, k, v_short, 2),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::multi_head_outputs(q, none, none, 2),
                          std::invalid_argument);
    }
}

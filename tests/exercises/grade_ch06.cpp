// Grader of the coding exercises of chapter 6. It is compiled twice: with
// the student's files (code/exercises) and with the reference solutions
// (tests/solutions). Each TEST_CASE grades one exercise, tagged [ex_6_N].
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "attention/attend.hpp"
#include "attention/scale.hpp"
#include "ch06_online_softmax.hpp"
#include "kit.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;
using book_test::random_matrix;

namespace {

const double minus_inf = -std::numeric_limits<double>::infinity();

// The state of the keys [j0, j1) for queries q, by the library's online
// softmax (chapter 6), fed one key at a time.
exercise::softmax_state library_state(const attn::matrix& q,
                                      const attn::matrix& k,
                                      const attn::matrix& v, std::size_t j0,
                                      std::size_t j1)
{
    attn::online_softmax_state st =
        attn::online_softmax_start(q.shape()[0], v.shape()[1]);
    const double scale = 1.0 / std::sqrt(double(q.shape()[1]));
    for (std::size_t j = j0; j < j1; ++j) {
        const attn::matrix k_j = xt::view(k, xt::range(j, j + 1), xt::all());
        const attn::matrix v_j = xt::view(v, xt::range(j, j + 1), xt::all());
        const attn::matrix s_j =
            xt::linalg::dot(q, xt::transpose(k_j)) * scale;     // (n_q, 1)
        attn::online_softmax_update(st, s_j, v_j);
    }
    return {st.m, st.l, st.o};
}

attn::matrix finish(const exercise::softmax_state& st)
{
    return attn::online_softmax_finish({st.m, st.l, st.o});
}

}  // namespace

TEST_CASE("Exercise 6.6: merge_states of two disjoint key sets",
          "[grade][ex_6_6]")
{
    SECTION("hand-worked: exercise 2's scores (2, 0 | 4), values (1, 2 | 3)")
    {
        // Keys {0, 1}: m = 2, l = e^0 + e^-2, o = 1 e^0 + 2 e^-2.
        // Key {2}:     m = 4, l = 1, o = 3.
        // Union: m = 4; the first state is scaled by e^(2 - 4) = e^-2:
        //   l = e^-2 (1 + e^-2) + 1 = 1 + e^-2 + e^-4,
        //   o = e^-2 (1 + 2 e^-2) + 3 = 3 + e^-2 + 2 e^-4.
        const double e2 = std::exp(-2.0), e4 = std::exp(-4.0);
        const exercise::softmax_state a{{2.0}, {1.0 + e2}, {{1.0 + 2 * e2}}};
        const exercise::softmax_state b{{4.0}, {1.0}, {{3.0}}};
        INFO("state a: m = 2, l = 1 + e^-2, o = 1 + 2 e^-2 (keys 0, 1); "
             "state b: m = 4, l = 1, o = 3 (key 2)");
        const exercise::softmax_state r = exercise::merge_states(a, b);
        REQUIRE_THAT(r.m, IsCloseTo(attn::vector{4.0}));
        REQUIRE_THAT(r.l, IsCloseTo(attn::vector{1.0 + e2 + e4}));
        REQUIRE_THAT(r.o, IsCloseTo(attn::matrix{{3.0 + e2 + 2 * e4}}));
        // Merging the other way round gives the same state.
        const exercise::softmax_state r2 = exercise::merge_states(b, a);
        REQUIRE_THAT(r2.l, IsCloseTo(r.l));
        REQUIRE_THAT(r2.o, IsCloseTo(r.o));
    }
    SECTION("an empty state adds nothing; two empty states stay empty")
    {
        // Row 0: a has seen keys, b none. Row 1: neither has.
        const exercise::softmax_state a{{1.0, minus_inf}, {2.0, 0.0},
                                        {{3.0, 4.0}, {0.0, 0.0}}};
        const exercise::softmax_state b{{minus_inf, minus_inf}, {0.0, 0.0},
                                        {{0.0, 0.0}, {0.0, 0.0}}};
        for (const auto& r : {exercise::merge_states(a, b),
                              exercise::merge_states(b, a)}) {
            REQUIRE(r.m(0) == 1.0);
            REQUIRE(r.m(1) == minus_inf);
            REQUIRE_THAT(r.l, IsCloseTo(attn::vector{2.0, 0.0}));
            REQUIRE_THAT(r.o, IsCloseTo(attn::matrix{{3.0, 4.0},
                                                      {0.0, 0.0}}));
        }
    }
    SECTION("split anywhere, merged, equals attention over all keys")
    {
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            CAPTURE(seed);
            const std::size_t n_q = 3, n_k = 9, d_k = 4, d_v = 2;
            const attn::matrix q = random_matrix(n_q, d_k, seed, 3.0);
            const attn::matrix k = random_matrix(n_k, d_k, seed + 10);
            const attn::matrix v = random_matrix(n_k, d_v, seed + 20);
            const attn::matrix y = attn::attend(q, k, v).y;
            const exercise::softmax_state whole =
                library_state(q, k, v, 0, n_k);
            for (std::size_t split = 1; split < n_k; split += 2 + seed % 2) {
                const exercise::softmax_state r = exercise::merge_states(
                    library_state(q, k, v, 0, split),
                    library_state(q, k, v, split, n_k));
                REQUIRE_THAT(r.m, IsCloseTo(whole.m, 1e-12, 1e-12));
                REQUIRE_THAT(r.l, IsCloseTo(whole.l, 1e-12, 1e-12));
                REQUIRE_THAT(r.o, IsCloseTo(whole.o, 1e-12, 1e-12));
                REQUIRE_THAT(finish(r), IsCloseTo(y, 1e-12, 1e-12));
            }
        }
    }
    SECTION("refuses states of different shapes")
    {
        const exercise::softmax_state a{{1.0}, {1.0}, {{1.0}}};
        const exercise::softmax_state b{{1.0, 2.0}, {1.0, 1.0},
                                        {{1.0}, {2.0}}};
        REQUIRE_THROWS_AS(exercise::merge_states(a, b),
                          std::invalid_argument);
    }
}

TEST_CASE("Exercise 6.7: attention_online block by block",
          "[grade][ex_6_7]")
{
    SECTION("hand-worked: the chapter's row (1, 3 | 5, 2)")
    {
        // d_k = 1, q = 1, keys (1, 3, 5, 2): the scores are (1, 3, 5, 2).
        // With the maximum 5: weights proportional to e^-4, e^-2, 1, e^-3,
        // y = (10 e^-4 + 20 e^-2 + 30 + 40 e^-3) / (e^-4 + e^-2 + 1 + e^-3).
        const attn::matrix q = {{1.0}};
        const attn::matrix k = {{1.0}, {3.0}, {5.0}, {2.0}};
        const attn::matrix v = {{10.0}, {20.0}, {30.0}, {40.0}};
        const double a = std::exp(-4.0), b = std::exp(-2.0),
                     c = std::exp(-3.0);
        const double y = (10 * a + 20 * b + 30 + 40 * c) / (a + b + 1 + c);
        INFO(kit::show("q", q) << "\n" << kit::show("k", k) << "\n"
                               << kit::show("v", v));
        for (std::size_t block : {1, 2, 3, 4, 10}) {
            INFO("block_k = " << block);
            REQUIRE_THAT(exercise::attention_online(q, k, v, block),
                         IsCloseTo(attn::matrix{{y}}, 1e-12, 1e-12));
        }
    }
    SECTION("equals attn::attend for any block size, and for large scores")
    {
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            CAPTURE(seed);
            const std::size_t n_q = 4, n_k = 11, d_k = 3, d_v = 5;
            // scale 20: scores of several hundred, whose exponentials
            // overflow unless every exponent stays at most 0.
            const double scale = seed == 4 ? 20.0 : 1.0;
            const attn::matrix q = random_matrix(n_q, d_k, seed, scale);
            const attn::matrix k = random_matrix(n_k, d_k, seed + 10, scale);
            const attn::matrix v = random_matrix(n_k, d_v, seed + 20);
            const attn::matrix y = attn::attend(q, k, v).y;
            // Attention without 1/sqrt(d_k): q scaled by sqrt(d_k) undoes
            // the scale attn::attend applies.
            const attn::matrix unscaled =
                attn::attend(q * std::sqrt(double(d_k)), k, v).y;
            for (std::size_t block : {1, 2, 4, 11, 16}) {
                INFO("seed " << seed << ", block_k = " << block);
                const attn::matrix got =
                    exercise::attention_online(q, k, v, block);
                INFO(kit::side_by_side(y, got));
                INFO(kit::hint_if(got.shape() == y.shape()
                                      && xt::allclose(got, unscaled),
                                  "your output is attention without the "
                                  "scale: are the scores divided by "
                                  "sqrt(d_k)?"));
                INFO(kit::hint_if(!xt::all(xt::isfinite(got)),
                                  "inf or NaN: keep every exponent at most "
                                  "0 (subtract the running maximum)"));
                REQUIRE_THAT(got, IsCloseTo(y, 1e-10, 1e-12));
            }
        }
    }
    SECTION("refuses a block size of 0")
    {
        const attn::matrix x = xt::ones<double>({2, 2});
        REQUIRE_THROWS_AS(exercise::attention_online(x, x, x, 0),
                          std::invalid_argument);
    }
}

// What a grader shows a student (tests/exercises/kit.hpp), for the test
// cases below; included here so that the file above stays as it was.
#include <string>

#include "attention/masking.hpp"
#include "kit.hpp"

// Exercise 6.7's edge cases, stated in its starter: no keys, no queries,
// shapes that do not fit.
TEST_CASE("Exercise 6.7 (edge cases): attention_online with no keys, "
          "no queries, shapes that do not fit", "[grade][ex_6_7]")
{
    SECTION("no keys: every query has seen nothing, its output is zero")
    {
        const attn::matrix q = random_matrix(2, 3, 1);
        const attn::matrix k = xt::zeros<double>({0, 3});
        const attn::matrix v = xt::zeros<double>({0, 4});
        const attn::matrix got = exercise::attention_online(q, k, v, 2);
        const attn::matrix expected = xt::zeros<double>({2, 4});
        bool has_nan = false;
        for (const double g : got) {
            has_nan = has_nan || std::isnan(g);
        }
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(has_nan, "with no keys l = 0 and o = 0: dividing "
                                   "o by l gives 0/0 = NaN; leave such rows "
                                   "at zero"));
        REQUIRE_THAT(got, IsCloseTo(expected));
    }
    SECTION("no queries: an output of (0, d_v)")
    {
        const attn::matrix q = xt::zeros<double>({0, 3});
        const attn::matrix k = random_matrix(5, 3, 2);
        const attn::matrix v = random_matrix(5, 2, 3);
        REQUIRE_THAT(exercise::attention_online(q, k, v, 2),
                     IsCloseTo(attn::matrix(xt::zeros<double>({0, 2}))));
    }
    SECTION("refuses k of another width than q, and v with other rows")
    {
        const attn::matrix q = random_matrix(2, 3, 4);
        const attn::matrix k = random_matrix(5, 3, 5);
        const attn::matrix v = random_matrix(5, 2, 6);
        const attn::matrix k_narrow = random_matrix(5, 2, 7);
        const attn::matrix v_short = random_matrix(4, 2, 8);
        {
            INFO("k is (5, 2) while q is (2, 3): the widths differ");
            REQUIRE_THROWS_AS(exercise::attention_online(q, k_narrow, v, 2),
                              std::invalid_argument);
        }
        {
            INFO("v has 4 rows for 5 keys");
            REQUIRE_THROWS_AS(exercise::attention_online(q, k, v_short, 2),
                              std::invalid_argument);
        }
    }
}

TEST_CASE("Exercise 6.8: find the bug in decode_head_with_cache",
          "[grade][ex_6_8]")
{
    // What the cache must reproduce: causal self-attention over the whole
    // sequence (chapter 4's library, tested there), and what the most
    // likely bug gives instead: each query sees only the keys before it.
    const auto full_pass = [](const attn::matrix& x, const attn::matrix& w_q,
                              const attn::matrix& w_k,
                              const attn::matrix& w_v, attn::diagonal diag) {
        const std::size_t n = x.shape()[0];
        return attn::masked_attend(xt::linalg::dot(x, w_q),
                                   xt::linalg::dot(x, w_k),
                                   xt::linalg::dot(x, w_v),
                                   attn::causal_mask(n, n, diag)).y;
    };
    const std::string own_key =
        "each token attends only to the tokens before it, never to itself "
        "(row 0 is zero): at step t the cache must already hold t + 1 keys, "
        "the new token's included, when its query attends";
    SECTION("hand-worked: two tokens x = (1, 2), every weight 1")
    {
        // d_model = d_k = d_v = 1, so q_t = k_t = v_t = x_t.
        // Step 0: one key, its own: y_0 = v_0 = 1.
        // Step 1: q_1 = 2, scores 2 * 1 = 2 and 2 * 2 = 4, weights
        // (e^2, e^4) / (e^2 + e^4) = (1, e^2) / (1 + e^2):
        // y_1 = (1 + 2 e^2) / (1 + e^2).
        const attn::matrix x = {{1.0}, {2.0}};
        const attn::matrix one = {{1.0}};
        const double e2 = std::exp(2.0);
        const attn::matrix expected = {{1.0}, {(1.0 + 2.0 * e2) / (1.0 + e2)}};
        const attn::matrix got =
            exercise::decode_head_with_cache(x, one, one, one);
        // Seeing only the earlier tokens: y_0 = 0 (no key), y_1 = v_0 = 1.
        const attn::matrix earlier_only = {{0.0}, {1.0}};
        INFO(kit::show("x", x));
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(got.shape() == earlier_only.shape()
                              && xt::allclose(got, earlier_only),
                          own_key));
        REQUIRE_THAT(got, IsCloseTo(expected, 1e-12));
    }
    SECTION("equals causal self-attention over the whole sequence")
    {
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            CAPTURE(seed);
            const std::size_t n = 7, d_model = 5, d_k = 3, d_v = 2;
            const attn::matrix x = random_matrix(n, d_model, seed);
            const attn::matrix w_q = random_matrix(d_model, d_k, seed + 10);
            const attn::matrix w_k = random_matrix(d_model, d_k, seed + 20);
            const attn::matrix w_v = random_matrix(d_model, d_v, seed + 30);
            const attn::matrix expected =
                full_pass(x, w_q, w_k, w_v, attn::diagonal::included);
            const attn::matrix earlier_only =
                full_pass(x, w_q, w_k, w_v, attn::diagonal::excluded);
            const attn::matrix got =
                exercise::decode_head_with_cache(x, w_q, w_k, w_v);
            INFO(kit::show("x", x));
            INFO(kit::side_by_side(expected, got));
            INFO(kit::hint_if(got.shape() == earlier_only.shape()
                                  && xt::allclose(got, earlier_only),
                              own_key));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-12));
        }
    }
    SECTION("no tokens, and weights that do not fit")
    {
        const attn::matrix w = random_matrix(4, 3, 1);
        const attn::matrix w_v = random_matrix(4, 2, 2);
        const attn::matrix none = xt::zeros<double>({0, 4});
        REQUIRE_THAT(exercise::decode_head_with_cache(none, w, w, w_v),
                     IsCloseTo(attn::matrix(xt::zeros<double>({0, 2}))));
        const attn::matrix x = random_matrix(3, 4, 3);
        const attn::matrix w_k_wide = random_matrix(4, 5, 5);
        REQUIRE_THROWS_AS(exercise::decode_head_with_cache(x, w, w_k_wide,
                                                           w_v),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::decode_head_with_cache(
                              random_matrix(3, 5, 6), w, w, w_v),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::decode_head_with_cache(
                              x, w, w, random_matrix(3, 2, 7)),
                          std::invalid_argument);
    }
}

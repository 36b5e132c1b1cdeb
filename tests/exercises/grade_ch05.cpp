// Grader of the coding exercises of chapter 5. It is compiled twice: with
// the student's files (code/exercises) and with the reference solutions
// (tests/solutions). Each TEST_CASE grades one exercise, tagged [ex_5_N].
#include <cmath>
#include <cstddef>
#include <functional>
#include <stdexcept>

#include <catch2/catch.hpp>
#include <xtensor/xview.hpp>

#include "attention/attend.hpp"
#include "attention/multi_head.hpp"
#include "attention/multi_head_backward.hpp"
#include "ch05_gradients.hpp"
#include "kit.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;
using book_test::central_differences;
using book_test::random_matrix;

TEST_CASE("Exercise 5.6: gate_gradients", "[grade][ex_5_6]")
{
    SECTION("hand-worked, two heads of width 1")
    {
        // heads = [Y^0 Y^1] = (1, 2), w_o = I, dL_dy = (3, -1): Ybar = dL_dy.
        // dL/dxi_0 = 1 * 3 = 3, dL/dxi_1 = 2 * (-1) = -2.
        // With w_o = [[0, 1], [1, 0]] (swap): Ybar = dL_dy w_o^T = (-1, 3),
        // so dL/dxi_0 = 1 * (-1) = -1, dL/dxi_1 = 2 * 3 = 6.
        const attn::matrix heads = {{1.0, 2.0}};
        const attn::matrix dL_dy = {{3.0, -1.0}};
        const attn::matrix eye = {{1.0, 0.0}, {0.0, 1.0}};
        const attn::matrix swap = {{0.0, 1.0}, {1.0, 0.0}};
        REQUIRE_THAT(exercise::gate_gradients(heads, eye, dL_dy, 2),
                     IsCloseTo(attn::vector{3.0, -2.0}));
        REQUIRE_THAT(exercise::gate_gradients(heads, swap, dL_dy, 2),
                     IsCloseTo(attn::vector{-1.0, 6.0}));
        // One head: the whole inner product 1 * 3 + 2 * (-1) = 1.
        REQUIRE_THAT(exercise::gate_gradients(heads, eye, dL_dy, 1),
                     IsCloseTo(attn::vector{1.0}));
    }
    SECTION("equals finite differences of L = sum(dL_dy * y(gates)) and "
            "attn::multi_head_attention_backward")
    {
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            CAPTURE(seed);
            const std::size_t H = 1 + seed, d_model = 3 * H;
            const std::size_t n_q = 4, n_k = 6;
            const attn::multi_head_weights w =
                book_test::random_multi_head_weights(d_model, seed, 0.5);
            const attn::matrix x_q = random_matrix(n_q, d_model, seed + 10);
            const attn::matrix x_kv = random_matrix(n_k, d_model, seed + 11);
            const attn::matrix dL_dy = random_matrix(n_q, d_model, seed + 12);
            const attn::multi_head_result r =
                attn::multi_head_attention(x_q, x_kv, w, H);   // gates 1
            const attn::vector got =
                exercise::gate_gradients(r.heads, w.w_o, dL_dy, H);
            // The loss is linear in each gate: differentiate at gates 1/2.
            const std::function<double(const attn::vector&)> loss =
                [&](const attn::vector& xi) {
                    return xt::sum(dL_dy * attn::multi_head_attention(
                                             x_q, x_kv, w, H, {}, xi)
                                             .y)();
                };
            const attn::vector half = 0.5 * xt::ones<double>({H});
            REQUIRE_THAT(got, IsCloseTo(central_differences(half, loss, 1e-6),
                                        1e-6, 1e-8));
            const attn::multi_head_gradients g =
                attn::multi_head_attention_backward(x_q, x_kv, w, H, r, dL_dy);
            REQUIRE_THAT(got, IsCloseTo(g.dL_dxi, 1e-10, 1e-12));
        }
    }
    SECTION("refuses a number of heads that does not divide d_model")
    {
        const attn::matrix z = xt::zeros<double>({2, 6});
        const attn::matrix w_o = xt::zeros<double>({6, 6});
        REQUIRE_THROWS_AS(exercise::gate_gradients(z, w_o, z, 4),
                          std::invalid_argument);
    }
}

TEST_CASE("Exercise 5.7: attention_backward of one head", "[grade][ex_5_7]")
{
    SECTION("hand-worked")
    {
        // One key: its weight is 1 whatever the score, so dL_dq = dL_dk = 0
        // and dL_dv = a^T dL_dy = the sum of the rows of dL_dy
        // = (1 + 3, 2 - 1).
        {
            const attn::matrix q = {{0.3}, {-2.0}}, k = {{1.5}};
            const attn::matrix v = {{7.0, 8.0}};
            const attn::matrix dL_dy = {{1.0, 2.0}, {3.0, -1.0}};
            INFO("one key: " << kit::show("q", q) << "\n" << kit::show("k", k)
                 << "\n" << kit::show("v", v) << "\n"
                 << kit::show("dL_dy", dL_dy));
            const exercise::head_gradients g =
                exercise::attention_backward(q, k, v, dL_dy);
            REQUIRE_THAT(g.dL_dq, IsCloseTo(attn::matrix{{0.0}, {0.0}}));
            REQUIRE_THAT(g.dL_dk, IsCloseTo(attn::matrix{{0.0}}));
            REQUIRE_THAT(g.dL_dv, IsCloseTo(attn::matrix{{4.0, 1.0}}));
        }
        // q = 0, keys (1, -1), values (2, 4), dL_dy = 1, width d_k = 1: the
        // scores are 0, a = (1/2, 1/2), y = 3. dL_dv = a^T dL_dy = (1/2, 1/2);
        // dL_da = dL_dy v^T = (2, 4), a . dL_da = 3,
        // dL_ds = a (dL_da - 3) = (-1/2, 1/2); dL_dq = dL_ds k = -1;
        // dL_dk = dL_ds^T q = 0. Check: y(q) = (2 e^q + 4 e^-q) / (e^q + e^-q)
        // has derivative (2 - 4) / 2 = -1 at q = 0.
        {
            const attn::matrix q = {{0.0}}, k = {{1.0}, {-1.0}};
            const attn::matrix v = {{2.0}, {4.0}}, dL_dy = {{1.0}};
            INFO("q = 0, keys (1, -1), values (2, 4), dL_dy = 1, d_k = 1");
            const exercise::head_gradients g =
                exercise::attention_backward(q, k, v, dL_dy);
            REQUIRE_THAT(g.dL_dq, IsCloseTo(attn::matrix{{-1.0}}));
            REQUIRE_THAT(g.dL_dk, IsCloseTo(attn::matrix{{0.0}, {0.0}}));
            REQUIRE_THAT(g.dL_dv, IsCloseTo(attn::matrix{{0.5}, {0.5}}));
        }
    }
    SECTION("equals central finite differences of L = sum(dL_dy * y)")
    {
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            CAPTURE(seed);
            const std::size_t n_q = 3, n_k = 5, d_k = 4, d_v = 2;
            const attn::matrix q = random_matrix(n_q, d_k, seed);
            const attn::matrix k = random_matrix(n_k, d_k, seed + 10);
            const attn::matrix v = random_matrix(n_k, d_v, seed + 20);
            const attn::matrix dL_dy = random_matrix(n_q, d_v, seed + 30);
            const exercise::head_gradients g =
                exercise::attention_backward(q, k, v, dL_dy);
            using f_of = std::function<double(const attn::matrix&)>;
            const f_of by_q = [&](const attn::matrix& x) {
                return xt::sum(dL_dy * attn::attend(x, k, v).y)();
            };
            const f_of by_k = [&](const attn::matrix& x) {
                return xt::sum(dL_dy * attn::attend(q, x, v).y)();
            };
            const f_of by_v = [&](const attn::matrix& x) {
                return xt::sum(dL_dy * attn::attend(q, k, x).y)();
            };
            REQUIRE_THAT(g.dL_dq, IsCloseTo(central_differences(q, by_q, 1e-6),
                                          1e-6, 1e-8));
            REQUIRE_THAT(g.dL_dk, IsCloseTo(central_differences(k, by_k, 1e-6),
                                          1e-6, 1e-8));
            REQUIRE_THAT(g.dL_dv, IsCloseTo(central_differences(v, by_v, 1e-6),
                                          1e-6, 1e-8));
            // Moving every key by the same vector changes no weight, so
            // the rows of dL_dk add up to zero.
            for (std::size_t c = 0; c < d_k; ++c) {
                double sum = 0.0;
                for (std::size_t j = 0; j < n_k; ++j) {
                    sum += g.dL_dk(j, c);
                }
                REQUIRE(std::abs(sum) < 1e-12);
            }
        }
    }
}

// Exercise 5.8 onwards (headers included here, so that the exercises above
// stay as they were).
#include <string>
#include <vector>

#include "attention/head_importance.hpp"
#include "exercises/kit.hpp"

namespace {

// |E_x dL(x)/dxi_h|, normalised: the importance with the absolute value
// taken after the mean, so that gradients of opposite signs cancel.
attn::vector abs_of_mean_normalised(const attn::matrix& dL_dxi)
{
    const std::size_t N = dL_dxi.shape()[0], H = dL_dxi.shape()[1];
    attn::vector out = xt::zeros<double>({H});
    for (std::size_t h = 0; h < H; ++h) {
        double sum = 0.0;
        for (std::size_t x = 0; x < N; ++x) {
            sum += dL_dxi(x, h);
        }
        out(h) = std::abs(sum / double(N));
    }
    const double norm = std::sqrt(xt::sum(out * out)());
    return norm > 0.0 ? attn::vector(out / norm) : out;
}

bool same_vector(const attn::vector& got, const attn::vector& expected)
{
    return got.shape() == expected.shape()
           && xt::allclose(got, expected, 1e-12, 1e-14);
}

const std::string cancel_hint =
    "you take the absolute value after the mean: sequences on which a head "
    "helps and sequences on which it hurts cancel. Eq. (5.10) averages "
    "|dL(x)/dxi_h|, the absolute value of each sequence's gradient.";

}  // namespace

TEST_CASE("Exercise 5.8: find the bug in head_importance", "[grade][ex_5_8]")
{
    SECTION("hand-worked: gradients of opposite signs")
    {
        // Two sequences, two heads. Head 0's gradients 3 and -3: it helps
        // one sequence as much as it hurts the other; mean |.| = 3 (the
        // signed mean is 0). Head 1's gradients -1 and -1: mean |.| = 1.
        // I = (3, 1), l2 norm sqrt(10): I^ = (3, 1) / sqrt(10).
        const attn::matrix dL_dxi = {{3.0, -1.0}, {-3.0, -1.0}};
        const attn::vector expected = attn::vector{3.0, 1.0}
                                      / std::sqrt(10.0);
        const attn::vector got = exercise::head_importance(dL_dxi);
        INFO(kit::show("dL_dxi", dL_dxi));
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(same_vector(got, abs_of_mean_normalised(dL_dxi)),
                          cancel_hint));
        INFO(kit::hint_if(kit::off_by_factor(got, expected,
                                             std::sqrt(10.0)),
                          "your importance differs by the factor sqrt(10), "
                          "the l2 norm of I = (3, 1): is the normalisation "
                          "of Eq. (5.10) missing?"));
        REQUIRE_THAT(got, IsCloseTo(expected));
    }
    SECTION("hand-worked: every gradient 0 gives zeros, not NaN")
    {
        const attn::matrix dL_dxi = xt::zeros<double>({3, 4});
        const attn::vector got = exercise::head_importance(dL_dxi);
        INFO(kit::side_by_side(attn::vector(xt::zeros<double>({4})), got));
        REQUIRE_THAT(got, IsCloseTo(attn::vector(xt::zeros<double>({4}))));
    }
    SECTION("equals attn::head_importance on tiny models, over seeds")
    {
        const attn::heads_task task;
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            const attn::tiny_model m = attn::init_tiny_model(task, seed);
            const std::vector<attn::heads_example> examples =
                attn::make_heads_examples(task, 8, seed + 100);
            // One row per sequence: its gate gradients, Eq. (5.4).
            attn::matrix dL_dxi =
                xt::zeros<double>({examples.size(), task.heads});
            for (std::size_t x = 0; x < examples.size(); ++x) {
                const auto f = attn::tiny_model_forward(task, m, examples[x]);
                const auto g =
                    attn::tiny_model_backward(task, m, examples[x], f);
                xt::view(dL_dxi, x, xt::all()) = g.layer.dL_dxi;
            }
            const attn::vector expected =
                attn::head_importance(task, m, examples);
            const attn::vector got = exercise::head_importance(dL_dxi);
            INFO("seed " << seed << ": 8 sequences, 4 heads");
            INFO(kit::show("dL_dxi", dL_dxi));
            INFO(kit::side_by_side(expected, got));
            INFO(kit::hint_if(same_vector(got,
                                          abs_of_mean_normalised(dL_dxi)),
                              cancel_hint));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-14));
        }
    }
    SECTION("refuses no sequence and no head")
    {
        INFO("dL_dxi of shape (0, 3) or (2, 0) must throw "
             "std::invalid_argument");
        REQUIRE_THROWS_AS(
            exercise::head_importance(xt::zeros<double>({0, 3})),
            std::invalid_argument);
        REQUIRE_THROWS_AS(
            exercise::head_importance(xt::zeros<double>({2, 0})),
            std::invalid_argument);
    }
}

TEST_CASE("Exercise 5.6 (edge cases): gate_gradients refuses shapes that "
          "do not fit", "[grade][ex_5_6]")
{
    // The starter states it: w_o must be (d_model, d_model) and dL_dy as
    // wide as the heads, with one row per row of heads.
    const attn::matrix z = xt::zeros<double>({2, 6});
    const attn::matrix w_o = xt::zeros<double>({6, 6});
    const attn::matrix w_bad = xt::zeros<double>({4, 6});
    REQUIRE_THROWS_AS(exercise::gate_gradients(z, w_bad, z, 2),
                      std::invalid_argument);
    const attn::matrix dy_bad = xt::zeros<double>({3, 6});
    REQUIRE_THROWS_AS(exercise::gate_gradients(z, w_o, dy_bad, 2),
                      std::invalid_argument);
}

TEST_CASE("Exercise 5.7 (edge cases): attention_backward refuses shapes "
          "that do not fit", "[grade][ex_5_7]")
{
    // q (2, 3) against k (4, 3), v (4, 2), dL_dy (2, 2): each argument in
    // turn given a shape that does not fit, and no keys at all.
    const attn::matrix q = xt::ones<double>({2, 3}), k = xt::ones<double>({4, 3});
    const attn::matrix v = xt::ones<double>({4, 2}), dy = xt::ones<double>({2, 2});
    REQUIRE_THROWS_AS(exercise::attention_backward(
                          q, xt::ones<double>({4, 2}), v, dy),
                      std::invalid_argument);
    REQUIRE_THROWS_AS(exercise::attention_backward(
                          q, k, xt::ones<double>({3, 2}), dy),
                      std::invalid_argument);
    REQUIRE_THROWS_AS(exercise::attention_backward(
                          q, k, v, xt::ones<double>({2, 3})),
                      std::invalid_argument);
    REQUIRE_THROWS_AS(exercise::attention_backward(
                          q, xt::zeros<double>({0, 3}),
                          xt::zeros<double>({0, 2}), dy),
                      std::invalid_argument);
}

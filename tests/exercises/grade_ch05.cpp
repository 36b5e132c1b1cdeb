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

// Grader of the coding exercises of chapter 1. It is compiled twice: with
// the student's files (code/exercises) and with the reference solutions
// (tests/solutions). Each TEST_CASE grades one exercise, tagged [ex_1_N].
#include <cmath>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor/xview.hpp>

#include "attention/additive.hpp"
#include "attention/alignment_toy.hpp"
#include "ch01_additive.hpp"
#include "kit.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;
using book_test::central_differences;
using book_test::random_matrix;
using book_test::random_vector;

TEST_CASE("Exercise 1.6: additive_energies", "[grade][ex_1_6]")
{
    SECTION("hand-worked, T_y = 2, T_x = 3, d_h = 1, 2d_h = 2, d_a = 2")
    {
        // W_a q_{i-1}: (0, 0) for s_0 = 0 and (1, 0) for s_1 = 1.
        // U_a = I, so U_a h_j = h_j: (0, 0), (1, -1), (0, 1).
        // e_ij = 1 tanh(first) + 2 tanh(second), with tanh odd:
        //   e_00 = 0,          e_01 = tanh 1 - 2 tanh 1 = -tanh 1,
        //   e_02 = 2 tanh 1,   e_10 = tanh 1,
        //   e_11 = tanh 2 - 2 tanh 1,   e_12 = tanh 1 + 2 tanh 1 = 3 tanh 1.
        const attn::matrix q_prev = {{0.0}, {1.0}};
        const attn::matrix h = {{0.0, 0.0}, {1.0, -1.0}, {0.0, 1.0}};
        const attn::matrix W_a = {{1.0}, {0.0}};
        const attn::matrix U_a = {{1.0, 0.0}, {0.0, 1.0}};
        const attn::vector v_a = {1.0, 2.0};
        const double t1 = std::tanh(1.0), t2 = std::tanh(2.0);
        const attn::matrix expected = {{0.0, -t1, 2 * t1},
                                       {t1, t2 - 2 * t1, 3 * t1}};
        INFO(kit::show("q_prev", q_prev) << "\n" << kit::show("h", h) << "\n"
             << kit::show("W_a", W_a) << "\n" << kit::show("U_a", U_a)
             << "\n" << kit::show("v_a", v_a));
        const attn::matrix got =
            exercise::additive_energies(q_prev, h, W_a, U_a, v_a);
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(kit::is_transpose_of(got, expected),
                          "your energies are (T_x, T_y): row i must be "
                          "decoder step i, column j encoder position j"));
        REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-15));
    }
    SECTION("equals attn::additive_energies_naive over seeds and shapes")
    {
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            CAPTURE(seed);
            const std::size_t T_y = 2 + seed, T_x = 6 - seed, n = 3,
                              two_n = 4, d_a = 1 + seed;
            const attn::matrix q_prev = random_matrix(T_y, n, seed);
            const attn::matrix h = random_matrix(T_x, two_n, seed + 10);
            const attn::matrix W_a = random_matrix(d_a, n, seed + 20);
            const attn::matrix U_a = random_matrix(d_a, two_n, seed + 30);
            const attn::vector v_a = random_vector(d_a, seed + 40);
            REQUIRE_THAT(
                exercise::additive_energies(q_prev, h, W_a, U_a, v_a),
                IsCloseTo(attn::additive_energies_naive(q_prev, h, W_a, U_a,
                                                        v_a),
                          1e-12, 1e-12));
        }
    }
    SECTION("refuses shapes that do not fit together")
    {
        const attn::matrix q_prev = xt::zeros<double>({2, 3});
        const attn::matrix h = xt::zeros<double>({4, 6});
        const attn::matrix W_a = xt::zeros<double>({5, 3});
        const attn::vector v_a = xt::zeros<double>({5});
        const attn::matrix U_bad = xt::zeros<double>({5, 5});
        REQUIRE_THROWS_AS(
            exercise::additive_energies(q_prev, h, W_a, U_bad, v_a),
            std::invalid_argument);
    }
}

TEST_CASE("Exercise 1.7: alignment_parameter_gradients of Eq. (1.9)",
          "[grade][ex_1_7]")
{
    SECTION("hand-worked, every width 1")
    {
        // W_a s + U_a h = 0.5 * 1 + 0.5 * 2 = 1.5, z = tanh 1.5, eps = 3.
        // dL/dv_a = eps z = 3 tanh 1.5.
        // u = eps v_a (1 - z^2) = 3 * 2 (1 - tanh^2 1.5) = 6 (1 - z^2);
        // dL/dW_a = u s = u, dL/dU_a = u h = 2u.
        const attn::matrix q_prev = {{1.0}}, h = {{2.0}};
        const attn::matrix W_a = {{0.5}}, U_a = {{0.5}}, eps = {{3.0}};
        const double z = std::tanh(1.5), u = 6.0 * (1.0 - z * z);
        exercise::alignment_gradients g =
            exercise::alignment_parameter_gradients(
                q_prev, h, W_a, U_a, attn::vector{2.0}, eps);
        REQUIRE_THAT(g.dL_dv_a, IsCloseTo(attn::vector{3.0 * z}));
        REQUIRE_THAT(g.dL_dW_a, IsCloseTo(attn::matrix{{u}}));
        REQUIRE_THAT(g.dL_dU_a, IsCloseTo(attn::matrix{{2.0 * u}}));
        // v_a = 0, as at the start of training: u = 0, so W_a and U_a get
        // no gradient, while dL/dv_a is still 3 tanh 1.5.
        g = exercise::alignment_parameter_gradients(q_prev, h, W_a, U_a,
                                                    attn::vector{0.0}, eps);
        REQUIRE_THAT(g.dL_dv_a, IsCloseTo(attn::vector{3.0 * z}));
        REQUIRE_THAT(g.dL_dW_a, IsCloseTo(attn::matrix{{0.0}}));
        REQUIRE_THAT(g.dL_dU_a, IsCloseTo(attn::matrix{{0.0}}));
    }
    SECTION("equals attn::alignment_gradients and finite differences")
    {
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            CAPTURE(seed);
            const std::size_t T_y = 3, T_x = 4, n = 2, two_n = 4, d_a = 3,
                              V = 5;
            attn::alignment_model model;
            model.W_a = random_matrix(d_a, n, seed);
            model.U_a = random_matrix(d_a, two_n, seed + 1);
            model.v_a = random_vector(d_a, seed + 2);
            model.W_r = random_matrix(V, two_n, seed + 3);
            model.b_r = random_vector(V, seed + 4);
            const attn::matrix q_prev = random_matrix(T_y, n, seed + 5);
            const attn::matrix h = random_matrix(T_x, two_n, seed + 6);
            const std::vector<std::size_t> y = {seed % V, 2, 4};
            const attn::alignment_backward_pass b =
                attn::alignment_gradients(model, q_prev, h, y);
            const attn::matrix& eps = b.dL_de;
            const exercise::alignment_gradients g =
                exercise::alignment_parameter_gradients(
                    q_prev, h, model.W_a, model.U_a, model.v_a, eps);
            // The library's full backward pass, chapter 1.
            REQUIRE_THAT(g.dL_dv_a, IsCloseTo(b.dL_dtheta.v_a, 1e-10, 1e-12));
            REQUIRE_THAT(g.dL_dW_a, IsCloseTo(b.dL_dtheta.W_a, 1e-10, 1e-12));
            REQUIRE_THAT(g.dL_dU_a, IsCloseTo(b.dL_dtheta.U_a, 1e-10, 1e-12));
            // Finite differences of L = sum(eps * e(W_a, U_a, v_a)), with
            // the energies of the library.
            const std::function<double(const attn::matrix&)> by_W =
                [&](const attn::matrix& W) {
                    return xt::sum(eps * attn::additive_energies(
                                             q_prev, h, W, model.U_a,
                                             model.v_a))();
                };
            const std::function<double(const attn::matrix&)> by_U =
                [&](const attn::matrix& U) {
                    return xt::sum(eps * attn::additive_energies(
                                             q_prev, h, model.W_a, U,
                                             model.v_a))();
                };
            const std::function<double(const attn::vector&)> by_v =
                [&](const attn::vector& v) {
                    return xt::sum(eps * attn::additive_energies(
                                             q_prev, h, model.W_a,
                                             model.U_a, v))();
                };
            REQUIRE_THAT(g.dL_dW_a,
                         IsCloseTo(central_differences(model.W_a, by_W, 1e-6),
                                   1e-6, 1e-9));
            REQUIRE_THAT(g.dL_dU_a,
                         IsCloseTo(central_differences(model.U_a, by_U, 1e-6),
                                   1e-6, 1e-9));
            REQUIRE_THAT(g.dL_dv_a,
                         IsCloseTo(central_differences(model.v_a, by_v, 1e-6),
                                   1e-6, 1e-9));
        }
    }
}

// Exercise 1.8's grader, below, needs these too.
#include <algorithm>

#include "kit.hpp"

namespace grade_ch01 {

// The contexts with the denominator of Eq. (1.3) summed over j in
// [from, to) only: a mistake the grader recognises (an off-by-one in a
// loop bound). Only for hints: the expected values come from elsewhere.
inline attn::matrix contexts_with_sum_over(const attn::matrix& e,
                                           const attn::matrix& h,
                                           std::size_t from, std::size_t to)
{
    const std::size_t T_y = e.shape()[0], T_x = e.shape()[1];
    attn::matrix c = xt::zeros<double>({T_y, h.shape()[1]});
    for (std::size_t i = 0; i < T_y; ++i) {
        double m = e(i, 0), z = 0.0;
        for (std::size_t j = 0; j < T_x; ++j) {
            m = std::max(m, e(i, j));
        }
        for (std::size_t j = from; j < to; ++j) {
            z += std::exp(e(i, j) - m);
        }
        for (std::size_t j = 0; j < T_x; ++j) {
            for (std::size_t l = 0; l < h.shape()[1]; ++l) {
                c(i, l) += std::exp(e(i, j) - m) / z * h(j, l);
            }
        }
    }
    return c;
}

using kit::close;  // same shape, every entry within 1e-9 (relative)

// What the student sees before each check of bahdanau_context_vectors:
// the inputs, the energies, the expected and the got, and a hint for each
// mistake the grader knows.
inline void check_contexts(const attn::matrix& q_prev, const attn::matrix& h,
                           const attn::matrix& W_a, const attn::matrix& U_a,
                           const attn::vector& v_a,
                           const attn::matrix& expected)
{
    const attn::matrix got =
        exercise::bahdanau_context_vectors(q_prev, h, W_a, U_a, v_a);
    const attn::matrix e = attn::additive_energies(q_prev, h, W_a, U_a, v_a);
    const std::size_t T_x = e.shape()[1];
    INFO(kit::show("q_prev", q_prev));
    INFO(kit::show("h", h));
    INFO(kit::show("energies e (the library's Eq. (1.2))", e));
    INFO(kit::side_by_side(expected, got));
    const bool skips_a_position =
        T_x > 1
        && (close(got, contexts_with_sum_over(e, h, 1, T_x))
            || close(got, contexts_with_sum_over(e, h, 0, T_x - 1)));
    INFO(kit::hint_if(
        skips_a_position,
        "the weights of each of your rows sum to more than 1: the "
        "denominator of Eq. (1.3) leaves out one source position. Compare "
        "the bounds of the loop that sums it with those of the loop that "
        "fills c"));
    INFO(kit::hint_if(
        std::any_of(got.begin(), got.end(),
                    [](double x) { return !std::isfinite(x); }),
        "your contexts hold inf or NaN: is the denominator of Eq. (1.3) 0 "
        "(with a single source word, T_x = 1?) or an exponent positive?"));
    REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-12));
}

}  // namespace grade_ch01

TEST_CASE("Exercise 1.8: find the bug in bahdanau_context_vectors",
          "[grade][ex_1_8]")
{
    SECTION("hand-worked, T_x = 2 and h = I, so that c = A")
    {
        // W_a = 0, so q_prev plays no part and both rows are alike.
        // U_a h_0 = atanh(ln 3 / 2), U_a h_1 = 0; v_a = 2:
        // e_i0 = 2 tanh(atanh(ln 3 / 2)) = ln 3, e_i1 = 0. Weights
        // exp = (3, 1) over 4: (3/4, 1/4), and c_i = a_i since h = I.
        const attn::matrix q_prev = {{0.0}, {1.0}};
        const attn::matrix h = {{1.0, 0.0}, {0.0, 1.0}};
        const attn::matrix W_a = {{0.0}};
        const attn::matrix U_a = {{std::atanh(std::log(3.0) / 2), 0.0}};
        const attn::vector v_a = {2.0};
        grade_ch01::check_contexts(q_prev, h, W_a, U_a, v_a,
                                   attn::matrix{{0.75, 0.25}, {0.75, 0.25}});
    }
    SECTION("one source word: every context is its annotation")
    {
        // T_x = 1: a single weight, exp(e - e) / exp(e - e) = 1, so c_i = h_0
        // whatever the energies.
        const attn::matrix q_prev = {{0.3}, {-2.0}};
        const attn::matrix h = {{2.0, -1.0}};
        const attn::matrix W_a = {{1.0}};
        const attn::matrix U_a = {{0.5, 0.5}};
        const attn::vector v_a = {1.0};
        grade_ch01::check_contexts(q_prev, h, W_a, U_a, v_a,
                                   attn::matrix{{2.0, -1.0}, {2.0, -1.0}});
    }
    SECTION("energies of +-1000 stay finite")
    {
        // U_a h_0 = 30, U_a h_1 = -30: tanh is +-1 in double, and v_a =
        // 1000 gives e_i = (1000, -1000). Weights (1, exp(-2000) = 0):
        // c_i = h_0.
        const attn::matrix q_prev = {{0.0}};
        const attn::matrix h = {{1.0, 0.0}, {0.0, 1.0}};
        const attn::matrix W_a = {{0.0}};
        const attn::matrix U_a = {{30.0, -30.0}};
        const attn::vector v_a = {1000.0};
        grade_ch01::check_contexts(q_prev, h, W_a, U_a, v_a,
                                   attn::matrix{{1.0, 0.0}});
    }
    SECTION("equals attn::bahdanau_attention over seeds, with T_y != T_x")
    {
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            CAPTURE(seed);
            const std::size_t T_y = 2 + seed, T_x = 6 - seed, d_h = 3,
                              d_a = 1 + seed;
            const attn::matrix q_prev = random_matrix(T_y, d_h, seed);
            const attn::matrix h = random_matrix(T_x, 2 * d_h, seed + 10);
            const attn::matrix W_a = random_matrix(d_a, d_h, seed + 20);
            const attn::matrix U_a = random_matrix(d_a, 2 * d_h, seed + 30);
            const attn::vector v_a = random_vector(d_a, seed + 40, 2.0);
            grade_ch01::check_contexts(
                q_prev, h, W_a, U_a, v_a,
                attn::bahdanau_attention(q_prev, h, W_a, U_a, v_a).c);
        }
    }
    SECTION("refuses empty inputs and shapes that do not fit")
    {
        const attn::matrix q_prev = xt::zeros<double>({2, 3});
        const attn::matrix h = xt::zeros<double>({4, 6});
        const attn::matrix W_a = xt::zeros<double>({5, 3});
        const attn::matrix U_a = xt::zeros<double>({5, 6});
        const attn::vector v_a = xt::zeros<double>({5});
        CHECK_THROWS_AS(exercise::bahdanau_context_vectors(
                            q_prev, h, W_a, xt::zeros<double>({5, 5}), v_a),
                        std::invalid_argument);
        CHECK_THROWS_AS(exercise::bahdanau_context_vectors(
                            q_prev, xt::zeros<double>({0, 6}), W_a, U_a, v_a),
                        std::invalid_argument);
    }
}

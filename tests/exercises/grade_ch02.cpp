// Grader of the coding exercises of chapter 2. It is compiled twice: with
// the student's files (code/exercises) and with the reference solutions
// (tests/solutions). Each TEST_CASE grades one exercise, tagged [ex_2_N].
#include <cmath>
#include <cstddef>
#include <stdexcept>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "attention/positional.hpp"
#include "attention/self_attention.hpp"
#include "ch02_gradient_and_positions.hpp"
#include "kit.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;
using book_test::random_matrix;

TEST_CASE("Exercise 2.7: softmax_rows_backward", "[grade][ex_2_7]")
{
    SECTION("hand-worked rows")
    {
        // Row 0: a = (1/2, 1/4, 1/4), g = (1, 0, 0): g.a = 1/2, so
        //   grad_s = (1/2 (1 - 1/2), 1/4 (0 - 1/2), 1/4 (0 - 1/2))
        //          = (1/4, -1/8, -1/8).
        // Row 1: uniform a, constant g = (1, 1, 1): g.a = 1, grad_s = 0
        //   (adding a constant to every score changes no weight).
        // Row 2: one-hot a = (1, 0, 0), g = (2, -1, 5): g.a = 2,
        //   grad_s = (1 (2 - 2), 0, 0) = 0: a saturated softmax passes
        //   no gradient.
        // Row 3: a = (1/2, 1/2, 0), g = (3, 1, 7): g.a = 3/2 + 1/2 = 2,
        //   grad_s = (1/2 (3 - 2), 1/2 (1 - 2), 0 (7 - 2)) = (1/2, -1/2, 0).
        const attn::matrix a = {{0.5, 0.25, 0.25},
                                {1.0 / 3, 1.0 / 3, 1.0 / 3},
                                {1.0, 0.0, 0.0},
                                {0.5, 0.5, 0.0}};
        const attn::matrix g = {{1.0, 0.0, 0.0},
                                {1.0, 1.0, 1.0},
                                {2.0, -1.0, 5.0},
                                {3.0, 1.0, 7.0}};
        const attn::matrix expected = {{0.25, -0.125, -0.125},
                                       {0.0, 0.0, 0.0},
                                       {0.0, 0.0, 0.0},
                                       {0.5, -0.5, 0.0}};
        INFO(kit::show("a", a));
        INFO(kit::show("g", g));
        const attn::matrix got = exercise::softmax_rows_backward(a, g);
        INFO(kit::side_by_side(expected, got));
        // a * g without the term that subtracts g . a (row 0 would be
        // (1/2, 0, 0)): the Jacobian's off-diagonal part forgotten.
        INFO(kit::hint_if(got.shape() == expected.shape()
                              && xt::allclose(got, a * g),
                          "you return a * g: the Jacobian's second term, "
                          "minus a_i (g . a), is missing"));
        REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-15));
    }
    SECTION("equals g J row by row, with J from attn::softmax_jacobian")
    {
        for (std::uint64_t seed = 1; seed <= 5; ++seed) {
            CAPTURE(seed);
            const attn::matrix a =
                attn::softmax_rows(random_matrix(4, 6, seed, 2.0));
            const attn::matrix g = random_matrix(4, 6, seed + 100);
            attn::matrix expected = xt::zeros<double>({4, 6});
            for (std::size_t i = 0; i < 4; ++i) {
                const attn::matrix a_i = xt::view(a, xt::range(i, i + 1),
                                                  xt::all());      // (1, 6)
                const attn::matrix g_i = xt::view(g, xt::range(i, i + 1),
                                                  xt::all());      // (1, 6)
                // dL/ds_l = sum_j g_j J_jl: the row vector g_i times J.
                xt::view(expected, xt::range(i, i + 1), xt::all()) =
                    xt::linalg::dot(g_i, attn::softmax_jacobian(a_i));
            }
            const attn::matrix grad_s = exercise::softmax_rows_backward(a, g);
            REQUIRE_THAT(grad_s, IsCloseTo(expected, 1e-10, 1e-12));
            // Each row sums to 0: the softmax ignores a common shift.
            for (std::size_t i = 0; i < 4; ++i) {
                double sum = 0.0;
                for (std::size_t l = 0; l < 6; ++l) {
                    sum += grad_s(i, l);
                }
                REQUIRE(std::abs(sum) < 1e-12);
            }
        }
    }
    SECTION("equals central finite differences of L(s) = sum g * softmax(s)")
    {
        const attn::matrix s = random_matrix(3, 5, 7);
        const attn::matrix g = random_matrix(3, 5, 8);
        const double h = 1e-6;
        auto loss = [&](const attn::matrix& scores) {
            return xt::sum(g * attn::softmax_rows(scores))();
        };
        attn::matrix numeric = xt::zeros<double>({3, 5});
        for (std::size_t i = 0; i < 3; ++i) {
            for (std::size_t l = 0; l < 5; ++l) {
                attn::matrix up = s, down = s;
                up(i, l) += h;
                down(i, l) -= h;
                numeric(i, l) = (loss(up) - loss(down)) / (2 * h);
            }
        }
        REQUIRE_THAT(
            exercise::softmax_rows_backward(attn::softmax_rows(s), g),
            IsCloseTo(numeric, 1e-6, 1e-8));
    }
    SECTION("refuses shapes that differ")
    {
        const attn::matrix a = xt::zeros<double>({2, 3});
        const attn::matrix g = xt::zeros<double>({3, 2});
        REQUIRE_THROWS_AS(exercise::softmax_rows_backward(a, g),
                          std::invalid_argument);
    }
}

TEST_CASE("Exercise 2.8: positional_similarity", "[grade][ex_2_8]")
{
    SECTION("hand-worked, d_model = 2 and 4")
    {
        // d_model = 2: one pair, omega_0 = 10000^0 = 1, PE_p = (sin p,
        // cos p), and PE_p . PE_q = sin p sin q + cos p cos q = cos(q - p).
        const attn::matrix g2 = {
            {1.0, std::cos(1.0), std::cos(2.0)},
            {std::cos(1.0), 1.0, std::cos(1.0)},
            {std::cos(2.0), std::cos(1.0), 1.0}};
        {
            INFO("n = 3, d_model = 2");
            const attn::matrix got = exercise::positional_similarity(3, 2);
            INFO(kit::side_by_side(g2, got));
            REQUIRE_THAT(got, IsCloseTo(g2, 1e-12, 1e-12));
        }
        // d_model = 4: omega_0 = 1, omega_1 = 10000^(-2/4) = 1/100, so
        // G_pq = cos(q - p) + cos((q - p) / 100); the diagonal is 1 + 1 = 2.
        auto entry = [](double k) { return std::cos(k) + std::cos(k / 100); };
        const attn::matrix g4 = {{2.0, entry(1), entry(2)},
                                 {entry(1), 2.0, entry(1)},
                                 {entry(2), entry(1), 2.0}};
        {
            INFO("n = 3, d_model = 4");
            const attn::matrix got = exercise::positional_similarity(3, 4);
            INFO(kit::side_by_side(g4, got));
            REQUIRE_THAT(got, IsCloseTo(g4, 1e-12, 1e-12));
        }
    }
    SECTION("equals PE PE^T from attn::sinusoidal_positional_encoding")
    {
        const std::size_t sizes[][2] = {{5, 8}, {12, 16}, {30, 64}, {7, 6}};
        for (const auto& nd : sizes) {
            const attn::matrix pe =
                attn::sinusoidal_positional_encoding(nd[0], nd[1]);
            const attn::matrix expected =
                xt::linalg::dot(pe, xt::transpose(pe));           // (n, n)
            REQUIRE_THAT(exercise::positional_similarity(nd[0], nd[1]),
                         IsCloseTo(expected, 1e-10, 1e-10));
        }
    }
    SECTION("symmetric, Toeplitz, diagonal d_model / 2")
    {
        const std::size_t n = 20, d_model = 32;
        const attn::matrix g = exercise::positional_similarity(n, d_model);
        REQUIRE(g.shape()[0] == n);
        REQUIRE(g.shape()[1] == n);
        for (std::size_t p = 0; p < n; ++p) {
            // Each pair contributes sin^2 + cos^2 = 1.
            REQUIRE(g(p, p) == Approx(double(d_model) / 2).epsilon(1e-12));
            for (std::size_t q = 0; q < n; ++q) {
                REQUIRE(g(p, q) == Approx(g(q, p)).margin(1e-12));
                if (p + 1 < n && q + 1 < n) {
                    // Depends only on q - p.
                    REQUIRE(g(p + 1, q + 1) == Approx(g(p, q)).margin(1e-10));
                }
            }
        }
    }
    SECTION("refuses an odd or zero d_model")
    {
        REQUIRE_THROWS_AS(exercise::positional_similarity(3, 5),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::positional_similarity(3, 0),
                          std::invalid_argument);
    }
}

// Exercise 2.9's grader, below, needs these too.
#include <algorithm>
#include <string>

#include "kit.hpp"

namespace grade_ch02 {

// softmax_rows(scale Q K^T) V with the library's projections and softmax,
// for a scale other than 1/sqrt(d_k): mistakes the grader recognises. Only
// for hints: the expected values come from elsewhere.
inline attn::matrix attention_scaled_by(const attn::matrix& X,
                                        const attn::matrix& W_q,
                                        const attn::matrix& W_k,
                                        const attn::matrix& W_v,
                                        double scale)
{
    const attn::matrix q = xt::linalg::dot(X, W_q);
    const attn::matrix k = xt::linalg::dot(X, W_k);
    const attn::matrix s = scale * xt::linalg::dot(q, xt::transpose(k));
    return xt::linalg::dot(attn::softmax_rows(s), xt::linalg::dot(X, W_v));
}

using kit::close;  // same shape, every entry within 1e-9 (relative)

// What the student sees before each check of self_attention_by_loops: the
// inputs, the expected and the got, and a hint for each mistake the grader
// knows.
inline void check_self_attention(const attn::matrix& X,
                                 const attn::matrix& W_q,
                                 const attn::matrix& W_k,
                                 const attn::matrix& W_v,
                                 const attn::matrix& expected)
{
    const attn::matrix got =
        exercise::self_attention_by_loops(X, W_q, W_k, W_v);
    const double d_model = double(X.shape()[1]), d_k = double(W_q.shape()[1]);
    INFO(kit::show("X", X));
    INFO(kit::show("W_q", W_q));
    INFO(kit::show("W_k", W_k));
    INFO(kit::show("W_v", W_v));
    INFO(kit::side_by_side(expected, got));
    INFO(kit::hint_if(
        d_model != d_k
            && close(got, attention_scaled_by(X, W_q, W_k, W_v,
                                              1.0 / std::sqrt(d_model))),
        "your scores are divided by sqrt(d_model) = sqrt("
            + std::to_string(X.shape()[1])
            + "), the width of the tokens; Eq. (2.2) divides by sqrt(d_k) = "
              "sqrt(" + std::to_string(W_q.shape()[1])
            + "), the width of the queries and keys"));
    INFO(kit::hint_if(
        d_k > 1 && close(got, attention_scaled_by(X, W_q, W_k, W_v, 1.0)),
        "your scores are not scaled at all: Eq. (2.2) divides them by "
        "sqrt(d_k)"));
    INFO(kit::hint_if(
        d_k > 1 && close(got, attention_scaled_by(X, W_q, W_k, W_v, 1.0 / d_k)),
        "your scores are divided by d_k, not by its square root"));
    INFO(kit::hint_if(
        std::any_of(got.begin(), got.end(),
                    [](double x) { return !std::isfinite(x); }),
        "your output holds inf or NaN: is each row's maximum subtracted "
        "before exp?"));
    REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-12));
}

}  // namespace grade_ch02

TEST_CASE("Exercise 2.9: find the bug in self_attention_by_loops",
          "[grade][ex_2_9]")
{
    SECTION("hand-worked, n = 2, d_model = 4, d_k = 1, d_v = 2")
    {
        // X picks rows 0 and 1 of each W: Q = (ln 3, 0)^T, K = (1, 0)^T,
        // V = [[4, 0], [0, 8]]. d_k = 1, so the scale is 1:
        // S = [[ln 3, 0], [0, 0]], A = [[3/4, 1/4], [1/2, 1/2]],
        // Y = A V = [[3, 2], [2, 4]].
        const attn::matrix X = {{1.0, 0.0, 0.0, 0.0}, {0.0, 1.0, 0.0, 0.0}};
        const attn::matrix W_q = {{std::log(3.0)}, {0.0}, {0.0}, {0.0}};
        const attn::matrix W_k = {{1.0}, {0.0}, {0.0}, {0.0}};
        const attn::matrix W_v = {{4.0, 0.0}, {0.0, 8.0}, {0.0, 0.0},
                                  {0.0, 0.0}};
        grade_ch02::check_self_attention(X, W_q, W_k, W_v,
                                         attn::matrix{{3.0, 2.0},
                                                      {2.0, 4.0}});
    }
    SECTION("scores of +-1000 stay finite")
    {
        // d_model = d_k = 1: S = [[1000, -1000], [-1000, 1000]], A = I (the
        // other weight is exp(-2000) = 0 in double), so Y = V = X W_v.
        const attn::matrix X = {{1.0}, {-1.0}};
        const attn::matrix W_q = {{1000.0}}, W_k = {{1.0}};
        const attn::matrix W_v = {{2.0, 3.0}};
        grade_ch02::check_self_attention(X, W_q, W_k, W_v,
                                         attn::matrix{{2.0, 3.0},
                                                      {-2.0, -3.0}});
    }
    SECTION("equals attn::self_attention over seeds and shapes")
    {
        // (n, d_model, d_k, d_v), with d_k below, equal to and above
        // d_model.
        const std::size_t shapes[][4] = {
            {4, 6, 2, 3}, {5, 3, 3, 2}, {3, 8, 4, 4}, {6, 2, 4, 1}};
        std::uint64_t seed = 1;
        for (const auto& sh : shapes) {
            CAPTURE(seed);
            const attn::matrix X = random_matrix(sh[0], sh[1], seed);
            const attn::matrix W_q = random_matrix(sh[1], sh[2], seed + 10);
            const attn::matrix W_k = random_matrix(sh[1], sh[2], seed + 20);
            const attn::matrix W_v = random_matrix(sh[1], sh[3], seed + 30);
            grade_ch02::check_self_attention(
                X, W_q, W_k, W_v, attn::self_attention(X, W_q, W_k, W_v).y);
            ++seed;
        }
    }
    SECTION("refuses empty inputs and shapes that do not fit")
    {
        const attn::matrix X = xt::zeros<double>({3, 4});
        const attn::matrix W = xt::zeros<double>({4, 2});
        CHECK_THROWS_AS(exercise::self_attention_by_loops(
                            X, W, xt::zeros<double>({4, 3}), W),
                        std::invalid_argument);
        CHECK_THROWS_AS(exercise::self_attention_by_loops(
                            X, W, W, xt::zeros<double>({3, 2})),
                        std::invalid_argument);
        CHECK_THROWS_AS(exercise::self_attention_by_loops(
                            xt::zeros<double>({0, 4}), W, W, W),
                        std::invalid_argument);
    }
}

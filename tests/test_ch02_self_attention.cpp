// Tests of chapter 2: the projections (Eq. 2.1), scaled scores (2.2),
// weights (2.3) and outputs (2.4) of self-attention, its column form (2.5),
// the variance of the dot product (2.6), the softmax Jacobian (2.7),
// permutation equivariance (2.8) and the sinusoidal positional encodings
// (2.9, 2.10).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>

#include "attention/positional.hpp"
#include "attention/self_attention.hpp"
#include "test_helpers.hpp"

using attn::matrix;
using book_test::IsCloseTo;
using book_test::random_head_inputs;
using book_test::random_matrix;

namespace {

// The hand-worked example of the tests of Eqs. 2.2-2.4: two tokens,
// X = I, W_q = sqrt(2) ln 3 I, W_k = I, W_v = (4, 8)^T.
struct hand_example {
    matrix x = {{1.0, 0.0}, {0.0, 1.0}};
    matrix w_q = {{std::sqrt(2.0) * std::log(3.0), 0.0},
                  {0.0, std::sqrt(2.0) * std::log(3.0)}};
    matrix w_k = {{1.0, 0.0}, {0.0, 1.0}};
    matrix w_v = {{4.0}, {8.0}};
};

// The head computed by the library and by its literal loops, on the same
// inputs.
struct both_ways {
    attn::self_attention_result r, loops;
};

both_ways run_both_ways(const book_test::head_inputs& in)
{
    return {attn::self_attention(in.x, in.w_q, in.w_k, in.w_v),
            attn::self_attention_reference(in.x, in.w_q, in.w_k, in.w_v)};
}

}  // namespace

TEST_CASE("Eq. 2.1: Q = X W_q, K = X W_k, V = X W_v, hand-worked",
          "[ch02][eq_qkv_projections]")
{
    // Row t of X W is sum_m x_tm w_m (w_m the rows of W):
    //   (1, 2) W = 1 (1, 0, 1) + 2 (0, 1, 1) = (1, 2, 3)
    //   (3, 4) W = 3 (1, 0, 1) + 4 (0, 1, 1) = (3, 4, 7)
    // and with W_v = (1, -1)^T: 1 - 2 = -1, 3 - 4 = -1.
    const matrix x = {{1.0, 2.0}, {3.0, 4.0}};
    const matrix w = {{1.0, 0.0, 1.0}, {0.0, 1.0, 1.0}};
    const matrix w_v = {{1.0}, {-1.0}};
    const matrix twice = 2.0 * w;
    const auto r = attn::self_attention(x, w, twice, w_v);
    REQUIRE_THAT(r.q, IsCloseTo(matrix{{1.0, 2.0, 3.0}, {3.0, 4.0, 7.0}}));
    REQUIRE_THAT(r.k, IsCloseTo(matrix{{2.0, 4.0, 6.0}, {6.0, 8.0, 14.0}}));
    REQUIRE_THAT(r.v, IsCloseTo(matrix{{-1.0}, {-1.0}}));
}

TEST_CASE("Eq. 2.1: projections equal their literal loops",
          "[ch02][eq_qkv_projections]")
{
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        const auto both = run_both_ways(random_head_inputs(5, 6, 4, 3, seed));
        REQUIRE_THAT(both.r.q, IsCloseTo(both.loops.q, 1e-12));
        REQUIRE_THAT(both.r.k, IsCloseTo(both.loops.k, 1e-12));
        REQUIRE_THAT(both.r.v, IsCloseTo(both.loops.v, 1e-12));
    }
}

TEST_CASE("Errors: self_attention refuses shapes that do not fit",
          "[ch02][errors]")
{
    const matrix x = xt::zeros<double>({3, 4});
    const matrix w = xt::zeros<double>({4, 2});
    const matrix w_v = xt::zeros<double>({4, 5});
    REQUIRE_THROWS_WITH(
        attn::self_attention(x, xt::zeros<double>({5, 2}), w, w_v),
        "self_attention: w_q must have shape (d_model, d_k) = (4, 2), "
        "got (5, 2)");
    REQUIRE_THROWS_WITH(
        attn::self_attention(x, w, xt::zeros<double>({4, 3}), w_v),
        "self_attention: w_k must have shape (d_model, d_k) = (4, 2), "
        "got (4, 3)");
    REQUIRE_THROWS_WITH(
        attn::self_attention(x, w, w, xt::zeros<double>({3, 5})),
        Catch::Contains("w_v must have shape (d_model, d_v)"));
    REQUIRE_THROWS_WITH(
        attn::self_attention(xt::zeros<double>({0, 4}), w, w, w_v),
        Catch::Contains("x must not be empty"));
    REQUIRE_THROWS_AS(
        attn::self_attention_reference(x, w, w, xt::zeros<double>({3, 5})),
        std::invalid_argument);
}

TEST_CASE("Eq. 2.2: scaled scores S = Q K^T / sqrt(d_k), hand-worked",
          "[ch02][eq_scaled_scores]")
{
    // Q = sqrt(2) ln 3 I, K = I, d_k = 2: Q K^T / sqrt(2) = ln 3 I.
    const hand_example h;
    const auto r = attn::self_attention(h.x, h.w_q, h.w_k, h.w_v);
    const double l3 = std::log(3.0);
    REQUIRE_THAT(r.s, IsCloseTo(matrix{{l3, 0.0}, {0.0, l3}}, 1e-14));
}

TEST_CASE("Eq. 2.2: scaled scores equal their loops, scale is 1/sqrt(d_k)",
          "[ch02][eq_scaled_scores]")
{
    for (std::uint64_t seed : {4u, 5u, 6u}) {
        CAPTURE(seed);
        const auto in = random_head_inputs(7, 5, 9, 2, seed);
        const auto [r, l] = run_both_ways(in);
        REQUIRE_THAT(r.s, IsCloseTo(l.s, 1e-12));
        // d_k = 9, so the unscaled Q K^T is exactly 3 S.
        const matrix unscaled = xt::linalg::dot(r.q, xt::transpose(r.k));
        REQUIRE_THAT(unscaled, IsCloseTo(matrix(3.0 * r.s), 1e-12));
        // In self-attention with W_q = W_k the scores are symmetric.
        const auto sym = attn::self_attention(in.x, in.w_q, in.w_q, in.w_v);
        REQUIRE_THAT(sym.s, IsCloseTo(matrix(xt::transpose(sym.s)), 1e-12));
    }
}

TEST_CASE("Eq. 2.3: self-attention weights A = softmax_rows(S), by hand",
          "[ch02][eq_self_attention_weights]")
{
    // Rows (ln 3, 0) and (0, ln 3): exp gives (3, 1) and (1, 3), each
    // divided by 4.
    const hand_example h;
    const auto r = attn::self_attention(h.x, h.w_q, h.w_k, h.w_v);
    REQUIRE_THAT(r.a, IsCloseTo(matrix{{0.75, 0.25}, {0.25, 0.75}}, 1e-14));
}

TEST_CASE("Eq. 2.3: weights equal their literal loops, rows sum to 1",
          "[ch02][eq_self_attention_weights]")
{
    for (std::uint64_t seed : {7u, 8u, 9u, 10u}) {
        CAPTURE(seed);
        const auto in = random_head_inputs(6, 4, 4, 3, seed, 3.0);
        const auto [r, l] = run_both_ways(in);
        REQUIRE_THAT(r.a, IsCloseTo(l.a, 1e-12, 1e-300));
        REQUIRE(xt::all(r.a >= 0.0 && r.a <= 1.0));
        const matrix sums = xt::sum(r.a, {1}, xt::keep_dims);
        REQUIRE_THAT(sums, IsCloseTo(xt::ones<double>({6, 1}), 1e-14));
    }
}

TEST_CASE("Eq. 2.4: self-attention output Y = A V, hand-worked",
          "[ch02][eq_self_attention_output]")
{
    // V = X W_v = (4, 8)^T. Token 0: 3/4 * 4 + 1/4 * 8 = 5.
    // Token 1: 1/4 * 4 + 3/4 * 8 = 7.
    const hand_example h;
    const auto r = attn::self_attention(h.x, h.w_q, h.w_k, h.w_v);
    REQUIRE_THAT(r.v, IsCloseTo(matrix{{4.0}, {8.0}}));
    REQUIRE_THAT(r.y, IsCloseTo(matrix{{5.0}, {7.0}}, 1e-14));
    REQUIRE_THAT(attn::self_attention_reference(h.x, h.w_q, h.w_k, h.w_v).y,
                 IsCloseTo(matrix{{5.0}, {7.0}}, 1e-14));
}

TEST_CASE("Eq. 2.4: outputs equal their loops, convex mixtures of values",
          "[ch02][eq_self_attention_output]")
{
    for (std::uint64_t seed : {11u, 12u, 13u}) {
        CAPTURE(seed);
        const auto [r, l] = run_both_ways(random_head_inputs(8, 6, 4, 3, seed));
        REQUIRE_THAT(r.y, IsCloseTo(l.y, 1e-12));
        // Each output lies between the smallest and largest value of its
        // column, because its weights are non-negative and sum to 1.
        const matrix lo = xt::amin(r.v, {0}, xt::keep_dims);      // (1, d_v)
        const matrix hi = xt::amax(r.v, {0}, xt::keep_dims);      // (1, d_v)
        for (std::size_t i = 0; i < 8; ++i) {
            for (std::size_t c = 0; c < 3; ++c) {
                REQUIRE(r.y(i, c) >= lo(0, c) - 1e-12);
                REQUIRE(r.y(i, c) <= hi(0, c) + 1e-12);
            }
        }
    }
}

TEST_CASE("Eq. 2.3: the walk-through's row 2 by hand equals the library's",
          "[ch02][eq_self_attention_weights][eq_self_attention_output]")
{
    const attn::walkthrough_inputs in = attn::walkthrough_example();
    const auto r = attn::self_attention(in.x, in.w_q, in.w_k, in.w_v);
    // By hand: q_2 = x_2 W_q = 1 * (row 1 of W_q) + 0.5 * (row 3)
    //              = (2, 0, 0, 1) + (0, 0, 0.5, 0) = (2, 0, 0.5, 1).
    // W_k doubles the first entry, so k_j = x_j with x_j0 doubled:
    // k = (0,0,1,0) (2,0.5,0,0) (0,1,0,0.5) (0,0,1,0.5) (1,0,0,1) (2,0,0.5,0)
    // s_2j = q_2 . k_j / sqrt(4):
    //      = 0.5/2, 4/2, 0.5/2, 1/2, 3/2, 4.25/2.
    const std::vector<double> s_2 = {0.25, 2.0, 0.25, 0.5, 1.5, 2.125};
    for (std::size_t j = 0; j < 6; ++j) {
        REQUIRE(r.s(2, j) == Approx(s_2[j]).epsilon(1e-14));
    }
    // Eq. (2.3) in literal loops: subtract m_2 = 2.125, exponentiate,
    // normalise; Eq. (2.4): y_2 = sum_j a_2j v_j with v_j = x_j W_v.
    double total = 0.0;
    std::vector<double> e(6);
    for (std::size_t j = 0; j < 6; ++j) {
        e[j] = std::exp(s_2[j] - 2.125);
        total += e[j];
    }
    matrix a_2 = xt::zeros<double>({1, 6}), y_2 = xt::zeros<double>({1, 4});
    for (std::size_t j = 0; j < 6; ++j) {
        a_2(0, j) = e[j] / total;
        for (std::size_t c = 0; c < 4; ++c) {
            double v_jc = 0.0;
            for (std::size_t m = 0; m < 4; ++m) {
                v_jc += in.x(j, m) * in.w_v(m, c);
            }
            y_2(0, c) += a_2(0, j) * v_jc;
        }
    }
    const matrix lib_a = xt::view(r.a, xt::range(2, 3), xt::all());
    const matrix lib_y = xt::view(r.y, xt::range(2, 3), xt::all());
    REQUIRE_THAT(lib_a, IsCloseTo(a_2, 1e-13));
    REQUIRE_THAT(lib_y, IsCloseTo(y_2, 1e-13));
    // The steps the chapter prints agree with both.
    const attn::row_by_hand h = attn::attention_row_by_hand(r.s, r.v, 2);
    REQUIRE(h.m == Approx(2.125).epsilon(1e-14));
    REQUIRE(h.total == Approx(total).epsilon(1e-13));
    REQUIRE(h.shifted[5] == 0.0);
    REQUIRE(h.e[5] == 1.0);
    for (std::size_t j = 0; j < 6; ++j) {
        REQUIRE(h.a[j] == Approx(a_2(0, j)).epsilon(1e-13));
    }
    REQUIRE_THAT(h.y, IsCloseTo(y_2, 1e-13));
    // What the text says of this row: "chased" puts its largest weight on
    // "ball" (5), its second largest on "dog" (1).
    std::vector<std::size_t> order = {0, 1, 2, 3, 4, 5};
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return h.a[a] > h.a[b];
    });
    REQUIRE(order[0] == 5);
    REQUIRE(order[1] == 1);
    // And every other row of the walk-through, by the same steps.
    for (std::size_t i = 0; i < 6; ++i) {
        CAPTURE(i);
        const attn::row_by_hand hi = attn::attention_row_by_hand(r.s, r.v, i);
        REQUIRE_THAT(hi.y, IsCloseTo(matrix(xt::view(r.y, xt::range(i, i + 1),
                                                     xt::all())),
                                     1e-13));
    }
}

TEST_CASE("Errors: attention_row_by_hand refuses a row past the end and "
          "values that do not fit",
          "[ch02][errors]")
{
    const matrix s = xt::zeros<double>({2, 3});
    const matrix v = xt::zeros<double>({3, 2});           // (n_k, d_v)
    REQUIRE_THROWS_WITH(attn::attention_row_by_hand(s, v, 2),
                        "attention_row_by_hand: i must be a row of s, below "
                        "2, got 2");
    // v with 2 rows for 3 keys.
    const matrix short_v = xt::zeros<double>({2, 2});
    REQUIRE_THROWS_AS(attn::attention_row_by_hand(s, short_v, 0),
                      std::invalid_argument);
}

TEST_CASE("Eq. 2.5: the column form equals the row form transposed",
          "[ch02][eq_self_attention_column_form]")
{
    for (std::uint64_t seed : {14u, 15u, 16u}) {
        CAPTURE(seed);
        const auto [x, w_q, w_k, w_v] = random_head_inputs(6, 5, 4, 3, seed);
        const matrix y = attn::self_attention(x, w_q, w_k, w_v).y;  // (6, 3)
        const matrix v_tilde = attn::self_attention_columns(
            xt::transpose(x), xt::transpose(w_q), xt::transpose(w_k),
            xt::transpose(w_v));                                    // (3, 6)
        REQUIRE_THAT(v_tilde, IsCloseTo(xt::transpose(y), 1e-12));
    }
    // The hand-worked example in columns: V~ = (5, 7).
    const hand_example h;
    REQUIRE_THAT(attn::self_attention_columns(
                     xt::transpose(h.x), xt::transpose(h.w_q),
                     xt::transpose(h.w_k), xt::transpose(h.w_v)),
                 IsCloseTo(matrix{{5.0, 7.0}}, 1e-14));
}

TEST_CASE("Errors: the column form refuses a key projection that does not "
          "fit x_cols", "[ch02][errors]")
{
    REQUIRE_THROWS_WITH(attn::self_attention_columns(
                            xt::zeros<double>({5, 6}),
                            xt::zeros<double>({4, 5}),
                            xt::zeros<double>({4, 6}),
                            xt::zeros<double>({3, 5})),
                        Catch::Contains("wk_cols must have shape "
                                        "(d_k, d_model) = (4, 5)"));
}

TEST_CASE("Eq. 2.6: Var(q.k) = d_k, Var(q.k/sqrt(d_k)) = 1, within error",
          "[ch02][eq_dot_variance]")
{
    // How far may a sample variance fall from d_k by chance alone?
    // X = q.k = sum_c z_c with z_c = q_c k_c i.i.d., E z = 0, E z^2 = 1,
    // E z^4 = E q^4 E k^4 = 3 * 3 = 9. Expanding E X^4, only the terms
    // z_c^4 (d of them) and z_c^2 z_c'^2 (3 d (d - 1) of them) survive:
    //   E X^4 = 9 d + 3 d (d - 1) = 3 d^2 + 6 d,   (E X^2)^2 = d^2.
    // For N i.i.d. samples the sample variance s^2 (divisor N - 1) has
    //   Var(s^2) = mu_4 / N - sigma^4 (N - 3) / (N (N - 1))
    // (a textbook result), so its standard error is about
    // sqrt((2 d^2 + 6 d) / N): 1.3 % of d_k at d_k = 4 and 1.0 % at
    // d_k = 1024 for N = 20000. s^2 is a sum of many i.i.d. terms and
    // close to normal, so a deviation beyond 5 standard errors has a
    // chance of about 6e-7; the seed is fixed, so the test is repeatable.
    const std::size_t n = 20000;
    for (std::size_t d_k : {4u, 16u, 64u, 256u, 1024u}) {
        const auto m = attn::measure_dot_products(d_k, n, 2017 + d_k);
        const double d = double(d_k), nn = double(n);
        const double mu_4 = 3.0 * d * d + 6.0 * d;
        const double se = std::sqrt(mu_4 / nn
                                    - d * d * (nn - 3.0) / (nn * (nn - 1.0)));
        CAPTURE(d_k, m.variance, se);
        REQUIRE(std::abs(m.variance - d) <= 5.0 * se);
        // The mean is 0 with standard error sqrt(d / N).
        REQUIRE(std::abs(m.mean) <= 5.0 * std::sqrt(d / nn));
        // After the scale 1/sqrt(d_k): variance 1, error divided by d_k.
        REQUIRE(std::abs(m.variance_scaled - 1.0) <= 5.0 * se / d);
        // The tolerance is tight enough to tell d_k from 0.9 d_k or 1.1 d_k,
        // so a wrong law (or a wrong scale) would fail this test.
        REQUIRE(5.0 * se < 0.1 * d);
    }
}

TEST_CASE("Eq. 2.6: the measurement is deterministic for a seed",
          "[ch02][eq_dot_variance]")
{
    const auto a = attn::measure_dot_products(8, 100, 3);
    const auto b = attn::measure_dot_products(8, 100, 3);
    const auto c = attn::measure_dot_products(8, 100, 4);
    REQUIRE(a.variance == b.variance);
    REQUIRE(a.variance != c.variance);
    // d_k = 1 by hand: q.k = q_1 k_1, whose variance is E q^2 E k^2 = 1.
    const auto one = attn::measure_dot_products(1, 20000, 5);
    // Standard error sqrt((2 + 6) / 20000) = 0.02.
    REQUIRE(std::abs(one.variance - 1.0) <= 5.0 * 0.02);
}

TEST_CASE("Errors: measure_dot_products refuses d_k = 0 and one pair",
          "[ch02][errors]")
{
    REQUIRE_THROWS_AS(attn::measure_dot_products(0, 10, 1),
                      std::invalid_argument);
    REQUIRE_THROWS_AS(attn::measure_dot_products(4, 1, 1),
                      std::invalid_argument);
}

TEST_CASE("Eq. 2.7: softmax Jacobian, hand-worked and finite differences",
          "[ch02][eq_softmax_jacobian]")
{
    // a = (1/2, 1/2): J = diag(a) - a^T a = [[1/4, -1/4], [-1/4, 1/4]].
    REQUIRE_THAT(attn::softmax_jacobian(matrix{{0.5, 0.5}}),
                 IsCloseTo(matrix{{0.25, -0.25}, {-0.25, 0.25}}, 1e-15));
    // a = (1, 0): J = 0, the softmax is saturated and passes no gradient.
    REQUIRE_THAT(attn::softmax_jacobian(matrix{{1.0, 0.0}}),
                 IsCloseTo(matrix{{0.0, 0.0}, {0.0, 0.0}}, 0.0, 0.0));
    for (std::uint64_t seed : {17u, 18u, 19u}) {
        CAPTURE(seed);
        const matrix s = random_matrix(1, 5, seed, 2.0);
        const matrix j = attn::softmax_jacobian(attn::softmax_rows(s));
        // Central differences: column l is (softmax(s + h e_l) -
        // softmax(s - h e_l)) / 2h, with error O(h^2) ~ 1e-10.
        const double h = 1e-5;
        matrix numeric = xt::zeros<double>({5, 5});
        for (std::size_t l = 0; l < 5; ++l) {
            matrix up = s, down = s;
            up(0, l) += h;
            down(0, l) -= h;
            const matrix diff = (attn::softmax_rows(up)
                                 - attn::softmax_rows(down)) / (2 * h);
            for (std::size_t r = 0; r < 5; ++r) {
                numeric(r, l) = diff(0, r);
            }
        }
        REQUIRE_THAT(j, IsCloseTo(numeric, 1e-6, 1e-9));
        // Symmetric, and each row sums to 0 (the weights always sum to 1).
        REQUIRE_THAT(j, IsCloseTo(matrix(xt::transpose(j)), 1e-15));
        const matrix sums = xt::sum(j, {1}, xt::keep_dims);
        REQUIRE_THAT(sums, IsCloseTo(xt::zeros<double>({5, 1}), 0.0, 1e-15));
    }
}

TEST_CASE("Errors: softmax_jacobian refuses weights that are not one row",
          "[ch02][errors]")
{
    REQUIRE_THROWS_AS(attn::softmax_jacobian(matrix{{0.5}, {0.5}}),
                      std::invalid_argument);
}

TEST_CASE("Eq. 2.7: saturation measures, larger scores saturate more",
          "[ch02][eq_softmax_jacobian]")
{
    // Equal scores over 4 keys: weights 1/4, entropy ln 4, and
    // J = I/4 - 1/16: ||J||_F^2 = 4 (3/16)^2 + 12 (1/16)^2 = 48/256,
    // ||J||_F = sqrt(3)/4.
    const auto flat = attn::measure_saturation(xt::zeros<double>({3, 4}));
    REQUIRE(flat.max_weight == Approx(0.25).epsilon(1e-14));
    REQUIRE(flat.entropy == Approx(std::log(4.0)).epsilon(1e-14));
    REQUIRE(flat.jacobian_norm == Approx(std::sqrt(3.0) / 4).epsilon(1e-14));
    // One score far above the others: weight 1, entropy 0, Jacobian 0.
    const auto hard = attn::measure_saturation(matrix{{50.0, 0.0, 0.0}});
    REQUIRE(hard.max_weight == Approx(1.0).epsilon(1e-14));
    REQUIRE(hard.entropy < 1e-18);
    REQUIRE(hard.jacobian_norm < 1e-20);
    // Random scores of growing spread (what happens to q.k without the
    // scale as d_k grows), 16 keys: the largest weight grows and the
    // entropy shrinks all the way.
    const std::vector<double> spreads = {1.0, 2.0, 4.0, 8.0, 16.0};
    std::vector<attn::softmax_saturation> m;
    for (double spread : spreads) {
        m.push_back(attn::measure_saturation(
            random_matrix(200, 16, 23, spread)));
    }
    double last_max = 1.0 / 16.0, last_entropy = std::log(16.0);
    for (std::size_t k = 0; k < spreads.size(); ++k) {
        CAPTURE(spreads[k], m[k].max_weight, m[k].entropy);
        REQUIRE(m[k].max_weight > last_max);
        REQUIRE(m[k].entropy < last_entropy);
        last_max = m[k].max_weight;
        last_entropy = m[k].entropy;
    }
    // The Jacobian norm does not fall all the way. From flat scores,
    // sqrt(15)/16 = 0.242 for 16 keys (exercise 4), it first RISES, to
    // about 0.34 at spread 2, and only past that peak falls towards 0
    // (the chapter's table shows the same rise, with 32 keys).
    const double flat_16 = std::sqrt(15.0) / 16.0;
    CAPTURE(m[0].jacobian_norm, m[1].jacobian_norm, m[2].jacobian_norm,
            m[3].jacobian_norm, m[4].jacobian_norm);
    REQUIRE(m[0].jacobian_norm > flat_16 + 0.03);               // spread 1
    REQUIRE(m[1].jacobian_norm > m[0].jacobian_norm + 0.01);    // spread 2
    // Past the peak: spreads 4, 8, 16, each below the one before.
    REQUIRE(m[2].jacobian_norm < m[1].jacobian_norm);
    REQUIRE(m[3].jacobian_norm < m[2].jacobian_norm - 0.05);
    REQUIRE(m[4].jacobian_norm < m[3].jacobian_norm - 0.05);
}

TEST_CASE("Eq. 2.8: permuting the tokens permutes the outputs",
          "[ch02][eq_permutation_equivariance]")
{
    // Hand-worked: swapping the two tokens of the hand example swaps the
    // outputs (5, 7) into (7, 5).
    const hand_example h;
    const matrix swapped = attn::permute_rows(h.x, {1, 0});
    REQUIRE_THAT(attn::self_attention(swapped, h.w_q, h.w_k, h.w_v).y,
                 IsCloseTo(matrix{{7.0}, {5.0}}, 1e-14));
    for (std::uint64_t seed : {24u, 25u, 26u}) {
        CAPTURE(seed);
        const auto [x, w_q, w_k, w_v] = random_head_inputs(6, 5, 4, 3, seed);
        const std::vector<std::size_t> perm = {3, 0, 5, 1, 4, 2};
        const auto r = attn::self_attention(x, w_q, w_k, w_v);
        const auto p = attn::self_attention(attn::permute_rows(x, perm),
                                            w_q, w_k, w_v);
        REQUIRE_THAT(p.y, IsCloseTo(attn::permute_rows(r.y, perm), 1e-12));
        // The weights move in both directions: A(P X) = P A P^T.
        const matrix pa = attn::permute_rows(r.a, perm);
        const matrix pap = xt::transpose(
            attn::permute_rows(xt::transpose(pa), perm));
        REQUIRE_THAT(p.a, IsCloseTo(pap, 1e-12));
        // With positional encodings added, the same permutation no longer
        // just permutes the outputs: order now matters.
        const matrix pe = attn::sinusoidal_positional_encoding(6, 4);
        const matrix w_q4 = random_matrix(4, 4, seed + 40);
        const matrix w_k4 = random_matrix(4, 4, seed + 50);
        const matrix w_v4 = random_matrix(4, 3, seed + 60);
        const matrix x4 = random_matrix(6, 4, seed + 70);
        const matrix y = attn::self_attention(x4 + pe, w_q4, w_k4, w_v4).y;
        const matrix y_perm = attn::self_attention(
            attn::permute_rows(x4, perm) + pe, w_q4, w_k4, w_v4).y;
        const double gap = xt::amax(xt::abs(
            y_perm - attn::permute_rows(y, perm)))();
        REQUIRE(gap > 1e-3);
    }
}

TEST_CASE("Errors: permute_rows refuses a repeat, a short order and an "
          "index out of range", "[ch02][errors]")
{
    const hand_example h;
    REQUIRE_THROWS_AS(attn::permute_rows(h.x, {0, 0}), std::invalid_argument);
    REQUIRE_THROWS_AS(attn::permute_rows(h.x, {0}), std::invalid_argument);
    REQUIRE_THROWS_AS(attn::permute_rows(h.x, {0, 2}), std::invalid_argument);
}

TEST_CASE("Eq. 2.9: sinusoidal positional encodings, hand-worked",
          "[ch02][eq_sinusoidal_pe]")
{
    // d_model = 4: omega_0 = 10000^0 = 1, omega_1 = 10000^(-2/4) = 1/100.
    // Position 0: (sin 0, cos 0, sin 0, cos 0) = (0, 1, 0, 1).
    // Position 3: (sin 3, cos 3, sin 0.03, cos 0.03).
    const matrix pe = attn::sinusoidal_positional_encoding(4, 4);
    REQUIRE_THAT(matrix(xt::view(pe, xt::range(0, 1), xt::all())),
                 IsCloseTo(matrix{{0.0, 1.0, 0.0, 1.0}}, 0.0, 1e-15));
    REQUIRE_THAT(matrix(xt::view(pe, xt::range(3, 4), xt::all())),
                 IsCloseTo(matrix{{std::sin(3.0), std::cos(3.0),
                                   std::sin(0.03), std::cos(0.03)}},
                           1e-14, 1e-15));
    // Every sine-cosine pair lies on the unit circle, so every row of a
    // d_model = 16 encoding has squared norm 16 / 2 = 8.
    const matrix big = attn::sinusoidal_positional_encoding(50, 16);
    const matrix norms = xt::sum(big * big, {1}, xt::keep_dims);
    REQUIRE_THAT(norms, IsCloseTo(xt::full_like(norms, 8.0), 1e-13));
    // The wavelengths 2 pi / omega_f run from 2 pi to 10000 * 2 pi
    // (the last pair, i = d/2 - 1, stops just short of it).
    REQUIRE(attn::pe_frequency(0, 512) == 1.0);
    REQUIRE(2 * M_PI / attn::pe_frequency(255, 512)
            == Approx(2 * M_PI * std::pow(10000.0, 510.0 / 512.0)));
}

TEST_CASE("Errors: sinusoidal_positional_encoding refuses an odd d_model "
          "(as an exception type)", "[ch02][errors]")
{
    REQUIRE_THROWS_AS(attn::sinusoidal_positional_encoding(4, 5),
                      std::invalid_argument);
}

TEST_CASE("Eq. 2.10: PE(p + k) = PE(p) R_k, one rotation R_k for every p",
          "[ch02][eq_pe_shift]")
{
    const std::size_t n = 64, d = 16;
    const matrix pe = attn::sinusoidal_positional_encoding(n, d);
    for (int k : {1, 5, 17}) {
        const matrix r_k = attn::pe_shift_matrix(k, d);
        const matrix from = xt::view(pe, xt::range(0, int(n) - k), xt::all());
        const matrix to = xt::view(pe, xt::range(k, int(n)), xt::all());
        // One matrix maps every position p to p + k.
        REQUIRE_THAT(matrix(xt::linalg::dot(from, r_k)),
                     IsCloseTo(to, 1e-12, 1e-12));
        // Found independently: for each sine-cosine pair, the
        // least-squares 2x2 map from the rows (sin p w, cos p w) to the rows
        // (sin (p+k) w, cos (p+k) w) fits exactly and is R_k's block. (A
        // single 16x16 fit is ill-conditioned: over 64 positions the
        // slowest pairs barely turn, so their columns are nearly equal.)
        for (std::size_t i = 0; i < d / 2; ++i) {
            const int c0 = int(2 * i);
            const matrix a = xt::view(from, xt::all(), xt::range(c0, c0 + 2));
            const matrix b = xt::view(to, xt::all(), xt::range(c0, c0 + 2));
            const matrix m = std::get<0>(xt::linalg::lstsq(a, b));
            REQUIRE_THAT(matrix(xt::linalg::dot(a, m)),
                         IsCloseTo(b, 1e-10, 1e-10));
            REQUIRE_THAT(m, IsCloseTo(matrix(xt::view(
                                          r_k, xt::range(c0, c0 + 2),
                                          xt::range(c0, c0 + 2))),
                                      1e-9, 1e-9));
        }
        // R_k is orthogonal (a rotation per pair), and shifting back
        // undoes it: R_k R_-k = I.
        REQUIRE_THAT(matrix(xt::linalg::dot(r_k, xt::transpose(r_k))),
                     IsCloseTo(xt::eye<double>(d), 1e-14, 1e-14));
        REQUIRE_THAT(
            matrix(xt::linalg::dot(r_k, attn::pe_shift_matrix(-k, d))),
            IsCloseTo(xt::eye<double>(d), 1e-14, 1e-14));
    }
    // Shifts compose: R_2 R_3 = R_5.
    REQUIRE_THAT(matrix(xt::linalg::dot(attn::pe_shift_matrix(2, d),
                                        attn::pe_shift_matrix(3, d))),
                 IsCloseTo(attn::pe_shift_matrix(5, d), 1e-13, 1e-14));
    // Hand-worked block, d_model = 2, k = pi/2 (omega = 1): rotation by
    // 90 degrees, [[0, -1], [1, 0]]: (sin a, cos a) -> (cos a, -sin a)
    // = (sin(a + pi/2), cos(a + pi/2)).
    REQUIRE_THAT(attn::pe_shift_matrix(M_PI / 2, 2),
                 IsCloseTo(matrix{{0.0, -1.0}, {1.0, 0.0}}, 0.0, 1e-15));
}

// ------------------------------------------------------------------------
// Errors: every function of self_attention.hpp and positional.hpp refuses
// wrong arguments with a message naming the function, what it expected
// and what it got.

TEST_CASE("Errors: self_attention and its reference refuse projections "
          "that do not fit x", "[ch02][errors]")
{
    // x (3, 4): d_model = 4; w_q (4, 2) fixes d_k = 2.
    const matrix x = xt::zeros<double>({3, 4});
    const matrix w_q = xt::zeros<double>({4, 2});
    const matrix w_v = xt::zeros<double>({4, 5});
    REQUIRE_THROWS_WITH(attn::self_attention(x, w_q,
                                             xt::zeros<double>({4, 3}), w_v),
                        "self_attention: w_k must have shape (d_model, d_k) "
                        "= (4, 2), got (4, 3)");
    REQUIRE_THROWS_WITH(attn::self_attention_reference(
                            x, w_q, w_q, xt::zeros<double>({3, 5})),
                        "self_attention_reference: w_v must have shape "
                        "(d_model, d_v) = (4, 5), got (3, 5)");
    REQUIRE_THROWS_WITH(attn::self_attention(xt::zeros<double>({0, 4}), w_q,
                                             w_q, w_v),
                        "self_attention: x must not be empty, got shape "
                        "(0, 4)");
}

TEST_CASE("Errors: self_attention_columns refuses projections that do not "
          "fit", "[ch02][errors]")
{
    // x_cols (4, 3): d_model = 4; wq_cols (2, 4) fixes d_k = 2.
    const matrix x_cols = xt::zeros<double>({4, 3});
    const matrix wq = xt::zeros<double>({2, 4});
    REQUIRE_THROWS_WITH(attn::self_attention_columns(
                            x_cols, wq, xt::zeros<double>({2, 3}), wq),
                        "self_attention_columns: wk_cols must have shape "
                        "(d_k, d_model) = (2, 4), got (2, 3)");
}

TEST_CASE("Errors: permute_rows, measure_dot_products, softmax_jacobian "
          "and measure_saturation refuse bad arguments", "[ch02][errors]")
{
    const matrix x = xt::zeros<double>({3, 2});
    REQUIRE_THROWS_WITH(attn::permute_rows(x, {0, 1, 1}),
                        Catch::Contains("permute_rows: perm must be a "
                                        "permutation of 0, ..., n-1 with "
                                        "n = 3"));
    REQUIRE_THROWS_WITH(attn::measure_dot_products(4, 1, 1),
                        "measure_dot_products: need d_k >= 1 and n >= 2, got "
                        "d_k = 4, n = 1");
    REQUIRE_THROWS_WITH(attn::softmax_jacobian(matrix{{0.5}, {0.5}}),
                        "softmax_jacobian: a must have shape (1, n_k) = "
                        "(1, 1), got (2, 1)");
    const double nan = std::nan("");
    REQUIRE_THROWS_WITH(attn::measure_saturation(matrix{{0.0, 1.0},
                                                        {nan, 2.0}}),
                        Catch::Contains("measure_saturation: s must be "
                                        "finite")
                            && Catch::Contains("at index (1, 0)"));
}

TEST_CASE("Errors: the positional encodings refuse an odd or zero d_model",
          "[ch02][errors]")
{
    REQUIRE_THROWS_WITH(attn::pe_frequency(0, 0),
                        Catch::Contains("pe_frequency: d_model must be even "
                                        "and positive"));
    REQUIRE_THROWS_WITH(attn::sinusoidal_positional_encoding(4, 5),
                        Catch::Contains("sinusoidal_positional_encoding: "
                                        "d_model must be even")
                            && Catch::Contains("5"));
    REQUIRE_THROWS_WITH(attn::pe_shift_matrix(1.0, 3),
                        Catch::Contains("pe_shift_matrix: d_model must be "
                                        "even"));
}

// ------------------------------------------------------------------------
// Edge cases: one token, d_k = 1, identical tokens.

TEST_CASE("Edge: self-attention of one token is its own value",
          "[ch02][edge]")
{
    // n = 1: the one weight is 1, so y = v = x w_v, whatever w_q and w_k.
    const matrix x = random_matrix(1, 4, 81, 10.0);
    const matrix w_v = random_matrix(4, 3, 84);
    const auto r = attn::self_attention(x, random_matrix(4, 2, 82, 10.0),
                                        random_matrix(4, 2, 83, 10.0), w_v);
    REQUIRE_THAT(r.a, IsCloseTo(matrix{{1.0}}, 0.0, 0.0));
    REQUIRE_THAT(r.y, IsCloseTo(xt::linalg::dot(x, w_v), 1e-14));
    REQUIRE_THAT(attn::self_attention_reference(x, random_matrix(4, 2, 82),
                                                random_matrix(4, 2, 83), w_v)
                     .y,
                 IsCloseTo(r.y, 1e-14));
}

TEST_CASE("Edge: self-attention with d_k = 1 and with identical tokens",
          "[ch02][edge]")
{
    // d_k = 1, hand-worked: x = (1, 0; 0, 1), w_q = w_k = (ln 3 ; 0) so
    // q = k = (ln 3, 0); s_00 = (ln 3)^2, s_01 = s_10 = s_11 = 0.
    const double l3 = std::log(3.0);
    const matrix x = {{1.0, 0.0}, {0.0, 1.0}};
    const matrix w = {{l3}, {0.0}};
    const auto r = attn::self_attention(x, w, w, x);
    const double e = std::exp(l3 * l3);
    REQUIRE_THAT(r.a, IsCloseTo(matrix{{e / (e + 1), 1 / (e + 1)},
                                       {0.5, 0.5}}));
    // Identical tokens: identical queries and keys, uniform weights, and
    // every output row is the one value row.
    const matrix same = xt::ones<double>({5, 1}) * random_matrix(1, 4, 85);
    const auto u = attn::self_attention(same, random_matrix(4, 3, 86),
                                        random_matrix(4, 3, 87),
                                        random_matrix(4, 2, 88));
    REQUIRE_THAT(u.a, IsCloseTo(xt::full_like(u.a, 0.2), 1e-14));
    REQUIRE_THAT(u.y, IsCloseTo(xt::ones<double>({5, 1})
                                    * xt::view(u.v, xt::range(0, 1),
                                               xt::all()),
                                1e-13));
}

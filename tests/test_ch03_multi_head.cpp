// Tests of chapter 3: multi-head attention on column-block views (Eqs. 3.1
// to 3.4), the column form of the author's notes (Eq. 3.5), the output as
// a sum over heads (Eq. 3.6) and head gates (Eq. 3.7).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xsort.hpp>

#include "attention/attend.hpp"
#include "attention/masking.hpp"
#include "attention/multi_head.hpp"
#include "attention/self_attention.hpp"
#include "test_helpers.hpp"

using attn::matrix;
using attn::multi_head_weights;
using attn::vector;
using book_test::IsCloseTo;
using book_test::random_matrix;

namespace {

multi_head_weights random_weights(std::size_t d_model, std::uint64_t seed)
{
    return book_test::random_multi_head_weights(
        d_model, seed, 1.0 / std::sqrt(double(d_model)));
}

// About 70 % of the keys allowed.
attn::mask_matrix random_mask(std::size_t n_q, std::size_t n_k,
                             std::uint64_t seed)
{
    return book_test::random_mask(n_q, n_k, seed, 0.7);
}

// Random inputs of a layer: queries X_q (n_q, d_model) drawn with `seed`,
// keys and values from X_kv (n_k, d_model) with seed + kv_step, and the
// weights with seed + w_step.
struct layer_inputs {
    matrix x_q, x_kv;
    multi_head_weights w;
};

layer_inputs random_inputs(std::size_t n_q, std::size_t n_k,
                           std::size_t d_model, std::uint64_t seed,
                           std::uint64_t kv_step = 1, std::uint64_t w_step = 2)
{
    return {random_matrix(n_q, d_model, seed),
            random_matrix(n_k, d_model, seed + kv_step),
            random_weights(d_model, seed + w_step)};
}

// The layer as self-attention on random X (n, d_model) drawn with `seed`,
// its weights drawn with seed + w_step: the inputs and the result.
struct self_layer {
    matrix x;
    multi_head_weights w;
    attn::multi_head_result r;
};

self_layer run_self_layer(std::size_t n, std::size_t d_model,
                          std::size_t heads, std::uint64_t seed,
                          std::uint64_t w_step = 1)
{
    const matrix x = random_matrix(n, d_model, seed);
    const auto w = random_weights(d_model, seed + w_step);
    return {x, w, attn::multi_head_attention(x, x, w, heads)};
}

// The block of rows [h d_k, (h+1) d_k) of w_o: what head h writes through.
matrix rows_block(const matrix& m, std::size_t h, std::size_t d_k)
{
    return xt::view(m, xt::range(h * d_k, (h + 1) * d_k), xt::all());
}

// The hand-worked layer of the tests below: d_model = 2, H = 2, d_k = 1,
// identity projections, so head 0 sees column 0 of X and head 1 column 1.
// With c = sqrt(ln 3) and X = [[0, 1], [c, 1]]:
//   head 0: q = k = v = (0, c).
//     query 0: scores (0*0, 0*c) = (0, 0) -> weights (1/2, 1/2),
//              output (0 + c)/2 = c/2
//     query 1: scores (c*0, c*c) = (0, ln 3) -> weights (1/4, 3/4),
//              output 3c/4
//   head 1: q = k = v = (1, 1): every score 1 -> weights (1/2, 1/2),
//           output 1 for both queries.
// W_o swaps the two columns and b_o = (10, 20), so
//   y = [[1 + 10, c/2 + 20], [1 + 10, 3c/4 + 20]].
const double c = std::sqrt(std::log(3.0));
const matrix hand_x = {{0.0, 1.0}, {c, 1.0}};

multi_head_weights hand_weights()
{
    const matrix eye = xt::eye<double>(2);
    return {eye, eye, eye, matrix{{0.0, 1.0}, {1.0, 0.0}},
            vector{10.0, 20.0}};
}

}  // namespace

// ---------------------------------------------------------------- Eq. 3.1

TEST_CASE("Eq. 3.1: a head view points into the parent's buffer",
          "[ch03][eq_head_projections]")
{
    // A (2, 6) matrix with entries 0..11 and d_k = 2: head 1 owns columns
    // 2 and 3, so its (0, 0) entry is the parent's flat element 2 and its
    // (1, 1) entry the parent's element 6 + 3 = 9.
    matrix m = xt::reshape_view(xt::arange<double>(12.0), {2, 6});
    auto v = attn::head_view(m, 1, 2);
    REQUIRE(v.shape()[0] == 2);
    REQUIRE(v.shape()[1] == 2);
    REQUIRE(&v(0, 0) == m.data() + 2);
    REQUIRE(&v(1, 1) == m.data() + 9);
    REQUIRE(v(1, 1) == 9.0);
    // Writing through the view writes into the parent: no copy.
    v(1, 0) = -1.0;
    REQUIRE(m(1, 2) == -1.0);
    const matrix& cm = m;
    REQUIRE(&attn::head_view(cm, 2, 2)(1, 1) == m.data() + 11);
}

TEST_CASE("Errors: head_view refuses a block past the last column and "
          "d_k = 0", "[ch03][errors]")
{
    matrix m = xt::reshape_view(xt::arange<double>(12.0), {2, 6});
    REQUIRE_THROWS_WITH(attn::head_view(m, 3, 2),
                        Catch::Contains("head_view: columns [6, 8)"));
    REQUIRE_THROWS_AS(attn::head_view(m, 0, 0), std::invalid_argument);
}

TEST_CASE("Eq. 3.1: the layer's heads are views of its one projected Q",
          "[ch03][eq_head_projections]")
{
    // The layer itself reports where the blocks that BLAS read (q^h, k^h,
    // v^h) and wrote (y^h) start in its own q, k, v and heads. A view of
    // head h's columns starts h d_k doubles in; a block copied into a
    // matrix of its own lies outside them, and the offset says not_inside.
    const auto [x_q, x_kv, w] = random_inputs(5, 6, 8, 31, 2, 1);
    for (std::size_t heads : {1u, 2u, 4u, 8u}) {
        CAPTURE(heads);
        const auto r = attn::multi_head_attention(x_q, x_kv, w, heads);
        const std::size_t d_k = 8 / heads;
        REQUIRE(r.offsets.size() == heads);
        for (std::size_t h = 0; h < heads; ++h) {
            CAPTURE(h);
            REQUIRE(r.offsets[h].q == h * d_k);
            REQUIRE(r.offsets[h].k == h * d_k);
            REQUIRE(r.offsets[h].v == h * d_k);
            REQUIRE(r.offsets[h].heads == h * d_k);
        }
    }
    // The same offsets under a mask and gates.
    const auto masked = attn::multi_head_attention(
        x_q, x_kv, w, 4, random_mask(5, 6, 34), vector{1.0, 0.0, 0.5, 2.0});
    REQUIRE(masked.offsets.size() == 4);
    for (std::size_t h = 0; h < 4; ++h) {
        CAPTURE(h);
        REQUIRE(masked.offsets[h].q == 2 * h);
        REQUIRE(masked.offsets[h].heads == 2 * h);
    }
    // The measure tells a view from a copy.
    const matrix x = random_matrix(5, 8, 31);
    auto r = attn::multi_head_attention(x, x, random_weights(8, 32), 4);
    const matrix copied = attn::head_view(r.q, 1, 2);
    REQUIRE(attn::detail::offset_in(r.q, &copied(0, 0))
            == attn::head_offsets::not_inside);
    REQUIRE(attn::detail::offset_in(r.q, &attn::head_view(r.q, 1, 2)(0, 0))
            == 2);
    for (std::size_t h = 0; h < 4; ++h) {
        REQUIRE(&attn::head_view(r.q, h, 2)(0, 0) == r.q.data() + 2 * h);
        REQUIRE(&attn::head_view(r.heads, h, 2)(4, 1)
                == r.heads.data() + 4 * 8 + 2 * h + 1);
    }
}

TEST_CASE("Eq. 3.1: split into heads, then concatenate: identity",
          "[ch03][eq_head_projections]")
{
    for (std::size_t heads : {1u, 2u, 3u, 6u}) {
        CAPTURE(heads);
        const matrix m = random_matrix(4, 6, 40 + heads);
        const std::size_t d_k = 6 / heads;
        matrix joined = xt::zeros<double>({4, 6});
        std::vector<int> owner(6, -1);
        for (std::size_t h = 0; h < heads; ++h) {
            attn::head_view(joined, h, d_k) = attn::head_view(m, h, d_k);
            for (std::size_t col = h * d_k; col < (h + 1) * d_k; ++col) {
                REQUIRE(owner[col] == -1);  // no column in two heads
                owner[col] = int(h);
            }
        }
        REQUIRE_THAT(joined, IsCloseTo(m, 0.0, 0.0));
        REQUIRE(std::count(owner.begin(), owner.end(), -1) == 0);
    }
}

TEST_CASE("Eq. 3.1: head h's block of Q is X times head h's slice of W_q",
          "[ch03][eq_head_projections]")
{
    for (std::uint64_t seed : {51u, 52u, 53u}) {
        CAPTURE(seed);
        const auto [x, w, r] = run_self_layer(5, 8, 4, seed, 10);
        for (std::size_t h = 0; h < 4; ++h) {
            const matrix w_q_h = attn::head_view(w.w_q, h, 2);  // (8, 2)
            // Literal loops for Q^h = X W_q^h.
            matrix q_h = xt::zeros<double>({5, 2});
            for (std::size_t i = 0; i < 5; ++i) {
                for (std::size_t c2 = 0; c2 < 2; ++c2) {
                    for (std::size_t e = 0; e < 8; ++e) {
                        q_h(i, c2) += x(i, e) * w_q_h(e, c2);
                    }
                }
            }
            REQUIRE_THAT(matrix(attn::head_view(r.q, h, 2)),
                         IsCloseTo(q_h, 1e-12, 1e-14));
        }
    }
}

// ---------------------------------------------------------------- Eq. 3.2

TEST_CASE("Eq. 3.2: per-head attention, hand-worked",
          "[ch03][eq_head_attention]")
{
    const auto r = attn::multi_head_attention(hand_x, hand_x, hand_weights(),
                                              2);
    attn::tensor3 a_expected = {{{0.5, 0.5}, {0.25, 0.75}},
                                {{0.5, 0.5}, {0.5, 0.5}}};
    REQUIRE_THAT(r.a, IsCloseTo(a_expected, 1e-12, 1e-15));
    REQUIRE_THAT(r.heads, IsCloseTo(matrix{{c / 2, 1.0}, {3 * c / 4, 1.0}},
                                    1e-12, 1e-15));
}

TEST_CASE("Eq. 3.2: each head is attend() on its own W slices",
          "[ch03][eq_head_attention]")
{
    for (std::uint64_t seed : {61u, 62u, 63u}) {
        CAPTURE(seed);
        const auto [x_q, x_kv, w] = random_inputs(4, 7, 12, seed, 5, 10);
        const auto r = attn::multi_head_attention(x_q, x_kv, w, 3);
        for (std::size_t h = 0; h < 3; ++h) {
            // Head h as its own small layer, with its own weight slices.
            const matrix q_h =
                xt::linalg::dot(x_q, matrix(attn::head_view(w.w_q, h, 4)));
            const matrix k_h =
                xt::linalg::dot(x_kv, matrix(attn::head_view(w.w_k, h, 4)));
            const matrix v_h =
                xt::linalg::dot(x_kv, matrix(attn::head_view(w.w_v, h, 4)));
            const auto single = attn::attend(q_h, k_h, v_h);
            REQUIRE_THAT(matrix(xt::view(r.a, h, xt::all(), xt::all())),
                         IsCloseTo(single.a, 1e-12, 1e-14));
            REQUIRE_THAT(matrix(attn::head_view(r.heads, h, 4)),
                         IsCloseTo(single.y, 1e-12, 1e-14));
        }
        // Properties: every head's rows sum to 1.
        const matrix sums = xt::sum(r.a, {2});
        REQUIRE_THAT(sums, IsCloseTo(xt::ones<double>({3, 4}), 1e-14));
    }
}

TEST_CASE("Eq. 3.2: masked weights are 0, a fully masked row gives b_o",
          "[ch03][eq_head_attention]")
{
    for (std::uint64_t seed : {71u, 72u, 73u}) {
        CAPTURE(seed);
        const auto [x_q, x_kv, w] = random_inputs(5, 6, 8, seed);
        attn::mask_matrix mask = random_mask(5, 6, seed + 3);
        xt::view(mask, 2, xt::all()) = false;  // query 2 may attend nothing
        mask(0, 0) = true;                     // query 0 at least one key
        const auto r = attn::multi_head_attention(x_q, x_kv, w, 4, mask);
        for (std::size_t h = 0; h < 4; ++h) {
            for (std::size_t i = 0; i < 5; ++i) {
                for (std::size_t j = 0; j < 6; ++j) {
                    if (!mask(i, j)) {
                        REQUIRE(r.a(h, i, j) == 0.0);  // exactly zero
                    }
                }
            }
        }
        REQUIRE_THAT(matrix(xt::view(r.heads, xt::range(2, 3), xt::all())),
                     IsCloseTo(xt::zeros<double>({1, 8}), 0.0, 0.0));
        REQUIRE_THAT(vector(xt::view(r.y, 2, xt::all())),
                     IsCloseTo(w.b_o, 1e-15, 0.0));
        REQUIRE(!xt::any(xt::isnan(r.y)));
        // Rows with an allowed key still sum to 1 in every head.
        for (std::size_t h = 0; h < 4; ++h) {
            REQUIRE(xt::sum(xt::view(r.a, h, 0, xt::all()))()
                    == Approx(1.0).epsilon(1e-14));
        }
        const auto ref = attn::multi_head_attention_reference(x_q, x_kv, w,
                                                              4, mask);
        REQUIRE_THAT(r.a, IsCloseTo(ref.a, 1e-12, 1e-14));
        REQUIRE_THAT(r.y, IsCloseTo(ref.y, 1e-12, 1e-14));
    }
}

TEST_CASE("Eq. 3.2: a head of width 1 needs a mask to find the "
          "previous position",
          "[ch03][eq_head_attention]")
{
    // A head of width d_k = 1 scores s_ij = q_i k_j / sqrt(1). Take
    // q_i = beta = 2 for every query and keys rising with position,
    // k_j = j, over n = 6 positions.
    const std::size_t n = 6;
    const double beta = 2.0;
    matrix s = xt::zeros<double>({n, n});
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            s(i, j) = beta * double(j);
        }
    }
    SECTION("without a mask every query prefers the same key")
    {
        // Rank 1: every row ranks the keys as k does, so every query's
        // largest weight is on the last key, never on i - 1 for i < 5.
        const matrix a = attn::softmax_rows(s);
        for (std::size_t i = 0; i < n; ++i) {
            CAPTURE(i);
            REQUIRE(xt::argmax(xt::row(a, i))() == n - 1);
        }
    }
    SECTION("under the strict causal mask each query finds i - 1")
    {
        // Query i sees keys j < i; its favourite is j = i - 1, with
        // weight 1 / (1 + e^-beta + ... + e^-(i-1) beta) > 1 - e^-beta.
        const matrix a = attn::softmax_rows(
            s + attn::mask_bias(
                    attn::causal_mask(n, n, attn::diagonal::excluded)));
        for (std::size_t i = 1; i < n; ++i) {
            CAPTURE(i);
            REQUIRE(xt::argmax(xt::row(a, i))() == i - 1);
            REQUIRE(a(i, i - 1) > 1.0 - std::exp(-beta));
            double z = 0.0;  // the denominator, by hand
            for (std::size_t j = 0; j < i; ++j) {
                z += std::exp(-beta * double(j));
            }
            REQUIRE(a(i, i - 1) == Approx(1.0 / z).epsilon(1e-15));
        }
        // Query 0 sees no key: zero weights (the book's convention).
        REQUIRE(xt::sum(xt::row(a, 0))() == 0.0);
    }
}

// ---------------------------------------------------------------- Eq. 3.3

TEST_CASE("Eq. 3.3: head h fills columns h d_k to (h+1) d_k - 1 of Y_cat",
          "[ch03][eq_concat_heads]")
{
    for (std::uint64_t seed : {81u, 82u}) {
        CAPTURE(seed);
        const auto [x, w, r] = run_self_layer(6, 8, 2, seed);
        // Concatenate the heads' outputs by hand, column by column.
        matrix joined = xt::zeros<double>({6, 8});
        for (std::size_t h = 0; h < 2; ++h) {
            const matrix q_h = xt::linalg::dot(
                x, matrix(attn::head_view(w.w_q, h, 4)));
            const matrix k_h = xt::linalg::dot(
                x, matrix(attn::head_view(w.w_k, h, 4)));
            const matrix v_h = xt::linalg::dot(
                x, matrix(attn::head_view(w.w_v, h, 4)));
            const matrix y_h = attn::attend(q_h, k_h, v_h).y;  // (6, 4)
            for (std::size_t i = 0; i < 6; ++i) {
                for (std::size_t col = 0; col < 4; ++col) {
                    joined(i, h * 4 + col) = y_h(i, col);
                }
            }
        }
        REQUIRE_THAT(r.heads, IsCloseTo(joined, 1e-12, 1e-14));
    }
}

// ---------------------------------------------------------------- Eq. 3.4

TEST_CASE("Eq. 3.4: output projection, hand-worked",
          "[ch03][eq_output_projection]")
{
    // heads = [[c/2, 1], [3c/4, 1]] (see hand_x); W_o swaps the columns;
    // b_o = (10, 20).
    const auto r = attn::multi_head_attention(hand_x, hand_x, hand_weights(),
                                              2);
    REQUIRE_THAT(r.y, IsCloseTo(matrix{{11.0, c / 2 + 20.0},
                                       {11.0, 3 * c / 4 + 20.0}},
                                1e-12, 1e-15));
}

TEST_CASE("Eq. 3.4: the layer equals its literal loops",
          "[ch03][eq_output_projection]")
{
    for (std::uint64_t seed : {91u, 92u, 93u}) {
        CAPTURE(seed);
        for (std::size_t heads : {1u, 2u, 3u, 6u}) {
            const auto [x_q, x_kv, w] = random_inputs(4, 5, 6, seed);
            const vector gates = xt::view(random_matrix(1, heads, seed + 3),
                                          0, xt::all());
            const attn::mask_matrix mask = random_mask(4, 5, seed + 4);
            const auto r = attn::multi_head_attention(x_q, x_kv, w, heads,
                                                      mask, gates);
            const auto ref = attn::multi_head_attention_reference(
                x_q, x_kv, w, heads, mask, gates);
            REQUIRE_THAT(r.q, IsCloseTo(ref.q, 1e-12, 1e-14));
            REQUIRE_THAT(r.k, IsCloseTo(ref.k, 1e-12, 1e-14));
            REQUIRE_THAT(r.v, IsCloseTo(ref.v, 1e-12, 1e-14));
            REQUIRE_THAT(r.a, IsCloseTo(ref.a, 1e-12, 1e-14));
            REQUIRE_THAT(r.heads, IsCloseTo(ref.heads, 1e-12, 1e-14));
            REQUIRE_THAT(r.y, IsCloseTo(ref.y, 1e-12, 1e-14));
        }
    }
}

TEST_CASE("Eq. 3.4: with H = 1 the layer is chapter 2's single head",
          "[ch03][eq_output_projection]")
{
    for (std::uint64_t seed : {101u, 102u, 103u}) {
        CAPTURE(seed);
        const auto [x, w, r] = run_self_layer(6, 8, 1, seed);
        const auto single = attn::self_attention(x, w.w_q, w.w_k, w.w_v);
        REQUIRE_THAT(r.q, IsCloseTo(single.q, 1e-12, 1e-14));
        REQUIRE_THAT(matrix(xt::view(r.a, 0, xt::all(), xt::all())),
                     IsCloseTo(single.a, 1e-12, 1e-14));
        REQUIRE_THAT(r.heads, IsCloseTo(single.y, 1e-12, 1e-14));
        const matrix y = xt::linalg::dot(single.y, w.w_o) + w.b_o;
        REQUIRE_THAT(r.y, IsCloseTo(y, 1e-12, 1e-14));
    }
}

TEST_CASE("Eq. 3.4: the multiply-adds do not depend on H",
          "[ch03][eq_output_projection]")
{
    // n_q = 3, n_k = 4, d_model = 6: projections (3 + 2*4) * 36 = 396,
    // scores and mixing 3 * 4 * 6 = 72 each, output 3 * 36 = 108;
    // total 648, for every H that divides 6. Only the number of
    // exponentials grows: H * 3 * 4.
    const auto [x_q, x_kv, w] = random_inputs(3, 4, 6, 111);
    for (std::size_t heads : {1u, 2u, 3u, 6u}) {
        const auto cost = attn::multi_head_multiply_adds(3, 4, 6, heads);
        REQUIRE(cost.projections == 396);
        REQUIRE(cost.scores == 72);
        REQUIRE(cost.mixing == 72);
        REQUIRE(cost.output == 108);
        REQUIRE(cost.total() == 648);
        REQUIRE(cost.exponentials == heads * 12);
        // The literal loops count their own multiply-adds.
        std::size_t counted = 0;
        attn::multi_head_attention_reference(x_q, x_kv, w, heads, {}, {},
                                             &counted);
        REQUIRE(counted == cost.total());
    }
}

TEST_CASE("Errors: multi_head_multiply_adds refuses H that does not divide "
          "d_model (as an exception type)", "[ch03][errors]")
{
    REQUIRE_THROWS_AS(attn::multi_head_multiply_adds(3, 4, 6, 4),
                      std::invalid_argument);
}

TEST_CASE("Errors: multi-head attention refuses inconsistent shapes",
          "[ch03][errors]")
{
    const matrix x = xt::zeros<double>({3, 6});
    const auto w = random_weights(6, 121);
    REQUIRE_THROWS_WITH(attn::multi_head_attention(x, x, w, 4),
                        "multi_head_attention: the number of heads H = 4 "
                        "must divide d_model = 6");
    REQUIRE_THROWS_AS(attn::multi_head_attention(x, x, w, 0),
                      std::invalid_argument);
    REQUIRE_THROWS_WITH(
        attn::multi_head_attention(x, xt::zeros<double>({2, 5}), w, 2),
        "multi_head_attention: x_kv must have shape (n_k, d_model) = "
        "(2, 6), got (2, 5)");
    auto bad = w;
    bad.w_o = xt::zeros<double>({6, 4});
    REQUIRE_THROWS_WITH(attn::multi_head_attention(x, x, bad, 2),
                        Catch::Contains("w_o must have shape"));
    bad = w;
    bad.b_o = xt::zeros<double>({5});
    REQUIRE_THROWS_WITH(attn::multi_head_attention(x, x, bad, 2),
                        Catch::Contains("b_o must have shape (d_model,)"));
    REQUIRE_THROWS_WITH(attn::multi_head_attention(x, x, w, 2,
                                                   attn::mask_matrix({3, 2})),
                        Catch::Contains("mask must have shape (n_q, n_k)"));
    REQUIRE_THROWS_WITH(attn::multi_head_attention(x, x, w, 2, {},
                                                   vector({3})),
                        Catch::Contains("gates must have shape (H,)"));
    REQUIRE_THROWS_WITH(attn::multi_head_attention(
                            xt::zeros<double>({0, 6}), x, w, 2),
                        Catch::Contains("x_q must not be empty"));
}

// ---------------------------------------------------------------- Eq. 3.5

TEST_CASE("Eq. 3.5: column form V~ = W_o^T Y_cat^T + b_o 1^T is y "
          "transposed",
          "[ch03][eq_mha_column_form]")
{
    for (std::uint64_t seed : {131u, 132u, 133u}) {
        CAPTURE(seed);
        for (std::size_t heads : {1u, 2u, 4u}) {
            const auto [x_q, x_kv, w] = random_inputs(5, 3, 8, seed);
            const matrix y = attn::multi_head_attention(x_q, x_kv, w,
                                                        heads).y;  // (5, 8)
            const matrix v_tilde = attn::multi_head_attention_columns(
                xt::transpose(x_q), xt::transpose(x_kv), w, heads);
            REQUIRE_THAT(v_tilde, IsCloseTo(xt::transpose(y), 1e-12, 1e-14));
        }
    }
    // The hand-worked layer, as columns: V~ = y^T.
    const matrix v_tilde = attn::multi_head_attention_columns(
        xt::transpose(hand_x), xt::transpose(hand_x), hand_weights(), 2);
    REQUIRE_THAT(v_tilde, IsCloseTo(matrix{{11.0, 11.0},
                                           {c / 2 + 20.0, 3 * c / 4 + 20.0}},
                                    1e-12, 1e-15));
}

TEST_CASE("Errors: the column form refuses z_cols whose rows do not match "
          "x_cols", "[ch03][errors]")
{
    REQUIRE_THROWS_WITH(attn::multi_head_attention_columns(
                            xt::zeros<double>({6, 2}),
                            xt::zeros<double>({5, 2}),
                            random_weights(6, 1), 2),
                        Catch::Contains("z_cols must have shape"));
}

// ---------------------------------------------------------------- Eq. 3.6

TEST_CASE("Eq. 3.6: concat(heads) W_o = sum_h head_h W_o^h",
          "[ch03][eq_output_by_head]")
{
    // Hand-worked: heads = [[c/2, 1], [3c/4, 1]], W_o = [[0, 1], [1, 0]]:
    // head 0 writes (c/2)(0, 1) = (0, c/2) into row 0, head 1 writes
    // 1 * (1, 0); their sum plus b_o is y's row 0, (11, c/2 + 20).
    const auto hand = attn::multi_head_attention(hand_x, hand_x,
                                                 hand_weights(), 2);
    const matrix w_o = hand_weights().w_o;
    const matrix y0 = attn::head_view(hand.heads, 0, 1);  // (2, 1)
    const matrix head0 = xt::linalg::dot(y0, rows_block(w_o, 0, 1));
    const matrix y1 = attn::head_view(hand.heads, 1, 1);  // (2, 1)
    const matrix head1 = xt::linalg::dot(y1, rows_block(w_o, 1, 1));
    REQUIRE_THAT(head0, IsCloseTo(matrix{{0.0, c / 2}, {0.0, 3 * c / 4}}));
    REQUIRE_THAT(head1, IsCloseTo(matrix{{1.0, 0.0}, {1.0, 0.0}}));
    for (std::uint64_t seed : {141u, 142u, 143u}) {
        CAPTURE(seed);
        for (std::size_t heads : {2u, 3u, 6u}) {
            const std::size_t d_k = 6 / heads;
            const auto [x, w, r] = run_self_layer(5, 6, heads, seed);
            matrix sum = xt::zeros<double>({5, 6});
            for (std::size_t h = 0; h < heads; ++h) {
                sum += xt::linalg::dot(matrix(attn::head_view(r.heads, h, d_k)),
                                       rows_block(w.w_o, h, d_k));
            }
            REQUIRE_THAT(sum + w.b_o, IsCloseTo(r.y, 1e-12, 1e-14));
        }
    }
}

// ---------------------------------------------------------------- Eq. 3.7

TEST_CASE("Eq. 3.7: a gate of 0 equals removing the head's slice of W_o",
          "[ch03][eq_head_gates]")
{
    for (std::uint64_t seed : {151u, 152u, 153u}) {
        CAPTURE(seed);
        const matrix x = random_matrix(5, 8, seed);
        const auto w = random_weights(8, seed + 1);
        for (std::size_t pruned = 0; pruned < 4; ++pruned) {
            vector gates = xt::ones<double>({4});
            gates(pruned) = 0.0;
            const auto gated = attn::multi_head_attention(x, x, w, 4, {},
                                                          gates);
            auto removed = w;
            xt::view(removed.w_o, xt::range(2 * pruned, 2 * pruned + 2),
                     xt::all()) = 0.0;
            const auto without = attn::multi_head_attention(x, x, removed,
                                                            4);
            REQUIRE_THAT(gated.y, IsCloseTo(without.y, 1e-12, 1e-14));
            // The pruned head still attends; only its output is dropped.
            REQUIRE_THAT(gated.a, IsCloseTo(without.a, 0.0, 0.0));
            REQUIRE(xt::all(xt::equal(
                attn::head_view(gated.heads, pruned, 2), 0.0)));
        }
    }
}

TEST_CASE("Eq. 3.7: gates scale each head's output, all ones is no gate",
          "[ch03][eq_head_gates]")
{
    // Hand-worked: gates (2, 0.5) double head 0 and halve head 1:
    // heads = [[2 c/2, 0.5], [2 * 3c/4, 0.5]] = [[c, 0.5], [1.5 c, 0.5]];
    // W_o swaps: y = [[0.5 + 10, c + 20], [0.5 + 10, 1.5 c + 20]].
    const auto hand = attn::multi_head_attention(
        hand_x, hand_x, hand_weights(), 2, {}, vector{2.0, 0.5});
    REQUIRE_THAT(hand.y, IsCloseTo(matrix{{10.5, c + 20.0},
                                          {10.5, 1.5 * c + 20.0}},
                                   1e-12, 1e-15));
    for (std::uint64_t seed : {161u, 162u}) {
        CAPTURE(seed);
        const matrix x = random_matrix(4, 6, seed);
        const auto w = random_weights(6, seed + 1);
        const auto plain = attn::multi_head_attention(x, x, w, 3);
        const auto ones = attn::multi_head_attention(
            x, x, w, 3, {}, xt::ones<double>({3}));
        REQUIRE_THAT(ones.y, IsCloseTo(plain.y, 0.0, 0.0));
        // All gates 0: nothing passes, y = b_o in every row.
        const auto zeros = attn::multi_head_attention(
            x, x, w, 3, {}, xt::zeros<double>({3}));
        REQUIRE_THAT(zeros.y, IsCloseTo(xt::zeros<double>({4, 6}) + w.b_o,
                                        0.0, 0.0));
    }
}

// ------------------------------------------------------------------------
// Errors: the functions of multi_head.hpp not covered above.

TEST_CASE("Errors: multi_head_attention_reference refuses a mask or gates "
          "of the wrong shape", "[ch03][errors]")
{
    // x (3, 6), H = 2: the mask must be (n_q, n_k) = (3, 3), gates (2,).
    const matrix x = xt::zeros<double>({3, 6});
    const auto w = random_weights(6, 131);
    REQUIRE_THROWS_WITH(attn::multi_head_attention_reference(
                            x, x, w, 2,
                            attn::mask_matrix(xt::ones<bool>({3, 2}))),
                        "multi_head_attention_reference: mask must have "
                        "shape (n_q, n_k) = (3, 3), got (3, 2)");
    REQUIRE_THROWS_WITH(attn::multi_head_attention_reference(
                            x, x, w, 2, {}, vector(xt::ones<double>({3}))),
                        "multi_head_attention_reference: gates must have "
                        "shape (H,) = (2,), got (3,)");
    REQUIRE_THROWS_WITH(attn::multi_head_attention_reference(x, x, w, 4),
                        "multi_head_attention_reference: the number of "
                        "heads H = 4 must divide d_model = 6");
}

TEST_CASE("Errors: multi_head_multiply_adds, head_view and the column "
          "form refuse bad sizes", "[ch03][errors]")
{
    REQUIRE_THROWS_WITH(attn::multi_head_multiply_adds(3, 4, 6, 4),
                        "multi_head_multiply_adds: H = 4 must divide "
                        "d_model = 6");
    matrix m = xt::zeros<double>({2, 6});
    REQUIRE_THROWS_WITH(attn::head_view(m, 3, 2),
                        "head_view: columns [6, 8) of head 3 do not fit in a "
                        "matrix of shape (2, 6)");
    const auto w = random_weights(6, 132);
    // x_cols (6, 3): d_model = 6; z_cols must have 6 rows too.
    REQUIRE_THROWS_WITH(attn::multi_head_attention_columns(
                            xt::zeros<double>({6, 3}),
                            xt::zeros<double>({5, 4}), w, 2),
                        "multi_head_attention_columns: z_cols must have "
                        "shape (d_model, n_k) = (6, 4), got (5, 4)");
    REQUIRE_THROWS_WITH(attn::multi_head_attention_columns(
                            xt::zeros<double>({6, 3}),
                            xt::zeros<double>({6, 4}), w, 5),
                        "multi_head_attention_columns: the number of heads "
                        "H = 5 must divide d_model = 6");
}

// ------------------------------------------------------------------------
// Edge cases: H = d_model (d_k = 1), one token, masked rows, huge logits.

TEST_CASE("Edge: H = d_model, so d_k = 1: the layer equals its literal "
          "loops and each head is a one-column attend()", "[ch03][edge]")
{
    const std::size_t d_model = 4;
    for (std::uint64_t seed : {141u, 142u}) {
        CAPTURE(seed);
        const auto [x_q, x_kv, w] = random_inputs(3, 5, d_model, seed, 10, 20);
        const auto mask = random_mask(3, 5, seed + 30);
        const auto r = attn::multi_head_attention(x_q, x_kv, w, d_model,
                                                  mask);
        const auto ref = attn::multi_head_attention_reference(
            x_q, x_kv, w, d_model, mask);
        REQUIRE_THAT(r.y, IsCloseTo(ref.y, 1e-12));
        REQUIRE_THAT(r.a, IsCloseTo(ref.a, 1e-12));
        // Head 2 alone, unmasked: attend() on column 2 of q, k, v.
        const auto open = attn::multi_head_attention(x_q, x_kv, w, d_model);
        const matrix q2 = xt::view(open.q, xt::all(), xt::range(2, 3));
        const matrix k2 = xt::view(open.k, xt::all(), xt::range(2, 3));
        const matrix v2 = xt::view(open.v, xt::all(), xt::range(2, 3));
        const matrix a2 = xt::view(open.a, 2, xt::all(), xt::all());
        REQUIRE_THAT(a2, IsCloseTo(attn::attend(q2, k2, v2).a, 1e-12));
    }
}

TEST_CASE("Edge: one token, a fully masked layer, and logits near the "
          "largest double", "[ch03][edge]")
{
    const auto w = random_weights(4, 151);
    // One token: every head's one weight is 1.
    const matrix x1 = random_matrix(1, 4, 152, 10.0);
    const auto one = attn::multi_head_attention(x1, x1, w, 2);
    REQUIRE_THAT(one.a, IsCloseTo(xt::ones<double>({2, 1, 1}), 0.0, 0.0));
    // Every key masked: zero weights, zero heads, and y is b_o in every
    // row (the convention of the introduction).
    const matrix x = random_matrix(3, 4, 153);
    const auto none = attn::multi_head_attention(
        x, x, w, 2, attn::mask_matrix(xt::zeros<bool>({3, 3})));
    REQUIRE_THAT(none.a, IsCloseTo(xt::zeros<double>({2, 3, 3}), 0.0, 0.0));
    REQUIRE_THAT(none.y, IsCloseTo(xt::ones<double>({3, 1})
                                       * xt::view(w.b_o, xt::newaxis(),
                                                  xt::all()),
                                   0.0, 0.0));
    // Scores of about 1e306 (q = k = 1e153 per column, H = 4, d_k = 1):
    // the first key wins outright, the weights are finite, one-hot.
    multi_head_weights id = w;
    id.w_q = id.w_k = id.w_v = id.w_o = xt::eye<double>(4);
    const double big = 1e153;
    const matrix xb = {{big, big, big, big}, {-big, -big, -big, -big}};
    const auto huge = attn::multi_head_attention(xb, xb, id, 4);
    // Query 0 (all +big) scores key 0 at +1e306 and key 1 at -1e306.
    for (std::size_t h = 0; h < 4; ++h) {
        REQUIRE(huge.a(h, 0, 0) == 1.0);
        REQUIRE(huge.a(h, 0, 1) == 0.0);
    }
    REQUIRE(xt::all(xt::isfinite(huge.y)));
}

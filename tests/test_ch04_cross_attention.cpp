// Tests of chapter 4: cross-attention (Eq. 4.1), the causal mask (4.2),
// the padding mask (4.3), masks combined by AND (4.4), the additive
// -inf bias (4.5), the finite-fill softmax of popular code (4.6), the
// key-value cache (4.7) and the decoder block (4.8).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>

#include "attention/attend.hpp"
#include "attention/core.hpp"
#include "attention/decoder_block.hpp"
#include "attention/kv_cache.hpp"
#include "attention/masking.hpp"
#include "attention/multi_head.hpp"
#include "test_helpers.hpp"

using attn::mask_matrix;
using attn::matrix;
using book_test::inf;
using book_test::IsCloseTo;
using book_test::max_abs_diff;
using book_test::random_head_inputs;
using book_test::random_mask;
using book_test::random_matrix;
using book_test::random_qkv;

// ------------------------------------------------------------- Eq. 4.1

namespace {

// Random weights of a layer, with standard deviation 0.5 (b_o 1).
attn::multi_head_weights random_layer(std::size_t d_model,
                                      std::uint64_t seed)
{
    return book_test::random_multi_head_weights(d_model, seed, 0.5);
}

// Random inputs of a decoder block: target X (n_t, d_model) drawn with
// `seed`, source Z (n_s, d_model) with seed + 10, the self-attention
// layer's weights with `seed` and the cross-attention layer's with
// seed + 50.
struct decoder_inputs {
    matrix x, z;
    attn::decoder_block_weights w;
};

decoder_inputs random_decoder_inputs(std::size_t n_t, std::size_t n_s,
                                     std::size_t d_model, std::uint64_t seed)
{
    return {random_matrix(n_t, d_model, seed),
            random_matrix(n_s, d_model, seed + 10),
            {random_layer(d_model, seed), random_layer(d_model, seed + 50)}};
}

// True if row i of y equals b bit for bit.
bool row_is(const matrix& y, std::size_t i, const attn::vector& b)
{
    for (std::size_t c = 0; c < b.size(); ++c) {
        if (y(i, c) != b(c)) {
            return false;
        }
    }
    return true;
}

}  // namespace

TEST_CASE("Eq. 4.1: cross-attention, hand-worked", "[ch04][eq_cross_attention]")
{
    // H = 1, d_model = 2, all projections the identity, b_o = (0.5, -0.5).
    // Two decoder queries X, three encoder rows Z (n_q = 2 != n_k = 3).
    // Query 0 = (sqrt(2) ln 3, 0): scores q.z_j / sqrt(2) = ln 3, 0, 0,
    //   weights 3/5, 1/5, 1/5, mix 3/5 (1, 0) + 1/5 (0, 1) = (0.6, 0.2),
    //   output (1.1, -0.3).
    // Query 1 = (0, 0): scores 0, 0, 0: weights 1/3 each, mix (1/3, 1/3),
    //   output (5/6, -1/6); with every key masked, output b_o exactly.
    const matrix x = {{std::sqrt(2.0) * std::log(3.0), 0.0}, {0.0, 0.0}};
    const matrix z = {{1.0, 0.0}, {0.0, 1.0}, {0.0, 0.0}};
    const matrix eye = xt::eye<double>(2);
    attn::multi_head_weights w = {eye, eye, eye, eye, attn::vector()};
    w.b_o = xt::zeros<double>({2});
    w.b_o(0) = 0.5;
    w.b_o(1) = -0.5;
    const auto open = attn::multi_head_attention(x, z, w, 1);
    REQUIRE(open.a.shape()[2] == 3);
    REQUIRE_THAT(open.y, IsCloseTo(matrix{{1.1, -0.3},
                                          {5.0 / 6.0, -1.0 / 6.0}}));
    const mask_matrix m = {{true, true, true}, {false, false, false}};
    const auto masked = attn::multi_head_attention(x, z, w, 1, m);
    REQUIRE_THAT(xt::view(masked.y, xt::range(0, 1), xt::all()),
                 IsCloseTo(matrix{{1.1, -0.3}}));
    REQUIRE(row_is(masked.y, 1, w.b_o));
}

TEST_CASE("Eq. 4.1: each head is masked attention of X's queries over Z",
          "[ch04][eq_cross_attention]")
{
    // Independent check: head h of multi_head_attention equals
    // masked_attend on the column blocks of X W_q, Z W_k, Z W_v.
    const std::size_t n_q = 4, n_k = 7, d_model = 6, heads = 3, d_k = 2;
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        const matrix x = random_matrix(n_q, d_model, seed);
        const matrix z = random_matrix(n_k, d_model, seed + 10);
        const auto w = random_layer(d_model, seed + 20);
        mask_matrix m = random_mask(n_q, n_k, seed + 30, 0.5);
        xt::row(m, 2) = false;  // a fully masked query
        const auto r = attn::multi_head_attention(x, z, w, heads, m);
        const matrix q = xt::linalg::dot(x, w.w_q);
        const matrix k = xt::linalg::dot(z, w.w_k);
        const matrix v = xt::linalg::dot(z, w.w_v);
        matrix heads_out = xt::zeros<double>({n_q, d_model});
        for (std::size_t h = 0; h < heads; ++h) {
            auto c = xt::range(h * d_k, (h + 1) * d_k);
            const auto rh = attn::masked_attend(xt::view(q, xt::all(), c),
                                                xt::view(k, xt::all(), c),
                                                xt::view(v, xt::all(), c), m);
            REQUIRE_THAT(xt::view(r.a, h, xt::all(), xt::all()),
                         IsCloseTo(rh.a, 1e-12, 1e-14));
            xt::view(heads_out, xt::all(), c) = rh.y;
        }
        const matrix y = xt::linalg::dot(heads_out, w.w_o) + w.b_o;
        REQUIRE_THAT(r.y, IsCloseTo(y, 1e-12, 1e-13));
        // The fully masked query's row is b_o, bit for bit.
        REQUIRE(row_is(r.y, 2, w.b_o));
        // Reordering the source (rows of Z and columns of the mask)
        // changes nothing: cross-attention reads Z as a set.
        const std::vector<std::size_t> perm = {3, 0, 6, 1, 5, 2, 4};
        matrix z_perm = z;
        mask_matrix m_perm = m;
        for (std::size_t j = 0; j < n_k; ++j) {
            for (std::size_t c = 0; c < d_model; ++c) {
                z_perm(j, c) = z(perm[j], c);
            }
            for (std::size_t i = 0; i < n_q; ++i) {
                m_perm(i, j) = m(i, perm[j]);
            }
        }
        REQUIRE_THAT(attn::multi_head_attention(x, z_perm, w, heads,
                                                m_perm).y,
                     IsCloseTo(r.y, 1e-12, 1e-13));
    }
}

// ------------------------------------------------------------- Eq. 4.2

TEST_CASE("Eq. 4.2: causal mask, hand-worked shapes", "[ch04][eq_causal_mask]")
{
    // Square: the lower triangle with its diagonal.
    const mask_matrix square = {{true, false, false},
                                {true, true, false},
                                {true, true, true}};
    REQUIRE((attn::causal_mask(3, 3) == square));
    // n_q = 3 < n_k = 4: queries sit at positions 1, 2, 3 (bottom-right),
    // so query 0 sees keys 0..1, query 1 keys 0..2, query 2 all four.
    // This is PyTorch's causal_lower_right example for shape (3, 4).
    const mask_matrix lower_right = {{true, true, false, false},
                                     {true, true, true, false},
                                     {true, true, true, true}};
    REQUIRE((attn::causal_mask(3, 4) == lower_right));
    // ... and not the top-left alignment tril(ones(3, 4)) of is_causal.
    const mask_matrix upper_left = {{true, false, false, false},
                                    {true, true, false, false},
                                    {true, true, true, false}};
    REQUIRE_FALSE((attn::causal_mask(3, 4) == upper_left));
    // n_q = 4 > n_k = 2: positions -2, -1, 0, 1; the first two queries
    // come before every key and may attend to none.
    const mask_matrix more_queries = {{false, false},
                                      {false, false},
                                      {true, false},
                                      {true, true}};
    REQUIRE((attn::causal_mask(4, 2) == more_queries));
    // One new token against t cached keys sees all of them.
    REQUIRE(xt::all(attn::causal_mask(1, 7)));
}

TEST_CASE("Eq. 4.2: causal mask, properties over shapes",
          "[ch04][eq_causal_mask]")
{
    for (std::size_t n_k = 1; n_k <= 7; ++n_k) {
        const mask_matrix full = attn::causal_mask(n_k, n_k);
        for (std::size_t n_q = 1; n_q <= 9; ++n_q) {
            const mask_matrix m = attn::causal_mask(n_q, n_k);
            REQUIRE(m.shape()[0] == n_q);
            REQUIRE(m.shape()[1] == n_k);
            for (std::size_t i = 0; i < n_q; ++i) {
                // Query i at position p = n_k - n_q + i sees keys 0..p:
                // p + 1 of them, clipped to [0, n_k].
                const long p = long(n_k) - long(n_q) + long(i);
                const long expected = std::clamp(p + 1, 0L, long(n_k));
                long count = 0;
                for (std::size_t j = 0; j < n_k; ++j) {
                    count += m(i, j);
                    // Allowed keys form a prefix: no gap, no future key.
                    if (j > 0) {
                        REQUIRE((m(i, j) <= m(i, j - 1)));
                    }
                }
                REQUIRE(count == expected);
            }
            // Bottom-right: for n_q <= n_k the rows are the last n_q rows
            // of the square mask over all n_k positions.
            if (n_q <= n_k) {
                const mask_matrix last_rows = xt::view(
                    full, xt::range(n_k - n_q, n_k), xt::all());
                REQUIRE((m == last_rows));
            }
        }
    }
}

TEST_CASE("Eq. 4.2: the strict causal mask leaves out the diagonal",
          "[ch04][eq_causal_mask]")
{
    // n_q = n_k = 3: query i sees keys j < i only, so row 0 sees nothing.
    const mask_matrix expected = {{false, false, false},
                                  {true, false, false},
                                  {true, true, false}};
    REQUIRE((attn::causal_mask(3, 3, attn::diagonal::excluded)
             == expected));
    // Over shapes: the strict mask is the causal mask without the key at
    // the query's own position n_k - n_q + i.
    for (std::size_t n_q = 1; n_q <= 5; ++n_q) {
        for (std::size_t n_k = 1; n_k <= 5; ++n_k) {
            CAPTURE(n_q, n_k);
            const mask_matrix all = attn::causal_mask(n_q, n_k);
            const mask_matrix strict
                = attn::causal_mask(n_q, n_k, attn::diagonal::excluded);
            for (std::size_t i = 0; i < n_q; ++i) {
                for (std::size_t j = 0; j < n_k; ++j) {
                    const bool own = j + n_q == i + n_k;
                    REQUIRE(bool(strict(i, j)) == (all(i, j) && !own));
                }
            }
        }
    }
}

namespace {

// Masked self-attention of `x` through the head weights of `in`.
matrix masked_head(const book_test::head_inputs& in, const matrix& x,
                   const mask_matrix& m)
{
    return attn::masked_self_attention(x, in.w_q, in.w_k, in.w_v, m);
}

}  // namespace

TEST_CASE("Eq. 4.2: the causal mask stops the leak from future tokens",
          "[ch04][eq_causal_mask]")
{
    // Change token t of the input: with the causal mask the outputs of the
    // tokens before t do not move at all; without it they all move.
    const std::size_t n = 6, d = 4;
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        const auto in = random_head_inputs(n, d, d, d, seed);
        const mask_matrix causal = attn::causal_mask(n, n);
        const mask_matrix none = xt::ones<bool>({n, n});
        const matrix y_masked = masked_head(in, in.x, causal);
        const matrix y_open = masked_head(in, in.x, none);
        for (std::size_t t = 1; t < n; ++t) {
            matrix x2 = in.x;
            xt::row(x2, t) = xt::row(random_matrix(1, d, seed + 100 + t), 0);
            const matrix y2_masked = masked_head(in, x2, causal);
            const matrix y2_open = masked_head(in, x2, none);
            auto before = xt::range(0, t);
            const matrix past_masked = xt::view(y_masked, before, xt::all());
            const matrix past2_masked = xt::view(y2_masked, before, xt::all());
            const matrix past_open = xt::view(y_open, before, xt::all());
            const matrix past2_open = xt::view(y2_open, before, xt::all());
            // Masked: exactly unchanged (the changed key has weight 0).
            REQUIRE(max_abs_diff(past_masked, past2_masked) == 0.0);
            // Unmasked: the past outputs read the future token: a leak.
            for (std::size_t i = 0; i < t; ++i) {
                REQUIRE(max_abs_diff(xt::view(past_open, xt::range(i, i + 1),
                                              xt::all()),
                                     xt::view(past2_open,
                                              xt::range(i, i + 1),
                                              xt::all()))
                        > 1e-10);
            }
            // Token t itself and the ones after it may change either way.
            REQUIRE(max_abs_diff(y_masked, y2_masked) > 1e-6);
        }
    }
}

// ------------------------------------------------------------- Eq. 4.3

TEST_CASE("Eq. 4.3: padding mask, hand-worked", "[ch04][eq_padding_mask]")
{
    // Two queries, five keys of which the first three are real.
    const mask_matrix expected = {{true, true, true, false, false},
                                  {true, true, true, false, false}};
    REQUIRE((attn::padding_mask(2, 5, 3) == expected));
    REQUIRE(xt::all(attn::padding_mask(3, 4, 4)));      // no padding
    REQUIRE_FALSE(xt::any(attn::padding_mask(3, 4, 0)));  // all padding
}

TEST_CASE("Errors: padding_mask refuses more real keys than keys",
          "[ch04][errors]")
{
    REQUIRE_THROWS_WITH(attn::padding_mask(2, 3, 4),
                        "padding_mask: length must be at most n_k = 3, "
                        "got 4");
}

TEST_CASE("Eq. 4.3: outputs of real tokens ignore what the padding holds",
          "[ch04][eq_padding_mask]")
{
    // Encoder self-attention over n = 7 positions of which L = 4 are real.
    // Fill the padding rows with large random numbers: the real tokens'
    // outputs must not move with the mask, and must move without it.
    const std::size_t n = 7, length = 4, d = 4;
    for (std::uint64_t seed : {5u, 6u, 7u}) {
        CAPTURE(seed);
        const auto in = random_head_inputs(n, d, d, d, seed);
        const mask_matrix pad = attn::padding_mask(n, n, length);
        const mask_matrix none = xt::ones<bool>({n, n});
        const matrix y = masked_head(in, in.x, pad);
        const matrix y_open = masked_head(in, in.x, none);
        matrix x_junk = in.x;
        xt::view(x_junk, xt::range(length, n), xt::all())
            = random_matrix(n - length, d, seed + 40, 1e3);
        const matrix y_junk = masked_head(in, x_junk, pad);
        const matrix y_open_junk = masked_head(in, x_junk, none);
        auto real = xt::range(0, length);
        REQUIRE(max_abs_diff(xt::view(y, real, xt::all()),
                             xt::view(y_junk, real, xt::all()))
                == 0.0);
        REQUIRE(max_abs_diff(xt::view(y_open, real, xt::all()),
                             xt::view(y_open_junk, real, xt::all()))
                > 1e-3);
        // The same in cross-attention: decoder queries over a padded
        // encoder output z.
        const matrix x_dec = random_matrix(3, d, seed + 50);
        const matrix z = random_matrix(n, d, seed + 60);
        matrix z_junk = z;
        xt::view(z_junk, xt::range(length, n), xt::all())
            = random_matrix(n - length, d, seed + 70, 1e3);
        const mask_matrix cross_pad = attn::padding_mask(3, n, length);
        auto cross = [&](const matrix& zz) {
            return attn::masked_attend(xt::linalg::dot(x_dec, in.w_q),
                                       xt::linalg::dot(zz, in.w_k),
                                       xt::linalg::dot(zz, in.w_v), cross_pad)
                .y;
        };
        REQUIRE(max_abs_diff(cross(z), cross(z_junk)) == 0.0);
    }
}

// ------------------------------------------------------------- Eq. 4.4

TEST_CASE("Eq. 4.4: masks combine by logical AND", "[ch04][eq_mask_and]")
{
    // Causal (4, 4) AND padding with length 3: the lower triangle without
    // its last column.
    const mask_matrix expected = {{true, false, false, false},
                                  {true, true, false, false},
                                  {true, true, true, false},
                                  {true, true, true, false}};
    REQUIRE((attn::mask_and(attn::causal_mask(4, 4),
                            attn::padding_mask(4, 4, 3))
             == expected));
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        const mask_matrix m1 = random_mask(5, 6, seed, 0.5);
        const mask_matrix m2 = random_mask(5, 6, seed + 10, 0.5);
        const mask_matrix m = attn::mask_and(m1, m2);
        for (std::size_t i = 0; i < 5; ++i) {
            for (std::size_t j = 0; j < 6; ++j) {
                REQUIRE(bool(m(i, j)) == bool(m1(i, j) && m2(i, j)));
            }
        }
        // The combined mask's bias is the sum of the two biases: a key
        // is blocked if either mask blocks it.
        REQUIRE_THAT(attn::mask_bias(m),
                     IsCloseTo(attn::mask_bias(m1) + attn::mask_bias(m2)));
        REQUIRE((attn::mask_and(m1, m2) == attn::mask_and(m2, m1)));
    }
}

TEST_CASE("Errors: mask_and refuses masks of different shapes",
          "[ch04][errors]")
{
    REQUIRE_THROWS_WITH(attn::mask_and(attn::causal_mask(2, 3),
                                       attn::causal_mask(3, 3)),
                        "mask_and: m2 must have shape (n_q, n_k) of m1 = "
                        "(2, 3), got (3, 3)");
}

// ------------------------------------------------------------- Eq. 4.5

TEST_CASE("Eq. 4.5: the bias of a mask is 0 or -inf", "[ch04][eq_mask_bias]")
{
    const mask_matrix m = {{true, false}, {false, false}};
    const matrix b = attn::mask_bias(m);
    REQUIRE(b(0, 0) == 0.0);
    REQUIRE(b(0, 1) == -inf);
    REQUIRE(b(1, 0) == -inf);
    REQUIRE(b(1, 1) == -inf);
}

TEST_CASE("Eq. 4.5: masked attention, hand-worked", "[ch04][eq_mask_bias]")
{
    // d_k = 1, so the scale sqrt(d_k) is 1. Keys 1, 0, 5; values 4, 8, 100.
    // Query 0 (q = 0): scores 0, 0, 0; key 2 masked: weights 1/2, 1/2, 0,
    //   output (4 + 8) / 2 = 6.
    // Query 1 (q = ln 3): scores ln 3, 0, (5 ln 3, masked): weights
    //   3/4, 1/4, 0, output 3/4 * 4 + 1/4 * 8 = 5.
    // Query 2: every key masked: zero weights, zero output (not NaN, not
    //   the uniform mean (4 + 8 + 100) / 3).
    const double ln3 = std::log(3.0);
    const matrix q = {{0.0}, {ln3}, {ln3}};
    const matrix k = {{1.0}, {0.0}, {5.0}};
    const matrix v = {{4.0}, {8.0}, {100.0}};
    const mask_matrix m = {{true, true, false},
                           {true, true, false},
                           {false, false, false}};
    const auto r = attn::masked_attend(q, k, v, m);
    REQUIRE_THAT(r.a, IsCloseTo(matrix{{0.5, 0.5, 0.0},
                                       {0.75, 0.25, 0.0},
                                       {0.0, 0.0, 0.0}}));
    REQUIRE_THAT(r.y, IsCloseTo(matrix{{6.0}, {5.0}, {0.0}}));
    REQUIRE(r.a(0, 2) == 0.0);
    REQUIRE(r.s(0, 2) == -inf);
    REQUIRE_THAT(attn::masked_attend_reference(q, k, v, m),
                 IsCloseTo(matrix{{6.0}, {5.0}, {0.0}}));
}

TEST_CASE("Eq. 4.5: masked attention equals its literal loops",
          "[ch04][eq_mask_bias]")
{
    for (std::uint64_t seed : {1u, 2u, 3u, 4u}) {
        CAPTURE(seed);
        const auto [q, k, v] = random_qkv(5, 7, 4, 3, seed, 10);
        mask_matrix m = random_mask(5, 7, seed + 30, 0.5);
        xt::row(m, 4) = false;  // one fully masked row in every case
        const auto r = attn::masked_attend(q, k, v, m);
        REQUIRE_THAT(r.y,
                     IsCloseTo(attn::masked_attend_reference(q, k, v, m),
                               1e-12, 1e-14));
        // Properties: masked weights are exactly 0; a row with an allowed
        // key sums to 1; the fully masked row is all zero, output 0.
        const attn::vector sums = xt::sum(r.a, {1});
        for (std::size_t i = 0; i < 5; ++i) {
            const bool any = xt::any(xt::row(m, i));
            REQUIRE(sums(i) == Approx(any ? 1.0 : 0.0).margin(1e-14));
            for (std::size_t j = 0; j < 7; ++j) {
                if (!m(i, j)) {
                    REQUIRE(r.a(i, j) == 0.0);
                }
            }
        }
        REQUIRE(xt::all(xt::equal(xt::row(r.y, 4), 0.0)));
        // An all-true mask is plain attention (Eq. 0.2).
        const auto plain = attn::attend(q, k, v);
        REQUIRE_THAT(attn::masked_attend(q, k, v, xt::ones<bool>({5, 7})).y,
                     IsCloseTo(plain.y, 1e-14, 1e-15));
    }
}

TEST_CASE("Errors: masked_attend refuses inconsistent shapes",
          "[ch04][errors]")
{
    const matrix q = xt::zeros<double>({2, 3});
    const matrix k = xt::zeros<double>({4, 3});
    const matrix v = xt::zeros<double>({4, 2});
    REQUIRE_THROWS_WITH(attn::masked_attend(q, k, v, attn::causal_mask(2, 3)),
                        "masked_attend: m must have shape (n_q, n_k) = "
                        "(2, 4), got (2, 3)");
    REQUIRE_THROWS_WITH(attn::masked_attend(q, xt::zeros<double>({4, 2}), v,
                                            attn::causal_mask(2, 4)),
                        Catch::Contains("k must have shape (n_k, d_k)"));
}

// ------------------------------------------------------------- Eq. 4.6

TEST_CASE("Eq. 4.6: finite fills agree except on a fully masked row",
          "[ch04][eq_masked_fill]")
{
    // Scores 1, 2, 3 in both rows. Row 0 masks key 2: the softmax of
    // (1, 2) is 1/(1+e), e/(1+e), 0 for every fill (exp(-1e6 - 2)
    // underflows to exactly 0). Row 1 masks every key: a finite fill
    // turns it into three equal scores, weights 1/3 each; -inf gives
    // -inf - (-inf) = NaN; the book's rule gives 0.
    const matrix s = {{1.0, 2.0, 3.0}, {1.0, 2.0, 3.0}};
    const mask_matrix m = {{true, true, false}, {false, false, false}};
    const double e = std::exp(1.0);
    const double third = 1.0 / 3.0;
    for (double fill : {-1e9, -1e6}) {
        const matrix a = attn::masked_fill_softmax(s, m, fill);
        REQUIRE_THAT(a, IsCloseTo(matrix{{1 / (1 + e), e / (1 + e), 0.0},
                                         {third, third, third}},
                                  1e-14, 0.0));
    }
    const matrix a_inf = attn::masked_fill_softmax(s, m, -inf);
    REQUIRE_THAT(xt::view(a_inf, xt::range(0, 1), xt::all()),
                 IsCloseTo(matrix{{1 / (1 + e), e / (1 + e), 0.0}}, 1e-14,
                           0.0));
    REQUIRE(xt::all(xt::isnan(xt::row(a_inf, 1))));
    // The book's rule, Eq. (4.5): the same first row, a zero second row.
    const matrix a_book = attn::softmax_rows(s + attn::mask_bias(m));
    REQUIRE_THAT(a_book, IsCloseTo(matrix{{1 / (1 + e), e / (1 + e), 0.0},
                                          {0.0, 0.0, 0.0}},
                                   1e-14, 0.0));
}

TEST_CASE("Eq. 4.6: with an allowed key in every row, -1e9 equals -inf",
          "[ch04][eq_masked_fill]")
{
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        const matrix s = random_matrix(6, 8, seed, 3.0);
        mask_matrix m = random_mask(6, 8, seed + 10, 0.5);
        xt::col(m, 0) = true;  // every row keeps key 0
        const matrix book = attn::softmax_rows(s + attn::mask_bias(m));
        REQUIRE_THAT(attn::masked_fill_softmax(s, m, -1e9),
                     IsCloseTo(book, 1e-14, 0.0));
        REQUIRE_THAT(attn::masked_fill_softmax(s, m, -inf),
                     IsCloseTo(book, 1e-14, 0.0));
    }
}

// ------------------------------------------------------------- Eq. 4.7

TEST_CASE("Eq. 4.7: decoding with a key-value cache, hand-worked",
          "[ch04][eq_kv_cache]")
{
    // d_k = 1. Step 1: one token, key 1, value 4: its only weight is 1,
    // output 4. Step 2: key 0, value 8, query ln 3: scores ln 3 and 0,
    // weights 3/4 and 1/4, output 3/4 * 4 + 1/4 * 8 = 5.
    attn::kv_cache cache;
    REQUIRE(cache.size() == 0);
    const auto r1 = attn::decode_step(cache, matrix{{0.7}}, matrix{{1.0}},
                                      matrix{{4.0}});
    REQUIRE_THAT(r1.a, IsCloseTo(matrix{{1.0}}));
    REQUIRE_THAT(r1.y, IsCloseTo(matrix{{4.0}}));
    const auto r2 = attn::decode_step(cache, matrix{{std::log(3.0)}},
                                      matrix{{0.0}}, matrix{{8.0}});
    REQUIRE(cache.size() == 2);
    REQUIRE_THAT(r2.a, IsCloseTo(matrix{{0.75, 0.25}}));
    REQUIRE_THAT(r2.y, IsCloseTo(matrix{{5.0}}));
}

TEST_CASE("Eq. 4.7: the cache holds every key and value, row by row",
          "[ch04][eq_kv_cache]")
{
    attn::kv_cache cache;
    REQUIRE(cache.size() == 0);
    const matrix k = random_matrix(5, 3, 1), v = random_matrix(5, 2, 2);
    // Two tokens, then three at once: the cache holds the five rows in
    // order, as K_{0..t} and V_{0..t} of Eq. (4.7).
    attn::append_to_cache(cache, xt::view(k, xt::range(0, 2), xt::all()),
                          xt::view(v, xt::range(0, 2), xt::all()));
    attn::append_to_cache(cache, xt::view(k, xt::range(2, 5), xt::all()),
                          xt::view(v, xt::range(2, 5), xt::all()));
    REQUIRE(cache.size() == 5);
    REQUIRE_THAT(cache.keys(), IsCloseTo(k, 0.0, 0.0));
    REQUIRE_THAT(cache.values(), IsCloseTo(v, 0.0, 0.0));
    // keys() and values() are views of the cache's own storage, no copies:
    // their first entries are the vectors' first entries (same address).
    const auto keys = cache.keys();
    const auto values = cache.values();
    REQUIRE(&keys(0, 0) == cache.k.data());
    REQUIRE(&values(0, 0) == cache.v.data());
    REQUIRE(&keys(4, 2) == cache.k.data() + 4 * 3 + 2);
}

TEST_CASE("Eq. 4.7: the cache gives the masked full pass, token by token",
          "[ch04][eq_kv_cache]")
{
    const std::size_t n = 8, d = 4;
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        const auto in = random_head_inputs(n, d, d, d, seed);
        const matrix q = xt::linalg::dot(in.x, in.w_q);
        const matrix k = xt::linalg::dot(in.x, in.w_k);
        const matrix v = xt::linalg::dot(in.x, in.w_v);
        const matrix y_full
            = attn::masked_attend(q, k, v, attn::causal_mask(n, n)).y;
        // One token at a time: no mask at all is needed.
        attn::kv_cache cache;
        for (std::size_t t = 0; t < n; ++t) {
            auto row = xt::range(t, t + 1);
            const matrix y_t = attn::decode_step(
                cache, xt::view(q, row, xt::all()),
                xt::view(k, row, xt::all()), xt::view(v, row, xt::all())).y;
            REQUIRE(cache.size() == t + 1);
            REQUIRE_THAT(y_t, IsCloseTo(xt::view(y_full, row, xt::all()),
                                        1e-13, 1e-15));
        }
        // Several tokens at a time (a prompt of 3, then 1, then 4): the
        // bottom-right causal mask inside decode_step keeps it exact.
        attn::kv_cache chunked;
        std::size_t t = 0;
        for (std::size_t chunk : {3u, 1u, 4u}) {
            auto rows = xt::range(t, t + chunk);
            const matrix y_chunk = attn::decode_step(
                chunked, xt::view(q, rows, xt::all()),
                xt::view(k, rows, xt::all()), xt::view(v, rows, xt::all())).y;
            REQUIRE_THAT(y_chunk, IsCloseTo(xt::view(y_full, rows, xt::all()),
                                            1e-13, 1e-15));
            t += chunk;
        }
        // The top-left alignment would be wrong here: the last 4 queries
        // against all 8 keys with tril(ones(4, 8)) lose keys they may see.
        mask_matrix top_left = xt::zeros<bool>({std::size_t(4), n});
        for (std::size_t i = 0; i < 4; ++i) {
            for (std::size_t j = 0; j <= i; ++j) {
                top_left(i, j) = true;
            }
        }
        auto last = xt::range(n - 4, n);
        const matrix y_wrong = attn::masked_attend(
            xt::view(q, last, xt::all()), k, v, top_left).y;
        REQUIRE(max_abs_diff(y_wrong, xt::view(y_full, last, xt::all()))
                > 1e-3);
    }
}

TEST_CASE("Errors: the cache refuses tokens of another width",
          "[ch04][errors]")
{
    attn::kv_cache cache;
    attn::decode_step(cache, matrix{{1.0, 2.0}}, matrix{{1.0, 0.0}},
                      matrix{{3.0}});
    REQUIRE_THROWS_WITH(attn::decode_step(cache, matrix{{1.0, 2.0}},
                                          matrix{{1.0, 0.0}},
                                          matrix{{3.0, 4.0}}),
                        "decode_step: v_new must have shape (n_new, d_v) of "
                        "the cache = (1, 1), got (1, 2)");
    REQUIRE_THROWS_WITH(attn::decode_step(cache, matrix{{1.0, 2.0}},
                                          matrix{{1.0}}, matrix{{3.0}}),
                        Catch::Contains("k_new must have shape"));
}

// ------------------------------------------------------------- Eq. 4.8

TEST_CASE("Eq. 4.8: decoder block equals its two layers composed",
          "[ch04][eq_decoder_block]")
{
    const std::size_t n_t = 5, n_s = 6, d_model = 4, heads = 2;
    for (std::uint64_t seed : {1u, 2u}) {
        CAPTURE(seed);
        const auto [x, z, w] = random_decoder_inputs(n_t, n_s, d_model, seed);
        const mask_matrix m_self = attn::causal_mask(n_t, n_t);
        const mask_matrix m_cross = attn::padding_mask(n_t, n_s, 4);
        const auto r = attn::decoder_block(x, z, w, heads, m_self, m_cross);
        // The literal loops of chapter 3, composed by hand.
        const matrix u = x + attn::multi_head_attention_reference(
                                 x, x, w.self, heads, m_self).y;
        const matrix y = u + attn::multi_head_attention_reference(
                                 u, z, w.cross, heads, m_cross).y;
        REQUIRE_THAT(r.u, IsCloseTo(u, 1e-12, 1e-13));
        REQUIRE_THAT(r.y, IsCloseTo(y, 1e-12, 1e-13));
        REQUIRE(r.self.a.shape()[2] == n_t);
        REQUIRE(r.cross.a.shape()[2] == n_s);
    }
}

TEST_CASE("Eq. 4.8: the decoder block is causal, its cross-attention is not",
          "[ch04][eq_decoder_block]")
{
    const std::size_t n_t = 6, n_s = 7, len_s = 5, d_model = 4, heads = 2;
    for (std::uint64_t seed : {3u, 4u}) {
        CAPTURE(seed);
        const auto [x, z, w] = random_decoder_inputs(n_t, n_s, d_model, seed);
        const mask_matrix causal = attn::causal_mask(n_t, n_t);
        const mask_matrix m_cross = attn::padding_mask(n_t, n_s, len_s);
        const matrix y
            = attn::decoder_block(x, z, w, heads, causal, m_cross).y;
        const matrix y_open
            = attn::decoder_block(x, z, w, heads, mask_matrix(), m_cross).y;
        for (std::size_t t = 1; t < n_t; ++t) {
            matrix x2 = x;
            xt::row(x2, t) += 1.0;
            const matrix y2
                = attn::decoder_block(x2, z, w, heads, causal, m_cross).y;
            const matrix y2_open = attn::decoder_block(
                x2, z, w, heads, mask_matrix(), m_cross).y;
            auto past = xt::range(0, t);
            // Masked: the past is untouched. Unmasked: it leaks.
            REQUIRE(max_abs_diff(xt::view(y, past, xt::all()),
                                 xt::view(y2, past, xt::all()))
                    == 0.0);
            REQUIRE(max_abs_diff(xt::view(y_open, past, xt::all()),
                                 xt::view(y2_open, past, xt::all()))
                    > 1e-6);
        }
        // Every target position reads the whole real source: changing the
        // last real source token moves every output, even position 0.
        matrix z2 = z;
        xt::row(z2, len_s - 1) += 1.0;
        const matrix y_src
            = attn::decoder_block(x, z2, w, heads, causal, m_cross).y;
        for (std::size_t i = 0; i < n_t; ++i) {
            auto row_i = xt::range(i, i + 1);
            REQUIRE(max_abs_diff(xt::view(y_src, row_i, xt::all()),
                                 xt::view(y, row_i, xt::all()))
                    > 1e-6);
        }
        // ... and changing the padding moves nothing.
        matrix z_pad = z;
        xt::view(z_pad, xt::range(len_s, n_s), xt::all())
            = random_matrix(n_s - len_s, d_model, seed + 90, 1e3);
        REQUIRE(max_abs_diff(
                    attn::decoder_block(x, z_pad, w, heads, causal,
                                        m_cross).y,
                    y)
                == 0.0);
    }
}

// ------------------------------------------------------------------------
// Errors: the functions of masking.hpp, kv_cache.hpp and decoder_block.hpp
// not covered above.

TEST_CASE("Errors: masked_attend_reference refuses keys, values and masks "
          "that do not fit", "[ch04][errors]")
{
    // q (2, 3): d_k = 3; k (4, 3): n_k = 4; so v (4, d_v), m (2, 4).
    const matrix q = xt::zeros<double>({2, 3});
    const matrix k = xt::zeros<double>({4, 3});
    const matrix v = xt::zeros<double>({4, 5});
    const mask_matrix m = xt::ones<bool>({2, 4});
    REQUIRE_THROWS_WITH(attn::masked_attend_reference(
                            q, xt::zeros<double>({4, 2}), v, m),
                        "masked_attend_reference: k must have shape "
                        "(n_k, d_k) = (4, 3), got (4, 2)");
    REQUIRE_THROWS_WITH(attn::masked_attend_reference(
                            q, k, xt::zeros<double>({3, 5}), m),
                        "masked_attend_reference: v must have shape "
                        "(n_k, d_v) = (4, 5), got (3, 5)");
    REQUIRE_THROWS_WITH(attn::masked_attend_reference(
                            q, k, v, mask_matrix(xt::ones<bool>({4, 2}))),
                        "masked_attend_reference: m must have shape "
                        "(n_q, n_k) = (2, 4), got (4, 2)");
    REQUIRE_THROWS_WITH(attn::masked_attend_reference(
                            xt::zeros<double>({2, 0}), k, v, m),
                        "masked_attend_reference: q must not be empty, got "
                        "shape (2, 0)");
}

TEST_CASE("Errors: masked_fill_softmax refuses empty scores and a mask of "
          "another shape", "[ch04][errors]")
{
    REQUIRE_THROWS_WITH(attn::masked_fill_softmax(
                            xt::zeros<double>({2, 0}),
                            mask_matrix(xt::ones<bool>({2, 0})), -1e9),
                        "masked_fill_softmax: s must not be empty, got shape "
                        "(2, 0)");
    REQUIRE_THROWS_WITH(attn::masked_fill_softmax(
                            xt::zeros<double>({2, 3}),
                            mask_matrix(xt::ones<bool>({3, 2})), -1e9),
                        "masked_fill_softmax: m must have shape (n_q, n_k) = "
                        "(2, 3), got (3, 2)");
}

TEST_CASE("Errors: masked_self_attention refuses projections that do not "
          "fit x and a mask of another shape", "[ch04][errors]")
{
    const matrix x = random_matrix(3, 4, 171);                 // (n, d_model)
    const matrix w = random_matrix(4, 2, 172);                 // (d_model, d)
    const mask_matrix m = attn::causal_mask(3, 3);
    REQUIRE_THROWS_WITH(attn::masked_self_attention(
                            x, w, random_matrix(4, 3, 173), w, m),
                        "masked_self_attention: w_k must have shape "
                        "(d_model, d_k) = (4, 2), got (4, 3)");
    REQUIRE_THROWS_WITH(attn::masked_self_attention(
                            x, w, w, random_matrix(5, 2, 174), m),
                        "masked_self_attention: w_v must have shape "
                        "(d_model, d_v) = (4, 2), got (5, 2)");
    REQUIRE_THROWS_WITH(attn::masked_self_attention(
                            x, w, w, w, attn::causal_mask(3, 4)),
                        "masked_self_attention: m must have shape (n_q, n_k) "
                        "= (3, 3), got (3, 4)");
    // With a fitting mask it is masked_attend on the three projections.
    const matrix q = xt::linalg::dot(x, w);
    REQUIRE_THAT(attn::masked_self_attention(x, w, w, w, m),
                 IsCloseTo(attn::masked_attend(q, q, q, m).y, 0.0, 0.0));
}

TEST_CASE("Errors: decoder_block refuses a source of another width, bad "
          "masks and a bad number of heads", "[ch04][errors]")
{
    const attn::decoder_block_weights w = {random_layer(4, 161),
                                           random_layer(4, 162)};
    const matrix x = random_matrix(3, 4, 163);                 // (n_t, d)
    const matrix z = random_matrix(5, 4, 164);                 // (n_s, d)
    REQUIRE_THROWS_WITH(attn::decoder_block(x, random_matrix(5, 3, 165), w,
                                            2, attn::causal_mask(3, 3), {}),
                        "decoder_block: z must have shape (n_s, d_model) = "
                        "(5, 4), got (5, 3)");
    REQUIRE_THROWS_WITH(attn::decoder_block(x, z, w, 3,
                                            attn::causal_mask(3, 3), {}),
                        "decoder_block: the number of heads H = 3 must "
                        "divide d_model = 4");
    REQUIRE_THROWS_WITH(attn::decoder_block(x, z, w, 2,
                                            attn::causal_mask(3, 5), {}),
                        "decoder_block: m_self must have shape (n_t, n_t) = "
                        "(3, 3), got (3, 5)");
    REQUIRE_THROWS_WITH(attn::decoder_block(x, z, w, 2,
                                            attn::causal_mask(3, 3),
                                            attn::causal_mask(3, 3)),
                        "decoder_block: m_cross must have shape (n_t, n_s) "
                        "= (3, 5), got (3, 3)");
}

TEST_CASE("Errors: decode_step refuses an empty query", "[ch04][errors]")
{
    attn::kv_cache cache;
    REQUIRE_THROWS_WITH(attn::decode_step(cache, xt::zeros<double>({0, 2}),
                                          xt::zeros<double>({0, 2}),
                                          xt::zeros<double>({0, 2})),
                        "decode_step: q_new must not be empty, got shape "
                        "(0, 2)");
    REQUIRE(cache.size() == 0);
}

// ------------------------------------------------------------------------
// Edge cases: all keys masked, one token, d_k = 1, more queries than keys.

TEST_CASE("Edge: all keys masked gives zero weights and outputs in "
          "masked_attend and its reference", "[ch04][edge]")
{
    const matrix q = random_matrix(3, 2, 171, 100.0);
    const matrix k = random_matrix(4, 2, 172, 100.0);
    const matrix v = random_matrix(4, 3, 173);
    const mask_matrix none = xt::zeros<bool>({3, 4});
    const auto r = attn::masked_attend(q, k, v, none);
    REQUIRE_THAT(r.a, IsCloseTo(xt::zeros<double>({3, 4}), 0.0, 0.0));
    REQUIRE_THAT(r.y, IsCloseTo(xt::zeros<double>({3, 3}), 0.0, 0.0));
    REQUIRE_THAT(attn::masked_attend_reference(q, k, v, none),
                 IsCloseTo(xt::zeros<double>({3, 3}), 0.0, 0.0));
    // A causal mask with more queries than keys (bottom-right aligned):
    // the first n_q - n_k queries see no key and get zero rows.
    const matrix q5 = random_matrix(5, 2, 174);
    const auto c = attn::masked_attend(q5, k, v, attn::causal_mask(5, 4));
    REQUIRE_THAT(matrix(xt::view(c.y, xt::range(0, 1), xt::all())),
                 IsCloseTo(xt::zeros<double>({1, 3}), 0.0, 0.0));
    const matrix ref = attn::masked_attend_reference(q5, k, v,
                                                     attn::causal_mask(5, 4));
    REQUIRE_THAT(c.y, IsCloseTo(ref, 1e-12));
}

TEST_CASE("Edge: decoding one token with d_k = 1 returns its own value",
          "[ch04][edge]")
{
    // The first step of a decoder: one query, one cached key, weight 1.
    attn::kv_cache cache;
    // Its score is 1e150 * -1e150 = -1e300, finite however small.
    const auto r = attn::decode_step(cache, matrix{{1e150}}, matrix{{-1e150}},
                                     matrix{{2.5, -1.0}});
    REQUIRE_THAT(r.a, IsCloseTo(matrix{{1.0}}, 0.0, 0.0));
    REQUIRE_THAT(r.y, IsCloseTo(matrix{{2.5, -1.0}}, 0.0, 0.0));
    // Second token, identical key: weights 1/2 each, d_k = 1.
    const auto r2 = attn::decode_step(cache, matrix{{3.0}}, matrix{{-1e150}},
                                      matrix{{0.5, 1.0}});
    REQUIRE_THAT(r2.a, IsCloseTo(matrix{{0.5, 0.5}}, 0.0, 0.0));
    REQUIRE_THAT(r2.y, IsCloseTo(matrix{{1.5, 0.0}}, 1e-15, 0.0));
}

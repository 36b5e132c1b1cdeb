// Chapter 8: rotary positions, ALiBi, grouped-query attention, windows,
// prefix-LM and packed masks, and the latent cache. Expected values are
// worked by hand in the comments, or come from literal loops, or from a
// property that must hold for any input.
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>

#include "attention/alibi.hpp"
#include "attention/grouped_query.hpp"
#include "attention/kv_cache.hpp"
#include "attention/latent_cache.hpp"
#include "attention/multi_head.hpp"
#include "attention/multi_head_backward.hpp"
#include "attention/position_model.hpp"
#include "attention/random.hpp"
#include "attention/rotary.hpp"
#include "attention/sliding_window.hpp"
#include "test_helpers.hpp"

namespace {

using attn::matrix;
using book_test::IsCloseTo;

// One row of x as a (1, d) matrix.
matrix row_of(const matrix& x, std::size_t r)
{
    return xt::view(x, xt::range(r, r + 1), xt::all());
}

double dot_rows(const matrix& a, const matrix& b)
{
    double s = 0.0;
    for (std::size_t c = 0; c < a.shape()[1]; ++c) {
        s += a(0, c) * b(0, c);
    }
    return s;
}

}  // namespace

TEST_CASE("Eq. 8.1: RoPE turns pair f by the position times omega_f, by "
          "hand", "[ch08][eq_rope]")
{
    // d = 4: omega_0 = 10000^0 = 1, omega_1 = 10000^(-2/4) = 1/100.
    // x = (1, 0, 0, 1) at position 2: pair 0 (1, 0) turns by 2 rad to
    // (cos 2, sin 2); pair 1 (0, 1) turns by 0.02 rad to (-sin .02, cos .02).
    const matrix x = {{1.0, 0.0, 0.0, 1.0}};
    const matrix y = attn::rope_interleaved(x, 2);
    const matrix expected = {{std::cos(2.0), std::sin(2.0), -std::sin(0.02),
                              std::cos(0.02)}};
    REQUIRE_THAT(y, IsCloseTo(expected, 1e-15));
    // In the rotate-half layout the same pairs are columns (0, 2), (1, 3):
    // pair 0 = (x_0, x_2) = (1, 0), pair 1 = (x_1, x_3) = (0, 1).
    const matrix yh = attn::rope_half(x, 2);
    const matrix expected_h = {{std::cos(2.0), -std::sin(0.02), std::sin(2.0),
                                std::cos(0.02)}};
    REQUIRE_THAT(yh, IsCloseTo(expected_h, 1e-15));
    // Base 100: omega_1 = 100^(-1/2) = 1/10, pair 1 turns by 0.2 rad.
    const matrix y100 = attn::rope_interleaved(x, 2, 100.0);
    REQUIRE(y100(0, 2) == Approx(-std::sin(0.2)).epsilon(1e-15));
    REQUIRE(y100(0, 3) == Approx(std::cos(0.2)).epsilon(1e-15));
    // Position 0 turns nothing.
    REQUIRE_THAT(attn::rope_interleaved(x, 0), IsCloseTo(x, 0.0));
}

TEST_CASE("Eq. 8.1: a rotation keeps every row's length", "[ch08][eq_rope]")
{
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        CAPTURE(seed);
        attn::rng r(seed);
        const matrix x = attn::normal_matrix(7, 8, r);
        const matrix y = attn::rope_interleaved(x, 3);
        for (std::size_t i = 0; i < 7; ++i) {
            REQUIRE(dot_rows(row_of(y, i), row_of(y, i))
                    == Approx(dot_rows(row_of(x, i), row_of(x, i)))
                           .epsilon(1e-13));
        }
    }
}

TEST_CASE("Eq. 8.1: rows rotated from an offset p0 equal the same rows of "
          "the whole sequence", "[ch08][eq_rope]")
{
    attn::rng r(3);
    const matrix x = attn::normal_matrix(10, 6, r);
    const matrix whole = attn::rope_interleaved(x);
    const matrix tail = attn::rope_interleaved(
        xt::view(x, xt::range(4, 10), xt::all()), 4);
    REQUIRE_THAT(tail, IsCloseTo(matrix(xt::view(whole, xt::range(4, 10),
                                                  xt::all())), 1e-15));
    // The bug learners hit: new tokens rotated as if they were position 0.
    const matrix wrong = attn::rope_interleaved(
        xt::view(x, xt::range(4, 10), xt::all()), 0);
    REQUIRE_THAT(wrong, !IsCloseTo(tail, 1e-6));
    // Every head block of a wide matrix is rotated on its own.
    matrix two_heads = xt::concatenate(xt::xtuple(x, x), 1);  // (10, 12)
    attn::rope_heads_in_place(two_heads, 6, 0);
    REQUIRE_THAT(matrix(xt::view(two_heads, xt::all(), xt::range(6, 12))),
                 IsCloseTo(whole, 1e-15));
}

TEST_CASE("Eq. 8.1: decoding t tokens after a prompt of p, each key rotated "
          "at its absolute position, equals the full masked pass",
          "[ch08][eq_rope]")
{
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        CAPTURE(seed);
        attn::rng r(seed);
        const std::size_t p = 5, t = 4, n = p + t, d = 8;
        const matrix q = attn::normal_matrix(n, d, r);
        const matrix k = attn::normal_matrix(n, d, r);
        const matrix v = attn::normal_matrix(n, d, r);
        const matrix full = attn::masked_attend(attn::rope_interleaved(q),
                                                attn::rope_interleaved(k), v,
                                                attn::causal_mask(n, n)).y;
        attn::kv_cache cache;
        attn::append_to_cache(
            cache,
            attn::rope_interleaved(xt::view(k, xt::range(0, p), xt::all())),
            xt::view(v, xt::range(0, p), xt::all()));
        for (std::size_t pos = p; pos < n; ++pos) {
            CAPTURE(pos);
            attn::append_to_cache(cache,
                                  attn::rope_interleaved(row_of(k, pos), pos),
                                  row_of(v, pos));
            const matrix y_t =
                attn::masked_attend(attn::rope_interleaved(row_of(q, pos), pos),
                                    cache.keys(), cache.values(),
                                    attn::causal_mask(1, pos + 1)).y;
            REQUIRE_THAT(y_t, IsCloseTo(row_of(full, pos), 1e-12));
            // The offset bug: the new query rotated as position 0.
            const matrix wrong =
                attn::masked_attend(attn::rope_interleaved(row_of(q, pos), 0),
                                    cache.keys(), cache.values(),
                                    attn::causal_mask(1, pos + 1)).y;
            REQUIRE_THAT(wrong, !IsCloseTo(y_t, 1e-6));
        }
    }
}

TEST_CASE("Eq. 8.2: the score of a query at i and a key at j depends on "
          "i - j only", "[ch08][eq_rope_relative]")
{
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        CAPTURE(seed);
        attn::rng r(seed);
        const matrix q = attn::normal_matrix(1, 16, r);
        const matrix k = attn::normal_matrix(1, 16, r);
        // (q R_i^T) (k R_j^T)^T = q R_{j-i} k^T = q (k R_{j-i}^T)^T,
        // with i = 2, j = 5: rotate k alone by 3.
        const double s_2_5 = dot_rows(attn::rope_interleaved(q, 2),
                                      attn::rope_interleaved(k, 5));
        REQUIRE(s_2_5 == Approx(dot_rows(q, attn::rope_interleaved(k, 3)))
                             .epsilon(1e-12));
        for (std::size_t shift : {1u, 7u, 100u}) {
            CAPTURE(shift);
            const double s = dot_rows(attn::rope_interleaved(q, 2 + shift),
                                      attn::rope_interleaved(k, 5 + shift));
            REQUIRE(s == Approx(s_2_5).epsilon(1e-10));
        }
        const double s_2_4 = dot_rows(attn::rope_interleaved(q, 2),
                                      attn::rope_interleaved(k, 4));
        REQUIRE(std::abs(s_2_4 - s_2_5) > 1e-6);  // the distance does matter
    }
}

TEST_CASE("Eq. 8.2: a whole layer with RoPE gives the same output at any "
          "position offset", "[ch08][eq_rope_relative]")
{
    attn::rng r(11);
    const std::size_t n = 6, d_model = 8, heads = 4, groups = 2, d = 4;
    const matrix x = attn::normal_matrix(n, d_model, r);
    const auto w = attn::random_grouped_query_weights(
        d_model, heads, groups, d, r);
    attn::position_scheme at0{true, 10000.0, 0, false};
    attn::position_scheme at37{true, 10000.0, 37, false};
    const auto mask = attn::causal_mask(n, n);
    const auto y0 = attn::grouped_query_attention(x, x, w, heads, groups,
                                                  mask, at0);
    const auto y37 = attn::grouped_query_attention(x, x, w, heads, groups,
                                                   mask, at37);
    REQUIRE_THAT(y37.y, IsCloseTo(y0.y, 1e-11));
    // The queries and keys themselves did change.
    REQUIRE_THAT(y37.q, !IsCloseTo(y0.q, 1e-6));
    // Without RoPE the layer has no notion of order: a different output.
    const auto plain = attn::grouped_query_attention(x, x, w, heads, groups,
                                                     mask);
    REQUIRE_THAT(plain.y, !IsCloseTo(y0.y, 1e-6));
}

TEST_CASE("Eq. 8.3: the rotate-half layout is the paper's with the columns "
          "of W_q and W_k permuted", "[ch08][eq_rope_layouts]")
{
    // The permutation for d = 6 by hand: columns 0, 2, 4 (each pair's
    // first) then 1, 3, 5.
    REQUIRE((attn::rope_half_permutation(6)
             == std::vector<std::size_t>{0, 2, 4, 1, 3, 5}));
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        CAPTURE(seed);
        attn::rng r(seed);
        const matrix x = attn::normal_matrix(6, 12, r);
        const matrix w_q = attn::normal_matrix(12, 8, r);
        const matrix w_k = attn::normal_matrix(12, 8, r);
        const auto perm = attn::rope_half_permutation(8);
        // rope_half(x W P) = rope(x W) P, row by row, at positions 3..8.
        const matrix xw = xt::linalg::dot(x, w_q);
        REQUIRE_THAT(attn::rope_half(attn::permute_columns(xw, perm), 3),
                     IsCloseTo(attn::permute_columns(
                                   attn::rope_interleaved(xw, 3), perm),
                               1e-14));
        // Hence the scores agree.
        const matrix s_paper = xt::linalg::dot(
            attn::rope_interleaved(xt::linalg::dot(x, w_q)),
            xt::transpose(attn::rope_interleaved(xt::linalg::dot(x, w_k))));
        const matrix s_half = xt::linalg::dot(
            attn::rope_half(xt::linalg::dot(x, attn::permute_columns(w_q, perm))),
            xt::transpose(attn::rope_half(
                xt::linalg::dot(x, attn::permute_columns(w_k, perm)))));
        REQUIRE_THAT(s_half, IsCloseTo(s_paper, 1e-12));
        // Without the permutation the two layouts give other scores.
        const matrix s_unpermuted = xt::linalg::dot(
            attn::rope_half(xt::linalg::dot(x, w_q)),
            xt::transpose(attn::rope_half(xt::linalg::dot(x, w_k))));
        REQUIRE_THAT(s_unpermuted, !IsCloseTo(s_paper, 1e-6));
    }
}

TEST_CASE("Errors: RoPE refuses an odd width and permute_columns a "
          "non-permutation", "[ch08][errors]")
{
    const matrix odd = xt::zeros<double>({2, 3});
    REQUIRE_THROWS_WITH(attn::rope_interleaved(odd),
                        Catch::Contains("must be even"));
    REQUIRE_THROWS_WITH(attn::rope_half(odd), Catch::Contains("must be even"));
    const matrix w = xt::zeros<double>({2, 4});
    REQUIRE_THROWS_WITH(attn::permute_columns(w, {0, 1, 1, 3}),
                        Catch::Contains("permutation"));
    matrix six = xt::zeros<double>({2, 6});
    REQUIRE_THROWS_WITH(attn::rope_heads_in_place(six, 4, 0),
                        Catch::Contains("must divide"));
}

TEST_CASE("Eq. 8.4: the slopes of Press et al., by hand",
          "[ch08][eq_alibi_slopes]")
{
    // H = 8: 2^(-8/8) = 1/2, ratio 1/2: 2^-1, 2^-2, ..., 2^-8.
    const auto m8 = attn::alibi_slopes(8);
    REQUIRE(m8.size() == 8);
    for (std::size_t h = 0; h < 8; ++h) {
        REQUIRE(m8[h] == Approx(std::pow(2.0, -double(h + 1))).epsilon(1e-15));
    }
    // H = 16: start 2^(-8/16) = 2^-0.5: 2^-0.5, 2^-1, ..., 2^-8.
    const auto m16 = attn::alibi_slopes(16);
    for (std::size_t h = 0; h < 16; ++h) {
        REQUIRE(m16[h] == Approx(std::pow(2.0, -0.5 * double(h + 1)))
                              .epsilon(1e-15));
    }
    // H = 12, not a power of two: the 8 slopes of H = 8, then every other
    // slope of H = 16 from the first: 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5.
    const auto m12 = attn::alibi_slopes(12);
    REQUIRE(m12.size() == 12);
    for (std::size_t h = 0; h < 8; ++h) {
        REQUIRE(m12[h] == Approx(m8[h]));
    }
    const double tail[] = {-0.5, -1.5, -2.5, -3.5};
    for (std::size_t k = 0; k < 4; ++k) {
        REQUIRE(m12[8 + k] == Approx(std::pow(2.0, tail[k])).epsilon(1e-15));
    }
    // H = 1: 2^-8; H = 3: 2^-4, 2^-8 (H = 2), then 2^-2 (first of H = 4).
    REQUIRE(attn::alibi_slopes(1)[0] == Approx(std::pow(2.0, -8.0)));
    const auto m3 = attn::alibi_slopes(3);
    REQUIRE(m3[0] == Approx(std::pow(2.0, -4.0)));
    REQUIRE(m3[1] == Approx(std::pow(2.0, -8.0)));
    REQUIRE(m3[2] == Approx(std::pow(2.0, -2.0)));
    REQUIRE_THROWS_WITH(attn::alibi_slopes(0), Catch::Contains("at least 1"));
}

TEST_CASE("Eq. 8.5: the bias is -m (i - j), a cache's offset keeps it, and "
          "the layer adds it", "[ch08][eq_alibi_bias]")
{
    // m = 1/4, 3 queries, 3 keys: row i is -(i - j)/4.
    const matrix b = attn::alibi_bias(3, 3, 0.25);
    const matrix expected = {{0.0, 0.25, 0.5},
                             {-0.25, 0.0, 0.25},
                             {-0.5, -0.25, 0.0}};
    REQUIRE_THAT(b, IsCloseTo(expected, 1e-15));
    // One new query at position 2 over 3 cached keys: the last row above.
    const matrix last = attn::alibi_bias(1, 3, 0.25, 2);
    REQUIRE_THAT(last, IsCloseTo(matrix{{-0.5, -0.25, 0.0}}, 1e-15));
    // A layer whose queries are all zero scores every key 0: with ALiBi
    // and the causal mask, head h's row 2 is softmax(-2 m_h, -m_h, 0).
    // H = 2: m = (2^-4, 2^-8).
    attn::rng r(5);
    auto w = attn::random_grouped_query_weights(4, 2, 2, 2, r);
    w.w_q = xt::zeros<double>({4, 4});
    const matrix x = attn::normal_matrix(3, 4, r);
    attn::position_scheme alibi;
    alibi.alibi = true;
    const auto res = attn::grouped_query_attention(
        x, x, w, 2, 2, attn::causal_mask(3, 3), alibi);
    for (std::size_t h = 0; h < 2; ++h) {
        const double m = std::pow(2.0, -4.0 * double(h + 1));
        const double z = std::exp(-2 * m) + std::exp(-m) + 1.0;
        REQUIRE(res.a(h, 2, 0) == Approx(std::exp(-2 * m) / z).epsilon(1e-14));
        REQUIRE(res.a(h, 2, 1) == Approx(std::exp(-m) / z).epsilon(1e-14));
        REQUIRE(res.a(h, 2, 2) == Approx(1.0 / z).epsilon(1e-14));
        REQUIRE(res.a(h, 0, 1) == 0.0);  // the mask still removes the future
    }
}

TEST_CASE("Eq. 8.6: with G = H it is chapter 3's multi-head attention, and "
          "with G < H the multi-head layer whose key and value heads repeat "
          "each group", "[ch08][eq_gqa]")
{
    const std::size_t d_model = 12, heads = 6, d = 2;
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        for (std::size_t groups : {6u, 3u, 2u, 1u}) {
            CAPTURE(seed, groups);
            attn::rng r(seed);
            const matrix x = attn::normal_matrix(5, d_model, r);
            const auto g = attn::random_grouped_query_weights(
                d_model, heads, groups, d, r);
            const attn::multi_head_weights mh{
                g.w_q, attn::repeat_groups(g.w_k, heads, groups),
                attn::repeat_groups(g.w_v, heads, groups), g.w_o, g.b_o};
            const auto mask = attn::causal_mask(5, 5);
            const auto y_gqa =
                attn::grouped_query_attention(x, x, g, heads, groups, mask);
            const auto y_mha =
                attn::multi_head_attention(x, x, mh, heads, mask);
            REQUIRE_THAT(y_gqa.y, IsCloseTo(y_mha.y, 1e-12));
            REQUIRE_THAT(y_gqa.a, IsCloseTo(y_mha.a, 1e-12));
            if (groups == heads) {  // no repetition: the very same weights
                REQUIRE_THAT(mh.w_k, IsCloseTo(g.w_k, 0.0));
            }
        }
    }
}

TEST_CASE("Eq. 8.6: with G = 1 every head attends with the one K and V, as "
          "a loop over heads does", "[ch08][eq_gqa]")
{
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        CAPTURE(seed);
        attn::rng r(seed);
        const std::size_t n = 6, d_model = 8, heads = 4, d = 3;
        const matrix x = attn::normal_matrix(n, d_model, r);
        const auto w = attn::random_grouped_query_weights(
            d_model, heads, 1, d, r);
        const auto mask = attn::causal_mask(n, n);
        const auto res = attn::grouped_query_attention(x, x, w, heads, 1, mask);
        const matrix k = xt::linalg::dot(x, w.w_k);  // (n, d): the one K
        const matrix v = xt::linalg::dot(x, w.w_v);  // (n, d): the one V
        matrix y_cat = xt::zeros<double>({n, heads * d});
        for (std::size_t h = 0; h < heads; ++h) {
            const matrix w_q_h =
                xt::view(w.w_q, xt::all(), xt::range(h * d, (h + 1) * d));
            const matrix q_h = xt::linalg::dot(x, w_q_h);
            xt::view(y_cat, xt::all(), xt::range(h * d, (h + 1) * d)) =
                attn::masked_attend(q_h, k, v, mask).y;
        }
        const matrix y = xt::linalg::dot(y_cat, w.w_o) + w.b_o;
        REQUIRE_THAT(res.y, IsCloseTo(y, 1e-12));
    }
}

TEST_CASE("Eq. 8.6: the heads of one group read the same views of K and V, "
          "and no head is copied", "[ch08][eq_gqa]")
{
    attn::rng r(7);
    const std::size_t n = 5, d_model = 8, heads = 6, groups = 2, d = 2;
    const matrix x = attn::normal_matrix(n, d_model, r);
    const auto w = attn::random_grouped_query_weights(
        d_model, heads, groups, d, r);
    const auto res = attn::grouped_query_attention(x, x, w, heads, groups);
    REQUIRE(res.offsets.size() == heads);
    for (std::size_t h = 0; h < heads; ++h) {
        CAPTURE(h);
        // Heads 0, 1, 2 read group 0 (columns 0..1 of K and V), heads 3,
        // 4, 5 group 1 (columns 2..3): offsets 0 and d = 2 in K and V.
        const std::size_t g = h < 3 ? 0 : 1;
        REQUIRE(attn::kv_group(h, heads, groups) == g);
        REQUIRE(res.offsets[h].k == g * d);
        REQUIRE(res.offsets[h].v == g * d);
        REQUIRE(res.offsets[h].q == h * d);
        REQUIRE(res.offsets[h].heads == h * d);
    }
    REQUIRE(res.k.shape()[1] == groups * d);  // K holds G heads, not H
    // Changing group 1's key columns leaves heads 0..2 (Y_cat's columns
    // 0..5) alone and changes heads 3..5.
    auto w2 = w;
    xt::view(w2.w_k, xt::all(), xt::range(2, 4)) += 1.0;
    const auto res2 = attn::grouped_query_attention(x, x, w2, heads, groups);
    REQUIRE_THAT(matrix(xt::view(res2.y_cat, xt::all(), xt::range(0, 6))),
                 IsCloseTo(matrix(xt::view(res.y_cat, xt::all(),
                                           xt::range(0, 6))), 0.0));
    REQUIRE_THAT(matrix(xt::view(res2.y_cat, xt::all(), xt::range(6, 12))),
                 !IsCloseTo(matrix(xt::view(res.y_cat, xt::all(),
                                            xt::range(6, 12))), 1e-6));
}

TEST_CASE("Errors: grouped-query attention refuses G not dividing H and "
          "widths that do not fit", "[ch08][errors]")
{
    attn::rng r(1);
    const matrix x = attn::normal_matrix(3, 8, r);
    const auto w = attn::random_grouped_query_weights(8, 4, 2, 2, r);
    REQUIRE_THROWS_WITH(attn::grouped_query_attention(x, x, w, 4, 3),
                        Catch::Contains("dividing heads"));
    REQUIRE_THROWS_WITH(attn::grouped_query_attention(x, x, w, 4, 4),
                        Catch::Contains("w_k"));
    attn::position_scheme rope;
    rope.rope = true;
    auto odd = attn::random_grouped_query_weights(8, 2, 1, 3, r);
    REQUIRE_THROWS_WITH(
        attn::grouped_query_attention(x, x, odd, 2, 1, {}, rope),
        Catch::Contains("must be even"));
}

TEST_CASE("Eq. 8.7: cache widths per token and layer, by hand",
          "[ch08][eq_cache_size]")
{
    // H = 32 heads of 128, G = 8: MHA 2*32*128 = 8192, GQA 2*8*128 =
    // 2048, MQA 2*128 = 256; a latent of 512 plus a rotary key of 64: 576.
    const auto c = attn::cache_widths_of(32, 8, 128, 512, 64);
    REQUIRE(c.multi_head == 8192);
    REQUIRE(c.grouped == 2048);
    REQUIRE(c.multi_query == 256);
    REQUIRE(c.latent == 576);
    // G = H is multi-head, G = 1 multi-query.
    REQUIRE(attn::cache_widths_of(4, 4, 8, 1, 0).grouped
            == attn::cache_widths_of(4, 4, 8, 1, 0).multi_head);
    REQUIRE(attn::cache_widths_of(4, 1, 8, 1, 0).grouped
            == attn::cache_widths_of(4, 1, 8, 1, 0).multi_query);
}

TEST_CASE("Eq. 8.8: each query sees its last n_w positions, by hand",
          "[ch08][eq_sliding_window]")
{
    // n = 4, W = 2: position i sees i - 1 and i.
    const auto m = attn::sliding_window_mask(4, 4, 2);
    const attn::mask_matrix expected = {{true, false, false, false},
                                        {true, true, false, false},
                                        {false, true, true, false},
                                        {false, false, true, true}};
    REQUIRE((m == expected));
    // A window as long as the sequence is the causal mask; W = 1 sees only
    // itself; one query at position 5 of 6 keys with W = 3 sees 3, 4, 5.
    REQUIRE((attn::sliding_window_mask(5, 5, 5) == attn::causal_mask(5, 5)));
    REQUIRE((attn::sliding_window_mask(3, 3, 1)
             == attn::mask_matrix(xt::eye<bool>(3))));
    const attn::mask_matrix last = {{false, false, false, true, true, true}};
    REQUIRE((attn::sliding_window_mask(1, 6, 3) == last));
    REQUIRE_THROWS_WITH(attn::sliding_window_mask(2, 2, 0),
                        Catch::Contains("at least 1"));
    // Against the definition 0 <= i - j < W, for several n and W.
    for (std::size_t n : {1u, 5u, 9u}) {
        for (std::size_t w : {1u, 2u, 4u, 12u}) {
            const auto mw = attn::sliding_window_mask(n, n, w);
            for (std::size_t i = 0; i < n; ++i) {
                for (std::size_t j = 0; j < n; ++j) {
                    const long diff = long(i) - long(j);
                    REQUIRE(mw(i, j) == (diff >= 0 && diff < long(w)));
                }
            }
        }
    }
}

TEST_CASE("Eq. 8.9: a ring buffer of n_w slots equals the windowed full pass "
          "token by token, after many wraps", "[ch08][eq_ring_buffer]")
{
    for (std::size_t window : {1u, 3u, 4u}) {
        CAPTURE(window);
        attn::rng r(window);
        const std::size_t n = 29, d = 6;  // 29 tokens: up to 9 wraps
        const matrix q = attn::rope_interleaved(attn::normal_matrix(n, d, r));
        const matrix k = attn::rope_interleaved(attn::normal_matrix(n, d, r));
        const matrix v = attn::normal_matrix(n, 5, r);
        const matrix full = attn::masked_attend(
            q, k, v, attn::sliding_window_mask(n, n, window)).y;
        const matrix causal = attn::masked_attend(
            q, k, v, attn::causal_mask(n, n)).y;
        attn::ring_kv_cache cache(window, d, 5);
        for (std::size_t t = 0; t < n; ++t) {
            CAPTURE(t);
            attn::ring_append(cache, row_of(k, t), row_of(v, t));
            const matrix y_t = attn::ring_attend(cache, row_of(q, t));
            REQUIRE_THAT(y_t, IsCloseTo(row_of(full, t), 1e-12));
            if (t >= window) {  // beyond the window, not causal attention
                REQUIRE_THAT(y_t, !IsCloseTo(row_of(causal, t), 1e-6));
            }
        }
        REQUIRE(cache.k.shape()[0] == window);  // memory stays W rows
    }
    REQUIRE_THROWS_WITH(attn::ring_kv_cache(0, 2, 2),
                        Catch::Contains("at least 1"));
    attn::ring_kv_cache small(2, 3, 3);
    REQUIRE_THROWS_WITH(attn::ring_append(small, xt::zeros<double>({1, 4}),
                                          xt::zeros<double>({1, 3})),
                        Catch::Contains("k_new"));
    REQUIRE_THROWS_WITH(attn::ring_attend(small, xt::zeros<double>({2, 3})),
                        Catch::Contains("q_new"));
}

TEST_CASE("Eq. 8.10: the prefix-LM mask, by hand", "[ch08][eq_prefix_lm]")
{
    // n = 4, prefix p = 2: keys 0 and 1 are seen by all; then causal.
    const attn::mask_matrix expected = {{true, true, false, false},
                                        {true, true, false, false},
                                        {true, true, true, false},
                                        {true, true, true, true}};
    REQUIRE((attn::prefix_lm_mask(4, 2) == expected));
    // p = 0 and p = 1 are the causal mask; p = n lets everyone see all.
    REQUIRE((attn::prefix_lm_mask(4, 0) == attn::causal_mask(4, 4)));
    REQUIRE((attn::prefix_lm_mask(4, 1) == attn::causal_mask(4, 4)));
    REQUIRE((attn::prefix_lm_mask(4, 4)
             == attn::mask_matrix(xt::ones<bool>({4, 4}))));
    REQUIRE_THROWS_WITH(attn::prefix_lm_mask(3, 4),
                        Catch::Contains("at most n = 3"));
}

TEST_CASE("Eq. 8.11: packed sequences: block-diagonal AND causal, each "
          "document attended as if it were alone", "[ch08][eq_packed]")
{
    // Documents 0 0 1 1 1 2: three blocks, each lower-triangular.
    const std::vector<std::size_t> doc = {0, 0, 1, 1, 1, 2};
    const attn::mask_matrix expected = {
        {true, false, false, false, false, false},
        {true, true, false, false, false, false},
        {false, false, true, false, false, false},
        {false, false, true, true, false, false},
        {false, false, true, true, true, false},
        {false, false, false, false, false, true}};
    REQUIRE((attn::packed_causal_mask(doc) == expected));
    // AND composes: the same as chapter 4's mask_and of the two parts.
    REQUIRE((attn::packed_causal_mask(doc)
             == (attn::same_document_mask(doc) && attn::causal_mask(6, 6))));
    // Attention over the packed row equals each document on its own.
    attn::rng r(4);
    const matrix q = attn::normal_matrix(6, 4, r);
    const matrix k = attn::normal_matrix(6, 4, r);
    const matrix v = attn::normal_matrix(6, 3, r);
    const matrix packed =
        attn::masked_attend(q, k, v, attn::packed_causal_mask(doc)).y;
    for (auto [start, end] : {std::pair{0u, 2u}, std::pair{2u, 5u},
                              std::pair{5u, 6u}}) {
        CAPTURE(start);
        auto rows = xt::range(start, end);
        const matrix alone = attn::masked_attend(
            xt::view(q, rows, xt::all()), xt::view(k, rows, xt::all()),
            xt::view(v, rows, xt::all()),
            attn::causal_mask(end - start, end - start)).y;
        REQUIRE_THAT(matrix(xt::view(packed, rows, xt::all())),
                     IsCloseTo(alone, 1e-13));
    }
    // With the causal mask alone, document 1 would read document 0.
    const matrix leaky = attn::masked_attend(q, k, v,
                                             attn::causal_mask(6, 6)).y;
    REQUIRE_THAT(leaky, !IsCloseTo(packed, 1e-6));
}

TEST_CASE("Eq. 8.12: keys and values from the latents are a low-rank "
          "projection of the tokens", "[ch08][eq_latent_cache]")
{
    attn::rng r(2);
    const std::size_t n = 6, d_model = 10, d_c = 3, heads = 2, d = 4;
    const matrix x = attn::normal_matrix(n, d_model, r);
    const attn::latent_weights w{attn::normal_matrix(d_model, heads * d, r),
                                 attn::normal_matrix(d_model, d_c, r),
                                 attn::normal_matrix(d_c, heads * d, r),
                                 attn::normal_matrix(d_c, heads * d, r)};
    const matrix c = attn::latents(x, w);
    REQUIRE(c.shape()[1] == d_c);  // the cache: d_c numbers per token
    // K = C W_uk = X (W_dkv W_uk): multi-head attention whose W_k is the
    // product, of rank d_c = 3 < H d = 8.
    const attn::multi_head_weights mh{
        w.w_q, xt::linalg::dot(w.w_dkv, w.w_uk),
        xt::linalg::dot(w.w_dkv, w.w_uv), xt::eye<double>(heads * d),
        xt::zeros<double>({heads * d})};
    const auto mask = attn::causal_mask(n, n);
    // Head by head, chapter 4's attention on those projections.
    const matrix y = attn::latent_attention_explicit(x, c, w, heads, mask);
    for (std::size_t h = 0; h < heads; ++h) {
        auto cols = xt::range(h * d, (h + 1) * d);
        const matrix w_q_h = xt::view(mh.w_q, xt::all(), cols);
        const matrix w_k_h = xt::view(mh.w_k, xt::all(), cols);
        const matrix w_v_h = xt::view(mh.w_v, xt::all(), cols);
        const matrix q_h = xt::linalg::dot(x, w_q_h);
        const matrix k_h = xt::linalg::dot(x, w_k_h);
        const matrix v_h = xt::linalg::dot(x, w_v_h);
        REQUIRE_THAT(matrix(xt::view(y, xt::all(), cols)),
                     IsCloseTo(attn::masked_attend(q_h, k_h, v_h, mask).y,
                               1e-12));
    }
    REQUIRE(xt::linalg::matrix_rank(mh.w_k) == d_c);
}

TEST_CASE("Eq. 8.13: attention over cached latents with the up-projections "
          "absorbed equals the explicit keys and values",
          "[ch08][eq_latent_absorbed]")
{
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        CAPTURE(seed);
        attn::rng r(seed);
        const std::size_t n = 7, d_model = 16, d_c = 6, heads = 4, d = 4,
                          d_v = 5;
        const matrix x = attn::normal_matrix(n, d_model, r);
        const attn::latent_weights w{
            attn::normal_matrix(d_model, heads * d, r),
            attn::normal_matrix(d_model, d_c, r),
            attn::normal_matrix(d_c, heads * d, r),
            attn::normal_matrix(d_c, heads * d_v, r)};
        const matrix c = attn::latents(x, w);
        const auto mask = attn::causal_mask(n, n);
        const matrix absorbed =
            attn::latent_attention_absorbed(x, c, w, heads, mask);
        const matrix explicit_kv =
            attn::latent_attention_explicit(x, c, w, heads, mask);
        REQUIRE(absorbed.shape()[1] == heads * d_v);
        REQUIRE_THAT(absorbed, IsCloseTo(explicit_kv, 1e-12));
        // A perturbed W_uk changes both the same way, and the outputs move.
        auto w2 = w;
        w2.w_uk(0, 0) += 0.5;
        REQUIRE_THAT(attn::latent_attention_absorbed(x, c, w2, heads, mask),
                     IsCloseTo(attn::latent_attention_explicit(x, c, w2,
                                                               heads, mask),
                               1e-12));
        REQUIRE_THAT(attn::latent_attention_absorbed(x, c, w2, heads, mask),
                     !IsCloseTo(absorbed, 1e-6));
    }
}

// ------------------------------------ positions in chapter 7's model
namespace {

// Chapter 7's model at a tiny size: |V| 5, n_max 7, d_model 8, two heads
// of width 4 (even, for RoPE), two layers; biases b_o not zero.
const attn::decoder_sizes tiny8{5, 7, 8, 2, 2};

attn::decoder_model random_decoder8(std::uint64_t seed)
{
    auto m = attn::init_decoder_model(tiny8, seed);
    for (std::size_t l = 0; l < tiny8.layers; ++l) {
        m.layers[l].b_o = book_test::random_vector(tiny8.d_model, seed + 50 + l,
                                                   0.3);
    }
    return m;
}

// n random tokens below 5 and their next-token targets (-1 at the end).
std::pair<std::vector<std::size_t>, std::vector<int>> random_sequence(
    std::size_t n, std::uint64_t seed)
{
    attn::rng g(seed);
    std::vector<std::size_t> t;
    std::vector<int> target;
    for (std::size_t i = 0; i < n; ++i) {
        t.push_back(g.below(5));
    }
    for (std::size_t i = 0; i < n; ++i) {
        target.push_back(i + 1 < n ? int(t[i + 1]) : -1);
    }
    return {t, target};
}

const std::vector<attn::position_kind> all_kinds = {
    attn::position_kind::learned, attn::position_kind::sinusoidal,
    attn::position_kind::rope, attn::position_kind::alibi};

}  // namespace

TEST_CASE("Eq. 8.15: turning back by R_i undoes RoPE and is its adjoint",
          "[ch08][eq_rope_backward]")
{
    // By hand, d_k = 2, one row at position 1: omega_0 = 1, so turning
    // back takes (1, 0) by -1 rad to (cos 1, -sin 1).
    const matrix one = {{1.0, 0.0}};
    const matrix expected = {{std::cos(1.0), -std::sin(1.0)}};
    REQUIRE_THAT(attn::rope_heads_transpose(one, 2, 1),
                 IsCloseTo(expected, 1e-15));
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        attn::rng r(seed);
        const matrix x = attn::normal_matrix(5, 8, r);  // two heads, d_k 4
        const matrix y = attn::normal_matrix(5, 8, r);
        // (x R_i^T) R_i = x, row by row, at any first position p0.
        matrix rx = x;
        attn::rope_heads_in_place(rx, 4, seed);
        REQUIRE_THAT(attn::rope_heads_transpose(rx, 4, seed),
                     IsCloseTo(x, 1e-14));
        // Adjoint: <x_i R_i^T, y_i> = <x_i, y_i R_i> for every row i.
        const matrix rty = attn::rope_heads_transpose(y, 4, seed);
        for (std::size_t i = 0; i < 5; ++i) {
            REQUIRE(dot_rows(row_of(rx, i), row_of(y, i))
                    == Approx(dot_rows(row_of(x, i), row_of(rty, i)))
                           .epsilon(1e-13));
        }
    }
    REQUIRE_THROWS_AS(attn::rope_heads_transpose(one, 3),
                      std::invalid_argument);
}

TEST_CASE("Eq. 8.14: the input of layer 0 for each position scheme, "
          "against loops", "[ch08][eq_position_input]")
{
    const auto m = random_decoder8(4);
    const auto [t, target] = random_sequence(6, 5);
    const matrix pe = attn::sinusoidal_positional_encoding(6, 8);
    for (auto kind : all_kinds) {
        CAPTURE(attn::position_name(kind));
        const matrix x0 = attn::position_input(kind, m, t);
        REQUIRE(x0.shape()[0] == 6);
        REQUIRE(x0.shape()[1] == 8);
        for (std::size_t i = 0; i < 6; ++i) {
            for (std::size_t c = 0; c < 8; ++c) {
                double e = m.w_e(t[i], c);
                if (kind == attn::position_kind::learned) {
                    e += m.w_p(i, c);
                } else if (kind == attn::position_kind::sinusoidal) {
                    // Eq. 2.9: even columns sin(i omega_f), odd cos.
                    const double w =
                        std::pow(10000.0, -double(c / 2 * 2) / 8.0);
                    e += c % 2 == 0 ? std::sin(double(i) * w)
                                    : std::cos(double(i) * w);
                    REQUIRE(pe(i, c) == Approx(c % 2 == 0
                                                   ? std::sin(double(i) * w)
                                                   : std::cos(double(i) * w))
                                            .margin(1e-14));
                }
                REQUIRE(x0(i, c) == Approx(e).margin(1e-14));
            }
        }
    }
}

TEST_CASE("Eq. 8.14: with learned positions the model is chapter 7's, "
          "forward and backward", "[ch08][eq_position_input]")
{
    const auto m = random_decoder8(6);
    const auto [t, target] = random_sequence(7, 7);
    const auto kind = attn::position_kind::learned;
    const auto f = attn::position_model_forward(kind, tiny8, m, t, target);
    const auto f7 = attn::decoder_model_forward(tiny8, m, t, target);
    REQUIRE(f.loss == Approx(f7.loss).epsilon(1e-13));
    REQUIRE_THAT(f.p, IsCloseTo(f7.p, 1e-13));
    const auto g = attn::position_model_backward(kind, tiny8, m, t, target, f);
    const auto g7 = attn::decoder_model_backward(tiny8, m, t, target, f7);
    REQUIRE_THAT(g.dL_dw_e, IsCloseTo(g7.dL_dw_e, 1e-12));
    REQUIRE_THAT(g.dL_dw_p, IsCloseTo(g7.dL_dw_p, 1e-12));
    REQUIRE_THAT(g.dL_dw_u, IsCloseTo(g7.dL_dw_u, 1e-12));
    for (std::size_t l = 0; l < 2; ++l) {
        REQUIRE_THAT(g.layers[l].dL_dw.w_q, IsCloseTo(g7.layers[l].dL_dw.w_q,
                                                      1e-12));
        REQUIRE_THAT(g.layers[l].dL_dw.w_k, IsCloseTo(g7.layers[l].dL_dw.w_k,
                                                      1e-12));
    }
    // Learned positions have n_max = 7 rows: an eighth token is refused,
    // the other schemes read any length.
    const auto [t8, target8] = random_sequence(8, 8);
    REQUIRE_THROWS_AS(
        attn::position_model_forward(kind, tiny8, m, t8, target8),
        std::invalid_argument);
    for (auto other : {attn::position_kind::sinusoidal,
                       attn::position_kind::rope, attn::position_kind::alibi}) {
        const auto [t21, target21] = random_sequence(21, 9);
        const auto fl = attn::position_model_forward(other, tiny8, m, t21,
                                                     target21);
        REQUIRE(std::isfinite(fl.loss));
        REQUIRE(fl.scored == 20);
    }
}

TEST_CASE("Eq. 8.15: every gradient of every position scheme matches "
          "central differences", "[ch08][eq_rope_backward]")
{
    using model = attn::decoder_model;
    for (auto kind : all_kinds) {
        CAPTURE(attn::position_name(kind));
        const auto m = random_decoder8(11);
        const auto [t, target] = random_sequence(6, 12);
        const auto f = attn::position_model_forward(kind, tiny8, m, t, target);
        const auto g = attn::position_model_backward(kind, tiny8, m, t, target,
                                                     f);
        const auto loss = [&, &t = t, &target = target](const model& m2) {
            return attn::position_model_forward(kind, tiny8, m2, t, target)
                .loss;
        };
        book_test::require_decoder_gradients(g, m, loss);
    }
}

// [ch08-rope-backward-test]
TEST_CASE("Eq. 8.15: the check fails without the transposed rotation, and "
          "for a perturbed entry", "[ch08][eq_rope_backward]")
{
    // One RoPE layer, loss L = sum(Y~ * C) for a fixed random C. Chapter
    // 5's backward, handed the rotated queries and keys, returns
    // dL/dW_q = X^T dL/dQ~: it skips Eq. 8.15, and the check rejects it.
    // With ALiBi instead, whose bias is a constant, it is right.
    attn::rng r(31);
    const matrix x = attn::normal_matrix(6, 8, r);
    const matrix c = attn::normal_matrix(6, 8, r);
    const auto w = random_decoder8(32).layers[0];
    for (bool rope : {true, false}) {
        CAPTURE(rope);
        attn::position_scheme pos;
        pos.rope = rope;
        pos.alibi = !rope;
        const auto mask = attn::causal_mask(6, 6);
        const auto loss = [&](const attn::multi_head_weights& w2) {
            return double(xt::sum(attn::grouped_query_attention(
                x, x, {w2.w_q, w2.w_k, w2.w_v, w2.w_o, w2.b_o}, 2, 2, mask,
                pos).y * c)());
        };
        const auto res = attn::grouped_query_attention(
            x, x, {w.w_q, w.w_k, w.w_v, w.w_o, w.b_o}, 2, 2, mask, pos);
        const matrix fd = book_test::fd_part(
            w, [](attn::multi_head_weights& p) -> matrix& { return p.w_q; },
            loss);
        const auto ours = attn::position_attention_backward(x, w, 2, res, c,
                                                            pos);
        REQUIRE(IsCloseTo(fd, book_test::fd_rtol, book_test::fd_atol)
                    .match(ours.dL_dw.w_q));
        const attn::multi_head_result as_ch05{res.q, res.k, res.v, res.a,
                                              res.y_cat, res.y, {}};
        const auto ch05 = attn::multi_head_attention_backward(x, x, w, 2,
                                                              as_ch05, c);
        REQUIRE(IsCloseTo(fd, book_test::fd_rtol, book_test::fd_atol)
                    .match(ch05.dL_dw.w_q) == !rope);
        matrix wrong = ours.dL_dw.w_q;
        wrong(2, 3) += 1e-4;
        REQUIRE_FALSE(IsCloseTo(fd, book_test::fd_rtol, book_test::fd_atol)
                          .match(wrong));
    }
}
// [ch08-rope-backward-test]

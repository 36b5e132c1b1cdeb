// Chapter 8 groundwork: rotary position embeddings and ALiBi. Not yet in
// the build (the chapter's text and anchors do not exist yet); compile by
// hand:
//   g++ -O1 -DXTENSOR_ENABLE_ASSERT -std=c++17 -Icode -Itests
//       tests/test_ch08_positions.cpp -lCatch2WithMain -lopenblas -llapack
#include <cmath>
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>

#include "attention/alibi.hpp"
#include "attention/grouped_query.hpp"
#include "attention/kv_cache.hpp"
#include "attention/latent_cache.hpp"
#include "attention/multi_head.hpp"
#include "attention/random.hpp"
#include "attention/rotary.hpp"
#include "test_helpers.hpp"

namespace {

using attn::matrix;
using book_test::IsCloseTo;

// One row of x as a (1, d) matrix.
matrix row_of(const matrix& x, std::size_t r)
{
    matrix y = xt::empty<double>({std::size_t(1), x.shape()[1]});
    for (std::size_t c = 0; c < x.shape()[1]; ++c) {
        y(0, c) = x(r, c);
    }
    return y;
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

TEST_CASE("RoPE: a pair of columns turns by the position times theta_f, "
          "by hand", "[eq_rope]")
{
    // d = 4: theta_0 = 10000^0 = 1, theta_1 = 10000^(-2/4) = 1/100.
    // x = (1, 0, 0, 1) at position 2: pair 0 (1, 0) turns by 2 rad to
    // (cos 2, sin 2); pair 1 (0, 1) turns by 0.02 rad to (-sin .02, cos .02).
    const matrix x = {{1.0, 0.0, 0.0, 1.0}};
    const matrix y = attn::rope_interleaved(x, 2);
    const matrix expected = {{std::cos(2.0), std::sin(2.0), -std::sin(0.02),
                              std::cos(0.02)}};
    REQUIRE_THAT(y, IsCloseTo(expected, 1e-15));
    // In the rotate-half layout the same pairs are columns (0, 2), (1, 3).
    const matrix xh = {{1.0, 0.0, 0.0, 1.0}};  // pair 0 = (1, 0), pair 1 = (0, 1)
    const matrix yh = attn::rope_half(xh, 2);
    const matrix expected_h = {{std::cos(2.0), -std::sin(0.02), std::sin(2.0),
                                std::cos(0.02)}};
    REQUIRE_THAT(yh, IsCloseTo(expected_h, 1e-15));
}

TEST_CASE("RoPE: a rotation keeps every row's length", "[eq_rope]")
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

TEST_CASE("RoPE: the score of a query at m and a key at n depends on m - n "
          "only", "[eq_rope_relative]")
{
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        CAPTURE(seed);
        attn::rng r(seed);
        const matrix q = attn::normal_matrix(1, 16, r);
        const matrix k = attn::normal_matrix(1, 16, r);
        // The same offset m - n = 3 at four places, and a different one.
        const double s_5_2 = dot_rows(attn::rope_interleaved(q, 5),
                                      attn::rope_interleaved(k, 2));
        for (std::size_t shift : {1u, 7u, 100u}) {
            CAPTURE(shift);
            const double s = dot_rows(attn::rope_interleaved(q, 5 + shift),
                                      attn::rope_interleaved(k, 2 + shift));
            REQUIRE(s == Approx(s_5_2).epsilon(1e-10));
        }
        const double s_5_3 = dot_rows(attn::rope_interleaved(q, 5),
                                      attn::rope_interleaved(k, 3));
        REQUIRE(std::abs(s_5_3 - s_5_2) > 1e-6);  // the offset does matter
    }
}

TEST_CASE("RoPE: the rotate-half layout is the paper's with the columns of "
          "W_q and W_k permuted", "[eq_rope_layouts]")
{
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        CAPTURE(seed);
        attn::rng r(seed);
        const matrix x = attn::normal_matrix(6, 12, r);
        const matrix w_q = attn::normal_matrix(12, 8, r);
        const matrix w_k = attn::normal_matrix(12, 8, r);
        const auto perm = attn::rope_half_permutation(8);
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

TEST_CASE("RoPE: rows rotated from an offset p0 equal the same rows of the "
          "whole sequence", "[eq_rope]")
{
    attn::rng r(3);
    const matrix x = attn::normal_matrix(10, 6, r);
    const matrix whole = attn::rope_interleaved(x);
    const matrix tail = attn::rope_interleaved(
        xt::view(x, xt::range(4, 10), xt::all()), 4);
    REQUIRE_THAT(tail, IsCloseTo(matrix(xt::view(whole, xt::range(4, 10),
                                                  xt::all())), 1e-15));
    // The bug learners hit: a new token rotated as if it were position 0.
    const matrix wrong = attn::rope_interleaved(
        xt::view(x, xt::range(4, 10), xt::all()), 0);
    REQUIRE_THAT(wrong, !IsCloseTo(tail, 1e-6));
}

TEST_CASE("Errors: RoPE refuses an odd width and permute_columns a "
          "non-permutation", "[errors]")
{
    const matrix odd = xt::zeros<double>({2, 3});
    REQUIRE_THROWS_WITH(attn::rope_interleaved(odd),
                        Catch::Contains("must be even"));
    REQUIRE_THROWS_WITH(attn::rope_half(odd), Catch::Contains("must be even"));
    const matrix w = xt::zeros<double>({2, 4});
    REQUIRE_THROWS_WITH(attn::permute_columns(w, {0, 1, 1, 3}),
                        Catch::Contains("permutation"));
}

TEST_CASE("ALiBi: the slopes of Press et al., by hand", "[eq_alibi_slopes]")
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

TEST_CASE("ALiBi: the bias is -m (i - j), and a cache's offset keeps it",
          "[eq_alibi_bias]")
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
}

TEST_CASE("GQA: with G = H groups it is chapter 3's multi-head attention, "
          "and with G < H the multi-head layer whose key and value heads "
          "repeat each group", "[eq_gqa]")
{
    const std::size_t d_model = 12, heads = 6;
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        for (std::size_t groups : {6u, 3u, 2u, 1u}) {
            CAPTURE(seed, groups);
            attn::rng r(seed);
            const std::size_t d_k = d_model / heads;
            const matrix x = attn::normal_matrix(5, d_model, r);
            attn::grouped_query_weights g{
                attn::normal_matrix(d_model, heads * d_k, r),
                attn::normal_matrix(d_model, groups * d_k, r),
                attn::normal_matrix(d_model, groups * d_k, r),
                attn::normal_matrix(heads * d_k, d_model, r)};
            const attn::multi_head_weights mh{
                g.w_q, attn::repeat_groups(g.w_k, heads, groups),
                attn::repeat_groups(g.w_v, heads, groups), g.w_o,
                xt::zeros<double>({d_model})};
            const auto mask = attn::causal_mask(5, 5);
            const matrix y_gqa =
                attn::grouped_query_attention(x, x, g, heads, groups, mask);
            const matrix y_mha =
                attn::multi_head_attention(x, x, mh, heads, mask).y;
            REQUIRE_THAT(y_gqa, IsCloseTo(y_mha, 1e-12));
        }
    }
}

TEST_CASE("GQA: the heads of one group read the same keys, so changing "
          "another group's key projection leaves them alone", "[eq_gqa]")
{
    attn::rng r(7);
    const std::size_t d_model = 8, heads = 4, groups = 2, d_k = 2;
    const matrix x = attn::normal_matrix(4, d_model, r);
    attn::grouped_query_weights g{attn::normal_matrix(d_model, heads * d_k, r),
                                  attn::normal_matrix(d_model, groups * d_k, r),
                                  attn::normal_matrix(d_model, groups * d_k, r),
                                  xt::eye<double>(heads * d_k)};
    const matrix y = attn::grouped_query_attention(x, x, g, heads, groups);
    // Change group 1's key columns (2, 3): heads 0 and 1 (group 0) keep
    // their outputs, columns 0..3 of Y_cat (w_o is the identity).
    attn::grouped_query_weights g2 = g;
    xt::view(g2.w_k, xt::all(), xt::range(2, 4)) += 1.0;
    const matrix y2 = attn::grouped_query_attention(x, x, g2, heads, groups);
    REQUIRE_THAT(matrix(xt::view(y2, xt::all(), xt::range(0, 4))),
                 IsCloseTo(matrix(xt::view(y, xt::all(), xt::range(0, 4))),
                           1e-15));
    REQUIRE_THAT(matrix(xt::view(y2, xt::all(), xt::range(4, 8))),
                 !IsCloseTo(matrix(xt::view(y, xt::all(), xt::range(4, 8))),
                            1e-6));
    REQUIRE_THROWS_WITH(attn::grouped_query_attention(x, x, g, 4, 3),
                        Catch::Contains("dividing heads"));
}

TEST_CASE("Sliding window: each query sees its last w positions, by hand",
          "[eq_sliding_window]")
{
    // n = 4, w = 2: position i sees i - 1 and i.
    const auto m = attn::sliding_window_mask(4, 4, 2);
    const attn::mask_matrix expected = {{true, false, false, false},
                                        {true, true, false, false},
                                        {false, true, true, false},
                                        {false, false, true, true}};
    REQUIRE((m == expected));
    // A window as long as the sequence is the causal mask; w = 1 sees only
    // itself; one query at position 5 of 6 keys with w = 3 sees 3, 4, 5.
    REQUIRE((attn::sliding_window_mask(5, 5, 5) == attn::causal_mask(5, 5)));
    REQUIRE((attn::sliding_window_mask(3, 3, 1)
             == attn::mask_matrix(xt::eye<bool>(3))));
    const attn::mask_matrix last = {{false, false, false, true, true, true}};
    REQUIRE((attn::sliding_window_mask(1, 6, 3) == last));
    REQUIRE_THROWS_WITH(attn::sliding_window_mask(2, 2, 0),
                        Catch::Contains("at least 1"));
}

TEST_CASE("RoPE with a cache: decoding t tokens after a prompt of p, each "
          "key rotated at its absolute position, equals the full masked "
          "pass", "[eq_rope_cache]")
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
            cache, attn::rope_interleaved(xt::view(k, xt::range(0, p), xt::all())),
            xt::view(v, xt::range(0, p), xt::all()));
        for (std::size_t pos = p; pos < n; ++pos) {
            CAPTURE(pos);
            const matrix q_t = xt::view(q, xt::range(pos, pos + 1), xt::all());
            const matrix k_t = xt::view(k, xt::range(pos, pos + 1), xt::all());
            const matrix v_t = xt::view(v, xt::range(pos, pos + 1), xt::all());
            attn::append_to_cache(cache, attn::rope_interleaved(k_t, pos), v_t);
            const matrix y_t =
                attn::masked_attend(attn::rope_interleaved(q_t, pos),
                                    cache.keys(), cache.values(),
                                    attn::causal_mask(1, pos + 1)).y;
            REQUIRE_THAT(y_t, IsCloseTo(matrix(xt::view(full, xt::range(pos, pos + 1),
                                                        xt::all())), 1e-12));
            // The offset bug: the new query rotated as position 0.
            const matrix wrong =
                attn::masked_attend(attn::rope_interleaved(q_t, 0),
                                    cache.keys(), cache.values(),
                                    attn::causal_mask(1, pos + 1)).y;
            REQUIRE_THAT(wrong, !IsCloseTo(y_t, 1e-6));
        }
    }
}

TEST_CASE("Latent cache: attention over cached latents with the up-"
          "projections absorbed equals attention over the keys and values "
          "they stand for", "[eq_latent_cache]")
{
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        CAPTURE(seed);
        attn::rng r(seed);
        const std::size_t n = 7, d_model = 16, d_c = 6, d_k = 4, d_v = 5;
        const matrix x = attn::normal_matrix(n, d_model, r);
        const attn::latent_head_weights w{
            attn::normal_matrix(d_model, d_k, r),
            attn::normal_matrix(d_model, d_c, r),
            attn::normal_matrix(d_c, d_k, r), attn::normal_matrix(d_c, d_v, r)};
        const matrix c = xt::linalg::dot(x, w.w_dkv);        // the cache
        const auto mask = attn::causal_mask(n, n);
        const matrix y = attn::latent_attention(x, c, w, mask);
        // Explicit keys and values from the latents, then chapter 4.
        const matrix k = xt::linalg::dot(c, w.w_uk);
        const matrix v = xt::linalg::dot(c, w.w_uv);
        const matrix expected = attn::masked_attend(
            xt::linalg::dot(x, w.w_q), k, v, mask).y;
        REQUIRE_THAT(y, IsCloseTo(expected, 1e-12));
    }
    // Doubles per token and layer: H = 32 heads of 128, G = 8 groups, a
    // latent of 512 (DeepSeek-V2's d_c): 8192, 2048 and 512.
    const auto widths = attn::cache_widths_of(32, 8, 128, 512);
    REQUIRE(widths.multi_head == 8192);
    REQUIRE(widths.grouped == 2048);
    REQUIRE(widths.latent == 512);
}

// Grader of the capstone, a tiny decoder-only language model (the page
// chapters/capstone.md). It is compiled twice: with the student's file
// (code/exercises/capstone.hpp) and with the reference solution
// (tests/solutions/capstone.hpp). Each TEST_CASE grades one part, tagged
// [ex_C_k]; the last one grades the whole model.
//
// Where the expected values come from: hand-worked cases (the arithmetic
// is in the comments), properties that need no reference, and the book's
// library (code/attention, tested by the chapters' own tests), which the
// helpers below assemble into the capstone's model:
//   a layer   attn::grouped_query_attention(x, x, w, H, G, causal mask,
//             {rope = true, offset = p0}): chapter 8's layer, Eq. (8.6),
//             rotating every head's queries and keys, Eq. (8.1);
//   the model x^(0) = rows of W_E, x^(l+1) = x^(l) + layer_l(x^(l)),
//             logits = x^(D) W_U: chapter 7's residual stream, with RoPE
//             in place of the learned positions W_P;
//   C.2       per head, attn::masked_attend (Eq. 4.5) under
//             attn::causal_mask (Eq. 4.2), key-value head attn::kv_group.
// Random inputs come from attn::rng with fixed seeds. The hints' variants
// (a common mistake made on purpose) are built the same way.
//
// Points (out of 100): C.1 10, C.2 15, C.3 15, C.4 10, C.5 15, C.6 15,
// C.7 (the whole) 20.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "attention/grouped_query.hpp"
#include "attention/masking.hpp"
#include "attention/random.hpp"
#include "attention/rotary.hpp"
#include "attention/softmax.hpp"
#include "capstone.hpp"
#include "exercises/kit.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;
using book_test::random_matrix;

namespace capstone_grade {

using attn::matrix;
using tokens_t = std::vector<std::size_t>;

// Same shape and entries within tol.
inline bool close(const matrix& a, const matrix& b, double tol = 1e-9)
{
    if (a.shape() != b.shape()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double x = a.data()[i], y = b.data()[i];
        if (!(std::abs(x - y) <= tol * (1.0 + std::abs(y)))) {
            return false;
        }
    }
    return true;
}

// `got` is the mistaken `variant`, which differs from `expected`.
inline bool looks_like(const matrix& got, const matrix& variant,
                       const matrix& expected)
{
    return close(got, variant) && !close(variant, expected);
}

// RoPE by literal loops with a chosen sign of the angle and exponent
// factor (the book's is sign +1, omega_f = b^(-2f/d)): only for hints.
inline matrix rope_variant(const matrix& x, std::size_t p0, double sign,
                           double two)
{
    const std::size_t n = x.shape()[0], d = x.shape()[1];
    matrix y = x;
    for (std::size_t r = 0; r < n; ++r) {
        for (std::size_t f = 0; f < d / 2; ++f) {
            const double angle = sign * double(p0 + r)
                                 * std::pow(10000.0, -two * double(f) / double(d));
            const double a = x(r, 2 * f), b = x(r, 2 * f + 1);
            y(r, 2 * f) = a * std::cos(angle) - b * std::sin(angle);
            y(r, 2 * f + 1) = a * std::sin(angle) + b * std::cos(angle);
        }
    }
    return y;
}

// How C.2 is computed; the defaults are the task, the others mistakes.
struct gqa_options {
    bool causal = true;         // false: no mask at all
    bool bottom_right = true;   // false: query i sees keys 0..i
    bool scaled = true;         // false: no 1 / sqrt(d)
    bool modulo_groups = false; // true: head h reads group h % G
};

// Causal grouped-query attention from the library's pieces: per query
// head, attn::masked_attend on its block and its group's blocks.
inline matrix library_gqa(const matrix& q, const matrix& k, const matrix& v,
                          std::size_t heads, std::size_t groups,
                          const gqa_options& o = {})
{
    const std::size_t n_q = q.shape()[0], n_k = k.shape()[0];
    const std::size_t d = q.shape()[1] / heads;
    attn::mask_matrix mask = attn::causal_mask(n_q, n_k);
    if (!o.bottom_right) {
        for (std::size_t i = 0; i < n_q; ++i) {
            for (std::size_t j = 0; j < n_k; ++j) {
                mask(i, j) = j <= i;
            }
        }
    }
    if (!o.causal) {
        mask = xt::ones<bool>({n_q, n_k});
    }
    matrix y = xt::zeros<double>({n_q, heads * d});
    for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t g = o.modulo_groups ? h % groups
                                              : attn::kv_group(h, heads, groups);
        matrix q_h = xt::view(q, xt::all(), xt::range(h * d, (h + 1) * d));
        if (!o.scaled) {
            q_h *= std::sqrt(double(d));  // masked_attend divides by it
        }
        const matrix k_g = xt::view(k, xt::all(), xt::range(g * d, (g + 1) * d));
        const matrix v_g = xt::view(v, xt::all(), xt::range(g * d, (g + 1) * d));
        xt::view(y, xt::all(), xt::range(h * d, (h + 1) * d)) =
            attn::masked_attend(q_h, k_g, v_g, mask).y;
    }
    return y;
}

inline attn::grouped_query_weights library_weights(
    const capstone::layer_weights& w)
{
    return {w.w_q, w.w_k, w.w_v, w.w_o, w.b_o};
}

// The library's layer: chapter 8's grouped-query attention with RoPE at
// positions p0.., under the causal mask (or without RoPE, or unmasked).
inline matrix library_layer(const matrix& x, const capstone::layer_weights& w,
                            std::size_t heads, std::size_t groups,
                            std::size_t p0 = 0, bool rope = true,
                            bool causal = true)
{
    const std::size_t n = x.shape()[0];
    attn::position_scheme pos;
    pos.rope = rope;
    pos.offset = p0;
    const attn::mask_matrix mask =
        causal ? attn::causal_mask(n, n) : attn::mask_matrix(xt::ones<bool>({n, n}));
    return attn::grouped_query_attention(x, x, library_weights(w), heads,
                                         groups, mask, pos).y;
}

// Mistaken layers for hints: RoPE over the whole width of q and k at
// once (not per head), or the values rotated too.
inline matrix layer_variant(const matrix& x, const capstone::layer_weights& w,
                            std::size_t heads, std::size_t groups,
                            std::size_t p0, bool whole_width,
                            bool rotate_values)
{
    const std::size_t d = w.w_q.shape()[1] / heads;
    matrix q = xt::linalg::dot(x, w.w_q);
    matrix k = xt::linalg::dot(x, w.w_k);
    matrix v = xt::linalg::dot(x, w.w_v);
    if (whole_width) {
        q = attn::rope_interleaved(q, p0);
        k = attn::rope_interleaved(k, p0);
    } else {
        attn::rope_heads_in_place(q, d, p0);
        attn::rope_heads_in_place(k, d, p0);
    }
    if (rotate_values) {
        attn::rope_heads_in_place(v, d, p0);
    }
    return xt::linalg::dot(library_gqa(q, k, v, heads, groups), w.w_o) + w.b_o;
}

struct sizes {
    std::size_t vocab, d_model, heads, groups, d, layers;
};

// A random model drawn from attn::rng: W_E from N(0, 1), each layer by
// attn::random_grouped_query_weights, W_U from N(0, 1/d_model).
inline capstone::model random_model(const sizes& s, std::uint64_t seed)
{
    attn::rng r(seed);
    capstone::model m;
    m.heads = s.heads;
    m.groups = s.groups;
    m.rope_base = 10000.0;
    m.w_e = attn::normal_matrix(s.vocab, s.d_model, r);
    for (std::size_t l = 0; l < s.layers; ++l) {
        const auto g = attn::random_grouped_query_weights(
            s.d_model, s.heads, s.groups, s.d, r);
        m.layers.push_back({g.w_q, g.w_k, g.w_v, g.w_o, g.b_o});
    }
    m.w_u = attn::normal_matrix(s.d_model, s.vocab, r,
                                1.0 / std::sqrt(double(s.d_model)));
    return m;
}

inline capstone::layer_weights random_layer(std::size_t d_model,
                                            std::size_t heads,
                                            std::size_t groups, std::size_t d,
                                            std::uint64_t seed)
{
    attn::rng r(seed);
    const auto g =
        attn::random_grouped_query_weights(d_model, heads, groups, d, r);
    return {g.w_q, g.w_k, g.w_v, g.w_o, g.b_o};
}

inline tokens_t random_tokens(std::size_t n, std::size_t vocab,
                              std::uint64_t seed)
{
    attn::rng r(seed);
    tokens_t t(n);
    for (auto& token : t) {
        token = r.below(vocab);
    }
    return t;
}

// The library's model: embedding rows, residual layers, unembedding.
inline matrix library_forward(const capstone::model& m, const tokens_t& t,
                              bool residual = true, bool causal = true)
{
    matrix x = xt::empty<double>({t.size(), m.w_e.shape()[1]});
    for (std::size_t i = 0; i < t.size(); ++i) {
        xt::row(x, i) = xt::row(m.w_e, t[i]);
    }
    for (const auto& w : m.layers) {
        const matrix y =
            library_layer(x, w, m.heads, m.groups, 0, true, causal);
        x = residual ? matrix(x + y) : y;
    }
    return xt::linalg::dot(x, m.w_u);
}

inline std::size_t argmax_row(const matrix& logits, std::size_t i)
{
    const auto row = xt::row(logits, i);
    return std::size_t(std::max_element(row.begin(), row.end())
                       - row.begin());
}

// Greedy generation by the library's full pass, recomputed every step.
inline tokens_t library_generate(const capstone::model& m, tokens_t t,
                                 std::size_t n_new)
{
    for (std::size_t step = 0; step < n_new; ++step) {
        const matrix logits = library_forward(m, t);
        t.push_back(argmax_row(logits, t.size() - 1));
    }
    return t;
}

inline matrix rows(const matrix& x, std::size_t from, std::size_t to)
{
    return xt::view(x, xt::range(from, to), xt::all());
}

// A cache vector as a matrix, or an empty (0, 0) one if it does not hold
// `rows` rows of `width`.
inline matrix cache_matrix(const std::vector<double>& data, std::size_t r,
                           std::size_t width)
{
    if (data.size() != r * width) {
        return xt::zeros<double>({std::size_t(0), std::size_t(0)});
    }
    matrix m = xt::empty<double>({r, width});
    std::copy(data.begin(), data.end(), m.begin());
    return m;
}

inline std::string show_tokens(const std::string& name, const tokens_t& t)
{
    std::string s = name + " =";
    for (auto token : t) {
        s += " " + std::to_string(token);
    }
    return s;
}

}  // namespace capstone_grade

// ------------------------------------------------------------------ C.1
TEST_CASE("Exercise C.1: rope_rotate, rotary positions in the paper's "
          "layout", "[grade][ex_C_1]")
{
    using namespace capstone_grade;
    SECTION("hand-worked: d = 2 and d = 4")
    {
        // d = 2: omega_0 = 1. Row 0 is at position 0 (no turn); row 1 at
        // position 1 turns (1, 0) by 1 radian to (cos 1, sin 1).
        const matrix x = {{1.0, 2.0}, {1.0, 0.0}};
        const matrix expected = {{1.0, 2.0}, {std::cos(1.0), std::sin(1.0)}};
        const matrix got = capstone::rope_rotate(x, 0);
        INFO(kit::show("x", x));
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(close(got, rows(x, 0, 2)),
                          "nothing turned: row r is at position p0 + r"));
        REQUIRE_THAT(got, IsCloseTo(expected));
        // d = 4, p0 = 3: pair 0 turns by 3 * 1, pair 1 by 3 * 10000^(-2/4)
        // = 0.03. (1, 0, 1, 0) -> (cos 3, sin 3, cos 0.03, sin 0.03).
        const matrix x4 = {{1.0, 0.0, 1.0, 0.0}};
        const matrix expected4 = {{std::cos(3.0), std::sin(3.0),
                                   std::cos(0.03), std::sin(0.03)}};
        const matrix got4 = capstone::rope_rotate(x4, 3);
        INFO(kit::show("x", x4));
        INFO("p0 = 3");
        INFO(kit::side_by_side(expected4, got4));
        INFO(kit::hint_if(close(got4, attn::rope_half(x4, 3)),
                          "you turned the pairs (f, f + d/2), the "
                          "'rotate-half' layout; the paper's layout, used "
                          "here, pairs the columns (2f, 2f + 1)"));
        INFO(kit::hint_if(close(got4, attn::rope_interleaved(x4, 2))
                              || close(got4, attn::rope_interleaved(x4, 4)),
                          "the position is off by one: row r is at position "
                          "p0 + r, counted from 0"));
        INFO(kit::hint_if(close(got4, rope_variant(x4, 3, 1.0, 1.0)),
                          "pair 1 turned by 3 * 10000^(-1/4): omega_f is "
                          "base^(-2f/d), with the 2"));
        INFO(kit::hint_if(close(got4, rope_variant(x4, 3, -1.0, 2.0)),
                          "your rotation turns the wrong way: (a, b) -> "
                          "(a cos - b sin, a sin + b cos)"));
        REQUIRE_THAT(got4, IsCloseTo(expected4));
    }
    SECTION("against the library, several widths, offsets and bases")
    {
        std::uint64_t seed = 10;
        for (std::size_t d : {2u, 6u, 8u}) {
            for (std::size_t p0 : {0u, 7u, 100u}) {
                for (double base : {10000.0, 500.0}) {
                    const matrix x = random_matrix(5, d, ++seed);
                    const matrix expected = attn::rope_interleaved(x, p0, base);
                    const matrix got = capstone::rope_rotate(x, p0, base);
                    CAPTURE(d, p0, base);
                    INFO(kit::show("x", x));
                    INFO(kit::side_by_side(expected, got));
                    INFO(kit::hint_if(
                        looks_like(got, attn::rope_half(x, p0, base), expected),
                        "you paired column f with column f + d/2 (the "
                        "rotate-half layout); the paper pairs 2f, 2f+1"));
                    INFO(kit::hint_if(
                        looks_like(got, attn::rope_interleaved(x, p0 + 1, base),
                                   expected)
                            || (p0 > 0
                                && looks_like(got,
                                              attn::rope_interleaved(x, p0 - 1,
                                                                     base),
                                              expected)),
                        "your positions are off by one: row r is at "
                        "position p0 + r"));
                    INFO(kit::hint_if(
                        base != 10000.0
                            && looks_like(got, attn::rope_interleaved(x, p0),
                                          expected),
                        "the base argument is ignored"));
                    REQUIRE_THAT(got, IsCloseTo(expected, 1e-10, 1e-10));
                }
            }
        }
    }
    SECTION("a score depends on the positions only through their "
            "difference, and lengths are kept")
    {
        const matrix q = random_matrix(1, 6, 31), k = random_matrix(1, 6, 32);
        // <R_i q, R_j k> for (i, j) = (5, 2) and (13, 10): both i - j = 3.
        const matrix a = xt::linalg::dot(capstone::rope_rotate(q, 5),
                                         xt::transpose(capstone::rope_rotate(k, 2)));
        const matrix b = xt::linalg::dot(capstone::rope_rotate(q, 13),
                                         xt::transpose(capstone::rope_rotate(k, 10)));
        REQUIRE_THAT(a, IsCloseTo(b, 1e-10, 1e-10));
        const matrix rotated = capstone::rope_rotate(q, 9);
        REQUIRE(xt::sum(rotated * rotated)() == Approx(xt::sum(q * q)()));
        // A turn that is not the identity: position 9 changes q.
        REQUIRE_FALSE(close(rotated, q));
    }
    SECTION("no rows gives no rows; an odd or zero width is refused")
    {
        const matrix none = xt::zeros<double>({std::size_t(0), std::size_t(4)});
        REQUIRE(capstone::rope_rotate(none, 3).shape() == none.shape());
        REQUIRE_THROWS_AS(capstone::rope_rotate(random_matrix(2, 3, 1), 0),
                          std::invalid_argument);
        const matrix empty = xt::zeros<double>({std::size_t(2), std::size_t(0)});
        REQUIRE_THROWS_AS(capstone::rope_rotate(empty, 0),
                          std::invalid_argument);
    }
}

// ------------------------------------------------------------------ C.2
TEST_CASE("Exercise C.2: causal_gqa, grouped-query attention under the "
          "causal mask", "[grade][ex_C_2]")
{
    using namespace capstone_grade;
    SECTION("hand-worked: two heads sharing one key-value head, and one "
            "decoding step")
    {
        // H = 2, G = 1, d = 1, all keys 0: every allowed key scores the
        // same, so each query averages the values it may see. Query 0
        // sees value 2: output 2; query 1 sees 2 and 4: output 3. Both
        // heads read the one key-value head.
        const matrix q = {{1.0, -1.0}, {2.0, 5.0}};
        const matrix k = {{0.0}, {0.0}}, v = {{2.0}, {4.0}};
        const matrix expected = {{2.0, 2.0}, {3.0, 3.0}};
        const matrix got = capstone::causal_gqa(q, k, v, 2, 1);
        INFO(kit::show("q", q));
        INFO(kit::show("k", k));
        INFO(kit::show("v", v));
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(close(got, matrix{{3.0, 3.0}, {3.0, 3.0}}),
                          "query 0 saw key 1: the causal mask is missing"));
        REQUIRE_THAT(got, IsCloseTo(expected));
        // One query (the last position) over two keys: scores 1 * 0 and
        // 1 * ln 3 (d = 1, no scale to speak of), weights 1/4 and 3/4, so
        // the output is 3/4 * 4 = 3.
        const matrix q1 = {{1.0}}, k1 = {{0.0}, {std::log(3.0)}};
        const matrix v1 = {{0.0}, {4.0}};
        const matrix got1 = capstone::causal_gqa(q1, k1, v1, 1, 1);
        INFO(kit::side_by_side(matrix{{3.0}}, got1));
        INFO(kit::hint_if(close(got1, matrix{{0.0}}),
                          "the one query saw only key 0: with n_q < n_k the "
                          "queries are the LAST n_q positions"));
        REQUIRE_THAT(got1, IsCloseTo(matrix{{3.0}}));
    }
    SECTION("against the library: groups, widths, and fewer queries than "
            "keys")
    {
        struct cfg {
            std::size_t heads, groups, d, n_q, n_k;
        };
        std::uint64_t seed = 100;
        for (const cfg c : {cfg{4, 2, 2, 5, 5}, cfg{4, 4, 3, 5, 5},
                            cfg{4, 1, 2, 1, 6}, cfg{6, 3, 2, 3, 7},
                            cfg{6, 2, 4, 4, 4}}) {
            const matrix q = random_matrix(c.n_q, c.heads * c.d, ++seed);
            const matrix k = random_matrix(c.n_k, c.groups * c.d, ++seed);
            const matrix v = random_matrix(c.n_k, c.groups * c.d, ++seed);
            const matrix expected = library_gqa(q, k, v, c.heads, c.groups);
            const matrix got = capstone::causal_gqa(q, k, v, c.heads, c.groups);
            CAPTURE(c.heads, c.groups, c.d, c.n_q, c.n_k);
            INFO(kit::side_by_side(expected, got));
            gqa_options modulo, top_left, unmasked, unscaled;
            modulo.modulo_groups = true;
            top_left.bottom_right = false;
            unmasked.causal = false;
            unscaled.scaled = false;
            INFO(kit::hint_if(
                looks_like(got, library_gqa(q, k, v, c.heads, c.groups, modulo),
                           expected),
                "query head h read key-value head h % G; Eq. (8.6) gives "
                "h / (H / G): neighbouring heads share a group"));
            INFO(kit::hint_if(
                looks_like(got,
                           library_gqa(q, k, v, c.heads, c.groups, top_left),
                           expected),
                "your mask lets query i see keys 0..i; the queries are the "
                "last n_q positions, so query i sees keys 0..n_k - n_q + i"));
            INFO(kit::hint_if(
                looks_like(got,
                           library_gqa(q, k, v, c.heads, c.groups, unmasked),
                           expected),
                "no causal mask: a query saw the keys after it"));
            INFO(kit::hint_if(
                looks_like(got,
                           library_gqa(q, k, v, c.heads, c.groups, unscaled),
                           expected),
                "the scores are not divided by sqrt(d)"));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-10, 1e-10));
        }
    }
    SECTION("bad groups and shapes are refused")
    {
        const matrix q = random_matrix(3, 8, 1);   // H = 4, d = 2
        const matrix k = random_matrix(3, 4, 2);   // G = 2
        const matrix v = random_matrix(3, 4, 3);
        REQUIRE_THROWS_AS(capstone::causal_gqa(q, k, v, 4, 0),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(capstone::causal_gqa(q, k, v, 4, 3),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(capstone::causal_gqa(q, k, v, 3, 1),
                          std::invalid_argument);  // 3 does not divide 8
        REQUIRE_THROWS_AS(capstone::causal_gqa(random_matrix(4, 8, 4), k, v,
                                               4, 2),
                          std::invalid_argument);  // n_q > n_k
        REQUIRE_THROWS_AS(capstone::causal_gqa(q, random_matrix(3, 6, 5), v,
                                               4, 2),
                          std::invalid_argument);  // k is not (n_k, G d)
        REQUIRE_THROWS_AS(capstone::causal_gqa(q, k, random_matrix(2, 4, 6),
                                               4, 2),
                          std::invalid_argument);  // v has 2 rows, k 3
        const matrix none = xt::zeros<double>({std::size_t(0), std::size_t(8)});
        REQUIRE_THROWS_AS(capstone::causal_gqa(none, k, v, 4, 2),
                          std::invalid_argument);
    }
}

// ------------------------------------------------------------------ C.3
TEST_CASE("Exercise C.3: attention_layer, projections, rotary heads, "
          "causal grouped-query attention, output projection",
          "[grade][ex_C_3]")
{
    using namespace capstone_grade;
    SECTION("one token attends only to itself: x w_v w_o + b_o")
    {
        // One key: its weight is 1 whatever the scores and rotations, so
        // each query head's output is its group's value, and the layer
        // gives (x w_v repeated per head) w_o + b_o. With G = H no repeat.
        const capstone::layer_weights w = random_layer(6, 2, 2, 2, 41);
        const matrix x = random_matrix(1, 6, 42);
        const matrix expected =
            xt::linalg::dot(xt::linalg::dot(x, w.w_v), w.w_o) + w.b_o;
        const matrix got = capstone::attention_layer(x, w, 2, 2, 4);
        INFO(kit::show("x", x));
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(close(got + w.b_o, expected),
                          "b_o is missing"));
        REQUIRE_THAT(got, IsCloseTo(expected, 1e-10, 1e-10));
    }
    SECTION("against the library's layer, several sizes and offsets")
    {
        struct cfg {
            std::size_t d_model, heads, groups, d, n, p0;
        };
        std::uint64_t seed = 200;
        for (const cfg c : {cfg{8, 4, 2, 2, 6, 0}, cfg{8, 2, 2, 4, 5, 3},
                            cfg{12, 6, 1, 2, 7, 0}, cfg{6, 3, 3, 2, 4, 11}}) {
            const capstone::layer_weights w =
                random_layer(c.d_model, c.heads, c.groups, c.d, ++seed);
            const matrix x = random_matrix(c.n, c.d_model, ++seed);
            const matrix expected =
                library_layer(x, w, c.heads, c.groups, c.p0);
            const matrix got =
                capstone::attention_layer(x, w, c.heads, c.groups, c.p0);
            CAPTURE(c.d_model, c.heads, c.groups, c.d, c.n, c.p0);
            INFO(kit::side_by_side(expected, got));
            INFO(kit::hint_if(
                looks_like(got,
                           library_layer(x, w, c.heads, c.groups, c.p0, false),
                           expected),
                "no rotation: rotate every head's queries and keys (C.1)"));
            INFO(kit::hint_if(
                looks_like(got,
                           layer_variant(x, w, c.heads, c.groups, c.p0, true,
                                         false),
                           expected),
                "you rotated q and k over their whole width at once: rotate "
                "each head's block of d columns on its own, at width d"));
            INFO(kit::hint_if(
                looks_like(got,
                           layer_variant(x, w, c.heads, c.groups, c.p0, false,
                                         true),
                           expected),
                "the values were rotated too: only queries and keys turn"));
            INFO(kit::hint_if(
                looks_like(got,
                           library_layer(x, w, c.heads, c.groups, c.p0, true,
                                         false),
                           expected),
                "no causal mask: a token saw the tokens after it"));
            INFO(kit::hint_if(close(got + w.b_o, expected), "b_o is missing"));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-9, 1e-9));
        }
    }
    SECTION("bad shapes are refused")
    {
        const capstone::layer_weights w = random_layer(8, 4, 2, 2, 7);
        const matrix x = random_matrix(3, 8, 8);
        REQUIRE_THROWS_AS(
            capstone::attention_layer(
                xt::zeros<double>({std::size_t(0), std::size_t(8)}), w, 4, 2),
            std::invalid_argument);
        REQUIRE_THROWS_AS(capstone::attention_layer(random_matrix(3, 6, 9), w,
                                                    4, 2),
                          std::invalid_argument);  // d_model 6, W_q has 8
        REQUIRE_THROWS_AS(capstone::attention_layer(x, w, 4, 4),
                          std::invalid_argument);  // W_k is not (8, G d)
        const capstone::layer_weights odd = random_layer(6, 2, 1, 3, 10);
        REQUIRE_THROWS_AS(capstone::attention_layer(random_matrix(2, 6, 11),
                                                    odd, 2, 1),
                          std::invalid_argument);  // d = 3 cannot rotate
    }
}

// ------------------------------------------------------------------ C.4
TEST_CASE("Exercise C.4: model_forward, the full causal pass of the "
          "model", "[grade][ex_C_4]")
{
    using namespace capstone_grade;
    SECTION("no layers: the logits are W_E[t_i] W_U, by literal loops")
    {
        capstone::model m = random_model({5, 4, 2, 1, 2, 0}, 51);
        const tokens_t t = {3, 0, 3};
        matrix expected = xt::zeros<double>({std::size_t(3), std::size_t(5)});
        for (std::size_t i = 0; i < 3; ++i) {
            for (std::size_t c = 0; c < 5; ++c) {
                for (std::size_t j = 0; j < 4; ++j) {
                    expected(i, c) += m.w_e(t[i], j) * m.w_u(j, c);
                }
            }
        }
        const matrix got = capstone::model_forward(m, t);
        INFO(show_tokens("tokens", t));
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(kit::is_transpose_of(got, expected),
                          "your logits are transposed: one row per token"));
        REQUIRE_THAT(got, IsCloseTo(expected, 1e-12, 1e-12));
    }
    SECTION("against the library's model, several sizes and seeds")
    {
        std::uint64_t seed = 300;
        for (const sizes s : {sizes{11, 8, 4, 2, 2, 2}, sizes{7, 6, 3, 1, 2, 1},
                              sizes{13, 8, 2, 2, 4, 3}}) {
            const capstone::model m = random_model(s, ++seed);
            const tokens_t t = random_tokens(9, s.vocab, ++seed);
            const matrix expected = library_forward(m, t);
            const matrix got = capstone::model_forward(m, t);
            CAPTURE(s.vocab, s.d_model, s.heads, s.groups, s.d, s.layers);
            INFO(show_tokens("tokens", t));
            INFO(kit::side_by_side(expected, got));
            INFO(kit::hint_if(looks_like(got, library_forward(m, t, false),
                                         expected),
                              "no residual stream: x^(l+1) = x^(l) + "
                              "layer_l(x^(l)), not layer_l(x^(l))"));
            INFO(kit::hint_if(looks_like(got,
                                         library_forward(m, t, true, false),
                                         expected),
                              "no causal mask: a token saw the tokens after "
                              "it"));
            INFO(kit::hint_if(close(got, attn::softmax_rows(expected)),
                              "these are probabilities: return the logits, "
                              "before any softmax"));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-9, 1e-9));
        }
    }
    SECTION("bad tokens and weights are refused")
    {
        const capstone::model m = random_model({5, 4, 2, 1, 2, 1}, 61);
        REQUIRE_THROWS_AS(capstone::model_forward(m, {}),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(capstone::model_forward(m, {1, 5}),
                          std::invalid_argument);  // 5 is not below V = 5
        capstone::model bad = m;
        bad.w_u = random_matrix(3, 5, 62);         // W_U must be (4, V)
        REQUIRE_THROWS_AS(capstone::model_forward(bad, {1, 2}),
                          std::invalid_argument);
    }
}

// ------------------------------------------------------------------ C.5
TEST_CASE("Exercise C.5: attention_step, one layer with a key-value "
          "cache", "[grade][ex_C_5]")
{
    using namespace capstone_grade;
    const std::size_t d_model = 8, heads = 4, groups = 2, d = 2, n = 7;
    const capstone::layer_weights w =
        random_layer(d_model, heads, groups, d, 71);
    const matrix x = random_matrix(n, d_model, 72);
    const matrix full = library_layer(x, w, heads, groups);  // (n, d_model)
    INFO(kit::show("x", x));
    SECTION("token by token: each step is a row of the full causal pass, "
            "and the cache holds the rotated keys of G heads")
    {
        capstone::layer_cache cache;
        for (std::size_t t = 0; t < n; ++t) {
            CAPTURE(t);
            const matrix got =
                capstone::attention_step(cache, rows(x, t, t + 1), w, heads,
                                         groups);
            const matrix expected = rows(full, t, t + 1);
            INFO(kit::side_by_side(expected, got));
            // A query rotated one position after (or before) its own key.
            matrix q = xt::linalg::dot(rows(x, 0, t + 1), w.w_q);
            matrix k = xt::linalg::dot(rows(x, 0, t + 1), w.w_k);
            const matrix v = xt::linalg::dot(rows(x, 0, t + 1), w.w_v);
            attn::rope_heads_in_place(k, d, 0);
            matrix q_late = rows(q, t, t + 1);
            attn::rope_heads_in_place(q_late, d, t + 1);
            const matrix late =
                xt::linalg::dot(library_gqa(q_late, k, v, heads, groups), w.w_o)
                + w.b_o;
            INFO(kit::hint_if(
                looks_like(got, late, expected),
                "position p of the cached token is off by one: the query "
                "was rotated at t + 1, its key at t (read cache.length "
                "before you append)"));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-9, 1e-9));
            REQUIRE(cache.length == t + 1);
        }
        INFO(kit::hint_if(cache.k.size() == n * heads * d,
                          "your cache holds H heads of keys; grouped-query "
                          "attention keeps only the G key-value heads"));
        REQUIRE(cache.k.size() == n * groups * d);
        REQUIRE(cache.v.size() == n * groups * d);
        matrix k_expected = xt::linalg::dot(x, w.w_k);       // (n, G d)
        attn::rope_heads_in_place(k_expected, d, 0);
        const matrix v_expected = xt::linalg::dot(x, w.w_v);
        const matrix k_got = cache_matrix(cache.k, n, groups * d);
        matrix k_shifted = xt::linalg::dot(x, w.w_k);
        attn::rope_heads_in_place(k_shifted, d, 1);
        INFO("the cached keys:");
        INFO(kit::side_by_side(k_expected, k_got));
        INFO(kit::hint_if(
            close(k_got, k_shifted),
            "position p of the cached token is off by one: the keys are "
            "rotated at t + 1; the first token is at position 0 (outputs "
            "agree because RoPE is relative, but the positions are wrong)"));
        INFO(kit::hint_if(close(k_got, xt::linalg::dot(x, w.w_k)),
                          "the cached keys are not rotated: cache them "
                          "rotated, so that no step turns them again"));
        REQUIRE_THAT(k_got, IsCloseTo(k_expected, 1e-9, 1e-9));
        REQUIRE_THAT(cache_matrix(cache.v, n, groups * d),
                     IsCloseTo(v_expected, 1e-9, 1e-9));
    }
    SECTION("chunks of several tokens: the new tokens see each other "
            "causally")
    {
        capstone::layer_cache cache;
        std::size_t t = 0;
        for (std::size_t chunk : {3u, 1u, 2u, 1u}) {
            CAPTURE(t, chunk);
            const matrix got = capstone::attention_step(
                cache, rows(x, t, t + chunk), w, heads, groups);
            const matrix expected = rows(full, t, t + chunk);
            INFO(kit::side_by_side(expected, got));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-9, 1e-9));
            t += chunk;
            REQUIRE(cache.length == t);
        }
    }
    SECTION("bad inputs are refused and leave the cache unchanged")
    {
        capstone::layer_cache cache;
        const matrix first =
            capstone::attention_step(cache, rows(x, 0, 2), w, heads, groups);
        REQUIRE_THAT(first, IsCloseTo(rows(full, 0, 2), 1e-9, 1e-9));
        const capstone::layer_cache before = cache;
        REQUIRE_THROWS_AS(
            capstone::attention_step(
                cache, xt::zeros<double>({std::size_t(0), d_model}), w, heads,
                groups),
            std::invalid_argument);
        REQUIRE_THROWS_AS(capstone::attention_step(cache,
                                                   random_matrix(1, 6, 73), w,
                                                   heads, groups),
                          std::invalid_argument);  // d_model 6, not 8
        REQUIRE(cache.length == before.length);
        REQUIRE(cache.k == before.k);
        REQUIRE(cache.v == before.v);
        capstone::layer_cache broken;
        broken.length = 2;  // says 2 tokens, holds none
        REQUIRE_THROWS_AS(capstone::attention_step(broken, rows(x, 0, 1), w,
                                                   heads, groups),
                          std::invalid_argument);
    }
}

// ------------------------------------------------------------------ C.6
TEST_CASE("Exercise C.6: decode_step and generate_cached, greedy "
          "generation with the cache", "[grade][ex_C_6]")
{
    using namespace capstone_grade;
    const capstone::model m = random_model({13, 8, 4, 2, 2, 2}, 81);
    SECTION("decode_step in chunks gives the rows of the full pass")
    {
        const tokens_t t = random_tokens(8, 13, 82);
        const matrix full = library_forward(m, t);
        std::vector<capstone::layer_cache> caches;
        std::size_t at = 0;
        for (std::size_t chunk : {2u, 1u, 1u, 3u, 1u}) {
            CAPTURE(at, chunk);
            const tokens_t part(t.begin() + long(at),
                                t.begin() + long(at + chunk));
            const matrix got = capstone::decode_step(m, caches, part);
            const matrix expected = rows(full, at, at + chunk);
            INFO(show_tokens("tokens", t));
            INFO(kit::side_by_side(expected, got));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-9, 1e-9));
            at += chunk;
            REQUIRE(caches.size() == m.layers.size());
            for (const auto& c : caches) {
                REQUIRE(c.length == at);
            }
        }
    }
    SECTION("generate_cached: the library's greedy tokens, and its logits")
    {
        const tokens_t prompt = {4, 9, 1};
        const std::size_t n_new = 6;
        const tokens_t expected_tokens = library_generate(m, prompt, n_new);
        const matrix expected = library_forward(m, expected_tokens);
        const capstone::generation g =
            capstone::generate_cached(m, prompt, n_new);
        INFO(show_tokens("prompt", prompt));
        INFO(show_tokens("expected tokens", expected_tokens));
        INFO(show_tokens("your tokens    ", g.tokens));
        REQUIRE(g.tokens == expected_tokens);
        INFO(kit::side_by_side(expected, g.logits));
        bool prompt_rows_right = g.logits.shape() == expected.shape()
            && close(rows(g.logits, 0, prompt.size()),
                     rows(expected, 0, prompt.size()));
        INFO(kit::hint_if(prompt_rows_right && !close(g.logits, expected),
                          "the prompt's rows are right and the later ones "
                          "are not: each generated token enters the caches "
                          "at position t = the cache's length"));
        REQUIRE_THAT(g.logits, IsCloseTo(expected, 1e-9, 1e-9));
    }
    SECTION("n_new = 0 returns the prompt and its logits")
    {
        const tokens_t prompt = {2, 2, 7, 0};
        const capstone::generation g = capstone::generate_cached(m, prompt, 0);
        REQUIRE(g.tokens == prompt);
        REQUIRE_THAT(g.logits, IsCloseTo(library_forward(m, prompt), 1e-9,
                                         1e-9));
    }
    SECTION("bad prompts and caches are refused")
    {
        REQUIRE_THROWS_AS(capstone::generate_cached(m, {}, 3),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(capstone::generate_cached(m, {1, 13}, 3),
                          std::invalid_argument);  // 13 is not below V
        std::vector<capstone::layer_cache> three(3);  // the model has 2
        REQUIRE_THROWS_AS(capstone::decode_step(m, three, {1}),
                          std::invalid_argument);
        std::vector<capstone::layer_cache> fresh;
        REQUIRE_THROWS_AS(capstone::decode_step(m, fresh, {}),
                          std::invalid_argument);
    }
}

// ---------------------------------------------------------- C.7 (whole)
TEST_CASE("Exercise C.7: the whole model, its cached generation against "
          "its full pass, and its full pass against the library",
          "[grade][ex_C_7]")
{
    using namespace capstone_grade;
    // Five seeds, each its own sizes, weights, prompt and length.
    const sizes all[] = {{16, 8, 4, 2, 2, 2}, {10, 12, 6, 3, 2, 3},
                         {20, 8, 2, 1, 4, 2}, {9, 6, 3, 3, 2, 1},
                         {16, 16, 8, 2, 2, 2}};
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        const sizes s = all[seed - 1];
        CAPTURE(seed, s.vocab, s.d_model, s.heads, s.groups, s.d, s.layers);
        const capstone::model m = random_model(s, 1000 + seed);
        attn::rng r(2000 + seed);
        const tokens_t prompt = random_tokens(1 + r.below(4), s.vocab,
                                              3000 + seed);
        const std::size_t n_new = 5 + r.below(4);
        INFO(show_tokens("prompt", prompt));
        INFO("n_new = " << n_new);

        // (b) The full pass against the library, on tokens the grader draws.
        const tokens_t drawn = random_tokens(10, s.vocab, 4000 + seed);
        const matrix lib = library_forward(m, drawn);
        const matrix own = capstone::model_forward(m, drawn);
        const bool b_holds = close(own, lib);

        // (a) Cached generation against the model's own full pass.
        const capstone::generation g =
            capstone::generate_cached(m, prompt, n_new);
        INFO(show_tokens("your tokens", g.tokens));
        REQUIRE(g.tokens.size() == prompt.size() + n_new);
        REQUIRE(std::equal(prompt.begin(), prompt.end(), g.tokens.begin()));
        const matrix own_full = capstone::model_forward(m, g.tokens);
        const bool a_holds = close(g.logits, own_full);
        INFO(kit::hint_if(
            a_holds && !b_holds,
            "(a) holds and (b) does not: your cache agrees with your full "
            "pass, so the mistake is in a part both use (C.1 to C.4)"));
        INFO(kit::hint_if(
            b_holds && !a_holds,
            "(b) holds and (a) does not: your full pass is right and your "
            "cached pass is not (C.5, C.6)"));
        INFO("(a) cached logits against your model_forward on the same "
             "tokens");
        INFO(kit::side_by_side(own_full, g.logits));
        REQUIRE_THAT(g.logits, IsCloseTo(own_full, 1e-9, 1e-9));
        for (std::size_t i = prompt.size(); i < g.tokens.size(); ++i) {
            CAPTURE(i);
            INFO("token i is the largest logit of row i - 1");
            REQUIRE(g.tokens[i] == argmax_row(g.logits, i - 1));
        }
        INFO("(b) your model_forward against the library's");
        INFO(show_tokens("drawn tokens", drawn));
        INFO(kit::side_by_side(lib, own));
        REQUIRE_THAT(own, IsCloseTo(lib, 1e-9, 1e-9));
        REQUIRE(g.tokens == library_generate(m, prompt, n_new));
    }
}

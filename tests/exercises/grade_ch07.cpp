// Grader of the coding exercises of chapter 7. It is compiled twice: with
// the student's files (code/exercises) and with the reference solutions
// (tests/solutions). Each TEST_CASE grades one exercise, tagged [ex_7_N].
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor/xview.hpp>

#include "attention/decoder_model.hpp"
#include "attention/induction_task.hpp"
#include "attention/layer_credit.hpp"
#include "ch07_layers.hpp"
#include "kit.hpp"
#include "test_helpers.hpp"

using book_test::IsCloseTo;
using book_test::central_differences;
using book_test::random_matrix;

namespace {

// Every layer's weights of a random two-layer model, three heads, on a
// sequence of n = 8 tokens: rows that sum to 1 under the causal mask.
std::vector<attn::tensor3> random_weights(std::uint64_t seed)
{
    const attn::decoder_sizes s{5, 8, 6, 3, 2};
    const auto m = attn::init_decoder_model(s, seed);
    attn::rng g(seed + 7);
    std::vector<std::size_t> tokens;
    for (std::size_t i = 0; i < 8; ++i) {
        tokens.push_back(g.below(5));
    }
    const auto f = attn::decoder_model_forward(
        s, m, tokens, std::vector<int>(8, -1));
    return {f.layer[0].a, f.layer[1].a};
}

}  // namespace

TEST_CASE("Exercise 7.6: embedding_backward", "[grade][ex_7_6]")
{
    SECTION("hand-worked: tokens (1, 0, 1), n_max = 4")
    {
        // Token 1 sits at positions 0 and 2: its row of dL/dW_E is the sum
        // of rows 0 and 2, (1 + 5, 2 + 6) = (6, 8); token 0 gets row 1,
        // token 2 nothing. dL/dW_P copies the three rows; row 3 stays 0.
        const attn::matrix g = {{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}};
        const auto r = exercise::embedding_backward({1, 0, 1}, g, 3, 4);
        REQUIRE_THAT(r.dL_dw_e, IsCloseTo(attn::matrix{{3.0, 4.0},
                                                       {6.0, 8.0},
                                                       {0.0, 0.0}}));
        REQUIRE_THAT(r.dL_dw_p, IsCloseTo(attn::matrix{{1.0, 2.0},
                                                       {3.0, 4.0},
                                                       {5.0, 6.0},
                                                       {0.0, 0.0}}));
    }
    SECTION("equals central differences of L = sum(G * X^(0))")
    {
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            CAPTURE(seed);
            const std::size_t vocab = 4, n_max = 7, n = 6, d = 3;
            attn::rng r(seed);
            std::vector<std::size_t> t;
            for (std::size_t i = 0; i < n; ++i) {
                t.push_back(r.below(vocab));
            }
            const attn::matrix g = random_matrix(n, d, seed + 1);
            const attn::matrix w_e = random_matrix(vocab, d, seed + 2);
            const attn::matrix w_p = random_matrix(n_max, d, seed + 3);
            // X^(0)_i = W_E[t_i] + W_P[i], Eq. (7.2), by loops.
            const auto loss = [&](const attn::matrix& e,
                                  const attn::matrix& p) {
                double sum = 0.0;
                for (std::size_t i = 0; i < n; ++i) {
                    for (std::size_t c = 0; c < d; ++c) {
                        sum += g(i, c) * (e(t[i], c) + p(i, c));
                    }
                }
                return sum;
            };
            using f_of = std::function<double(const attn::matrix&)>;
            const f_of by_e = [&](const attn::matrix& e) {
                return loss(e, w_p);
            };
            const f_of by_p = [&](const attn::matrix& p) {
                return loss(w_e, p);
            };
            const auto got = exercise::embedding_backward(t, g, vocab, n_max);
            REQUIRE_THAT(got.dL_dw_e,
                         IsCloseTo(central_differences(w_e, by_e, 1e-6),
                                   1e-7, 1e-9));
            REQUIRE_THAT(got.dL_dw_p,
                         IsCloseTo(central_differences(w_p, by_p, 1e-6),
                                   1e-7, 1e-9));
        }
    }
    SECTION("refuses a token out of range and too many tokens")
    {
        const attn::matrix g = xt::zeros<double>({3, 2});
        REQUIRE_THROWS_AS(exercise::embedding_backward({0, 3, 1}, g, 3, 4),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::embedding_backward({0, 1, 1}, g, 3, 2),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::embedding_backward({0, 1}, g, 3, 4),
                          std::invalid_argument);
    }
}

TEST_CASE("Exercise 7.7: rollout", "[grade][ex_7_7]")
{
    SECTION("hand-worked: one head, two tokens")
    {
        // A = [[1, 0], [1/2, 1/2]]: A-hat = A/2 + I/2 = [[1, 0], [1/4, 3/4]].
        // Two such layers: A-hat^2 = [[1, 0], [1/4 + 3/16, 9/16]]
        //                          = [[1, 0], [7/16, 9/16]].
        attn::tensor3 a = xt::zeros<double>({1, 2, 2});
        a(0, 0, 0) = 1.0;
        a(0, 1, 0) = 0.5;
        a(0, 1, 1) = 0.5;
        INFO("one layer, one head: "
             << kit::show("A", attn::matrix{{1.0, 0.0}, {0.5, 0.5}}));
        REQUIRE_THAT(exercise::rollout({a}),
                     IsCloseTo(attn::matrix{{1.0, 0.0}, {0.25, 0.75}}));
        REQUIRE_THAT(exercise::rollout({a, a}),
                     IsCloseTo(attn::matrix{{1.0, 0.0},
                                            {7.0 / 16.0, 9.0 / 16.0}}));
    }
    SECTION("the last layer on the left: three tokens, two layers")
    {
        // Layer 0 uniform, layer 1 looks one back (row 0 on itself):
        //   A-hat_0 = [[1, 0, 0], [1/4, 3/4, 0], [1/6, 1/6, 2/3]],
        //   A-hat_1 = [[1, 0, 0], [1/2, 1/2, 0], [0, 1/2, 1/2]].
        // Row 1 of A-hat_1 A-hat_0: (1/2 + 1/8, 3/8, 0) = (5/8, 3/8, 0);
        // row 2: (1/8 + 1/12, 3/8 + 1/12, 1/3) = (5/24, 11/24, 8/24).
        // The other order would give row 2 = (6/24, 10/24, 8/24).
        attn::tensor3 uniform = xt::zeros<double>({1, 3, 3});
        attn::tensor3 look = xt::zeros<double>({1, 3, 3});
        for (std::size_t i = 0; i < 3; ++i) {
            for (std::size_t j = 0; j <= i; ++j) {
                uniform(0, i, j) = 1.0 / double(i + 1);
            }
            look(0, i, i == 0 ? 0 : i - 1) = 1.0;
        }
        INFO("layer 0 uniform, layer 1 looks one back; "
             "the other order gives row 2 = (6/24, 10/24, 8/24)");
        REQUIRE_THAT(exercise::rollout({uniform, look}),
                     IsCloseTo(attn::matrix{{1.0, 0.0, 0.0},
                                            {0.625, 0.375, 0.0},
                                            {5.0 / 24, 11.0 / 24, 8.0 / 24}}));
    }
    SECTION("equals attn::attention_rollout on random models")
    {
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            CAPTURE(seed);
            const auto a = random_weights(seed);
            REQUIRE_THAT(exercise::rollout(a),
                         IsCloseTo(attn::attention_rollout(a)));
            const std::vector<attn::tensor3> swapped{a[1], a[0]};
            REQUIRE_THAT(exercise::rollout(swapped),
                         IsCloseTo(attn::attention_rollout(swapped)));
        }
    }
    SECTION("refuses no layers")
    {
        REQUIRE_THROWS_AS(exercise::rollout({}), std::invalid_argument);
    }
}

TEST_CASE("Exercise 7.8: induction_score", "[grade][ex_7_8]")
{
    SECTION("hand-worked")
    {
        // n = 6, r = 3: repeated positions i = 3, 4; their keys
        // i - r + 1 = 1, 2. Weights 0.5 and 0.25 there: score 0.375.
        attn::matrix a = xt::zeros<double>({6, 6});
        a(3, 1) = 0.5;
        a(3, 0) = 0.5;
        a(4, 2) = 0.25;
        a(4, 4) = 0.75;
        a(5, 3) = 1.0;  // the last position has no target: not counted
        REQUIRE(exercise::induction_score(a, 3) == Approx(0.375));
    }
    SECTION("equals attn::induction_scores head by head")
    {
        attn::induction_task task;
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            CAPTURE(seed);
            const auto e = attn::make_induction_example(task, seed);
            const attn::decoder_sizes s{16, 16, 8, 2, 1};
            const auto m = attn::init_decoder_model(s, seed);
            const auto f = attn::decoder_model_forward(s, m, e.tokens,
                                                       e.target);
            const auto want = attn::induction_scores(f.layer[0].a, e);
            for (std::size_t h = 0; h < 2; ++h) {
                const attn::matrix a_h =
                    xt::view(f.layer[0].a, h, xt::all(), xt::all());
                REQUIRE(exercise::induction_score(a_h, e.r)
                        == Approx(want(h)).epsilon(1e-12));
            }
        }
    }
    SECTION("refuses r < 2, r > n / 2 and weights that are not square")
    {
        const attn::matrix a = xt::zeros<double>({6, 6});
        REQUIRE_THROWS_AS(exercise::induction_score(a, 1),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::induction_score(a, 4),
                          std::invalid_argument);
        const attn::matrix b = xt::zeros<double>({6, 5});
        REQUIRE_THROWS_AS(exercise::induction_score(b, 2),
                          std::invalid_argument);
    }
}

// What a grader shows a student (tests/exercises/kit.hpp), for the test
// cases below; included here so that the file above stays as it was.
#include <cstdint>
#include <string>

#include <xtensor-blas/xlinalg.hpp>

#include "attention/masking.hpp"
#include "attention/multi_head.hpp"
#include "kit.hpp"

// Exercise 7.7's edge cases, stated in its starter: layers that do not
// have the first layer's shape (H, n, n).
TEST_CASE("Exercise 7.7 (edge cases): rollout refuses layers of "
          "different shapes", "[grade][ex_7_7]")
{
    const attn::tensor3 a = xt::ones<double>({2, 3, 3}) / 3.0;
    {
        INFO("layer 1 has 4 tokens, layer 0 has 3");
        REQUIRE_THROWS_AS(exercise::rollout({a, xt::ones<double>({2, 4, 4})}),
                          std::invalid_argument);
    }
    {
        INFO("layer 1 has 3 heads, layer 0 has 2");
        REQUIRE_THROWS_AS(exercise::rollout({a, xt::ones<double>({3, 3, 3})}),
                          std::invalid_argument);
    }
    {
        INFO("weights (2, 3, 4) are not square");
        REQUIRE_THROWS_AS(exercise::rollout({xt::ones<double>({2, 3, 4})}),
                          std::invalid_argument);
    }
    {
        INFO("a layer with no heads");
        REQUIRE_THROWS_AS(exercise::rollout({xt::ones<double>({0, 3, 3})}),
                          std::invalid_argument);
    }
}

TEST_CASE("Exercise 7.9: find the bug in decoder_logits", "[grade][ex_7_9]")
{
    // The two ways of getting the residual stream wrong that the grader
    // recognises: each layer added to X^(0) instead of to the stream it
    // read, and no residual at all (the stream replaced by the output).
    const auto wrong_streams = [](const std::vector<std::size_t>& t,
                                  const attn::decoder_model& m,
                                  std::size_t heads) {
        const std::size_t n = t.size();
        attn::matrix x0 = xt::view(m.w_p, xt::range(0, n), xt::all());
        for (std::size_t i = 0; i < n; ++i) {
            xt::row(x0, i) += xt::row(m.w_e, t[i]);
        }
        const attn::mask_matrix mask = attn::causal_mask(n, n);
        attn::matrix to_x0 = x0, replaced = x0;
        for (const auto& layer : m.layers) {
            to_x0 = x0 + attn::multi_head_attention(to_x0, to_x0, layer,
                                                    heads, mask).y;
            replaced = attn::multi_head_attention(replaced, replaced, layer,
                                                  heads, mask).y;
        }
        return std::vector<attn::matrix>{xt::linalg::dot(to_x0, m.w_u),
                                         xt::linalg::dot(replaced, m.w_u)};
    };
    const auto close = [](const attn::matrix& a, const attn::matrix& b) {
        return a.shape() == b.shape() && xt::allclose(a, b, 1e-9, 1e-12);
    };
    const std::string to_x0_hint =
        "each layer's output is added to X^(0), so only the last layer's "
        "output reaches the logits: Eq. (7.3) adds it to the stream the "
        "layer read, X^(l+1) = X^(l) + Y^l";
    const std::string replaced_hint =
        "the stream is replaced by the layer's output: Eq. (7.3) adds it, "
        "X^(l+1) = X^(l) + Y^l";
    SECTION("hand-worked: d = 1, one head that averages, two layers")
    {
        // W_q = W_k = 0: every score is 0, so each query averages the
        // values it may see; W_v = W_o = 1, b_o = 0: Y_i = mean_{j<=i} X_j.
        // Tokens (0, 1), W_E = (1, 3), W_P = 0: X^(0) = (1, 3).
        // Layer 0: Y = (1, 2), X^(1) = (2, 5).
        // Layer 1: Y = (2, 3.5), X^(2) = (4, 8.5).
        // W_U = (1, -1): logits ((4, -4), (8.5, -8.5)).
        const attn::multi_head_weights avg{{{0.0}}, {{0.0}}, {{1.0}},
                                           {{1.0}}, {0.0}};
        const attn::decoder_model m{{{1.0}, {3.0}}, {{0.0}, {0.0}},
                                    {avg, avg}, {{1.0, -1.0}}};
        const attn::matrix expected = {{4.0, -4.0}, {8.5, -8.5}};
        const attn::matrix got = exercise::decoder_logits({0, 1}, m, 1);
        const auto wrong = wrong_streams({0, 1}, m, 1);
        INFO(kit::side_by_side(expected, got));
        INFO(kit::hint_if(close(got, wrong[0]), to_x0_hint));
        INFO(kit::hint_if(close(got, wrong[1]), replaced_hint));
        REQUIRE_THAT(got, IsCloseTo(expected, 1e-12));
    }
    SECTION("equals the library's decoder on random models of 2 and 3 "
            "layers")
    {
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            CAPTURE(seed);
            const attn::decoder_sizes s{5, 8, 6, 3, 1 + seed % 2 + 1};
            const auto m = attn::init_decoder_model(s, seed);
            attn::rng r(seed + 40);
            std::vector<std::size_t> t;
            for (std::size_t i = 0; i < 7; ++i) {
                t.push_back(r.below(s.vocab));
            }
            const attn::matrix expected = attn::decoder_model_forward(
                s, m, t, std::vector<int>(t.size(), -1)).logits;
            const attn::matrix got =
                exercise::decoder_logits(t, m, s.heads);
            const auto wrong = wrong_streams(t, m, s.heads);
            INFO("layers: " << s.layers);
            INFO(kit::side_by_side(expected, got));
            INFO(kit::hint_if(close(got, wrong[0]), to_x0_hint));
            INFO(kit::hint_if(close(got, wrong[1]), replaced_hint));
            REQUIRE_THAT(got, IsCloseTo(expected, 1e-10, 1e-12));
        }
    }
    SECTION("refuses no tokens, more than n_max, and a token >= vocab")
    {
        const attn::decoder_sizes s{5, 4, 6, 3, 2};
        const auto m = attn::init_decoder_model(s, 1);
        REQUIRE_THROWS_AS(exercise::decoder_logits({}, m, 3),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::decoder_logits({0, 1, 2, 3, 4}, m, 3),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(exercise::decoder_logits({0, 5}, m, 3),
                          std::invalid_argument);
    }
}

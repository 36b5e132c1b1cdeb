// Tests of chapter 7: the repeat task, the head scores, the decoder
// model's forward pass (embedding, residual stream, unembedding,
// cross-entropy), every gradient of its backward pass against central
// differences, training with Adam, and the ways of crediting heads and
// tokens (a head's write and its direct logit attribution, attention
// rollout, path ablation, occlusion).
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>

#include "attention/decoder_model.hpp"
#include "attention/decoder_training.hpp"
#include "attention/induction_task.hpp"
#include "attention/layer_credit.hpp"
#include "attention/masking.hpp"
#include "attention/multi_head.hpp"
#include "test_helpers.hpp"

using attn::matrix;
using attn::vector;
using book_test::central_differences;
using book_test::fd_atol;
using book_test::fd_part;
using book_test::fd_rtol;
using book_test::IsCloseTo;
using book_test::random_matrix;
using book_test::random_vector;

namespace {

// A small two-layer model: |V| = 5, n_max = 7, d = 4, H = 2, D = 2.
const attn::decoder_sizes tiny{5, 7, 4, 2, 2};

// A random model of the tiny sizes whose biases b_o are not zero either.
attn::decoder_model random_decoder(std::uint64_t seed)
{
    auto m = attn::init_decoder_model(tiny, seed);
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        m.layers[l].b_o = random_vector(tiny.d_model, seed + 100 + l, 0.3);
    }
    return m;
}

// A sequence of 6 tokens for a seed, its last target -1 and one more -1
// in the middle (a position without a target must add nothing).
struct token_sequence {
    std::vector<std::size_t> tokens;
    std::vector<int> target;
};

token_sequence random_tokens(std::uint64_t seed)
{
    attn::rng g(seed);
    token_sequence q;
    for (std::size_t i = 0; i < 6; ++i) {
        q.tokens.push_back(g.below(tiny.vocab));
    }
    for (std::size_t i = 0; i < 6; ++i) {
        q.target.push_back(i + 1 < 6 ? int(q.tokens[i + 1]) : -1);
    }
    q.target[2] = -1;
    return q;
}

}  // namespace

// ---------------------------------------------------------- the task
TEST_CASE("Repeat task: the last r tokens copy the r before them, targets "
          "are next tokens", "[ch07][eq_repeat_task]")
{
    const attn::induction_task task{7, 20, 3, 10};
    for (std::uint64_t seed = 1; seed <= 50; ++seed) {
        CAPTURE(seed);
        const auto e = attn::make_induction_example(task, seed);
        REQUIRE(e.tokens.size() == 20);
        REQUIRE(e.target.size() == 20);
        REQUIRE(e.r >= 3);
        REQUIRE(e.r <= 10);
        for (std::size_t i = 0; i < 20; ++i) {
            REQUIRE(e.tokens[i] < 7);
            if (i >= 20 - e.r) {
                REQUIRE(e.tokens[i] == e.tokens[i - e.r]);
            }
            REQUIRE(e.target[i] == (i < 19 ? int(e.tokens[i + 1]) : -1));
            // Repeated: n - r <= i <= n - 2, where token and target copy.
            REQUIRE(e.repeated(i) == (i >= 20 - e.r && i <= 18));
            // Fresh: i <= n - r - 2; the boundary n - r - 1 is neither.
            REQUIRE(e.fresh(i) == (i + 2 + e.r <= 20));
            REQUIRE((e.fresh(i) && e.repeated(i)) == false);
            if (i == 19 - e.r) {
                REQUIRE_FALSE(e.fresh(i));
                REQUIRE_FALSE(e.repeated(i));
            }
        }
        // The same seed gives the same sequence.
        REQUIRE(attn::make_induction_example(task, seed).tokens == e.tokens);
    }
}

TEST_CASE("Repeat task: r takes every value from r_min to r_max, tokens are "
          "roughly uniform", "[ch07][eq_repeat_task]")
{
    const attn::induction_task task{4, 16, 2, 8};
    std::vector<std::size_t> seen_r(9, 0), count(4, 0);
    std::size_t fresh = 0;
    for (std::uint64_t seed = 1; seed <= 2000; ++seed) {
        const auto e = attn::make_induction_example(task, seed);
        seen_r[e.r] += 1;
        for (std::size_t i = 0; i + e.r < 16; ++i) {
            count[e.tokens[i]] += 1;
            fresh += 1;
        }
    }
    for (std::size_t r = 2; r <= 8; ++r) {
        CAPTURE(r);
        REQUIRE(seen_r[r] > 0);
    }
    // Each token's share of the random part is 1/4 within 0.02 (the
    // binomial standard deviation is sqrt(0.25 * 0.75 / fresh) < 0.003).
    for (std::size_t t = 0; t < 4; ++t) {
        CAPTURE(t);
        REQUIRE(double(count[t]) / double(fresh)
                == Approx(0.25).margin(0.02));
    }
}

TEST_CASE("Head scores: a previous-token head, an induction head and "
          "a duplicate-token head, hand-built", "[ch07][eq_head_scores]")
{
    // n = 6, r = 3: tokens a b c a b c. Head 0 puts all its weight on
    // i - 1 (and position 0 on itself); head 1 puts all its weight, at the
    // repeated positions i = 3, 4, on i - r + 1 = 1, 2, and elsewhere on 0.
    attn::induction_example e;
    e.tokens = {0, 1, 2, 0, 1, 2};
    e.target = {1, 2, 0, 1, 2, -1};
    e.r = 3;
    attn::tensor3 a = xt::zeros<double>({2, 6, 6});
    a(0, 0, 0) = 1.0;
    for (std::size_t i = 1; i < 6; ++i) {
        a(0, i, i - 1) = 1.0;
        a(1, i, 0) = 1.0;
    }
    a(1, 0, 0) = 1.0;
    a(1, 3, 0) = 0.0;
    a(1, 3, 1) = 1.0;
    a(1, 4, 0) = 0.0;
    a(1, 4, 2) = 1.0;
    // Previous-token, mean over the five rows i = 1..5 of a(h, i, i - 1):
    // head 0 gives 1 in every row; head 1 only in row 1 (its key 0 is
    // i - 1), so 1/5 = 0.2.
    REQUIRE_THAT(attn::previous_token_scores(a, e),
                 IsCloseTo(vector{1.0, 0.2}));
    // Induction over i = 3, 4 (keys 1, 2): head 1 gives 1; head 0 gives
    // a(0, 3, 1) = 0 and a(0, 4, 2) = 0.
    REQUIRE_THAT(attn::induction_scores(a, e), IsCloseTo(vector{0.0, 1.0}));
    // Duplicate-token over i = 3, 4 (keys 0, 1): head 0 gives a(0, 3, 0)
    // = 0 and a(0, 4, 1) = 0; head 1 gives a(1, 3, 0) = 0 (moved to key
    // 1) and a(1, 4, 1) = 0. A third head that looks at i - r gets 1.
    REQUIRE_THAT(attn::duplicate_token_scores(a, e),
                 IsCloseTo(vector{0.0, 0.0}));
    attn::tensor3 dup = xt::zeros<double>({1, 6, 6});
    for (std::size_t i = 0; i < 6; ++i) {
        dup(0, i, i >= 3 ? i - 3 : 0) = 1.0;
    }
    REQUIRE_THAT(attn::duplicate_token_scores(dup, e),
                 IsCloseTo(vector{1.0}));
    // Its previous-token score: rows 1..5 put 1 on key i - 1 only at i = 1.
    REQUIRE_THAT(attn::previous_token_scores(dup, e),
                 IsCloseTo(vector{0.2}));
}

// ------------------------------------------------------ forward pass
TEST_CASE("Decoder: X^(0) = W_E(t) + W_P, each layer adds its attention to "
          "the stream, loss by literal loops",
          "[ch07][eq_decoder_embedding][eq_decoder_residual]"
          "[eq_decoder_loss]")
{
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        const auto m = random_decoder(seed);
        const auto q = random_tokens(seed + 50);
        const auto f = attn::decoder_model_forward(tiny, m, q.tokens,
                                                   q.target);
        REQUIRE(f.x.size() == 3);
        // X^(0) by loops.
        for (std::size_t i = 0; i < 6; ++i) {
            for (std::size_t c = 0; c < 4; ++c) {
                REQUIRE(f.x[0](i, c)
                        == Approx(m.w_e(q.tokens[i], c) + m.w_p(i, c))
                               .epsilon(1e-15));
            }
        }
        // Each layer: chapter 3's layer under the causal mask, added.
        const auto mask = attn::causal_mask(6, 6);
        for (std::size_t l = 0; l < 2; ++l) {
            const auto r = attn::multi_head_attention(f.x[l], f.x[l],
                                                      m.layers[l], 2, mask);
            REQUIRE_THAT(f.x[l + 1], IsCloseTo(f.x[l] + r.y));
        }
        // Loss: mean over the 4 positions with a target of -log softmax.
        double loss = 0.0;
        std::size_t scored = 0;
        for (std::size_t i = 0; i < 6; ++i) {
            if (q.target[i] < 0) {
                continue;
            }
            double z = 0.0, mine = 0.0;
            for (std::size_t v = 0; v < 5; ++v) {
                double logit = 0.0;
                for (std::size_t c = 0; c < 4; ++c) {
                    logit += f.x[2](i, c) * m.w_u(c, v);
                }
                z += std::exp(logit);
                if (int(v) == q.target[i]) {
                    mine = logit;
                }
            }
            loss += std::log(z) - mine;
            scored += 1;
        }
        REQUIRE(scored == 4);
        REQUIRE(f.scored == 4);
        REQUIRE(f.loss == Approx(loss / 4.0).epsilon(1e-12));
    }
}

TEST_CASE("Decoder: causal, a later token changes nothing before it, W_U "
          "= 0 predicts uniformly with loss ln 5",
          "[ch07][eq_decoder_residual][eq_decoder_loss]")
{
    auto m = random_decoder(7);
    auto q = random_tokens(8);
    const auto f = attn::decoder_model_forward(tiny, m, q.tokens, q.target);
    auto changed = q;
    changed.tokens[5] = (q.tokens[5] + 1) % 5;
    const auto g = attn::decoder_model_forward(tiny, m, changed.tokens,
                                               changed.target);
    const auto first5 = [](const matrix& x) {
        return matrix(xt::view(x, xt::range(0, 5), xt::all()));
    };
    REQUIRE_THAT(first5(g.logits), IsCloseTo(first5(f.logits)));
    REQUIRE(book_test::max_abs_diff(g.logits, f.logits) > 1e-6);
    m.w_u = xt::zeros_like(m.w_u);
    REQUIRE(attn::decoder_model_forward(tiny, m, q.tokens, q.target).loss
            == Approx(std::log(5.0)).epsilon(1e-14));
}

// ----------------------------------------------------- backward pass
TEST_CASE("Decoder backward: every gradient (W_E, W_P, each layer, W_U) "
          "matches central differences, D = 2",
          "[ch07][eq_decoder_backward]")
{
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        const auto m = random_decoder(seed);
        const auto q = random_tokens(seed + 10);
        // Seed 3 with gates that are not all one: the path of ablation.
        const std::vector<vector> gates =
            seed == 3 ? std::vector<vector>{{0.5, 1.0}, {1.0, 0.0}}
                      : std::vector<vector>{};
        const auto f = attn::decoder_model_forward(tiny, m, q.tokens,
                                                   q.target, gates);
        const auto g = attn::decoder_model_backward(tiny, m, q.tokens,
                                                    q.target, f, gates);
        const auto loss = [&](const attn::decoder_model& m2) {
            return attn::decoder_model_forward(tiny, m2, q.tokens, q.target,
                                               gates).loss;
        };
        book_test::require_decoder_gradients(g, m, loss);
        // Rows of P beyond the sequence (n = 6 < n_max = 7) get nothing.
        REQUIRE(xt::amax(xt::abs(xt::row(g.dL_dw_p, 6)))() == 0.0);
    }
}

// [ch07-perturbed-test]
TEST_CASE("Decoder backward: the check fails when a gradient is perturbed",
          "[ch07][eq_decoder_backward]")
{
    // The matcher that accepts the backward pass must reject it after one
    // entry moves by 1e-4, or after the residual path is dropped (the
    // gradient that reaches X^(0) only through the layers).
    const auto m = random_decoder(21);
    const auto q = random_tokens(22);
    const auto f = attn::decoder_model_forward(tiny, m, q.tokens, q.target);
    const auto g = attn::decoder_model_backward(tiny, m, q.tokens, q.target,
                                                f);
    const auto loss = [&](const attn::decoder_model& m2) {
        return attn::decoder_model_forward(tiny, m2, q.tokens, q.target).loss;
    };
    const matrix fd = fd_part(m, [](attn::decoder_model& p) -> matrix& {
        return p.w_e;
    }, loss);
    REQUIRE(IsCloseTo(fd, fd_rtol, fd_atol).match(g.dL_dw_e));
    matrix wrong = g.dL_dw_e;
    wrong(q.tokens[0], 1) += 1e-4;
    REQUIRE_FALSE(IsCloseTo(fd, fd_rtol, fd_atol).match(wrong));
    // Without the residual path: dL/dX^(0) from layer 0's inputs only.
    matrix no_residual = xt::zeros_like(g.dL_dw_e);
    for (std::size_t i = 0; i < 6; ++i) {
        xt::row(no_residual, q.tokens[i]) +=
            xt::row(g.layers[0].dL_dx_q, i) + xt::row(g.layers[0].dL_dx_kv, i);
    }
    REQUIRE_FALSE(IsCloseTo(fd, fd_rtol, fd_atol).match(no_residual));
}
// [ch07-perturbed-test]

// ----------------------------------------------------------- training
TEST_CASE("Training: deterministic for a seed, Adam lowers the loss on the "
          "repeat task", "[ch07][eq_adam]")
{
    const attn::induction_task task{6, 8, 2, 4};
    const attn::decoder_sizes s{6, 8, 8, 2, 2};
    attn::decoder_training_options o;
    o.steps = 40;
    o.batch = 4;
    o.report_every = 20;
    o.lr = 0.02;
    std::vector<double> losses;
    const auto run = [&]() {
        losses.clear();
        return attn::train_decoder_model(
            s, task, o,
            [&](const attn::decoder_report& r, const attn::decoder_model&) {
                losses.push_back(0.5 * (r.loss.fresh + r.loss.repeated));
            });
    };
    const auto a = run();
    const auto first = losses;
    const auto b = run();
    REQUIRE(losses == first);
    REQUIRE_THAT(a.w_e, IsCloseTo(b.w_e, 0.0, 0.0));
    REQUIRE_THAT(a.layers[1].w_k, IsCloseTo(b.layers[1].w_k, 0.0, 0.0));
    // Held-out loss after 40 steps below the untrained model's.
    std::vector<attn::induction_example> test;
    for (std::size_t k = 0; k < 50; ++k) {
        test.push_back(attn::repeat_example(task, 1, 1, k));
    }
    const auto before = attn::evaluate_repeat_losses(
        s, attn::init_decoder_model(s, o.seed), test);
    const auto after = attn::evaluate_repeat_losses(s, a, test);
    REQUIRE(after.fresh + after.repeated < before.fresh + before.repeated);
}

// ------------------------------------------------------------- errors
TEST_CASE("Errors: bad sizes, sequences and forward passes are refused",
          "[ch07][errors]")
{
    REQUIRE_THROWS_AS(attn::make_induction_example({5, 10, 1, 4}, 1),
                      std::invalid_argument);
    REQUIRE_THROWS_AS(attn::make_induction_example({5, 10, 3, 6}, 1),
                      std::invalid_argument);
    REQUIRE_THROWS_AS(attn::init_decoder_model({5, 7, 6, 4, 1}, 1),
                      std::invalid_argument);
    const auto m = random_decoder(1);
    const auto q = random_tokens(2);
    auto long_tokens = q.tokens;
    long_tokens.resize(8, 0);
    auto long_target = q.target;
    long_target.resize(8, -1);
    REQUIRE_THROWS_AS(attn::decoder_model_forward(tiny, m, long_tokens,
                                                  long_target),
                      std::invalid_argument);
    auto bad = q.tokens;
    bad[1] = 5;
    REQUIRE_THROWS_AS(attn::decoder_model_forward(tiny, m, bad, q.target),
                      std::invalid_argument);
    auto one_layer = m;
    one_layer.layers.pop_back();
    REQUIRE_THROWS_AS(attn::decoder_model_forward(tiny, one_layer, q.tokens,
                                                  q.target),
                      std::invalid_argument);
    // Training: a task the model cannot read, or options that cannot train.
    attn::decoder_training_options o;
    o.steps = 1;
    REQUIRE_THROWS_AS(attn::train_decoder_model(tiny, {6, 6, 2, 3}, o),
                      std::invalid_argument);  // |V| 6 != 5
    REQUIRE_THROWS_AS(attn::train_decoder_model(tiny, {5, 8, 2, 4}, o),
                      std::invalid_argument);  // n = 8 > n_max = 7
    o.batch = 0;
    REQUIRE_THROWS_AS(attn::train_decoder_model(tiny, {5, 6, 2, 3}, o),
                      std::invalid_argument);
    auto f = attn::decoder_model_forward(tiny, m, q.tokens, q.target);
    f.layer.pop_back();
    REQUIRE_THROWS_AS(attn::decoder_model_backward(tiny, m, q.tokens,
                                                   q.target, f),
                      std::invalid_argument);
}

// ------------------------------------------------------------ credit
TEST_CASE("Head writes: the H writes and b_o sum to the layer's output, "
          "and their direct logit attributions plus the embedding's and "
          "the biases' make the correct logit", "[ch07][eq_head_write]")
{
    for (std::uint64_t seed : {3u, 4u}) {
        CAPTURE(seed);
        const auto m = random_decoder(seed);
        const auto q = random_tokens(seed + 30);
        const auto f = attn::decoder_model_forward(tiny, m, q.tokens,
                                                   q.target);
        for (std::size_t l = 0; l < 2; ++l) {
            // Head h's write by loops: sum over its d_k = 2 columns c of
            // Y_cat[i, 2h + c] W_o[2h + c, :].
            matrix sum = xt::zeros<double>({6, 4});
            for (std::size_t h = 0; h < 2; ++h) {
                const matrix c = attn::head_write(f.layer[l],
                                                  m.layers[l].w_o, 2, h);
                matrix loops = xt::zeros<double>({6, 4});
                for (std::size_t i = 0; i < 6; ++i) {
                    for (std::size_t k = 0; k < 4; ++k) {
                        for (std::size_t c2 = 0; c2 < 2; ++c2) {
                            loops(i, k) += f.layer[l].heads(i, 2 * h + c2)
                                           * m.layers[l].w_o(2 * h + c2, k);
                        }
                    }
                }
                REQUIRE_THAT(c, IsCloseTo(loops));
                sum += c;
            }
            for (std::size_t i = 0; i < 6; ++i) {
                xt::row(sum, i) += m.layers[l].b_o;
            }
            REQUIRE_THAT(sum, IsCloseTo(f.layer[l].y));
        }
        // The logit of the correct token decomposes along the stream:
        // X^(2) = X^(0) + sum_l (sum_h c_{l,h} + b_o^l).
        const auto dla = attn::direct_logit_attribution(tiny, m, f,
                                                        q.target);
        REQUIRE(dla.size() == 2);
        for (std::size_t i = 0; i < 6; ++i) {
            if (q.target[i] < 0) {
                REQUIRE(dla[0](0, i) == 0.0);
                continue;
            }
            const std::size_t t = std::size_t(q.target[i]);
            double rest = 0.0;  // X^(0) and both biases, read by W_U
            for (std::size_t k = 0; k < 4; ++k) {
                rest += (f.x[0](i, k) + m.layers[0].b_o(k)
                         + m.layers[1].b_o(k)) * m.w_u(k, t);
            }
            const double heads = dla[0](0, i) + dla[0](1, i) + dla[1](0, i)
                                 + dla[1](1, i);
            REQUIRE(heads + rest
                    == Approx(f.logits(i, t)).epsilon(1e-12).margin(1e-12));
        }
    }
}

TEST_CASE("Attention rollout: one layer is (mean of heads + I) / 2, two "
          "layers the product by loops, rows sum to 1", "[ch07][eq_rollout]")
{
    const auto m = random_decoder(5);
    const auto q = random_tokens(6);
    const auto f = attn::decoder_model_forward(tiny, m, q.tokens, q.target);
    const std::size_t n = 6;
    const auto hat = [&](std::size_t l, std::size_t i, std::size_t j) {
        return 0.5 * (f.layer[l].a(0, i, j) + f.layer[l].a(1, i, j)) / 2.0
               + (i == j ? 0.5 : 0.0);
    };
    const matrix one = attn::attention_rollout({f.layer[0].a});
    const matrix two = attn::attention_rollout({f.layer[0].a, f.layer[1].a});
    for (std::size_t i = 0; i < n; ++i) {
        double row = 0.0;
        for (std::size_t j = 0; j < n; ++j) {
            REQUIRE(one(i, j) == Approx(hat(0, i, j)).epsilon(1e-14));
            double product = 0.0;  // (A-hat_1 A-hat_0)(i, j)
            for (std::size_t k = 0; k < n; ++k) {
                product += hat(1, i, k) * hat(0, k, j);
            }
            REQUIRE(two(i, j)
                    == Approx(product).epsilon(1e-13).margin(1e-15));
            row += two(i, j);
        }
        REQUIRE(row == Approx(1.0).epsilon(1e-14));
        // Causal: no credit to a later token.
        for (std::size_t j = i + 1; j < n; ++j) {
            REQUIRE(two(i, j) == 0.0);
        }
    }
    REQUIRE_THROWS_WITH(attn::attention_rollout({}),
                        Catch::Contains("at least one layer"));
}

TEST_CASE("Path ablation: removing a head from one side of layer 1 "
          "changes that side only, both sides by hand, a head that writes "
          "nothing changes nothing", "[ch07][eq_path_ablation]")
{
    const auto m = random_decoder(9);
    const auto q = random_tokens(10);
    const auto f = attn::decoder_model_forward(tiny, m, q.tokens, q.target);
    const matrix c = attn::head_write(f.layer[0], m.layers[0].w_o, 2, 1);
    const auto mask = attn::causal_mask(6, 6);
    using side = attn::path_side;
    const auto by_q = attn::decoder_forward_path_ablated(
        tiny, m, q.tokens, q.target, 0, 1, 1, side::queries);
    const auto by_kv = attn::decoder_forward_path_ablated(
        tiny, m, q.tokens, q.target, 0, 1, 1, side::keys_values);
    const auto both = attn::decoder_forward_path_ablated(
        tiny, m, q.tokens, q.target, 0, 1, 1, side::both);
    // Queries side: layer 1's keys and values as before, its queries not.
    REQUIRE_THAT(by_q.layer[1].k, IsCloseTo(f.layer[1].k));
    REQUIRE_THAT(by_q.layer[1].v, IsCloseTo(f.layer[1].v));
    REQUIRE(book_test::max_abs_diff(by_q.layer[1].q, f.layer[1].q) > 1e-6);
    REQUIRE_THAT(by_kv.layer[1].q, IsCloseTo(f.layer[1].q));
    REQUIRE(book_test::max_abs_diff(by_kv.layer[1].k, f.layer[1].k) > 1e-6);
    // Both sides, by hand: layer 1 on X^(1) - c, the stream X^(1) kept.
    const matrix without = f.x[1] - c;
    const auto r = attn::multi_head_attention(without, without, m.layers[1],
                                              2, mask);
    const matrix logits = xt::linalg::dot(matrix(f.x[1] + r.y), m.w_u);
    REQUIRE_THAT(both.logits, IsCloseTo(logits));
    // The stream into layer 1 and layer 0 itself are untouched.
    REQUIRE_THAT(both.x[1], IsCloseTo(f.x[1]));
    // A head whose rows of W_o are zero writes nothing: no change.
    auto silent = m;
    xt::view(silent.layers[0].w_o, xt::range(2, 4), xt::all()) = 0.0;
    const auto g = attn::decoder_model_forward(tiny, silent, q.tokens,
                                               q.target);
    const auto g_both = attn::decoder_forward_path_ablated(
        tiny, silent, q.tokens, q.target, 0, 1, 1, side::both);
    REQUIRE_THAT(g_both.logits, IsCloseTo(g.logits));
    REQUIRE_THROWS_WITH(attn::decoder_forward_path_ablated(
                            tiny, m, q.tokens, q.target, 1, 0, 1, side::both),
                        Catch::Contains("from < to"));
}

TEST_CASE("Occlusion: a key hidden in every layer, the predictions of the "
          "other positions then do not depend on its token",
          "[ch07][eq_occlusion]")
{
    const std::size_t n = 6, j = 2;
    const auto mask = attn::hide_key_mask(n, j);
    for (std::size_t r = 0; r < n; ++r) {
        for (std::size_t k = 0; k < n; ++k) {
            // Causal, and key j visible to query j alone.
            REQUIRE(mask(r, k) == (k <= r && (k != j || r == j)));
        }
    }
    const auto m = random_decoder(11);
    auto q = random_tokens(12);
    const auto f = attn::decoder_model_forward(tiny, m, q.tokens, q.target,
                                               {}, mask);
    q.tokens[j] = (q.tokens[j] + 2) % 5;
    const auto g = attn::decoder_model_forward(tiny, m, q.tokens, q.target,
                                               {}, mask);
    for (std::size_t i = 0; i < n; ++i) {
        if (i == j) {
            continue;
        }
        REQUIRE_THAT(matrix(xt::view(g.logits, xt::range(i, i + 1),
                                     xt::all())),
                     IsCloseTo(matrix(xt::view(f.logits, xt::range(i, i + 1),
                                               xt::all()))));
    }
    // Without the mask the token at j reaches the later positions.
    const auto h = attn::decoder_model_forward(tiny, m, q.tokens, q.target);
    REQUIRE(book_test::max_abs_diff(h.logits, g.logits) > 1e-6);
    REQUIRE_THROWS_WITH(attn::hide_key_mask(3, 3), Catch::Contains("j < n"));
    REQUIRE_THROWS_WITH(attn::decoder_model_forward(
                            tiny, m, q.tokens, q.target, {},
                            attn::causal_mask(5, 5)),
                        Catch::Contains("mask"));
}

// Tests of chapter 5: the tiny model (Eq. 5.1), every gradient of the
// backward pass against central finite differences (Eqs. 5.2 to 5.7), Adam
// (Eq. 5.8), training, and the three measures of a head (Eqs. 5.9 to 5.11).
#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>

#include "attention/adam.hpp"
#include "attention/head_importance.hpp"
#include "attention/heads_task.hpp"
#include "attention/multi_head.hpp"
#include "attention/multi_head_backward.hpp"
#include "attention/self_attention.hpp"
#include "attention/tiny_model.hpp"
#include "attention/training.hpp"
#include "test_helpers.hpp"

using attn::matrix;
using attn::vector;
using book_test::central_differences;
using book_test::inf;
using book_test::IsCloseTo;
using book_test::random_matrix;

using book_test::fd_atol;
using book_test::fd_part;
using book_test::fd_rtol;

namespace {

const attn::heads_task task;  // V = 5, L = 9, d = 16, H = 4

// A random multi-head layer with cross-attention shapes (n_q != n_k), a
// mask with one fully masked query row, and gates that are not all one.
struct layer_case {
    matrix x_q, x_kv, dL_dy;             // inputs and dL/dy~
    attn::multi_head_weights w;
    attn::mask_matrix mask;
    vector gates;
    std::size_t heads = 2;

    explicit layer_case(std::uint64_t seed)
    {
        const std::size_t n_q = 4, n_k = 5, d = 6;
        x_q = random_matrix(n_q, d, seed);
        x_kv = random_matrix(n_k, d, seed + 1);
        // W_q, W_k, W_v, W_o from seed + 2 .. seed + 5, b_o from seed + 6.
        w = book_test::random_multi_head_weights(d, seed + 2, 1.0);
        dL_dy = random_matrix(n_q, d, seed + 7);
        const matrix coin = random_matrix(n_q, n_k, seed + 8);
        mask = coin > -0.5;
        xt::row(mask, 2) = false;        // query 2 sees no key
        mask(0, 0) = true;
        gates = vector{0.7, 1.3};
    }
    // L = sum(dL_dy * y~): a loss whose gradient with respect to y~ is
    // dL_dy (G in the comments below).
    double loss() const
    {
        const auto r = attn::multi_head_attention(x_q, x_kv, w, heads, mask,
                                                  gates);
        return xt::sum(dL_dy * r.y)();
    }
    attn::multi_head_gradients backward() const
    {
        const auto r = attn::multi_head_attention(x_q, x_kv, w, heads, mask,
                                                  gates);
        return attn::multi_head_attention_backward(x_q, x_kv, w, heads, r,
                                                   dL_dy, gates);
    }
    // dL/d(input) by central differences: x_q, x_kv or gates.
    template <class T>
    T fd(T layer_case::*input) const
    {
        return fd_part(
            *this, [input](layer_case& c) -> T& { return c.*input; },
            [](const layer_case& c) { return c.loss(); });
    }
    // dL/d(weight) by central differences: W_q, W_k, W_v, W_o or b_o.
    template <class T>
    T fd(T attn::multi_head_weights::*weight) const
    {
        return fd_part(
            *this, [weight](layer_case& c) -> T& { return c.w.*weight; },
            [](const layer_case& c) { return c.loss(); });
    }
};

using weights = attn::multi_head_weights;

// Eq. (5.10) literally: E_x |dL(x)/dxi_h|, the mean over the sequences of
// `test`, with dL(x)/dxi_h by central differences at xi = 1.
vector importance_by_central_differences(
    const attn::tiny_model& m, const std::vector<attn::heads_example>& test)
{
    vector expected = xt::zeros<double>({task.heads});
    for (const auto& e : test) {
        const vector fd = central_differences<vector>(
            xt::ones<double>({task.heads}), [&](const vector& xi) {
                return attn::tiny_model_forward(task, m, e, xi).loss;
            });
        expected += xt::abs(fd) / double(test.size());
    }
    return expected;
}

// Eq. (5.11) by literal loops: each head's largest weight, averaged over
// the scored queries i = 2..9 of every sequence of `test`, through
// chapter 3's reference layer.
vector confidence_by_loops(const attn::tiny_model& m,
                           const std::vector<attn::heads_example>& test)
{
    const std::size_t n = 10, scored = test.size() * (n - 2);
    vector expected = xt::zeros<double>({task.heads});
    for (const auto& e : test) {
        const matrix x = attn::embed_tokens(task, e.tokens);
        const auto r = attn::multi_head_attention_reference(
            x, x, m.attention, task.heads,
            attn::causal_mask(n, n, attn::diagonal::excluded));
        for (std::size_t h = 0; h < task.heads; ++h) {
            for (std::size_t i = 2; i < n; ++i) {
                double top = 0.0;
                for (std::size_t j = 0; j < n; ++j) {
                    top = std::max(top, r.a(h, i, j));
                }
                expected(h) += top / double(scored);
            }
        }
    }
    return expected;
}

}  // namespace

// ------------------------------------------------------------- Eq. 5.1
TEST_CASE("Eq. 5.1: the task's targets and the input, hand-worked",
          "[ch05][eq_tiny_model]")
{
    // BOS 0 1 0 1 0 1 0 1 0. Position 2: previous 0, token 1 not seen
    // before -> 2*0 + 0 = 0. Position 3: previous 1, token 0 seen at 1 ->
    // 2*1 + 1 = 3. From then on every token has an earlier copy: 1, 3, ...
    const auto e = attn::heads_example_from_tokens(
        task, {5, 0, 1, 0, 1, 0, 1, 0, 1, 0});
    REQUIRE(e.target == std::vector<int>{-1, -1, 0, 3, 1, 3, 1, 3, 1, 3});
    // x: one-hot token in columns 0..5, one-hot position in 6..15.
    const matrix x = attn::embed_tokens(task, e.tokens);
    REQUIRE(x.shape()[0] == 10);
    REQUIRE(x(0, 5) == 1.0);
    REQUIRE(x(0, 6) == 1.0);
    REQUIRE(x(3, 0) == 1.0);
    REQUIRE(x(3, 9) == 1.0);
    REQUIRE(xt::sum(x)() == 20.0);
    // The strict causal mask: query i sees keys 0..i-1; query 0 none.
    const auto mask = attn::causal_mask(3, 3, attn::diagonal::excluded);
    REQUIRE(mask == attn::mask_matrix{{false, false, false},
                                         {true, false, false},
                                         {true, true, false}});
}

TEST_CASE("Eq. 5.1: a model of zeros predicts uniformly, loss log 10",
          "[ch05][eq_tiny_model]")
{
    // Zero weights: y~ = b_o = 0, z = x, logits = 0, p = 1/10 everywhere,
    // so the loss at every scored position is -log(1/10) = log 10.
    auto m = attn::init_tiny_model(task, 1);
    m = attn::zeros_like(m);
    const auto e = attn::make_heads_example(task, 3);
    const auto f = attn::tiny_model_forward(task, m, e);
    REQUIRE(f.scored == 8);
    REQUIRE(f.loss == Approx(std::log(10.0)).epsilon(1e-14));
    REQUIRE_THAT(f.p, IsCloseTo(xt::ones<double>({10, 10}) * 0.1, 1e-14));
}

TEST_CASE("Eq. 5.1: the model's forward pass equals literal loops",
          "[ch05][eq_tiny_model]")
{
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        const auto m = attn::init_tiny_model(task, seed);
        const auto e = attn::make_heads_example(task, seed + 10);
        const auto f = attn::tiny_model_forward(task, m, e);
        // The layer through chapter 3's literal-loop reference.
        const auto r = attn::multi_head_attention_reference(
            f.x, f.x, m.attention, task.heads,
            attn::causal_mask(10, 10, attn::diagonal::excluded));
        REQUIRE_THAT(f.layer.y, IsCloseTo(r.y, 1e-12));
        // z = x + y~, logits = z W_u + b_u, loss by loops.
        double loss = 0.0;
        for (std::size_t i = 2; i < 10; ++i) {
            std::vector<double> logit(10, 0.0);
            double top = -1e300, sum = 0.0;
            for (std::size_t c = 0; c < 10; ++c) {
                logit[c] = m.b_u(c);
                for (std::size_t k = 0; k < 16; ++k) {
                    logit[c] += (f.x(i, k) + r.y(i, k)) * m.w_u(k, c);
                }
                top = std::max(top, logit[c]);
            }
            for (double l : logit) {
                sum += std::exp(l - top);
            }
            loss -= logit[std::size_t(e.target[i])] - top - std::log(sum);
        }
        REQUIRE(f.loss == Approx(loss / 8.0).epsilon(1e-12));
    }
}

// ------------------------------------------------------------- Eq. 5.2
TEST_CASE("Eq. 5.2: read-out gradients, hand-worked",
          "[ch05][eq_grad_logits]")
{
    // Zero model on BOS 0 1 0 1 0 1 0 1 0: p = 0.1 for every class, and
    // the targets are class 0 once, 3 four times, 1 three times (8 scored).
    // dL/db_u = mean over scored rows of (p - onehot) = 0.1 - count / 8:
    // class 0: 0.1 - 1/8 = -0.025, class 1: 0.1 - 3/8 = -0.275,
    // class 3: 0.1 - 4/8 = -0.4, the other seven: 0.1.
    const auto m = attn::zeros_like(attn::init_tiny_model(task, 1));
    const auto e = attn::heads_example_from_tokens(
        task, {5, 0, 1, 0, 1, 0, 1, 0, 1, 0});
    const auto f = attn::tiny_model_forward(task, m, e);
    const auto g = attn::tiny_model_backward(task, m, e, f);
    REQUIRE_THAT(g.dL_db_u, IsCloseTo(vector{-0.025, -0.275, 0.1, -0.4, 0.1,
                                           0.1, 0.1, 0.1, 0.1, 0.1},
                                    1e-14, 1e-15));
    // dL/dW_u = z^T dL/dlogits; column 3 of the row of token 0 (x(i,0)=1 at
    // the five positions 1, 3, 5, 7, 9; scored: 3, 5, 7, 9, all class 3):
    // 4 * (0.1 - 1) / 8 = -0.45.
    REQUIRE(g.dL_dw_u(0, 3) == Approx(-0.45).epsilon(1e-14));
}

TEST_CASE("Eqs. 5.2 to 5.7: every model gradient matches central differences",
          "[ch05][eq_grad_logits][eq_grad_projections]")
{
    for (std::uint64_t seed : {1u, 2u}) {
        CAPTURE(seed);
        const auto m = attn::init_tiny_model(task, seed);
        const auto e = attn::make_heads_example(task, seed + 20);
        const auto f = attn::tiny_model_forward(task, m, e);
        const auto g = attn::tiny_model_backward(task, m, e, f);
        const auto loss = [&](const attn::tiny_model& m2) {
            return attn::tiny_model_forward(task, m2, e).loss;
        };
        const auto w_u = [](attn::tiny_model& p) -> matrix& { return p.w_u; };
        const auto b_u = [](attn::tiny_model& p) -> vector& { return p.b_u; };
        REQUIRE_THAT(g.dL_dw_u,
                     IsCloseTo(fd_part(m, w_u, loss), fd_rtol, fd_atol));
        REQUIRE_THAT(g.dL_db_u,
                     IsCloseTo(fd_part(m, b_u, loss), fd_rtol, fd_atol));
        for (auto which : {&weights::w_q, &weights::w_k, &weights::w_v,
                           &weights::w_o}) {
            const auto attention = [which](attn::tiny_model& p) -> matrix& {
                return p.attention.*which;
            };
            REQUIRE_THAT(g.layer.dL_dw.*which,
                         IsCloseTo(fd_part(m, attention, loss), fd_rtol,
                                   fd_atol));
        }
    }
}

// ------------------------------------------------------------- Eq. 5.3
TEST_CASE(
    "Eqs. 5.3 to 5.7: one key, one query, hand-worked",
    "[ch05][eq_grad_output_projection][eq_grad_head_outputs][eq_grad_scores]")
{
    // One query, one key, d = 2, H = 1, all weights the identity. With one
    // key the weight is a = 1 whatever the score, so
    //   Y = a v = x_kv W_v = (1, 2),  y~ = Y W_o + b_o = (1, 2).
    // With G = dL/dy~ = (3, -1):
    //   dL/dW_o = Y^T G = [[3, -1], [6, -2]],  dL/db_o = G = (3, -1),
    //   dL/dY = G W_o^T = (3, -1),  dL/dxi = <Y, dL/dY> = 3 - 2 = 1,
    //   dL/dV = a^T dL/dY = (3, -1),  dL/dW_v = x_kv^T dL/dV = dL/dW_o,
    //   dL/dS = 0 (a one-entry softmax is constant), so dL/dW_q = dL/dW_k = 0
    //   and dL/dx_q = 0,  dL/dx_kv = dL/dV W_v^T = (3, -1).
    const matrix eye = xt::eye<double>(2);
    const attn::multi_head_weights w{eye, eye, eye, eye, vector{0.0, 0.0}};
    const matrix x_q = {{0.5, -0.5}}, x_kv = {{1.0, 2.0}};
    const matrix dL_dy = {{3.0, -1.0}};
    const auto r = attn::multi_head_attention(x_q, x_kv, w, 1);
    const auto grads = attn::multi_head_attention_backward(x_q, x_kv, w, 1, r,
                                                           dL_dy);
    const matrix outer = {{3.0, -1.0}, {6.0, -2.0}};
    REQUIRE_THAT(grads.dL_dw.w_o, IsCloseTo(outer));
    REQUIRE_THAT(grads.dL_dw.b_o, IsCloseTo(vector{3.0, -1.0}));
    REQUIRE_THAT(grads.dL_dxi, IsCloseTo(vector{1.0}));
    REQUIRE_THAT(grads.dL_dw.w_v, IsCloseTo(outer));
    REQUIRE_THAT(grads.dL_dw.w_q, IsCloseTo(xt::zeros<double>({2, 2})));
    REQUIRE_THAT(grads.dL_dw.w_k, IsCloseTo(xt::zeros<double>({2, 2})));
    REQUIRE_THAT(grads.dL_dx_q, IsCloseTo(matrix{{0.0, 0.0}}));
    REQUIRE_THAT(grads.dL_dx_kv, IsCloseTo(matrix{{3.0, -1.0}}));
}

TEST_CASE("Eq. 5.3: output projection gradients match central differences",
          "[ch05][eq_grad_output_projection]")
{
    for (std::uint64_t seed : {31u, 32u, 33u}) {
        CAPTURE(seed);
        const layer_case c(seed);
        const auto grads = c.backward();
        REQUIRE_THAT(grads.dL_dw.w_o,
                     IsCloseTo(c.fd(&weights::w_o), fd_rtol, fd_atol));
        REQUIRE_THAT(grads.dL_dw.b_o,
                     IsCloseTo(c.fd(&weights::b_o), fd_rtol, fd_atol));
        // Property: dL/db_o is the column sum of G.
        REQUIRE_THAT(grads.dL_dw.b_o, IsCloseTo(xt::sum(c.dL_dy, {0}), 1e-12));
    }
}

// ------------------------------------------------------------- Eq. 5.4
TEST_CASE("Eq. 5.4: gate and value gradients match central differences",
          "[ch05][eq_grad_head_outputs]")
{
    for (std::uint64_t seed : {41u, 42u, 43u}) {
        CAPTURE(seed);
        const layer_case c(seed);
        const auto grads = c.backward();
        REQUIRE_THAT(grads.dL_dxi,
                     IsCloseTo(c.fd(&layer_case::gates), fd_rtol, fd_atol));
        REQUIRE_THAT(grads.dL_dw.w_v,
                     IsCloseTo(c.fd(&weights::w_v), fd_rtol, fd_atol));
        // Property, from Eq. (3.7): dL/dxi_h = <Y^h W_o^h, G>, the inner
        // product of head h's own share of the output with G.
        const auto r = attn::multi_head_attention(c.x_q, c.x_kv, c.w,
                                                  c.heads, c.mask);
        for (std::size_t h = 0; h < c.heads; ++h) {
            const matrix y_h = attn::head_view(r.heads, h, 3);
            const matrix w_o_h = xt::view(c.w.w_o, xt::range(3 * h,
                                                              3 * h + 3),
                                          xt::all());
            const double share = xt::sum(xt::linalg::dot(y_h, w_o_h)
                                         * c.dL_dy)();
            REQUIRE(grads.dL_dxi(h) == Approx(share).epsilon(1e-12));
        }
    }
}

// ------------------------------------------------------------- Eq. 5.5
TEST_CASE("Eq. 5.5: softmax backward, hand-worked", "[ch05][eq_grad_softmax]")
{
    // Row 0: a = (1/4, 3/4), dL/da = (1, 0). sum_j a_j dL/da_j = 1/4, so
    //   dL/ds = (1/4 (1 - 1/4), 3/4 (0 - 1/4)) = (3/16, -3/16).
    // Row 1: fully masked, a = 0: the gradient is 0.
    const matrix a = {{0.25, 0.75}, {0.0, 0.0}};
    const matrix dL_da = {{1.0, 0.0}, {5.0, -2.0}};
    const matrix expected = {{3.0 / 16, -3.0 / 16}, {0.0, 0.0}};
    REQUIRE_THAT(attn::softmax_rows_backward(a, dL_da), IsCloseTo(expected));
    REQUIRE_THAT(attn::softmax_rows_backward_reference(a, dL_da),
                 IsCloseTo(expected));
}

TEST_CASE("Eq. 5.5: softmax backward equals Eq. 2.7's Jacobian, loops, FD",
          "[ch05][eq_grad_softmax]")
{
    for (std::uint64_t seed : {51u, 52u, 53u, 54u}) {
        CAPTURE(seed);
        matrix s = random_matrix(3, 5, seed, 2.0);
        s(1, 2) = -inf;  // one masked key
        const matrix a = attn::softmax_rows(s);
        const matrix dL_da = random_matrix(3, 5, seed + 100);
        const matrix dL_ds = attn::softmax_rows_backward(a, dL_da);
        REQUIRE_THAT(dL_ds, IsCloseTo(attn::softmax_rows_backward_reference(
                                        a, dL_da), 1e-12, 1e-14));
        // Row by row against chapter 2's Jacobian: dL/ds = dL/da J.
        for (std::size_t i = 0; i < 3; ++i) {
            const matrix a_i = xt::view(a, xt::range(i, i + 1), xt::all());
            const matrix dL_da_i = xt::view(dL_da, xt::range(i, i + 1),
                                          xt::all());
            const matrix jd = xt::linalg::dot(dL_da_i,
                                              attn::softmax_jacobian(a_i));
            REQUIRE_THAT(xt::view(dL_ds, xt::range(i, i + 1), xt::all()),
                         IsCloseTo(jd, 1e-12, 1e-14));
        }
        // Properties: each row of dL/ds sums to 0 (adding a constant to a
        // row of scores changes nothing); a masked key gets exactly 0.
        const matrix sums = xt::sum(dL_ds, {1}, xt::keep_dims);
        REQUIRE_THAT(sums, IsCloseTo(xt::zeros<double>({3, 1}), 0.0, 1e-13));
        REQUIRE(dL_ds(1, 2) == 0.0);
        // Central differences of L = sum(dL_da * softmax(s)) on unmasked s.
        matrix s_free = random_matrix(3, 5, seed + 7);
        const matrix fd = central_differences<matrix>(
            s_free, [&](const matrix& t) {
                return xt::sum(dL_da * attn::softmax_rows(t))();
            });
        REQUIRE_THAT(attn::softmax_rows_backward(attn::softmax_rows(s_free),
                                                 dL_da),
                     IsCloseTo(fd, fd_rtol, fd_atol));
    }
}

// ------------------------------------------------------------- Eq. 5.6
TEST_CASE("Eq. 5.6: query and key gradients match central differences",
          "[ch05][eq_grad_scores]")
{
    for (std::uint64_t seed : {61u, 62u, 63u}) {
        CAPTURE(seed);
        const layer_case c(seed);
        const auto grads = c.backward();
        REQUIRE_THAT(grads.dL_dw.w_q,
                     IsCloseTo(c.fd(&weights::w_q), fd_rtol, fd_atol));
        REQUIRE_THAT(grads.dL_dw.w_k,
                     IsCloseTo(c.fd(&weights::w_k), fd_rtol, fd_atol));
        // Property: query 2 sees no key, so its input gets no gradient.
        REQUIRE_THAT(xt::row(grads.dL_dx_q, 2),
                     IsCloseTo(xt::zeros<double>({6}), 0.0, 0.0));
    }
}

// ------------------------------------------------------------- Eq. 5.7
TEST_CASE("Eq. 5.7: input gradients match central differences",
          "[ch05][eq_grad_projections]")
{
    for (std::uint64_t seed : {71u, 72u, 73u}) {
        CAPTURE(seed);
        const layer_case c(seed);
        const auto grads = c.backward();
        REQUIRE_THAT(grads.dL_dx_q,
                     IsCloseTo(c.fd(&layer_case::x_q), fd_rtol, fd_atol));
        REQUIRE_THAT(grads.dL_dx_kv,
                     IsCloseTo(c.fd(&layer_case::x_kv), fd_rtol, fd_atol));
    }
}

TEST_CASE("Eq. 5.7: the check fails when a gradient is perturbed",
          "[ch05][eq_grad_projections]")
{
    // The matcher that accepts the backward pass must reject it after one
    // entry of one gradient moves by 1e-4, or the tests above prove
    // nothing.
    const layer_case c(81);
    const auto grads = c.backward();
    const matrix fd = c.fd(&weights::w_q);
    REQUIRE(IsCloseTo(fd, fd_rtol, fd_atol).match(grads.dL_dw.w_q));
    matrix wrong = grads.dL_dw.w_q;
    wrong(2, 3) += 1e-4;
    REQUIRE_FALSE(IsCloseTo(fd, fd_rtol, fd_atol).match(wrong));
    // A forgotten 1/sqrt(d_k) in Eq. (5.6) is caught too.
    const matrix unscaled = grads.dL_dw.w_q * std::sqrt(3.0);
    REQUIRE_FALSE(IsCloseTo(fd, fd_rtol, fd_atol).match(unscaled));
}

TEST_CASE("Errors: the layer's backward pass refuses inconsistent shapes",
          "[ch05][errors]")
{
    const layer_case c(91);
    const auto r = attn::multi_head_attention(c.x_q, c.x_kv, c.w, c.heads,
                                              c.mask, c.gates);
    REQUIRE_THROWS_WITH(
        attn::multi_head_attention_backward(c.x_q, c.x_kv, c.w, c.heads, r,
                                            xt::zeros<double>({4, 5})),
        "multi_head_attention_backward: dL_dy must have shape "
        "(n_q, d_model) = (4, 6), got (4, 5)");
    REQUIRE_THROWS_WITH(
        attn::multi_head_attention_backward(c.x_q, c.x_kv, c.w, 4, r, c.dL_dy),
        Catch::Contains("heads must divide d_model = 6, got 4"));
    REQUIRE_THROWS_WITH(attn::softmax_rows_backward(matrix{{1.0}},
                                                    matrix{{1.0, 2.0}}),
                        Catch::Contains("dL_da must have shape"));
}

// ------------------------------------------------------------- Eq. 5.8
TEST_CASE("Eq. 5.8: Adam, two steps by hand", "[ch05][eq_adam]")
{
    // theta = 1, alpha = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8.
    // Step 1, g = 0.5: m = 0.05, v = 0.00025, m^ = 0.05 / 0.1 = 0.5,
    //   v^ = 0.00025 / 0.001 = 0.25, theta = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
    //   = 0.900000002.
    // Step 2, g = -1: m = 0.045 - 0.1 = -0.055,
    //   v = 0.00024975 + 0.001 = 0.00124975, m^ = -0.055 / 0.19
    //   = -0.28947368, v^ = 0.00124975 / 0.001999 = 0.62518759,
    //   sqrt(v^) = 0.79068805, theta = 0.900000002 + 0.1 * 0.28947368 /
    //   0.79068805 = 0.93661035.
    attn::adam_state s;
    s.lr = 0.1;
    vector theta{1.0}, m{0.0}, v{0.0};
    s.t = 1;
    attn::adam_update(theta, vector{0.5}, m, v, s);
    REQUIRE(theta(0) == Approx(0.900000002).epsilon(1e-12));
    s.t = 2;
    attn::adam_update(theta, vector{-1.0}, m, v, s);
    REQUIRE(m(0) == Approx(-0.055).epsilon(1e-12));
    REQUIRE(v(0) == Approx(0.00124975).epsilon(1e-12));
    REQUIRE(theta(0) == Approx(0.93661035).epsilon(1e-8));
}

TEST_CASE("Eq. 5.8: training is deterministic for a seed, lowers the loss",
          "[ch05][eq_adam]")
{
    attn::training_options options;
    options.steps = 20;
    options.batch = 4;
    const auto a = attn::train_tiny_model(task, options);
    const auto b = attn::train_tiny_model(task, options);
    REQUIRE(a.attention.w_q == b.attention.w_q);
    REQUIRE(a.w_u == b.w_u);
    options.seed = 2;
    const auto c = attn::train_tiny_model(task, options);
    REQUIRE_FALSE(a.w_u == c.w_u);
    const auto test = attn::make_heads_examples(task, 100, 9);
    const double before = attn::evaluate_tiny_model(
        task, attn::init_tiny_model(task, 1), test).loss;
    REQUIRE(attn::evaluate_tiny_model(task, a, test).loss < before);
}

TEST_CASE("Eq. 5.8: each training sequence has its own seed, a report "
          "averages the batches since the last one, Adam starts at zero",
          "[ch05][eq_adam]")
{
    attn::training_options options;
    options.seed = 3;
    options.batch = 2;
    options.steps = 2;
    options.report_every = 1;
    // Sequence b of step t has seed (seed << 40) ^ (stream 0 << 36) ^
    // (t * batch + b): step 2, b = 1 is (3 << 40) ^ 5.
    const auto e = attn::training_example(task, options, 2, 1);
    const auto by_hand =
        attn::make_heads_example(task, (std::uint64_t(3) << 40) ^ 5);
    REQUIRE(e.tokens == by_hand.tokens);
    REQUIRE_FALSE(attn::training_example(task, options, 1, 1).tokens
                  == e.tokens);
    // The first report: the mean loss and the accuracy of step 1's two
    // sequences under the initial weights, before the update.
    const auto m0 = attn::init_tiny_model(task, 3);
    const auto f0 = attn::tiny_model_forward(
        task, m0, attn::training_example(task, options, 1, 0));
    const auto f1 = attn::tiny_model_forward(
        task, m0, attn::training_example(task, options, 1, 1));
    std::vector<attn::training_report> reports;
    attn::train_tiny_model(
        task, options,
        [&](const attn::training_report& r, const attn::tiny_model&) {
            reports.push_back(r);
        });
    REQUIRE(reports.size() == 2);
    REQUIRE(reports[0].step == 1);
    REQUIRE(reports[0].loss == Approx((f0.loss + f1.loss) / 2));
    REQUIRE(reports[0].accuracy
            == Approx(double(f0.correct + f1.correct)
                      / double(f0.scored + f1.scored)));
    // The second report starts afresh: step 2's sequences alone, under
    // the weights after one step.
    auto one_step = options;
    one_step.steps = 1;
    const auto m1 = attn::train_tiny_model(task, one_step);
    const double step2_loss =
        (attn::tiny_model_forward(task, m1, by_hand).loss
         + attn::tiny_model_forward(
               task, m1, attn::training_example(task, options, 2, 0)).loss)
        / 2;
    REQUIRE(reports[1].step == 2);
    REQUIRE(reports[1].loss == Approx(step2_loss));
    // Adam's state before the first step: zero moments shaped like the
    // model, t = 0, the given step size.
    const auto s = attn::adam_start(m0, 0.5);
    REQUIRE(s.t == 0);
    REQUIRE(s.lr == 0.5);
    REQUIRE(s.m.attention.w_q.shape() == m0.attention.w_q.shape());
    REQUIRE(xt::all(xt::equal(s.v.w_u, 0.0)));
    REQUIRE(xt::all(xt::equal(s.m.attention.b_o, 0.0)));
}

// [ch05-training-test]
TEST_CASE("Training on seed 1 reaches 90% test accuracy, heads specialise",
          "[ch05][training]")
{
    // A shorter run than the program's (250 steps of 16 sequences instead
    // of 600 of 32). Always naming the most frequent class scores 0.12.
    attn::training_options options;
    options.steps = 250;
    options.batch = 16;
    const auto m = attn::train_tiny_model(task, options);
    const auto test = attn::make_heads_examples(task, 300, 1);
    const double accuracy = attn::evaluate_tiny_model(task, m, test).accuracy;
    CAPTURE(accuracy);
    REQUIRE(accuracy >= 0.9);
    // At least one head looks one step back and one looks for copies;
    // heads that spread evenly over the keys would score about 0.23 and
    // 0.26.
    double previous = 0.0, copies = 0.0;
    for (const auto& p : attn::head_patterns(task, m, test)) {
        previous = std::max(previous, p.previous);
        copies = std::max(copies, p.copies);
    }
    CAPTURE(previous, copies);
    REQUIRE(previous >= 0.7);
    REQUIRE(copies >= 0.5);
}
// [ch05-training-test]

// ------------------------------------------------------------- Eq. 5.9
TEST_CASE("Eq. 5.9: ablation, by hand and against the gates",
          "[ch05][eq_head_ablation]")
{
    // Head 1 writes nothing (rows 4..7 of W_o are zero): gating it off
    // changes no output, so it costs exactly 0 accuracy.
    auto m = attn::init_tiny_model(task, 5);
    xt::view(m.attention.w_o, xt::range(4, 8), xt::all()) = 0.0;
    const auto test = attn::make_heads_examples(task, 50, 2);
    const vector drop = attn::head_ablation(task, m, test);
    REQUIRE(drop(1) == 0.0);
    // Every entry is accuracy(all on) - accuracy(head h off).
    const double full = attn::evaluate_tiny_model(task, m, test).accuracy;
    for (std::size_t h = 0; h < 4; ++h) {
        vector xi = xt::ones<double>({4});
        xi(h) = 0.0;
        REQUIRE(drop(h) == Approx(
            full - attn::evaluate_tiny_model(task, m, test, xi).accuracy));
    }
    // The subsets table agrees: all on is the last entry, head 1 off is
    // entry 0b1101 = 13.
    const vector subsets = attn::subset_accuracies(task, m, test);
    REQUIRE(subsets(15) == Approx(full));
    REQUIRE(subsets(13) == Approx(full - drop(1)));
    // Removing heads 2, 0, 3, 1 in turn visits subsets 11, 10, 2, 0.
    const auto curve = attn::pruning_curve(subsets, {2, 0, 3, 1});
    REQUIRE(curve == std::vector<double>{subsets(15), subsets(11),
                                         subsets(10), subsets(2),
                                         subsets(0)});
    REQUIRE(attn::order_by_score(vector{0.3, 0.1, 0.4, 0.2})
            == std::vector<std::size_t>{1, 3, 0, 2});
}

// ------------------------------------------------------------ Eq. 5.10
TEST_CASE("Eq. 5.10: importance = mean abs(dL/dxi_h), by central differences",
          "[ch05][eq_head_importance]")
{
    for (std::uint64_t seed : {101u, 102u}) {
        CAPTURE(seed);
        const auto m = attn::init_tiny_model(task, seed);
        const auto test = attn::make_heads_examples(task, 20, seed);
        const vector raw = attn::head_importance(task, m, test, {}, false);
        REQUIRE_THAT(raw, IsCloseTo(importance_by_central_differences(m, test),
                                    fd_rtol, fd_atol));
        // Normalised by the l2 norm over the layer: unit length.
        const vector unit = attn::head_importance(task, m, test);
        REQUIRE(xt::sum(unit * unit)() == Approx(1.0).epsilon(1e-12));
        REQUIRE_THAT(unit, IsCloseTo(raw / std::sqrt(xt::sum(raw * raw)()),
                                     1e-12));
    }
    // A head that writes nothing has importance exactly 0.
    auto m = attn::init_tiny_model(task, 7);
    xt::view(m.attention.w_o, xt::range(8, 12), xt::all()) = 0.0;
    const auto test = attn::make_heads_examples(task, 10, 3);
    REQUIRE(attn::head_importance(task, m, test)(2) == 0.0);
}

// ------------------------------------------------------------ Eq. 5.11
TEST_CASE("Eq. 5.11: confidence of uniform heads, hand-worked",
          "[ch05][eq_head_confidence]")
{
    // W_q = W_k = 0: every score is 0, so query i spreads its weight
    // evenly over its i keys 0..i-1 and its largest weight is 1/i.
    // Averaged over the scored positions i = 2..9:
    //   (1/2 + 1/3 + ... + 1/9) / 8 = 0.22862103...
    auto m = attn::init_tiny_model(task, 1);
    m.attention.w_q = xt::zeros<double>({16, 16});
    m.attention.w_k = xt::zeros<double>({16, 16});
    const auto test = attn::make_heads_examples(task, 5, 1);
    REQUIRE_THAT(attn::head_confidence(task, m, test),
                 IsCloseTo(xt::ones<double>({4}) * 0.22862103174603174,
                           1e-12));
}

TEST_CASE("Eq. 5.11: confidence equals literal loops, lies between 1/9 and 1",
          "[ch05][eq_head_confidence]")
{
    for (std::uint64_t seed : {111u, 112u}) {
        CAPTURE(seed);
        const auto m = attn::init_tiny_model(task, seed);
        const auto test = attn::make_heads_examples(task, 10, seed);
        const vector c = attn::head_confidence(task, m, test);
        REQUIRE_THAT(c, IsCloseTo(confidence_by_loops(m, test), 1e-12));
        REQUIRE(xt::all(c >= 1.0 / 9.0 && c <= 1.0));
    }
}

// ------------------------------------------------------------------------
// Errors: the functions of multi_head_backward.hpp, heads_task.hpp,
// tiny_model.hpp, adam.hpp, training.hpp and head_importance.hpp
// refuse wrong arguments with a message naming the function, what it
// expected and what it got.

TEST_CASE("Errors: the softmax backward passes and the layer's backward "
          "pass refuse shapes that do not fit", "[ch05][errors]")
{
    REQUIRE_THROWS_WITH(attn::softmax_rows_backward(matrix{{1.0}},
                                                    matrix{{1.0, 2.0}}),
                        "softmax_rows_backward: dL_da must have shape "
                        "(n_q, n_k) of a = (1, 1), got (1, 2)");
    REQUIRE_THROWS_WITH(attn::softmax_rows_backward_reference(
                            matrix{{0.5, 0.5}}, matrix{{1.0}}),
                        "softmax_rows_backward_reference: dL_da must have "
                        "shape (n_q, n_k) of a = (1, 2), got (1, 1)");
    const layer_case c(92);
    const auto r = attn::multi_head_attention(c.x_q, c.x_kv, c.w, c.heads,
                                              c.mask, c.gates);
    auto bad = c.w;
    bad.w_q = xt::zeros<double>({6, 5});
    REQUIRE_THROWS_WITH(attn::multi_head_attention_backward(
                            c.x_q, c.x_kv, bad, c.heads, r, c.dL_dy),
                        "multi_head_attention_backward: W_q must have shape "
                        "(d_model, d_model) = (6, 6), got (6, 5)");
}

TEST_CASE("Errors: a sequence that does not fit the task is refused",
          "[ch05][errors]")
{
    // Three tokens where BOS and nine are expected, one of them above V.
    REQUIRE_THROWS_WITH(attn::heads_example_from_tokens(task, {5, 0, 7}),
                        Catch::Contains("expected BOS (5) then 9 tokens"));
}

TEST_CASE("Errors: a task whose sizes do not fit is refused wherever it "
          "is used", "[ch05][errors]")
{
    attn::heads_task no_vocab = task;
    no_vocab.vocab = 0;
    REQUIRE_THROWS_WITH(attn::make_heads_example(no_vocab, 1),
                        "make_heads_example: expected V, L, H >= 1, H "
                        "dividing d_model and d_model >= V + 1 + n = 11, got "
                        "V = 0, L = 9, H = 4, d_model = 16");
    REQUIRE_THROWS_WITH(attn::make_heads_examples(no_vocab, 3, 1),
                        Catch::Contains("make_heads_example: expected V"));
    attn::heads_task narrow = task;
    narrow.d_model = 12;  // V + 1 + n = 5 + 1 + 10 = 16 > 12
    REQUIRE_THROWS_WITH(attn::init_tiny_model(narrow, 1),
                        Catch::Contains("init_tiny_model: expected")
                            && Catch::Contains("d_model >= V + 1 + n = 16")
                            && Catch::Contains("d_model = 12"));
    attn::heads_task three_heads = task;
    three_heads.heads = 3;
    REQUIRE_THROWS_WITH(attn::expect_tiny_model(three_heads,
                                               attn::init_tiny_model(task, 1)),
                        Catch::Contains("expect_tiny_model: expected")
                            && Catch::Contains("H = 3, d_model = 16"));
    REQUIRE_THROWS_WITH(attn::embed_tokens(task, {5, 0, 9}),
                        "embed_tokens: token 9 out of range");
}

TEST_CASE("Errors: the forward and backward passes refuse a model or an "
          "example that does not fit the task", "[ch05][errors]")
{
    const auto m = attn::init_tiny_model(task, 1);
    const auto e = attn::make_heads_example(task, 2);
    auto bad = m;
    bad.w_u = xt::zeros<double>({16, 9});
    REQUIRE_THROWS_WITH(attn::tiny_model_forward(task, bad, e),
                        "tiny_model_forward: expect_tiny_model: W_u must have "
                        "shape (d_model, 2V) = (16, 10), got (16, 9)");
    auto short_target = e;
    short_target.target.pop_back();
    REQUIRE_THROWS_WITH(attn::tiny_model_forward(task, m, short_target),
                        "tiny_model_forward: expected one target per token, "
                        "got 10 tokens and 9 targets");
    auto big_target = e;
    big_target.target[3] = 10;
    REQUIRE_THROWS_WITH(attn::tiny_model_forward(task, m, big_target),
                        "tiny_model_forward: target 10 at position 3 is not "
                        "-1 or a class below 2V = 10");
    const auto f = attn::tiny_model_forward(task, m, e);
    auto cut = f;
    cut.p = xt::zeros<double>({9, 10});
    REQUIRE_THROWS_WITH(attn::tiny_model_backward(task, m, e, cut),
                        "tiny_model_backward: f.p must have shape (n, 2V) = "
                        "(10, 10), got (9, 10)");
}

TEST_CASE("Errors: adam_update refuses a step count of 0 and moments of "
          "another shape", "[ch05][errors]")
{
    attn::adam_state s;
    matrix theta = xt::zeros<double>({2, 3});
    matrix g = xt::ones<double>({2, 3});
    matrix m1 = xt::zeros<double>({2, 3}), v1 = xt::zeros<double>({2, 3});
    REQUIRE_THROWS_WITH(attn::adam_update(theta, g, m1, v1, s),
                        "adam_update: the step count t must be at least 1 "
                        "(increment it first), got 0");
    s.t = 1;
    // g (1, 3) would broadcast silently over theta's two rows.
    matrix g_row = xt::ones<double>({1, 3});
    REQUIRE_THROWS_WITH(attn::adam_update(theta, g_row, m1, v1, s),
                        "adam_update: g must have shape (2, 3), got (1, 3)");
    const bool unchanged = theta == matrix(xt::zeros<double>({2, 3}));
    REQUIRE(unchanged);
}

TEST_CASE("Errors: training and the measures of heads refuse empty or "
          "impossible settings", "[ch05][errors]")
{
    attn::training_options options;
    options.report_every = 0;
    REQUIRE_THROWS_WITH(attn::train_tiny_model(task, options),
                        "train_tiny_model: expected batch >= 1, report_every "
                        ">= 1 and a finite lr > 0, got batch = 32, "
                        "report_every = 0, lr = 0.010000");
    const auto m = attn::init_tiny_model(task, 1);
    const std::vector<attn::heads_example> none;
    REQUIRE_THROWS_WITH(attn::evaluate_tiny_model(task, m, none),
                        "evaluate_tiny_model: expected at least one "
                        "sequence, got none");
    REQUIRE_THROWS_WITH(attn::head_ablation(task, m, none),
                        "head_ablation: expected at least one sequence, got "
                        "none");
    REQUIRE_THROWS_WITH(attn::head_importance(task, m, none),
                        "head_importance: expected at least one sequence, "
                        "got none");
    REQUIRE_THROWS_WITH(attn::head_confidence(task, m, none),
                        "head_confidence: expected at least one sequence, "
                        "got none");
    REQUIRE_THROWS_WITH(attn::head_patterns(task, m, none),
                        "head_patterns: expected at least one sequence, got "
                        "none");
    REQUIRE_THROWS_WITH(attn::importance_order_remeasured(task, m, none),
                        "head_importance: expected at least one sequence, "
                        "got none");
    REQUIRE_THROWS_WITH(attn::subset_accuracies(task, m, none),
                        "subset_accuracies: expected at least one sequence, "
                        "got none");
    attn::heads_task many = task;
    many.heads = 32;
    many.d_model = 32;
    REQUIRE_THROWS_WITH(attn::subset_accuracies(
                            many, attn::init_tiny_model(many, 1),
                            attn::make_heads_examples(many, 1, 1)),
                        "subset_accuracies: 2^H subsets of heads are too many "
                        "for H = 32; expected H <= 20");
    // 2^4 accuracies, but an order that names head 2 twice.
    const vector subsets = xt::zeros<double>({16});
    REQUIRE_THROWS_WITH(attn::pruning_curve(subsets, {2, 2, 3, 1}),
                        Catch::Contains("each head once"));
    REQUIRE_THROWS_WITH(attn::pruning_curve(vector(xt::zeros<double>({8})),
                                            {0, 1}),
                        "pruning_curve: expected 2^H subset accuracies for "
                        "the H = 2 heads of order (H <= 20), got 8");
}

// ------------------------------------------------------------------------
// Edge cases of the backward pass: d_k = 1, a fully masked row, one token.

TEST_CASE("Edge: the backward pass with H = d_model (d_k = 1) matches "
          "central differences", "[ch05][edge]")
{
    // d_model = 3, H = 3: every head is one column wide. Key 0 is masked
    // for query 1, and query 0 sees no key at all.
    const matrix x_q = random_matrix(2, 3, 181);
    const matrix x_kv = random_matrix(4, 3, 182);
    const matrix dL_dy = random_matrix(2, 3, 183);
    attn::multi_head_weights w;
    w.w_q = random_matrix(3, 3, 184);
    w.w_k = random_matrix(3, 3, 185);
    w.w_v = random_matrix(3, 3, 186);
    w.w_o = random_matrix(3, 3, 187);
    w.b_o = xt::zeros<double>({3});
    attn::mask_matrix mask = {{false, false, false, false},
                                 {false, true, true, true}};
    const auto r = attn::multi_head_attention(x_q, x_kv, w, 3, mask);
    const auto grads = attn::multi_head_attention_backward(x_q, x_kv, w, 3, r,
                                                           dL_dy);
    const auto loss = [&](const matrix& w_q) {
        auto v = w;
        v.w_q = w_q;
        return xt::sum(attn::multi_head_attention(x_q, x_kv, v, 3, mask).y
                       * dL_dy)();
    };
    REQUIRE_THAT(grads.dL_dw.w_q, IsCloseTo(central_differences<matrix>(w.w_q,
                                                                  loss),
                                      fd_rtol, fd_atol));
    // The fully masked query contributes nothing through the scores.
    REQUIRE_THAT(matrix(xt::view(grads.dL_dx_q, xt::range(0, 1), xt::all())),
                 IsCloseTo(xt::zeros<double>({1, 3}), 0.0, 0.0));
}

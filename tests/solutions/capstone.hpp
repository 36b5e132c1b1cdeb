// Solution of the capstone (a tiny decoder-only language model).
// Instructors: delete the folder tests/solutions before handing the kit
// out (see README.md). Written from the statement alone, without the
// book's library, so that the graders' comparison with the library means
// something.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

namespace capstone {

using matrix = xt::xtensor<double, 2>;
using vector = xt::xtensor<double, 1>;

inline matrix rope_rotate(const matrix& x, std::size_t p0,
                          double base = 10000.0)
{
    const std::size_t n = x.shape()[0], d = x.shape()[1];
    if (d == 0 || d % 2 != 0) {
        throw std::invalid_argument("rope_rotate: the width must be even "
                                    "and positive, got "
                                    + std::to_string(d));
    }
    matrix y = x;
    for (std::size_t r = 0; r < n; ++r) {
        for (std::size_t f = 0; f < d / 2; ++f) {
            const double omega = std::pow(base, -2.0 * double(f) / double(d));
            const double angle = double(p0 + r) * omega;
            const double a = x(r, 2 * f), b = x(r, 2 * f + 1);
            y(r, 2 * f) = a * std::cos(angle) - b * std::sin(angle);
            y(r, 2 * f + 1) = a * std::sin(angle) + b * std::cos(angle);
        }
    }
    return y;
}

namespace detail {

inline void expect_groups(const char* where, std::size_t heads,
                          std::size_t groups)
{
    if (heads == 0 || groups == 0 || heads % groups != 0) {
        throw std::invalid_argument(std::string(where)
                                    + ": G must divide H, both >= 1");
    }
}

}  // namespace detail

inline matrix causal_gqa(const matrix& q, const matrix& k, const matrix& v,
                         std::size_t heads, std::size_t groups)
{
    detail::expect_groups("causal_gqa", heads, groups);
    const std::size_t n_q = q.shape()[0], n_k = k.shape()[0];
    if (n_q == 0 || n_k == 0 || n_q > n_k || q.shape()[1] % heads != 0
        || q.shape()[1] == 0) {
        throw std::invalid_argument("causal_gqa: expected 1 <= n_q <= n_k "
                                    "and H dividing the width of q");
    }
    const std::size_t d = q.shape()[1] / heads;
    if (k.shape()[1] != groups * d || v.shape()[0] != n_k
        || v.shape()[1] != groups * d) {
        throw std::invalid_argument("causal_gqa: k and v must be (n_k, G d)");
    }
    matrix y = xt::zeros<double>({n_q, heads * d});
    std::vector<double> s(n_k);
    for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t g = h / (heads / groups);
        for (std::size_t i = 0; i < n_q; ++i) {
            const std::size_t last = n_k - n_q + i;  // the last key it sees
            double s_max = -std::numeric_limits<double>::infinity();
            for (std::size_t j = 0; j <= last; ++j) {
                double dot = 0.0;
                for (std::size_t c = 0; c < d; ++c) {
                    dot += q(i, h * d + c) * k(j, g * d + c);
                }
                s[j] = dot / std::sqrt(double(d));
                s_max = std::max(s_max, s[j]);
            }
            double z = 0.0;
            for (std::size_t j = 0; j <= last; ++j) {
                s[j] = std::exp(s[j] - s_max);
                z += s[j];
            }
            for (std::size_t j = 0; j <= last; ++j) {
                for (std::size_t c = 0; c < d; ++c) {
                    y(i, h * d + c) += s[j] / z * v(j, g * d + c);
                }
            }
        }
    }
    return y;
}

struct layer_weights {
    matrix w_q;
    matrix w_k;
    matrix w_v;
    matrix w_o;
    vector b_o;
};

namespace detail {

inline std::size_t expect_layer(const char* where, std::size_t d_model,
                                const layer_weights& w, std::size_t heads,
                                std::size_t groups)
{
    expect_groups(where, heads, groups);
    const std::size_t width = w.w_q.shape()[1];
    const std::size_t d = width / heads;
    if (d_model == 0 || w.w_q.shape()[0] != d_model || width == 0
        || width % heads != 0 || d % 2 != 0
        || w.w_k.shape() != std::array<std::size_t, 2>{d_model, groups * d}
        || w.w_v.shape() != std::array<std::size_t, 2>{d_model, groups * d}
        || w.w_o.shape() != std::array<std::size_t, 2>{heads * d, d_model}
        || w.b_o.shape()[0] != d_model) {
        throw std::invalid_argument(std::string(where)
                                    + ": the layer's weights do not fit");
    }
    return d;
}

// Every head's block of d columns rotated at positions p0, p0 + 1, ...
inline matrix rope_heads(const matrix& m, std::size_t d, std::size_t p0,
                         double base)
{
    matrix y = m;
    for (std::size_t c = 0; c < m.shape()[1]; c += d) {
        const matrix block = xt::view(m, xt::all(), xt::range(c, c + d));
        xt::view(y, xt::all(), xt::range(c, c + d)) =
            rope_rotate(block, p0, base);
    }
    return y;
}

// The rows of a cache vector as a (rows, width) matrix.
inline matrix rows_of(const std::vector<double>& data, std::size_t rows,
                      std::size_t width)
{
    matrix m = xt::empty<double>({rows, width});
    std::copy(data.begin(), data.end(), m.begin());
    return m;
}

}  // namespace detail

inline matrix attention_layer(const matrix& x, const layer_weights& w,
                              std::size_t heads, std::size_t groups,
                              std::size_t p0 = 0, double base = 10000.0)
{
    if (x.shape()[0] == 0) {
        throw std::invalid_argument("attention_layer: x has no rows");
    }
    const std::size_t d =
        detail::expect_layer("attention_layer", x.shape()[1], w, heads,
                             groups);
    const matrix q =
        detail::rope_heads(xt::linalg::dot(x, w.w_q), d, p0, base);
    const matrix k =
        detail::rope_heads(xt::linalg::dot(x, w.w_k), d, p0, base);
    const matrix v = xt::linalg::dot(x, w.w_v);
    const matrix y_cat = causal_gqa(q, k, v, heads, groups);
    return xt::linalg::dot(y_cat, w.w_o) + w.b_o;
}

struct model {
    std::size_t heads = 4;
    std::size_t groups = 2;
    double rope_base = 10000.0;
    matrix w_e;
    std::vector<layer_weights> layers;
    matrix w_u;
};

namespace detail {

inline matrix embed(const char* where, const model& m,
                    const std::vector<std::size_t>& tokens)
{
    const std::size_t vocab = m.w_e.shape()[0], d_model = m.w_e.shape()[1];
    if (tokens.empty() || vocab == 0 || d_model == 0
        || m.w_u.shape() != std::array<std::size_t, 2>{d_model, vocab}) {
        throw std::invalid_argument(std::string(where)
                                    + ": no tokens, or W_E, W_U do not fit");
    }
    matrix x = xt::empty<double>({tokens.size(), d_model});
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i] >= vocab) {
            throw std::invalid_argument(std::string(where)
                                        + ": a token is not below V");
        }
        xt::row(x, i) = xt::row(m.w_e, tokens[i]);
    }
    for (const auto& w : m.layers) {
        expect_layer(where, d_model, w, m.heads, m.groups);
    }
    return x;
}

}  // namespace detail

inline matrix model_forward(const model& m,
                            const std::vector<std::size_t>& tokens)
{
    matrix x = detail::embed("model_forward", m, tokens);
    for (const auto& w : m.layers) {
        x = x + attention_layer(x, w, m.heads, m.groups, 0, m.rope_base);
    }
    return xt::linalg::dot(x, m.w_u);
}

struct layer_cache {
    std::size_t length = 0;
    std::vector<double> k;
    std::vector<double> v;
};

inline matrix attention_step(layer_cache& cache, const matrix& x_new,
                             const layer_weights& w, std::size_t heads,
                             std::size_t groups, double base = 10000.0)
{
    const std::size_t n_new = x_new.shape()[0];
    if (n_new == 0) {
        throw std::invalid_argument("attention_step: x_new has no rows");
    }
    const std::size_t d = detail::expect_layer(
        "attention_step", x_new.shape()[1], w, heads, groups);
    const std::size_t width = groups * d, t = cache.length;
    if (cache.k.size() != t * width || cache.v.size() != t * width) {
        throw std::invalid_argument("attention_step: the cache does not "
                                    "hold length rows of G d numbers");
    }
    const matrix q =
        detail::rope_heads(xt::linalg::dot(x_new, w.w_q), d, t, base);
    const matrix k_new =
        detail::rope_heads(xt::linalg::dot(x_new, w.w_k), d, t, base);
    const matrix v_new = xt::linalg::dot(x_new, w.w_v);
    cache.k.insert(cache.k.end(), k_new.begin(), k_new.end());
    cache.v.insert(cache.v.end(), v_new.begin(), v_new.end());
    cache.length += n_new;
    const matrix y_cat = causal_gqa(
        q, detail::rows_of(cache.k, cache.length, width),
        detail::rows_of(cache.v, cache.length, width), heads, groups);
    return xt::linalg::dot(y_cat, w.w_o) + w.b_o;
}

inline matrix decode_step(const model& m, std::vector<layer_cache>& caches,
                          const std::vector<std::size_t>& tokens_new)
{
    matrix x = detail::embed("decode_step", m, tokens_new);
    if (caches.empty()) {
        caches.resize(m.layers.size());
    }
    if (caches.size() != m.layers.size()) {
        throw std::invalid_argument("decode_step: expected one cache per "
                                    "layer");
    }
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        x = x + attention_step(caches[l], x, m.layers[l], m.heads, m.groups,
                               m.rope_base);
    }
    return xt::linalg::dot(x, m.w_u);
}

struct generation {
    std::vector<std::size_t> tokens;
    matrix logits;
};

inline generation generate_cached(const model& m,
                                  const std::vector<std::size_t>& prompt,
                                  std::size_t n_new)
{
    std::vector<layer_cache> caches;
    generation g{prompt, decode_step(m, caches, prompt)};
    for (std::size_t step = 0; step < n_new; ++step) {
        const std::size_t last = g.logits.shape()[0] - 1;
        const auto row = xt::row(g.logits, last);
        const std::size_t next = std::size_t(
            std::max_element(row.begin(), row.end()) - row.begin());
        g.tokens.push_back(next);
        const matrix logits = decode_step(m, caches, {next});
        matrix all = xt::empty<double>({last + 2, logits.shape()[1]});
        xt::view(all, xt::range(0, last + 1), xt::all()) = g.logits;
        xt::row(all, last + 1) = xt::row(logits, 0);
        g.logits = all;
    }
    return g;
}

}  // namespace capstone

// Chapter 7's playground, "ch07-induction": the chapter's main two-layer
// model (seed 1, trained by code/ch07_layers.cpp, which writes its
// weights as pg_ch07_*.npy for the page) on a sequence the reader types:
// every head's attention weights and the model's prediction of the next
// token at each position (Eq. 7.4's forward pass, decoder_model_forward).
//
// Inputs:  tokens (n,)  whole numbers in 0 .. |V| - 1, 1 <= n <= n_max
//          W_E (|V|, d), W_P (n_max, d), W_U (d, |V|), and per layer
//          l = 0, 1: W_q_l, W_k_l, W_v_l, W_o_l (d, d), b_o_l (d,)
// Outputs: a_0, a_1 (H, n, n)  the weights of layer 0 and layer 1
//          prediction (n,)     the most probable next token at each i
//          p_top (n,)          its probability
//          p_next (n,)         the probability of the typed next token
//                              t_{i+1} (NaN at the last position)
#pragma once

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "attention/decoder_model.hpp"
#include "web/playground.hpp"

namespace web::ch07 {

// The chapter's model (code/ch07_layers.cpp): |V| = 16, n_max = 16,
// d_model = 32, H = 2, two layers.
inline attn::decoder_sizes chapter_sizes() { return {16, 16, 32, 2, 2}; }

inline std::vector<std::size_t> read_tokens(const inputs& in,
                                            const attn::decoder_sizes& s)
{
    const auto& t = in.get("tokens");
    if (t.empty() || t.size() > s.n_max) {
        throw input_error("expected 1 to " + std::to_string(s.n_max)
                          + " tokens, got " + std::to_string(t.size()));
    }
    std::vector<std::size_t> tokens;
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (!(t[i] >= 0.0 && t[i] < double(s.vocab))
            || t[i] != std::floor(t[i])) {
            std::ostringstream m;
            m << "token " << i + 1 << ": expected a whole number from 0 to "
              << s.vocab - 1 << ", got " << t[i];
            throw input_error(m.str());
        }
        tokens.push_back(std::size_t(t[i]));
    }
    return tokens;
}

inline outputs induction(const inputs& in)
{
    const attn::decoder_sizes s = chapter_sizes();
    const std::size_t d = s.d_model;
    const std::vector<std::size_t> tokens = read_tokens(in, s);
    attn::decoder_model m;
    m.w_e = in.matrix("W_E", s.vocab, d);
    m.w_p = in.matrix("W_P", s.n_max, d);
    m.w_u = in.matrix("W_U", d, s.vocab);
    for (std::size_t l = 0; l < s.layers; ++l) {
        const std::string k = "_" + std::to_string(l);
        attn::multi_head_weights w;
        w.w_q = in.matrix("W_q" + k, d, d);
        w.w_k = in.matrix("W_k" + k, d, d);
        w.w_v = in.matrix("W_v" + k, d, d);
        w.w_o = in.matrix("W_o" + k, d, d);
        w.b_o = xt::view(in.matrix("b_o" + k, 1, d), 0, xt::all());
        m.layers.push_back(w);
    }
    const std::size_t n = tokens.size();
    std::vector<int> target(n, -1);  // the typed next tokens
    for (std::size_t i = 0; i + 1 < n; ++i) {
        target[i] = int(tokens[i + 1]);
    }
    const attn::decoder_forward f =
        attn::decoder_model_forward(s, m, tokens, target);
    std::vector<double> prediction, p_top, p_next;
    for (std::size_t i = 0; i < n; ++i) {
        const auto row = xt::row(f.p, i);
        const std::size_t best = std::size_t(xt::argmax(row)());
        prediction.push_back(double(best));
        p_top.push_back(f.p(i, best));
        p_next.push_back(target[i] < 0
                             ? std::numeric_limits<double>::quiet_NaN()
                             : f.p(i, std::size_t(target[i])));
    }
    outputs out;
    for (std::size_t l = 0; l < s.layers; ++l) {
        out.add_tensor("a_" + std::to_string(l), f.layer[l].a);
    }
    out.add("prediction", prediction);
    out.add("p_top", p_top);
    out.add("p_next", p_next);
    return out;
}

inline const define induction_playground{"ch07-induction", induction};

}  // namespace web::ch07

// Chapter 3: multi-head attention. Heads split one projected Q, K, V into
// column blocks, attend in parallel, and write through their own rows of
// W_o; a gate per head can switch one off.
//
//   ch03_multi_head                     the chapter's demonstrations
//   ch03_multi_head --save E            also writes the two-head example's
//       inputs X.npy, W_q.npy, W_k.npy, W_v.npy, W_o.npy, b_o.npy and its
//       outputs A.npy (2, n, n), Y.npy (n, d_model) to E
//   ch03_multi_head --heads H --load D --save E
//       reads D/X.npy (n, d_model), D/W_q.npy, D/W_k.npy, D/W_v.npy,
//       D/W_o.npy (d_model, d_model) and D/b_o.npy (d_model,), and writes
//       E/A.npy (H, n, n) and E/Y.npy (n, d_model)
//   ch03_multi_head --out D             also writes the figure and table data
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include <xtensor/xio.hpp>
#include <xtensor/xsort.hpp>

#include "attention/multi_head.hpp"
#include "attention/random.hpp"
#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/output.hpp"
#include "book/plot.hpp"

namespace {

using attn::matrix;
using attn::vector;

// "the cat sat on the mat the end": 8 tokens, 6 distinct words. Each token
// is a row of X = [word one-hot (6) | position one-hot (8) | 0 0], so
// d_model = 16, and with H = 2 heads each head owns d_k = 8 columns.
const std::vector<std::string> words = {"the", "cat", "sat", "on",
                                        "mat", "end"};
const std::vector<std::size_t> sentence = {0, 1, 2, 3, 0, 4, 0, 5};
constexpr std::size_t n_words = 6, n_pos = 8, d_model = 16, d_k = 8;
constexpr std::size_t word0 = 0, pos0 = n_words;  // first column of each

matrix example_x()
{
    matrix x = xt::zeros<double>({sentence.size(), d_model});
    for (std::size_t i = 0; i < sentence.size(); ++i) {
        x(i, word0 + sentence[i]) = 1.0;
        x(i, pos0 + i) = 1.0;
    }
    return x;
}

// [ch03-two-head-example]
// Row p of X holds word c in column word0 + c (word0 = 0) and position p in
// column pos0 + p (pos0 = 6). Head 0 owns columns 0..7 of Q, K, V, head 1
// columns 8..15 (d_k = 8). Head 0, "previous position": the query of
// position p is position p - 1 (position 0, having none, asks for
// itself), the key is the position, the value the word. Head 1, "same
// word": query and key are the word, the value is the position.
attn::multi_head_weights example_weights()
{
    // A match scores beta / sqrt(d_k) = 10: a key that does not match gets
    // exp(-10) ~ 5e-5 of the weight of one that does.
    const double beta = 10.0 * std::sqrt(double(d_k));
    const matrix zero = xt::zeros<double>({d_model, d_model});
    attn::multi_head_weights w{zero, zero, zero, xt::eye<double>(d_model),
                               xt::zeros<double>({d_model})};
    for (std::size_t p = 0; p < n_pos; ++p) {
        w.w_q(pos0 + p, p == 0 ? 0 : p - 1) = beta;  // head 0: query p - 1
        w.w_k(pos0 + p, p) = 1.0;                    // head 0: key p
        w.w_v(pos0 + p, d_k + p) = 1.0;              // head 1: value p
    }
    for (std::size_t c = 0; c < n_words; ++c) {
        w.w_v(word0 + c, c) = 1.0;                   // head 0: value c
        w.w_q(word0 + c, d_k + c) = beta;            // head 1: query c
        w.w_k(word0 + c, d_k + c) = 1.0;             // head 1: key c
    }
    return w;  // W_o = identity, b_o = 0: y is the heads side by side
}
// [ch03-two-head-example]

std::vector<std::string> token_labels()
{
    std::vector<std::string> labels;
    for (std::size_t i = 0; i < sentence.size(); ++i) {
        labels.push_back(std::to_string(i) + " " + words[sentence[i]]);
    }
    return labels;
}

// The word that y's first six columns (head 0's output through the
// identity W_o) point to, for every token: the column above 1/2, or
// n_words when none is.
std::vector<std::size_t> previous_word_read(const matrix& y)
{
    std::vector<std::size_t> read;
    for (std::size_t i = 0; i < y.shape()[0]; ++i) {
        const auto row = xt::view(y, i, xt::range(0, n_words));
        const std::size_t best = xt::argmax(row)();
        read.push_back(row(best) > 0.5 ? best : n_words);
    }
    return read;
}

attn::multi_head_result two_head_demo(const book::output_sink& out,
                                      const std::string& save_dir)
{
    const matrix x = example_x();
    const auto w = example_weights();
    const auto r = attn::multi_head_attention(x, x, w, 2);
    const auto labels = token_labels();
    std::cout << "Two heads set by hand on \"the cat sat on the mat the "
                 "end\"\n(d_model = 16, H = 2, d_k = 8):\n"
              << "  token      head 0 looks at     head 1 looks at\n";
    for (std::size_t i = 0; i < sentence.size(); ++i) {
        std::string same;
        for (std::size_t j = 0; j < sentence.size(); ++j) {
            if (r.a(1, i, j) > 0.01) {
                same += (same.empty() ? "" : ", ") + std::to_string(j)
                        + " (" + book::fmt(r.a(1, i, j), "%.2f") + ")";
            }
        }
        const std::size_t prev = xt::argmax(xt::view(r.a, 0, i))();
        std::cout << "  " << book::fmt(double(i), "%.0f") << " "
                  << words[sentence[i]]
                  << std::string(9 - words[sentence[i]].size(), ' ')
                  << std::to_string(prev) << " " << words[sentence[prev]]
                  << " (" << book::fmt(r.a(0, i, prev), "%.4f") << ")"
                  << std::string(7 - words[sentence[prev]].size(), ' ')
                  << same << '\n';
    }
    // The same weights as one head of full width (H = 1, d_k = 16): a
    // match now scores beta / sqrt(16), and "cat" (token 1) must share
    // its weight between the previous token and its own word.
    const auto one = attn::multi_head_attention(x, x, w, 1);
    const double beta = 10.0 * std::sqrt(double(d_k));
    std::cout << "\nThe same weights as one head (H = 1, d_k = " << d_model
              << "):\n  a match scores beta/sqrt(" << d_model << ") = "
              << book::fmt(beta / std::sqrt(double(d_model)), "%.2f")
              << ", not 10;\n  \"cat\" puts "
              << book::fmt(one.a(0, 1, 0), "%.3f") << " on 0 the (the "
              << "previous token)\n  and " << book::fmt(one.a(0, 1, 1), "%.3f")
              << " on 1 cat (its own word)\n\n";
    book::heatmap_style style;
    style.row_labels = labels;
    style.col_labels = labels;
    style.title = "Head 0: the previous position";
    out.heatmap("ch03_head0_previous.svg",
                xt::view(r.a, 0, xt::all(), xt::all()), style);
    style.title = "Head 1: the same word";
    out.heatmap("ch03_head1_same_word.svg",
                xt::view(r.a, 1, xt::all(), xt::all()), style);
    style.title = "One head, same weights: both patterns mixed";
    out.heatmap("ch03_one_head.svg",
                xt::view(one.a, 0, xt::all(), xt::all()), style);
    if (!save_dir.empty()) {
        book::save_outputs(save_dir, "X.npy", x, "W_q.npy", w.w_q, "W_k.npy",
                           w.w_k, "W_v.npy", w.w_v, "W_o.npy", w.w_o,
                           "b_o.npy", w.b_o, "A.npy", r.a, "Y.npy", r.y);
        std::cout << '\n';
    }
    return r;
}

// [ch03-gate-demo]
// Switch each head off with its gate and ask the output the question head
// 0 answers: which word came before this token?
void gate_demo(const book::output_sink& out)
{
    const matrix x = example_x();
    const auto w = example_weights();
    const auto full = attn::multi_head_attention(x, x, w, 2);
    book::table t{{"gates", "previous word right", "largest change of y"},
                  {}};
    for (const vector& gates : {vector{1.0, 1.0}, vector{1.0, 0.0},
                                vector{0.0, 1.0}}) {
        const auto r = attn::multi_head_attention(x, x, w, 2, {}, gates);
        const auto read = previous_word_read(r.y);
        std::size_t right = 0;
        for (std::size_t i = 1; i < sentence.size(); ++i) {
            right += read[i] == sentence[i - 1];
        }
        const double change = xt::amax(xt::abs(r.y - full.y))();
        t.add({"(" + book::fmt(gates(0)) + ", " + book::fmt(gates(1)) + ")",
               std::to_string(right) + " of "
                   + std::to_string(sentence.size() - 1),
               book::fmt(change)});
    }
    std::cout << "Gates (xi_0, xi_1) on the two-head example:\n";
    t.print(std::cout);
    std::cout << '\n';
    t.header = {"gates (<i>&xi;</i><sub>0</sub>, <i>&xi;</i><sub>1</sub>)",
                "previous word read right", "largest change of <i>y</i>"};
    out.markdown("ch03_gates.md", t);
}
// [ch03-gate-demo]

// Multiply-adds of one layer for n = 128 tokens and d_model = 512, the
// width of the base transformer, as the number of heads grows.
void cost_demo(const book::output_sink& out)
{
    const std::size_t n = 128, width = 512;
    book::table t{{"H", "d_k", "projections", "scores+mixing", "output",
                   "total", "exponentials"},
                  {}};
    for (std::size_t heads : {1u, 2u, 4u, 8u, 16u}) {
        const auto c = attn::multi_head_multiply_adds(n, n, width, heads);
        t.add({std::to_string(heads), std::to_string(width / heads),
               book::with_commas(c.projections),
               book::with_commas(c.scores + c.mixing),
               book::with_commas(c.output), book::with_commas(c.total()),
               book::with_commas(c.exponentials)});
    }
    std::cout << "Multiply-adds, n = " << n << " tokens, d_model = " << width
              << ":\n";
    t.print(std::cout);
    std::cout << '\n';
    t.header = {"<i>H</i>", "<i>d<sub>k</sub></i>", "projections",
                "scores + mixing", "output", "total multiply-adds",
                "exponentials"};
    out.markdown("ch03_cost.md", t);
}

// The identities of the chapter on a random layer, as numbers.
void identities_demo(std::uint64_t seed)
{
    attn::rng random(seed);
    const std::size_t n = 6, width = 8, heads = 4, dk = width / heads;
    const matrix x = attn::normal_matrix(n, width, random);
    const attn::multi_head_weights w =
        attn::random_multi_head_weights(width, random);
    const auto r = attn::multi_head_attention(x, x, w, heads);
    const matrix v_tilde = attn::multi_head_attention_columns(
        xt::transpose(x), xt::transpose(x), w, heads);
    matrix by_head = xt::zeros<double>({n, width});
    for (std::size_t h = 0; h < heads; ++h) {
        const matrix y_h = attn::head_view(r.heads, h, dk);
        const matrix w_o_h = xt::view(w.w_o, xt::range(h * dk, (h + 1) * dk),
                                      xt::all());
        by_head += xt::linalg::dot(y_h, w_o_h);
    }
    vector gates = xt::ones<double>({heads});
    gates(1) = 0.0;
    auto removed = w;
    xt::view(removed.w_o, xt::range(dk, 2 * dk), xt::all()) = 0.0;
    const double gate_diff = xt::amax(xt::abs(
        attn::multi_head_attention(x, x, w, heads, {}, gates).y
        - attn::multi_head_attention(x, x, removed, heads).y))();
    std::cout << "A random layer (seed " << seed << ", n = " << n
              << ", d_model = " << width << ", H = " << heads << "):\n"
              << "  column form (Eq. 3.5):\n"
              << "    largest |V~ - y^T| = "
              << book::fmt(xt::amax(xt::abs(v_tilde - xt::transpose(r.y)))(),
                           "%.2g")
              << "\n  sum over heads (Eq. 3.6):\n"
              << "    largest |sum_h Y^h W_o^h + b_o - y| = "
              << book::fmt(xt::amax(xt::abs(by_head + w.b_o - r.y))(), "%.2g")
              << "\n  gate xi_1 = 0 against W_o without head 1's rows "
                 "(Eq. 3.7):\n    largest difference = "
              << book::fmt(gate_diff, "%.2g") << '\n';
}

int run_load_save(const book::common_args& args, std::size_t heads)
{
    const auto& dir = args.load_dir;
    const auto x = book::load_npy<2>(book::path_in(dir, "X.npy"));
    attn::multi_head_weights w;
    w.w_q = book::load_npy<2>(book::path_in(dir, "W_q.npy"));
    w.w_k = book::load_npy<2>(book::path_in(dir, "W_k.npy"));
    w.w_v = book::load_npy<2>(book::path_in(dir, "W_v.npy"));
    w.w_o = book::load_npy<2>(book::path_in(dir, "W_o.npy"));
    w.b_o = book::load_npy<1>(book::path_in(dir, "b_o.npy"));
    const std::size_t width = x.shape()[1];
    for (auto [name, m] : {std::pair{"W_q.npy", &w.w_q},
                           std::pair{"W_k.npy", &w.w_k},
                           std::pair{"W_v.npy", &w.w_v},
                           std::pair{"W_o.npy", &w.w_o}}) {
        if (m->shape()[0] != width || m->shape()[1] != width) {
            throw book::usage_error(
                std::string(name) + " has shape " + attn::shape_string(
                    m->shape()) + ", expected (d_model, d_model) = ("
                + std::to_string(width) + ", " + std::to_string(width)
                + ") to fit X.npy " + attn::shape_string(x.shape()));
        }
    }
    if (w.b_o.shape()[0] != width) {
        throw book::usage_error(
            "b_o.npy has shape " + attn::shape_string(w.b_o.shape())
            + ", expected (d_model,) = (" + std::to_string(width)
            + ",) to fit X.npy " + attn::shape_string(x.shape()));
    }
    if (heads == 0 || width % heads != 0) {
        throw book::usage_error(
            "--heads " + std::to_string(heads) + " does not divide d_model = "
            + std::to_string(width) + " (the width of X.npy "
            + attn::shape_string(x.shape()) + ")");
    }
    const auto r = attn::multi_head_attention(x, x, w, heads);
    book::save_outputs(args.save_dir, "A.npy", r.a, "Y.npy", r.y);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return book::run_program(
        argc, argv, "ch03_multi_head",
        "Multi-head attention: heads as column blocks of one projected Q, "
        "K, V; a hand-set two-head example; costs; head gates.",
        [](cxxopts::Options& options) {
            options.add_options()(
                "heads", "number of heads H for --load (must divide d_model)",
                cxxopts::value<std::size_t>()->default_value("2"), "H");
        },
        [](const cxxopts::ParseResult& result,
           const book::common_args& args) {
            const std::size_t heads = result["heads"].as<std::size_t>();
            if (heads == 0) {
                throw book::usage_error("--heads: expected a positive "
                                        "whole number, got '0'");
            }
            if (!args.load_dir.empty()) {
                return run_load_save(args, heads);
            }
            if (result.count("heads")) {
                throw book::usage_error("--heads applies to --load DIR; the "
                                        "demonstrations fix their own H");
            }
            const book::output_sink out(args.out_dir);
            two_head_demo(out, args.save_dir);
            gate_demo(out);
            cost_demo(out);
            identities_demo(args.seed);
            return 0;
        });
}

// Chapter 2: self-attention, and why the scores are divided by sqrt(d_k).
//
//   ch02_self_attention                  the chapter's demonstrations
//   ch02_self_attention --load D --save E
//       reads D/X.npy (n, d_model), D/W_q.npy, D/W_k.npy (d_model, d_k)
//       and D/W_v.npy (d_model, d_v); writes E/Q.npy, E/K.npy (n, d_k),
//       E/V.npy (n, d_v), E/S.npy, E/A.npy (n, n) and E/Y.npy (n, d_v)
//   ch02_self_attention --out D          also writes the figure and table
//                                        data
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include <xtensor/xsort.hpp>

#include "attention/positional.hpp"
#include "attention/random.hpp"
#include "attention/self_attention.hpp"
#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/output.hpp"
#include "book/plot.hpp"

namespace {

using attn::matrix;

// The hand-made sentence of the chapter (attn::sentence, in
// self_attention.hpp, shared with the chapter's playground).
using attn::sentence::d_model;
using attn::sentence::words;

matrix sentence_w_q() { return attn::sentence::w_q(); }

matrix sentence_x() { return attn::sentence::embed(attn::sentence::kinds); }

void sentence_demo(const book::output_sink& out)
{
    const matrix x = sentence_x();                            // (10, 8)
    const matrix eye = xt::eye<double>(std::size_t(d_model));
    const auto r = attn::self_attention(x, sentence_w_q(), eye, eye);
    std::cout << "Self-attention on a hand-made sentence (d_k = 8): each "
                 "word's largest weight\n";
    for (std::size_t i = 0; i < words.size(); ++i) {
        const double top = xt::amax(xt::row(r.a, i))();
        std::cout << "  " << book::fmt(double(i), "%2.0f") << ' '
                  << words[i] << std::string(8 - words[i].size(), ' ')
                  << book::fmt(top, "%.3f") << " on";
        for (std::size_t j = 0; j < words.size(); ++j) {
            if (top - r.a(i, j) < 1e-12) {     // every key that ties
                std::cout << ' ' << j << ' ' << words[j];
            }
        }
        std::cout << '\n';
    }
    // The output of "it" is a mix of the kinds it attended to.
    std::cout << "  output y of \"it\" (features animal, thing, det, verb, "
                 "pron, prep, conj, adj):\n   ";
    for (std::size_t f = 0; f < std::size_t(d_model); ++f) {
        std::cout << ' ' << book::fmt(r.y(7, f), "%.3f");
    }
    // Without the scale the same scores are sqrt(8) times larger.
    const matrix a_raw = attn::softmax_rows(r.s * std::sqrt(8.0));
    std::cout << "\n  \"it\" puts " << book::fmt(r.a(7, 1), "%.4f")
              << " on \"cat\"; without the 1/sqrt(d_k) scale it would put "
              << book::fmt(a_raw(7, 1), "%.4f") << "\n\n";
    book::heatmap_style style;
    style.title = "Self-attention weights A (Eq. 2.3), dₖ = 8";
    style.row_axis = "query word";
    style.col_axis = "key word";
    for (std::size_t t = 0; t < words.size(); ++t) {
        style.row_labels.push_back(std::to_string(t) + " " + words[t]);
        style.col_labels.push_back(words[t]);
    }
    out.heatmap("ch02_sentence_attention.svg", r.a, style);
}

// A row of numbers as a tuple, "(1, 0.5, 0, 0)".
std::string tuple(const matrix& m, std::size_t row, const char* format)
{
    std::string text = "(";
    for (std::size_t c = 0; c < m.shape()[1]; ++c) {
        text += (c > 0 ? ", " : "") + book::fmt(m(row, c), format);
    }
    return text + ")";
}

// The walk-through near the start of the chapter: Eqs. (2.1)-(2.4) on six
// tokens with d_model = d_k = d_v = 4 and hand-chosen numbers, every
// intermediate matrix, then query row 2 step by step. Printed, and written
// as five tables that the chapter includes.
void walkthrough_demo(const book::output_sink& out)
{
    const attn::walkthrough_inputs in = attn::walkthrough_example();
    const auto r = attn::self_attention(in.x, in.w_q, in.w_k, in.w_v);
    const std::size_t n = in.tokens.size(), i = 2;
    const auto& tok = in.tokens;
    std::cout << "Walk-through of Eqs. (2.1)-(2.4): \"the dog chased a red "
                 "ball\",\nd_model = d_k = d_v = 4. The projections, row c "
                 "of each:\n";
    // The projections, one row c of each per line.
    book::table w{{"c", "W_q row c", "W_k row c", "W_v row c"}, {}};
    for (std::size_t c = 0; c < in.w_q.shape()[0]; ++c) {
        w.add({std::to_string(c), tuple(in.w_q, c, "%.4g"),
               tuple(in.w_k, c, "%.4g"), tuple(in.w_v, c, "%.4g")});
    }
    w.print(std::cout);
    w.page_header = {"<i>c</i>", "row <i>c</i> of <i>W<sub>q</sub></i>",
                     "row <i>c</i> of <i>W<sub>k</sub></i>",
                     "row <i>c</i> of <i>W<sub>v</sub></i>"};
    w.nowrap = {1, 2, 3};
    out.markdown("ch02_walk_projections.md", w);
    // Each token's x_t and its query, key and value, Eq. (2.1).
    book::table t{{"t token", "x_t", "q_t", "k_t", "v_t"}, {}};
    for (std::size_t row = 0; row < n; ++row) {
        t.add({std::to_string(row) + " " + tok[row], tuple(in.x, row, "%.4g"),
               tuple(r.q, row, "%.4g"), tuple(r.k, row, "%.4g"),
               tuple(r.v, row, "%.4g")});
    }
    std::cout << "\nEach token x_t, its query, key and value (Eq. 2.1):\n";
    t.print(std::cout);
    t.page_header = {"<i>t</i>, token", "<i>x<sub>t</sub></i>",
                     "<i>q<sub>t</sub></i>", "<i>k<sub>t</sub></i>",
                     "<i>v<sub>t</sub></i>"};
    t.nowrap = {1, 2, 3, 4};
    out.markdown("ch02_walk_tokens.md", t);
    // S (Eq. 2.2), then A (Eq. 2.3) with Y (Eq. 2.4) beside it.
    std::vector<std::string> keys = {"query \\ key"};
    for (std::size_t j = 0; j < n; ++j) {
        keys.push_back(std::to_string(j) + " " + tok[j]);
    }
    book::table sc{keys, {}};
    std::vector<std::string> a_header = keys;
    a_header.push_back("y_i");
    book::table aw{a_header, {}};
    for (std::size_t q = 0; q < n; ++q) {
        std::vector<std::string> s_cells = {std::to_string(q) + " " + tok[q]};
        std::vector<std::string> a_cells = s_cells;
        for (std::size_t j = 0; j < n; ++j) {
            s_cells.push_back(book::fmt(r.s(q, j), "%.3f"));
            a_cells.push_back(book::fmt(r.a(q, j), "%.3f"));
        }
        a_cells.push_back(tuple(r.y, q, "%.3f"));
        sc.add(s_cells);
        aw.add(a_cells);
    }
    std::cout << "\nS = Q K^T / sqrt(4) (Eq. 2.2):\n";
    sc.print(std::cout);
    // The console shows A and Y one below the other, to fit 80 columns.
    book::table a_console{keys, {}}, y_console{{"query", "y_i"}, {}};
    for (const auto& cells : aw.rows) {
        a_console.add({cells.begin(), cells.end() - 1});
        y_console.add({cells.front(), cells.back()});
    }
    std::cout << "\nA = softmax_rows(S) (Eq. 2.3):\n";
    a_console.print(std::cout);
    std::cout << "\nY = A V (Eq. 2.4):\n";
    y_console.print(std::cout);
    sc.page_header = keys;
    sc.page_header[0] = "query <i>i</i> &darr; key <i>j</i> &rarr;";
    out.markdown("ch02_walk_scores.md", sc);
    aw.page_header = sc.page_header;
    aw.page_header.push_back("<i>y<sub>i</sub></i>");
    aw.nowrap = {n + 1};
    out.markdown("ch02_walk_weights.md", aw);
    // Query row i = 2 by hand: subtract the largest score, exponentiate,
    // normalise, mix the values.
    const attn::row_by_hand h = attn::attention_row_by_hand(r.s, r.v, i);
    book::table row{{"j", "key", "s_2j", "s_2j - m_2", "exp(s_2j - m_2)",
                     "a_2j"},
                    {}};
    book::table mix{{"j", "key", "a_2j", "v_j", "a_2j v_j"}, {}};
    for (std::size_t j = 0; j < n; ++j) {
        const matrix mixed = h.a[j] * xt::view(r.v, xt::range(j, j + 1),
                                               xt::all());    // (1, 4)
        row.add({std::to_string(j), tok[j], book::fmt(r.s(i, j), "%.3f"),
                 book::fmt(h.shifted[j], "%.3f"),
                 book::fmt(h.e[j], "%.3f"), book::fmt(h.a[j], "%.3f")});
        mix.add({std::to_string(j), tok[j], book::fmt(h.a[j], "%.3f"),
                 tuple(r.v, j, "%.4g"), tuple(mixed, 0, "%.3f")});
    }
    row.add({"sum", "", "", "", book::fmt(h.total, "%.3f"),
             book::fmt(std::accumulate(h.a.begin(), h.a.end(), 0.0),
                       "%.3f")});
    mix.add({"sum", "", "", "", "y_2 = " + tuple(h.y, 0, "%.3f")});
    std::cout << "\nQuery row " << i << " (\"" << tok[i] << "\") by hand, "
              << "m_2 = " << book::fmt(h.m, "%.3f") << ":\n";
    row.print(std::cout);
    std::cout << "and its output, the values mixed by its weights:\n";
    mix.print(std::cout);
    std::cout << '\n';
    const std::string a_2j = "<i>a</i><sub>2<i>j</i></sub>";
    row.page_header = {"<i>j</i>", "key", "<i>s</i><sub>2<i>j</i></sub>",
                       "<i>s</i><sub>2<i>j</i></sub> &minus; "
                       "<i>m</i><sub>2</sub>",
                       "exp(<i>s</i><sub>2<i>j</i></sub> &minus; "
                       "<i>m</i><sub>2</sub>)",
                       a_2j};
    row.rows.back()[0] = "**sum**";
    out.markdown("ch02_walk_row.md", row);
    mix.page_header = {"<i>j</i>", "key", a_2j, "<i>v<sub>j</sub></i>",
                       a_2j + " <i>v<sub>j</sub></i>"};
    mix.rows.back()[0] = "**sum**";
    mix.rows.back()[4] = "<b><i>y</i><sub>2</sub> = "
                         + tuple(h.y, 0, "%.3f") + "</b>";
    mix.nowrap = {3, 4};
    out.markdown("ch02_walk_mix.md", mix);
    const std::size_t top = std::size_t(
        std::max_element(h.e.begin(), h.e.end()) - h.e.begin());
    out.text("ch02_walk_row_max.md",
             "Row " + std::to_string(i) + " is the query of “" + tok[i]
             + "”. Its largest score is <i>m</i><sub>"
             + std::to_string(i) + "</sub> = " + book::fmt(h.m, "%.3f")
             + ", the score of key "
             + std::to_string(top) + ", “" + tok[top] + "”.\n");
}

// Exercise 6: the same sentence with x_t + PE_t (Eq. 2.9, d_model = 8)
// in place of x_t, and the same W_q, W_k = W_v = I.
void sentence_with_positions_demo()
{
    const matrix x = sentence_x();                            // (10, 8)
    const matrix eye = xt::eye<double>(std::size_t(d_model));
    const matrix pe = attn::sinusoidal_positional_encoding(
        words.size(), std::size_t(d_model));                  // (10, 8)
    const matrix a = attn::self_attention(x, sentence_w_q(), eye, eye).a;
    const matrix a_pe =
        attn::self_attention(x + pe, sentence_w_q(), eye, eye).a;
    const matrix change = xt::abs(a_pe - a);                  // (10, 10)
    const std::size_t worst = xt::argmax(change)() / words.size();
    const std::size_t it = 7;
    std::size_t on_it = 0;
    double low = 1.0, high = 0.0;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (xt::argmax(xt::row(a_pe, i))() == it) {
            ++on_it;
            low = std::min(low, a_pe(i, it));
            high = std::max(high, a_pe(i, it));
        }
    }
    double the_gap = 0.0;
    for (std::size_t j = 0; j < words.size(); ++j) {
        the_gap = std::max(the_gap, std::abs(a_pe(0, j) - a_pe(4, j)));
    }
    std::cout << "The same sentence with x_t + PE_t (Eq. 2.9, d_model = 8),\n"
                 "same W_q, W_k = W_v = I:\n"
              << "  largest change of one weight: "
              << book::fmt(xt::amax(change)(), "%.3f") << " (query \""
              << words[worst] << "\")\n  " << on_it << " of "
              << words.size() << " words put their largest weight on "
              << "\"it\", from " << book::fmt(low, "%.3f") << " to "
              << book::fmt(high, "%.3f") << "\n"
              << "  the rows of the two \"the\" now differ by up to "
              << book::fmt(the_gap, "%.3f") << "\n\n";
}

// [ch02-scaling-sweep]
constexpr std::size_t n_pairs = 20000, n_q = 200, n_k = 32;

// One row of the sweep, for one width d_k: the sample variance of q.k
// over n_pairs random pairs (Eq. 2.6), and how saturated the softmax of
// n_k such scores is, without and with the scale 1/sqrt(d_k) (Eq. 2.7),
// as a mean over n_q random queries.
struct scaling_row {
    attn::dot_product_sample dots;            // mean and variances of q.k
    double std_err = 0.0;                     // of the sample variance
    attn::softmax_saturation unscaled, scaled;
};

scaling_row measure_scaling(std::size_t d_k, std::uint64_t seed,
                            attn::rng& random)
{
    scaling_row r;
    r.dots = attn::measure_dot_products(d_k, n_pairs, seed + d_k);
    // Standard error of a sample variance: sqrt((2 d^2 + 6 d) / N).
    const double d = double(d_k);
    r.std_err = std::sqrt((2 * d * d + 6 * d) / double(n_pairs));
    const matrix q = attn::normal_matrix(n_q, d_k, random);   // (n_q, d_k)
    const matrix k = attn::normal_matrix(n_k, d_k, random);   // (n_k, d_k)
    const matrix raw = xt::linalg::dot(q, xt::transpose(k));  // (n_q, n_k)
    r.unscaled = attn::measure_saturation(raw);
    r.scaled = attn::measure_saturation(raw / std::sqrt(d));
    return r;
}
// [ch02-scaling-sweep]

// The sweep over d_k = 4, 8, ..., 1024, printed and written as tables and
// as columns for Figure 2.2.
void scaling_demo(std::uint64_t seed, const book::output_sink& out)
{
    std::vector<std::vector<double>> columns(11);
    book::table var{{"d_k", "mean", "variance", "std.err.", "variance/d_k"},
                    {}};
    book::table sat{{"d_k", "largest", "scaled", "entropy", "scaled",
                     "Jacobian", "scaled"},
                    {}};
    attn::rng random(seed);
    for (std::size_t d_k = 4; d_k <= 1024; d_k *= 2) {
        const scaling_row r = measure_scaling(d_k, seed, random);
        const auto& m = r.dots;
        const auto& unscaled = r.unscaled;
        const auto& scaled = r.scaled;
        const double d = double(d_k), se = r.std_err;
        const std::vector<double> row = {
            d, m.variance, m.variance_scaled, se,
            unscaled.max_weight, scaled.max_weight,
            unscaled.entropy, scaled.entropy,
            unscaled.jacobian_norm, scaled.jacobian_norm, m.mean};
        for (std::size_t c = 0; c < row.size(); ++c) {
            columns[c].push_back(row[c]);
        }
        var.add({book::fmt(d, "%.0f"), book::fmt(m.mean, "%.3f"),
                 book::fmt(m.variance, "%.1f"), book::fmt(se, "%.2f"),
                 book::fmt(m.variance_scaled, "%.3f")});
        sat.add({book::fmt(d, "%.0f"), book::fmt(unscaled.max_weight, "%.3f"),
                 book::fmt(scaled.max_weight, "%.3f"),
                 book::fmt(unscaled.entropy, "%.3f"),
                 book::fmt(scaled.entropy, "%.3f"),
                 book::fmt(unscaled.jacobian_norm, "%.2e"),
                 book::fmt(scaled.jacobian_norm, "%.2e")});
    }
    std::cout << "Var(q.k) for q, k with i.i.d. N(0, 1) entries, "
              << n_pairs << " pairs each\n(Eq. 2.6); the variance of "
                 "q.k/sqrt(d_k) is variance/d_k:\n";
    var.print(std::cout);
    std::cout << "\nSoftmax of " << n_k << " scores per query, mean over "
              << n_q << " queries (Eq. 2.7):\nthe largest weight, the "
                 "entropy (nats) and the Jacobian norm, each\nunscaled, "
                 "then scaled:\n";
    sat.print(std::cout);
    std::cout << "  (uniform weights over " << n_k << " keys: largest "
              << book::fmt(1.0 / double(n_k), "%.3f") << ", entropy log "
              << n_k << " = " << book::fmt(std::log(double(n_k)), "%.3f")
              << ")\n\n";
    out.columns("ch02_scaling.dat",
                {"d_k", "var", "var_scaled", "std_err", "max_w_raw",
                 "max_w_scaled", "entropy_raw", "entropy_scaled", "jac_raw",
                 "jac_scaled", "mean"},
                columns);
    // The same cells in the book, under headers that say more.
    var.header = {"<i>d<sub>k</sub></i>", "mean of <i>q</i>&middot;<i>k</i>",
                  "variance", "its standard error",
                  "variance of <i>q</i>&middot;<i>k</i> / &radic;<i>d<sub>k"
                  "</sub></i> (= variance / <i>d<sub>k</sub></i>)"};
    out.markdown("ch02_dot_variance.md", var);
    sat.header = {"<i>d<sub>k</sub></i>", "largest weight, unscaled",
                  "largest weight, scaled", "entropy, unscaled",
                  "entropy, scaled", "Jacobian norm, unscaled",
                  "Jacobian norm, scaled"};
    out.markdown("ch02_saturation.md", sat);
}

void order_demo(std::uint64_t seed, const book::output_sink& out)
{
    attn::rng random(seed);
    const matrix x = attn::normal_matrix(6, 8, random);       // (6, 8)
    const matrix w_q = attn::normal_matrix(8, 4, random);     // (8, 4)
    const matrix w_k = attn::normal_matrix(8, 4, random);     // (8, 4)
    const matrix w_v = attn::normal_matrix(8, 4, random);     // (8, 4)
    const std::vector<std::size_t> perm = {3, 0, 5, 1, 4, 2};
    const matrix y = attn::self_attention(x, w_q, w_k, w_v).y;
    const matrix y_p = attn::self_attention(attn::permute_rows(x, perm), w_q,
                                            w_k, w_v).y;
    const matrix pe = attn::sinusoidal_positional_encoding(6, 8);
    const matrix z = attn::self_attention(x + pe, w_q, w_k, w_v).y;
    const matrix z_p = attn::self_attention(attn::permute_rows(x, perm) + pe,
                                            w_q, w_k, w_v).y;
    auto gap = [](const matrix& a, const matrix& b) {
        return xt::amax(xt::abs(a - b))();
    };
    std::cout << "Permutation equivariance (Eq. 2.8), 6 random tokens, "
                 "order (3, 0, 5, 1, 4, 2):\n"
              << "  max |Y(PX) - P Y(X)|               = "
              << book::fmt(gap(y_p, attn::permute_rows(y, perm)), "%.2g")
              << "\n  with positional encodings added:\n"
              << "  max |Y(PX + PE) - P Y(X + PE)|     = "
              << book::fmt(gap(z_p, attn::permute_rows(z, perm)), "%.3g")
              << "\n";
    // [ch02-pe-check]
    // Eq. 2.10 on 100 positions of width 64: one matrix R_k for all p.
    const matrix pe_100 = attn::sinusoidal_positional_encoding(100, 64);
    double worst = 0.0;
    for (std::size_t k : {1u, 7u, 30u}) {
        const matrix r_k = attn::pe_shift_matrix(double(k), 64);
        for (std::size_t p = 0; p + k < 100; ++p) {
            const matrix from = xt::view(pe_100, xt::range(p, p + 1),
                                         xt::all());          // (1, 64)
            const matrix shifted = xt::linalg::dot(from, r_k);  // (1, 64)
            for (std::size_t c = 0; c < 64; ++c) {
                worst = std::max(worst,
                                 std::abs(shifted(0, c) - pe_100(p + k, c)));
            }
        }
    }
    // [ch02-pe-check]
    std::cout << "Sinusoidal encodings, 100 positions, d_model = 64 "
                 "(Eq. 2.10):\n  max |PE(p) R_k - PE(p + k)| over "
                 "k = 1, 7, 30 and every p = "
              << book::fmt(worst, "%.2g") << '\n';
    book::heatmap_style style;
    style.title = "Sinusoidal positional encodings (Eq. 2.9), d_model = 64";
    style.row_axis = "position p";
    style.col_axis = "dimension";
    style.annotate = false;
    style.vmin = -1.0;
    style.vmax = 1.0;
    for (std::size_t p = 0; p < 50; ++p) {
        style.row_labels.push_back(p % 10 == 0 ? std::to_string(p) : "");
    }
    for (std::size_t c = 0; c < 64; ++c) {
        style.col_labels.push_back(c % 8 == 0 ? std::to_string(c) : "");
    }
    out.heatmap("ch02_positional_encoding.svg",
                matrix(xt::view(pe_100, xt::range(0, 50), xt::all())), style);
}

// The memory for S and A of one attention step, kept as doubles.
void memory_demo()
{
    std::cout << "\nStoring S and A (n x n each) as 8-byte doubles:\n";
    for (std::size_t n : {1000u, 10000u}) {
        std::cout << "  n = " << book::with_commas(n) << ": 2 n^2 x 8 = "
                  << book::with_commas(2 * n * n * sizeof(double))
                  << " bytes\n";
    }
}

int run_load_save(const book::common_args& args)
{
    const auto in = [&](const char* name) {
        return book::load_npy<2>(book::path_in(args.load_dir, name));
    };
    const matrix x = in("X.npy"), w_q = in("W_q.npy"), w_k = in("W_k.npy"),
                 w_v = in("W_v.npy");
    const std::size_t d_model = x.shape()[1];
    if (w_q.shape()[0] != d_model || w_k.shape() != w_q.shape()
        || w_v.shape()[0] != d_model) {
        throw book::usage_error(
            "X.npy " + attn::shape_string(x.shape()) + ", W_q.npy "
            + attn::shape_string(w_q.shape()) + ", W_k.npy "
            + attn::shape_string(w_k.shape()) + " and W_v.npy "
            + attn::shape_string(w_v.shape()) + " do not fit: expected "
            "(n, d_model), (d_model, d_k), (d_model, d_k), (d_model, d_v)");
    }
    const auto r = attn::self_attention(x, w_q, w_k, w_v);
    book::save_outputs(args.save_dir, "Q.npy", r.q, "K.npy", r.k, "V.npy",
                       r.v, "S.npy", r.s, "A.npy", r.a, "Y.npy", r.y);
    return 0;
}

int run(const book::common_args& args)
{
    book::expect_load_with_save(args, "X.npy, W_q.npy, W_k.npy and W_v.npy");
    if (!args.load_dir.empty()) {
        return run_load_save(args);
    }
    const book::output_sink out(args.out_dir);
    walkthrough_demo(out);
    sentence_demo(out);
    sentence_with_positions_demo();
    scaling_demo(args.seed, out);
    order_demo(args.seed, out);
    memory_demo();
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return book::run_program(
        argc, argv, "ch02_self_attention",
        "Self-attention, why the scores are divided by sqrt(d_k), "
        "permutation equivariance and positional encodings.",
        [](cxxopts::Options&) {},
        [](const cxxopts::ParseResult&, const book::common_args& args) {
            return run(args);
        });
}

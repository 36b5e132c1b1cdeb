// Chapter 4: cross-attention and masking, why the decoder must not see the
// future.
//
//   ch04_cross_attention                the chapter's demonstrations
//   ch04_cross_attention --heads H --load D --save E [--causal]
//       reads D/X.npy (n_q, d_model), D/Z.npy (n_k, d_model),
//       D/W_q.npy, D/W_k.npy, D/W_v.npy, D/W_o.npy (d_model, d_model),
//       D/b_o.npy (d_model,) and, if present, D/mask.npy (n_q, n_k) of
//       bool or uint8 (true = may attend); --causal ANDs in the causal
//       mask. Writes E/A.npy (H, n_q, n_k) and E/Y.npy (n_q, d_model).
//   ch04_cross_attention --out D        also writes the figures and tables
#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>

#include "attention/decoder_block.hpp"
#include "attention/kv_cache.hpp"
#include "attention/masking.hpp"
#include "attention/multi_head.hpp"
#include "attention/random.hpp"
#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/output.hpp"

namespace {

using attn::mask_matrix;
using attn::matrix;

const double inf = std::numeric_limits<double>::infinity();

double max_abs_diff(const matrix& a, const matrix& b)
{
    return a.size() == 0 ? 0.0 : xt::amax(xt::abs(a - b))();
}

// A number for a table; NaN is written "NaN", whatever the C library says.
std::string num(double x, const char* format)
{
    return std::isnan(x) ? "NaN" : book::fmt(x, format);
}

std::string fmt_diff(double x)
{
    return x == 0.0 ? "0 (exactly)" : book::fmt(x, "%.3g");
}

// Writes a mask as a two-colour map with its legend: may attend, masked.
void write_mask_svg(const book::output_sink& out, const std::string& name,
                    const mask_matrix& m, const std::string& title,
                    const std::string& row_axis, const std::string& col_axis)
{
    book::heatmap_style style;
    style.title = title;
    style.row_axis = row_axis;
    style.col_axis = col_axis;
    style.annotate = false;
    style.binary = {"masked", "may attend"};
    out.heatmap(name, xt::cast<double>(m), style);
}

void print_mask(const mask_matrix& m)
{
    for (std::size_t i = 0; i < m.shape()[0]; ++i) {
        std::cout << "    ";
        for (std::size_t j = 0; j < m.shape()[1]; ++j) {
            std::cout << (m(i, j) ? "1 " : ". ");
        }
        std::cout << '\n';
    }
}

void masks_demo(const book::output_sink& out)
{
    std::cout << "Causal masks (1 = may attend, . = masked), Eq. 4.2:\n"
              << "  n_q = n_k = 5 (decoder self-attention):\n";
    print_mask(attn::causal_mask(5, 5));
    std::cout << "  n_q = 3 new queries, n_k = 6 keys (bottom-right):\n";
    print_mask(attn::causal_mask(3, 6));
    std::cout << "  n_q = 6 target positions, 4 of them real, causal AND "
                 "padding (Eq. 4.4):\n";
    print_mask(attn::mask_and(attn::causal_mask(6, 6),
                              attn::padding_mask(6, 6, 4)));
    std::cout << '\n';
    write_mask_svg(out, "ch04_mask_causal.svg", attn::causal_mask(6, 6),
                   "causal mask (6, 6)", "query position i",
                   "key position j");
    write_mask_svg(out, "ch04_mask_causal_rect.svg",
                   attn::causal_mask(3, 6),
                   "causal mask (3, 6), bottom-right", "new query i",
                   "key position j");
}

// A masking rule and the weights it gives.
struct fill_rule {
    std::string name;
    matrix a;  // (2, 3)
};

// [ch04-fill-demo]
// One query row with key 2 masked and one with every key masked, under
// the book's rule and under the three fills popular code uses.
std::vector<fill_rule> fill_rules(const matrix& s, const mask_matrix& m)
{
    return {
        {"bias -inf, book's softmax (4.5)",
         attn::softmax_rows(s + attn::mask_bias(m))},
        {"fill -1e9 (4.6)", attn::masked_fill_softmax(s, m, -1e9)},
        {"fill -1e6 (4.6)", attn::masked_fill_softmax(s, m, -1e6)},
        {"fill -inf, naive softmax (4.6)",
         attn::masked_fill_softmax(s, m, -inf)},
    };
}
// [ch04-fill-demo]

void fill_demo(const book::output_sink& out)
{
    const matrix s = {{1.0, 2.0, 3.0}, {1.0, 2.0, 3.0}};     // scores
    const matrix v = {{4.0}, {8.0}, {100.0}};                // values
    const mask_matrix m = {{true, true, false}, {false, false, false}};
    const std::vector<fill_rule> rules = fill_rules(s, m);
    std::cout << "Masked softmax of scores (1, 2, 3), values (4, 8, 100);\n"
              << "  each rule, then its weights with key 2 masked, its "
                 "weights with\n  every key masked, and the output of "
                 "that fully masked query:\n";
    book::table table{{"rule", "key 2 masked", "every key masked",
                       "output"}, {}};
    table.page_header = {"rule", "weights, key 2 masked",
                         "weights, every key masked",
                         "output of the fully masked query"};
    table.nowrap = {1, 2};  // each triple of weights on one line
    for (const auto& r : rules) {
        auto weights = [&](std::size_t i) {
            return "(" + num(r.a(i, 0), "%.4f") + ", "
                   + num(r.a(i, 1), "%.4f") + ", "
                   + num(r.a(i, 2), "%.4f") + ")";
        };
        const matrix y = xt::linalg::dot(r.a, v);
        table.add({r.name, weights(0), weights(1), num(y(1, 0), "%.4g")});
    }
    table.print(std::cout, 2, true);
    std::cout << '\n';
    out.markdown("ch04_fill.md", table);
}

// How far each position's output moved, without and with the mask.
struct leak {
    matrix dy_open;    // (n, d)
    matrix dy_masked;  // (n, d)
};

// [ch04-leak-demo]
// Teacher forcing feeds all n target tokens at once. Change the token at
// position t (a "future" token for every position before it) and measure
// how far each position's output moves, with and without the causal mask.
leak leak_of_token(std::size_t n, std::size_t d, std::size_t t,
                   attn::rng& r)
{
    const matrix x = attn::normal_matrix(n, d, r);
    const matrix w_q = attn::normal_matrix(d, d, r);
    const matrix w_k = attn::normal_matrix(d, d, r);
    const matrix w_v = attn::normal_matrix(d, d, r);
    matrix x_changed = x;
    xt::row(x_changed, t) = xt::row(attn::normal_matrix(1, d, r), 0);
    const mask_matrix causal = attn::causal_mask(n, n);
    const mask_matrix open = xt::ones<bool>({n, n});
    auto layer = [&](const matrix& input, const mask_matrix& m) {
        return attn::masked_self_attention(input, w_q, w_k, w_v, m);
    };
    return {xt::abs(layer(x, open) - layer(x_changed, open)),
            xt::abs(layer(x, causal) - layer(x_changed, causal))};
}
// [ch04-leak-demo]

void leak_demo(std::uint64_t seed, const book::output_sink& out)
{
    const std::size_t n = 6, d = 4, t = 3;
    attn::rng r(seed);
    const auto [dy_open, dy_masked] = leak_of_token(n, d, t, r);
    std::cout << "The leak: change input token " << t << " of " << n
              << " (seed " << seed << "), largest change of each output:\n";
    book::table table{{"position i", "no mask", "causal mask"}, {}};
    table.page_header = {"position <i>i</i>",
                         "change of <i>y<sub>i</sub></i>, no mask",
                         "change of <i>y<sub>i</sub></i>, causal mask"};
    for (std::size_t i = 0; i < n; ++i) {
        const double open_i = xt::amax(xt::row(dy_open, i))();
        const double masked_i = xt::amax(xt::row(dy_masked, i))();
        table.add({std::to_string(i)
                       + (i < t ? " (before t)" : i == t ? " (= t)"
                                                         : " (after t)"),
                   book::fmt(open_i, "%.3g"), fmt_diff(masked_i)});
    }
    table.print(std::cout);
    std::cout << '\n';
    out.markdown("ch04_leak.md", table);
}

// Encoder self-attention over 7 positions of which 4 are real; the
// padding rows are overwritten with numbers of size 1000.
void padding_demo(std::uint64_t seed)
{
    const std::size_t n = 7, length = 4, d = 4;
    attn::rng r(seed + 1);
    const matrix x = attn::normal_matrix(n, d, r);
    const matrix w_q = attn::normal_matrix(d, d, r);
    const matrix w_k = attn::normal_matrix(d, d, r);
    const matrix w_v = attn::normal_matrix(d, d, r);
    matrix x_junk = x;
    xt::view(x_junk, xt::range(length, n), xt::all())
        = attn::normal_matrix(n - length, d, r, 1000.0);
    const mask_matrix pad = attn::padding_mask(n, n, length);
    const mask_matrix open = xt::ones<bool>({n, n});
    auto real = [&](const matrix& y) {
        return matrix(xt::view(y, xt::range(0, length), xt::all()));
    };
    auto layer = [&](const matrix& input, const mask_matrix& m) {
        return real(attn::masked_self_attention(input, w_q, w_k, w_v, m));
    };
    const double with_mask = max_abs_diff(layer(x, pad), layer(x_junk, pad));
    const double without = max_abs_diff(layer(x, open), layer(x_junk, open));
    std::cout << "Padding (Eq. 4.3): " << length << " real tokens of " << n
              << ",\n  padding overwritten with values of size 1000;\n"
              << "  largest change of a real token's output:\n"
              << "    with the padding mask " << fmt_diff(with_mask)
              << ", without it "
              << book::fmt(without, "%.3g") << "\n\n";
}

// [ch04-cache-demo]
// Causal self-attention one token at a time with a key-value cache (Eq.
// 4.7), compared with y_full, the same attention in one masked pass over
// all n tokens; returns the largest difference between the two.
double cache_vs_full_pass(const matrix& q, const matrix& k, const matrix& v,
                          const matrix& y_full)
{
    const std::size_t n = q.shape()[0];
    attn::kv_cache cache;
    double worst = 0.0;
    for (std::size_t t = 0; t < n; ++t) {
        auto row = xt::range(t, t + 1);
        const matrix y_t = attn::decode_step(
            cache, xt::view(q, row, xt::all()), xt::view(k, row, xt::all()),
            xt::view(v, row, xt::all())).y;                     // (1, d)
        worst = std::max(worst, max_abs_diff(y_t, xt::view(y_full, row,
                                                            xt::all())));
    }
    return worst;
}
// [ch04-cache-demo]

void cache_demo(std::uint64_t seed)
{
    const std::size_t n = 8, d = 4;
    attn::rng r(seed + 2);
    const matrix x = attn::normal_matrix(n, d, r);
    const matrix q = xt::linalg::dot(x, attn::normal_matrix(d, d, r));
    const matrix k = xt::linalg::dot(x, attn::normal_matrix(d, d, r));
    const matrix v = xt::linalg::dot(x, attn::normal_matrix(d, d, r));
    const matrix y_full
        = attn::masked_attend(q, k, v, attn::causal_mask(n, n)).y;
    const double worst = cache_vs_full_pass(q, k, v, y_full);
    // The same with a prompt of 5 tokens at once, then 3 more at once,
    // and with the top-left alignment for the second chunk (wrong).
    attn::kv_cache chunked;
    const matrix y_prompt = attn::decode_step(
        chunked, xt::view(q, xt::range(0, 5), xt::all()),
        xt::view(k, xt::range(0, 5), xt::all()),
        xt::view(v, xt::range(0, 5), xt::all())).y;
    const matrix y_rest = attn::decode_step(
        chunked, xt::view(q, xt::range(5, n), xt::all()),
        xt::view(k, xt::range(5, n), xt::all()),
        xt::view(v, xt::range(5, n), xt::all())).y;
    const double chunk_diff = std::max(
        max_abs_diff(y_prompt, xt::view(y_full, xt::range(0, 5), xt::all())),
        max_abs_diff(y_rest, xt::view(y_full, xt::range(5, n), xt::all())));
    // Top-left alignment: the causal mask of n_k = n_q keys, padded with
    // masked keys on the right.
    mask_matrix top_left = xt::zeros<bool>({n - 5, n});
    xt::view(top_left, xt::all(), xt::range(0, n - 5))
        = attn::causal_mask(n - 5, n - 5);
    const double wrong = max_abs_diff(
        attn::masked_attend(xt::view(q, xt::range(5, n), xt::all()), k, v,
                            top_left).y,
        xt::view(y_full, xt::range(5, n), xt::all()));
    std::cout << "Key-value cache (Eq. 4.7), " << n << " tokens:\n"
              << "  one token at a time vs the masked full pass: largest "
                 "difference "
              << fmt_diff(worst) << "\n  5 tokens, then 3 at once "
                 "(bottom-right mask): largest difference "
              << fmt_diff(chunk_diff) << "\n  the 3 with a top-left mask "
                 "instead: largest difference "
              << book::fmt(wrong, "%.3g") << "\n\n";
}

attn::multi_head_weights random_layer(std::size_t d_model, double scale,
                                      attn::rng& r)
{
    attn::multi_head_weights w;
    w.w_q = attn::normal_matrix(d_model, d_model, r, scale);
    w.w_k = attn::normal_matrix(d_model, d_model, r, scale);
    w.w_v = attn::normal_matrix(d_model, d_model, r, scale);
    w.w_o = attn::normal_matrix(d_model, d_model, r, scale);
    w.b_o = xt::zeros<double>({d_model});
    return w;
}

// Writes head h's weights of a layer as a heatmap.
void write_weights_svg(const book::output_sink& out,
                       const std::string& name, const attn::tensor3& a,
                       std::size_t h, const std::string& title,
                       const std::string& row_axis,
                       const std::string& col_axis)
{
    book::heatmap_style style;
    style.title = title;
    style.row_axis = row_axis;
    style.col_axis = col_axis;
    out.heatmap(name, xt::view(a, h, xt::all(), xt::all()), style);
}

// The two masks of a decoder block.
struct block_masks {
    mask_matrix self;   // (n_t, n_t)
    mask_matrix cross;  // (n_t, n_s)
};

// [ch04-block-demo]
// The masks of a decoder block over a target of n_t positions (len_t of
// them real) and an encoder output of n_s positions (len_s real): self-
// attention gets causal AND target padding, cross-attention the source
// padding only.
block_masks decoder_masks(std::size_t n_t, std::size_t len_t,
                          std::size_t n_s, std::size_t len_s)
{
    return {attn::mask_and(attn::causal_mask(n_t, n_t),
                           attn::padding_mask(n_t, n_t, len_t)),
            attn::padding_mask(n_t, n_s, len_s)};
}
// [ch04-block-demo]

// A decoder block on a target of n_t = 6 positions (5 real, 1 padding)
// and an encoder output of n_s = 7 positions (5 real, 2 padding).
void block_demo(std::uint64_t seed, const book::output_sink& out)
{
    const std::size_t n_t = 6, len_t = 5, n_s = 7, len_s = 5;
    const std::size_t d_model = 8, heads = 2;
    attn::rng g(seed + 3);
    const matrix x = attn::normal_matrix(n_t, d_model, g);   // decoder input
    const matrix z = attn::normal_matrix(n_s, d_model, g);   // encoder output
    const attn::decoder_block_weights w = {random_layer(d_model, 0.5, g),
                                           random_layer(d_model, 0.5, g)};
    const auto [m_self, m_cross] = decoder_masks(n_t, len_t, n_s, len_s);
    const auto r = attn::decoder_block(x, z, w, heads, m_self, m_cross);
    write_mask_svg(out, "ch04_mask_self.svg", m_self,
                   "self-attention mask: causal AND padding",
                   "target position i", "target position j");
    write_mask_svg(out, "ch04_mask_cross.svg", m_cross,
                   "cross-attention mask: source padding",
                   "target position i", "source position j");
    write_weights_svg(out, "ch04_weights_self.svg", r.self.a, 0,
                      "masked self-attention, head 0 of 2",
                      "target position i", "target position j");
    write_weights_svg(out, "ch04_weights_cross.svg", r.cross.a, 0,
                      "cross-attention, head 0 of 2", "target position i",
                      "source position j");
    // The block's causality: change target token 2, a real source token,
    // and a padding source token, and see which outputs move.
    auto moved = [&](const matrix& x2, const matrix& z2,
                     const mask_matrix& ms) {
        const matrix dy = xt::abs(
            attn::decoder_block(x2, z2, w, heads, ms, m_cross).y - r.y);
        std::string changes;
        for (std::size_t i = 0; i < n_t; ++i) {
            changes += (i ? " " : "")
                       + book::fmt(xt::amax(xt::row(dy, i))(), "%.2g");
        }
        return changes;
    };
    matrix x2 = x;
    xt::row(x2, 2) += 1.0;
    matrix z_real = z, z_pad = z;
    xt::row(z_real, 0) += 1.0;
    xt::row(z_pad, n_s - 1)
        = xt::row(attn::normal_matrix(1, d_model, g, 1000.0), 0);
    std::cout << "Decoder block (Eq. 4.8), n_t = " << n_t << " target ("
              << len_t << " real),\n  n_s = " << n_s << " source (" << len_s
              << " real), H = " << heads << ";\n"
              << "largest change of each target position's output when\n"
              << "  target token 2 changes, causal mask:  "
              << moved(x2, z, m_self) << "\n"
              << "  target token 2 changes, no mask:      "
              << moved(x2, z, mask_matrix()) << "\n"
              << "  source token 0 changes:               "
              << moved(x, z_real, m_self) << "\n"
              << "  source padding token " << n_s - 1
              << " changes:       " << moved(x, z_pad, m_self) << "\n";
}

// Loads DIR/name as a float64 array of rank N and checks its shape.
template <std::size_t N>
xt::xtensor<double, N> load_checked(const std::string& dir,
                                    const std::string& name,
                                    std::vector<std::size_t> expected,
                                    const std::string& symbolic)
{
    auto t = book::load_npy<N>(book::path_in(dir, name));
    attn::expect_shape(name, "its array", t, std::move(expected), symbolic);
    return t;
}

int run_load_save(const book::common_args& args, std::size_t heads,
                  bool causal)
{
    const std::string& dir = args.load_dir;
    const matrix x = book::load_npy<2>(book::path_in(dir, "X.npy"));
    const std::size_t n_q = x.shape()[0], d_model = x.shape()[1];
    const matrix z = book::load_npy<2>(book::path_in(dir, "Z.npy"));
    const std::size_t n_k = z.shape()[0];
    attn::expect_shape("Z.npy", "its array", z, {n_k, d_model},
                       "(n_k, d_model) with d_model from X.npy");
    attn::multi_head_weights w;
    for (auto [name, m] : {std::pair{"W_q.npy", &w.w_q},
                           std::pair{"W_k.npy", &w.w_k},
                           std::pair{"W_v.npy", &w.w_v},
                           std::pair{"W_o.npy", &w.w_o}}) {
        *m = load_checked<2>(dir, name, {d_model, d_model},
                             "(d_model, d_model)");
    }
    w.b_o = load_checked<1>(dir, "b_o.npy", {d_model}, "(d_model,)");
    mask_matrix m;
    const std::string mask_file = book::path_in(dir, "mask.npy");
    if (std::filesystem::exists(mask_file)) {
        m = book::load_mask_npy(mask_file);
        attn::expect_shape("mask.npy", "its array", m, {n_q, n_k},
                           "(n_q, n_k)");
    }
    if (causal) {
        m = m.size() == 0 ? attn::causal_mask(n_q, n_k)
                          : attn::mask_and(m, attn::causal_mask(n_q, n_k));
    }
    // [ch04-cross-attention]
    // Queries from the decoder's X, keys and values from the encoder's Z,
    // Eq. (4.1), with H heads (Eqs. 3.1 to 3.4) and the mask (4.5).
    const auto r = attn::multi_head_attention(x, z, w, heads, m);
    // [ch04-cross-attention]
    book::save_outputs(args.save_dir, "A.npy", r.a, "Y.npy", r.y);
    return 0;
}

int run(const cxxopts::ParseResult& result, const book::common_args& args)
{
    const bool causal = result.count("causal") > 0;
    const bool heads_given = result.count("heads") > 0;
    if (heads_given && result["heads"].as<std::size_t>() == 0) {
        throw book::usage_error("--heads: expected a positive whole number, "
                                "got '0' (see --help)");
    }
    book::expect_load_with_save(args, "X.npy, Z.npy, W_q.npy, W_k.npy, "
                                      "W_v.npy, W_o.npy and b_o.npy");
    if (args.load_dir.empty() && (causal || heads_given)) {
        throw book::usage_error(std::string(causal ? "--causal" : "--heads")
                                + " needs --load DIR (see --help)");
    }
    if (!args.load_dir.empty()) {
        return run_load_save(args, result["heads"].as<std::size_t>(),
                             causal);
    }
    const book::output_sink out(args.out_dir);
    masks_demo(out);
    fill_demo(out);
    leak_demo(args.seed, out);
    padding_demo(args.seed);
    cache_demo(args.seed);
    block_demo(args.seed, out);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return book::run_program(
        argc, argv, "ch04_cross_attention",
        "Cross-attention, causal and padding masks, the key-value cache.",
        [](cxxopts::Options& options) {
            options.add_options()
                ("heads", "number of heads H (with --load)",
                 cxxopts::value<std::size_t>()->default_value("1"), "H")
                ("causal", "AND the causal mask into the mask (with --load)");
        },
        [](const cxxopts::ParseResult& result,
           const book::common_args& args) { return run(result, args); });
}

// Chapter 0: attention as a soft dictionary look-up, the softmax that makes
// it soft, and the two ways of writing it (tokens as rows or as columns).
//
//   ch00_introduction                  the chapter's demonstrations
//   ch00_introduction --load D --save E
//       reads D/Q.npy (n_q, d_k), D/K.npy (n_k, d_k), D/V.npy (n_k, d_v)
//       and writes E/S.npy, E/A.npy (n_q, n_k) and E/Y.npy (n_q, d_v)
//   ch00_introduction --out D          also writes the figure and table data
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include <xtensor/xio.hpp>

#include "attention/attend.hpp"
#include "attention/random.hpp"
#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/output.hpp"
#include "book/plot.hpp"

namespace {

using attn::matrix;

// [ch00-lookup-example]
// Four keys, each pointing one way in the plane, and one value per key.
// The query points mostly along the first key and a little along the
// second, so it should retrieve mostly the first value.
const matrix keys = {{1.0, 0.0}, {0.0, 1.0}, {-1.0, 0.0}, {0.0, -1.0}};
const matrix values = {{10.0}, {20.0}, {30.0}, {40.0}};
const matrix query = {{2.0, 0.5}};
// [ch00-lookup-example]

void lookup_demo(const book::output_sink& out)
{
    const auto r = attn::attend(query, keys, values);
    book::table t{{"key k_j", "value v_j", "score q.k_j/sqrt(2)",
                   "weight a_j"},
                  {}};
    for (std::size_t j = 0; j < keys.shape()[0]; ++j) {
        t.add({"(" + book::fmt(keys(j, 0)) + ", " + book::fmt(keys(j, 1))
                   + ")",
               book::fmt(values(j, 0)), book::fmt(r.s(0, j)),
               book::fmt(r.a(0, j))});
    }
    std::cout << "A soft dictionary look-up (Eq. 0.2), query (2, 0.5):\n";
    t.print(std::cout);
    std::cout << "  output " << book::fmt(r.y(0, 0))
              << " (a hard look-up of the best key would give 10)\n\n";
    // The same cells in the book, with the output as a last row.
    t.header = {"key <i>k<sub>j</sub></i>", "value <i>v<sub>j</sub></i>",
                "score <i>q</i>&middot;<i>k<sub>j</sub></i>/&radic;2",
                "weight <i>a<sub>j</sub></i>"};
    t.add({"**output**", "", "", "**" + book::fmt(r.y(0, 0)) + "**"});
    out.markdown("ch00_lookup.md", t);
}

// [ch00-temperature-sweep]
// One point of Figure 0.1: the weights softmax(beta z) and their entropy
// -sum_j a_j log a_j (with 0 log 0 = 0).
struct sweep_point {
    matrix a;        // (1, 4)
    double entropy;
};

sweep_point temperature_point(const matrix& z, double beta)
{
    sweep_point p{attn::softmax_rows(beta * z), 0.0};
    for (double w : p.a) {
        p.entropy -= w > 0 ? w * std::log(w) : 0.0;
    }
    return p;
}
// [ch00-temperature-sweep]

// Softmax of the fixed logits z = (2, 1, 0.5, -1) scaled by beta from 0.1
// to 10: small beta spreads the weight evenly, large beta puts it all on
// the largest.
void temperature_demo(const book::output_sink& out)
{
    const matrix z = {{2.0, 1.0, 0.5, -1.0}};
    std::vector<std::vector<double>> columns(7);
    std::cout << "Softmax of beta * (2, 1, 0.5, -1):\n"
              << "  beta   weights                          entropy\n";
    for (int step = 0; step <= 60; ++step) {
        const double beta = std::pow(10.0, -1.0 + 2.0 * step / 60.0);
        const auto [a, entropy] = temperature_point(z, beta);
        columns[0].push_back(beta);
        for (std::size_t j = 0; j < 4; ++j) {
            columns[j + 1].push_back(a(0, j));
        }
        columns[5].push_back(xt::amax(a)());
        columns[6].push_back(entropy);
        if (step % 15 == 0) {
            std::cout << "  " << book::fmt(beta, "%-6.3g") << " ";
            for (double w : a) {
                std::cout << book::fmt(w, "%7.4f") << ' ';
            }
            std::cout << "  " << book::fmt(entropy, "%.4f") << '\n';
        }
    }
    std::cout << "  (the entropy of 4 equal weights is log 4 = "
              << book::fmt(std::log(4.0), "%.4f") << ")\n\n";
    out.columns("ch00_softmax_temperature.dat",
                {"beta", "a1", "a2", "a3", "a4", "max_weight", "entropy"},
                columns);
}

void stability_demo()
{
    // [ch00-naive-softmax]
    // exp(1000) overflows a double to inf, and inf / inf is NaN.
    const double naive = std::exp(1000.0) / (std::exp(1000.0)
                                             + std::exp(999.0));
    // [ch00-naive-softmax]
    const matrix a = attn::softmax_rows(matrix{{1000.0, 999.0}});
    std::cout << "Logits (1000, 999):\n  naive softmax gives "
              << (std::isnan(naive) ? "NaN (not a number)"
                                    : book::fmt(naive))
              << "\n  the stable one gives (" << book::fmt(a(0, 0)) << ", "
              << book::fmt(a(0, 1)) << ").\n\n";
}

void forms_demo(std::uint64_t seed)
{
    attn::rng r(seed);
    const matrix q = attn::normal_matrix(5, 3, r);
    const matrix k = attn::normal_matrix(7, 3, r);
    const matrix v = attn::normal_matrix(7, 2, r);
    const matrix y_rows = attn::attend(q, k, v).y;                // (5, 2)
    const matrix y_cols = attn::attend_columns(
        xt::transpose(q), xt::transpose(k), xt::transpose(v));    // (2, 5)
    const double diff = xt::amax(xt::abs(y_rows - xt::transpose(y_cols)))();
    std::cout << "Row form and column form (Eq. 0.3) on random inputs, "
              << "seed " << seed << ":\n  largest difference |Y - (V~)^T| = "
              << diff << "\n";
}

int run_load_save(const book::common_args& args)
{
    const auto q = book::load_npy<2>(book::path_in(args.load_dir, "Q.npy"));
    const auto k = book::load_npy<2>(book::path_in(args.load_dir, "K.npy"));
    const auto v = book::load_npy<2>(book::path_in(args.load_dir, "V.npy"));
    if (k.shape()[1] != q.shape()[1] || v.shape()[0] != k.shape()[0]) {
        throw book::usage_error(
            "Q.npy " + attn::shape_string(q.shape()) + ", K.npy "
            + attn::shape_string(k.shape()) + " and V.npy "
            + attn::shape_string(v.shape())
            + " do not fit: expected (n_q, d_k), (n_k, d_k), (n_k, d_v)");
    }
    const auto r = attn::attend(q, k, v);
    book::save_outputs(args.save_dir, "S.npy", r.s, "A.npy", r.a, "Y.npy",
                       r.y);
    return 0;
}

int run(const book::common_args& args)
{
    book::expect_load_with_save(args, "Q.npy, K.npy and V.npy");
    if (!args.load_dir.empty()) {
        return run_load_save(args);
    }
    const book::output_sink out(args.out_dir);
    lookup_demo(out);
    temperature_demo(out);
    stability_demo();
    forms_demo(args.seed);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return book::run_program(
        argc, argv, "ch00_introduction",
        "Attention as a soft look-up, the stable softmax, row and column "
        "forms.",
        [](cxxopts::Options&) {},
        [](const cxxopts::ParseResult&, const book::common_args& args) {
            return run(args);
        });
}

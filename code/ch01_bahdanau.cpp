// Chapter 1: Bahdanau attention. Annotations from a bidirectional encoder,
// additive energies with and without the precomputation of U_a h_j, the
// four classic scores on one example, and an alignment learned by gradient
// descent on a reversal task.
//
//   ch01_bahdanau                  the chapter's demonstrations
//   ch01_bahdanau --load D --save E
//       reads D/h.npy (T_x, 2d_h), D/s_prev.npy (T_y, d_h) (the decoder
//       states q_{i-1}), D/W_a.npy (d_a, d_h), D/U_a.npy (d_a, 2d_h),
//       D/v_a.npy (d_a,) and writes E/e.npy, E/alpha.npy (the weights A,
//       T_y by T_x) and E/c.npy (T_y, 2d_h); the file names are fixed
//   ch01_bahdanau --out D          also writes the figure and table data,
//                                  and the trained model for the page's
//                                  playground (pg_ch01_*.npy)
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "attention/additive.hpp"
#include "attention/alignment_toy.hpp"
#include "attention/random.hpp"
#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/output.hpp"
#include "book/plot.hpp"

namespace {

using attn::matrix;
using attn::vector;

using book::with_commas;

// Annotations from a small random bidirectional encoder, energies three
// ways, and the multiplications each way needs.
void encoder_demo(std::uint64_t seed, const book::output_sink& out)
{
    // The example (attn::random_encoder_example, shown in the chapter).
    const attn::encoder_example ex = attn::random_encoder_example(seed);
    const matrix& h = ex.h;                                    // (T_x, 2d_h)
    const matrix& q_prev = ex.q_prev;                          // (T_y, d_h)
    const matrix& W_a = ex.W_a;
    const matrix& U_a = ex.U_a;
    const vector& v_a = ex.v_a;
    const std::size_t T_x = h.shape()[0], T_y = q_prev.shape()[0];
    const std::size_t d_h = q_prev.shape()[1], d_a = W_a.shape()[0];
    const auto result = attn::bahdanau_attention(q_prev, h, W_a, U_a, v_a);

    std::size_t naive_count = 0, precomputed_count = 0;
    const matrix e_naive = attn::additive_energies_naive(
        q_prev, h, W_a, U_a, v_a, &naive_count);
    const matrix e_pre = attn::additive_energies_precomputed(
        q_prev, h, W_a, U_a, v_a, &precomputed_count);
    std::cout << "A random encoder and four random decoder states q_{-1}..q_2 "
              << "(seed " << seed << "):\n  T_x = " << T_x << ", T_y = "
              << T_y << ", d_h = " << d_h << ", d_a = " << d_a
              << "\n  annotations h " << attn::shape_string(h.shape())
              << ", energies e " << attn::shape_string(result.e.shape())
              << ", contexts c " << attn::shape_string(result.c.shape())
              << "\n  weights A (one row per target word, each sums "
              << "to 1):\n";
    for (std::size_t i = 0; i < T_y; ++i) {
        std::cout << "   ";
        for (std::size_t j = 0; j < T_x; ++j) {
            std::cout << book::fmt(result.a(i, j), " %.3f");
        }
        std::cout << '\n';
    }
    std::cout << "  energies three ways: largest |e_naive - e| = "
              << book::fmt(xt::amax(xt::abs(e_naive - result.e))(), "%.2g")
              << ",\n  largest |e_precomputed - e| = "
              << book::fmt(xt::amax(xt::abs(e_pre - result.e))(), "%.2g")
              << "\n  multiplications counted in the loops: "
              << with_commas(naive_count) << " from scratch,\n  "
              << with_commas(precomputed_count) << " with U_a h_j and "
              << "W_a q_{i-1} computed once each\n\n";

    // The same count, in closed form, at the sizes of Bahdanau et al.
    struct setting {
        std::string name;
        std::size_t T_x, T_y, d_h, d_a;
    };
    const std::vector<setting> settings = {
        {"the example above", T_x, T_y, d_h, d_a},
        {"the paper, 30 words", 30, 30, 1000, 1000},
        {"the paper, 50 words", 50, 50, 1000, 1000},
    };
    book::table cost{{"setting", "T_x", "T_y", "d_h", "d_a", "from scratch",
                      "precomputed", "ratio"},
                     {}};
    for (const auto& s : settings) {
        const auto c = attn::additive_multiplications(s.T_x, s.T_y, s.d_h,
                                                      2 * s.d_h, s.d_a);
        const double ratio = double(c.naive) / double(c.precomputed);
        cost.add({s.name, std::to_string(s.T_x), std::to_string(s.T_y),
                  std::to_string(s.d_h), std::to_string(s.d_a),
                  with_commas(c.naive), with_commas(c.precomputed),
                  book::fmt(ratio, "%.1f")});
    }
    std::cout << "Multiplications for the energies of one sentence pair "
              << "(Eq. 1.5):\n";
    cost.print(std::cout);
    std::cout << '\n';
    // The same cells, under headers typeset for the page.
    cost.header = {"setting", "<i>T<sub>x</sub></i>", "<i>T<sub>y</sub></i>",
                   "<i>d<sub>h</sub></i>", "<i>d<sub>a</sub></i>",
                   "every pair from scratch",
                   "<i>U<sub>a</sub>h<sub>j</sub></i> and "
                   "<i>W<sub>a</sub>q<sub>i&minus;1</sub></i> precomputed",
                   "ratio"};
    out.markdown("ch01_cost.md", cost);
}

// The columns `keep` of a table, in that order: the same cells.
book::table columns_of(const book::table& t,
                       const std::vector<std::size_t>& keep)
{
    book::table part;
    for (std::size_t k : keep) {
        part.header.push_back(t.header[k]);
    }
    for (const auto& row : t.rows) {
        std::vector<std::string> cells;
        for (std::size_t k : keep) {
            cells.push_back(row[k]);
        }
        part.add(cells);
    }
    return part;
}

// The columns `cols` of a table turned into rows: the same cells, with
// the first column's cells as the new header.
book::table transposed(const book::table& t,
                       const std::vector<std::size_t>& cols)
{
    book::table turned;
    turned.header.push_back("");
    for (const auto& row : t.rows) {
        turned.header.push_back(row[0]);
    }
    for (std::size_t k : cols) {
        std::vector<std::string> cells = {t.header[k]};
        for (const auto& row : t.rows) {
            cells.push_back(row[k]);
        }
        turned.add(cells);
    }
    return turned;
}

// One query and five annotations scored four ways; each way then takes the
// same softmax and the same weighted sum.
void scores_demo(std::uint64_t seed, const book::output_sink& out)
{
    // [ch01-four-scores]
    // Five annotations of width d = 4 and one decoder state of the same
    // width (the dot scores need equal widths). h_2 points between h_0
    // and h_1 and is 2 sqrt(2) times as long: it is 2 (h_0 + h_1).
    const matrix h = {{1, 0, 0, 0}, {0, 1, 0, 0}, {2, 2, 0, 0},
                      {0, 0, 1, 0}, {-1, 0, 0, 1}};               // (T_x, d)
    const matrix q = {{1.0, 0.5, 0.0, 0.0}};                      // (1, d)
    const std::size_t d = 4, d_a = 4;
    attn::rng r(seed);
    const matrix W = attn::normal_matrix(d, d, r, 0.5);
    const matrix W_a = attn::normal_matrix(d_a, d, r, 0.5);
    const matrix U_a = attn::normal_matrix(d_a, d, r, 0.5);
    const vector v_a = xt::row(attn::normal_matrix(1, d_a, r), 0);
    struct scored {
        std::string name;
        matrix score, a, c;
    };
    std::vector<scored> results = {
        {"additive", attn::additive_energies(q, h, W_a, U_a, v_a), {}, {}},
        {"dot", attn::dot_scores(q, h), {}, {}},
        {"general", attn::general_scores(q, h, W), {}, {}},
        {"scaled dot", attn::scaled_dot_scores(q, h), {}, {}},
    };
    // Whatever the score, the same two steps follow.
    for (auto& result : results) {
        result.a = attn::softmax_rows(result.score);             // (1, T_x)
        result.c = attn::bahdanau_context(result.a, h);          // (1, d)
    }
    // [ch01-four-scores]

    book::table t{{"score", "h_0", "h_1", "h_2", "h_3", "h_4", "context c"},
                  {}};
    for (const auto& result : results) {
        std::vector<std::string> row = {result.name};
        for (std::size_t j = 0; j < 5; ++j) {
            row.push_back(book::fmt(result.score(0, j), "%.3f") + " ("
                          + book::fmt(result.a(0, j), "%.3f") + ")");
        }
        std::string c = "(";
        for (std::size_t k = 0; k < 4; ++k) {
            c += book::fmt(result.c(0, k), "%.2f") + (k < 3 ? ", " : ")");
        }
        row.push_back(c);
        t.add(row);
    }
    std::cout << "Four scores of one decoder state q = (1, 0.5, 0, 0) against "
              << "five annotations\n(random W, W_a, U_a, v_a of seed " << seed
              << "): each score with its weight in brackets,\n";
    transposed(t, {1, 2, 3, 4, 5}).print(std::cout);
    std::cout << "and the contexts:\n";
    columns_of(t, {0, 6}).print(std::cout);
    std::cout << '\n';
    // The same cells, under headers typeset for the page.
    t.header = {"score", "<i>h</i><sub>0</sub>", "<i>h</i><sub>1</sub>",
                "<i>h</i><sub>2</sub>", "<i>h</i><sub>3</sub>",
                "<i>h</i><sub>4</sub>", "context <i>c</i>"};
    out.markdown("ch01_scores.md", t);
}

std::string token_name(std::size_t t)
{
    return std::string(1, char('a' + t));
}

void alignment_heatmap(const book::output_sink& out, const std::string& name,
                       const std::string& title,
                       const attn::alignment_model& model,
                       const attn::reversal_task& task,
                       const std::vector<std::size_t>& x)
{
    const auto f = attn::alignment_forward(model, task.Q,
                                           attn::task_annotations(task, x));
    book::heatmap_style style;
    style.title = title;
    style.row_axis = "target position i: output";
    style.col_axis = "source position j: token";
    for (std::size_t j = 0; j < task.T; ++j) {
        style.col_labels.push_back(std::to_string(j) + ": "
                                   + token_name(x[j]));
    }
    for (std::size_t i = 0; i < task.T; ++i) {
        style.row_labels.push_back(
            std::to_string(i) + ": "
            + token_name(attn::detail::argmax_row(f.p, i)));
    }
    out.heatmap(name, f.a, style);
}

// The trained model, the task's embeddings E and the held-out sequence x
// of Figure 1.3, for the page's playground ch01-alignment
// (code/web/pg_ch01.hpp), which runs the same forward pass in the browser.
void playground_data(const book::output_sink& out,
                     const attn::alignment_model& model,
                     const attn::reversal_task& task,
                     const std::vector<std::size_t>& x)
{
    if (!out.enabled()) {
        return;
    }
    book::save_npy(out.path("pg_ch01_W_a.npy"), model.W_a);
    book::save_npy(out.path("pg_ch01_U_a.npy"), model.U_a);
    book::save_npy(out.path("pg_ch01_v_a.npy"), model.v_a);
    book::save_npy(out.path("pg_ch01_W_r.npy"), model.W_r);
    book::save_npy(out.path("pg_ch01_b_r.npy"), model.b_r);
    book::save_npy(out.path("pg_ch01_E.npy"), task.E);
    vector tokens = xt::zeros<double>({x.size()});
    for (std::size_t j = 0; j < x.size(); ++j) {
        tokens(j) = double(x[j]);
    }
    book::save_npy(out.path("pg_ch01_x.npy"), tokens);
}

// The unsteady stretch of a run: from the log before the held-out
// alignment accuracy first falls by more than 0.05 to the first log from
// which it stays at 0.95 or more, the accuracy and loss of every log.
void unsteady_stretch(const std::vector<attn::training_record>& history)
{
    const std::size_t n = history.size();
    std::size_t first = n, settled = n;
    for (std::size_t k = 0; k + 1 < n && first == n; ++k) {
        if (history[k + 1].alignment_accuracy
            < history[k].alignment_accuracy - 0.05) {
            first = k;
        }
    }
    for (std::size_t k = n; k > 0 && history[k - 1].alignment_accuracy >= 0.95;
         --k) {
        settled = k - 1;
    }
    if (first >= settled || settled == n) {
        return;
    }
    std::cout << "The held-out alignment accuracy first fell by more than "
              << "0.05 after step " << history[first].step << ";\nfrom there"
              << " to step " << history[settled].step
              << ", after which it stays at 0.95 or more, every "
              << history[1].step - history[0].step << " steps:\n  accuracy";
    for (std::size_t k = first; k <= settled; ++k) {
        std::cout << book::fmt(history[k].alignment_accuracy, " %.3f");
    }
    std::cout << "\n  loss    ";
    for (std::size_t k = first; k <= settled; ++k) {
        std::cout << book::fmt(history[k].test_loss, " %.3f");
    }
    std::cout << '\n';
}

// Reversal of 8 tokens: train W_a, U_a, v_a and the readout, and watch
// the alignment appear.
void training_demo(std::uint64_t seed, const book::output_sink& out)
{
    // [ch01-training-run]
    const attn::reversal_task task = attn::make_reversal_task(8, 8, seed);
    // d_a = 16, 600 steps of 32 sequences: the defaults.
    attn::alignment_training_options options;
    options.seed = seed;
    // [ch01-training-run]
    std::cout << "Learning to reverse T = " << task.T << " tokens out of |V| = "
              << task.vocab_size << " (seed " << seed << "):\n  annotations "
              << "[E_x ; one-hot j] of width 2d_h = "
              << task.E.shape()[1] + task.P.shape()[1] << " (d_h = T = "
              << task.Q.shape()[1] << "),\n  E drawn from N(0, 1); d_a = "
              << options.d_a << "; at the start W_a, U_a ~ N(0, "
              << options.init_scale << "^2),\n  W_r ~ N(0, "
              << options.readout_scale << "^2), v_a = b_r = 0; batch "
              << options.batch << ", step size " << options.learning_rate
              << ".\nAccuracies on " << options.test_size
              << " held-out sequences. Chance alignment accuracy is 1/"
              << task.T << " = " << book::fmt(1.0 / double(task.T), "%.3f")
              << ";\na uniform guess has loss ln |V| = ln " << task.vocab_size
              << " = " << book::fmt(std::log(double(task.vocab_size)), "%.3f")
              << ".\n"
              << "   step  batch loss  test loss  alignment acc.  output "
              << "acc.\n";
    std::vector<std::vector<double>> columns(5);
    attn::alignment_model midway;
    std::size_t midway_step = 0;
    const auto result = attn::train_alignment(
        task, options,
        [&](const attn::training_record& r,
            const attn::alignment_model& model) {
            columns[0].push_back(double(r.step));
            columns[1].push_back(r.train_loss);  // NaN at step 0: no batch
            columns[2].push_back(r.test_loss);
            columns[3].push_back(r.alignment_accuracy);
            columns[4].push_back(r.output_accuracy);
            if (midway_step == 0 && r.alignment_accuracy >= 0.5) {
                midway = model;
                midway_step = r.step;
            }
            if (r.step % 50 == 0) {
                if (r.step == 0) {
                    std::printf("  %5zu  %10s  %9.4f  %14.3f  %11.3f\n",
                                r.step, "-", r.test_loss,
                                r.alignment_accuracy, r.output_accuracy);
                } else {
                    std::printf("  %5zu  %10.4f  %9.4f  %14.3f  %11.3f\n",
                                r.step, r.train_loss, r.test_loss,
                                r.alignment_accuracy, r.output_accuracy);
                }
            }
        });
    std::fflush(stdout);
    const auto& last = result.history.back();
    std::cout << "After " << last.step << " steps: alignment accuracy "
              << book::fmt(last.alignment_accuracy, "%.3f")
              << ", output accuracy "
              << book::fmt(last.output_accuracy, "%.3f") << ".\n";
    if (midway_step > 0) {
        std::cout << "Half of the alignments were right for the first time "
                  << "at step " << midway_step << ".\n";
    }
    unsteady_stretch(result.history);
    out.columns("ch01_training.dat",
                {"step", "train_loss", "test_loss", "alignment_accuracy",
                 "output_accuracy"},
                columns);
    const auto& x = result.test.front();
    if (midway_step > 0) {
        alignment_heatmap(out, "ch01_alignment_midway.svg",
                          "Attention weights after "
                              + std::to_string(midway_step) + " steps",
                          midway, task, x);
    }
    alignment_heatmap(out, "ch01_alignment.svg",
                      "Attention weights after " + std::to_string(last.step)
                          + " steps",
                      result.model, task, x);
    playground_data(out, result.model, task, x);
}

// --load D --save E: the paper's quantities from .npy files.
int run_load_save(const book::common_args& args)
{
    if (args.save_dir.empty()) {
        throw book::usage_error("--load needs --save DIR for the results");
    }
    const auto& dir = args.load_dir;
    const auto h = book::load_npy<2>(book::path_in(dir, "h.npy"));
    // The decoder states q_{i-1} keep the file name s_prev.npy.
    const auto q_prev = book::load_npy<2>(book::path_in(dir, "s_prev.npy"));
    const auto W_a = book::load_npy<2>(book::path_in(dir, "W_a.npy"));
    const auto U_a = book::load_npy<2>(book::path_in(dir, "U_a.npy"));
    const auto v_a = book::load_npy<1>(book::path_in(dir, "v_a.npy"));
    const std::size_t d_h = q_prev.shape()[1], d_a = v_a.shape()[0];
    if (h.shape()[1] != 2 * d_h || W_a.shape()[0] != d_a
        || W_a.shape()[1] != d_h || U_a.shape()[0] != d_a
        || U_a.shape()[1] != 2 * d_h || h.shape()[0] == 0
        || q_prev.shape()[0] == 0 || d_h == 0 || d_a == 0) {
        throw book::usage_error(
            "h.npy " + attn::shape_string(h.shape()) + ", s_prev.npy "
            + attn::shape_string(q_prev.shape()) + ", W_a.npy "
            + attn::shape_string(W_a.shape()) + ", U_a.npy "
            + attn::shape_string(U_a.shape()) + " and v_a.npy "
            + attn::shape_string(v_a.shape())
            + " do not fit: expected (T_x, 2d_h), (T_y, d_h), (d_a, d_h), "
              "(d_a, 2d_h), (d_a,) with d_h, d_a, T_x, T_y > 0");
    }
    const auto r = attn::bahdanau_attention(q_prev, h, W_a, U_a, v_a);
    book::save_outputs(args.save_dir, "e.npy", r.e, "alpha.npy", r.a,
                       "c.npy", r.c);
    return 0;
}

int run(const book::common_args& args)
{
    book::expect_load_with_save(
        args, "h.npy, s_prev.npy, W_a.npy, U_a.npy and v_a.npy");
    if (!args.load_dir.empty()) {
        return run_load_save(args);
    }
    const book::output_sink out(args.out_dir);
    encoder_demo(args.seed, out);
    scores_demo(args.seed, out);
    training_demo(args.seed, out);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return book::run_program(
        argc, argv, "ch01_bahdanau",
        "Bahdanau attention: annotations, additive energies, four scores, "
        "and an alignment learned by gradient descent.",
        [](cxxopts::Options&) {},
        [](const cxxopts::ParseResult&, const book::common_args& args) {
            return run(args);
        });
}

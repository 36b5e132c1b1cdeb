// Chapter 5: train a tiny multi-head attention model from scratch, look at
// what each head learned, measure how much each head matters three ways,
// and prune heads.
//
//   ch05_heads                   train (seed 1), print progress and results
//   ch05_heads --out D           also write the chapter's figures and tables
//   ch05_heads --save D          also write the trained weights W_q.npy,
//       W_k.npy, W_v.npy, W_o.npy (d, d), b_o.npy (d,), W_u.npy (d, 2V),
//       b_u.npy (2V,), and for one example sequence X.npy (n, d), its
//       per-head weights A.npy (H, n, n), logits.npy (n, 2V), the gradient
//       of its loss with respect to the gates d_xi.npy (H,); and the
//       measures ablation.npy, importance.npy, confidence.npy (H,)
//   ch05_heads --load D          read those weights instead of training

#include <algorithm>
#include <iostream>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/plot.hpp"
#include "attention/tiny_model.hpp"

namespace {

using book::fmt;
using attn::matrix;
using attn::vector;

const attn::heads_task task;  // |Sigma| = 5, n = 9, d = 16, H = 4
const std::size_t test_sequences = 1000;

std::string token_name(std::size_t t)
{
    return t == task.vocab ? "BOS" : std::to_string(t);
}

// Share of the test positions a model that always names the most frequent
// class gets right: the accuracy to beat.
double chance_accuracy(const std::vector<attn::heads_example>& test)
{
    std::map<int, std::size_t> counts;
    std::size_t scored = 0;
    for (const auto& e : test) {
        for (int t : e.target) {
            if (t >= 0) {
                counts[t] += 1;
                scored += 1;
            }
        }
    }
    std::size_t best = 0;
    for (const auto& [t, c] : counts) {
        best = std::max(best, c);
    }
    return double(best) / double(scored);
}

attn::tiny_model train(std::uint64_t seed, std::size_t steps,
                       const std::vector<attn::heads_example>& test,
                       const std::string& out_dir)
{
    attn::training_config config;
    config.seed = seed;
    config.steps = steps;
    std::vector<std::vector<double>> curve(4);
    std::cout << "Training: " << config.steps << " Adam steps of "
              << config.batch << " sequences, step size "
              << fmt(config.lr) << ", seed " << seed << "\n"
              << "   step    loss  train acc  test acc\n";
    const auto m = attn::train_tiny_model(
        task, config,
        [&](const attn::training_report& r, const attn::tiny_model& now) {
            const double test_accuracy =
                attn::evaluate_tiny_model(task, now, test).accuracy;
            std::cout << fmt(double(r.step), "%7.0f") << "  "
                      << fmt(r.loss, "%6.3f") << "  "
                      << fmt(r.accuracy, "%9.3f") << "  "
                      << fmt(test_accuracy, "%8.3f") << '\n';
            curve[0].push_back(double(r.step));
            curve[1].push_back(r.loss);
            curve[2].push_back(r.accuracy);
            curve[3].push_back(test_accuracy);
        });
    if (!out_dir.empty()) {
        book::write_columns(book::path_in(out_dir, "ch05_training.dat"),
                            {"step", "loss", "train_accuracy",
                             "test_accuracy"},
                            curve);
    }
    return m;
}

// What a head does, from where its weight goes (see head_pattern).
std::string describe(const attn::head_pattern& p)
{
    if (p.previous >= 0.5 && p.previous >= p.copies) {
        return "previous token";
    }
    if (p.copies >= 0.5) {
        return "copy detector";
    }
    return "mixed";
}

// One sentence per head, for the chapter, from the measured pattern.
std::string head_sentence(std::size_t h, const attn::head_pattern& p,
                          double confidence)
{
    const std::string head = "**Head " + std::to_string(h) + "**";
    const std::string numbers =
        " (weight on position <i>i</i>&minus;1: " + fmt(p.previous, "%.2f")
        + "; on earlier copies of <i>t<sub>i</sub></i>, where there is one: "
        + fmt(p.copies, "%.2f") + "; on BOS where there is none: "
        + fmt(p.bos, "%.2f") + "; confidence " + fmt(confidence, "%.2f")
        + ").";
    const auto kind = describe(p);
    if (kind == "previous token") {
        return head + " is a previous-token head: most of its weight goes "
               "one position back" + numbers;
    }
    if (kind == "copy detector") {
        return head + " is a copy detector: it looks for earlier copies of "
               "its own token, and puts part of its weight on BOS when "
               "there is none" + numbers;
    }
    return head + " has no single pattern" + numbers;
}

std::string head_set(const std::vector<std::size_t>& heads,
                     const std::vector<attn::head_pattern>& patterns)
{
    std::vector<std::string> items;
    for (auto h : heads) {
        items.push_back(std::to_string(h) + " (" + describe(patterns[h])
                        + ")");
    }
    return book::and_list(items);
}

void heatmaps(const attn::tiny_model& m, const attn::heads_example& e,
              const std::string& out_dir)
{
    const auto f = attn::tiny_model_forward(task, m, e);
    std::vector<std::string> labels;
    for (std::size_t i = 0; i < e.tokens.size(); ++i) {
        labels.push_back(std::to_string(i) + ":" + token_name(e.tokens[i]));
    }
    for (std::size_t h = 0; h < task.heads; ++h) {
        book::heatmap_style style;
        style.title = "head " + std::to_string(h);
        style.row_labels = labels;
        style.col_labels = labels;
        style.row_axis = "query position:token";
        style.col_axis = "key position:token";
        const matrix a_h = xt::view(f.layer.a, h, xt::all(), xt::all());
        book::write_heatmap_svg(
            book::path_in(out_dir, "ch05_head" + std::to_string(h) + ".svg"),
            a_h, style);
    }
}

std::vector<std::vector<std::size_t>> all_orders(std::size_t heads)
{
    std::vector<std::size_t> order(heads);
    std::iota(order.begin(), order.end(), 0);
    std::vector<std::vector<std::size_t>> out;
    do {
        out.push_back(order);
    } while (std::next_permutation(order.begin(), order.end()));
    return out;
}

std::string order_string(const std::vector<std::size_t>& order)
{
    std::string s;
    for (std::size_t h : order) {
        s += (s.empty() ? "" : ", ") + std::to_string(h);
    }
    return s;
}

// Weight each head puts on earlier copies of t_i, split by the value of
// t_i (positions that have a copy only), and the share of those positions
// where the previous token is itself a copy (t_{i-1} = t_i).
struct copy_breakdown {
    std::vector<std::vector<double>> by_token;  // [head][token value]
    std::vector<double> positions;              // [token value]
    double previous_is_copy = 0.0;
};

copy_breakdown copies_by_token(const attn::tiny_model& m,
                               const std::vector<attn::heads_example>& test)
{
    copy_breakdown r;
    r.by_token.assign(task.heads, std::vector<double>(task.vocab, 0.0));
    r.positions.assign(task.vocab, 0.0);
    double with_copy = 0.0;
    for (const auto& e : test) {
        const auto f = attn::tiny_model_forward(task, m, e);
        for (std::size_t i = 2; i < e.tokens.size(); ++i) {
            if (e.target[i] % 2 != 1) {
                continue;  // no earlier copy of t_i
            }
            const std::size_t v = e.tokens[i];
            r.positions[v] += 1.0;
            with_copy += 1.0;
            r.previous_is_copy += e.tokens[i - 1] == v ? 1.0 : 0.0;
            for (std::size_t h = 0; h < task.heads; ++h) {
                for (std::size_t j = 1; j < i; ++j) {
                    r.by_token[h][v] += e.tokens[j] == v ? f.layer.a(h, i, j)
                                                         : 0.0;
                }
            }
        }
    }
    for (auto& row : r.by_token) {
        for (std::size_t v = 0; v < task.vocab; ++v) {
            row[v] /= std::max(r.positions[v], 1.0);
        }
    }
    r.previous_is_copy /= std::max(with_copy, 1.0);
    return r;
}

// [ch05-analysis]
// Three measures of each head, side by side, then pruning in the order of
// each measure and, as the control, in every possible order.
void analyse(const attn::tiny_model& m,
             const std::vector<attn::heads_example>& test,
             const std::string& out_dir)
{
    const auto full = attn::evaluate_tiny_model(task, m, test);
    const vector ablation = attn::head_ablation(task, m, test);   // (H,)
    const vector importance = attn::head_importance(task, m, test);
    const vector confidence = attn::head_confidence(task, m, test);
    const auto patterns = attn::head_patterns(task, m, test);
    // [ch05-analysis]
    std::cout << "\nOn " << test.size() << " test sequences: accuracy "
              << fmt(full.accuracy, "%.3f") << ", loss "
              << fmt(full.loss, "%.2g") << "\n(always naming the most "
              << "frequent class: " << fmt(chance_accuracy(test), "%.3f")
              << ")\n\nhead  prev  copy  BOS|no copy  ablation  I_h   "
              << "confidence  pattern\n";
    std::vector<std::vector<std::string>> rows;
    for (std::size_t h = 0; h < task.heads; ++h) {
        const auto& p = patterns[h];
        std::cout << fmt(double(h), "%4.0f") << "  "
                  << fmt(p.previous, "%.2f") << "  " << fmt(p.copies, "%.2f")
                  << "  " << fmt(p.bos, "%11.2f") << "  "
                  << fmt(ablation(h), "%8.3f") << "  "
                  << fmt(importance(h), "%.3f") << "  "
                  << fmt(confidence(h), "%10.3f") << "  " << describe(p)
                  << '\n';
        rows.push_back({std::to_string(h) + ": " + describe(p),
                        fmt(p.previous, "%.2f"),
                        fmt(p.copies, "%.2f"), fmt(p.bos, "%.2f"),
                        fmt(ablation(h), "%.3f"), fmt(importance(h), "%.3f"),
                        fmt(confidence(h), "%.3f")});
    }
    const auto breakdown = copies_by_token(m, test);
    std::cout << "\nWeight on earlier copies of t_i, by the value of t_i "
              << "(positions with a copy):\nhead";
    for (std::size_t v = 0; v < task.vocab; ++v) {
        std::cout << "  t_i=" << v;
    }
    std::cout << '\n';
    std::vector<std::vector<std::string>> token_rows;
    for (std::size_t h = 0; h < task.heads; ++h) {
        std::cout << fmt(double(h), "%4.0f");
        token_rows.push_back({std::to_string(h) + ": "
                              + describe(patterns[h])});
        for (std::size_t v = 0; v < task.vocab; ++v) {
            std::cout << fmt(breakdown.by_token[h][v], "%7.2f");
            token_rows.back().push_back(fmt(breakdown.by_token[h][v], "%.2f"));
        }
        std::cout << '\n';
    }
    std::cout << "(the previous token is itself a copy of t_i at "
              << fmt(breakdown.previous_is_copy, "%.2f")
              << " of these positions)\n";
    // Pruning orders: least important first by each measure; the control
    // is the mean (and range) over all H! orders.
    const auto by_importance = attn::order_by_score(importance);
    const auto by_remeasured = attn::importance_order_remeasured(task, m,
                                                                 test);
    const auto by_ablation = attn::order_by_score(ablation);
    const auto by_confidence = attn::order_by_score(confidence);
    const vector subsets = attn::subset_accuracies(task, m, test);
    const auto curve_i = attn::pruning_curve(subsets, by_importance);
    const auto curve_a = attn::pruning_curve(subsets, by_ablation);
    const auto curve_c = attn::pruning_curve(subsets, by_confidence);
    const auto curve_r = attn::pruning_curve(subsets, by_remeasured);
    const std::size_t steps = task.heads + 1;
    std::vector<double> mean(steps, 0.0), low(steps, 1.0), high(steps, 0.0);
    const auto orders = all_orders(task.heads);
    for (const auto& order : orders) {
        const auto c = attn::pruning_curve(subsets, order);
        for (std::size_t k = 0; k < steps; ++k) {
            mean[k] += c[k] / double(orders.size());
            low[k] = std::min(low[k], c[k]);
            high[k] = std::max(high[k], c[k]);
        }
    }
    std::cout << "\nPruning, heads removed in the order\n  by I_h: "
              << order_string(by_importance) << "; by I_h again: "
              << order_string(by_remeasured) << "\n  by ablation: "
              << order_string(by_ablation) << "; by confidence: "
              << order_string(by_confidence) << "\n"
              << "heads left   I_h  I_h again  ablation  confidence  "
              << "random: mean  min    max\n";
    std::vector<std::vector<double>> columns(8);
    std::vector<std::vector<std::string>> prune_rows;
    for (std::size_t k = 0; k < steps; ++k) {
        const double left = double(task.heads - k);
        const std::vector<double> row{left,    curve_i[k], curve_r[k],
                                      curve_a[k], curve_c[k], mean[k],
                                      low[k],  high[k]};
        for (std::size_t c = 0; c < row.size(); ++c) {
            columns[c].push_back(row[c]);
        }
        std::cout << fmt(left, "%10.0f") << fmt(curve_i[k], "%7.3f")
                  << fmt(curve_r[k], "%11.3f") << fmt(curve_a[k], "%10.3f")
                  << fmt(curve_c[k], "%12.3f") << fmt(mean[k], "%14.3f")
                  << fmt(low[k], "%7.3f") << fmt(high[k], "%7.3f") << '\n';
        prune_rows.push_back(
            {fmt(left, "%.0f"), fmt(curve_i[k], "%.3f"),
             fmt(curve_r[k], "%.3f"), fmt(curve_a[k], "%.3f"),
             fmt(curve_c[k], "%.3f"), fmt(mean[k], "%.3f"),
             fmt(low[k], "%.3f") + "&ndash;" + fmt(high[k], "%.3f")});
    }
    prune_rows.push_back({"order of removal", order_string(by_importance),
                          order_string(by_remeasured),
                          order_string(by_ablation),
                          order_string(by_confidence),
                          "all " + std::to_string(orders.size()) + " orders",
                          ""});
    if (out_dir.empty()) {
        return;
    }
    // Sentences for the chapter, made from the numbers above.
    auto out = book::open_for_writing(
        book::path_in(out_dir, "ch05_head_sentences.md"));
    for (std::size_t h = 0; h < task.heads; ++h) {
        out << "- " << head_sentence(h, patterns[h], confidence(h)) << '\n';
    }
    // How the jobs are shared out among the heads.
    out << "\nIn all:";
    bool first_kind = true;
    for (const std::string kind :
         {"copy detector", "previous token", "mixed"}) {
        std::vector<std::string> heads;
        for (std::size_t h = 0; h < task.heads; ++h) {
            if (describe(patterns[h]) == kind) {
                heads.push_back(std::to_string(h));
            }
        }
        if (heads.empty()) {
            continue;
        }
        out << (first_kind ? " " : "; ")
            << (heads.size() == 1 ? "head " : "heads ") << book::and_list(heads)
            << (heads.size() == 1 ? " is " : " are ")
            << (kind == "mixed" ? "mixed"
                : kind == "copy detector"
                    ? (heads.size() == 1 ? "a copy detector" : "copy detectors")
                    : (heads.size() == 1 ? "a previous-token head"
                                         : "previous-token heads"));
        first_kind = false;
    }
    out << ".\n";
    std::size_t best_pair = 0;
    for (std::size_t mask = 0; mask < subsets.size(); ++mask) {
        if (__builtin_popcountll(mask) == 2
            && (best_pair == 0 || subsets(mask) > subsets(best_pair))) {
            best_pair = mask;
        }
    }
    std::vector<std::size_t> pair;
    for (std::size_t h = 0; h < task.heads; ++h) {
        if ((best_pair >> h) & 1) {
            pair.push_back(h);
        }
    }
    auto findings = book::open_for_writing(
        book::path_in(out_dir, "ch05_findings.md"));
    std::vector<std::string> ablated, costs;
    for (auto h : by_ablation) {
        ablated.push_back(std::to_string(h));
        costs.push_back(fmt(ablation(h), "%.3f"));
    }
    findings << "- Removed alone, heads " << book::and_list(ablated) << " cost "
             << book::and_list(costs)
             << " of test accuracy (Table 5.2's ablation column).\n";
    findings << "- The least important head is head " << by_ablation[0]
             << " by ablation, head " << by_importance[0]
             << " by <i>&Icirc;<sub>h</sub></i> and head " << by_confidence[0]
             << " by confidence.\n"
             << "- Pruning by <i>&Icirc;<sub>h</sub></i> measured once removes "
             << "heads " << head_set({by_importance[0], by_importance[1]},
                                     patterns)
             << " first; with two heads left the accuracy is "
             << fmt(curve_i[2], "%.3f") << ".\n"
             << "- Measuring <i>&Icirc;<sub>h</sub></i> again after each removal "
             << "removes " << head_set({by_remeasured[0], by_remeasured[1]},
                                       patterns)
             << " first, and keeps " << fmt(curve_r[2], "%.3f")
             << " with two heads left.\n"
             << "- The best pair of heads is " << head_set(pair, patterns)
             << ", with accuracy " << fmt(subsets(best_pair), "%.3f")
             << "; a random order keeps " << fmt(mean[2], "%.3f")
             << " on average with two heads left.\n";
    std::vector<std::string> token_header = {"head: pattern"};
    for (std::size_t v = 0; v < task.vocab; ++v) {
        token_header.push_back("<i>t<sub>i</sub></i> = " + std::to_string(v));
    }
    book::write_markdown_table(book::path_in(out_dir, "ch05_copy_tokens.md"),
                               token_header, token_rows);
    // Which tokens each copy detector covers (weight on copies >= 0.5).
    findings << "- Per token (Table 5.3), ";
    bool first = true;
    for (std::size_t h = 0; h < task.heads; ++h) {
        if (describe(patterns[h]) != "copy detector") {
            continue;
        }
        std::string covered;
        for (std::size_t v = 0; v < task.vocab; ++v) {
            if (breakdown.by_token[h][v] >= 0.5) {
                covered += (covered.empty() ? "" : ", ") + std::to_string(v);
            }
        }
        findings << (first ? "" : "; ") << "copy detector head " << h
                 << " puts at least half its weight on the copies of "
                 << (covered.empty() ? "no token" : "tokens " + covered);
        first = false;
    }
    findings << ". A previous-token head also puts weight on copies "
             << "because the previous token is itself a copy of "
             << "<i>t<sub>i</sub></i> at "
             << fmt(breakdown.previous_is_copy, "%.2f")
             << " of the positions that have one.\n";
    book::write_markdown_table(
        book::path_in(out_dir, "ch05_heads.md"),
        {"head: pattern", "on <i>i</i>&minus;1", "on copies",
         "on BOS", "ablation", "<i>&Icirc;<sub>h</sub></i>", "confidence"},
        rows);
    book::write_markdown_table(
        book::path_in(out_dir, "ch05_pruning.md"),
        {"heads left", "by <i>&Icirc;<sub>h</sub></i>",
         "by <i>&Icirc;<sub>h</sub></i> again", "by ablation",
         "by confidence", "random: mean", "random: range"},
        prune_rows);
    book::write_columns(book::path_in(out_dir, "ch05_pruning.dat"),
                        {"heads_left", "by_importance", "by_remeasured",
                         "by_ablation", "by_confidence", "random_mean",
                         "random_min", "random_max"},
                        columns);
    book::write_markdown_table(
        book::path_in(out_dir, "ch05_accuracy.md"),
        {"test sequences", "accuracy, all heads", "test loss",
         "always the most frequent class"},
        {{std::to_string(test.size()), fmt(full.accuracy, "%.3f"),
          fmt(full.loss, "%.2g"), fmt(chance_accuracy(test), "%.3f")}});
}

attn::tiny_model load_model(const std::string& dir)
{
    attn::tiny_model m;
    m.attention.w_q = book::load_npy<2>(book::path_in(dir, "W_q.npy"));
    m.attention.w_k = book::load_npy<2>(book::path_in(dir, "W_k.npy"));
    m.attention.w_v = book::load_npy<2>(book::path_in(dir, "W_v.npy"));
    m.attention.w_o = book::load_npy<2>(book::path_in(dir, "W_o.npy"));
    m.attention.b_o = book::load_npy<1>(book::path_in(dir, "b_o.npy"));
    m.w_u = book::load_npy<2>(book::path_in(dir, "W_u.npy"));
    m.b_u = book::load_npy<1>(book::path_in(dir, "b_u.npy"));
    try {
        attn::expect_tiny_model(task, m);
    } catch (const std::invalid_argument& e) {
        throw book::usage_error(dir + ": " + e.what());
    }
    return m;
}

void save_model(const attn::tiny_model& m, const attn::heads_example& e,
                const std::vector<attn::heads_example>& test,
                const std::string& dir)
{
    auto save = [&](const std::string& name, const auto& t) {
        book::save_npy(book::path_in(dir, name + ".npy"), t);
    };
    save("W_q", m.attention.w_q);
    save("W_k", m.attention.w_k);
    save("W_v", m.attention.w_v);
    save("W_o", m.attention.w_o);
    save("b_o", m.attention.b_o);
    save("W_u", m.w_u);
    save("b_u", m.b_u);
    const auto f = attn::tiny_model_forward(task, m, e);
    const auto g = attn::tiny_model_backward(task, m, e, f);
    save("X", f.x);
    save("A", f.layer.a);
    save("logits", f.logits);
    save("d_xi", g.layer.d_gates);
    save("ablation", attn::head_ablation(task, m, test));
    save("importance", attn::head_importance(task, m, test));
    save("confidence", attn::head_confidence(task, m, test));
    std::cout << "\nwrote the weights, X, A, logits, d_xi and the three "
              << "measures to " << dir << '\n';
}

int run(const cxxopts::ParseResult& options, const book::common_args& args)
{
    const auto steps = options["steps"].as<std::size_t>();
    if (steps == 0) {
        throw book::usage_error("--steps must be at least 1");
    }
    // The test set and the example of the figures depend on --seed too.
    const auto test = attn::make_heads_examples(task, test_sequences,
                                                args.seed);
    const auto example = test.front();
    std::cout << "Task: BOS + " << task.length << " tokens from {0.."
              << task.vocab - 1 << "}; at position i >= 2 name the class\n"
              << "      2 t[i-1] + (t[i] seen before), one of "
              << task.classes() << ".\nModel: one self-attention layer, "
              << task.heads << " heads, d_model " << task.d_model
              << ", strict causal mask,\n       residual, linear "
              << "read-out.\n\n";
    const auto m = args.load_dir.empty()
                       ? train(args.seed, steps, test, args.out_dir)
                       : load_model(args.load_dir);
    if (!args.load_dir.empty()) {
        std::cout << "Loaded the weights from " << args.load_dir << '\n';
    }
    analyse(m, test, args.out_dir);
    if (!args.out_dir.empty()) {
        heatmaps(m, example, args.out_dir);
    }
    if (!args.save_dir.empty()) {
        save_model(m, example, test, args.save_dir);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return book::run_program(
        argc, argv, "ch05_heads",
        "Train a tiny multi-head attention model, measure and prune its "
        "heads.",
        [](cxxopts::Options& options) {
            options.add_options()(
                "steps", "Adam steps of training",
                cxxopts::value<std::size_t>()->default_value("600"), "N");
        },
        [](const cxxopts::ParseResult& options,
           const book::common_args& args) { return run(options, args); });
}

// Chapter 5: train a tiny multi-head attention model from scratch, look at
// what each head learned, measure how much each head matters three ways,
// and prune heads.
//
//   ch05_heads                   train (seed 1), print progress and results
//   ch05_heads --out D           also write the chapter's figures and tables
//       (and pg_ch05_*.npy, the trained weights for the chapter's playground)
//   ch05_heads --save D          also write the trained weights W_q.npy,
//       W_k.npy, W_v.npy, W_o.npy (d, d), b_o.npy (d,), W_u.npy (d, 2V),
//       b_u.npy (2V,), and for one example sequence X.npy (n, d), its
//       per-head weights A.npy (H, n, n), logits.npy (n, 2V), the gradient
//       of its loss with respect to the gates dL/dxi as d_xi.npy (H,); and the
//       measures ablation.npy, importance.npy, confidence.npy (H,)
//   ch05_heads --load D          read those weights instead of training

#include <algorithm>
#include <array>
#include <cmath>
#include <iostream>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/output.hpp"
#include "book/plot.hpp"
#include "attention/heads_task.hpp"
#include "attention/tiny_model.hpp"
#include "attention/training.hpp"
#include "attention/head_importance.hpp"

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

// Why the test accuracy of Figure 5.1 runs ahead of the training accuracy,
// from the curve's columns (step, loss, train acc, test acc, train acc now).
std::string training_lag_sentence(
    const std::vector<std::vector<double>>& curve)
{
    std::size_t widest = 0;  // the report where test acc leads train acc most
    double lead = 0.0, apart = 0.0;
    for (std::size_t k = 0; k < curve[0].size(); ++k) {
        if (curve[3][k] - curve[2][k] > lead) {
            lead = curve[3][k] - curve[2][k];
            widest = k;
        }
        apart = std::max(apart, std::abs(curve[4][k] - curve[3][k]));
    }
    const auto step = [&](std::size_t k) {
        return fmt(curve[0][k], "%.0f");
    };
    std::ostringstream out;
    out << "At step " << step(widest) << " the batches of steps "
        << (widest == 0 ? "1" : fmt(curve[0][widest - 1] + 1, "%.0f"))
        << " to " << step(widest) << " scored "
        << fmt(curve[2][widest], "%.3f") << " as they were trained on and "
        << "the test set " << fmt(curve[3][widest], "%.3f")
        << "; the same batches scored again by the model of step "
        << step(widest) << " give " << fmt(curve[4][widest], "%.3f")
        << " (the last column of the table in *Run it*). Over all reports, "
        << "the batches scored again by the current model are within "
        << fmt(apart, "%.3f") << " of the test accuracy, while the running "
        << "average trails it by up to " << fmt(lead, "%.3f") << ": "
        << (apart < 0.5 * lead
                ? "the gap is the lag of the average, not a harder "
                  "training set."
                : "the lag of the average explains only part of the gap.")
        << '\n';
    return out.str();
}

// The training sequences of the steps after `from` up to `to`: the
// batches a progress report averages over.
std::vector<attn::heads_example> batches_since(
    const attn::training_options& options, std::size_t from, std::size_t to)
{
    std::vector<attn::heads_example> out;
    for (std::size_t step = from + 1; step <= to; ++step) {
        for (std::size_t b = 0; b < options.batch; ++b) {
            out.push_back(attn::training_example(task, options, step, b));
        }
    }
    return out;
}

// A training run of the main model: the model, and the test accuracy at
// each report (by step).
struct trained {
    attn::tiny_model model;
    std::map<std::size_t, double> test_accuracy;
};

trained train(std::uint64_t seed, std::size_t steps,
              const std::vector<attn::heads_example>& test,
              const book::output_sink& out)
{
    attn::training_options options;
    options.seed = seed;
    options.steps = steps;
    std::vector<std::vector<double>> curve(5);
    std::map<std::size_t, double> test_accuracies;
    std::size_t last_report = 0;
    std::cout << "Training: " << options.steps << " Adam steps of "
              << options.batch << " sequences, step size "
              << fmt(options.lr) << ", seed " << seed << "\n"
              << "   step    loss  train acc  test acc  train acc now\n";
    const auto m = attn::train_tiny_model(
        task, options,
        [&](const attn::training_report& r, const attn::tiny_model& now) {
            const double test_accuracy =
                attn::evaluate_tiny_model(task, now, test).accuracy;
            // The batches the train acc column averaged over, scored again
            // by the model of this step.
            const double train_now = attn::evaluate_tiny_model(
                task, now, batches_since(options, last_report, r.step))
                                         .accuracy;
            last_report = r.step;
            std::cout << fmt(double(r.step), "%7.0f") << "  "
                      << fmt(r.loss, "%6.3f") << "  "
                      << fmt(r.accuracy, "%9.3f") << "  "
                      << fmt(test_accuracy, "%8.3f") << "  "
                      << fmt(train_now, "%13.3f") << '\n';
            curve[0].push_back(double(r.step));
            curve[1].push_back(r.loss);
            curve[2].push_back(r.accuracy);
            curve[3].push_back(test_accuracy);
            curve[4].push_back(train_now);
            test_accuracies[r.step] = test_accuracy;
        });
    out.columns("ch05_training.dat",
                {"step", "loss", "train_accuracy", "test_accuracy",
                 "train_accuracy_now"},
                curve);
    out.text("ch05_training_lag.md", training_lag_sentence(curve));
    return {m, test_accuracies};
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
              const book::output_sink& out)
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
        out.heatmap("ch05_head" + std::to_string(h) + ".svg", a_h, style);
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

// Accuracy over every one of the H! pruning orders, read from the table of
// subsets: the mean, the lowest and the highest with H, ..., 0 heads left.
struct random_orders {
    std::size_t count = 0;                // H!
    std::vector<double> mean, low, high;  // (H + 1,) each
};

random_orders over_all_orders(const vector& subsets)
{
    const std::size_t steps = task.heads + 1;
    random_orders r{0, std::vector<double>(steps, 0.0),
                    std::vector<double>(steps, 1.0),
                    std::vector<double>(steps, 0.0)};
    const auto orders = all_orders(task.heads);
    r.count = orders.size();
    for (const auto& order : orders) {
        const auto c = attn::pruning_curve(subsets, order);
        for (std::size_t k = 0; k < steps; ++k) {
            r.mean[k] += c[k] / double(orders.size());
            r.low[k] = std::min(r.low[k], c[k]);
            r.high[k] = std::max(r.high[k], c[k]);
        }
    }
    return r;
}

// The subset of exactly two heads with the highest accuracy (the first
// one on a tie), as a bit mask.
std::size_t best_pair_of(const vector& subsets)
{
    std::size_t best = 0;
    for (std::size_t mask = 0; mask < subsets.size(); ++mask) {
        if (__builtin_popcountll(mask) == 2
            && (best == 0 || subsets(mask) > subsets(best))) {
            best = mask;
        }
    }
    return best;
}

// One pruning order and the accuracy with H, H - 1, ..., 0 heads left.
struct pruning_order {
    std::vector<std::size_t> order;  // (H,)
    std::vector<double> curve;       // (H + 1,)
};

// Everything the program reports about a trained model, computed once;
// the console, the tables and the sentences are all made from it.
struct analysis {
    std::size_t sequences = 0;                  // test sequences
    attn::evaluation full;                      // all heads on
    double chance = 0.0;                        // most frequent class
    vector ablation, importance, confidence;    // (H,) each
    std::vector<attn::head_pattern> patterns;   // one per head
    copy_breakdown copies;                      // by the value of t_i
    vector subsets;                             // (2^H,)
    pruning_order by_importance, by_remeasured, by_ablation, by_confidence;
    random_orders random;                       // all H! orders
    std::size_t best_pair = 0;                  // bit mask of two heads
};

// [ch05-analysis]
// Three measures of each head, side by side, then pruning in the order of
// each measure and, as the control, in every possible order.
analysis analyse(const attn::tiny_model& m,
                 const std::vector<attn::heads_example>& test)
{
    analysis a;
    a.sequences = test.size();
    a.full = attn::evaluate_tiny_model(task, m, test);
    a.ablation = attn::head_ablation(task, m, test);           // (H,)
    a.importance = attn::head_importance(task, m, test);       // (H,)
    a.confidence = attn::head_confidence(task, m, test);       // (H,)
    a.patterns = attn::head_patterns(task, m, test);
    // Pruning orders, least important first by each measure, all read
    // from the accuracy of every subset of heads.
    a.subsets = attn::subset_accuracies(task, m, test);        // (2^H,)
    auto prune = [&](const std::vector<std::size_t>& order) {
        return pruning_order{order, attn::pruning_curve(a.subsets, order)};
    };
    a.by_importance = prune(attn::order_by_score(a.importance));
    a.by_remeasured = prune(attn::importance_order_remeasured(task, m,
                                                              test));
    a.by_ablation = prune(attn::order_by_score(a.ablation));
    a.by_confidence = prune(attn::order_by_score(a.confidence));
    a.random = over_all_orders(a.subsets);
    a.chance = chance_accuracy(test);
    a.copies = copies_by_token(m, test);
    a.best_pair = best_pair_of(a.subsets);
    return a;
}
// [ch05-analysis]

// The same cells under a plain header, for the console: the Markdown's
// header holds HTML.
void print_table(const book::table& t, std::vector<std::string> header)
{
    book::table{std::move(header), t.rows}.print(std::cout, 0);
}

// Table 5.1: accuracy of the model against the most frequent class.
book::table accuracy_table(const analysis& a)
{
    book::table t{{"test sequences", "accuracy, all heads", "test loss",
                   "always the most frequent class"},
                  {}};
    t.add({std::to_string(a.sequences), fmt(a.full.accuracy, "%.3f"),
           fmt(a.full.loss, "%.2g"), fmt(a.chance, "%.3f")});
    return t;
}

// Table 5.2: what each head does, and its three measures.
book::table heads_table(const analysis& a)
{
    book::table t{{"head: pattern", "on <i>i</i>&minus;1", "on copies",
                   "on BOS", "ablation", "<i>&Icirc;<sub>h</sub></i>",
                   "confidence"},
                  {}};
    for (std::size_t h = 0; h < task.heads; ++h) {
        const auto& p = a.patterns[h];
        t.add({std::to_string(h) + ": " + describe(p),
               fmt(p.previous, "%.2f"), fmt(p.copies, "%.2f"),
               fmt(p.bos, "%.2f"), fmt(a.ablation(h), "%.3f"),
               fmt(a.importance(h), "%.3f"), fmt(a.confidence(h), "%.3f")});
    }
    return t;
}

// Table 5.3: weight on earlier copies of t_i, by the value of t_i.
book::table copy_tokens_table(const analysis& a)
{
    book::table t{{"head: pattern"}, {}};
    for (std::size_t v = 0; v < task.vocab; ++v) {
        t.header.push_back("<i>t<sub>i</sub></i> = " + std::to_string(v));
    }
    for (std::size_t h = 0; h < task.heads; ++h) {
        std::vector<std::string> row{std::to_string(h) + ": "
                                     + describe(a.patterns[h])};
        for (std::size_t v = 0; v < task.vocab; ++v) {
            row.push_back(fmt(a.copies.by_token[h][v], "%.2f"));
        }
        t.add(row);
    }
    return t;
}

// Table 5.4: accuracy with H, ..., 0 heads left in each pruning order
// (without its last row, the orders themselves: see pruning_orders_row).
book::table pruning_table(const analysis& a)
{
    book::table t{{"heads left", "by <i>&Icirc;<sub>h</sub></i>",
                   "by <i>&Icirc;<sub>h</sub></i> again", "by ablation",
                   "by confidence", "random: mean", "random: range"},
                  {}};
    for (std::size_t k = 0; k <= task.heads; ++k) {
        t.add({fmt(double(task.heads - k), "%.0f"),
               fmt(a.by_importance.curve[k], "%.3f"),
               fmt(a.by_remeasured.curve[k], "%.3f"),
               fmt(a.by_ablation.curve[k], "%.3f"),
               fmt(a.by_confidence.curve[k], "%.3f"),
               fmt(a.random.mean[k], "%.3f"),
               fmt(a.random.low[k], "%.3f") + "\u2013"
                   + fmt(a.random.high[k], "%.3f")});
    }
    return t;
}

std::vector<std::string> pruning_orders_row(const analysis& a)
{
    return {"order of removal", order_string(a.by_importance.order),
            order_string(a.by_remeasured.order),
            order_string(a.by_ablation.order),
            order_string(a.by_confidence.order),
            "all " + std::to_string(a.random.count) + " orders", ""};
}

// The pruning curves as columns for Figure 5.3.
std::vector<std::vector<double>> pruning_columns(const analysis& a)
{
    std::vector<std::vector<double>> columns(8);
    for (std::size_t k = 0; k <= task.heads; ++k) {
        const std::vector<double> row{
            double(task.heads - k), a.by_importance.curve[k],
            a.by_remeasured.curve[k], a.by_ablation.curve[k],
            a.by_confidence.curve[k], a.random.mean[k], a.random.low[k],
            a.random.high[k]};
        for (std::size_t c = 0; c < row.size(); ++c) {
            columns[c].push_back(row[c]);
        }
    }
    return columns;
}

void print_analysis(const analysis& a)
{
    // Table 5.1's one row, as a sentence.
    const auto accuracy = accuracy_table(a).rows.front();
    std::cout << "\nOn " << accuracy[0] << " test sequences: accuracy "
              << accuracy[1] << ", loss " << accuracy[2]
              << "\n(always naming the most frequent class: " << accuracy[3]
              << ")\n\n";
    print_table(heads_table(a), {"head: pattern", "prev", "copy",
                                 "BOS|no copy", "ablation", "I_h",
                                 "confidence"});
    std::cout << "\nWeight on earlier copies of t_i, by the value of t_i "
              << "(positions with a copy):\n";
    std::vector<std::string> token_header{"head: pattern"};
    for (std::size_t v = 0; v < task.vocab; ++v) {
        token_header.push_back("t_i=" + std::to_string(v));
    }
    print_table(copy_tokens_table(a), token_header);
    std::cout << "(the previous token is itself a copy of t_i at "
              << fmt(a.copies.previous_is_copy, "%.2f")
              << " of these positions)\n";
    std::cout << "\nPruning, heads removed in the order\n  by I_h: "
              << order_string(a.by_importance.order) << "; by I_h again: "
              << order_string(a.by_remeasured.order) << "\n  by ablation: "
              << order_string(a.by_ablation.order) << "; by confidence: "
              << order_string(a.by_confidence.order) << "\n";
    print_table(pruning_table(a), {"heads left", "I_h", "I_h again",
                                   "ablation", "confidence", "random: mean",
                                   "range"});
}

// One sentence per head, then how the jobs are shared out among them.
std::string head_sentences(const analysis& a)
{
    std::ostringstream out;
    for (std::size_t h = 0; h < task.heads; ++h) {
        out << "- " << head_sentence(h, a.patterns[h], a.confidence(h))
            << '\n';
    }
    out << "\nIn all:";
    bool first_kind = true;
    for (const std::string kind :
         {"copy detector", "previous token", "mixed"}) {
        std::vector<std::string> heads;
        for (std::size_t h = 0; h < task.heads; ++h) {
            if (describe(a.patterns[h]) == kind) {
                heads.push_back(std::to_string(h));
            }
        }
        if (heads.empty()) {
            continue;
        }
        const bool one = heads.size() == 1;
        out << (first_kind ? " " : "; ") << (one ? "head " : "heads ")
            << book::and_list(heads) << (one ? " is " : " are ")
            << (kind == "mixed"           ? "mixed"
                : kind == "copy detector" ? (one ? "a copy detector"
                                                 : "copy detectors")
                : one ? "a previous-token head" : "previous-token heads");
        first_kind = false;
    }
    out << ".\n";
    return out.str();
}

// Which tokens each copy detector covers (weight on copies >= 0.5).
std::string copy_detectors_sentence(const analysis& a)
{
    std::ostringstream out;
    out << "- Per token (Table 5.3), ";
    bool first = true;
    for (std::size_t h = 0; h < task.heads; ++h) {
        if (describe(a.patterns[h]) != "copy detector") {
            continue;
        }
        std::string covered;
        for (std::size_t v = 0; v < task.vocab; ++v) {
            if (a.copies.by_token[h][v] >= 0.5) {
                covered += (covered.empty() ? "" : ", ") + std::to_string(v);
            }
        }
        out << (first ? "" : "; ") << "copy detector head " << h
            << " puts at least half its weight on the copies of "
            << (covered.empty() ? "no token" : "tokens " + covered);
        first = false;
    }
    out << ". A previous-token head also puts weight on copies "
        << "because the previous token is itself a copy of "
        << "<i>t<sub>i</sub></i> at "
        << fmt(a.copies.previous_is_copy, "%.2f")
        << " of the positions that have one.\n";
    return out.str();
}

// The findings after Table 5.4, made from the numbers.
std::string findings(const analysis& a)
{
    std::vector<std::string> ablated, costs;
    for (auto h : a.by_ablation.order) {
        ablated.push_back(std::to_string(h));
        costs.push_back(fmt(a.ablation(h), "%.3f"));
    }
    std::vector<std::size_t> pair;
    for (std::size_t h = 0; h < task.heads; ++h) {
        if ((a.best_pair >> h) & 1) {
            pair.push_back(h);
        }
    }
    const auto& once = a.by_importance.order;
    const auto& again = a.by_remeasured.order;
    std::ostringstream out;
    out << "- Removed alone, heads " << book::and_list(ablated) << " cost "
        << book::and_list(costs)
        << " of test accuracy (Table 5.2's ablation column).\n"
        << "- The least important head is head " << a.by_ablation.order[0]
        << " by ablation, head " << once[0]
        << " by <i>&Icirc;<sub>h</sub></i> and head "
        << a.by_confidence.order[0] << " by confidence.\n"
        << "- Pruning by <i>&Icirc;<sub>h</sub></i> measured once removes "
        << "heads " << head_set({once[0], once[1]}, a.patterns)
        << " first; with two heads left the accuracy is "
        << fmt(a.by_importance.curve[2], "%.3f") << ".\n"
        << "- Measuring <i>&Icirc;<sub>h</sub></i> again after each "
        << "removal removes " << head_set({again[0], again[1]}, a.patterns)
        << " first, and keeps " << fmt(a.by_remeasured.curve[2], "%.3f")
        << " with two heads left.\n"
        << "- The best pair of heads is " << head_set(pair, a.patterns)
        << ", with accuracy " << fmt(a.subsets(a.best_pair), "%.3f")
        << "; a random order keeps " << fmt(a.random.mean[2], "%.3f")
        << " on average with two heads left.\n"
        << copy_detectors_sentence(a);
    return out.str();
}

// The chapter's tables, sentences and the data of Figure 5.3.
void write_analysis(const analysis& a, const book::output_sink& out)
{
    out.markdown("ch05_accuracy.md", accuracy_table(a));
    out.markdown("ch05_heads.md", heads_table(a));
    out.markdown("ch05_copy_tokens.md", copy_tokens_table(a));
    book::table pruning = pruning_table(a);
    pruning.add(pruning_orders_row(a));
    out.markdown("ch05_pruning.md", pruning);
    out.columns("ch05_pruning.dat",
                {"heads_left", "by_importance", "by_remeasured",
                 "by_ablation", "by_confidence", "random_mean", "random_min",
                 "random_max"},
                pruning_columns(a));
    out.text("ch05_head_sentences.md", head_sentences(a));
    out.text("ch05_findings.md", findings(a));
}

// ---- Over several seeds: the spread of the main results, and the
// controls with H = 1 and H = 2 heads at the same d_model. ----

// The number of weights of a model: W_q, W_k, W_v, W_o, b_o, W_u, b_u.
std::size_t weight_count(const attn::tiny_model& m)
{
    const auto& a = m.attention;
    return a.w_q.size() + a.w_k.size() + a.w_v.size() + a.w_o.size()
           + a.b_o.size() + m.w_u.size() + m.b_u.size();
}

// One model of the spread: H heads, trained like the main model with its
// seed and scored on that seed's test set, halfway and at the end.
struct seed_run {
    std::size_t heads = 0;
    std::uint64_t seed = 0;
    std::size_t weights = 0;
    double halfway = 0.0;   // test accuracy after steps / 2
    double accuracy = 0.0;  // test accuracy after all steps
    attn::tiny_model model;
};

seed_run train_quietly(std::size_t heads, std::uint64_t seed,
                       std::size_t steps,
                       const std::vector<attn::heads_example>& test)
{
    attn::heads_task t = task;
    t.heads = heads;  // d_k = d_model / H; the weights keep their shapes
    attn::training_options options;
    options.seed = seed;
    options.steps = steps;
    options.report_every = std::max<std::size_t>(steps / 2, 1);
    seed_run r;
    r.heads = heads;
    r.seed = seed;
    r.model = attn::train_tiny_model(
        t, options,
        [&](const attn::training_report& report, const attn::tiny_model& now) {
            if (report.step == steps / 2) {
                r.halfway = attn::evaluate_tiny_model(t, now, test).accuracy;
            }
        });
    r.weights = weight_count(r.model);
    r.accuracy = attn::evaluate_tiny_model(t, r.model, test).accuracy;
    return r;
}

// Mean, lowest and highest of some numbers.
struct spread {
    double mean = 0.0, low = 0.0, high = 0.0;
};

spread spread_of(const std::vector<double>& x)
{
    spread s{0.0, *std::min_element(x.begin(), x.end()),
             *std::max_element(x.begin(), x.end())};
    for (double v : x) {
        s.mean += v / double(x.size());
    }
    return s;
}

std::vector<std::string> spread_cells(const std::vector<double>& x)
{
    const auto s = spread_of(x);
    return {fmt(s.mean, "%.3f"), fmt(s.low, "%.3f"), fmt(s.high, "%.3f")};
}

// The final and the halfway test accuracies of some runs.
std::vector<double> accuracies(const std::vector<seed_run>& runs)
{
    std::vector<double> x;
    for (const auto& r : runs) {
        x.push_back(r.accuracy);
    }
    return x;
}

std::vector<double> halfway_accuracies(const std::vector<seed_run>& runs)
{
    std::vector<double> x;
    for (const auto& r : runs) {
        x.push_back(r.halfway);
    }
    return x;
}

// Everything over the seeds: runs[H index][seed index], and the analysis
// of each H = 4 model.
struct seed_study {
    std::vector<std::size_t> heads;      // H of each row of runs
    std::vector<std::uint64_t> seeds;
    std::vector<std::vector<seed_run>> runs;
    std::vector<analysis> full;          // one per seed, H = task.heads
    std::size_t steps = 0;
};

seed_study study_seeds(std::uint64_t first, std::size_t count,
                       std::size_t steps, const trained& main_run,
                       const analysis& main_analysis)
{
    seed_study st;
    st.heads = {1, 2, task.heads};
    st.steps = steps;
    for (std::size_t k = 0; k < count; ++k) {
        st.seeds.push_back(first + k);
    }
    st.runs.resize(st.heads.size());
    for (auto seed : st.seeds) {
        const auto test = attn::make_heads_examples(task, test_sequences,
                                                    seed);
        for (std::size_t c = 0; c < st.heads.size(); ++c) {
            const bool is_main = st.heads[c] == task.heads && seed == first;
            const auto half = main_run.test_accuracy.find(steps / 2);
            seed_run r;
            if (is_main && half != main_run.test_accuracy.end()) {
                // The main model itself: the same seed trains it again.
                r = {task.heads, seed, weight_count(main_run.model),
                     half->second,
                     attn::evaluate_tiny_model(task, main_run.model, test)
                         .accuracy,
                     main_run.model};
            } else {
                r = train_quietly(st.heads[c], seed, steps, test);
            }
            if (st.heads[c] == task.heads) {
                st.full.push_back(is_main ? main_analysis
                                          : analyse(r.model, test));
            }
            st.runs[c].push_back(std::move(r));
        }
    }
    return st;
}

// Table 5.5: test accuracy by the number of heads, over the seeds.
book::table heads_count_table(const seed_study& st)
{
    book::table t{{"H", "d_k", "weights", "mean", "min", "max",
                   "half", "by seed"},
                  {}};
    t.nowrap = {7};
    t.page_header = {"<i>H</i>", "<i>d<sub>k</sub></i>", "weights",
                     "test accuracy: mean", "min", "max",
                     "mean at step " + std::to_string(st.steps / 2),
                     "by seed " + std::to_string(st.seeds.front()) + " to "
                         + std::to_string(st.seeds.back())};
    for (std::size_t c = 0; c < st.heads.size(); ++c) {
        const auto acc = accuracies(st.runs[c]);
        std::vector<std::string> row{
            std::to_string(st.heads[c]),
            std::to_string(task.d_model / st.heads[c]),
            std::to_string(st.runs[c].front().weights)};
        for (const auto& cell : spread_cells(acc)) {
            row.push_back(cell);
        }
        row.push_back(fmt(spread_of(halfway_accuracies(st.runs[c])).mean,
                          "%.3f"));
        std::string each;
        for (double x : acc) {
            each += (each.empty() ? "" : " ") + fmt(x, "%.3f");
        }
        row.push_back(each);
        t.add(row);
    }
    return t;
}

// The two heads left by a pruning order.
std::size_t kept_pair(const pruning_order& p)
{
    std::size_t mask = (std::size_t(1) << task.heads) - 1;
    for (std::size_t k = 0; k + 2 < task.heads; ++k) {
        mask &= ~(std::size_t(1) << p.order[k]);
    }
    return mask;
}

std::size_t count_kind(const analysis& a, const std::string& kind)
{
    std::size_t n = 0;
    for (const auto& p : a.patterns) {
        n += describe(p) == kind ? 1 : 0;
    }
    return n;
}

// Test accuracy with two heads left: pruned by I^_h measured once, by I^_h
// measured again, by ablation; the best pair; a random order's mean.
std::array<double, 5> two_heads_left(const analysis& a)
{
    return {a.by_importance.curve[2], a.by_remeasured.curve[2],
            a.by_ablation.curve[2], a.subsets(a.best_pair),
            a.random.mean[2]};
}

// Table 5.6: the main results of every H = 4 model, one seed per row, and
// their mean, lowest and highest.
book::table seeds_table(const seed_study& st)
{
    book::table t{{"seed", "accuracy", "prev/copy/mixed", "Î_h once",
                   "Î_h again", "ablation", "best", "random"},
                  {}};
    t.page_header = {"seed", "test accuracy",
                     "heads: previous / copy / mixed",
                     "2 left, by <i>&Icirc;<sub>h</sub></i> once",
                     "by <i>&Icirc;<sub>h</sub></i> again", "by ablation",
                     "best pair", "random order: mean"};
    std::vector<std::vector<double>> columns(6);
    for (std::size_t k = 0; k < st.full.size(); ++k) {
        const auto& a = st.full[k];
        std::vector<double> values{a.full.accuracy};
        for (double x : two_heads_left(a)) {
            values.push_back(x);
        }
        std::vector<std::string> row{
            std::to_string(st.seeds[k]), fmt(values[0], "%.3f"),
            std::to_string(count_kind(a, "previous token")) + "/"
                + std::to_string(count_kind(a, "copy detector")) + "/"
                + std::to_string(count_kind(a, "mixed"))};
        for (std::size_t c = 1; c < values.size(); ++c) {
            row.push_back(fmt(values[c], "%.3f"));
        }
        for (std::size_t c = 0; c < values.size(); ++c) {
            columns[c].push_back(values[c]);
        }
        t.add(row);
    }
    const char* names[] = {"mean", "min", "max"};
    for (std::size_t w = 0; w < 3; ++w) {
        std::vector<std::string> row{names[w]};
        for (std::size_t c = 0; c < columns.size(); ++c) {
            const auto s = spread_of(columns[c]);
            row.push_back(fmt(w == 0 ? s.mean : w == 1 ? s.low : s.high,
                              "%.3f"));
            if (c == 0) {
                row.push_back("");
            }
        }
        t.add(row);
    }
    return t;
}

// What the seeds show, as sentences for the chapter.
std::string seeds_sentences(const seed_study& st)
{
    const std::size_t n = st.seeds.size(), last = st.heads.size() - 1;
    std::vector<spread> by_heads;
    for (const auto& runs : st.runs) {
        by_heads.push_back(spread_of(accuracies(runs)));
    }
    // Compared as printed (3 decimals), so that a sentence never
    // contradicts the table.
    const auto milli = [](double x) { return long(std::lround(1000 * x)); };
    std::ostringstream out;
    out << "- Over the " << n << " seeds, one head reaches a test accuracy "
        << "of " << fmt(by_heads[0].mean, "%.3f") << " on average (from "
        << fmt(by_heads[0].low, "%.3f") << " to "
        << fmt(by_heads[0].high, "%.3f") << "), two heads "
        << fmt(by_heads[1].mean, "%.3f") << " and " << st.heads[last]
        << " heads " << fmt(by_heads[last].mean, "%.3f") << " (Table 5.5).";
    for (std::size_t c = 0; c < last; ++c) {
        std::size_t lower = 0, higher = 0;
        for (std::size_t k = 0; k < n; ++k) {
            const long a = milli(st.runs[c][k].accuracy);
            const long b = milli(st.runs[last][k].accuracy);
            lower += a < b ? 1 : 0;
            higher += a > b ? 1 : 0;
        }
        out << " With " << (st.heads[c] == 1 ? "one head" : "two heads")
            << ", the model scores lower than the " << st.heads[last]
            << "-head model of the same seed on " << lower << " of " << n
            << " seeds, higher on " << higher << ", the same on "
            << n - lower - higher << ".";
    }
    const auto half = halfway_accuracies(st.runs[0]);
    out << " From step " << st.steps / 2 << " to step " << st.steps
        << " the one-head models' mean "
        << (milli(by_heads[0].mean) > milli(spread_of(half).mean)
                ? "rose from " + fmt(spread_of(half).mean, "%.3f") + " to "
                      + fmt(by_heads[0].mean, "%.3f")
                      + ": their curves had not flattened"
                : "stayed at " + fmt(by_heads[0].mean, "%.3f")
                      + " or fell")
        << ".\n";
    // The pruning orders: on which seeds each kept the best pair.
    std::vector<std::string> once, again, ablation;
    std::size_t all_roles = 0;
    std::vector<double> two_left[5];  // once, again, ablation, best, random
    for (std::size_t k = 0; k < n; ++k) {
        const auto& a = st.full[k];
        const auto seed = std::to_string(st.seeds[k]);
        if (kept_pair(a.by_importance) == a.best_pair) once.push_back(seed);
        if (kept_pair(a.by_remeasured) == a.best_pair) again.push_back(seed);
        if (kept_pair(a.by_ablation) == a.best_pair) ablation.push_back(seed);
        all_roles += count_kind(a, "previous token") >= 1
                             && count_kind(a, "copy detector") >= 1
                         ? 1 : 0;
        const auto values = two_heads_left(a);
        for (std::size_t c = 0; c < values.size(); ++c) {
            two_left[c].push_back(values[c]);
        }
    }
    const auto seeds_of = [](const std::vector<std::string>& v) {
        return std::to_string(v.size())
               + (v.empty() ? "" : " (seed" + std::string(v.size() > 1
                                                              ? "s " : " ")
                                       + book::and_list(v) + ")");
    };
    const auto mean = [&](std::size_t c) {
        return fmt(spread_of(two_left[c]).mean, "%.3f");
    };
    out << "- In " << all_roles << " of the " << n << " four-head models "
        << "at least one head is a previous-token head and one a copy "
        << "detector (Table 5.6).\n"
        << "- With two heads left, pruning keeps the best pair of heads in "
        << seeds_of(once) << " of " << n << " seeds by "
        << "<i>&Icirc;<sub>h</sub></i> measured once, in " << seeds_of(again)
        << " by <i>&Icirc;<sub>h</sub></i> measured again after each "
        << "removal, and in " << seeds_of(ablation) << " by ablation. The "
        << "mean accuracy with two heads left is " << mean(0) << " by "
        << "<i>&Icirc;<sub>h</sub></i> once, " << mean(1) << " by "
        << "<i>&Icirc;<sub>h</sub></i> again, " << mean(2)
        << " by ablation, " << mean(3) << " for the best pair and "
        << mean(4) << " for a random order.\n";
    return out.str();
}

void print_seeds(const seed_study& st)
{
    std::cout << "\nOver seeds " << st.seeds.front() << " to "
              << st.seeds.back() << " (" << st.steps << " steps each), "
              << "test accuracy by the number of heads H\n(half: the mean "
              << "at step " << st.steps / 2 << "):\n";
    heads_count_table(st).print(std::cout, 0);
    std::cout << "\nThe " << task.heads << "-head models, seed by seed "
              << "(then the accuracy with 2 heads left\nin each pruning "
              << "order):\n";
    seeds_table(st).print(std::cout, 0);
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

// Every weight of the model, each through save(name, tensor).
template <class Save>
void save_weights(const attn::tiny_model& m, Save save)
{
    save("W_q", m.attention.w_q);
    save("W_k", m.attention.w_k);
    save("W_v", m.attention.w_v);
    save("W_o", m.attention.w_o);
    save("b_o", m.attention.b_o);
    save("W_u", m.w_u);
    save("b_u", m.b_u);
}

void save_model(const attn::tiny_model& m, const attn::heads_example& e,
                const analysis& a, const std::string& dir)
{
    auto save = [&](const std::string& name, const auto& t) {
        book::save_npy(book::path_in(dir, name + ".npy"), t);
    };
    save_weights(m, save);
    const auto f = attn::tiny_model_forward(task, m, e);
    const auto g = attn::tiny_model_backward(task, m, e, f);
    save("X", f.x);
    save("A", f.layer.a);
    save("logits", f.logits);
    save("d_xi", g.layer.dL_dxi);
    save("ablation", a.ablation);
    save("importance", a.importance);
    save("confidence", a.confidence);
    std::cout << "\nwrote the weights, X, A, logits, d_xi and the three "
              << "measures to " << dir << '\n';
}

// For the chapter's playground (code/web/pg_ch05.hpp): the trained
// weights, the tokens t_1 .. t_L of the first test sequence (the one of
// Figure 5.2) and the test set's seed and size, as pg_ch05_*.npy in --out.
void write_playground_data(const attn::tiny_model& m,
                           const std::vector<attn::heads_example>& test,
                           std::uint64_t seed, const book::output_sink& out)
{
    if (!out.enabled()) {
        return;
    }
    auto save = [&](const std::string& name, const auto& t) {
        book::save_npy(out.path("pg_ch05_" + name + ".npy"), t);
    };
    save_weights(m, save);
    const auto& tokens = test.front().tokens;  // BOS first
    vector t = xt::empty<double>({tokens.size() - 1});
    for (std::size_t i = 1; i < tokens.size(); ++i) {
        t(i - 1) = double(tokens[i]);
    }
    save("tokens", t);
    const vector test_set = {double(seed), double(test.size())};
    save("test_set", test_set);
}

// What follows training or loading: the analysis, printed, written for the
// book (--out) and saved (--save).
analysis report(const attn::tiny_model& m,
                const std::vector<attn::heads_example>& test,
                const book::common_args& args)
{
    const book::output_sink out(args.out_dir);
    const analysis a = analyse(m, test);
    print_analysis(a);
    write_analysis(a, out);
    heatmaps(m, test.front(), out);
    write_playground_data(m, test, args.seed, out);
    if (!args.save_dir.empty()) {
        save_model(m, test.front(), a, args.save_dir);
    }
    return a;
}

// --load DIR: the weights from DIR instead of training, then the same
// report (and --save DIR) as after training.
int run_load_save(const book::common_args& args,
                  const std::vector<attn::heads_example>& test)
{
    const auto m = load_model(args.load_dir);
    std::cout << "Loaded the weights from " << args.load_dir << '\n';
    report(m, test, args);
    return 0;
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
    std::cout << "Task: BOS + " << task.length << " tokens from {0.."
              << task.vocab - 1 << "}; at position i >= 2 name the class\n"
              << "      2 t[i-1] + (t[i] seen before), one of "
              << task.classes() << ".\nModel: one self-attention layer, "
              << task.heads << " heads, d_model " << task.d_model
              << ", strict causal mask,\n       residual, linear "
              << "read-out.\n\n";
    if (!args.load_dir.empty()) {
        return run_load_save(args, test);
    }
    const book::output_sink out(args.out_dir);
    const auto main_run = train(args.seed, steps, test, out);
    const analysis a = report(main_run.model, test, args);
    const auto seeds = options["seeds"].as<std::size_t>();
    if (seeds > 0) {
        const auto st = study_seeds(args.seed, seeds, steps, main_run, a);
        print_seeds(st);
        out.markdown("ch05_heads_count.md", heads_count_table(st));
        out.markdown("ch05_seeds.md", seeds_table(st));
        out.text("ch05_seed_findings.md", seeds_sentences(st));
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
                cxxopts::value<std::size_t>()->default_value("600"), "N")(
                "seeds",
                "seeds --seed .. --seed + N - 1 for the spread of the "
                "results and the H = 1, 2 controls (0: none)",
                cxxopts::value<std::size_t>()->default_value("5"), "N");
        },
        [](const cxxopts::ParseResult& options,
           const book::common_args& args) { return run(options, args); });
}

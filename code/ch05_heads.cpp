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
//       of its loss with respect to the gates dL/dxi as d_xi.npy (H,); and the
//       measures ablation.npy, importance.npy, confidence.npy (H,)
//   ch05_heads --load D          read those weights instead of training

#include <algorithm>
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

attn::tiny_model train(std::uint64_t seed, std::size_t steps,
                       const std::vector<attn::heads_example>& test,
                       const book::output_sink& out)
{
    attn::training_options options;
    options.seed = seed;
    options.steps = steps;
    std::vector<std::vector<double>> curve(4);
    std::cout << "Training: " << options.steps << " Adam steps of "
              << options.batch << " sequences, step size "
              << fmt(options.lr) << ", seed " << seed << "\n"
              << "   step    loss  train acc  test acc\n";
    const auto m = attn::train_tiny_model(
        task, options,
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
    out.columns("ch05_training.dat",
                {"step", "loss", "train_accuracy", "test_accuracy"}, curve);
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
                const analysis& a, const std::string& dir)
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
    save("d_xi", g.layer.dL_dxi);
    save("ablation", a.ablation);
    save("importance", a.importance);
    save("confidence", a.confidence);
    std::cout << "\nwrote the weights, X, A, logits, d_xi and the three "
              << "measures to " << dir << '\n';
}

// What follows training or loading: the analysis, printed, written for the
// book (--out) and saved (--save).
int report(const attn::tiny_model& m,
           const std::vector<attn::heads_example>& test,
           const book::common_args& args)
{
    const book::output_sink out(args.out_dir);
    const analysis a = analyse(m, test);
    print_analysis(a);
    write_analysis(a, out);
    heatmaps(m, test.front(), out);
    if (!args.save_dir.empty()) {
        save_model(m, test.front(), a, args.save_dir);
    }
    return 0;
}

// --load DIR: the weights from DIR instead of training, then the same
// report (and --save DIR) as after training.
int run_load_save(const book::common_args& args,
                  const std::vector<attn::heads_example>& test)
{
    const auto m = load_model(args.load_dir);
    std::cout << "Loaded the weights from " << args.load_dir << '\n';
    return report(m, test, args);
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
    const auto m = train(args.seed, steps, test,
                         book::output_sink(args.out_dir));
    return report(m, test, args);
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

// How much each head of a trained tiny model matters, measured three ways
// with the weights frozen (ablation, the gradient importance of Michel et
// al. 2019, the confidence of Voita et al. 2019), where each head puts its
// weight, and pruning: the accuracy as heads are gated off in the order of
// a measure, read from a table of every subset of heads.
//
// Glossary (H heads, D a set of sequences, S its scored positions):
//   xi       head gates, 1 = on, 0 = off                     // (H,)
//   Delta    ablation: acc(all on) - acc(head h off)         // (H,)
//   I        importance E_x |dL(x)/dxi_h|, l2-normalised     // (H,)
//   conf     confidence: mean over S of max_j A^h_ij         // (H,)
//   acc      accuracy of every subset of heads; entry mask has
//            head h on when bit h of mask is set             // (2^H,)
//   order    heads in the order they are removed             // (H,)
//   curve    accuracy with H, H - 1, ..., 0 heads left       // (H + 1,)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/heads_task.hpp"
#include "attention/tiny_model.hpp"

/// \file
/// \brief How much each head matters, and pruning heads by it
///        (\ref ch05_heads).

namespace attn {

// [ch05-ablation]
/// \brief Accuracy lost when head h alone is gated off, Eq.
///        \ref eq_head_ablation "(5.9)".
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \return `acc(all heads) - acc(xi_h = 0)` for each head `(H,)`
inline vector head_ablation(const heads_task& task, const tiny_model& m,
                            const std::vector<heads_example>& examples)
{
    detail::expect_examples("head_ablation", examples);
    const double full = evaluate_tiny_model(task, m, examples).accuracy;
    vector drop = xt::zeros<double>({task.heads});             // (H,)
    for (std::size_t h = 0; h < task.heads; ++h) {
        vector xi = xt::ones<double>({task.heads});
        xi(h) = 0.0;
        drop(h) = full - evaluate_tiny_model(task, m, examples, xi).accuracy;
    }
    return drop;
}
// [ch05-ablation]

// [ch05-importance]
/// \brief The head importance of Michel et al. (2019), Eq.
///        \ref eq_head_importance "(5.10)": `I_h = E_x |dL(x)/dxi_h|` at
///        the given gates, then divided by the l2 norm over the layer.
/// \param task      the sizes
/// \param m         the model
/// \param examples  the sequences x (the expectation is their mean)
/// \param gates     where the derivative is taken `(H,)`; empty = ones
/// \param normalise divide by the l2 norm of the H scores
/// \return I `(H,)`
inline vector head_importance(const heads_task& task, const tiny_model& m,
                              const std::vector<heads_example>& examples,
                              const vector& gates = {}, bool normalise = true)
{
    detail::expect_examples("head_importance", examples);
    vector importance = xt::zeros<double>({task.heads});       // (H,)
    for (const auto& e : examples) {
        const auto f = tiny_model_forward(task, m, e, gates);
        const auto g = tiny_model_backward(task, m, e, f, gates);
        importance += xt::abs(g.layer.dL_dxi);
    }
    importance /= double(std::max<std::size_t>(examples.size(), 1));
    if (normalise) {
        const double norm = std::sqrt(xt::sum(importance * importance)());
        importance /= norm > 0 ? norm : 1.0;
    }
    return importance;
}
// [ch05-importance]

// [ch05-confidence]
/// \brief The confidence of Voita et al. (2019), Eq.
///        \ref eq_head_confidence "(5.11)": the largest weight of each
///        query, averaged over the scored positions of all sequences.
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \return confidence of each head `(H,)`, in [0, 1]
inline vector head_confidence(const heads_task& task, const tiny_model& m,
                              const std::vector<heads_example>& examples)
{
    detail::expect_examples("head_confidence", examples);
    vector confidence = xt::zeros<double>({task.heads});       // (H,)
    std::size_t queries = 0;
    for (const auto& e : examples) {
        const auto f = tiny_model_forward(task, m, e);
        for (std::size_t i = 0; i < e.tokens.size(); ++i) {
            if (e.target[i] < 0) {
                continue;
            }
            for (std::size_t h = 0; h < task.heads; ++h) {
                confidence(h) += xt::amax(
                    xt::view(f.layer.a, h, i, xt::all()))();
            }
            queries += 1;
        }
    }
    return confidence / double(std::max<std::size_t>(queries, 1));
}
// [ch05-confidence]

/// \brief Where a head puts its weight, averaged over scored positions.
struct head_pattern {
    double previous = 0.0;  ///< weight on key i - 1
    double copies = 0.0;    ///< weight on earlier copies of t_i, over the
                            ///< positions where a copy exists
    double bos = 0.0;       ///< weight on BOS, over the positions where no
                            ///< copy exists
};

/// \brief Measures each head's pattern on a set of sequences.
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \return one pattern per head
inline std::vector<head_pattern> head_patterns(
    const heads_task& task, const tiny_model& m,
    const std::vector<heads_example>& examples)
{
    detail::expect_examples("head_patterns", examples);
    std::vector<head_pattern> out(task.heads);
    std::size_t scored = 0, with_copy = 0, without_copy = 0;
    for (const auto& e : examples) {
        const auto f = tiny_model_forward(task, m, e);
        for (std::size_t i = 2; i < e.tokens.size(); ++i) {
            const bool seen = e.target[i] % 2 == 1;
            scored += 1;
            with_copy += seen ? 1 : 0;
            without_copy += seen ? 0 : 1;
            for (std::size_t h = 0; h < task.heads; ++h) {
                out[h].previous += f.layer.a(h, i, i - 1);
                double copies = 0.0;
                for (std::size_t j = 1; j < i; ++j) {
                    copies += e.tokens[j] == e.tokens[i] ? f.layer.a(h, i, j)
                                                         : 0.0;
                }
                out[h].copies += seen ? copies : 0.0;
                out[h].bos += seen ? 0.0 : f.layer.a(h, i, 0);
            }
        }
    }
    for (auto& p : out) {
        p.previous /= double(std::max<std::size_t>(scored, 1));
        p.copies /= double(std::max<std::size_t>(with_copy, 1));
        p.bos /= double(std::max<std::size_t>(without_copy, 1));
    }
    return out;
}

namespace detail {

// 2^H subsets, each evaluated on every example: H = 20 is already a
// million evaluations.
inline void expect_subsets(const std::string& where, const heads_task& task,
                           const std::vector<heads_example>& examples)
{
    expect_task(where, task);
    expect_examples(where, examples);
    if (task.heads > 20) {
        throw std::invalid_argument(where + ": 2^H subsets of heads are too "
                                    "many for H = "
                                    + std::to_string(task.heads)
                                    + "; expected H <= 20");
    }
}

}  // namespace detail

// [ch05-subsets]
/// \brief Accuracy of the model with every subset of its heads on: entry
///        `mask` has head h on when bit h of `mask` is set.
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \return accuracies `(2^H,)`; the last entry has all heads on
inline vector subset_accuracies(const heads_task& task, const tiny_model& m,
                                const std::vector<heads_example>& examples)
{
    detail::expect_subsets("subset_accuracies", task, examples);
    const std::size_t subsets = std::size_t(1) << task.heads;
    vector accuracy = xt::zeros<double>({subsets});            // (2^H,)
    for (std::size_t mask = 0; mask < subsets; ++mask) {
        vector xi = xt::zeros<double>({task.heads});
        for (std::size_t h = 0; h < task.heads; ++h) {
            xi(h) = (mask >> h) & 1 ? 1.0 : 0.0;
        }
        accuracy(mask) = evaluate_tiny_model(task, m, examples, xi).accuracy;
    }
    return accuracy;
}
// [ch05-subsets]

namespace detail {

// 2^H subset accuracies, and an order naming each of the H heads once.
inline void expect_pruning_order(const std::string& where,
                                 const vector& accuracy,
                                 const std::vector<std::size_t>& order)
{
    if (order.size() > 20
        || accuracy.size() != (std::size_t(1) << order.size())) {
        throw std::invalid_argument(
            where + ": expected 2^H subset accuracies for the H = "
            + std::to_string(order.size()) + " heads of order (H <= 20), got "
            + std::to_string(accuracy.size()));
    }
    std::vector<bool> named(order.size(), false);
    for (std::size_t h : order) {
        if (h >= order.size() || named[h]) {
            throw std::invalid_argument(where + ": order must name "
                                        "each head once");
        }
        named[h] = true;
    }
}

}  // namespace detail

// [ch05-prune]
/// \brief Accuracy as heads are gated off one at a time in a given order.
/// \param accuracy the accuracy of every subset of heads `(2^H,)`, from
///        subset_accuracies()
/// \param order    the heads in the order they are removed `(H,)`
/// \return accuracy with H, H - 1, ..., 0 heads left `(H + 1,)`
/// \throws std::invalid_argument if `order` is not a permutation of the
///         heads
inline std::vector<double> pruning_curve(const vector& accuracy,
                                         const std::vector<std::size_t>& order)
{
    detail::expect_pruning_order("pruning_curve", accuracy, order);
    std::size_t mask = accuracy.size() - 1;                    // all on
    std::vector<double> curve{accuracy(mask)};
    for (std::size_t h : order) {
        mask &= ~(std::size_t(1) << h);                        // head h off
        curve.push_back(accuracy(mask));
    }
    return curve;
}
// [ch05-prune]

/// \brief A pruning order that measures the importance of Eq.
///        \ref eq_head_importance "(5.10)" again after every removal, at
///        the gates of the heads still on, and removes the least important
///        head still on.
/// \param task     the sizes
/// \param m        the model
/// \param examples the sequences
/// \return the heads in the order they are removed `(H,)`
inline std::vector<std::size_t> importance_order_remeasured(
    const heads_task& task, const tiny_model& m,
    const std::vector<heads_example>& examples)
{
    vector xi = xt::ones<double>({task.heads});
    std::vector<std::size_t> order;
    while (order.size() < task.heads) {
        const vector score = head_importance(task, m, examples, xi, false);
        std::size_t best = task.heads;
        for (std::size_t h = 0; h < task.heads; ++h) {
            if (xi(h) != 0.0 && (best == task.heads
                                 || score(h) < score(best))) {
                best = h;
            }
        }
        order.push_back(best);
        xi(best) = 0.0;
    }
    return order;
}

/// \brief The heads ordered from least to most important by a score.
/// \param score one score per head `(H,)`
/// \return head indices, lowest score first (ties by index)
inline std::vector<std::size_t> order_by_score(const vector& score)
{
    std::vector<std::size_t> order(score.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) {
                         return score(a) < score(b);
                     });
    return order;
}

}  // namespace attn

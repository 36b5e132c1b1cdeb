// The synthetic task of chapter 5: sequences of tokens and, at each
// position, the class a model must name. It needs two kinds of attention,
// so that the heads of a model trained on it have a reason to specialise.
//
// A sequence is BOS t_1 ... t_L with tokens t_i in {0..V-1}. At each
// position i >= 2 the model must name one of 2V classes:
//     class = 2 * t_{i-1} + seen_i,
// seen_i = 1 if t_i already occurred among t_1 .. t_{i-1}, else 0.
// The first half needs a positional head (look one step back), the second
// a content head (look for an earlier copy of my own token).
//
// Glossary (n = L + 1 positions):
//   V       vocabulary size; BOS is token V
//   L       tokens after BOS
//   t       the tokens, BOS first                            // (n,)
//   c       the targets: a class in {0..2V-1} at i >= 2,
//           -1 at positions 0 and 1                          // (n,)
//   d_model, H  the width and the heads of the model that learns the
//           task (heads_task holds them with the task's sizes)
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention/core.hpp"
#include "attention/random.hpp"

/// \file
/// \brief The task of chapter 5: sequences and their targets
///        (\ref ch05_heads).

namespace attn {

/// \brief Sizes of the synthetic task and of the model.
struct heads_task {
    std::size_t vocab = 5;    ///< V, number of ordinary tokens
    std::size_t length = 9;   ///< L, tokens after BOS; n = L + 1 positions
    std::size_t d_model = 16; ///< d, at least V + 1 + n, divisible by H
    std::size_t heads = 4;    ///< H
    /// \brief Number of positions n = L + 1.
    /// \return n
    std::size_t positions() const { return length + 1; }
    /// \brief Number of classes 2V.
    /// \return 2V
    std::size_t classes() const { return 2 * vocab; }
};

/// \brief One sequence of the task and its targets.
struct heads_example {
    std::vector<std::size_t> tokens;  ///< BOS (= V) then L tokens, `(n,)`
    std::vector<int> target;          ///< class at each position, -1 where
                                      ///< none (positions 0 and 1), `(n,)`
};

namespace detail {

// Seed of sequence k of a stream (0 = training, 1 = evaluation) of a run.
inline std::uint64_t sequence_seed(std::uint64_t seed, std::uint64_t stream,
                                   std::uint64_t k)
{
    return (seed << 40) ^ (stream << 36) ^ k;
}

// The sizes of a task must make sense together: V, L, H >= 1, H divides
// d_model, and d_model holds the one-hot token and position codes.
inline void expect_task(const std::string& where, const heads_task& task)
{
    const std::size_t needed = task.vocab + 1 + task.positions();
    if (task.vocab == 0 || task.length == 0 || task.heads == 0
        || task.d_model % task.heads != 0 || task.d_model < needed) {
        throw std::invalid_argument(
            where + ": expected V, L, H >= 1, H dividing d_model and "
            "d_model >= V + 1 + n = " + std::to_string(needed) + ", got V = "
            + std::to_string(task.vocab) + ", L = "
            + std::to_string(task.length) + ", H = "
            + std::to_string(task.heads) + ", d_model = "
            + std::to_string(task.d_model));
    }
}

// Measures over no sequence at all would be 0/0.
inline void expect_examples(const std::string& where,
                            const std::vector<heads_example>& examples)
{
    if (examples.empty()) {
        throw std::invalid_argument(where + ": expected at least one "
                                    "sequence, got none");
    }
}

}  // namespace detail

// [ch05-task]
/// \brief The targets of a sequence: at each position i >= 2 the class
///        `2 t_{i-1} + seen_i`, where `seen_i` says whether t_i occurred
///        among t_1 .. t_{i-1}.
/// \param task   the sizes
/// \param tokens BOS (= V) then L tokens in {0..V-1} `(n,)`
/// \return the sequence with its targets
/// \throws std::invalid_argument if the tokens do not fit the task
inline heads_example heads_example_from_tokens(
    const heads_task& task, const std::vector<std::size_t>& tokens)
{
    const std::size_t n = task.positions();
    bool fits = tokens.size() == n && tokens[0] == task.vocab;
    for (std::size_t i = 1; fits && i < n; ++i) {
        fits = tokens[i] < task.vocab;
    }
    if (!fits) {
        throw std::invalid_argument(
            "heads_example_from_tokens: expected BOS (" + std::to_string(
                task.vocab) + ") then " + std::to_string(task.length)
            + " tokens below " + std::to_string(task.vocab));
    }
    heads_example e{tokens, std::vector<int>(n, -1)};
    for (std::size_t i = 2; i < n; ++i) {
        bool seen = false;                         // content: a copy before?
        for (std::size_t j = 1; j < i; ++j) {
            seen = seen || tokens[j] == tokens[i];
        }
        // position: the previous token
        e.target[i] = int(2 * tokens[i - 1] + (seen ? 1 : 0));
    }
    return e;
}
// [ch05-task]

/// \brief Draws one sequence of the task, with its targets.
/// \param task the sizes
/// \param seed seed of this sequence's random tokens
/// \return BOS, L tokens drawn uniformly from {0..V-1}, and the targets
inline heads_example make_heads_example(const heads_task& task,
                                        std::uint64_t seed)
{
    detail::expect_task("make_heads_example", task);
    rng g(seed);
    std::vector<std::size_t> tokens(task.positions(), task.vocab);
    for (std::size_t i = 1; i < tokens.size(); ++i) {
        tokens[i] = g.below(task.vocab);
    }
    return heads_example_from_tokens(task, tokens);
}

/// \brief A held-out set of `count` sequences, never met in training.
/// \param task  the sizes
/// \param count number of sequences
/// \param seed  seed of the set
/// \return the sequences
inline std::vector<heads_example> make_heads_examples(const heads_task& task,
                                                      std::size_t count,
                                                      std::uint64_t seed)
{
    std::vector<heads_example> out;
    for (std::size_t k = 0; k < count; ++k) {
        out.push_back(make_heads_example(task,
                                         detail::sequence_seed(seed, 1, k)));
    }
    return out;
}

}  // namespace attn

// The repeat task of chapter 7: a sequence of random tokens whose last r
// tokens repeat the r before them. Once the repeat has begun, the next
// token can be predicted only by finding where the current token occurred
// before and copying the token that followed it there: what an induction
// head does. Before that, the tokens are uniform and independent, and no
// model can do better than ln |V| nats per token.
//
// A sequence of n tokens, with r drawn from [r_min, r_max] for each one:
//     t_0 .. t_{n-2r-1}   random prefix (empty when r = n/2)
//     t_{n-2r} .. t_{n-r-1}   the segment, random
//     t_{n-r} .. t_{n-1}  its repeat: t_i = t_{i-r}
// Varying r varies the distance to the earlier copy, so that no fixed
// positional offset solves the task (with r = n/2 always, one would).
//
// Glossary:
//   |V|        vocabulary size, tokens 0 .. |V| - 1
//   n          tokens per sequence
//   r          length of the repeated segment,
//              2 <= r_min <= r <= r_max <= n/2
//   t          the tokens                                        // (n,)
//   target     target_i = t_{i+1}, -1 at i = n - 1               // (n,)
//   repeated   positions n-r <= i <= n-2: the current token is a copy
//              and so is the next one (their loss can approach 0)
//   fresh      positions 0 <= i <= n-r-2: the next token is random and
//              independent of everything before it (loss >= ln |V|)
//   boundary   position n-r-1, whose next token starts the repeat: a
//              copy of t_{n-2r}, but nothing in the past says so
//   a          one layer's attention weights                     // (H, n, n)
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "attention/core.hpp"
#include "attention/random.hpp"

/// \file
/// \brief The repeat task of chapter 7 and the previous-token, induction
///        and duplicate-token scores of a head (\ref ch07_layers).

namespace attn {

/// \brief Sizes of the repeat task.
struct induction_task {
    std::size_t vocab = 16;   ///< |V|, tokens 0 .. |V| - 1
    std::size_t length = 16;  ///< n, tokens per sequence
    std::size_t r_min = 4;    ///< shortest repeated segment
    std::size_t r_max = 8;    ///< longest repeated segment, at most n / 2
};

/// \brief One sequence of the repeat task.
struct induction_example {
    std::vector<std::size_t> tokens;  ///< t `(n,)`
    std::vector<int> target;          ///< t_{i+1}, -1 at the end `(n,)`
    std::size_t r = 0;                ///< length of the repeated segment

    /// \brief Whether position i is a repeated-half position,
    ///        n - r <= i <= n - 2.
    /// \param i a position
    /// \return true if the token at i and its target are copies
    bool repeated(std::size_t i) const
    {
        const std::size_t n = tokens.size();
        return i + r >= n && i + 2 <= n;
    }

    /// \brief Whether position i is a fresh position, i <= n - r - 2.
    /// \param i a position
    /// \return true if the next token is random and independent of the
    ///         tokens up to i
    bool fresh(std::size_t i) const { return i + r + 2 <= tokens.size(); }
};

namespace detail {

// The sizes must make sense: |V| >= 2, 2 <= r_min <= r_max <= n / 2 (a
// segment of one token has no repeated position).
inline void expect_induction_task(const std::string& where,
                                  const induction_task& task)
{
    if (task.vocab < 2 || task.r_min < 2 || task.r_min > task.r_max
        || 2 * task.r_max > task.length) {
        throw std::invalid_argument(
            where + ": expected |V| >= 2 and 2 <= r_min <= r_max <= n/2, got "
            "|V| = " + std::to_string(task.vocab) + ", n = "
            + std::to_string(task.length) + ", r_min = "
            + std::to_string(task.r_min) + ", r_max = "
            + std::to_string(task.r_max));
    }
}

}  // namespace detail

// [ch07-repeat-task]
/// \brief One sequence of the repeat task for a seed: random tokens whose
///        last r repeat the r before them.
/// \param task the sizes
/// \param seed the sequence's seed; the same seed gives the same sequence
/// \return the tokens, the next-token targets and r
/// \throws std::invalid_argument if the sizes do not fit together
inline induction_example make_induction_example(const induction_task& task,
                                                std::uint64_t seed)
{
    detail::expect_induction_task("make_induction_example", task);
    rng g(seed);
    const std::size_t n = task.length;
    induction_example e;
    e.r = task.r_min + g.below(task.r_max - task.r_min + 1);
    for (std::size_t i = 0; i < n; ++i) {
        // Random up to the repeat, then a copy of the token r back.
        e.tokens.push_back(i + e.r < n ? g.below(task.vocab)
                                       : e.tokens[i - e.r]);
    }
    for (std::size_t i = 0; i < n; ++i) {
        e.target.push_back(i + 1 < n ? int(e.tokens[i + 1]) : -1);
    }
    return e;
}
// [ch07-repeat-task]

namespace detail {

inline void expect_attention_of(const std::string& where,
                                const tensor3& a,
                                const induction_example& e)
{
    const std::size_t n = e.tokens.size();
    if (a.shape()[1] != n || a.shape()[2] != n || n < 2 || e.r < 2
        || 2 * e.r > n) {
        throw std::invalid_argument(
            where + ": expected weights (H, n, n) for a sequence of n >= 2 "
            "tokens with 2 <= r <= n/2, got " + shape_string(a.shape())
            + ", n = " + std::to_string(n) + ", r = " + std::to_string(e.r));
    }
}

}  // namespace detail

// [ch07-head-scores]
/// \brief Previous-token score of each head: the mean weight that a query
///        at i >= 1 gives to the key at i - 1.
/// \param a one layer's weights on sequence `e` `(H, n, n)`
/// \param e the sequence
/// \return one score per head, in [0, 1] `(H,)`
inline vector previous_token_scores(const tensor3& a,
                                    const induction_example& e)
{
    detail::expect_attention_of("previous_token_scores", a, e);
    const std::size_t heads = a.shape()[0], n = e.tokens.size();
    vector score = xt::zeros<double>({heads});                 // (H,)
    for (std::size_t h = 0; h < heads; ++h) {
        for (std::size_t i = 1; i < n; ++i) {
            score(h) += a(h, i, i - 1) / double(n - 1);
        }
    }
    return score;
}

/// \brief Induction score of each head: the mean weight that a query at a
///        repeated position i gives to the key at i - r + 1, the token
///        that followed the earlier occurrence of t_i.
/// \param a one layer's weights on sequence `e` `(H, n, n)`
/// \param e the sequence
/// \return one score per head, in [0, 1] `(H,)`
inline vector induction_scores(const tensor3& a, const induction_example& e)
{
    detail::expect_attention_of("induction_scores", a, e);
    const std::size_t heads = a.shape()[0], n = e.tokens.size();
    vector score = xt::zeros<double>({heads});                 // (H,)
    for (std::size_t h = 0; h < heads; ++h) {
        for (std::size_t i = n - e.r; i + 2 <= n; ++i) {
            score(h) += a(h, i, i - e.r + 1) / double(e.r - 1);
        }
    }
    return score;
}
// [ch07-head-scores]

/// \brief Duplicate-token score of each head: the mean weight that a query
///        at a repeated position i gives to the key at i - r, the earlier
///        occurrence of its own token.
/// \param a one layer's weights on sequence `e` `(H, n, n)`
/// \param e the sequence
/// \return one score per head, in [0, 1] `(H,)`
inline vector duplicate_token_scores(const tensor3& a,
                                     const induction_example& e)
{
    detail::expect_attention_of("duplicate_token_scores", a, e);
    const std::size_t heads = a.shape()[0], n = e.tokens.size();
    vector score = xt::zeros<double>({heads});                 // (H,)
    for (std::size_t h = 0; h < heads; ++h) {
        for (std::size_t i = n - e.r; i + 2 <= n; ++i) {
            score(h) += a(h, i, i - e.r) / double(e.r - 1);
        }
    }
    return score;
}

}  // namespace attn

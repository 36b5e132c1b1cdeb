// Tiled attention made fast on a CPU: the levers that close the gap
// between chapter 6's tiled kernel and the matrix-multiply bound, each one
// a switch so that it can be measured on its own.
//   1. A vectorised exponential: e^x for x <= 0 by a polynomial, four
//      lanes at a time, with a tested error bound.
//   2. Tile sizes chosen from the cache size the processor reports.
//   3. The scale 1/sqrt(d_k) folded into the product of the scores (no
//      pass of its own over the block).
//   4. The queries split over threads.
//
// Glossary (tokens are rows):
//   q, k, v, mask, y   as in scale.hpp           // (n_q, d_k) (n_k, d_k)
//                                                // (n_k, d_v) (n_q, n_k)
//                                                // (n_q, d_v)
//   x, m               arguments of e^(x - m), x <= m
//   block_q, block_k   queries and keys per tile
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "attention/scale.hpp"

/// \file
/// \brief Fast tiled attention: a vectorised exponential, tiles sized from
///        the cache, the scale folded into the product, threads
///        (\ref ch06_scale).

namespace attn {

namespace detail {

// Four doubles in one register (GCC's vector extension): arithmetic on a
// lanes4 acts on all four lanes at once. With AVX2 it is one instruction
// on a 256-bit register; without, two on 128-bit halves.
using lanes4 = double __attribute__((vector_size(32)));
using bits4 = std::uint64_t __attribute__((vector_size(32)));
using mask4 = std::int64_t __attribute__((vector_size(32)));

// Copies n <= 4 doubles between memory and the lanes.
[[gnu::always_inline]] inline void load(lanes4& v, const double* x,
                                        std::size_t n = 4)
{
    std::memcpy(&v, x, n * sizeof(double));
}

[[gnu::always_inline]] inline void store(double* y, const lanes4& v,
                                         std::size_t n = 4)
{
    std::memcpy(y, &v, n * sizeof(double));
}

// [ch06-vector-exp]
// e^x in four lanes for x <= 0, Eq. (6.5): x = kappa ln 2 + phi with kappa
// an integer and |phi| <= ln(2)/2, e^phi by its Taylor polynomial of
// degree 12 (Horner), and 2^kappa written straight into the exponent bits.
// Below -708, where 2^kappa would leave the normal doubles, the result is
// 0 (as for -inf).
[[gnu::always_inline]] inline void exp4(lanes4& x)
{
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01;  // ln 2 = hi + lo,
    const double ln2_lo = 1.90821492927058770002e-10;  // kappa hi is exact
    const double round = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds
    const mask4 tiny = x < -708.0;            // lanes whose e^x is taken as 0
    const lanes4 xc = tiny ? lanes4{} - 708.0 : x;
    const lanes4 t = xc * log2e + round;      // kappa sits in t's low bits
    const lanes4 kappa = t - round;
    const lanes4 phi = (xc - kappa * ln2_hi) - kappa * ln2_lo;
    lanes4 p = phi * (1.0 / 479001600.0) + 1.0 / 39916800.0;  // 1/12!, 1/11!
    for (double c : {1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040,
                     1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1.0,
                     1.0}) {
        p = p * phi + c;
    }
    const bits4 two_kappa = ((bits4)t + 1023) << 52;  // the double 2^kappa
    x = tiny ? lanes4{} : p * (lanes4)two_kappa;
}
// [ch06-vector-exp]

// y_j = e^(x_j - m) for j < n, returning their sum; x_j <= m. Four lanes
// and four partial sums, then the lanes added in a fixed order.
[[gnu::always_inline]] inline double exp_minus_sum_body(std::size_t n,
                                                        const double* x,
                                                        double m, double* y)
{
    lanes4 sum{};
    std::size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        lanes4 e;
        load(e, x + j);
        e -= m;
        exp4(e);
        store(y + j, e);
        sum += e;
    }
    if (j < n) {  // the last 1 to 3, in lanes padded with -inf (e^-inf = 0)
        lanes4 e = lanes4{} - INFINITY;
        load(e, x + j, n - j);
        e -= m;
        exp4(e);
        store(y + j, e, n - j);
        sum += e;
    }
    return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

// The largest of x_0 .. x_{n-1} (or -inf for n = 0), four lanes at once
// and four groups of lanes side by side: one running maximum would make
// every comparison wait for the one before it.
[[gnu::always_inline]] inline double row_max_body(std::size_t n,
                                                  const double* x)
{
    const lanes4 none = lanes4{} - INFINITY;
    lanes4 best[4] = {none, none, none, none};
    std::size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        for (int g = 0; g < 4; ++g) {
            lanes4 v;
            load(v, x + j + 4 * g);
            best[g] = v > best[g] ? v : best[g];
        }
    }
    for (; j < n; j += 4) {  // the rest, the last lanes padded with -inf
        lanes4 v = none;
        load(v, x + j, std::min<std::size_t>(4, n - j));
        best[0] = v > best[0] ? v : best[0];
    }
    for (int g = 1; g < 4; ++g) {
        best[0] = best[g] > best[0] ? best[g] : best[0];
    }
    return std::max(std::max(best[0][0], best[0][1]),
                    std::max(best[0][2], best[0][3]));
}

// The same code twice: once for any x86-64 processor, once compiled for
// AVX2 and FMA (which may fuse a multiply and an add, so the last bit of
// a result can differ between the two). Which one runs is decided once,
// by asking the processor.
inline double exp_minus_sum_generic(std::size_t n, const double* x, double m,
                                    double* y)
{
    return exp_minus_sum_body(n, x, m, y);
}

[[gnu::target("avx2,fma")]] inline double exp_minus_sum_avx2(
    std::size_t n, const double* x, double m, double* y)
{
    return exp_minus_sum_body(n, x, m, y);
}

inline double row_max_generic(std::size_t n, const double* x)
{
    return row_max_body(n, x);
}

[[gnu::target("avx2,fma")]] inline double row_max_avx2(std::size_t n,
                                                       const double* x)
{
    return row_max_body(n, x);
}

inline bool processor_has_avx2()
{
    static const bool yes = __builtin_cpu_supports("avx2")
                            && __builtin_cpu_supports("fma");
    return yes;
}

// The online-softmax step of Eqs. (6.2) and (6.3) with the row maximum,
// the exponentials and their sum four lanes at a time.
inline void online_softmax_fold_vector(std::size_t rows, std::size_t cols,
                                       std::size_t d_v, double* p,
                                       const double* v_block, double* m,
                                       double* l, double* o)
{
    if (processor_has_avx2()) {
        online_softmax_fold_with(row_max_avx2, exp_minus_sum_avx2, rows,
                                 cols, d_v, p, v_block, m, l, o);
    } else {
        online_softmax_fold_with(row_max_generic, exp_minus_sum_generic,
                                 rows, cols, d_v, p, v_block, m, l, o);
    }
}

}  // namespace detail

/// \brief `y_j = e^(x_j - m)` for `j < n`, four lanes at a time, Eq.
///        \ref eq_vector_exp "(6.5)"; returns their sum.
///
/// For `x_j - m` in `[-708, 0]` the relative error of each `y_j` is below
/// 4 units in the last place (tested); below -708 (and for `-inf`) the
/// result is 0, whose absolute error is below `e^(-708)`, about 3e-308.
/// \param n number of arguments
/// \param x the arguments `(n,)`, each at most `m`; may equal `y`
/// \param m the value subtracted (a row maximum), finite
/// \param y the results `(n,)`
/// \param vector_unit `true`: AVX2 and FMA when the processor has them;
///        `false`: the code for any x86-64 processor (for tests)
/// \return the sum of the `y_j`
inline double vector_exp_minus_sum(std::size_t n, const double* x, double m,
                                   double* y, bool vector_unit = true)
{
    return vector_unit && detail::processor_has_avx2()
               ? detail::exp_minus_sum_avx2(n, x, m, y)
               : detail::exp_minus_sum_generic(n, x, m, y);
}

/// \brief The switches of \ref attn::attention_fast "attention_fast",
///        one per lever, so that each can be measured on its own.
struct fast_options {
    std::size_t block_q = 128;  ///< queries per tile
    std::size_t block_k = 256;  ///< keys per tile
    bool vector_exp = true;     ///< Eq. (6.5) instead of `std::exp`
    bool scale_in_product = true;  ///< `1/sqrt(d_k)` inside the product
    std::size_t threads = 1;    ///< query tiles shared among threads
};

// [ch06-cache-tiles]
/// \brief Tile sizes from the size of the cache the tile of scores should
///        stay in: the largest square tile of doubles, a power of two on
///        each side, that fits in `cache_bytes`. The scores are the data a
///        tile goes over three times (written by the first product, turned
///        into weights, read by the second product); the keys and values
///        are read once per tile.
/// \param cache_bytes the cache's size in bytes (for example the L2)
/// \return `{block_q, block_k}`, at least 16 and at most 1024 each
inline std::pair<std::size_t, std::size_t> tile_sizes_for_cache(
    double cache_bytes)
{
    std::size_t side = 16;
    while (side < 1024 && 8.0 * double(4 * side * side) <= cache_bytes) {
        side *= 2;
    }
    return {side, side};
}
// [ch06-cache-tiles]

/// \brief The size of this core's second-level cache as the operating
///        system reports it (`sysconf`), or 512 KiB if it reports none.
/// \return bytes
inline double level2_cache_bytes()
{
    const long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return bytes > 0 ? double(bytes) : 512.0 * 1024.0;
}

namespace detail {

// Tiles of at least one query and one key, and at least one thread.
inline void expect_fast_options(const fast_options& opt)
{
    expect_block_sizes("attention_fast", opt.block_q, opt.block_k);
    if (opt.threads == 0) {
        throw std::invalid_argument("attention_fast: threads must be at "
                                    "least 1, got 0");
    }
}

// Runs the tiled kernel on query rows [first, last) only: every query row
// is computed on its own, so rows can go to different threads.
inline void attention_fast_rows(std::size_t first, std::size_t last,
                                std::size_t n_k, std::size_t d_k,
                                std::size_t d_v, const double* q,
                                const double* k, const double* v,
                                const bool* mask, double* y,
                                const fast_options& opt)
{
    if (first >= last) {
        return;
    }
    attention_tiled_raw(last - first, n_k, d_k, d_v, q + first * d_k, k, v,
                        mask ? mask + first * n_k : nullptr,
                        y + first * d_v, opt.block_q, opt.block_k, nullptr,
                        opt.vector_exp ? online_softmax_fold_vector
                                       : online_softmax_fold,
                        opt.scale_in_product);
}

}  // namespace detail

// [ch06-attention-fast]
/// \brief Way 5: tiled attention with the levers of
///        \ref attn::fast_options "fast_options": by default a vectorised
///        exponential, tiles of 128 x 256 and one thread. Extra memory:
///        one tile of scores per thread.
/// \param q    queries `(n_q, d_k)`
/// \param k    keys `(n_k, d_k)`
/// \param v    values `(n_k, d_v)`
/// \param mask `(n_q, n_k)`, true = may attend; empty = no mask
/// \param opt  the levers
/// \return outputs `(n_q, d_v)`; a fully masked query row gives zeros
/// \throws std::invalid_argument on empty or inconsistent shapes, a tile
///         size of 0 or no thread
inline matrix attention_fast(const matrix& q, const matrix& k,
                             const matrix& v,
                             const mask_matrix& mask = mask_matrix(),
                             const fast_options& opt = fast_options())
{
    const auto n = detail::expect_attention_args("attention_fast", q, k, v,
                                                mask);
    detail::expect_fast_options(opt);
    const std::size_t n_q = n[0];
    matrix y = xt::empty<double>({n_q, n[3]});                // (n_q, d_v)
    const std::size_t threads = std::min(opt.threads, n_q);
    const bool* m = mask.size() ? mask.data() : nullptr;
    // Thread t takes the rows [t n_q / T, (t + 1) n_q / T).
    const auto share = [&](std::size_t t) {
        detail::attention_fast_rows(t * n_q / threads, (t + 1) * n_q / threads,
                                    n[1], n[2], n[3], q.data(), k.data(),
                                    v.data(), m, y.data(), opt);
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < threads; ++t) {
        pool.emplace_back(share, t);
    }
    share(0);  // this thread takes the first share
    for (auto& thread : pool) {
        thread.join();
    }
    return y;
}
// [ch06-attention-fast]

}  // namespace attn

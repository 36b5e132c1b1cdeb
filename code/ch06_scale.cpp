// Chapter 6: attention at scale. The four ways agree, the online softmax
// at work on one row, the cost model, what this machine's arithmetic and
// memory cost, the tile sizes, and the time of a decoding step with and
// without the key-value cache. The sweep over n that times the ways beside
// NumPy and PyTorch, and the chapter's tables of it, are made by
// code/tools/report_ch06.py, which runs this program once per point.
//
//   ch06_scale                      demonstrations and this machine's
//                                   rates, a few seconds
//   ch06_scale --out D              the same, the tile sizes and the
//                                   decoding steps; writes their data and
//                                   tables into D
//   ch06_scale --load D --save E    reads D/Q.npy (n_q, d_k), D/K.npy
//       (n_k, d_k), D/V.npy (n_k, d_v) and, if present, D/mask.npy
//       (n_q, n_k, bool); writes E/Y_loops.npy, E/Y_xtensor.npy,
//       E/Y_blas.npy and E/Y_tiled.npy (n_q, d_v)
//   ch06_scale --measure WAY:N [--threads T] [--budget S]
//       one point of the sweep: prints the best wall-clock seconds and
//       the peak bytes beyond inputs and output (fastest:N also prints
//       the name of the fastest one-thread way)
//   ch06_scale --benchmark --out D  as --out, with decoding steps up to
//       t = min(--max-n, 4096)
// OpenBLAS runs on one thread throughout (openblas_set_num_threads(1));
// the way fast can share its rows among --threads threads of its own.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <tuple>
#include <unistd.h>
#include <utility>
#include <vector>

#include "attention/fast_tiled.hpp"
#include "attention/flash_backward.hpp"
#include "attention/random.hpp"
#include "attention/scale.hpp"
#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/output.hpp"
#include "book/plot.hpp"

// OpenBLAS's own switch (the library the build links, BLA_VENDOR=OpenBLAS).
extern "C" void openblas_set_num_threads(int num_threads);

namespace {

using attn::mask_matrix;
using attn::matrix;
// Seconds on the wall clock (a steady one): with two threads, CPU time
// would count both.
double now()
{
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// [ch06-best-of]
// How every contender is timed, the library's ways here and NumPy and
// PyTorch in code/tools/bench_ch06_python.py alike: one warm-up run, then
// at least five timed runs, more while they add up to less than `budget`
// seconds (at most 1000); the best of them, the run least disturbed by
// anything else the machine did.
template <class Run>
double best_of(Run&& run, double budget)
{
    run();  // warm-up: first use of memory, of OpenBLAS's buffers
    double best = 1e300, total = 0.0;
    for (int rep = 0; rep < 1000 && (rep < 5 || total < budget); ++rep) {
        const double start = now();
        run();
        const double seconds = now() - start;
        best = std::min(best, seconds);
        total += seconds;
    }
    return best;
}
// [ch06-best-of]
const double mib = 1024.0 * 1024.0;
const std::size_t d = 64;  // d_k = d_v of the benchmark

// The four ways, and the fifth, fast, with the levers that make it fast
// (fast_tiled.hpp) each also added to tiled on its own (or, for the scale,
// taken away from it): --measure accepts every name of this list.
const std::vector<std::string> measured_ways = {
    "loops", "xtensor", "blas", "tiled", "tiled+vexp", "tiled+tiles",
    "tiled-fused", "fast"};

// The options of a way built on the tiled kernel: tiled itself (std::exp,
// tiles of 128 x 256, the scale in the product), one lever changed, or
// all of them (fast: the vector exponential and tiles from the cache).
attn::fast_options tiled_options(const std::string& way, std::size_t threads)
{
    attn::fast_options opt;
    opt.vector_exp = way == "tiled+vexp" || way == "fast";
    opt.scale_in_product = way != "tiled-fused";
    if (way == "tiled+tiles" || way == "fast") {
        std::tie(opt.block_q, opt.block_k) =
            attn::tile_sizes_for_cache(attn::level2_cache_bytes());
    }
    opt.threads = threads;
    return opt;
}

matrix run_way(const std::string& way, const matrix& q, const matrix& k,
               const matrix& v, const mask_matrix& mask = mask_matrix(),
               std::size_t threads = 1)
{
    if (way == "fast" || (way != "tiled" && way.rfind("tiled", 0) == 0)) {
        return attn::attention_fast(q, k, v, mask,
                                    tiled_options(way, threads));
    }
    if (way == "loops") {
        return attn::attention_loops(q, k, v, mask);
    }
    if (way == "xtensor") {
        return attn::attention_xtensor(q, k, v, mask);
    }
    if (way == "blas") {
        return attn::attention_blas(q, k, v, mask);
    }
    if (way == "tiled") {
        return attn::attention_tiled(q, k, v, mask);
    }
    throw book::usage_error("unknown way '" + way + "': expected "
                            + book::and_list(measured_ways));
}

double max_relative_difference(const matrix& a, const matrix& b)
{
    return xt::amax(xt::abs(a - b))() / xt::amax(xt::abs(b))();
}

// The value of --measure: a way (or "matmul") and a size n.
struct measure_spec {
    std::string way;
    std::size_t n = 0;
};

// How cxxopts reads --measure WAY:N (it finds this function by the type of
// its second argument): N is a whole number from 1 to 65536.
void parse_value(const std::string& text, measure_spec& spec)
{
    const auto colon = text.find(':');
    if (colon == std::string::npos) {
        throw book::usage_error("--measure expects WAY:N, got '" + text
                                + "'");
    }
    const std::string digits = text.substr(colon + 1);
    if (digits.empty() || digits.size() > 5
        || digits.find_first_not_of("0123456789") != std::string::npos
        || std::stoul(digits) < 1 || std::stoul(digits) > 65536) {
        throw book::usage_error("--measure expects WAY:N with N from 1 "
                                "to 65536, got '" + text + "'");
    }
    spec.way = text.substr(0, colon);
    spec.n = std::stoul(digits);
    std::vector<std::string> known = measured_ways;
    for (const char* more : {"fastest", "matmul", "backward", "none"}) {
        known.push_back(more);
    }
    if (std::find(known.begin(), known.end(), spec.way) == known.end()) {
        throw book::usage_error("unknown way '" + spec.way + "': expected "
                                + book::and_list(known));
    }
}

// ------------------------------------------------------------ demos

void equality_demo(std::uint64_t seed)
{
    std::cout << "The four ways on random inputs (seed " << seed
              << "),\nlargest |Y - Y_loops| / max |Y_loops|:\n";
    book::table t{{"shape (n_q, n_k, d_k, d_v)", "mask", "xtensor", "blas",
                   "tiled"}, {}};
    const std::vector<std::vector<std::size_t>> shapes = {
        {7, 11, 5, 3}, {64, 300, 16, 8}, {300, 64, 8, 16}};
    bool all_zero = true;  // query 0, whose keys are all masked
    for (const auto& n : shapes) {
        attn::rng r(seed);
        const matrix q = attn::normal_matrix(n[0], n[2], r);
        const matrix k = attn::normal_matrix(n[1], n[2], r);
        const matrix v = attn::normal_matrix(n[1], n[3], r);
        // A random mask that also leaves query 0 with no key at all.
        mask_matrix mask = attn::uniform_matrix(n[0], n[1], r) < 0.7;
        xt::row(mask, 0) = false;
        for (bool masked : {false, true}) {
            const mask_matrix m = masked ? mask : mask_matrix();
            const matrix ref = attn::attention_loops(q, k, v, m);
            std::vector<std::string> cells = {
                "(" + std::to_string(n[0]) + ", " + std::to_string(n[1])
                    + ", " + std::to_string(n[2]) + ", "
                    + std::to_string(n[3]) + ")",
                masked ? "random" : "none"};
            for (const auto& way : {"xtensor", "blas", "tiled"}) {
                const matrix y = run_way(way, q, k, v, m);
                cells.push_back(
                    book::fmt(max_relative_difference(y, ref), "%.1e"));
                if (masked) {
                    all_zero = all_zero
                               && xt::amax(xt::abs(xt::row(y, 0)))() == 0.0;
                }
            }
            if (masked) {
                all_zero = all_zero
                           && xt::amax(xt::abs(xt::row(ref, 0)))() == 0.0;
            }
            t.add(cells);
        }
    }
    t.print(std::cout);
    std::cout << "  query 0, with every key masked, gets an output of exactly "
              << "zero\n  in all four ways: " << (all_zero ? "yes" : "NO")
              << "\n\n";
}

// [ch06-online-demo]
// One query, four keys in two blocks of two: scores (1, 3 | 5, 2) and
// values (10, 20 | 30, 40). Fold the blocks in one at a time (Eqs. 6.2 and
// 6.3), keeping m, rho, l and o after each; then y = o / l (Eq. 6.4)
// and, to compare, the softmax of all four scores at once.
struct online_demo_result {
    std::vector<std::array<double, 4>> after;  ///< m, rho, l, o per block
    double y_online = 0.0, y_direct = 0.0;
};

online_demo_result online_demo_compute()
{
    const matrix s = {{1.0, 3.0, 5.0, 2.0}};                      // (1, 4)
    const matrix v = {{10.0}, {20.0}, {30.0}, {40.0}};           // (4, 1)
    auto state = attn::online_softmax_start(1, 1);
    online_demo_result r;
    for (std::size_t b = 0; b < 2; ++b) {
        const matrix s_b = xt::view(s, xt::all(), xt::range(2 * b, 2 * b + 2));
        const matrix v_b = xt::view(v, xt::range(2 * b, 2 * b + 2), xt::all());
        const double m_old = state.m(0);
        attn::online_softmax_update(state, s_b, v_b);    // Eqs. 6.2, 6.3
        r.after.push_back({state.m(0), std::exp(m_old - state.m(0)),
                           state.l(0), state.o(0, 0)});
    }
    r.y_online = attn::online_softmax_finish(state)(0, 0);     // Eq. 6.4
    r.y_direct = xt::linalg::dot(attn::softmax_rows(s), v)(0, 0);
    return r;
}
// [ch06-online-demo]

void online_demo(const book::output_sink& out)
{
    const online_demo_result r = online_demo_compute();
    const std::vector<std::string> scores = {"(1, 3)", "(5, 2)"};
    book::table t{{"block", "scores", "m after", "rho = e^(m_old - m_new)",
                   "l after", "o after"}, {}};
    for (std::size_t b = 0; b < r.after.size(); ++b) {
        const auto& a = r.after[b];
        t.add({std::to_string(b + 1), scores[b], book::fmt(a[0]),
               book::fmt(a[1], "%.6f"), book::fmt(a[2], "%.6f"),
               book::fmt(a[3], "%.6f")});
    }
    std::cout << "The online softmax on one row, blocks (1, 3) and (5, 2):\n";
    t.print(std::cout);
    std::cout << "  y = o / l = " << book::fmt(r.y_online, "%.12f")
              << ",\n  softmax of all four at once: "
              << book::fmt(r.y_direct, "%.12f") << "\n\n";
    // The same cells under the chapter's typeset titles.
    t.header = {"block", "scores", "<i>m</i> after",
                "&rho; = <i>e</i><sup><i>m</i><sub>old</sub> &minus; "
                "<i>m</i><sub>new</sub></sup>",
                "<i>l</i> after", "<i>o</i> after"};
    out.markdown("ch06_online_demo.md", t);
}

void cost_demo(const book::output_sink& out)
{
    book::table t{{"n", "multiply-adds", "exponentials", "S and A (MiB)"},
                  {}};
    for (double n : {256.0, 1024.0, 4096.0, 16384.0, 32768.0}) {
        const auto c = attn::attention_cost_model(n, n, 64, 64);
        t.add({book::fmt(n, "%.0f"), book::fmt(c.multiply_adds),
               book::fmt(c.exponentials),
               book::fmt(c.stored_bytes / mib, "%.6g")});
    }
    std::cout << "The cost model (Eq. 6.1), one head, d_k = d_v = 64:\n";
    t.print(std::cout);
    std::cout << "  tiled attention instead keeps one block of scores: "
              << book::fmt(attn::attention_tiled_extra_bytes(128, 256)
                               / 1024.0)
              << " KiB\n  for blocks of 128 queries x 256 keys\n\n";
    t.header = {"<i>n</i>", "multiply-adds", "exponentials",
                "<i>S</i> and <i>A</i> (MiB)"};
    out.markdown("ch06_cost_model.md", t);
}

// -------------------------------------------------------- measuring

long status_kib(const std::string& field)
{
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) {
            return std::stol(line.substr(field.size() + 1));
        }
    }
    return -1;
}

// The seconds and the peak resident memory of one configuration.
struct measurement {
    double seconds = 0.0;  ///< best of best_of's runs
    double peak = 0.0;     ///< bytes beyond inputs and output
};

// [ch06-measure]
// Times run with best_of, counting the peak resident memory from the size
// the process has now (Linux: write 5 to /proc/self/clear_refs): returns
// the best seconds and the peak beyond that size and beyond kept_bytes,
// what run's results occupy.
template <class Run>
measurement timed_with_peak(Run&& run, double budget, double kept_bytes)
{
    const long rss_before = status_kib("VmRSS");
    std::ofstream("/proc/self/clear_refs") << "5";
    measurement m;
    m.seconds = best_of(run, budget);
    m.peak = 1024.0 * double(status_kib("VmHWM") - rss_before) - kept_bytes;
    return m;
}

// One configuration, in a process of its own: make the inputs, then time
// the way, with the peak memory beyond inputs and output.
measurement measure_way(const std::string& way, std::size_t n,
                        std::size_t threads, double budget)
{
    attn::rng r(n);
    const matrix q = attn::normal_matrix(n, d, r);
    const matrix k = attn::normal_matrix(n, d, r);
    const matrix v = attn::normal_matrix(n, d, r);
    // Warm up OpenBLAS (its own buffers) with a small (d, d) product.
    (void)xt::linalg::dot(xt::transpose(q), q);                  // (d, d)
    return timed_with_peak([&] { run_way(way, q, k, v, {}, threads); },
                           budget, 8.0 * double(n * d));     // the output
}
// [ch06-measure]

// The one-thread ways that can be the fastest (the loops and the xtensor
// expressions never are, and the ways with one lever are slower than
// fast, which has them all).
const std::vector<std::string> fastest_candidates = {"blas", "tiled", "fast"};

// --measure backward:N: the tiled backward pass at n (no mask), timed
// with best_of; its peak memory beyond the inputs (Q, K, V, dY, and Y and
// lse from the forward pass) and the gradients dQ, dK, dV.
measurement measure_backward(std::size_t n, double budget)
{
    attn::rng r(n);
    const matrix q = attn::normal_matrix(n, d, r);
    const matrix k = attn::normal_matrix(n, d, r);
    const matrix v = attn::normal_matrix(n, d, r);
    const matrix dy = attn::normal_matrix(n, d, r);
    const auto f = attn::attention_tiled_with_lse(q, k, v);
    (void)xt::linalg::dot(xt::transpose(q), q);  // warm up OpenBLAS
    return timed_with_peak(
        [&] {
            attn::attention_backward_tiled(q, k, v, mask_matrix(), f.y, f.lse,
                                           dy);
        },
        budget, 3.0 * 8.0 * double(n * d));                 // the gradients
}

// This program (Linux: /proc/self/exe) run as `--measure WAY:N --budget S`
// in a process of its own, its answer read back.
measurement measure_in_child(const std::string& way, std::size_t n,
                             double budget)
{
    const std::string self =
        std::filesystem::read_symlink("/proc/self/exe").string();
    const std::string command = "'" + self + "' --measure " + way + ":"
                                + std::to_string(n) + " --budget "
                                + book::fmt(budget, "%.6g");
    FILE* pipe = popen(command.c_str(), "r");
    measurement m;
    if (pipe == nullptr
        || std::fscanf(pipe, "%lf %lf", &m.seconds, &m.peak) != 2) {
        if (pipe != nullptr) {
            pclose(pipe);
        }
        throw std::runtime_error("could not run " + command);
    }
    pclose(pipe);
    return m;
}

// --measure WAY:N: prints the best seconds and the peak bytes. fastest:N
// measures each candidate in a process of its own and prints the
// fastest's seconds and peak bytes, and its name third.
int measure(const std::string& way, std::size_t n, std::size_t threads,
            double budget)
{
    measurement best;
    std::string best_way = way;
    if (way == "backward") {
        best = measure_backward(n, budget);
    } else if (way != "fastest") {
        best = measure_way(way, n, threads, budget);
    } else {
        best.seconds = 1e300;
        for (const auto& candidate : fastest_candidates) {
            const measurement m = measure_in_child(candidate, n, budget);
            if (m.seconds < best.seconds) {
                best = m;
                best_way = candidate;
            }
        }
    }
    std::cout << book::fmt(best.seconds, "%.6g") << ' '
              << book::fmt(best.peak, "%.6g")
              << (way == "fastest" ? " " + best_way : "") << '\n';
    return 0;
}

// The best time of (n x n) times (n x n) products into a result whose
// memory is already in use, one thread, timed as best_of does: n^3 /
// seconds is the matrix-multiply rate R in multiply-adds per second.
double matmul_seconds(std::size_t n, double budget)
{
    attn::rng r(7);
    const matrix a = attn::normal_matrix(n, n, r);
    matrix c = xt::zeros<double>({n, n});
    const int ni = int(n);
    return best_of(
        [&] {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni,
                        ni, 1.0, a.data(), ni, a.data(), ni, 0.0, c.data(),
                        ni);
        },
        budget);
}

// --measure matmul:N, printed as measure() prints a way: the seconds of
// matmul_seconds(N) and the peak bytes beyond its inputs and output.
int measure_matmul(std::size_t n, double budget)
{
    const long rss_before = status_kib("VmRSS");
    std::ofstream("/proc/self/clear_refs") << "5";
    const double seconds = matmul_seconds(n, budget);
    const double peak = 1024.0 * double(status_kib("VmHWM") - rss_before)
                        - 2.0 * 8.0 * double(n * n);
    std::cout << book::fmt(seconds, "%.6g") << ' ' << book::fmt(peak, "%.6g")
              << '\n';
    return 0;
}

// [ch06-first-touch]
// What fresh memory costs: seconds per MiB to write one byte in every
// 4 KiB page of a newly allocated 64 MiB buffer (the operating system maps
// each page on its first use), and to write them again once mapped. Best
// of three.
std::pair<double, double> first_touch_cost()
{
    const std::size_t bytes = std::size_t(64) << 20;
    double fresh = 1e300, again = 1e300;
    for (int rep = 0; rep < 3; ++rep) {
        std::unique_ptr<char[]> buffer(new char[bytes]);
        volatile char* p = buffer.get();
        for (double* best : {&fresh, &again}) {
            const auto start = now();
            for (std::size_t i = 0; i < bytes; i += 4096) {
                p[i] = char(i);
            }
            *best = std::min(*best, now() - start);
        }
    }
    return {fresh / 64.0, again / 64.0};
}
// [ch06-first-touch]

// [ch06-exp-cost]
// What an exponential costs: seconds per result over 2^20 arguments in
// [-10, 0], where the softmax's exponents s - m mostly lie, one std::exp
// at a time as in the tiled kernel, and four at a time by Eq. (6.5)
// (attn::vector_exp_minus_sum with m = 0). Best of best_of's runs.
std::pair<double, double> exp_costs()
{
    const std::size_t n = std::size_t(1) << 20;
    std::vector<double> x(n), y(n);
    for (std::size_t i = 0; i < n; ++i) {
        x[i] = -10.0 * double(i) / double(n);
    }
    const double scalar = best_of([&] {
        for (std::size_t i = 0; i < n; ++i) {
            y[i] = std::exp(x[i]);
        }
    }, 0.1);
    const double vector = best_of([&] {
        attn::vector_exp_minus_sum(n, x.data(), 0.0, y.data());
    }, 0.1);
    volatile double keep = y[n / 2];  // the results are used
    (void)keep;
    return {scalar / double(n), vector / double(n)};
}
// [ch06-exp-cost]

// The largest relative difference between Eq. (6.5) and std::exp over
// 2^20 + 1 evenly spaced arguments in [-708, 0], in units of the last
// place (2^-52).
double vector_exp_error_ulps()
{
    const std::size_t n = (std::size_t(1) << 20) + 1;
    std::vector<double> x(n), y(n);
    for (std::size_t i = 0; i < n; ++i) {
        x[i] = -708.0 * double(i) / double(n - 1);
    }
    attn::vector_exp_minus_sum(n, x.data(), 0.0, y.data());
    double worst = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double e = std::exp(x[i]);
        worst = std::max(worst, std::abs(y[i] - e) / e);
    }
    return worst / std::ldexp(1.0, -52);
}

// The data cache sizes the processor reports (sysconf), for the text.
std::string cache_sizes()
{
    auto kib = [](int name) {
        const long b = sysconf(name);
        return b > 0 ? book::fmt(double(b) / 1024.0, "%.0f") + " KiB"
                     : std::string("unknown");
    };
    return "L1d " + kib(_SC_LEVEL1_DCACHE_SIZE) + ", L2 "
           + kib(_SC_LEVEL2_CACHE_SIZE) + ", L3 " + kib(_SC_LEVEL3_CACHE_SIZE);
}
// What this machine's arithmetic and memory cost, measured once per run.
struct machine_facts {
    double rate = 0.0;   ///< matrix-multiply rate R, multiply-adds per s
    double t_exp = 0.0;  ///< seconds per std::exp
    double t_vexp = 0.0; ///< seconds per exponential by Eq. (6.5)
    double vexp_ulps = 0.0;  ///< Eq. (6.5)'s largest error, in ulps
    double fresh = 0.0;  ///< seconds per MiB, first write of new memory
    double again = 0.0;  ///< seconds per MiB, second write
};

machine_facts measure_machine()
{
    machine_facts m;
    std::tie(m.t_exp, m.t_vexp) = exp_costs();
    m.vexp_ulps = vector_exp_error_ulps();
    m.rate = std::pow(1024.0, 3) / matmul_seconds(1024, 0.5);
    std::tie(m.fresh, m.again) = first_touch_cost();
    return m;
}

void print_machine(const machine_facts& m)
{
    std::cout << "Matrix-multiply rate R of this machine, one thread:\n  "
              << book::fmt(m.rate / 1e9, "%.2f")
              << " G multiply-adds per second\n";
    const double exp_ratio = m.t_exp * m.rate / double(2 * d);
    std::cout << "One std::exp: " << book::fmt(1e9 * m.t_exp, "%.3g")
              << " ns, as long as t_exp R = "
              << book::fmt(m.t_exp * m.rate, "%.3g")
              << " multiply-adds;\n  1 + t_exp R / (d_k + d_v) = "
              << book::fmt(1.0 + exp_ratio, "%.2f") << '\n';
    std::cout << "One exponential by Eq. 6.5, four lanes at a time"
              << (attn::detail::processor_has_avx2() ? " (AVX2)" : "")
              << ":\n  " << book::fmt(1e9 * m.t_vexp, "%.3g") << " ns, "
              << book::fmt(m.t_exp / m.t_vexp, "%.2g")
              << " times faster; largest difference from std::exp\n  on "
              << "[-708, 0]: " << book::fmt(m.vexp_ulps, "%.2g")
              << " units in the last place\n";
    std::cout << "Data caches the processor reports: " << cache_sizes()
              << '\n';
    std::cout << "First use of memory on this machine: writing to newly "
              << "allocated memory\n  took "
              << book::fmt(1e3 * m.fresh, "%.3g")
              << " ms per MiB, writing it again "
              << book::fmt(1e3 * m.again, "%.3g") << " ms per MiB\n";
}

// [ch06-kv-measure]
// The best of a few timings of the step that generates token t: with the
// cache, on the cache itself (the appended row is taken off again after
// each repetition: no copy, no reallocation), and without it, recomputing
// the whole prefix of t tokens.
std::pair<double, double> time_decode_step(attn::kv_cache& cache,
                                           const matrix& x, std::size_t t,
                                           const matrix& w_q,
                                           const matrix& w_k,
                                           const matrix& w_v)
{
    const matrix x_t = xt::view(x, xt::range(t - 1, t), xt::all());
    double cached = 1e300, uncached = 1e300;
    for (int rep = 0; rep < 5; ++rep) {
        auto start = now();
        attn::decode_step_cached(cache, x_t, w_q, w_k, w_v);
        cached = std::min(cached, now() - start);
        --cache.length;
        cache.k.resize(cache.length * d);
        cache.v.resize(cache.length * d);
    }
    const matrix prefix = xt::view(x, xt::range(0, t), xt::all());
    for (int rep = 0; rep < (t > 2048 ? 1 : 3); ++rep) {
        auto start = now();
        attn::decode_step_uncached(prefix, w_q, w_k, w_v);
        uncached = std::min(uncached, now() - start);
    }
    return {cached, uncached};
}
// [ch06-kv-measure]

// Time of one decoding step at length t = 64, 128, ... with and without
// the cache (d_model = 256, d_k = d_v = 64).
struct kv_timings {
    std::vector<double> t, cached_s, uncached_s;
};

kv_timings kv_benchmark(std::size_t max_t)
{
    const std::size_t d_model = 256;
    attn::rng r(3);
    const matrix w_q = attn::normal_matrix(d_model, d, r, 1.0 / 16.0);
    const matrix w_k = attn::normal_matrix(d_model, d, r, 1.0 / 16.0);
    const matrix w_v = attn::normal_matrix(d_model, d, r, 1.0 / 16.0);
    const matrix x = attn::normal_matrix(max_t, d_model, r);
    kv_timings out;
    attn::kv_cache cache;
    // Room for every row up front, so that no timed step reallocates.
    cache.k.reserve(max_t * d);
    cache.v.reserve(max_t * d);
    std::size_t t_next = 64;
    for (std::size_t t = 1; t <= max_t; ++t) {
        if (t == t_next) {
            const auto [cached, uncached] =
                time_decode_step(cache, x, t, w_q, w_k, w_v);
            out.t.push_back(double(t));
            out.cached_s.push_back(cached);
            out.uncached_s.push_back(uncached);
            t_next *= 2;
        }
        const matrix x_t = xt::view(x, xt::range(t - 1, t), xt::all());
        attn::decode_step_cached(cache, x_t, w_q, w_k, w_v);
    }
    return out;
}

// Prints the decoding steps beside Eq. 6.10's ratio and writes them with
// the model's multiply-adds, which report_ch06.py turns into seconds.
void kv_run(const book::output_sink& out, std::size_t max_t)
{
    const kv_timings kv = kv_benchmark(max_t);
    std::vector<double> cached_madds, uncached_madds;
    book::table t{{"t", "with cache", "without cache", "ratio",
                   "model ratio"}, {}};
    for (std::size_t i = 0; i < kv.t.size(); ++i) {
        cached_madds.push_back(attn::decode_step_cost(kv.t[i], 256, d, true));
        uncached_madds.push_back(
            attn::decode_step_cost(kv.t[i], 256, d, false));
        t.add({book::fmt(kv.t[i], "%.0f"), book::fmt(kv.cached_s[i], "%.3g"),
               book::fmt(kv.uncached_s[i], "%.3g"),
               book::fmt(kv.uncached_s[i] / kv.cached_s[i], "%.0f"),
               book::fmt(uncached_madds[i] / cached_madds[i], "%.0f")});
    }
    std::cout << "\nOne decoding step at length t (d_model = 256, d_k = 64), "
              << "CPU seconds:\n";
    t.print(std::cout);
    out.columns("ch06_kv_steps.dat",
                {"t", "cached_s", "uncached_s", "cached_madds",
                 "uncached_madds"},
                {kv.t, kv.cached_s, kv.uncached_s, cached_madds,
                 uncached_madds});
}

// --threads goes with fast only (the other ways run on one thread), and
// the budget is a time from 0 to 60 s.
void expect_measure_options(const std::string& way, std::size_t threads,
                            double budget)
{
    if (threads < 1 || threads > 64) {
        throw book::usage_error("--threads must be from 1 to 64, got "
                                + std::to_string(threads));
    }
    if (way == "none") {
        throw book::usage_error("--measure needs a way, not 'none'");
    }
    if (threads > 1 && way != "fast") {
        throw book::usage_error("--threads applies to the way fast only, "
                                "not to '" + way + "'");
    }
    if (!(budget >= 0.0 && budget <= 60.0)) {
        throw book::usage_error("--budget must be from 0 to 60 seconds, got "
                                + book::fmt(budget));
    }
}

// The time of the tiled kernel with the vector exponential (one thread)
// at n = 2048 for tiles of 64 to 512 queries by 64 to 512 keys, each time
// divided by the best one, with the tiles the cache rule chooses marked.
void tile_grid(const book::output_sink& out, double cache_bytes)
{
    const std::size_t n = 2048;
    attn::rng r(n);
    const matrix q = attn::normal_matrix(n, d, r);
    const matrix k = attn::normal_matrix(n, d, r);
    const matrix v = attn::normal_matrix(n, d, r);
    const std::vector<std::size_t> bq = {64, 128, 256, 512};
    const std::vector<std::size_t> bk = {64, 128, 256, 512};
    const auto chosen = attn::tile_sizes_for_cache(cache_bytes);
    std::vector<std::vector<double>> seconds(bq.size());
    double best = 1e300;
    for (std::size_t a = 0; a < bq.size(); ++a) {
        for (std::size_t b = 0; b < bk.size(); ++b) {
            attn::fast_options opt;
            opt.block_q = bq[a];
            opt.block_k = bk[b];
            seconds[a].push_back(best_of(
                [&] { attn::attention_fast(q, k, v, {}, opt); }, 0.0));
            best = std::min(best, seconds[a].back());
        }
    }
    book::table t{{"block_q \\ block_k"}, {}};
    for (std::size_t b : bk) {
        t.header.push_back(std::to_string(b));
    }
    for (std::size_t a = 0; a < bq.size(); ++a) {
        std::vector<std::string> cells = {std::to_string(bq[a])};
        for (std::size_t b = 0; b < bk.size(); ++b) {
            const bool rule = bq[a] == chosen.first && bk[b] == chosen.second;
            cells.push_back(book::fmt(seconds[a][b] / best, "%.2f")
                            + (rule ? " *" : ""));
        }
        t.add(cells);
    }
    std::cout << "\nTime of fast at n = 2048 (one thread) for each tile "
              << "size, over the best;\n* = the tiles chosen for a cache of "
              << book::fmt(cache_bytes / 1024.0, "%.0f") << " KiB:\n";
    t.print(std::cout);
    t.header[0] = "<i>b</i><sub>q</sub> \\ <i>b</i><sub>k</sub>";
    out.markdown("ch06_tile_grid.md", t);
    // The sentence that reads the grid.
    std::size_t a_best = 0, b_best = 0;
    double rule = 0.0;
    for (std::size_t a = 0; a < bq.size(); ++a) {
        for (std::size_t b = 0; b < bk.size(); ++b) {
            if (seconds[a][b] == best) {
                a_best = a;
                b_best = b;
            }
            if (bq[a] == chosen.first && bk[b] == chosen.second) {
                rule = seconds[a][b] / best;
            }
        }
    }
    out.text("ch06_findings_tiles.md",
             "On the machine that made this page (second-level cache "
             + book::fmt(cache_bytes / 1024.0, "%.0f") + " KiB), the rule "
             "chose tiles of " + std::to_string(chosen.first) + " &times; "
             + std::to_string(chosen.second) + ", which took "
             + book::fmt(rule, "%.2f") + " times as long as the fastest tile "
             "in the grid, " + std::to_string(bq[a_best]) + " &times; "
             + std::to_string(bk[b_best]) + ". The grid is one run: "
             "differences of a few percent between its cells are within "
             "the noise of the machine.\n");
}

// The inputs of --load: D/Q.npy (n_q, d_k), D/K.npy (n_k, d_k), D/V.npy
// (n_k, d_v) and, if present, D/mask.npy (n_q, n_k, bool), their shapes
// checked against each other; errors name the files, not the functions.
struct loaded_inputs {
    matrix q, k, v;
    mask_matrix mask;
};

loaded_inputs load_inputs(const std::string& dir)
{
    loaded_inputs in{book::load_npy<2>(book::path_in(dir, "Q.npy")),
                     book::load_npy<2>(book::path_in(dir, "K.npy")),
                     book::load_npy<2>(book::path_in(dir, "V.npy")), {}};
    const std::string mask_file = book::path_in(dir, "mask.npy");
    if (std::filesystem::exists(mask_file)) {
        in.mask = book::load_mask_npy(mask_file);
    }
    const std::size_t n_q = in.q.shape()[0], n_k = in.k.shape()[0];
    attn::expect_shape("K.npy", "its array", in.k, {n_k, in.q.shape()[1]},
                       "(n_k, d_k) with d_k from Q.npy");
    attn::expect_shape("V.npy", "its array", in.v, {n_k, in.v.shape()[1]},
                       "(n_k, d_v) with n_k from K.npy");
    if (in.mask.size() != 0) {
        attn::expect_shape("mask.npy", "its array", in.mask, {n_q, n_k},
                           "(n_q, n_k) from Q.npy and K.npy");
    }
    return in;
}

int run_load_save(const book::common_args& args)
{
    const loaded_inputs in = load_inputs(args.load_dir);
    const auto way = [&](const std::string& name) {
        return run_way(name, in.q, in.k, in.v, in.mask);
    };
    book::save_outputs(args.save_dir, "Y_loops.npy", way("loops"),
                       "Y_xtensor.npy", way("xtensor"), "Y_blas.npy",
                       way("blas"), "Y_tiled.npy", way("tiled"));
    return 0;
}

// ------------------------------------------- the backward pass

// --backward reads and writes files: it needs both --load and --save.
void expect_backward_use(const cxxopts::ParseResult& result,
                         const book::common_args& args)
{
    if (result.count("backward")
        && (args.load_dir.empty() || args.save_dir.empty())) {
        throw book::usage_error("--backward needs --load DIR and --save DIR "
                                "(reads Q.npy, K.npy, V.npy, dY.npy)");
    }
}

// --load D --save E --backward: reads D/Q.npy (n_q, d_k), D/K.npy
// (n_k, d_k), D/V.npy (n_k, d_v), D/dY.npy (n_q, d_v) and, if present,
// D/mask.npy (n_q, n_k, bool); writes the tiled forward pass's E/Y.npy and
// the tiled backward pass's E/dQ.npy, E/dK.npy, E/dV.npy.
int run_backward_load_save(const book::common_args& args)
{
    const loaded_inputs in = load_inputs(args.load_dir);
    const auto dy = book::load_npy<2>(book::path_in(args.load_dir,
                                                    "dY.npy"));
    attn::expect_shape("dY.npy", "its array", dy,
                       {in.q.shape()[0], in.v.shape()[1]},
                       "(n_q, d_v) with n_q from Q.npy, d_v from V.npy");
    const auto f = attn::attention_tiled_with_lse(in.q, in.k, in.v, in.mask);
    const auto g = attn::attention_backward_tiled(in.q, in.k, in.v, in.mask,
                                                  f.y, f.lse, dy);
    book::save_outputs(args.save_dir, "Y.npy", f.y, "dQ.npy", g.dL_dq,
                       "dK.npy", g.dL_dk, "dV.npy", g.dL_dv);
    return 0;
}

// --io WAY:N, run under valgrind's cachegrind by code/tools/report_ch06.py:
// makes the inputs, pushes them out of the caches by writing 32 MiB
// elsewhere, runs WAY once (blas or tiled; none runs nothing: the part of
// the count to subtract), and prints the bytes Eq. 6.8 (blas) or Eq. 6.9
// (tiled, tiles of 128 x 256) predicts, and the tiles' working set M_tile.
int io_run(const std::string& way, std::size_t n)
{
    if (way != "none" && way != "blas" && way != "tiled") {
        throw book::usage_error("--io expects none, blas or tiled, got '"
                                + way + "'");
    }
    attn::rng r(n);
    const matrix q = attn::normal_matrix(n, d, r);
    const matrix k = attn::normal_matrix(n, d, r);
    const matrix v = attn::normal_matrix(n, d, r);
    std::vector<char> elsewhere(std::size_t(32) << 20, 1);
    volatile char keep = elsewhere[12345];
    (void)keep;
    double model = 0.0;
    const double nd = double(n), dd = double(d);
    if (way == "blas") {
        model = attn::attention_io_stored(nd, nd, dd, dd);
        (void)run_way("blas", q, k, v);
    } else if (way == "tiled") {
        model = attn::attention_io_tiled(nd, nd, dd, dd, 128);
        (void)run_way("tiled", q, k, v);
    }
    std::cout << book::fmt(model, "%.10g") << ' '
              << book::fmt(attn::attention_tiled_working_set(128, 256, dd, dd),
                           "%.10g")
              << '\n';
    return 0;
}

int run(const cxxopts::ParseResult& result, const book::common_args& args)
{
    openblas_set_num_threads(1);
    const std::size_t threads = result["threads"].as<std::size_t>();
    const double budget = result["budget"].as<double>();
    expect_backward_use(result, args);
    if (result.count("io")) {
        const auto spec = result["io"].as<measure_spec>();
        return io_run(spec.way, spec.n);
    }
    if (result.count("measure")) {
        const auto spec = result["measure"].as<measure_spec>();
        expect_measure_options(spec.way, threads, budget);
        return spec.way == "matmul" ? measure_matmul(spec.n, budget)
                                    : measure(spec.way, spec.n, threads,
                                              budget);
    }
    if (result.count("threads") || result.count("budget")) {
        throw book::usage_error("--threads and --budget go with --measure");
    }
    book::expect_load_with_save(args, "Q.npy, K.npy and V.npy (mask.npy "
                                      "if any)");
    if (!args.load_dir.empty()) {
        return result.count("backward") ? run_backward_load_save(args)
                                        : run_load_save(args);
    }
    const bool full = result.count("benchmark") > 0;
    const std::size_t max_n = result["max-n"].as<std::size_t>();
    if (full && args.out_dir.empty()) {
        throw book::usage_error("--benchmark needs --out DIR");
    }
    if (full && (max_n < 256 || max_n > 65536)) {
        throw book::usage_error("--max-n must be between 256 and 65536, got "
                                + std::to_string(max_n));
    }
    const book::output_sink out(args.out_dir);
    equality_demo(args.seed);
    online_demo(out);
    cost_demo(out);
    const machine_facts m = measure_machine();
    print_machine(m);
    out.columns("ch06_machine.dat",
                {"rate", "t_exp_s", "t_vexp_s", "vexp_ulps", "avx2",
                 "fresh_s_per_mib", "again_s_per_mib", "l2_bytes"},
                {{m.rate}, {m.t_exp}, {m.t_vexp}, {m.vexp_ulps},
                 {attn::detail::processor_has_avx2() ? 1.0 : 0.0}, {m.fresh},
                 {m.again}, {attn::level2_cache_bytes()}});
    if (out.enabled()) {
        tile_grid(out, attn::level2_cache_bytes());
        kv_run(out, full ? std::min<std::size_t>(max_n, 4096) : 1024);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return book::run_program(
        argc, argv, "ch06_scale",
        "Attention at scale: four ways, the online softmax, the cost model, "
        "this machine's rates, decoding with and without a cache.",
        [](cxxopts::Options& options) {
            options.add_options()
                ("benchmark", "the full benchmark's share (needs --out): "
                 "decoding steps up to t = min(N, 4096) instead of 1024")
                ("max-n", "largest n of the full benchmark",
                 cxxopts::value<std::size_t>()->default_value("32768"), "N")
                ("measure", "time one way at one n in this process and "
                 "print the best seconds and the peak bytes: loops, xtensor, "
                 "blas, tiled, tiled+vexp, tiled+tiles, tiled-fused, fast, "
                 "fastest (the fastest one-thread way, named third), "
                 "backward (the tiled backward pass) or matmul (an (N, N) "
                 "product)",
                 cxxopts::value<measure_spec>(), "WAY:N")
                ("threads", "with --measure fast: threads to share the "
                 "queries", cxxopts::value<std::size_t>()->default_value("1"),
                 "T")
                ("budget", "with --measure: time more runs (beyond a "
                 "warm-up and five) while they add up to less than S seconds",
                 cxxopts::value<double>()->default_value("1"), "S")
                ("io", "for cachegrind: one pass of none, blas or tiled at "
                 "n, after pushing the inputs out of the caches; prints the "
                 "bytes the model predicts and the tiles' working set",
                 cxxopts::value<measure_spec>(), "WAY:N")
                ("backward", "with --load D --save E: read D/dY.npy "
                 "(n_q, d_v) too, and write E/Y.npy, E/dQ.npy, E/dK.npy, "
                 "E/dV.npy (tiled forward and backward pass) instead of "
                 "the four ways' outputs");
        },
        [](const cxxopts::ParseResult& result,
           const book::common_args& args) { return run(result, args); });
}

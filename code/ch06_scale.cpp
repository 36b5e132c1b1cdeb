// Chapter 6: attention at scale. The four ways agree, the online softmax
// at work on one row, the cost model, what this machine's arithmetic and
// memory cost, and the time of a decoding step with and without the
// key-value cache. The sweep over n that times the four ways beside NumPy
// and PyTorch, and the chapter's tables of it, are made by
// code/tools/report_ch06.py, which runs this program once per point.
//
//   ch06_scale                      demonstrations and this machine's
//                                   rates, a few seconds
//   ch06_scale --out D              the same, and the decoding steps;
//                                   writes their data and tables into D
//   ch06_scale --load D --save E    reads D/Q.npy (n_q, d_k), D/K.npy
//       (n_k, d_k), D/V.npy (n_k, d_v) and, if present, D/mask.npy
//       (n_q, n_k, bool); writes E/Y_loops.npy, E/Y_xtensor.npy,
//       E/Y_blas.npy and E/Y_tiled.npy (n_q, d_v)
//   ch06_scale --measure WAY:N      one point of the sweep: prints the
//       best CPU seconds and the peak bytes beyond inputs and output
//   ch06_scale --benchmark --out D  the full benchmark's share: the rates
//       and decoding steps up to t = min(--max-n, 4096), no demonstrations
// OpenBLAS runs on one thread throughout (openblas_set_num_threads(1)).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <time.h>
#include <tuple>
#include <unistd.h>
#include <utility>
#include <vector>

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
// CPU seconds of this process: on a shared machine, wall-clock time also
// counts the time spent waiting for a core.
double cpu_now()
{
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
const double mib = 1024.0 * 1024.0;
const std::size_t d = 64;  // d_k = d_v of the benchmark

const std::vector<std::string> ways = {"loops", "xtensor", "blas", "tiled"};

matrix run_way(const std::string& way, const matrix& q, const matrix& k,
               const matrix& v, const mask_matrix& mask = mask_matrix())
{
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
    throw book::usage_error("unknown way '" + way
                            + "': expected loops, xtensor, blas or tiled");
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
    if (spec.way != "matmul"
        && std::find(ways.begin(), ways.end(), spec.way) == ways.end()) {
        throw book::usage_error("unknown way '" + spec.way + "': expected "
                                "loops, xtensor, blas, tiled or matmul");
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

// [ch06-measure]
// One configuration, in a process of its own: make the inputs, start the
// peak-memory count at the resident size now (Linux: write 5 to
// /proc/self/clear_refs), run the way until 0.2 s of CPU time have passed
// (at least once, at most 5 times), and print the best CPU time and the
// peak resident memory beyond inputs and output, in bytes.
int measure(const std::string& way, std::size_t n)
{
    attn::rng r(n);
    const matrix q = attn::normal_matrix(n, d, r);
    const matrix k = attn::normal_matrix(n, d, r);
    const matrix v = attn::normal_matrix(n, d, r);
    // Warm up OpenBLAS (its own buffers) with a small (d, d) product.
    (void)xt::linalg::dot(xt::transpose(q), q);                  // (d, d)
    const long rss_before = status_kib("VmRSS");
    std::ofstream("/proc/self/clear_refs") << "5";
    double best = 1e300, total = 0.0;
    for (int rep = 0; rep < 5 && total < 0.2; ++rep) {
        const auto start = cpu_now();
        const matrix y = run_way(way, q, k, v);
        const double seconds = cpu_now() - start;
        best = std::min(best, seconds);
        total += seconds;
    }
    const double output_bytes = 8.0 * double(n * d);
    const double peak = 1024.0 * double(status_kib("VmHWM") - rss_before)
                        - output_bytes;
    std::cout << book::fmt(best, "%.6g") << ' ' << book::fmt(peak, "%.6g")
              << '\n';
    return 0;
}
// [ch06-measure]

// The best CPU time of five (n x n) times (n x n) products into a result
// whose memory is already in use, one thread: n^3 / seconds is the
// matrix-multiply rate R in multiply-adds per second of CPU time.
double matmul_seconds(std::size_t n)
{
    attn::rng r(7);
    const matrix a = attn::normal_matrix(n, n, r);
    matrix c = xt::zeros<double>({n, n});
    const int ni = int(n);
    double best = 1e300;
    for (int rep = 0; rep < 5; ++rep) {
        const auto start = cpu_now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni,
                    1.0, a.data(), ni, a.data(), ni, 0.0, c.data(), ni);
        best = std::min(best, cpu_now() - start);
    }
    return best;
}

// --measure matmul:N, printed as measure() prints a way: the seconds of
// matmul_seconds(N) and the peak bytes beyond its inputs and output.
int measure_matmul(std::size_t n)
{
    const long rss_before = status_kib("VmRSS");
    std::ofstream("/proc/self/clear_refs") << "5";
    const double seconds = matmul_seconds(n);
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
            const auto start = cpu_now();
            for (std::size_t i = 0; i < bytes; i += 4096) {
                p[i] = char(i);
            }
            *best = std::min(*best, cpu_now() - start);
        }
    }
    return {fresh / 64.0, again / 64.0};
}
// [ch06-first-touch]

// [ch06-exp-cost]
// What one std::exp costs: CPU seconds per call over 2^20 arguments in
// [-10, 0], where the softmax's exponents s - m lie, one at a time as in
// the tiled kernel. Best of three.
double exp_cost()
{
    const std::size_t n = std::size_t(1) << 20;
    std::vector<double> x(n), y(n);
    for (std::size_t i = 0; i < n; ++i) {
        x[i] = -10.0 * double(i) / double(n);
    }
    double best = 1e300;
    for (int rep = 0; rep < 3; ++rep) {
        const auto start = cpu_now();
        for (std::size_t i = 0; i < n; ++i) {
            y[i] = std::exp(x[i]);
        }
        best = std::min(best, cpu_now() - start);
    }
    volatile double keep = y[n / 2];  // the results are used
    (void)keep;
    return best / double(n);
}
// [ch06-exp-cost]

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
    double fresh = 0.0;  ///< seconds per MiB, first write of new memory
    double again = 0.0;  ///< seconds per MiB, second write
};

machine_facts measure_machine()
{
    machine_facts m;
    m.t_exp = exp_cost();
    m.rate = std::pow(1024.0, 3) / matmul_seconds(1024);
    std::tie(m.fresh, m.again) = first_touch_cost();
    return m;
}

void print_machine(const machine_facts& m)
{
    std::cout << "Matrix-multiply rate R of this machine, one thread:\n  "
              << book::fmt(m.rate / 1e9, "%.2f")
              << " G multiply-adds per CPU second\n";
    const double exp_ratio = m.t_exp * m.rate / double(2 * d);
    std::cout << "One std::exp: " << book::fmt(1e9 * m.t_exp, "%.3g")
              << " ns, as long as t_exp R = "
              << book::fmt(m.t_exp * m.rate, "%.3g")
              << " multiply-adds;\n  1 + t_exp R / (d_k + d_v) = "
              << book::fmt(1.0 + exp_ratio, "%.2f") << '\n';
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
        auto start = cpu_now();
        attn::decode_step_cached(cache, x_t, w_q, w_k, w_v);
        cached = std::min(cached, cpu_now() - start);
        --cache.length;
        cache.k.resize(cache.length * d);
        cache.v.resize(cache.length * d);
    }
    const matrix prefix = xt::view(x, xt::range(0, t), xt::all());
    for (int rep = 0; rep < (t > 2048 ? 1 : 3); ++rep) {
        auto start = cpu_now();
        attn::decode_step_uncached(prefix, w_q, w_k, w_v);
        uncached = std::min(uncached, cpu_now() - start);
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

// Prints the decoding steps beside Eq. 6.5's ratio and writes them with
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

int run_load_save(const book::common_args& args)
{
    const auto q = book::load_npy<2>(book::path_in(args.load_dir, "Q.npy"));
    const auto k = book::load_npy<2>(book::path_in(args.load_dir, "K.npy"));
    const auto v = book::load_npy<2>(book::path_in(args.load_dir, "V.npy"));
    const std::string mask_file = book::path_in(args.load_dir, "mask.npy");
    const mask_matrix mask = std::filesystem::exists(mask_file)
                                 ? book::load_mask_npy(mask_file)
                                 : mask_matrix();
    // Name the files, not the functions, when their shapes do not fit.
    const std::size_t n_q = q.shape()[0], n_k = k.shape()[0];
    attn::expect_shape("K.npy", "its array", k, {n_k, q.shape()[1]},
                       "(n_k, d_k) with d_k from Q.npy");
    attn::expect_shape("V.npy", "its array", v, {n_k, v.shape()[1]},
                       "(n_k, d_v) with n_k from K.npy");
    if (mask.size() != 0) {
        attn::expect_shape("mask.npy", "its array", mask, {n_q, n_k},
                           "(n_q, n_k) from Q.npy and K.npy");
    }
    book::save_outputs(args.save_dir,
                       "Y_loops.npy", run_way("loops", q, k, v, mask),
                       "Y_xtensor.npy", run_way("xtensor", q, k, v, mask),
                       "Y_blas.npy", run_way("blas", q, k, v, mask),
                       "Y_tiled.npy", run_way("tiled", q, k, v, mask));
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
    const auto q = book::load_npy<2>(book::path_in(args.load_dir, "Q.npy"));
    const auto k = book::load_npy<2>(book::path_in(args.load_dir, "K.npy"));
    const auto v = book::load_npy<2>(book::path_in(args.load_dir, "V.npy"));
    const auto dy = book::load_npy<2>(book::path_in(args.load_dir,
                                                    "dY.npy"));
    const std::string mask_file = book::path_in(args.load_dir, "mask.npy");
    const mask_matrix mask = std::filesystem::exists(mask_file)
                                 ? book::load_mask_npy(mask_file)
                                 : mask_matrix();
    // Name the files, not the functions, when their shapes do not fit.
    const std::size_t n_q = q.shape()[0], n_k = k.shape()[0];
    attn::expect_shape("K.npy", "its array", k, {n_k, q.shape()[1]},
                       "(n_k, d_k) with d_k from Q.npy");
    attn::expect_shape("V.npy", "its array", v, {n_k, v.shape()[1]},
                       "(n_k, d_v) with n_k from K.npy");
    attn::expect_shape("dY.npy", "its array", dy, {n_q, v.shape()[1]},
                       "(n_q, d_v) with n_q from Q.npy, d_v from V.npy");
    if (mask.size() != 0) {
        attn::expect_shape("mask.npy", "its array", mask, {n_q, n_k},
                           "(n_q, n_k) from Q.npy and K.npy");
    }
    const auto f = attn::attention_tiled_with_lse(q, k, v, mask);
    const auto g = attn::attention_backward_tiled(q, k, v, mask, f.y, f.lse,
                                                  dy);
    book::save_outputs(args.save_dir, "Y.npy", f.y, "dQ.npy", g.dL_dq,
                       "dK.npy", g.dL_dk, "dV.npy", g.dL_dv);
    return 0;
}

// The tiled backward pass at one n, measured as measure() measures a way:
// the inputs Q, K, V, dY and the forward pass's Y and lse are made first;
// then the best CPU time of the backward pass and its peak resident memory
// beyond all of those and its gradients dQ, dK, dV, in bytes.
[[maybe_unused]] int measure_backward(std::size_t n)
{
    attn::rng r(n);
    const matrix q = attn::normal_matrix(n, d, r);
    const matrix k = attn::normal_matrix(n, d, r);
    const matrix v = attn::normal_matrix(n, d, r);
    const matrix dy = attn::normal_matrix(n, d, r);
    const auto f = attn::attention_tiled_with_lse(q, k, v);
    (void)xt::linalg::dot(xt::transpose(q), q);  // warm up OpenBLAS
    const long rss_before = status_kib("VmRSS");
    std::ofstream("/proc/self/clear_refs") << "5";
    double best = 1e300, total = 0.0;
    for (int rep = 0; rep < 5 && total < 0.2; ++rep) {
        const auto start = cpu_now();
        const auto g = attn::attention_backward_tiled(q, k, v, mask_matrix(),
                                                      f.y, f.lse, dy);
        const double seconds = cpu_now() - start;
        best = std::min(best, seconds);
        total += seconds;
    }
    const double gradient_bytes = 3.0 * 8.0 * double(n * d);
    const double peak = 1024.0 * double(status_kib("VmHWM") - rss_before)
                        - gradient_bytes;
    std::cout << book::fmt(best, "%.6g") << ' ' << book::fmt(peak, "%.6g")
              << '\n';
    return 0;
}

int run(const cxxopts::ParseResult& result, const book::common_args& args)
{
    openblas_set_num_threads(1);
    expect_backward_use(result, args);
    if (result.count("measure")) {
        const auto spec = result["measure"].as<measure_spec>();
        return spec.way == "matmul" ? measure_matmul(spec.n)
                                    : measure(spec.way, spec.n);
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
    if (!full) {
        equality_demo(args.seed);
        online_demo(out);
        cost_demo(out);
    }
    const machine_facts m = measure_machine();
    print_machine(m);
    out.columns("ch06_machine.dat",
                {"rate", "t_exp_s", "fresh_s_per_mib", "again_s_per_mib"},
                {{m.rate}, {m.t_exp}, {m.fresh}, {m.again}});
    if (out.enabled()) {
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
                 "rates and decoding steps up to t = min(N, 4096)")
                ("max-n", "largest n of the full benchmark",
                 cxxopts::value<std::size_t>()->default_value("32768"), "N")
                ("measure", "time one way (loops, xtensor, blas, tiled, or "
                 "matmul for an (N, N) product) at one n in this process "
                 "and print seconds and peak bytes",
                 cxxopts::value<measure_spec>(), "WAY:N")
                ("backward", "with --load D --save E: read D/dY.npy "
                 "(n_q, d_v) too, and write E/Y.npy, E/dQ.npy, E/dK.npy, "
                 "E/dV.npy (tiled forward and backward pass) instead of "
                 "the four ways' outputs");
        },
        [](const cxxopts::ParseResult& result,
           const book::common_args& args) { return run(result, args); });
}

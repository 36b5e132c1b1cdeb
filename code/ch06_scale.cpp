// Chapter 6: attention at scale. The four ways agree, the online softmax
// at work on one row, the cost model, and measured time and peak memory
// against n (a short run here; the full one with --benchmark).
//
//   ch06_scale                      demonstrations and a short benchmark
//                                   (n up to 2048), a few seconds
//   ch06_scale --load D --save E    reads D/Q.npy (n_q, d_k), D/K.npy
//       (n_k, d_k), D/V.npy (n_k, d_v) and, if present, D/mask.npy
//       (n_q, n_k, bool); writes E/Y_loops.npy, E/Y_xtensor.npy,
//       E/Y_blas.npy and E/Y_tiled.npy (n_q, d_v)
//   ch06_scale --benchmark --out D  the full benchmark, n up to --max-n
//                                   (default 32768); minutes
// OpenBLAS runs on one thread throughout (openblas_set_num_threads(1)).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <time.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <xtensor/xrandom.hpp>

#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/plot.hpp"
#include "attention/scale.hpp"

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
const double nan = std::numeric_limits<double>::quiet_NaN();
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

// ------------------------------------------------------------ demos

void equality_demo(std::uint64_t seed)
{
    std::cout << "The four ways on random inputs (seed " << seed
              << "),\nlargest |Y - Y_loops| / max |Y_loops|:\n"
              << "  shape (n_q, n_k, d_k, d_v)  mask     xtensor    blas"
              << "       tiled\n";
    const std::vector<std::vector<std::size_t>> shapes = {
        {7, 11, 5, 3}, {64, 300, 16, 8}, {300, 64, 8, 16}};
    bool all_zero = true;  // query 0, whose keys are all masked
    for (const auto& n : shapes) {
        xt::random::seed(seed);
        const matrix q = xt::random::randn<double>({n[0], n[2]});
        const matrix k = xt::random::randn<double>({n[1], n[2]});
        const matrix v = xt::random::randn<double>({n[1], n[3]});
        // A random mask that also leaves query 0 with no key at all.
        mask_matrix mask = xt::random::rand<double>({n[0], n[1]}) < 0.7;
        xt::row(mask, 0) = false;
        for (bool masked : {false, true}) {
            const mask_matrix m = masked ? mask : mask_matrix();
            const matrix ref = attn::attention_loops(q, k, v, m);
            if (masked) {
                for (const auto& way : ways) {
                    const matrix y = run_way(way, q, k, v, m);
                    all_zero = all_zero
                               && xt::amax(xt::abs(xt::row(y, 0)))() == 0.0;
                }
            }
            char line[160];
            std::snprintf(line, sizeof line,
                          "  (%zu, %zu, %zu, %zu)%*s %-7s", n[0], n[1], n[2],
                          n[3], int(20 - std::to_string(n[0]).size()
                                    - std::to_string(n[1]).size()
                                    - std::to_string(n[2]).size()
                                    - std::to_string(n[3]).size()),
                          "", masked ? "random" : "none");
            std::cout << line;
            for (const auto& way : {"xtensor", "blas", "tiled"}) {
                std::cout << "  " << book::fmt(
                    max_relative_difference(run_way(way, q, k, v, m), ref),
                    "%.1e") << "  ";
            }
            std::cout << '\n';
        }
    }
    std::cout << "  query 0, with every key masked, gets an output of exactly "
              << "zero\n  in all four ways: " << (all_zero ? "yes" : "NO")
              << "\n\n";
}

// [ch06-online-demo]
// One query, four keys in two blocks of two: scores (1, 3 | 5, 2) and
// values (10, 20 | 30, 40). Fold the blocks in one at a time (Eqs. 6.2 and
// 6.3), keeping m, alpha, l and o after each; then y = o / l (Eq. 6.4)
// and, to compare, the softmax of all four scores at once.
struct online_demo_result {
    std::vector<std::array<double, 4>> after;  ///< m, alpha, l, o per block
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

void online_demo(const std::string& out_dir)
{
    const online_demo_result r = online_demo_compute();
    const std::vector<std::string> scores = {"(1, 3)", "(5, 2)"};
    std::vector<std::vector<std::string>> rows;
    std::cout << "The online softmax on one row, blocks (1, 3) and (5, 2):\n";
    for (std::size_t b = 0; b < r.after.size(); ++b) {
        const auto& a = r.after[b];
        rows.push_back({std::to_string(b + 1), scores[b], book::fmt(a[0]),
                        book::fmt(a[1], "%.6f"), book::fmt(a[2], "%.6f"),
                        book::fmt(a[3], "%.6f")});
        std::cout << "  after block " << rows.back()[0] << ": m = "
                  << rows.back()[2] << ", alpha = " << rows.back()[3]
                  << ", l = " << rows.back()[4] << ", o = " << rows.back()[5]
                  << '\n';
    }
    std::cout << "  y = o / l = " << book::fmt(r.y_online, "%.12f")
              << ",\n  softmax of all four at once: "
              << book::fmt(r.y_direct, "%.12f") << "\n\n";
    if (!out_dir.empty()) {
        book::write_markdown_table(
            book::path_in(out_dir, "ch06_online_demo.md"),
            {"block", "scores", "<i>m</i> after", "rescale "
             "<i>e</i><sup><i>m</i><sub>old</sub> &minus; "
             "<i>m</i><sub>new</sub></sup>",
             "<i>l</i> after", "<i>o</i> after"},
            rows);
    }
}

void cost_demo(const std::string& out_dir)
{
    std::cout << "The cost model (Eq. 6.1), one head, d_k = d_v = 64:\n"
              << "       n   multiply-adds  exponentials  S and A (MiB)\n";
    std::vector<std::vector<std::string>> rows;
    for (double n : {256.0, 1024.0, 4096.0, 16384.0, 32768.0}) {
        const auto c = attn::attention_cost_model(n, n, 64, 64);
        char line[128];
        std::snprintf(line, sizeof line, "  %6.0f  %13.4g  %12.4g  %13.6g\n",
                      n, c.multiply_adds, c.exponentials,
                      c.stored_bytes / mib);
        std::cout << line;
        rows.push_back({book::fmt(n, "%.0f"), book::fmt(c.multiply_adds),
                        book::fmt(c.exponentials),
                        book::fmt(c.stored_bytes / mib, "%.6g")});
    }
    std::cout << "  tiled attention instead keeps one block of scores: "
              << book::fmt(attn::attention_tiled_extra_bytes(128, 256)
                               / 1024.0)
              << " KiB\n  for blocks of 128 queries x 256 keys\n\n";
    if (!out_dir.empty()) {
        book::write_markdown_table(
            book::path_in(out_dir, "ch06_cost_model.md"),
            {"<i>n</i>", "multiply-adds", "exponentials",
             "<i>S</i> and <i>A</i> (MiB)"},
            rows);
    }
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
    xt::random::seed(n);
    const matrix q = xt::random::randn<double>({n, d});
    const matrix k = xt::random::randn<double>({n, d});
    const matrix v = xt::random::randn<double>({n, d});
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

// Runs `self --measure way:n` and reads its two numbers.
std::pair<double, double> measure_in_child(const std::string& self,
                                           const std::string& way,
                                           std::size_t n)
{
    const std::string command = "'" + self + "' --measure " + way + ":"
                                + std::to_string(n);
    FILE* pipe = popen(command.c_str(), "r");
    double seconds = nan, bytes = nan;
    if (pipe == nullptr || std::fscanf(pipe, "%lf %lf", &seconds, &bytes) != 2
        || pclose(pipe) != 0) {
        throw std::runtime_error("measuring " + way + " at n = "
                                 + std::to_string(n) + " failed");
    }
    return {seconds, bytes};
}

// The matrix-multiply rate of this machine, one thread: the best of five
// (1024 x 1024) times (1024 x 1024) products into a result whose memory is
// already in use, in multiply-adds per second of CPU time.
double matmul_rate()
{
    const int n = 1024;
    xt::random::seed(7);
    const matrix a = xt::random::randn<double>({1024, 1024});
    matrix c = xt::zeros<double>({1024, 1024});
    double best = 1e300;
    for (int rep = 0; rep < 5; ++rep) {
        const auto start = cpu_now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0,
                    a.data(), n, a.data(), n, 0.0, c.data(), n);
        best = std::min(best, cpu_now() - start);
    }
    return double(n) * n * n / best;
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

// How far each way is run: the stored ways need 8 n^2 bytes per matrix.
std::size_t way_limit(const std::string& way, bool full)
{
    if (way == "loops" || way == "xtensor") {
        return full ? 1024 : 512;
    }
    return way == "blas" ? (full ? 8192 : 2048) : (full ? 32768 : 2048);
}

// [ch06-kv-measure]
// Time of one decoding step at length t with and without the cache
// (d_model = 256, d_k = d_v = 64), best of a few runs.
std::vector<std::vector<double>> kv_benchmark(std::size_t max_t, double rate)
{
    const std::size_t d_model = 256;
    xt::random::seed(3);
    const matrix w_q = xt::random::randn<double>({d_model, d}) / 16.0;
    const matrix w_k = xt::random::randn<double>({d_model, d}) / 16.0;
    const matrix w_v = xt::random::randn<double>({d_model, d}) / 16.0;
    const matrix x = xt::random::randn<double>({max_t, d_model});
    std::vector<std::vector<double>> columns(5);
    attn::kv_cache cache;
    // Room for every row up front, so that no timed step reallocates.
    cache.k.reserve(max_t * d);
    cache.v.reserve(max_t * d);
    std::size_t t_next = 64;
    for (std::size_t t = 1; t <= max_t; ++t) {
        const matrix x_t = xt::view(x, xt::range(t - 1, t), xt::all());
        if (t != t_next) {
            attn::decode_step_cached(cache, x_t, w_q, w_k, w_v);
            continue;
        }
        // Time the step that appends token t on the cache itself, then
        // take the appended row off again (no copy, no reallocation).
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
        attn::decode_step_cached(cache, x_t, w_q, w_k, w_v);
        const double td = double(t);
        columns[0].push_back(td);
        columns[1].push_back(cached);
        columns[2].push_back(uncached);
        columns[3].push_back(attn::decode_step_cost(td, d_model, d, true)
                             / rate);
        columns[4].push_back(attn::decode_step_cost(td, d_model, d, false)
                             / rate);
        t_next *= 2;
    }
    return columns;
}
// [ch06-kv-measure]

// The columns of the C++ benchmark's data file, in order.
const std::vector<std::string> cpp_columns = {
    "n", "loops_s", "xtensor_s", "blas_s", "tiled_s", "bound_s",
    "loops_mib", "xtensor_mib", "blas_mib", "tiled_mib", "exp_s"};

// The size benchmark: the four ways at n = 256, 512, ... up to max_n,
// each configuration in a child process. The machine is shared, so the
// matrix-multiply rate is measured again afterwards and the better of the
// two sets the bound.
void size_benchmark(const std::string& self, const std::string& out_dir,
                    bool full, std::size_t max_n, double& rate,
                    double& rate_again, double t_exp)
{
    std::vector<std::vector<double>> columns(cpp_columns.size());
    for (std::size_t n = 256; n <= max_n; n *= 2) {
        columns[0].push_back(double(n));
        for (std::size_t w = 0; w < 4; ++w) {
            double t = nan, mem = nan;
            if (n <= way_limit(ways[w], full)) {
                std::tie(t, mem) = measure_in_child(self, ways[w], n);
            }
            columns[1 + w].push_back(t);
            columns[6 + w].push_back(mem / mib);
        }
        if (full) {
            std::cerr << "  measured n = " << n << '\n';
        }
    }
    rate_again = matmul_rate();
    rate = std::max(rate, rate_again);
    auto g = [](double x, const char* format) {
        return std::isfinite(x) ? book::fmt(x, format) : std::string("-");
    };
    std::cout << "CPU seconds and peak memory beyond inputs and output (MiB),"
              << " d = 64,\none thread (- = not run at this n):\n"
              << "       n     loops   xtensor      blas     tiled     bound"
                 " | blas MiB tiled MiB\n";
    for (std::size_t i = 0; i < columns[0].size(); ++i) {
        const double n = columns[0][i];
        columns[5].push_back(attn::attention_cost_model(n, n, d, d)
                                 .multiply_adds / rate);
        columns[10].push_back(n * n * t_exp);
        char line[200];
        std::snprintf(line, sizeof line,
                      "  %6.0f  %8s  %8s  %8s  %8s  %8s | %8s %9s\n", n,
                      g(columns[1][i], "%.3g").c_str(),
                      g(columns[2][i], "%.3g").c_str(),
                      g(columns[3][i], "%.3g").c_str(),
                      g(columns[4][i], "%.3g").c_str(),
                      g(columns[5][i], "%.3g").c_str(),
                      g(columns[8][i], "%.4g").c_str(),
                      g(columns[9][i], "%.4g").c_str());
        std::cout << line;
    }
    book::write_columns(
        book::path_in(out_dir, full ? "ch06_bench_full_cpp.dat"
                                    : "ch06_bench_cpp.dat"),
        cpp_columns, columns);
}

void kv_run(const std::string& out_dir, bool full, double rate)
{
    const auto kv = kv_benchmark(full ? 4096 : 1024, rate);
    std::cout << "\nOne decoding step at length t (d_model = 256, d_k = 64), "
              << "CPU seconds:\n"
              << "       t   with cache  without cache  ratio   model ratio\n";
    for (std::size_t i = 0; i < kv[0].size(); ++i) {
        char line[128];
        std::snprintf(line, sizeof line,
                      "  %6.0f  %11.3g  %13.3g  %6.0f  %10.0f\n", kv[0][i],
                      kv[1][i], kv[2][i], kv[2][i] / kv[1][i],
                      kv[4][i] / kv[3][i]);
        std::cout << line;
    }
    if (!out_dir.empty()) {
        book::write_columns(
            book::path_in(out_dir, full ? "ch06_kv_full.dat" : "ch06_kv.dat"),
            {"t", "cached_s", "uncached_s", "cached_model_s",
             "uncached_model_s"},
            kv);
    }
}

// ------------------------------------------------- the book's report

using table = std::map<std::string, std::vector<double>>;

// Reads a file written by write_columns (or the Python benchmark).
table read_columns(const std::string& file)
{
    std::ifstream in(file);
    std::string line;
    std::vector<std::string> names;
    table t;
    while (std::getline(in, line)) {
        std::istringstream words(line[0] == '#' ? line.substr(1) : line);
        std::string word;
        if (line[0] == '#') {
            if (names.empty()) {
                while (words >> word) {
                    names.push_back(word);
                }
            }
            continue;
        }
        for (std::size_t c = 0; words >> word && c < names.size(); ++c) {
            t[names[c]].push_back(std::strtod(word.c_str(), nullptr));
        }
    }
    return t;
}

std::string cell(double x, const char* format = "%.3g")
{
    return std::isfinite(x) ? book::fmt(x, format) : "&ndash;";
}

std::string first_line(const std::string& file)
{
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    return line;
}

// [ch06-report]
// The verdict on one target. On this shared machine the matrix-multiply
// rate can differ by several percent between runs (by about 10 % in some),
// and the ratio to the bound by more from one n to the next: a measurement
// within 10 % of the wanted value is reported as within noise, whichever
// side it falls on.
std::string verdict(double measured, double wanted, bool at_least)
{
    if (!std::isfinite(measured)) {
        return "not measured";
    }
    const bool ok = at_least ? measured >= wanted : measured <= wanted;
    if (std::abs(measured - wanted) < 0.1 * wanted) {
        return ok ? "met, within noise (10 %)" : "missed, within noise (10 %)";
    }
    return ok ? "met" : "**missed**";
}
// [ch06-report]

// Merges the C++ and (if present) the Python measurements into the data
// behind the chapter's figures and tables: the full benchmark's when it has
// been run into out_dir, else this run's short one (stamp: when and how).
void write_report(const std::string& out_dir, const std::string& stamp)
{
    namespace fs = std::filesystem;
    const std::string full_cpp = book::path_in(out_dir,
                                               "ch06_bench_full_cpp.dat");
    // A full run's file from an older version of this program lacks
    // columns this version writes: it is ignored, not shown half empty.
    bool full = false;
    table c;
    if (fs::exists(full_cpp)) {
        c = read_columns(full_cpp);
        std::string missing;
        for (const auto& name : cpp_columns) {
            if (!c.count(name)) {
                missing += " " + name;
            }
        }
        full = missing.empty();
        if (!full) {
            std::cout << "Note: " << full_cpp << " has no column(s)"
                      << missing << ": an older version of this program "
                      << "wrote it, so the short run is shown instead. "
                      << "Run sh code/tools/benchmark_ch06.sh again.\n";
        }
    }
    if (!full) {
        c = read_columns(book::path_in(out_dir, "ch06_bench_cpp.dat"));
    }
    const std::string py_file = book::path_in(out_dir,
                                              "ch06_bench_python.dat");
    const bool python = full && fs::exists(py_file);
    table p = python ? read_columns(py_file) : table();
    const std::size_t rows = c["n"].size();
    std::vector<std::vector<double>> merged(16);
    std::vector<std::vector<std::string>> time_rows, ratio_rows, memory_rows,
        target_rows;
    for (std::size_t i = 0; i < rows; ++i) {
        const double n = c["n"][i];
        double numpy = nan, torch = nan, numpy_mib = nan, torch_mib = nan;
        for (std::size_t r = 0; r < p["n"].size(); ++r) {
            if (p["n"][r] == n) {
                numpy = p["numpy_s"][r];
                torch = p["torch_s"][r];
                numpy_mib = p["numpy_mib"][r];
                torch_mib = p["torch_mib"][r];
            }
        }
        // The fastest of the library's ways at this n.
        double fastest = nan;
        std::string fastest_way = "&ndash;";
        for (const auto& w : ways) {
            const double tw = c[w + "_s"][i];
            if (std::isfinite(tw) && !(tw >= fastest)) {
                fastest = tw;
                fastest_way = w;
            }
        }
        const double bound = c["bound_s"][i];
        const std::vector<double> row = {
            n, c["loops_s"][i], c["xtensor_s"][i], c["blas_s"][i],
            c["tiled_s"][i], numpy, torch, bound, c["loops_mib"][i],
            c["xtensor_mib"][i], c["blas_mib"][i], c["tiled_mib"][i],
            numpy_mib, torch_mib, 2.0 * 8.0 * n * n / mib,
            i < c["exp_s"].size() ? c["exp_s"][i] : nan};
        for (std::size_t k = 0; k < row.size(); ++k) {
            merged[k].push_back(row[k]);
        }
        time_rows.push_back({cell(n, "%.0f"), cell(row[1]), cell(row[2]),
                             cell(row[3]), cell(row[4]), cell(numpy),
                             cell(torch), cell(bound)});
        ratio_rows.push_back({cell(n, "%.0f"), fastest_way,
                              cell(fastest / bound, "%.2f"),
                              cell(1.0 + row[15] / bound, "%.2f"),
                              cell(numpy / fastest, "%.2f"),
                              cell(torch / fastest, "%.2f")});
        memory_rows.push_back({cell(n, "%.0f"), cell(row[14], "%.0f"),
                               cell(row[8], "%.3g"), cell(row[9], "%.3g"),
                               cell(row[10], "%.4g"), cell(row[11], "%.3g"),
                               cell(numpy_mib, "%.4g"),
                               cell(torch_mib, "%.4g")});
        if (n == 1024 || n == 4096) {
            target_rows.push_back(
                {"<i>n</i> = " + cell(n, "%.0f") + ": NumPy time / fastest",
                 "&ge; 1.5", cell(numpy / fastest, "%.2f"),
                 verdict(numpy / fastest, 1.5, true)});
            target_rows.push_back(
                {"<i>n</i> = " + cell(n, "%.0f") + ": PyTorch time / fastest",
                 "&ge; 1.5", cell(torch / fastest, "%.2f"),
                 verdict(torch / fastest, 1.5, true)});
            target_rows.push_back(
                {"<i>n</i> = " + cell(n, "%.0f") + ": fastest / matmul bound",
                 "&le; 2", cell(fastest / bound, "%.2f"),
                 verdict(fastest / bound, 2.0, false)});
        }
        if (n == 32768) {
            target_rows.push_back(
                {"<i>n</i> = 32768: tiled peak memory beyond inputs and "
                 "output (MiB)",
                 "&lt; 64", cell(row[11], "%.3g"),
                 verdict(row[11], 64.0, false)});
        }
    }
    if (target_rows.size() < 7) {
        target_rows.push_back({"<i>n</i> = 4096 and 32768", "", "",
                               "not measured in this short run"});
    }
    book::write_columns(
        book::path_in(out_dir, "ch06_bench.dat"),
        {"n", "loops_s", "xtensor_s", "blas_s", "tiled_s", "numpy_s",
         "torch_s", "bound_s", "loops_mib", "xtensor_mib", "blas_mib",
         "tiled_mib", "numpy_mib", "torch_mib", "s_and_a_mib", "exp_s"},
        merged);
    book::write_markdown_table(
        book::path_in(out_dir, "ch06_benchmark_time.md"),
        {"<i>n</i>", "loops", "xtensor", "BLAS", "tiled", "NumPy", "PyTorch",
         "matmul bound"},
        time_rows);
    book::write_markdown_table(
        book::path_in(out_dir, "ch06_benchmark_ratio.md"),
        {"<i>n</i>", "fastest", "fastest / bound",
         "1 + <i>t</i><sub>exp</sub> <i>R</i> / (<i>d</i><sub>k</sub> + "
         "<i>d</i><sub>v</sub>)",
         "NumPy / fastest", "PyTorch / fastest"},
        ratio_rows);
    book::write_markdown_table(
        book::path_in(out_dir, "ch06_benchmark_memory.md"),
        {"<i>n</i>", "<i>S</i> and <i>A</i> (model)", "loops", "xtensor",
         "BLAS", "tiled", "NumPy", "PyTorch"},
        memory_rows);
    book::write_markdown_table(
        book::path_in(out_dir, "ch06_targets.md"),
        {"target", "wanted", "measured", "verdict"}, target_rows);
    // Where the numbers come from, for the sentence above the tables.
    std::string source;
    if (full) {
        source = "These numbers come from the full benchmark, "
                 + first_line(book::path_in(out_dir,
                                            "ch06_bench_full_stamp.txt"))
                 + ". ";
        source += !python ? "NumPy and PyTorch were not measured in that "
                              "run."
                            : "NumPy and PyTorch: "
                                  + first_line(book::path_in(
                                      out_dir, "ch06_bench_python_stamp.txt"))
                                  + ".";
    } else {
        source = "These numbers come from the short run made by the build "
                 "(<i>n</i> up to 2048, the library only), " + stamp
                 + ". Run "
                 "<tt>sh code/tools/benchmark_ch06.sh</tt> for the full "
                 "benchmark up to <i>n</i> = 32768 with NumPy and PyTorch "
                 "beside it; this page is then regenerated from its "
                 "output.";
    }
    book::open_for_writing(book::path_in(out_dir, "ch06_bench_source.md"))
        << source << '\n';
    // Irregular points of NumPy and PyTorch: a time over the bound below
    // half of that library's median time over the bound.
    std::string odd;
    for (const auto& [name, col] :
         std::vector<std::pair<std::string, std::size_t>>{{"NumPy", 5},
                                                          {"PyTorch", 6}}) {
        std::vector<double> r;
        for (std::size_t i = 0; i < rows; ++i) {
            if (std::isfinite(merged[col][i])) {
                r.push_back(merged[col][i] / merged[7][i]);
            }
        }
        if (r.empty()) {
            continue;
        }
        std::vector<double> sorted = r;
        std::sort(sorted.begin(), sorted.end());
        const double median = sorted[sorted.size() / 2];
        for (std::size_t i = 0; i < rows; ++i) {
            const double x = merged[col][i] / merged[7][i];
            if (std::isfinite(x) && x < 0.5 * median) {
                odd += (odd.empty() ? "" : "; ") + name + " at <i>n</i> = "
                       + cell(merged[0][i], "%.0f") + " (time / bound "
                       + cell(x, "%.2f") + ", median " + cell(median, "%.2f")
                       + ")";
            }
        }
    }
    book::open_for_writing(book::path_in(out_dir, "ch06_outliers.md"))
        << (!python ? std::string("NumPy and PyTorch were not measured in "
                                    "this run.")
            : odd.empty()
                ? std::string("No NumPy or PyTorch time is below half of "
                              "that library's median time over the bound.")
                : "Points below half of their library's median time over "
                  "the bound: " + odd + ".")
        << '\n';
    // The decoding measurements: the full run's if there is one.
    const std::string kv_full = book::path_in(out_dir, "ch06_kv_full.dat");
    fs::copy_file(full && fs::exists(kv_full)
                      ? kv_full
                      : book::path_in(out_dir, "ch06_kv.dat"),
                  book::path_in(out_dir, "ch06_kv_plot.dat"),
                  fs::copy_options::overwrite_existing);
}

std::string now_utc()
{
    const std::time_t t = std::time(nullptr);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M UTC",
                  std::gmtime(&t));
    return buffer;
}

int run_load(const book::common_args& args)
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

int run(const cxxopts::ParseResult& result, const book::common_args& args,
        const std::string& self)
{
    openblas_set_num_threads(1);
    if (result.count("measure")) {
        const auto spec = result["measure"].as<std::string>();
        const auto colon = spec.find(':');
        if (colon == std::string::npos) {
            throw book::usage_error("--measure expects WAY:N, got '" + spec
                                    + "'");
        }
        const std::string digits = spec.substr(colon + 1);
        if (digits.empty() || digits.size() > 5
            || digits.find_first_not_of("0123456789") != std::string::npos
            || std::stoul(digits) < 1 || std::stoul(digits) > 65536) {
            throw book::usage_error("--measure expects WAY:N with N from 1 "
                                    "to 65536, got '" + spec + "'");
        }
        return measure(spec.substr(0, colon), std::stoul(digits));
    }
    if (!args.load_dir.empty()) {
        return run_load(args);
    }
    const bool full = result.count("benchmark") > 0;
    const std::size_t max_n = full ? result["max-n"].as<std::size_t>() : 2048;
    if (full && args.out_dir.empty()) {
        throw book::usage_error("--benchmark needs --out DIR");
    }
    if (max_n < 256 || max_n > 65536) {
        throw book::usage_error("--max-n must be between 256 and 65536, got "
                                + std::to_string(max_n));
    }
    if (!full) {
        equality_demo(args.seed);
        online_demo(args.out_dir);
        cost_demo(args.out_dir);
    }
    const double t_exp = exp_cost();
    double rate = matmul_rate();
    const double rate_first = rate;
    double rate_again = nan;
    if (!args.out_dir.empty()) {
        size_benchmark(self, args.out_dir, full, max_n, rate, rate_again,
                       t_exp);
    }
    // Rates in G multiply-adds per second; a multiply-add is 2 FLOP.
    const std::string rates =
        book::fmt(rate_first / 1e9, "%.2f")
        + " G multiply-adds per CPU second"
        + (std::isfinite(rate_again)
               ? " before the timings and " + book::fmt(rate_again / 1e9,
                                                        "%.2f")
                     + " after (the bound uses the larger)"
               : "");
    std::cout << "\nMatrix-multiply rate R of this machine, one thread:\n  "
              << book::fmt(rate_first / 1e9, "%.2f")
              << " G multiply-adds per CPU second";
    if (std::isfinite(rate_again)) {
        std::cout << " before the timings,\n  "
                  << book::fmt(rate_again / 1e9, "%.2f")
                  << " after (the bound uses the larger)";
    }
    std::cout << '\n';
    const double exp_ratio = t_exp * rate / double(2 * d);
    std::cout << "One std::exp: " << book::fmt(1e9 * t_exp, "%.3g")
              << " ns, as long as t_exp R = " << book::fmt(t_exp * rate, "%.3g")
              << " multiply-adds;\n  1 + t_exp R / (d_k + d_v) = "
              << book::fmt(1.0 + exp_ratio, "%.2f") << '\n';
    std::cout << "Data caches the processor reports: " << cache_sizes()
              << '\n';
    const auto [fresh, again] = first_touch_cost();
    const std::string touch = "writing to newly allocated memory took "
                              + book::fmt(1e3 * fresh, "%.3g")
                              + " ms per MiB, writing it again "
                              + book::fmt(1e3 * again, "%.3g")
                              + " ms per MiB";
    std::cout << "First use of memory on this machine: writing to newly "
              << "allocated memory\n  took " << book::fmt(1e3 * fresh, "%.3g")
              << " ms per MiB, writing it again "
              << book::fmt(1e3 * again, "%.3g") << " ms per MiB\n";
    if (args.out_dir.empty()) {
        return 0;
    }
    kv_run(args.out_dir, full, rate);
    const std::string stamp = "measured " + now_utc()
                              + " in CPU seconds, one thread; "
                                "matrix-multiply rate " + rates
                              + "; one "
                                "<tt>std::exp</tt> " + book::fmt(1e9 * t_exp,
                                                                 "%.3g")
                              + " ns; " + touch;
    if (full) {
        book::open_for_writing(book::path_in(args.out_dir,
                                             "ch06_bench_full_stamp.txt"))
            << stamp << '\n';
    } else {
        write_report(args.out_dir, stamp);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    const std::string self = std::filesystem::canonical("/proc/self/exe");
    return book::run_program(
        argc, argv, "ch06_scale",
        "Attention at scale: four ways, the online softmax, the cost model, "
        "time and memory against n.",
        [](cxxopts::Options& options) {
            options.add_options()
                ("benchmark", "the full benchmark (needs --out; minutes)")
                ("max-n", "largest n of the full benchmark",
                 cxxopts::value<std::size_t>()->default_value("32768"), "N")
                ("measure", "internal: time one way at one n in this "
                 "process and print seconds and peak bytes",
                 cxxopts::value<std::string>(), "WAY:N");
        },
        [&self](const cxxopts::ParseResult& result,
                const book::common_args& args) {
            return run(result, args, self);
        });
}

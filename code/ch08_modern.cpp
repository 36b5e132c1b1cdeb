// Chapter 8: attention in today's language models. Rotary positions,
// ALiBi, grouped-query and multi-query attention, sliding windows with a
// ring-buffer cache, prefix-LM and packed masks, and a latent cache.
//
//   ch08_modern                          the chapter's demonstrations
//   ch08_modern --out D                  also writes the figures and tables
//   ch08_modern --load D --save E [--heads H] [--kv-heads G] [--rope]
//       [--rope-base B] [--position-offset P] [--causal] [--window W]
//       [--alibi]
//       reads D/X.npy (n, d_model), D/W_q.npy (d_model, H d),
//       D/W_k.npy and D/W_v.npy (d_model, G d), D/W_o.npy (H d, d_model),
//       D/b_o.npy (d_model,), and writes E/A.npy (H, n, n) and
//       E/Y.npy (n, d_model)
#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <numeric>
#include <cstdint>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "attention/alibi.hpp"
#include "attention/grouped_query.hpp"
#include "attention/kv_cache.hpp"
#include "attention/latent_cache.hpp"
#include "attention/position_model.hpp"
#include "attention/random.hpp"
#include "attention/rotary.hpp"
#include "attention/sliding_window.hpp"
#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/output.hpp"
#include "book/plot.hpp"

namespace {

using attn::matrix;

matrix row_of(const matrix& x, std::size_t r)
{
    return xt::view(x, xt::range(r, r + 1), xt::all());
}

double largest_difference(const matrix& a, const matrix& b)
{
    return xt::amax(xt::abs(a - b))();
}

// A sentence broken into lines of at most 78 columns, for the console.
std::string wrapped(const std::string& text)
{
    std::string out, line, word;
    std::istringstream words(text);
    while (words >> word) {
        if (!line.empty() && line.size() + 1 + word.size() > 78) {
            out += line + '\n';
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
    }
    return out + line;
}

// RoPE's scores depend on the distance only: the same query and key
// placed at several pairs of positions (m, n).
void rope_demo(const book::output_sink& out, std::uint64_t seed)
{
    attn::rng r(seed);
    const std::size_t d = 8;
    const matrix q = attn::normal_matrix(1, d, r);
    const matrix k = attn::normal_matrix(1, d, r);
    book::table t{{"i (query)", "j (key)", "i - j", "score"}, {}};
    for (auto [i, j] : {std::pair{3u, 0u}, std::pair{8u, 5u},
                        std::pair{103u, 100u}, std::pair{7u, 5u},
                        std::pair{5u, 5u}}) {
        const double s = xt::sum(attn::rope_interleaved(q, i)
                                 * attn::rope_interleaved(k, j))();
        t.add({std::to_string(i), std::to_string(j),
               std::to_string(int(i) - int(j)), book::fmt(s, "%.6f")});
    }
    std::cout << "RoPE (d_k = " << d << ", seed " << seed
              << "): the score of one query and one key, rotated to\n"
                 "positions i and j (Eq. 8.2: it depends on i - j only):\n";
    t.print(std::cout);
    std::cout << '\n';
    t.page_header = {"<i>i</i> (query)", "<i>j</i> (key)",
                     "<i>i</i> &minus; <i>j</i>",
                     "score <i>q̃<sub>i</sub> k̃<sub>j</sub></i>"
                     "<sup>⊤</sup>"};
    out.markdown("ch08_rope_relative.md", t);
}

// [ch08-offset-bug]
// Decode t = 4 tokens after a prompt of p = 5 with a cache: each new
// token's query and key rotated at its absolute position, or (the bug) at
// its position within the step, counted from 0. Returns the largest
// difference from the full masked pass: right, then with the bug.
std::pair<double, double> offset_bug_errors(std::uint64_t seed)
{
    attn::rng r(seed);
    const std::size_t p = 5, t = 4, n = p + t, d = 8;
    const matrix q = attn::normal_matrix(n, d, r);
    const matrix k = attn::normal_matrix(n, d, r);
    const matrix v = attn::normal_matrix(n, d, r);
    const matrix full = attn::masked_attend(attn::rope_interleaved(q),
                                            attn::rope_interleaved(k), v,
                                            attn::causal_mask(n, n)).y;
    double worst[2] = {0.0, 0.0};
    for (bool absolute : {true, false}) {
        attn::kv_cache cache;
        attn::append_to_cache(cache, attn::rope_interleaved(
            xt::view(k, xt::range(0, p), xt::all())),
            xt::view(v, xt::range(0, p), xt::all()));
        for (std::size_t pos = p; pos < n; ++pos) {
            const std::size_t at = absolute ? pos : pos - p;  // the bug
            attn::append_to_cache(cache, attn::rope_interleaved(
                row_of(k, pos), at), row_of(v, pos));
            const matrix y = attn::attend(
                attn::rope_interleaved(row_of(q, pos), at), cache.keys(),
                cache.values()).y;
            double& w = worst[absolute ? 0 : 1];
            w = std::max(w, largest_difference(y, row_of(full, pos)));
        }
    }
    return {worst[0], worst[1]};
}
// [ch08-offset-bug]

void rope_cache_demo(const book::output_sink& out, std::uint64_t seed)
{
    const auto [right, bug] = offset_bug_errors(seed);
    book::table tb{{"new tokens rotated at", "largest |y - full pass|"}, {}};
    tb.add({"their absolute positions 5, ..., 8", book::fmt(right, "%.2g")});
    tb.add({"positions 0, ..., 3 (the bug)", book::fmt(bug, "%.2g")});
    std::cout << "RoPE with a cache: a prompt of 5 tokens, then 4 tokens "
                 "decoded one by one:\n";
    tb.print(std::cout);
    std::cout << '\n';
    tb.page_header = {"the new tokens' queries and keys rotated at",
                      "largest difference from the full masked pass"};
    out.markdown("ch08_rope_cache.md", tb);
}

void alibi_demo(const book::output_sink& out)
{
    book::table t{{"H", "slopes m_0, ..., m_{H-1} (as powers of 2)"}, {}};
    for (std::size_t heads : {1u, 4u, 8u, 12u}) {
        const auto m = attn::alibi_slopes(heads);
        std::string s;
        for (std::size_t h = 0; h < heads; ++h) {
            s += (h == 0 ? "" : ", ") + book::fmt(std::log2(m[h]), "%g");
        }
        t.add({std::to_string(heads), s});
    }
    std::cout << "ALiBi's slopes, log2 m_h (Eq. 8.4):\n";
    t.print(std::cout);
    std::cout << '\n';
    t.page_header = {"<i>H</i>",
                     "log<sub>2</sub> of the slopes <i>m</i><sub>0</sub>, "
                     "&hellip;, <i>m</i><sub><i>H</i>&minus;1</sub>"};
    out.markdown("ch08_alibi_slopes.md", t);
}

// Which block of K each query head read, by its offset in K: the
// evidence that heads share views.
void gqa_demo(const book::output_sink& out, std::uint64_t seed)
{
    attn::rng r(seed);
    const std::size_t n = 6, d_model = 16, heads = 8, d = 2;
    const matrix x = attn::normal_matrix(n, d_model, r);
    book::table t{{"G", "K's width", "head h reads K from column",
                   "|Y - MHA, K and V repeated|"}, {}};
    for (std::size_t groups : {8u, 4u, 2u, 1u}) {
        const auto w = attn::random_grouped_query_weights(
            d_model, heads, groups, d, r);
        const auto res = attn::grouped_query_attention(
            x, x, w, heads, groups, attn::causal_mask(n, n));
        const attn::multi_head_weights mh{
            w.w_q, attn::repeat_groups(w.w_k, heads, groups),
            attn::repeat_groups(w.w_v, heads, groups), w.w_o, w.b_o};
        const auto ref = attn::multi_head_attention(x, x, mh, heads,
                                                    attn::causal_mask(n, n));
        std::string offsets;
        for (std::size_t h = 0; h < heads; ++h) {
            offsets += (h == 0 ? "" : " ") + std::to_string(res.offsets[h].k);
        }
        t.add({std::to_string(groups), std::to_string(res.k.shape()[1]),
               offsets, book::fmt(largest_difference(res.y, ref.y), "%.2g")});
    }
    std::cout << "Grouped-query attention, H = " << heads << " heads of d = "
              << d << ", n = " << n << " (Eq. 8.6):\n";
    t.print(std::cout);
    std::cout << '\n';
    t.page_header = {"<i>G</i>", "width of <i>K</i>",
                     "column where head <i>h</i> = 0, &hellip;, 7 reads "
                     "<i>K</i>", "largest difference from multi-head "
                     "attention with <i>K</i>, <i>V</i> repeated"};
    t.nowrap = {2};
    out.markdown("ch08_gqa_views.md", t);
}

// [ch08-cache-table]
// A published model's attention sizes (see the chapter's citations).
struct model_sizes {
    std::string name;
    std::size_t layers;    // n_layers
    std::size_t heads;     // H, query heads
    std::size_t kv_heads;  // G, key-value heads
    std::size_t d;         // the head width
    std::size_t d_c, d_r;  // the latent and its rotary key, 0 if none
};

std::vector<model_sizes> published_models()
{
    return {{"Mistral 7B", 32, 32, 8, 128, 0, 0},
            {"DeepSeek-V2", 60, 128, 128, 128, 512, 64}};
}
// [ch08-cache-table]

// Numbers cached per token by each scheme at a model's sizes, Eq. (8.7),
// and what they take in 16-bit numbers for 4096 tokens.
void cache_table(const book::output_sink& out)
{
    const std::vector<model_sizes> models = published_models();
    book::table t{{"model", "scheme", "own", "token, layer", "token",
                   "4096 tokens"}, {}};
    for (const auto& m : models) {
        const auto w = attn::cache_widths_of(m.heads, m.kv_heads, m.d,
                                             m.d_c, m.d_r);
        // (scheme, numbers per token and layer, is it the model's own)
        const bool latent = m.d_c > 0;
        const bool grouped = !latent && m.kv_heads < m.heads;
        std::vector<std::tuple<std::string, std::size_t, bool>> rows = {
            {"MHA (G = " + std::to_string(m.heads) + ")", w.multi_head,
             !latent && !grouped}};
        if (grouped) {
            rows.push_back({"GQA (G = " + std::to_string(m.kv_heads) + ")",
                            w.grouped, true});
        }
        rows.push_back({"MQA (G = 1)", w.multi_query, false});
        if (latent) {
            rows.push_back({"latent (" + std::to_string(m.d_c) + " + "
                                + std::to_string(m.d_r) + ")",
                            w.latent, true});
        }
        for (const auto& [scheme, width, own] : rows) {
            const std::size_t bytes = width * m.layers * 2 * 4096;
            t.add({m.name, scheme, own ? "yes" : "", book::with_commas(width),
                   book::with_commas(width * m.layers),
                   book::with_commas(bytes / (1024 * 1024)) + " MiB"});
        }
    }
    std::cout << "Key-value cache (numbers cached per token and layer, per "
                 "token, and the\nbytes of 4096 tokens in 16-bit numbers; "
                 "own: the model's scheme), Eq. 8.7:\n";
    t.print(std::cout);
    std::cout << '\n';
    t.page_header = {"model", "scheme", "the model's",
                     "numbers per token and layer", "numbers per token",
                     "4096 tokens, 16-bit numbers"};
    t.nowrap = {0, 1};
    out.markdown("ch08_cache_sizes.md", t);
}

// The masks of the chapter as pictures.
void mask_figures(const book::output_sink& out)
{
    const auto draw = [&](const std::string& name, const std::string& title,
                          const attn::mask_matrix& m) {
        book::heatmap_style style;
        style.title = title;
        style.row_axis = "query position i";
        style.col_axis = "key position j";
        style.annotate = false;
        style.binary = {"masked", "may attend"};
        out.heatmap(name, xt::cast<double>(m), style);
    };
    draw("ch08_mask_window.svg", "Sliding window, n_w = 3",
         attn::sliding_window_mask(8, 8, 3));
    draw("ch08_mask_prefix.svg", "Prefix-LM, prefix n_p = 3",
         attn::prefix_lm_mask(8, 3));
    draw("ch08_mask_packed.svg", "Packed: documents 0 0 0 1 1 2 2 2",
         attn::packed_causal_mask({0, 0, 0, 1, 1, 2, 2, 2}));
}

// The ring buffer against the masked full pass, token by token.
void ring_demo(const book::output_sink& out, std::uint64_t seed)
{
    attn::rng r(seed);
    const std::size_t n = 1000, d = 8, window = 16;
    const matrix q = attn::rope_interleaved(attn::normal_matrix(n, d, r));
    const matrix k = attn::rope_interleaved(attn::normal_matrix(n, d, r));
    const matrix v = attn::normal_matrix(n, d, r);
    const matrix full = attn::masked_attend(
        q, k, v, attn::sliding_window_mask(n, n, window)).y;
    attn::ring_kv_cache cache(window, d, d);
    double worst = 0.0;
    for (std::size_t t = 0; t < n; ++t) {
        attn::ring_append(cache, row_of(k, t), row_of(v, t));
        worst = std::max(worst, largest_difference(
            attn::ring_attend(cache, row_of(q, t)), row_of(full, t)));
    }
    const std::string line =
        "A ring buffer of n_w = " + std::to_string(window) + " slots over "
        + std::to_string(n) + " tokens (it wraps "
        + std::to_string((n - 1) / window) + " times; RoPE, d = "
        + std::to_string(d) + "): largest difference from the windowed "
        "full pass, token by token: " + book::fmt(worst, "%.2g") + ".";
    std::cout << wrapped(line) << "\n\n";
    out.text("ch08_ring.md", line + "\n");
}

// Latent cache, explicit and absorbed.
void latent_demo(const book::output_sink& out, std::uint64_t seed)
{
    attn::rng r(seed);
    const std::size_t n = 10, d_model = 32, d_c = 8, heads = 4, d = 8;
    const matrix x = attn::normal_matrix(n, d_model, r);
    const attn::latent_weights w{
        attn::normal_matrix(d_model, heads * d, r),
        attn::normal_matrix(d_model, d_c, r),
        attn::normal_matrix(d_c, heads * d, r),
        attn::normal_matrix(d_c, heads * d, r)};
    const matrix c = attn::latents(x, w);
    const auto mask = attn::causal_mask(n, n);
    const double diff = largest_difference(
        attn::latent_attention_absorbed(x, c, w, heads, mask),
        attn::latent_attention_explicit(x, c, w, heads, mask));
    const std::string line =
        "A latent cache (n = " + std::to_string(n) + ", d_model = "
        + std::to_string(d_model) + ", H = " + std::to_string(heads)
        + " heads of d = " + std::to_string(d) + ", d_c = "
        + std::to_string(d_c) + "): it holds " + std::to_string(d_c)
        + " numbers per token instead of 2 H d = "
        + std::to_string(2 * heads * d)
        + "; largest difference absorbed - explicit: "
        + book::fmt(diff, "%.2g") + ".";
    std::cout << wrapped(line) << "\n\n";
    out.text("ch08_latent.md", line + "\n");
}

// The command line of one layer.
// ------------------------------------------------ length and uptraining

// Chapter 7's task and model sizes: |V| 16, r in [4, 8], trained at n = 16;
// d_model 32, 2 heads, 2 layers.
const attn::induction_task train_task{16, 16, 4, 8};
const attn::decoder_sizes model_sizes{16, 16, 32, 2, 2};
const std::vector<attn::position_kind> kinds = {
    attn::position_kind::learned, attn::position_kind::sinusoidal,
    attn::position_kind::rope, attn::position_kind::alibi};

double ln_vocab() { return std::log(double(train_task.vocab)); }

std::string mean_range(const std::vector<double>& v)
{
    const double mean = std::accumulate(v.begin(), v.end(), 0.0)
                        / double(v.size());
    return book::fmt(mean, "%.2f") + " ["
           + book::fmt(*std::min_element(v.begin(), v.end()), "%.2f") + ", "
           + book::fmt(*std::max_element(v.begin(), v.end()), "%.2f") + "]";
}

double mean_of(const std::vector<double>& v)
{
    return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

// Held-out sequences of the task at length n: the repeat of r tokens at
// the end, a longer random prefix before it (stream 1, never trained on).
std::vector<attn::induction_example> held_out(std::size_t n,
                                              std::uint64_t seed,
                                              std::size_t count)
{
    attn::induction_task task = train_task;
    task.length = n;
    std::vector<attn::induction_example> set;
    for (std::size_t k = 0; k < count; ++k) {
        set.push_back(attn::repeat_example(task, seed, 1, k));
    }
    return set;
}

struct length_job {
    attn::position_kind kind;
    std::uint64_t seed;
    attn::decoder_model model;
    // Losses at n, 2n, 4n (learned: at n only).
    std::vector<attn::repeat_losses> loss;
};

// Trains every (scheme, seed), `threads` at a time; the learned scheme is
// chapter 7's own train_decoder_model, the others train_position_model.
// Results come back in job order, whatever the threads did.
std::vector<length_job> train_length_models(
    std::uint64_t first_seed, std::size_t seeds,
    const attn::decoder_training_options& base, std::size_t threads)
{
    std::vector<length_job> jobs;
    for (auto kind : kinds) {
        for (std::size_t k = 0; k < seeds; ++k) {
            jobs.push_back({kind, first_seed + k, {}, {}});
        }
    }
    std::atomic<std::size_t> next{0}, done{0};
    std::mutex print;
    auto worker = [&]() {
        for (std::size_t j = next++; j < jobs.size(); j = next++) {
            auto& job = jobs[j];
            auto o = base;
            o.seed = job.seed;
            job.model = job.kind == attn::position_kind::learned
                ? attn::train_decoder_model(model_sizes, train_task, o)
                : attn::train_position_model(job.kind, model_sizes,
                                             train_task, o);
            for (std::size_t n : {16, 32, 64}) {
                if (job.kind == attn::position_kind::learned && n > 16) {
                    break;  // W_P has no row for a position past n_max - 1
                }
                job.loss.push_back(attn::evaluate_position_losses(
                    job.kind, model_sizes, job.model,
                    held_out(n, job.seed, 64)));
            }
            const std::lock_guard<std::mutex> lock(print);
            std::cerr << "  trained " << ++done << " of " << jobs.size()
                      << " (" << attn::position_name(job.kind) << ", seed "
                      << job.seed << ")\n";
        }
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < std::max<std::size_t>(threads, 1); ++t) {
        pool.emplace_back(worker);
    }
    for (auto& t : pool) {
        t.join();
    }
    return jobs;
}

// One scheme's losses over seeds at length index `at` (0: n, 1: 2n, 2: 4n).
std::vector<double> losses_of(const std::vector<length_job>& jobs,
                              attn::position_kind kind, std::size_t at,
                              bool repeated)
{
    std::vector<double> v;
    for (const auto& j : jobs) {
        if (j.kind == kind && at < j.loss.size()) {
            v.push_back(repeated ? j.loss[at].repeated : j.loss[at].fresh);
        }
    }
    return v;
}

// A list "a, b and c" of names.
std::string listed(const std::vector<std::string>& names)
{
    std::string s;
    for (std::size_t k = 0; k < names.size(); ++k) {
        s += (k == 0 ? "" : k + 1 == names.size() ? " and " : ", ")
             + names[k];
    }
    return s;
}

// The sentences on the length table, from the means: which schemes had
// learned the copy at n (mean repeated loss below ln|V|/2), and how the
// loss of those that can read longer sequences moved at 2n and 4n.
std::string length_finding(const std::vector<length_job>& jobs,
                           std::size_t seeds)
{
    const double half = 0.5 * ln_vocab();
    const auto nats = [](double v) { return book::fmt(v, "%.2f"); };
    std::vector<std::string> learned, not_learned, longer;
    std::vector<std::string> below_2n, below_4n;
    for (auto kind : kinds) {
        const auto name = attn::position_name(kind);
        const double at_n = mean_of(losses_of(jobs, kind, 0, true));
        (at_n < half ? learned : not_learned)
            .push_back(name + " (" + nats(at_n) + ")");
        if (at_n >= half || kind == attn::position_kind::learned) {
            continue;
        }
        const double at_2n = mean_of(losses_of(jobs, kind, 1, true));
        const double at_4n = mean_of(losses_of(jobs, kind, 2, true));
        longer.push_back("from " + nats(at_n) + " to " + nats(at_2n)
                         + " at 2n and " + nats(at_4n) + " at 4n with "
                         + name);
        if (at_2n < half) {
            below_2n.push_back(name);
        }
        if (at_4n < half) {
            below_4n.push_back(name);
        }
    }
    const std::string run = "In this run (" + std::to_string(seeds)
                            + (seeds == 1 ? " seed" : " seeds")
                            + "), the mean repeated loss at the training "
                              "length n = 16 was ";
    if (learned.empty()) {
        return run + "above ln|V|/2 = " + nats(half) + " nats with every "
               "scheme, " + listed(not_learned) + ": none had learned the "
               "copy in these steps, and the longer columns say nothing "
               "about extrapolation.";
    }
    std::string s = run + "below ln|V|/2 = " + nats(half) + " nats, the "
                    "copy learned, with " + listed(learned);
    if (!not_learned.empty()) {
        s += ", and above it with " + listed(not_learned) + ": "
             + (not_learned.size() == 1 ? "that scheme had" : "those had")
             + " not learned the copy in these steps, and "
             + (not_learned.size() == 1 ? "its" : "their")
             + " longer columns say nothing about extrapolation";
    }
    s += ".";
    if (!longer.empty()) {
        std::string moves;
        for (std::size_t k = 0; k < longer.size(); ++k) {
            moves += (k == 0 ? "" : "; ") + longer[k];
        }
        s += " Of the schemes that had learned it and can read longer "
             "sequences, it went " + moves + ". "
             + (below_2n.empty() ? "None" : listed(below_2n))
             + " stayed below ln|V|/2 at 2n, "
             + (below_4n.empty() ? "none" : listed(below_4n))
             + " at 4n.";
    }
    return s;
}

void length_tables(const book::output_sink& out,
                   const std::vector<length_job>& jobs, std::size_t seeds)
{
    for (bool repeated : {true, false}) {
        book::table t{{"scheme", "n = 16", "2n = 32", "4n = 64"}, {}};
        for (auto kind : kinds) {
            std::vector<std::string> row = {attn::position_name(kind)};
            for (std::size_t at = 0; at < 3; ++at) {
                const auto v = losses_of(jobs, kind, at, repeated);
                row.push_back(v.empty() ? "no W_P row" : mean_range(v));
            }
            t.add(row);
        }
        std::cout << (repeated ? "Repeated" : "Fresh")
                  << " loss on held-out sequences of length n, 2n, 4n "
                     "(trained at n = 16;\nmean [min, max] over "
                  << seeds << (seeds == 1 ? " seed" : " seeds")
                  << ", nats):\n";
        t.print(std::cout);
        std::cout << '\n';
        t.page_header = {"scheme", "<i>n</i> = 16", "2<i>n</i> = 32",
                         "4<i>n</i> = 64"};
        t.nowrap = {1, 2, 3};
        out.markdown(repeated ? "ch08_length_repeated.md"
                              : "ch08_length_fresh.md", t);
    }
    const std::string finding = length_finding(jobs, seeds);
    std::cout << wrapped(finding) << "\n\n";
    out.text("ch08_length_findings.md", finding + "\n");
}

// Ainslie et al.'s conversion: the mean of the H key (or value) heads'
// column blocks, one block per group of H / G heads: (d_model, G d_k).
matrix mean_pool(const matrix& w_kv, std::size_t heads, std::size_t groups)
{
    const std::size_t d_k = w_kv.shape()[1] / heads;
    matrix pooled = xt::zeros<double>({w_kv.shape()[0], groups * d_k});
    for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t g = attn::kv_group(h, heads, groups);
        xt::view(pooled, xt::all(), xt::range(g * d_k, (g + 1) * d_k)) +=
            xt::view(w_kv, xt::all(), xt::range(h * d_k, (h + 1) * d_k))
            * (double(groups) / double(heads));
    }
    return pooled;
}

// The model with each layer's key and value projections replaced: every
// query head reads one shared key-value head (G = 1), either the mean of
// the heads (`keep` = heads) or head `keep` alone. Written back as a
// (d, d) projection with repeat_groups, so that chapter 7's own forward
// pass evaluates it.
attn::decoder_model multi_query_of(const attn::decoder_model& m,
                                   std::size_t heads, std::size_t keep)
{
    attn::decoder_model c = m;
    const std::size_t d_k = m.w_e.shape()[1] / heads;
    for (auto& w : c.layers) {
        for (matrix* p : {&w.w_k, &w.w_v}) {
            const matrix one = keep == heads
                ? mean_pool(*p, heads, 1)
                : matrix(xt::view(*p, xt::all(),
                                  xt::range(keep * d_k, (keep + 1) * d_k)));
            *p = attn::repeat_groups(one, heads, 1);
        }
    }
    return c;
}

void uptraining_table(const book::output_sink& out,
                      const std::vector<length_job>& jobs,
                      std::uint64_t first_seed)
{
    const std::size_t heads = model_sizes.heads;
    const std::vector<std::pair<std::string, std::size_t>> variants = {
        {"multi-head (original)", heads + 1},
        {"mean-pooled, G = 1", heads},
        {"head 0's K, V only", 0},
        {"head 1's K, V only", 1}};
    book::table t{{"keys and values", "repeated", "fresh", "seed " +
                   std::to_string(first_seed)}, {}};
    std::vector<double> seed_one, variant_mean;
    for (const auto& [name, keep] : variants) {
        std::vector<double> rep, fresh;
        for (const auto& j : jobs) {
            if (j.kind != attn::position_kind::learned) {
                continue;
            }
            const auto m = keep > heads ? j.model
                                        : multi_query_of(j.model, heads, keep);
            const auto l = attn::evaluate_repeat_losses(
                model_sizes, m, held_out(16, j.seed, 256));
            rep.push_back(l.repeated);
            fresh.push_back(l.fresh);
            if (j.seed == first_seed) {
                seed_one.push_back(l.repeated);
            }
        }
        variant_mean.push_back(mean_of(rep));
        t.add({name, mean_range(rep), mean_range(fresh),
               book::fmt(seed_one.back(), "%.2f")});
    }
    std::cout << "Uptraining's first step on chapter 7's model (learned "
                 "positions): each layer's\ntwo key-value heads made one, "
                 "before any retraining; held-out loss at n = 16\n(mean "
                 "[min, max] over seeds; the last column: seed "
              << first_seed << "'s repeated loss):\n";
    t.print(std::cout);
    std::cout << '\n';
    t.page_header = {"keys and values", "repeated loss", "fresh loss",
                     "seed " + std::to_string(first_seed) + ", repeated"};
    t.nowrap = {1, 2};
    out.markdown("ch08_uptraining.md", t);
    const auto nats = [](double v) { return book::fmt(v, "%.2f"); };
    const auto compared = [&](double single) {
        return nats(single) + (single < seed_one[1] ? ", lower" : ", higher");
    };
    const std::string s =
        "Mean-pooling the two key and value heads of each layer into one "
        "(multi-query attention, G = 1) "
        + std::string(seed_one[1] >= seed_one[0] ? "raised" : "lowered")
        + " seed " + std::to_string(first_seed) + "'s held-out repeated loss "
        "from " + nats(seed_one[0]) + " to " + nats(seed_one[1])
        + " nats before any retraining (over the seeds, from "
        + nats(variant_mean[0]) + " to " + nats(variant_mean[1])
        + " on average). Keeping one head's keys and values instead gave "
        + compared(seed_one[2]) + " than the mean-pooled model, with head "
        "0's, and " + compared(seed_one[3]) + ", with head 1's (over the "
        "seeds " + nats(variant_mean[2]) + " and " + nats(variant_mean[3])
        + ").";
    std::cout << wrapped(s) << "\n\n";
    out.text("ch08_uptraining_findings.md", s + "\n");
}

struct layer_flags {
    std::size_t heads = 0, kv_heads = 0, window = 0;
    bool causal = false;
    attn::position_scheme pos;
};

void expect_layer_shapes(const matrix& x, const attn::grouped_query_weights& w,
                         const layer_flags& f)
{
    const std::size_t d_model = x.shape()[1];
    const auto refuse = [&](const std::string& what) {
        throw book::usage_error(what + " (X.npy " + attn::shape_string(
                                    x.shape()) + ", --heads "
                                + std::to_string(f.heads) + ", --kv-heads "
                                + std::to_string(f.kv_heads) + ")");
    };
    if (f.heads % f.kv_heads != 0) {
        refuse("--kv-heads " + std::to_string(f.kv_heads)
               + " must divide --heads " + std::to_string(f.heads));
    }
    if (w.w_q.shape()[0] != d_model || w.w_q.shape()[1] % f.heads != 0
        || w.w_q.shape()[1] == 0) {
        refuse("W_q.npy has shape " + attn::shape_string(w.w_q.shape())
               + ", expected (d_model, H d) with d_model = "
               + std::to_string(d_model));
    }
    const std::size_t d = w.w_q.shape()[1] / f.heads;
    const std::vector<std::pair<std::string, const matrix*>> kv = {
        {"W_k.npy", &w.w_k}, {"W_v.npy", &w.w_v}};
    for (const auto& [name, m] : kv) {
        if (m->shape()[0] != d_model || m->shape()[1] != f.kv_heads * d) {
            refuse(name + " has shape " + attn::shape_string(m->shape())
                   + ", expected (d_model, G d) = (" + std::to_string(d_model)
                   + ", " + std::to_string(f.kv_heads * d) + ")");
        }
    }
    if (w.w_o.shape()[0] != f.heads * d || w.w_o.shape()[1] != d_model) {
        refuse("W_o.npy has shape " + attn::shape_string(w.w_o.shape())
               + ", expected (H d, d_model) = (" + std::to_string(f.heads * d)
               + ", " + std::to_string(d_model) + ")");
    }
    if (w.b_o.shape()[0] != d_model) {
        refuse("b_o.npy has shape " + attn::shape_string(w.b_o.shape())
               + ", expected (d_model,) = (" + std::to_string(d_model) + ",)");
    }
    if (f.pos.rope && d % 2 != 0) {
        refuse("--rope needs an even head width d, got d = "
               + std::to_string(d));
    }
}

std::size_t positive(const cxxopts::ParseResult& result, const char* name)
{
    const auto v = result[name].as<std::size_t>();
    if (v == 0) {
        throw book::usage_error(std::string("--") + name + ": expected a "
                                "positive whole number, got '0'");
    }
    return v;
}

int run_load_save(const book::common_args& args, const layer_flags& f)
{
    const auto& dir = args.load_dir;
    const matrix x = book::load_npy<2>(book::path_in(dir, "X.npy"));
    attn::grouped_query_weights w;
    w.w_q = book::load_npy<2>(book::path_in(dir, "W_q.npy"));
    w.w_k = book::load_npy<2>(book::path_in(dir, "W_k.npy"));
    w.w_v = book::load_npy<2>(book::path_in(dir, "W_v.npy"));
    w.w_o = book::load_npy<2>(book::path_in(dir, "W_o.npy"));
    w.b_o = book::load_npy<1>(book::path_in(dir, "b_o.npy"));
    expect_layer_shapes(x, w, f);
    const std::size_t n = x.shape()[0];
    attn::mask_matrix mask;
    if (f.window > 0) {
        mask = attn::sliding_window_mask(n, n, f.window);
    } else if (f.causal) {
        mask = attn::causal_mask(n, n);
    }
    const auto r = attn::grouped_query_attention(x, x, w, f.heads, f.kv_heads,
                                                 mask, f.pos);
    book::save_outputs(args.save_dir, "A.npy", r.a, "Y.npy", r.y);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return book::run_program(
        argc, argv, "ch08_modern",
        "Attention in today's language models: RoPE, ALiBi, grouped-query "
        "attention, sliding windows, prefix-LM and packed masks, latent "
        "caches.",
        [](cxxopts::Options& options) {
            options.add_options()
                ("heads", "query heads H for --load",
                 cxxopts::value<std::size_t>()->default_value("1"), "H")
                ("kv-heads", "key-value heads G for --load (must divide H; "
                 "default H)", cxxopts::value<std::size_t>(), "G")
                ("rope", "rotate queries and keys (RoPE, paper layout)")
                ("rope-base", "the base of RoPE's angles",
                 cxxopts::value<double>()->default_value("10000"), "B")
                ("position-offset", "absolute position of X's first row",
                 cxxopts::value<std::size_t>()->default_value("0"), "P")
                ("causal", "causal mask")
                ("window", "sliding window of W positions (implies causal)",
                 cxxopts::value<std::size_t>(), "W")
                ("alibi", "add ALiBi's linear biases")
                ("seeds", "models per position scheme in the length "
                 "experiment (seeds --seed .. --seed + N - 1)",
                 cxxopts::value<std::size_t>()->default_value("3"), "N")
                ("steps", "Adam steps per model (chapter 7's setting)",
                 cxxopts::value<std::size_t>()->default_value("1500"), "N")
                ("threads", "models trained at once",
                 cxxopts::value<std::size_t>()->default_value("2"), "N");
        },
        [](const cxxopts::ParseResult& result,
           const book::common_args& args) {
            layer_flags f;
            f.heads = result["heads"].as<std::size_t>();
            f.kv_heads = result.count("kv-heads")
                             ? result["kv-heads"].as<std::size_t>()
                             : f.heads;
            f.causal = result.count("causal") > 0;
            f.pos.rope = result.count("rope") > 0;
            f.pos.rope_base = result["rope-base"].as<double>();
            f.pos.offset = result["position-offset"].as<std::size_t>();
            f.pos.alibi = result.count("alibi") > 0;
            if (f.heads == 0) {
                throw book::usage_error("--heads: expected a positive whole "
                                        "number, got '0'");
            }
            if (f.kv_heads == 0) {
                throw book::usage_error("--kv-heads: expected a positive "
                                        "whole number, got '0'");
            }
            if (result.count("window")) {
                f.window = result["window"].as<std::size_t>();
                if (f.window == 0) {
                    throw book::usage_error("--window: expected a window of "
                                            "at least 1 position, got '0'");
                }
            }
            if (!(f.pos.rope_base > 1.0) || !std::isfinite(f.pos.rope_base)) {
                throw book::usage_error("--rope-base: expected a finite "
                                        "number above 1, got '"
                                        + book::fmt(f.pos.rope_base, "%g")
                                        + "'");
            }
            book::expect_load_with_save(args, "X.npy, W_q.npy, W_k.npy, "
                                              "W_v.npy, W_o.npy and b_o.npy");
            if (!args.load_dir.empty()) {
                for (const char* flag : {"seeds", "steps", "threads"}) {
                    if (result.count(flag)) {
                        throw book::usage_error(
                            std::string("--") + flag + " applies to the "
                            "training run, not to --load DIR");
                    }
                }
                return run_load_save(args, f);
            }
            attn::decoder_training_options o;
            o.steps = positive(result, "steps");
            const std::size_t seeds = positive(result, "seeds");
            const std::size_t threads = positive(result, "threads");
            for (const char* flag : {"heads", "kv-heads", "rope", "rope-base",
                                     "position-offset", "causal", "window",
                                     "alibi"}) {
                if (result.count(flag)) {
                    throw book::usage_error(std::string("--") + flag
                                            + " applies to --load DIR; the "
                                              "demonstrations fix their own");
                }
            }
            const book::output_sink out(args.out_dir);
            rope_demo(out, args.seed);
            rope_cache_demo(out, args.seed);
            alibi_demo(out);
            gqa_demo(out, args.seed);
            cache_table(out);
            ring_demo(out, args.seed);
            mask_figures(out);
            latent_demo(out, args.seed);
            std::cout << "Length: chapter 7's two-layer model (d_model 32, "
                         "2 heads) with four position\nschemes, trained on "
                         "the repeat task at n = 16 (Adam, " << o.steps
                      << " steps of " << o.batch << ",\nlr " << o.lr
                      << "), seeds " << args.seed << " to "
                      << args.seed + seeds - 1 << "; training "
                      << kinds.size() * seeds << " models...\n";
            const auto jobs = train_length_models(
                args.seed, seeds, o, threads);
            length_tables(out, jobs, seeds);
            uptraining_table(out, jobs, args.seed);
            return 0;
        });
}

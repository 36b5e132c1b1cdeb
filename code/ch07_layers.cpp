// Chapter 7: train attention-only decoders of one and of two layers on the
// repeat task, over several seeds, and ask what each layer and head does:
// head scores over training, ablation of every head and layer, path
// ablation (which side of layer 1 needs a head of layer 0), and three ways
// of crediting tokens (raw weights, rollout, occlusion).
//
//   ch07_layers                 train (seeds 1..5, both depths), print
//   ch07_layers --out D         also write the chapter's figures and tables
//   ch07_layers --save D        also write the main two-layer model (seed
//       --seed) and one held-out sequence in the --load format, with its
//       logits.npy and A_<l>.npy
//   ch07_layers --load D --save E [--heads H --layers L]
//       the forward pass of a given model: reads tokens.npy (n,) int64,
//       W_E.npy (|V|, d), P.npy (n_max, d), per layer l = 0 .. L-1
//       W_q_<l>.npy, W_k_<l>.npy, W_v_<l>.npy, W_o_<l>.npy (d, d),
//       b_o_<l>.npy (d,), and W_U.npy (d, |V|); writes logits.npy (n, |V|)
//       and A_<l>.npy (H, n, n). Attention only, causal, no LayerNorm.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <mutex>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "book/cli.hpp"
#include "book/npy.hpp"
#include "book/output.hpp"
#include "book/plot.hpp"
#include "attention/decoder_training.hpp"
#include "attention/layer_credit.hpp"

namespace {

using book::fmt;
using attn::matrix;
using attn::vector;

// The chapter's task and model (Section "The experiment").
attn::induction_task make_task()
{
    attn::induction_task t;  // |V| = 16, n = 16, r in [4, 8]
    return t;
}
const attn::induction_task task = make_task();
const std::size_t d_model = 32, heads = 2;
const std::size_t held_out = 100;     // sequences for losses and ablations
const std::size_t score_every = 16;   // sequences per score report
const std::size_t credit_sequences = 50;

attn::decoder_sizes sizes(std::size_t layers)
{
    return {task.vocab, task.length, d_model, heads, layers};
}

double ln_vocab() { return std::log(double(task.vocab)); }

std::vector<vector> weight_on_window(
    const attn::decoder_sizes& s, const attn::decoder_model& m,
    const std::vector<attn::induction_example>& set);

// One training run: the model, its curve and its head scores over
// training.
struct run_result {
    std::size_t layers = 0;
    std::uint64_t seed = 0;
    attn::decoder_model model;
    std::vector<double> step, fresh, repeated;  // per report
    std::vector<attn::head_scores> scores;      // per report
    std::vector<std::vector<vector>> window;    // per report, per layer
    std::size_t phase = 0;  // first report step with repeated < ln|V|/2
    double seconds = 0.0;
};

std::vector<attn::induction_example> held_out_set(std::uint64_t seed,
                                                  std::size_t count)
{
    std::vector<attn::induction_example> set;
    for (std::size_t k = 0; k < count; ++k) {
        set.push_back(attn::repeat_example(task, seed, 1, k));
    }
    return set;
}

// The head scores over training are measured for the main run only
// (`scores`): Figure 7.4 draws them.
run_result train_one(std::size_t layers, std::uint64_t seed,
                     const attn::decoder_training_options& base, bool scores)
{
    run_result r;
    r.layers = layers;
    r.seed = seed;
    attn::decoder_training_options o = base;
    o.seed = seed;
    const auto probe = held_out_set(seed, score_every);
    const auto s = sizes(layers);
    const auto t0 = std::chrono::steady_clock::now();
    r.model = attn::train_decoder_model(
        s, task, o,
        [&](const attn::decoder_report& rep, const attn::decoder_model& m) {
            r.step.push_back(double(rep.step));
            r.fresh.push_back(rep.loss.fresh);
            r.repeated.push_back(rep.loss.repeated);
            if (scores) {
                r.scores.push_back(attn::measure_head_scores(s, m, probe));
                r.window.push_back(weight_on_window(s, m, probe));
            }
            if (r.phase == 0 && rep.loss.repeated < 0.5 * ln_vocab()) {
                r.phase = rep.step;
            }
        });
    r.seconds = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - t0).count();
    return r;
}

// Trains every (layers, seed) job, `threads` at a time, with a progress
// line on stderr as each finishes; the results come back in job order, so
// that the output does not depend on the threads.
std::vector<run_result> train_all(std::uint64_t first_seed,
                                  std::size_t seeds,
                                  const attn::decoder_training_options& o,
                                  std::size_t threads)
{
    std::vector<std::pair<std::size_t, std::uint64_t>> jobs;
    for (std::size_t layers : {1, 2}) {
        for (std::size_t k = 0; k < seeds; ++k) {
            jobs.push_back({layers, first_seed + k});
        }
    }
    std::vector<run_result> results(jobs.size());
    std::atomic<std::size_t> next{0}, done{0};
    std::mutex print;
    auto worker = [&]() {
        for (std::size_t j = next++; j < jobs.size(); j = next++) {
            const bool main_run = jobs[j].first == 2
                                  && jobs[j].second == first_seed;
            results[j] = train_one(jobs[j].first, jobs[j].second, o,
                                   main_run);
            const std::lock_guard<std::mutex> lock(print);
            std::cerr << "  trained " << ++done << " of " << jobs.size()
                      << " (" << jobs[j].first << " layer"
                      << (jobs[j].first == 1 ? "" : "s") << ", seed "
                      << jobs[j].second << ", "
                      << fmt(results[j].seconds, "%.1f") << " s)\n";
        }
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < std::max<std::size_t>(threads, 1); ++t) {
        pool.emplace_back(worker);
    }
    for (auto& t : pool) {
        t.join();
    }
    return results;
}

// ------------------------------------------------------------ measures

// Gates with head h of layer l off (h == heads: the whole layer off).
std::vector<vector> gates_off(std::size_t layers, std::size_t l,
                              std::size_t h)
{
    std::vector<vector> g(layers, xt::ones<double>({heads}));
    if (h == heads) {
        g[l] = xt::zeros<double>({heads});
    } else {
        g[l](h) = 0.0;
    }
    return g;
}

// Mean loss at each offset k = i - (n - r) into the repeat (k = 0 is the
// first copied token), k = 0 .. r_max - 2, over held-out sequences.
std::vector<double> loss_by_offset(const attn::decoder_sizes& s,
                                   const attn::decoder_model& m,
                                   const std::vector<attn::induction_example>&
                                       set)
{
    const std::size_t offsets = task.r_max - 1;
    std::vector<double> sum(offsets, 0.0), count(offsets, 0.0);
    for (const auto& e : set) {
        const auto f = attn::decoder_model_forward(s, m, e.tokens, e.target);
        const std::size_t n = e.tokens.size();
        for (std::size_t i = n - e.r; i + 1 < n; ++i) {
            const std::size_t k = i - (n - e.r);
            sum[k] -= std::log(f.p(i, std::size_t(e.target[i])));
            count[k] += 1.0;
        }
    }
    for (std::size_t k = 0; k < offsets; ++k) {
        sum[k] /= std::max(count[k], 1.0);
    }
    return sum;
}

// Mean weight each head gives to position 0, over queries i >= 1.
std::vector<vector> weight_on_first(const attn::decoder_sizes& s,
                                    const attn::decoder_model& m,
                                    const std::vector<attn::induction_example>&
                                        set)
{
    std::vector<vector> w(s.layers, xt::zeros<double>({heads}));
    const double per = 1.0 / double(set.size() * (task.length - 1));
    for (const auto& e : set) {
        const auto f = attn::decoder_model_forward(s, m, e.tokens, e.target);
        for (std::size_t l = 0; l < s.layers; ++l) {
            for (std::size_t h = 0; h < heads; ++h) {
                for (std::size_t i = 1; i < task.length; ++i) {
                    w[l](h) += per * f.layer[l].a(h, i, 0);
                }
            }
        }
    }
    return w;
}

// Mean weight each head gives to the keys r_min .. r_max back (where the
// earlier copy of the current token can lie), over queries i >= r_max.
std::vector<vector> weight_on_window(const attn::decoder_sizes& s,
                                     const attn::decoder_model& m,
                                     const std::vector<attn::induction_example>&
                                         set)
{
    std::vector<vector> w(s.layers, xt::zeros<double>({heads}));
    const double per = 1.0 / double(set.size() * (task.length - task.r_max));
    for (const auto& e : set) {
        const auto f = attn::decoder_model_forward(s, m, e.tokens, e.target);
        for (std::size_t l = 0; l < s.layers; ++l) {
            for (std::size_t h = 0; h < heads; ++h) {
                for (std::size_t i = task.r_max; i < task.length; ++i) {
                    for (std::size_t k = task.r_min; k <= task.r_max; ++k) {
                        w[l](h) += per * f.layer[l].a(h, i, i - k);
                    }
                }
            }
        }
    }
    return w;
}

// The uniform causal head's mean weight on position 0: mean of 1/(i+1).
double uniform_on_first()
{
    double sum = 0.0;
    for (std::size_t i = 1; i < task.length; ++i) {
        sum += 1.0 / double(i + 1);
    }
    return sum / double(task.length - 1);
}

// Mean direct logit attribution of each head at repeated positions.
std::vector<vector> mean_dla(const attn::decoder_sizes& s,
                             const attn::decoder_model& m,
                             const std::vector<attn::induction_example>& set)
{
    std::vector<vector> r(s.layers, xt::zeros<double>({heads}));
    double count = 0.0;
    for (const auto& e : set) {
        const auto f = attn::decoder_model_forward(s, m, e.tokens, e.target);
        const auto dla = attn::direct_logit_attribution(s, m, f, e.target);
        for (std::size_t i = 0; i < e.tokens.size(); ++i) {
            if (!e.repeated(i)) {
                continue;
            }
            count += 1.0;
            for (std::size_t l = 0; l < s.layers; ++l) {
                for (std::size_t h = 0; h < heads; ++h) {
                    r[l](h) += dla[l](h, i);
                }
            }
        }
    }
    for (auto& v : r) {
        v /= count;
    }
    return r;
}

// What a two-layer model's analysis measures, per seed.
struct two_layer_analysis {
    attn::repeat_losses loss;
    attn::head_scores scores;
    // ablation[l][h]: losses with head h of layer l off, h == H: layer l off
    std::vector<std::vector<attn::repeat_losses>> ablation;
    std::vector<vector> on_first, on_window, dla;
    std::size_t key_head = 0;  // the layer-0 head whose ablation costs most
    // Repeated loss and the best layer-1 induction score with key_head
    // removed: nowhere, everywhere (gated), from layer 1's queries only,
    // from its keys and values only.
    double path_loss[4] = {}, path_induction[4] = {};
};

attn::repeat_losses path_losses(const attn::decoder_sizes& s,
                                const attn::decoder_model& m,
                                const std::vector<attn::induction_example>&
                                    set,
                                std::size_t head, attn::path_side side,
                                double& induction)
{
    // The same tally as attn::evaluate_repeat_losses, on edited passes.
    double rep = 0.0, n_rep = 0.0, fresh = 0.0, n_fresh = 0.0;
    induction = 0.0;
    for (const auto& e : set) {
        const auto f = attn::decoder_forward_path_ablated(
            s, m, e.tokens, e.target, 0, head, 1, side);
        const auto ind = attn::induction_scores(f.layer[1].a, e);
        induction += xt::amax(ind)() / double(set.size());
        for (std::size_t i = 0; i + 1 < e.tokens.size(); ++i) {
            const double l = -std::log(f.p(i, std::size_t(e.target[i])));
            if (e.repeated(i)) {
                rep += l;
                n_rep += 1.0;
            } else if (e.fresh(i)) {
                fresh += l;
                n_fresh += 1.0;
            }
        }
    }
    return {fresh / n_fresh, rep / n_rep};
}

double best_induction(const std::vector<vector>& induction)
{
    return xt::amax(induction.back())();
}

two_layer_analysis analyse_two_layers(const run_result& r)
{
    const auto s = sizes(2);
    const auto set = held_out_set(r.seed, held_out);
    two_layer_analysis a;
    a.loss = attn::evaluate_repeat_losses(s, r.model, set);
    a.scores = attn::measure_head_scores(s, r.model, set);
    a.on_first = weight_on_first(s, r.model, set);
    a.on_window = weight_on_window(s, r.model, set);
    a.dla = mean_dla(s, r.model, set);
    a.ablation.resize(2);
    for (std::size_t l = 0; l < 2; ++l) {
        for (std::size_t h = 0; h <= heads; ++h) {
            a.ablation[l].push_back(attn::evaluate_repeat_losses(
                s, r.model, set, gates_off(2, l, h)));
        }
    }
    for (std::size_t h = 1; h < heads; ++h) {
        if (a.ablation[0][h].repeated > a.ablation[0][a.key_head].repeated) {
            a.key_head = h;
        }
    }
    a.path_loss[0] = a.loss.repeated;
    a.path_induction[0] = best_induction(a.scores.induction);
    a.path_loss[1] = a.ablation[0][a.key_head].repeated;
    {
        double ind = 0.0;
        for (const auto& e : set) {
            const auto f = attn::decoder_model_forward(
                s, r.model, e.tokens, e.target, gates_off(2, 0, a.key_head));
            ind += xt::amax(attn::induction_scores(f.layer[1].a, e))()
                   / double(set.size());
        }
        a.path_induction[1] = ind;
    }
    a.path_loss[2] = path_losses(s, r.model, set, a.key_head,
                                 attn::path_side::queries,
                                 a.path_induction[2]).repeated;
    a.path_loss[3] = path_losses(s, r.model, set, a.key_head,
                                 attn::path_side::keys_values,
                                 a.path_induction[3]).repeated;
    return a;
}

// A head's role by its scores (thresholds stated in the chapter).
std::string role(const two_layer_analysis& a, std::size_t l, std::size_t h)
{
    if (a.scores.induction[l](h) >= 0.5) {
        return "induction";
    }
    if (a.scores.previous[l](h) >= 0.5) {
        return "previous-token";
    }
    if (a.scores.duplicate[l](h) >= 0.5) {
        return "duplicate-token";
    }
    if (a.on_window[l](h) >= 0.5) {
        return "look-back " + std::to_string(task.r_min) + "-"
               + std::to_string(task.r_max);
    }
    return "diffuse";
}

// ------------------------------------------------------------ credit

// Token credit at the repeated positions of held-out sequences: how often
// each method puts its largest credit on the source j* = i - r + 1 (the
// token to be copied), and its mean share there.
struct credit_summary {
    double top_raw = 0, top_head = 0, top_rollout = 0, top_occlusion = 0;
    double share_raw = 0, share_head = 0, share_rollout = 0,
           share_occlusion = 0;
    std::size_t positions = 0;
    // One position of the first sequence, for the figure.
    std::size_t example_i = 0;
    std::vector<double> raw, head, rollout, occlusion;
};

std::size_t arg_max(const std::vector<double>& v)
{
    return std::size_t(std::max_element(v.begin(), v.end()) - v.begin());
}

// Occlusion credit of each key j <= i for the prediction at i: the rise of
// the loss at i when key j is hidden from every other query, negative
// rises counted as 0, normalised to sum 1 (all 0 if nothing rises).
std::vector<double> occlusion_credit(const attn::decoder_sizes& s,
                                     const attn::decoder_model& m,
                                     const attn::induction_example& e,
                                     std::size_t i, double base_loss)
{
    std::vector<double> rise(i + 1, 0.0);
    const std::size_t n = e.tokens.size();
    for (std::size_t j = 0; j < i; ++j) {  // the query's own token stays
        const auto f = attn::decoder_model_forward(
            s, m, e.tokens, e.target, {}, attn::hide_key_mask(n, j));
        const double loss = -std::log(f.p(i, std::size_t(e.target[i])));
        rise[j] = std::max(loss - base_loss, 0.0);
    }
    const double total = std::accumulate(rise.begin(), rise.end(), 0.0);
    for (double& x : rise) {
        x = total > 0.0 ? x / total : 0.0;
    }
    return rise;
}

credit_summary compare_credit(const run_result& r,
                              const two_layer_analysis& a)
{
    const auto s = sizes(2);
    const auto set = held_out_set(r.seed, credit_sequences);
    // The layer-1 head with the larger induction score.
    const std::size_t ind_head =
        std::size_t(xt::argmax(a.scores.induction[1])());
    credit_summary c;
    for (std::size_t q = 0; q < set.size(); ++q) {
        const auto& e = set[q];
        const auto f = attn::decoder_model_forward(s, r.model, e.tokens,
                                                   e.target);
        const matrix roll = attn::attention_rollout(
            {f.layer[0].a, f.layer[1].a});
        const std::size_t n = e.tokens.size();
        for (std::size_t i = n - e.r + 1; i + 1 < n; ++i) {
            // From the second copied token on, so that j* = i - r + 1 is
            // a copy's source inside the first segment.
            const std::size_t source = i - e.r + 1;
            std::vector<double> raw(i + 1), head(i + 1), rollout(i + 1);
            for (std::size_t j = 0; j <= i; ++j) {
                raw[j] = 0.5 * (f.layer[1].a(0, i, j) + f.layer[1].a(1, i, j));
                head[j] = f.layer[1].a(ind_head, i, j);
                rollout[j] = roll(i, j);
            }
            const auto occ = occlusion_credit(
                s, r.model, e, i, -std::log(f.p(i, std::size_t(e.target[i]))));
            c.top_raw += arg_max(raw) == source;
            c.top_head += arg_max(head) == source;
            c.top_rollout += arg_max(rollout) == source;
            c.top_occlusion += arg_max(occ) == source;
            c.share_raw += raw[source];
            c.share_head += head[source];
            c.share_rollout += rollout[source];
            c.share_occlusion += occ[source];
            c.positions += 1;
            if (q == 0 && c.raw.empty() && i + 2 == n) {
                c.example_i = i;
                c.raw = raw;
                c.head = head;
                c.rollout = rollout;
                c.occlusion = occ;
            }
        }
    }
    for (double* x : {&c.top_raw, &c.top_head, &c.top_rollout,
                      &c.top_occlusion, &c.share_raw, &c.share_head,
                      &c.share_rollout, &c.share_occlusion}) {
        *x /= double(c.positions);
    }
    return c;
}

// ------------------------------------------------------------ output

std::string mean_range(const std::vector<double>& v, const char* f = "%.2f")
{
    const double mean = std::accumulate(v.begin(), v.end(), 0.0)
                        / double(v.size());
    return fmt(mean, f) + " [" + fmt(*std::min_element(v.begin(), v.end()), f)
           + ", " + fmt(*std::max_element(v.begin(), v.end()), f) + "]";
}

std::string head_name(std::size_t l, std::size_t h)
{
    return "layer " + std::to_string(l) + " head " + std::to_string(h);
}

// Text wrapped at 78 columns for the console, without the page's HTML
// tags.
std::string wrapped(std::string text)
{
    for (const char* tag : {"<i>", "</i>"}) {
        for (auto at = text.find(tag); at != std::string::npos;
             at = text.find(tag)) {
            text.erase(at, std::string(tag).size());
        }
    }
    std::string out, line, word;
    std::istringstream in(text);
    while (in >> word) {
        if (!line.empty() && line.size() + 1 + word.size() > 78) {
            out += line + '\n';
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
    }
    return out + line + '\n';
}

// A table within 80 columns: as it is if it fits, else in parts, each
// with the first column and as many of the next columns as fit.
void print_table(const std::string& title, const book::table& t)
{
    std::cout << '\n' << wrapped(title);
    std::vector<std::size_t> width(t.header.size(), 0);
    for (std::size_t c = 0; c < width.size(); ++c) {
        width[c] = book::table::display_width(t.header[c]);
        for (const auto& r : t.rows) {
            width[c] = std::max(width[c], book::table::display_width(r[c]));
        }
    }
    std::size_t c = 1;
    while (c < width.size()) {
        std::size_t used = 2 + width[0], end = c;
        while (end < width.size()
               && (end == c || used + 2 + width[end] <= 80)) {
            used += 2 + width[end];
            ++end;
        }
        book::table part{{t.header[0]}, {}};
        for (std::size_t k = c; k < end; ++k) {
            part.header.push_back(t.header[k]);
        }
        for (const auto& r : t.rows) {
            std::vector<std::string> cells{r[0]};
            cells.insert(cells.end(), r.begin() + long(c),
                         r.begin() + long(end));
            part.add(cells);
        }
        if (c > 1) {
            std::cout << '\n';
        }
        part.print(std::cout);
        c = end;
    }
}

struct study {
    std::vector<run_result> one, two;  // per seed
    std::vector<attn::repeat_losses> loss_one;
    std::vector<two_layer_analysis> two_layer;
    std::vector<std::vector<double>> offsets_one, offsets_two;
};

book::table summary_table(const study& st)
{
    book::table t{{"model", "fresh loss", "repeated loss",
                   "seeds below ln|V|/2", "phase change at step"},
                  {}};
    t.page_header = {"model", "fresh loss (nats)", "repeated loss (nats)",
                     "seeds with repeated loss &lt; ln&#124;<i>V</i>&#124;/2",
                     "phase change at step"};
    for (std::size_t L : {1, 2}) {
        std::vector<double> fresh, rep, phase;
        std::size_t below = 0;
        for (std::size_t k = 0; k < st.one.size(); ++k) {
            const auto& loss = L == 1 ? st.loss_one[k] : st.two_layer[k].loss;
            fresh.push_back(loss.fresh);
            rep.push_back(loss.repeated);
            below += loss.repeated < 0.5 * ln_vocab();
            const auto& run = L == 1 ? st.one[k] : st.two[k];
            if (run.phase) {
                phase.push_back(double(run.phase));
            }
        }
        t.add({std::to_string(L) + (L == 1 ? " layer" : " layers"),
               mean_range(fresh), mean_range(rep),
               std::to_string(below) + " of " + std::to_string(fresh.size()),
               phase.empty() ? std::string("none")
                             : mean_range(phase, "%.0f")});
    }
    return t;
}

book::table seeds_table(const study& st)
{
    book::table t{{"seed", "1 layer", "2 layers", "phase",
                   "layer 0 heads", "layer 1 heads"},
                  {}};
    t.page_header = {"seed", "1 layer: repeated loss",
                     "2 layers: repeated loss", "phase change at step",
                     "layer 0 heads", "layer 1 heads"};
    for (std::size_t k = 0; k < st.two.size(); ++k) {
        const auto& a = st.two_layer[k];
        std::string roles[2];
        for (std::size_t l = 0; l < 2; ++l) {
            for (std::size_t h = 0; h < heads; ++h) {
                roles[l] += (h ? ", " : "") + role(a, l, h);
            }
        }
        t.add({std::to_string(st.two[k].seed),
               fmt(st.loss_one[k].repeated, "%.2f"),
               fmt(a.loss.repeated, "%.2f"),
               st.two[k].phase ? std::to_string(st.two[k].phase) : "none",
               roles[0], roles[1]});
    }
    return t;
}

book::table heads_table(const two_layer_analysis& a)
{
    book::table t{{"head", "prev", "duplicate", "induction", "look-back",
                   "on pos 0", "ablated: repeated", "ablated: fresh",
                   "direct logit"},
                  {}};
    t.page_header = {"head", "previous-token", "duplicate-token",
                     "induction",
                     "look-back " + std::to_string(task.r_min) + "&ndash;"
                         + std::to_string(task.r_max),
                     "on position 0",
                     "head off: repeated loss", "head off: fresh loss",
                     "direct logit attrib."};
    for (std::size_t l = 0; l < 2; ++l) {
        for (std::size_t h = 0; h < heads; ++h) {
            t.add({head_name(l, h), fmt(a.scores.previous[l](h), "%.2f"),
                   fmt(a.scores.duplicate[l](h), "%.2f"),
                   fmt(a.scores.induction[l](h), "%.2f"),
                   fmt(a.on_window[l](h), "%.2f"),
                   fmt(a.on_first[l](h), "%.2f"),
                   fmt(a.ablation[l][h].repeated, "%.2f"),
                   fmt(a.ablation[l][h].fresh, "%.2f"),
                   fmt(a.dla[l](h), "%.2f")});
        }
    }
    return t;
}

book::table ablation_table(const study& st)
{
    book::table t{{"seed", "none", "L0 H0", "L0 H1", "layer 0", "L1 H0",
                   "L1 H1", "layer 1"},
                  {}};
    t.page_header = {"seed", "nothing off", "layer 0, head 0",
                     "layer 0, head 1", "layer 0 (both heads)",
                     "layer 1, head 0", "layer 1, head 1",
                     "layer 1 (both heads)"};
    std::vector<std::vector<double>> columns(7);
    for (std::size_t k = 0; k < st.two.size(); ++k) {
        const auto& a = st.two_layer[k];
        std::vector<double> row{a.loss.repeated};
        for (std::size_t l = 0; l < 2; ++l) {
            for (std::size_t h = 0; h <= heads; ++h) {
                row.push_back(a.ablation[l][h].repeated);
            }
        }
        std::vector<std::string> cells{std::to_string(st.two[k].seed)};
        for (std::size_t c = 0; c < row.size(); ++c) {
            cells.push_back(fmt(row[c], "%.2f"));
            columns[c].push_back(row[c]);
        }
        t.add(cells);
    }
    std::vector<std::string> mean{"mean"};
    for (const auto& c : columns) {
        mean.push_back(fmt(std::accumulate(c.begin(), c.end(), 0.0)
                           / double(c.size()), "%.2f"));
    }
    t.add(mean);
    return t;
}

book::table composition_table(const study& st)
{
    book::table t{{"seed", "layer-0 head", "its role", "none", "everywhere",
                   "from queries", "from keys+values"},
                  {}};
    t.page_header = {"seed", "layer-0 head removed", "its role",
                     "not removed", "removed everywhere",
                     "from layer 1's queries only",
                     "from layer 1's keys and values only"};
    for (std::size_t k = 0; k < st.two.size(); ++k) {
        const auto& a = st.two_layer[k];
        const std::size_t h = a.key_head;
        std::vector<std::string> cells{
            std::to_string(st.two[k].seed), "head " + std::to_string(h),
            role(a, 0, h)};
        for (std::size_t p = 0; p < 4; ++p) {
            cells.push_back(fmt(a.path_loss[p], "%.2f") + " ("
                            + fmt(a.path_induction[p], "%.2f") + ")");
        }
        t.add(cells);
    }
    return t;
}

book::table credit_table(const credit_summary& c)
{
    book::table t{{"method", "top key is the source", "credit on the source"},
                  {}};
    t.add({"raw weights, layer 1 (mean of heads)", fmt(c.top_raw, "%.2f"),
           fmt(c.share_raw, "%.2f")});
    t.add({"raw weights, layer 1 induction head", fmt(c.top_head, "%.2f"),
           fmt(c.share_head, "%.2f")});
    t.add({"attention rollout", fmt(c.top_rollout, "%.2f"),
           fmt(c.share_rollout, "%.2f")});
    t.add({"occlusion (loss rise)", fmt(c.top_occlusion, "%.2f"),
           fmt(c.share_occlusion, "%.2f")});
    return t;
}

// The chapter's findings, written from the measurements: each is a
// paragraph the page includes where it discusses them.
struct findings_text {
    std::string training, ablation, composition, credit, sinks;
};

std::string count_of(std::size_t k, std::size_t of)
{
    return std::to_string(k) + " of " + std::to_string(of);
}

bool learned(const two_layer_analysis& a)
{
    return a.loss.repeated < 0.5 * ln_vocab();
}

std::string training_findings(const study& st)
{
    const std::size_t seeds = st.two.size();
    std::vector<double> one, phases;
    std::size_t one_below = 0, formed = 0;
    for (std::size_t k = 0; k < seeds; ++k) {
        one.push_back(st.loss_one[k].repeated);
        one_below += st.loss_one[k].repeated < 0.5 * ln_vocab();
        formed += learned(st.two_layer[k]);
        if (st.two[k].phase) {
            phases.push_back(double(st.two[k].phase));
        }
    }
    const auto [lo, hi] = std::minmax_element(one.begin(), one.end());
    std::string s = "In this run, " + count_of(one_below, seeds)
                    + " one-layer models crossed ln|<i>V</i>|/2 = "
                    + fmt(0.5 * ln_vocab(), "%.2f")
                    + "; their held-out repeated loss ended between "
                    + fmt(*lo, "%.2f") + " and " + fmt(*hi, "%.2f")
                    + " nats, against ln 16 = " + fmt(ln_vocab(), "%.2f")
                    + " for guessing. " + count_of(formed, seeds)
                    + " two-layer models ended below the line";
    if (!phases.empty()) {
        const auto [p0, p1] = std::minmax_element(phases.begin(),
                                                  phases.end());
        s += ", and " + count_of(phases.size(), seeds)
             + " had a phase change, between steps " + fmt(*p0, "%.0f")
             + " and " + fmt(*p1, "%.0f");
    }
    return s + ".\n";
}

std::string ablation_findings(const study& st)
{
    double least = 1e9;  // the smallest cost of switching a layer off
    double one_max = 0.0;
    for (const auto& l : st.loss_one) {
        one_max = std::max(one_max, l.repeated);
    }
    std::size_t above_one = 0, learners = 0, head_beats_layer = 0;
    for (const auto& a : st.two_layer) {
        bool both_above = true;
        for (std::size_t l = 0; l < 2; ++l) {
            const double off = a.ablation[l][heads].repeated;
            least = std::min(least, off - a.loss.repeated);
            both_above = both_above && off > one_max;
            for (std::size_t h = 0; h < heads; ++h) {
                head_beats_layer += a.ablation[l][h].repeated > off;
            }
        }
        if (learned(a)) {
            learners += 1;
            above_one += both_above;
        }
    }
    std::string s = "Switching off either layer raised the repeated loss of "
                    "every two-layer model by at least "
                    + fmt(least, "%.2f") + " nats. In "
                    + count_of(above_one, learners)
                    + " models that learned the copy, either layer off left "
                      "the model worse than the worst one-layer model ("
                    + fmt(one_max, "%.2f") + " nats). ";
    if (head_beats_layer == 0) {
        s += "No single head cost more than its whole layer.\n";
    } else {
        s += "In " + std::to_string(head_beats_layer)
             + (head_beats_layer == 1 ? " case" : " cases")
             + " a single head cost more than its whole layer: with one head "
               "of a pair gone, what the other writes can mislead the "
               "next layer more than silence would.\n";
    }
    return s;
}

std::string composition_findings(const study& st)
{
    const std::size_t seeds = st.two.size();
    std::size_t formed = 0, query_side = 0, key_side = 0, dup = 0, prev = 0,
                window = 0;
    for (const auto& a : st.two_layer) {
        if (learned(a)) {
            formed += 1;
            // The side of layer 1 whose loss of the head costs more.
            query_side += a.path_loss[2] > a.path_loss[3];
            key_side += a.path_loss[3] >= a.path_loss[2];
        }
        for (std::size_t h = 0; h < heads; ++h) {
            const std::string r = role(a, 0, h);
            dup += r == "duplicate-token";
            prev += r == "previous-token";
            window += r.rfind("look-back", 0) == 0;
        }
    }
    const auto heads_of = [](std::size_t k, const std::string& kind) {
        return std::to_string(k) + " " + kind + (k == 1 ? " head" : " heads");
    };
    std::string s = "Of the " + std::to_string(seeds * heads)
                    + " first-layer heads of the " + std::to_string(seeds)
                    + " two-layer models, " + heads_of(prev, "previous-token")
                    + ", " + heads_of(dup, "duplicate-token") + ", "
                    + heads_of(window, "look-back") + " and "
                    + heads_of(seeds * heads - prev - dup - window, "diffuse")
                    + ". In the " + std::to_string(formed)
                    + " models that learned the copy, removing the most "
                      "needed first-layer head from layer 1's queries cost "
                      "more than removing it from its keys and values in "
                    + std::to_string(query_side) + " and less in "
                    + std::to_string(key_side) + ": ";
    if (query_side > key_side) {
        s += "Q-composition is the rule in this run, K- or V-composition "
             "the exception.\n";
    } else if (key_side > query_side) {
        s += "K- or V-composition is the rule in this run.\n";
    } else {
        s += "neither route dominates in this run.\n";
    }
    return s;
}

std::string credit_findings(const credit_summary& c)
{
    return "Over " + std::to_string(c.positions)
           + " repeated positions, the largest credit fell on the source "
             "token at " + fmt(100.0 * c.top_raw, "%.0f")
           + "% of them for layer 1's raw weights, "
           + fmt(100.0 * c.top_rollout, "%.0f") + "% for rollout and "
           + fmt(100.0 * c.top_occlusion, "%.0f")
           + "% for occlusion; the mean credit on the source was "
           + fmt(c.share_raw, "%.2f") + ", " + fmt(c.share_rollout, "%.2f")
           + " and " + fmt(c.share_occlusion, "%.2f") + ".\n";
}

std::string sink_findings(const study& st)
{
    std::size_t half = 0, above = 0, all = 0;
    double most = 0.0;
    for (const auto& a : st.two_layer) {
        for (std::size_t l = 0; l < 2; ++l) {
            for (std::size_t h = 0; h < heads; ++h) {
                all += 1;
                half += a.on_first[l](h) >= 0.5;
                above += a.on_first[l](h) > uniform_on_first();
                most = std::max(most, a.on_first[l](h));
            }
        }
    }
    return "Of the " + std::to_string(all) + " heads of the "
           + std::to_string(st.two.size()) + " two-layer models, "
           + std::to_string(above)
           + " put more weight on position 0 than a uniform head would, and "
           + std::to_string(half)
           + " put half their weight or more there; the most any head put "
             "there was " + fmt(most, "%.2f") + ".\n";
}

findings_text findings(const study& st, const credit_summary& c)
{
    return {training_findings(st), ablation_findings(st),
            composition_findings(st), credit_findings(c), sink_findings(st)};
}

// ------------------------------------------------------------ figures

void write_figures(const study& st, const credit_summary& c,
                   const book::output_sink& out)
{
    // Training curves: the repeated loss of every run at every report.
    std::vector<std::string> header{"step"};
    std::vector<std::vector<double>> cols{st.one[0].step};
    for (const auto* runs : {&st.one, &st.two}) {
        for (const auto& r : *runs) {
            header.push_back("L" + std::to_string(r.layers) + "_seed"
                             + std::to_string(r.seed));
            cols.push_back(r.repeated);
        }
    }
    out.columns("ch07_curves.dat", header, cols);
    // Loss by offset into the repeat: mean, min and max over seeds.
    std::vector<double> k_col, stats[6];
    for (std::size_t k = 0; k + 1 < task.r_max; ++k) {
        k_col.push_back(double(k));
        for (std::size_t which = 0; which < 2; ++which) {
            const auto& per_seed = which ? st.offsets_two : st.offsets_one;
            std::vector<double> v;
            for (const auto& o : per_seed) {
                v.push_back(o[k]);
            }
            stats[3 * which].push_back(
                std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()));
            stats[3 * which + 1].push_back(*std::min_element(v.begin(),
                                                             v.end()));
            stats[3 * which + 2].push_back(*std::max_element(v.begin(),
                                                             v.end()));
        }
    }
    out.columns("ch07_offsets.dat",
                {"k", "L1_mean", "L1_min", "L1_max", "L2_mean", "L2_min",
                 "L2_max"},
                {k_col, stats[0], stats[1], stats[2], stats[3], stats[4],
                 stats[5]});
    // Head scores of the main two-layer run over training.
    const auto& r = st.two[0];
    std::vector<std::vector<double>> sc{r.step, r.repeated};
    std::vector<std::string> sh{"step", "repeated"};
    for (std::size_t h = 0; h < heads; ++h) {
        std::vector<double> prev, dup, ind, back;
        for (std::size_t k = 0; k < r.scores.size(); ++k) {
            prev.push_back(r.scores[k].previous[0](h));
            dup.push_back(r.scores[k].duplicate[0](h));
            ind.push_back(r.scores[k].induction[1](h));
            back.push_back(r.window[k][0](h));
        }
        sc.push_back(prev);
        sc.push_back(dup);
        sc.push_back(ind);
        sc.push_back(back);
        sh.push_back("L0H" + std::to_string(h) + "_prev");
        sh.push_back("L0H" + std::to_string(h) + "_dup");
        sh.push_back("L1H" + std::to_string(h) + "_ind");
        sh.push_back("L0H" + std::to_string(h) + "_lookback");
    }
    out.columns("ch07_scores.dat", sh, sc);
    // Token credit at one repeated position.
    std::vector<double> j_col;
    for (std::size_t j = 0; j < c.raw.size(); ++j) {
        j_col.push_back(double(j));
    }
    out.columns("ch07_credit.dat",
                {"j", "raw", "induction_head", "rollout", "occlusion"},
                {j_col, c.raw, c.head, c.rollout, c.occlusion});
    const auto e = held_out_set(st.two[0].seed, 1)[0];
    const std::size_t i = c.example_i, source = i - e.r + 1;
    out.text("ch07_credit_position.md",
             "Figure 7.5 is for the position <i>i</i> = " + std::to_string(i)
                 + " of that sequence (token " + std::to_string(e.tokens[i])
                 + "); the token to copy, " + std::to_string(e.tokens[i + 1])
                 + ", is at the source <i>j</i> = " + std::to_string(source)
                 + ".\n");
}

void write_heatmaps(const study& st, const book::output_sink& out)
{
    if (!out.enabled()) {
        return;
    }
    for (const auto* r : {&st.one[0], &st.two[0]}) {
        const auto s = sizes(r->layers);
        const auto e = held_out_set(r->seed, 1)[0];
        const auto f = attn::decoder_model_forward(s, r->model, e.tokens,
                                                   e.target);
        std::vector<std::string> labels;  // position:token
        for (std::size_t i = 0; i < e.tokens.size(); ++i) {
            labels.push_back(std::to_string(i) + ":"
                             + std::to_string(e.tokens[i]));
        }
        for (std::size_t l = 0; l < r->layers; ++l) {
            for (std::size_t h = 0; h < heads; ++h) {
                book::heatmap_style style;
                style.title = (r->layers == 1 ? "one layer: head "
                                              : "layer " + std::to_string(l)
                                                    + ", head ")
                              + std::to_string(h);
                style.row_labels = labels;
                style.col_labels = labels;
                style.row_axis = "query position:token";
                style.col_axis = "key position:token";
                style.annotate = false;
                out.heatmap("ch07_L" + std::to_string(r->layers) + "_l"
                                + std::to_string(l) + "_h"
                                + std::to_string(h) + ".svg",
                            xt::view(f.layer[l].a, h, xt::all(), xt::all()),
                            style);
            }
        }
        if (r->layers == 2) {
            std::string t;
            for (std::size_t i = 0; i < e.tokens.size(); ++i) {
                t += (i ? " " : "") + std::to_string(e.tokens[i]);
            }
            out.text("ch07_example.md", "<code>" + t + "</code> (<i>r</i> = "
                                            + std::to_string(e.r) + ")");
        }
    }
}

// The main two-layer model's weights for the chapter's playground
// (code/web/pg_ch07.hpp runs it on the tokens a reader types): one
// pg_ch07_<symbol>.npy per weight, which code/tools/playground_data.py
// packs for the page.
void write_playground_data(const attn::decoder_model& m,
                           const book::output_sink& out)
{
    if (!out.enabled()) {
        return;
    }
    const auto save = [&](const std::string& name, const auto& array) {
        book::save_npy(out.path("pg_ch07_" + name + ".npy"), array);
    };
    save("W_E", m.w_e);
    save("W_P", m.w_p);
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        const std::string k = "_" + std::to_string(l);
        save("W_q" + k, m.layers[l].w_q);
        save("W_k" + k, m.layers[l].w_k);
        save("W_v" + k, m.layers[l].w_v);
        save("W_o" + k, m.layers[l].w_o);
        save("b_o" + k, m.layers[l].b_o);
    }
    save("W_U", m.w_u);
}

// ------------------------------------------------------------ --load

struct loaded {
    attn::decoder_sizes s;
    attn::decoder_model m;
    std::vector<std::size_t> tokens;
};

loaded load_model(const std::string& dir, std::size_t h, std::size_t layers)
{
    auto in = [&](const std::string& name) { return book::path_in(dir, name); };
    loaded r;
    r.m.w_e = book::load_npy<2>(in("W_E.npy"));
    r.m.w_p = book::load_npy<2>(in("P.npy"));
    r.m.w_u = book::load_npy<2>(in("W_U.npy"));
    for (std::size_t l = 0; l < layers; ++l) {
        const std::string k = "_" + std::to_string(l) + ".npy";
        r.m.layers.push_back({book::load_npy<2>(in("W_q" + k)),
                              book::load_npy<2>(in("W_k" + k)),
                              book::load_npy<2>(in("W_v" + k)),
                              book::load_npy<2>(in("W_o" + k)),
                              book::load_npy<1>(in("b_o" + k))});
    }
    r.s = {r.m.w_e.shape()[0], r.m.w_p.shape()[0], r.m.w_e.shape()[1], h,
           layers};
    if (r.s.d_model % h != 0) {
        throw book::usage_error("--heads " + std::to_string(h)
                                + ": expected a divisor of d_model = "
                                + std::to_string(r.s.d_model)
                                + " (the columns of W_E)");
    }
    attn::expect_decoder_model(r.s, r.m);
    r.tokens = book::load_tokens_npy(in("tokens.npy"), r.s.vocab);
    if (r.tokens.empty() || r.tokens.size() > r.s.n_max) {
        throw book::npy_error(in("tokens.npy") + ": expected 1 to n_max = "
                              + std::to_string(r.s.n_max)
                              + " tokens (the rows of P), found "
                              + std::to_string(r.tokens.size()));
    }
    return r;
}

void save_forward(const std::string& dir, const attn::decoder_sizes& s,
                  const attn::decoder_model& m,
                  const std::vector<std::size_t>& tokens)
{
    const std::vector<int> none(tokens.size(), -1);
    const auto f = attn::decoder_model_forward(s, m, tokens, none);
    book::save_outputs(dir, "logits.npy", f.logits);
    for (std::size_t l = 0; l < s.layers; ++l) {
        book::save_outputs(dir, "A_" + std::to_string(l) + ".npy",
                           f.layer[l].a);
    }
}

void save_model(const std::string& dir, const attn::decoder_model& m)
{
    book::save_outputs(dir, "W_E.npy", m.w_e, "P.npy", m.w_p, "W_U.npy", m.w_u);
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        const std::string k = "_" + std::to_string(l) + ".npy";
        const auto& w = m.layers[l];
        book::save_outputs(dir, "W_q" + k, w.w_q, "W_k" + k, w.w_k,
                           "W_v" + k, w.w_v, "W_o" + k, w.w_o, "b_o" + k,
                           w.b_o);
    }
}

// ------------------------------------------------------------ main

std::size_t positive(const cxxopts::ParseResult& o, const std::string& flag)
{
    const auto v = o[flag].as<std::size_t>();
    if (v == 0) {
        throw book::usage_error("--" + flag + ": expected at least 1, got 0");
    }
    return v;
}

int run(const cxxopts::ParseResult& options, const book::common_args& args)
{
    const bool sized = options.count("heads") || options.count("layers");
    if (!args.load_dir.empty()) {
        if (args.save_dir.empty()) {
            throw book::usage_error("--load needs --save DIR for logits.npy "
                                    "and A_<l>.npy (see --help)");
        }
        const auto r = load_model(args.load_dir, positive(options, "heads"),
                                  positive(options, "layers"));
        std::cout << "Loaded a model of " << r.s.layers << " layers, "
                  << r.s.heads << " heads, d_model " << r.s.d_model
                  << ", |V| " << r.s.vocab << "; forward pass on "
                  << r.tokens.size() << " tokens\n";
        save_forward(args.save_dir, r.s, r.m, r.tokens);
        return 0;
    }
    if (sized) {
        throw book::usage_error("--heads and --layers describe a model read "
                                "with --load DIR (see --help)");
    }
    const std::size_t seeds = positive(options, "seeds");
    attn::decoder_training_options o;
    o.steps = positive(options, "steps");
    o.report_every = std::min<std::size_t>(50, o.steps);
    const std::size_t threads = positive(options, "threads");
    std::cout << "Task: " << task.length << " tokens from {0.."
              << task.vocab - 1 << "}; the last r (r in [" << task.r_min
              << ", " << task.r_max << "]) repeat\n      the r before them. "
              << "ln|V| = " << fmt(ln_vocab(), "%.3f") << " nats.\n"
              << "Models: attention only, d_model " << d_model << ", "
              << heads << " heads per layer, 1 and 2 layers;\n"
              << "        Adam, " << o.steps << " steps of " << o.batch
              << " sequences, lr " << o.lr << ".\nTraining " << 2 * seeds
              << " models (seeds " << args.seed << " to "
              << args.seed + seeds - 1 << ")...\n";
    const auto runs = train_all(args.seed, seeds, o, threads);
    study st;
    st.one.assign(runs.begin(), runs.begin() + long(seeds));
    st.two.assign(runs.begin() + long(seeds), runs.end());
    for (std::size_t k = 0; k < seeds; ++k) {
        const auto set = held_out_set(st.one[k].seed, held_out);
        st.loss_one.push_back(
            attn::evaluate_repeat_losses(sizes(1), st.one[k].model, set));
        st.offsets_one.push_back(loss_by_offset(sizes(1), st.one[k].model,
                                                set));
        st.offsets_two.push_back(loss_by_offset(sizes(2), st.two[k].model,
                                                set));
        st.two_layer.push_back(analyse_two_layers(st.two[k]));
    }
    const auto credit = compare_credit(st.two[0], st.two_layer[0]);
    const book::output_sink out(args.out_dir);
    const auto summary = summary_table(st), per_seed = seeds_table(st),
               head = heads_table(st.two_layer[0]),
               ablation = ablation_table(st),
               composition = composition_table(st),
               credit_t = credit_table(credit);
    print_table("One against two layers, over seeds (mean [min, max], "
                "held-out):", summary);
    print_table("Per seed:", per_seed);
    print_table("The heads of the main two-layer model (seed "
                + std::to_string(args.seed) + "):", head);
    print_table("Repeated loss with a head or a layer ablated:", ablation);
    print_table("Path ablation of the most needed layer-0 head: repeated "
                "loss (best layer-1 induction score):", composition);
    print_table("Crediting tokens at repeated positions (main seed):",
                credit_t);
    const findings_text found = findings(st, credit);
    std::cout << '\n';
    for (const auto* text : {&found.training, &found.ablation,
                             &found.composition, &found.credit,
                             &found.sinks}) {
        std::cout << wrapped(*text) << '\n';
    }
    std::cout << "A uniform causal head would put "
              << fmt(uniform_on_first(), "%.2f")
              << " of its weight on position 0.\n";
    out.markdown("ch07_summary.md", summary);
    out.markdown("ch07_seeds.md", per_seed);
    out.markdown("ch07_heads.md", head);
    out.markdown("ch07_ablation.md", ablation);
    out.markdown("ch07_composition.md", composition);
    out.markdown("ch07_credit.md", credit_t);
    out.text("ch07_training_findings.md", found.training);
    out.text("ch07_ablation_findings.md", found.ablation);
    out.text("ch07_composition_findings.md", found.composition);
    out.text("ch07_credit_findings.md", found.credit);
    out.text("ch07_sink_findings.md", found.sinks);
    out.text("ch07_uniform_first.md", fmt(uniform_on_first(), "%.2f"));
    write_figures(st, credit, out);
    write_heatmaps(st, out);
    write_playground_data(st.two[0].model, out);
    if (!args.save_dir.empty()) {
        save_model(args.save_dir, st.two[0].model);
        const auto e = held_out_set(st.two[0].seed, 1)[0];
        xt::xtensor<std::int64_t, 1> t = xt::zeros<std::int64_t>(
            {e.tokens.size()});
        for (std::size_t i = 0; i < e.tokens.size(); ++i) {
            t(i) = std::int64_t(e.tokens[i]);
        }
        book::save_outputs(args.save_dir, "tokens.npy", t);
        save_forward(args.save_dir, sizes(2), st.two[0].model, e.tokens);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return book::run_program(
        argc, argv, "ch07_layers",
        "Train one- and two-layer attention-only decoders on the repeat "
        "task; find the induction head and credit heads and tokens.",
        [](cxxopts::Options& options) {
            options.add_options()(
                "seeds", "seeds --seed .. --seed + N - 1, each trained at "
                "1 and 2 layers", cxxopts::value<std::size_t>()
                                      ->default_value("5"), "N")(
                "steps", "Adam steps per model",
                cxxopts::value<std::size_t>()->default_value("1500"), "N")(
                "threads", "models trained at once",
                cxxopts::value<std::size_t>()->default_value("2"), "N")(
                "heads", "with --load: heads per layer",
                cxxopts::value<std::size_t>()->default_value("2"), "H")(
                "layers", "with --load: layers",
                cxxopts::value<std::size_t>()->default_value("2"), "L");
        },
        [](const cxxopts::ParseResult& options,
           const book::common_args& args) { return run(options, args); });
}

#!/usr/bin/env python3
"""Chapter 6's benchmark driver and report: the library's ways of attention,
NumPy and PyTorch (when installed) side by side in one run, against n
(d = 64, double), on one thread and on two; then the chapter's tables,
figures' data and the sentences that read them, all from this run.

    /usr/bin/python3 code/tools/report_ch06.py --program build/ch06_scale \
        --out build/book/gen [--log build/book/gen/ch06_scale.txt]
        [--full [--max-n 32768]]

It runs the program once with --out (the demonstrations, this machine's
rates, the tile sizes, the decoding steps). Then, for n = 256, 512, ...,
every contender at that n, each in a process of its own, timed alike
(ch06_scale's best_of: a warm-up, then at least five runs, more while they
add up to less than the budget; the best): `ch06_scale --measure WAY:N`
for the library, code/tools/bench_ch06_python.py for NumPy and PyTorch.
The contenders take turns at each n, so that a change in the load on the
machine touches all of them. The matrix-multiply rate is measured before
and after each n's turns; the larger sets that n's bound.

The short run (the build's: n up to 4096, budget 0.2 s) and the full run
(code/tools/benchmark_ch06.sh: n up to --max-n, budget 1 s) write the same
files into --out, so the page shows whichever ran last:
ch06_bench.dat (Figures 6.1 and 6.2), ch06_kv_plot.dat
(Figure 6.3), ch06_benchmark_*.md (tables), ch06_levers.md, ch06_targets.md,
ch06_bench_source.md, ch06_findings_*.md (sentences); --log keeps
everything printed (the program's output first) for the chapter's "Run it".
"""
import argparse
import math
import pathlib
import re
import shutil
import subprocess
import sys
import time

WAYS = ("loops", "xtensor", "blas", "tiled", "fast")
LEVERS = ("tiled+vexp", "tiled+tiles", "tiled-fused")
LIBS = ("numpy", "torch")
LIB_NAMES = {"numpy": "NumPy", "torch": "PyTorch"}
WAY_NAMES = {"loops": "loops", "xtensor": "xtensor", "blas": "BLAS",
             "tiled": "tiled", "fast": "fast"}
D = 64          # d_k = d_v of the benchmark
MIB = 1024.0 * 1024.0
NAN = math.nan
HERE = pathlib.Path(__file__).resolve().parent
PYTHON_BENCH = HERE / "bench_ch06_python.py"

# ch06_bench.dat, which figures/ch06_time.gp and ch06_memory.gp plot.
BENCH_COLUMNS = (
    "n", "loops_s", "xtensor_s", "blas_s", "tiled_s", "fast_s", "numpy_s",
    "torch_s", "bound_s", "loops_mib", "xtensor_mib", "blas_mib",
    "tiled_mib", "fast_mib", "numpy_mib", "torch_mib", "s_and_a_mib",
    "rate")
# ch06_kv_plot.dat, which figures/ch06_kv_cache.gp plots.
KV_COLUMNS = ("t", "cached_s", "uncached_s", "cached_model_s",
              "uncached_model_s")


# ------------------------------------------------------------ files

def read_columns(path):
    """A file of columns under a '# name name ...' line: its rows, each a
    dict from name to number."""
    names, rows = [], []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                names = names or line[1:].split()
                continue
            if line.split():
                rows.append({name: float(word)
                             for name, word in zip(names, line.split())})
    return rows


def write_columns(path, names, rows):
    """The format gnuplot reads: '# name name ...', then one row a line."""
    with open(path, "w") as f:
        f.write("# " + " ".join(names) + "\n")
        for row in rows:
            f.write(" ".join("%.10g" % row.get(name, NAN) for name in names)
                    + "\n")


def write_markdown_table(path, header, rows):
    """A table the chapter includes with \\includedoc: the first column
    left-aligned, the others right-aligned."""
    def line(cells):
        return "|" + "".join(" %s |" % c for c in cells) + "\n"
    with open(path, "w") as f:
        f.write(line(header))
        f.write("|" + "".join("--:|" if k else ":--|"
                              for k in range(len(header))) + "\n")
        for row in rows:
            assert len(row) == len(header), (path, row)
            f.write(line(row))


def fin(x):
    return isinstance(x, float) and math.isfinite(x)


def ratio(a, b):
    return a / b if fin(a) and fin(b) and b else NAN


def g3(x, form="%.3g"):
    return form % x if fin(x) else "not measured"


def plain(cell):
    """A Markdown cell as plain text for the console."""
    for entity, text in (("&ndash;", "-"), ("&ge;", ">="), ("&le;", "<="),
                         ("&times;", "x"), ("&minus;", "-"),
                         ("&sup2;", "^2")):
        cell = cell.replace(entity, text)
    return re.sub("<[^>]+>", "", cell).strip()


def markdown_rows(path):
    """The rows of a Markdown table file, header first, cells as plain
    text (the alignment row left out)."""
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("|") and not line.startswith("|:-"):
            rows.append([plain(c) for c in line.strip("|").split("|")])
    return rows


def plain_table(path):
    """A Markdown table file as an aligned console table."""
    rows = markdown_rows(path)
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(
        c.ljust(w) if k == 0 else c.rjust(w)
        for k, (c, w) in enumerate(zip(r, widths))) for r in rows) + "\n"


# -------------------------------------------------------- measuring

class Log:
    """Keeps every line for the chapter's "Run it", and prints it unless
    told to be quiet (the build keeps its console quiet)."""

    def __init__(self, echo=True):
        self.text = ""
        self.echo = echo

    def say(self, text=""):
        if self.echo:
            print(text, flush=True)
        self.text += text + "\n"


def run(command):
    """Runs a command; on failure, shows what it said and stops with its
    exit status."""
    done = subprocess.run([str(c) for c in command], capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        sys.exit("%s failed (exit status %d)"
                 % (" ".join(str(c) for c in command), done.returncode))
    return done.stdout


class Bench:
    """One contender at one n in a process of its own: (seconds, MiB)."""

    def __init__(self, program, budget):
        self.program, self.budget = program, budget

    def way(self, way, n, threads=1):
        out = run([self.program, "--measure", "%s:%d" % (way, n),
                   "--threads", threads, "--budget", self.budget]).split()
        return float(out[0]), float(out[1]) / MIB

    def lib(self, lib, n, threads=1):
        out = run([sys.executable, PYTHON_BENCH, "--measure",
                   "%s:%d" % (lib, n), "--threads", threads, "--budget",
                   self.budget]).split()
        return float(out[0]), float(out[1]) / MIB

    def rate(self):
        """The matrix-multiply rate R, multiply-adds per second."""
        seconds, _ = self.way("matmul", 1024)
        return 1024.0 ** 3 / seconds


def installed_libs():
    """{lib: "Name version"} for the libraries bench_ch06_python.py finds."""
    found = {}
    for line in run([sys.executable, PYTHON_BENCH, "--versions"]).split("\n"):
        words = line.split(None, 1)
        if len(words) == 2 and words[1] != "missing":
            found[words[0]] = words[1]
    return found


def limits(full, max_n):
    """The largest n of each contender. The ways that store S and A (BLAS,
    NumPy, PyTorch) stop at 8192 (16 n^2 bytes: 1 GiB), the literal ways at
    1024 (they take seconds there); tiled and fast go on."""
    stored = min(max_n, 8192 if full else 4096)
    return {"loops": 1024, "xtensor": 1024, "blas": stored, "numpy": stored,
            "torch": stored, "tiled": max_n, "fast": max_n}


def sweep(bench, libs, full, max_n):
    """Every contender at n = 256, 512, ..., max_n, taking turns at each n:
    rows of one thread, rows of two threads, and the levers."""
    limit = limits(full, max_n)
    rows, thread_rows, lever_rows, backward_rows = [], [], [], []
    n = 256
    while n <= max_n:
        row, two = {"n": float(n)}, {"n": float(n)}
        # The rate at the start and at the end of this n's turns: the
        # bound of this n uses the larger, measured minutes, not a quarter
        # of an hour, from the times it is compared with.
        rate_before = bench.rate()
        for way in WAYS:
            if n <= limit[way]:
                row[way + "_s"], row[way + "_mib"] = bench.way(way, n)
        for lib in libs:
            if n <= limit[lib]:
                row[lib + "_s"], row[lib + "_mib"] = bench.lib(lib, n)
                two[lib + "2_s"], _ = bench.lib(lib, n, threads=2)
        two["fast_s"] = row["fast_s"]
        two["fast2_s"], _ = bench.way("fast", n, threads=2)
        if n in (1024, 4096):
            # tiled, each lever and fast one after another, so that the
            # five are compared at about the same moment.
            lever = {"n": float(n)}
            for way in ("tiled",) + LEVERS + ("fast",):
                lever[way], _ = bench.way(way, n)
            lever_rows.append(lever)
        if n in (1024, 4096, 32768):
            seconds, mib = bench.way("backward", n)
            backward_rows.append({"n": float(n), "tiled_s": row["tiled_s"],
                                  "fast_s": row["fast_s"],
                                  "backward_s": seconds,
                                  "backward_mib": mib})
        row["rate"] = max(rate_before, bench.rate())
        rows.append(row)
        thread_rows.append(two)
        print("  measured n = %d" % n, file=sys.stderr, flush=True)
        n *= 2
    return rows, thread_rows, lever_rows, backward_rows


def simulate_io(program, full):
    """Bytes moved between memory and a simulated last-level cache
    (valgrind's cachegrind) by one pass of the BLAS and the tiled way, the
    count of a run that only makes its inputs subtracted, beside the
    models of Eqs. 6.8 and 6.9: rows of (cache KiB, n, model and simulated
    MiB of each way, M_tile). None if valgrind is not installed."""
    if not shutil.which("valgrind"):
        return None
    caches = ((256, 8), (1024, 16), (4096, 16)) if full else ((1024, 16),)
    sizes = (256, 512, 1024) if full else (256, 512)
    rows = []
    for kib, ways in caches:
        for n in sizes:
            row = {"cache_kib": float(kib), "n": float(n)}
            misses = {}
            for way in ("none", "blas", "tiled"):
                done = subprocess.run(
                    ["valgrind", "--tool=cachegrind", "--cache-sim=yes",
                     "--LL=%d,%d,64" % (kib * 1024, ways),
                     "--cachegrind-out-file=/dev/null", str(program),
                     "--io", "%s:%d" % (way, n)],
                    capture_output=True, text=True)
                found = re.search(r"LLd misses:\s*([0-9,]+)", done.stderr)
                if done.returncode != 0 or not found:
                    sys.stderr.write(done.stdout + done.stderr)
                    sys.exit("valgrind --io %s:%d failed" % (way, n))
                misses[way] = float(found.group(1).replace(",", ""))
                model, tile = (float(x) for x in done.stdout.split())
                row[way + "_model_mib"] = model / MIB
                row["tile_kib"] = tile / 1024.0
            for way in ("blas", "tiled"):
                row[way + "_mib"] = 64.0 * (misses[way] - misses["none"]) / MIB
            rows.append(row)
    return rows


# ------------------------------------------------- the book's report

# [ch06-report]
# The verdict on one target. The speed of a shared machine, and with it
# every time, moves while it is measured (the page gives the range of the
# matrix-multiply rate over the run): a measurement within 10 % of the
# wanted value is reported as within noise, whichever side it falls on.
def verdict(measured, wanted, at_least):
    if not fin(measured):
        return "not measured"
    ok = measured >= wanted if at_least else measured <= wanted
    if abs(measured - wanted) < 0.1 * wanted:
        return "met, within noise (10 %)" if ok else \
            "missed, within noise (10 %)"
    return "met" if ok else "**missed**"
# [ch06-report]


def fastest_way(row):
    """The library's fastest one-thread way at this n: (seconds, name)."""
    best, name = NAN, None
    for way in WAYS:
        seconds = row.get(way + "_s", NAN)
        if fin(seconds) and not seconds >= best:
            best, name = seconds, way
    return best, name


def cells(row, keys, form="%.3g"):
    """The numbers of row under keys, three significant digits (whole
    numbers from 1000 on, not 1.54e+03)."""
    def one(x):
        if not fin(x):
            return "&ndash;"
        return "%.0f" % x if abs(x) >= 1000 else form % x
    return [one(row.get(k, NAN)) for k in keys]


def write_tables(out, rows, two_rows, lever_rows, libs, max_stored):
    """The chapter's tables, from this run's rows."""
    lib_cols = [lib for lib in LIBS if lib in libs]
    stored_rows = [r for r in rows if r["n"] <= max_stored]
    long_rows = [r for r in rows if r["n"] > max_stored]
    # Time, one thread, every n where the stored ways ran.
    write_markdown_table(
        out / "ch06_benchmark_time.md",
        ["<i>n</i>", "BLAS", "tiled", "fast"]
        + [LIB_NAMES[lib] for lib in lib_cols] + ["matmul bound"],
        [["%.0f" % r["n"]] + cells(r, ["blas_s", "tiled_s", "fast_s"]
                                   + [lib + "_s" for lib in lib_cols]
                                   + ["bound_s"]) for r in stored_rows])
    # The literal ways, where they ran.
    slow_rows = [r for r in rows if fin(r.get("loops_s", NAN))]
    write_markdown_table(
        out / "ch06_benchmark_slow.md",
        ["<i>n</i>", "loops (s)", "xtensor (s)", "fast (s)",
         "loops / fast", "xtensor / fast"],
        [["%.0f" % r["n"]] + cells(r, ["loops_s", "xtensor_s", "fast_s"])
         + ["%.0f" % ratio(r["loops_s"], r["fast_s"]),
            "%.0f" % ratio(r["xtensor_s"], r["fast_s"])]
         for r in slow_rows])
    # Ratios.
    ratio_rows = []
    for r in stored_rows:
        fastest, name = fastest_way(r)
        ratio_rows.append(
            ["%.0f" % r["n"], WAY_NAMES[name],
             "%.2f" % ratio(fastest, r["bound_s"])]
            + ["%.2f" % ratio(r[lib + "_s"], fastest) for lib in lib_cols])
    write_markdown_table(
        out / "ch06_benchmark_ratio.md",
        ["<i>n</i>", "fastest way", "fastest / bound"]
        + ["%s / fastest" % LIB_NAMES[lib] for lib in lib_cols], ratio_rows)
    # Two threads.
    header = ["<i>n</i>", "fast, 1 thread", "fast, 2 threads",
              "speed-up"]
    for lib in lib_cols:
        header += ["%s, 2 threads" % LIB_NAMES[lib],
                   "%s / fast (2 threads)" % LIB_NAMES[lib]]
    body = []
    for r in two_rows:
        if r["n"] > max_stored:
            continue  # fast alone: in the table beyond the stored ways
        line = ["%.0f" % r["n"]] + cells(r, ["fast_s", "fast2_s"]) \
            + ["%.2f" % ratio(r["fast_s"], r["fast2_s"])]
        for lib in lib_cols:
            x = r.get(lib + "2_s", NAN)
            line += (["%.3g" % x, "%.2f" % ratio(x, r["fast2_s"])]
                     if fin(x) else ["&ndash;", "&ndash;"])
        body.append(line)
    write_markdown_table(out / "ch06_benchmark_threads.md", header, body)
    # Memory, where the stored ways ran.
    write_markdown_table(
        out / "ch06_benchmark_memory.md",
        ["<i>n</i>", "<i>S</i> and <i>A</i> (model)", "BLAS", "tiled",
         "fast"] + [LIB_NAMES[lib] for lib in lib_cols],
        [["%.0f" % r["n"], "%.0f" % r["s_and_a_mib"]]
         + cells(r, ["blas_mib", "tiled_mib", "fast_mib"]
                 + [lib + "_mib" for lib in lib_cols], "%.3g")
         for r in stored_rows])
    # Beyond the stored ways: tiled and fast alone.
    if long_rows:
        write_markdown_table(
            out / "ch06_benchmark_long.md",
            ["<i>n</i>", "tiled (s)", "fast (s)", "fast, 2 threads (s)",
             "tiled (MiB)", "fast (MiB)",
             "<i>S</i> and <i>A</i> (model, MiB)"],
            [["%.0f" % r["n"]] + cells(r, ["tiled_s", "fast_s"])
             + cells(t, ["fast2_s"])
             + cells(r, ["tiled_mib", "fast_mib"], "%.3g")
             + ["%.0f" % r["s_and_a_mib"]]
             for r, t in zip(rows, two_rows) if r["n"] > max_stored])
    else:
        (out / "ch06_benchmark_long.md").write_text(
            "This run stopped at <i>n</i> = %.0f, so there is no row beyond "
            "the ways that store <i>S</i> and <i>A</i>; the full benchmark "
            "(*Run it*) goes on to <i>n</i> = 32768 with tiled and fast.\n"
            % rows[-1]["n"])
    # The levers, each on its own.
    lever_names = {"tiled": "tiled (<tt>std::exp</tt>, 128 &times; 256, "
                   "scale in the product)",
                   "tiled+vexp": "tiled + the vector exponential",
                   "tiled+tiles": "tiled + tiles from the cache",
                   "tiled-fused": "tiled &minus; the scale in the product "
                   "(a pass of its own)",
                   "fast": "fast (all levers)"}
    header = ["way"]
    for r in lever_rows:
        header += ["<i>n</i> = %.0f (s)" % r["n"], "tiled / way"]
    body = []
    for way in ("tiled",) + LEVERS + ("fast",):
        line = [lever_names[way]]
        for r in lever_rows:
            line += ["%.3g" % r[way], "%.2f" % ratio(r["tiled"], r[way])]
        body.append(line)
    write_markdown_table(out / "ch06_levers.md", header, body)


def target_rows(rows, libs, backward):
    """The targets of the chapter, each with its measurement and verdict."""
    out = []
    by_n = {r["n"]: r for r in rows}
    for n in (1024.0, 4096.0):
        r = by_n.get(n, {})
        fastest, name = fastest_way(r) if r else (NAN, None)
        for lib in LIBS:
            label = "<i>n</i> = %.0f: %s / fastest" % (n, LIB_NAMES[lib])
            if lib not in libs:
                out.append([label, "&ge; 1.5", "not installed",
                            "not measured: PyTorch is not installed"])
                continue
            x = ratio(r.get(lib + "_s", NAN), fastest)
            out.append([label, "&ge; 1.5", g3(x, "%.2f"),
                        verdict(x, 1.5, True)])
    r = by_n.get(4096.0, {})
    fastest, _ = fastest_way(r) if r else (NAN, None)
    x = ratio(fastest, r.get("bound_s", NAN))
    out.append(["<i>n</i> = 4096: fastest / bound", "&le; 1.5",
                g3(x, "%.2f"), verdict(x, 1.5, False)])
    r = by_n.get(32768.0)
    for label, key, value in (
            ("fast", "fast_mib", r.get("fast_mib", NAN) if r else NAN),
            ("backward", "", backward)):
        text = "<i>n</i> = 32768: %s, extra MiB" % label
        if fin(value):
            out.append([text, "&le; 64", "%.3g" % value,
                        verdict(value, 64.0, False)])
        else:
            out.append([text, "&le; 64", "not in this run",
                        "measured by the full benchmark only"])
    return out


def as_fast(x):
    """'2.31 times as fast' for a ratio of times (old / new)."""
    return "%.2f times as fast" % x


def sentence_list(items):
    return items[0] if len(items) == 1 else \
        ", ".join(items[:-1]) + " and " + items[-1]


def findings(out, rows, two_rows, lever_rows, libs, machine, rate):
    """The sentences that read this run's numbers, one file each."""
    by_n = {r["n"]: r for r in rows}
    lib_cols = [lib for lib in LIBS if lib in libs]
    # Speed against NumPy and PyTorch.
    parts = []
    for n in (1024.0, 4096.0):
        r = by_n.get(n)
        if not r:
            continue
        fastest, name = fastest_way(r)
        bits = ["%s %.3g s (%.2f times the fastest)"
                % (LIB_NAMES[lib], r[lib + "_s"],
                   ratio(r[lib + "_s"], fastest))
                for lib in lib_cols if fin(r.get(lib + "_s", NAN))]
        parts.append("at <i>n</i> = %.0f the fastest way, %s, took %.3g s, "
                     "%.2f times the matmul bound; %s"
                     % (n, WAY_NAMES[name], fastest,
                        ratio(fastest, r["bound_s"]), sentence_list(bits)))
    text = ("In this run, " + "; ".join(parts) + "." if parts else
            "This run did not reach <i>n</i> = 1024.")
    if "torch" not in libs:
        text += (" PyTorch is not installed on the machine that made this "
                 "page, so it has no column here; <tt>sh "
                 "code/tools/benchmark_ch06.sh</tt> installs it "
                 "(<tt>python3-torch</tt>) and measures it too.")
    (out / "ch06_findings_speed.md").write_text(text + "\n")

    # The levers.
    parts = []
    for r in lever_rows:
        gains = {way: ratio(r["tiled"], r[way]) for way in LEVERS + ("fast",)}
        parts.append(
            "at <i>n</i> = %.0f the vector exponential alone made tiled "
            "%s, the tiles from the cache made it %s, and taking the scale "
            "out of the product into a pass of its own made it %s; with "
            "all the levers, fast ran %s as tiled"
            % (r["n"], as_fast(gains["tiled+vexp"]),
               as_fast(gains["tiled+tiles"]), as_fast(gains["tiled-fused"]),
               as_fast(gains["fast"])))
    if parts:
        text = "In this run, " + "; ".join(parts) + "."
        best = {w: min(ratio(r["tiled"], r[w]) for r in lever_rows)
                for w in LEVERS[:2]}
        winner = max(best, key=best.get)
        text += (" The lever that did most at every size measured was %s."
                 % {"tiled+vexp": "the vector exponential",
                    "tiled+tiles": "the choice of tiles"}[winner])
    else:
        text = ("The levers are measured at <i>n</i> = 1024 and 4096, "
                "which this run did not reach.")
    (out / "ch06_findings_levers.md").write_text(text + "\n")

    # What an exponential costs.
    text = ("On the machine that made this page, one <tt>std::exp</tt> took "
            "%.3g ns, while the products of one score (%d multiply-adds at "
            "the matrix-multiply rate) took %.3g ns: a score's exponential "
            "cost %.2g times its share of the products. One exponential by "
            "Eq. (6.5) below, four lanes at a time%s, took %.3g ns, %.2g "
            "times less than <tt>std::exp</tt>; its largest difference from "
            "<tt>std::exp</tt> over [&minus;708, 0] was %.2g units in the "
            "last place."
            % (1e9 * machine["t_exp_s"], 2 * D, 1e9 * 2 * D / rate,
               machine["t_exp_s"] * rate / (2 * D),
               " with AVX2" if machine["avx2"] else " (this processor has "
               "no AVX2: the code for any x86-64 processor ran)",
               1e9 * machine["t_vexp_s"],
               machine["t_exp_s"] / machine["t_vexp_s"],
               machine["vexp_ulps"]))
    (out / "ch06_findings_exp.md").write_text(text + "\n")

    # Two threads.
    parts = []
    for r in two_rows:
        if r["n"] in (1024.0, 4096.0):
            bits = ["%s with two threads %.3g s" % (LIB_NAMES[lib],
                                                     r[lib + "2_s"])
                    for lib in lib_cols if fin(r.get(lib + "2_s", NAN))]
            parts.append("at <i>n</i> = %.0f fast took %.3g s on two "
                         "threads, %s as on one%s"
                         % (r["n"], r["fast2_s"],
                            as_fast(ratio(r["fast_s"], r["fast2_s"])),
                            ("; " + sentence_list(bits)) if bits else ""))
    text = ("In this run, " + "; ".join(parts) + "." if parts else
            "This run did not reach <i>n</i> = 1024.")
    (out / "ch06_findings_threads.md").write_text(text + "\n")

    # Memory.
    flat = [r for r in rows if fin(r.get("fast_mib", NAN))]
    top = max(flat, key=lambda r: r["fast_mib"])
    last = flat[-1]
    blas = [r for r in rows if fin(r.get("blas_mib", NAN))]
    text = ("The peak memory of fast beyond its inputs and output stayed at "
            "or under %.3g MiB for every <i>n</i> measured, up to "
            "<i>n</i> = %.0f (where <i>S</i> and <i>A</i> would take %.0f "
            "MiB); that of tiled at or under %.3g MiB."
            % (top["fast_mib"], last["n"], last["s_and_a_mib"],
               max(r["tiled_mib"] for r in flat)))
    if blas:
        b = blas[-1]
        text += (" BLAS's grew with <i>n</i>&sup2;, to %.0f MiB at <i>n</i> "
                 "= %.0f, %.2f times the %.0f MiB of <i>S</i> and <i>A</i>."
                 % (b["blas_mib"], b["n"], b["blas_mib"] / b["s_and_a_mib"],
                    b["s_and_a_mib"]))
    (out / "ch06_findings_memory.md").write_text(text + "\n")

    # First use of memory.
    fresh, again = machine["fresh_s_per_mib"], machine["again_s_per_mib"]
    r = by_n.get(4096.0) or rows[-1]
    blas_fresh = 4 * r["n"] * r["n"] * 8 / MIB * fresh
    text = ("On the machine that made this page, writing to newly allocated "
            "memory took %.3g ms per MiB and writing it again %.3g ms, %.0f "
            "times less. Four fresh %.0f &times; %.0f matrices of doubles "
            "(about what the BLAS way makes) would cost %.3g s in first "
            "writes alone, %.2f times the matmul bound at that <i>n</i>."
            % (1e3 * fresh, 1e3 * again, fresh / again, r["n"], r["n"],
               blas_fresh, blas_fresh / r["bound_s"]))
    (out / "ch06_findings_first_touch.md").write_text(text + "\n")


def write_backward(out, backward_rows):
    """The backward pass against the forward, and its memory."""
    write_markdown_table(
        out / "ch06_backward.md",
        ["<i>n</i>", "forward, tiled (s)", "forward, fast (s)",
         "backward (s)", "backward / tiled", "backward, extra MiB"],
        [["%.0f" % r["n"]] + cells(r, ["tiled_s", "fast_s", "backward_s"])
         + ["%.2f" % ratio(r["backward_s"], r["tiled_s"]),
            "%.3g" % r["backward_mib"]] for r in backward_rows])


def cache_counters():
    """What `perf stat` says of the processor's counters of cache misses:
    'supported', 'not supported', or 'not installed'."""
    if not shutil.which("perf"):
        return "not installed"
    done = subprocess.run(["perf", "stat", "-x,", "-e", "cache-misses",
                           "true"], capture_output=True, text=True)
    if done.returncode != 0 or "<not supported>" in done.stderr \
            or "<not counted>" in done.stderr:
        return "not supported"
    return "supported"


def write_io(out, io_rows):
    """The simulated bytes beside the models, and the sentences."""
    counters = cache_counters()
    text = {"not installed": "On the machine that made this page "
            "<tt>perf</tt> is not installed, so the processor's counters "
            "of cache misses were not read. ",
            "not supported": "On the machine that made this page "
            "<tt>perf stat -e cache-misses</tt> reports the counter as not "
            "supported (a virtual machine often hides it), so the bytes are "
            "simulated. ",
            "supported": "On the machine that made this page <tt>perf "
            "stat -e cache-misses</tt> can read the counter; the book still "
            "simulates, so that every machine shows the same kind of "
            "number. "}[counters]
    (out / "ch06_findings_counters.md").write_text(text + "\n")
    if io_rows in (None, "skipped"):
        (out / "ch06_io.md").write_text(
            "This run skipped the simulation (<tt>--no-io</tt>).\n"
            if io_rows == "skipped" else
            "valgrind is not installed on the machine that made this page, "
            "so the simulation did not run; <tt>sh code/tools/build_book.sh"
            "</tt> installs it.\n")
        (out / "ch06_findings_io.md").write_text("\n")
        return
    write_markdown_table(
        out / "ch06_io.md",
        ["cache (KiB)", "<i>n</i>", "stored, Eq. 6.8", "BLAS, simulated",
         "tiled, Eq. 6.9", "tiled, simulated", "tile fits"],
        [["%.0f" % r["cache_kib"], "%.0f" % r["n"]]
         + cells(r, ["blas_model_mib", "blas_mib", "tiled_model_mib",
                     "tiled_mib"])
         + ["yes" if r["tile_kib"] <= r["cache_kib"] else "no"]
         for r in io_rows])
    parts = []
    for r in io_rows:
        if r["tile_kib"] <= r["cache_kib"] and r["n"] == max(
                x["n"] for x in io_rows):
            parts.append(
                "with a simulated cache of %.0f KiB at <i>n</i> = %.0f, the "
                "BLAS way moved %.3g MiB, %.2f times Eq. 6.8's count, and "
                "tiled %.3g MiB, %.2f times Eq. 6.9's and %.2f times fewer "
                "than BLAS"
                % (r["cache_kib"], r["n"], r["blas_mib"],
                   ratio(r["blas_mib"], r["blas_model_mib"]), r["tiled_mib"],
                   ratio(r["tiled_mib"], r["tiled_model_mib"]),
                   ratio(r["blas_mib"], r["tiled_mib"])))
    (out / "ch06_findings_io.md").write_text(
        ("In this run, " + "; ".join(parts) + "." if parts else "") + "\n")


def write_report(out, full, max_n, rows, two_rows, lever_rows, libs,
                 machine, rates, stamp, backward_rows, io_rows):
    rate = max(rates)
    for r in rows:
        r["bound_s"] = r["n"] * r["n"] * 2 * D / r["rate"]     # Eq. 6.1
        r["s_and_a_mib"] = 2.0 * 8.0 * r["n"] * r["n"] / MIB
    write_columns(out / "ch06_bench.dat", BENCH_COLUMNS, rows)
    max_stored = limits(full, max_n)["blas"]
    write_tables(out, rows, two_rows, lever_rows, libs, max_stored)
    write_backward(out, backward_rows)
    write_io(out, io_rows)
    backward = NAN
    for r in backward_rows:
        if r["n"] == 32768:
            backward = r["backward_mib"]
    write_markdown_table(out / "ch06_targets.md",
                         ["target", "wanted", "measured", "verdict"],
                         target_rows(rows, libs, backward))
    findings(out, rows, two_rows, lever_rows, libs, machine, rate)
    versions = " and ".join(libs[lib] for lib in LIBS if lib in libs)
    source = (
        "These numbers come from the %s, measured %s: <i>n</i> = 256 to "
        "%.0f, the library's ways, %s side by side, each contender at each "
        "<i>n</i> in a process of its own, taking turns; each timed as "
        "<tt>best_of</tt> above with a budget of %.3g s (a warm-up, then at "
        "least five runs); wall-clock seconds. The matrix-multiply rate "
        "<i>R</i> was measured before and after each <i>n</i>'s turns, and "
        "that <i>n</i>'s bound uses the larger of the two; over the sweep "
        "it ranged from %.2f to %.2f G multiply-adds per second, which is "
        "how much the speed of this machine moved while it was measured."
        % ("full benchmark (<tt>sh code/tools/benchmark_ch06.sh</tt>)"
           if full else "short run made by the build",
           stamp["when"], rows[-1]["n"], versions, stamp["budget"],
           min(r["rate"] for r in rows) / 1e9,
           max(r["rate"] for r in rows) / 1e9))
    if not full:
        source += (" The full benchmark goes on to <i>n</i> = 32768, runs "
                   "NumPy and PyTorch up to 8192, and times with a budget "
                   "of 1 s; it regenerates this page from its numbers.")
    (out / "ch06_bench_source.md").write_text(source + "\n")


# ------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--program", required=True, type=pathlib.Path,
                        help="the built ch06_scale")
    parser.add_argument("--out", required=True, type=pathlib.Path,
                        help="folder of the chapter's generated files")
    parser.add_argument("--log", type=pathlib.Path,
                        help="write what would be printed into this file "
                        "instead (only when the run succeeds)")
    parser.add_argument("--full", action="store_true",
                        help="the full benchmark, n up to --max-n; minutes")
    parser.add_argument("--max-n", type=int,
                        help="largest n: 256 to 4096 for the short run "
                        "(default 4096; the sanitizer build runs 512), "
                        "4096 to 65536 for the full one (default 32768)")
    parser.add_argument("--no-io", action="store_true",
                        help="skip the cache simulation (the sanitizer "
                        "build, whose program valgrind cannot run)")
    args = parser.parse_args()
    max_n = args.max_n or (32768 if args.full else 4096)
    low, high = (4096, 65536) if args.full else (256, 4096)
    if not low <= max_n <= high:
        parser.error("--max-n must be from %d to %d%s, got %d"
                     % (low, high, " with --full" if args.full else "",
                        max_n))
    args.out.mkdir(parents=True, exist_ok=True)
    budget = 1.0 if args.full else 0.2
    log = Log(echo=args.log is None)
    bench = Bench(args.program.resolve(), budget)

    # The demonstrations, this machine's rates and the decoding steps.
    log.say(run([args.program, "--out", args.out]
                + (["--benchmark", "--max-n", max_n] if args.full else [])
                ).rstrip("\n"))
    (machine,) = read_columns(args.out / "ch06_machine.dat")
    libs = installed_libs()

    # The sweep, between two measurements of the rate.
    rate_before = bench.rate()
    rows, two_rows, lever_rows, backward_rows = sweep(bench, libs, args.full,
                                                      max_n)
    rate_after = bench.rate()
    io_rows = "skipped" if args.no_io else simulate_io(
        args.program.resolve(), args.full)
    stamp = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "budget": budget}
    write_report(args.out, args.full, max_n, rows, two_rows, lever_rows,
                 libs, machine, (rate_before, rate_after), stamp,
                 backward_rows, io_rows)

    log.say()
    log.say("Side by side, one thread, seconds (a warm-up, then the best "
            "of\nat least five runs):")
    log.say(plain_table(args.out / "ch06_benchmark_time.md"))
    log.say(plain_table(args.out / "ch06_benchmark_ratio.md"))
    log.say("Targets:")
    for target, wanted, measured, verdict_text in markdown_rows(
            args.out / "ch06_targets.md")[1:]:
        if measured[0].isdigit():
            log.say("  %s = %s (%s): %s"
                    % (target, measured, wanted, verdict_text.strip("*")))
        else:
            log.say("  %s: %s" % (target, verdict_text))

    # The decoding steps, with Eq. 6.10 turned into seconds at that rate.
    steps = read_columns(args.out / "ch06_kv_steps.dat")
    for s in steps:
        s["cached_model_s"] = s["cached_madds"] / max(rate_before, rate_after)
        s["uncached_model_s"] = s["uncached_madds"] / max(rate_before,
                                                          rate_after)
    write_columns(args.out / "ch06_kv_plot.dat", KV_COLUMNS, steps)
    last = steps[-1]
    (args.out / "ch06_findings_kv.md").write_text(
        "In this run, at <i>t</i> = %.0f one step without the cache took "
        "%.3g s, %.2f times what the model gives at the matrix-multiply "
        "rate, and with the cache %.3g s, %.2f times its model; the cache "
        "made the step %.0f times faster, where the model says %.0f.\n"
        % (last["t"], last["uncached_s"],
           ratio(last["uncached_s"], last["uncached_model_s"]),
           last["cached_s"], ratio(last["cached_s"], last["cached_model_s"]),
           ratio(last["uncached_s"], last["cached_s"]),
           ratio(last["uncached_madds"], last["cached_madds"])))
    if args.log:
        args.log.write_text(log.text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

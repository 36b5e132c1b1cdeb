#!/usr/bin/env python3
"""Chapter 6's benchmark driver and report: time and peak memory of the
library's four ways of attention against n (d = 64, double, one thread),
merged with NumPy and PyTorch, into the data of Figures 6.1 to 6.3 and the
chapter's tables and sentences.

    /usr/bin/python3 code/tools/report_ch06.py --program build/ch06_scale \
        --out build/book/gen [--log build/book/gen/ch06_scale.txt]
        [--full [--max-n 32768]]

It runs the program once with --out (the demonstrations, this machine's
rates and the decoding steps), then times each way at n = 256, 512, ...
with `ch06_scale --measure WAY:N`, one process per point, and the
matrix-multiply rate again with `--measure matmul:1024`; the better of the
two rates sets the bound.

The short run (the build's, n up to 2048) writes ch06_bench_cpp.dat and
then the report. --full (code/tools/benchmark_ch06.sh) measures up to
--max-n and writes ch06_bench_full_cpp.dat and ch06_bench_full_stamp.txt;
the next short run reports those instead, with the NumPy and PyTorch
numbers of code/tools/bench_ch06_python.py (ch06_bench_python.dat).

Files written into --out for the chapter: ch06_bench.dat (Figures 6.1 and
6.2), ch06_kv_plot.dat (Figure 6.3), ch06_benchmark_time.md,
ch06_benchmark_ratio.md, ch06_benchmark_memory.md, ch06_targets.md,
ch06_bench_source.md, ch06_outliers.md; --log keeps everything printed
(the program's output first) for the chapter's "Run it".
"""
import argparse
import math
import os
import pathlib
import shutil
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

WAYS = ("loops", "xtensor", "blas", "tiled")
D = 64          # d_k = d_v of the benchmark
MIB = 1024.0 * 1024.0
SHORT_MAX_N = 2048
NAN = math.nan

# The C++ side's measurements, one row per n.
CPP_COLUMNS = ("n", "loops_s", "xtensor_s", "blas_s", "tiled_s", "bound_s",
               "loops_mib", "xtensor_mib", "blas_mib", "tiled_mib", "exp_s")
# ch06_bench.dat, which figures/ch06_time.gp and ch06_memory.gp plot.
BENCH_COLUMNS = ("n", "loops_s", "xtensor_s", "blas_s", "tiled_s",
                 "numpy_s", "torch_s", "bound_s", "loops_mib", "xtensor_mib",
                 "blas_mib", "tiled_mib", "numpy_mib", "torch_mib",
                 "s_and_a_mib", "exp_s")
# ch06_kv.dat and ch06_kv_plot.dat, which figures/ch06_kv_cache.gp plots.
KV_COLUMNS = ("t", "cached_s", "uncached_s", "cached_model_s",
              "uncached_model_s")


# ------------------------------------------------------------ files

def read_columns(path):
    """A file of columns under a '# name name ...' line: its names and its
    rows, each a dict from name to number."""
    names, rows = [], []
    with open(path) as f:
        for line in f:
            words = line.split()
            if line.startswith("#"):
                if not names:
                    names = line[1:].split()
                continue
            if words:
                rows.append({name: float(word)
                             for name, word in zip(names, words)})
    return names, rows


def write_columns(path, names, rows):
    """The format gnuplot reads: '# name name ...', then one row a line."""
    with open(path, "w") as f:
        f.write("# " + " ".join(names) + "\n")
        for row in rows:
            f.write(" ".join("%.10g" % row[name] for name in names) + "\n")


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


def first_line(path):
    with open(path) as f:
        return f.readline().rstrip("\n")


def cell(x, form="%.3g"):
    return form % x if math.isfinite(x) else "&ndash;"


def ratio(a, b):
    return a / b if math.isfinite(a) and math.isfinite(b) and b else NAN


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


def run_program(program, arguments):
    """Runs the chapter program; on failure, shows what it said and stops
    with its exit status."""
    run = subprocess.run([str(program)] + arguments, capture_output=True,
                         text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stdout + run.stderr)
        sys.exit("%s %s failed (exit status %d)"
                 % (program, " ".join(arguments), run.returncode))
    return run.stdout


def measure(program, way, n):
    """`program --measure way:n`: best CPU seconds, peak bytes."""
    seconds, peak = run_program(program, ["--measure", "%s:%d" % (way, n)]
                                ).split()
    return float(seconds), float(peak)


def way_limit(way, full):
    """How far each way is run: the stored ways need 8 n^2 bytes per
    matrix."""
    if way in ("loops", "xtensor"):
        return 1024 if full else 512
    if way == "blas":
        return 8192 if full else 2048
    return 32768 if full else 2048


def sweep(program, full, max_n):
    """The four ways at n = 256, 512, ... up to max_n, a process per point:
    one row per n with each way's seconds and peak MiB (NaN = not run)."""
    rows = []
    n = 256
    while n <= max_n:
        row = {"n": float(n)}
        for way in WAYS:
            seconds, peak = NAN, NAN
            if n <= way_limit(way, full):
                seconds, peak = measure(program, way, n)
            row[way + "_s"] = seconds
            row[way + "_mib"] = peak / MIB
        rows.append(row)
        if full:
            print("  measured n = %d" % n, file=sys.stderr, flush=True)
        n *= 2
    return rows


def print_sweep(log, rows):
    def g(x, form="%.3g"):
        return form % x if math.isfinite(x) else "-"
    log.say("CPU seconds and peak memory beyond inputs and output (MiB), "
            "d = 64,\none thread (- = not run at this n):")
    log.say("       n     loops   xtensor      blas     tiled     bound"
            " | blas MiB tiled MiB")
    for r in rows:
        log.say("  %6.0f  %8s  %8s  %8s  %8s  %8s | %8s %9s"
                % (r["n"], g(r["loops_s"]), g(r["xtensor_s"]), g(r["blas_s"]),
                   g(r["tiled_s"]), g(r["bound_s"]), g(r["blas_mib"], "%.4g"),
                   g(r["tiled_mib"], "%.4g")))


def gemm_rate(program):
    """The matrix-multiply rate R, multiply-adds per CPU second."""
    seconds, _ = measure(program, "matmul", 1024)
    return 1024.0 ** 3 / seconds


# ------------------------------------------------- the book's report

# [ch06-report]
# The verdict on one target. On this shared machine the matrix-multiply
# rate can differ by several percent between runs (by about 10 % in some),
# and the ratio to the bound by more from one n to the next: a measurement
# within 10 % of the wanted value is reported as within noise, whichever
# side it falls on.
def verdict(measured, wanted, at_least):
    if not math.isfinite(measured):
        return "not measured"
    ok = measured >= wanted if at_least else measured <= wanted
    if abs(measured - wanted) < 0.1 * wanted:
        return "met, within noise (10 %)" if ok else \
            "missed, within noise (10 %)"
    return "met" if ok else "**missed**"
# [ch06-report]


def fastest_way(row):
    """The library's fastest way at this n: (seconds, name)."""
    best, name = NAN, "&ndash;"
    for way in WAYS:
        seconds = row[way + "_s"]
        if math.isfinite(seconds) and not seconds >= best:
            best, name = seconds, way
    return best, name


def merge(cpp_rows, python_rows):
    """ch06_bench.dat's rows: the C++ measurements, NumPy's and PyTorch's
    at the same n (NaN where there are none), and the model's S and A."""
    python = {row["n"]: row for row in python_rows}
    merged = []
    for c in cpp_rows:
        p = python.get(c["n"], {})
        row = dict(c)
        for name in ("numpy_s", "torch_s", "numpy_mib", "torch_mib"):
            row[name] = p.get(name, NAN)
        row["s_and_a_mib"] = 2.0 * 8.0 * c["n"] * c["n"] / MIB
        merged.append(row)
    return merged


def target_rows(merged):
    rows = []
    for r in merged:
        n = r["n"]
        fastest, _ = fastest_way(r)
        if n in (1024, 4096):
            for library, column in (("NumPy", "numpy_s"),
                                    ("PyTorch", "torch_s")):
                x = ratio(r[column], fastest)
                rows.append(["<i>n</i> = %.0f: %s time / fastest"
                             % (n, library), "&ge; 1.5", cell(x, "%.2f"),
                             verdict(x, 1.5, True)])
            x = ratio(fastest, r["bound_s"])
            rows.append(["<i>n</i> = %.0f: fastest / matmul bound" % n,
                         "&le; 2", cell(x, "%.2f"), verdict(x, 2.0, False)])
        if n == 32768:
            rows.append(["<i>n</i> = 32768: tiled peak memory beyond inputs "
                         "and output (MiB)", "&lt; 64",
                         cell(r["tiled_mib"], "%.3g"),
                         verdict(r["tiled_mib"], 64.0, False)])
    if len(rows) < 7:
        rows.append(["<i>n</i> = 4096 and 32768", "", "",
                     "not measured in this short run"])
    return rows


def outliers(merged, python):
    """The sentence on NumPy's and PyTorch's irregular points: a time over
    the bound below half of that library's median time over the bound."""
    if not python:
        return "NumPy and PyTorch were not measured in this run."
    odd = []
    for library, column in (("NumPy", "numpy_s"), ("PyTorch", "torch_s")):
        over = [ratio(r[column], r["bound_s"]) for r in merged]
        finite = sorted(x for x in over if math.isfinite(x))
        if not finite:
            continue
        median = finite[len(finite) // 2]
        for r, x in zip(merged, over):
            if math.isfinite(x) and x < 0.5 * median:
                odd.append("%s at <i>n</i> = %.0f (time / bound %.2f, "
                           "median %.2f)" % (library, r["n"], x, median))
    if not odd:
        return ("No NumPy or PyTorch time is below half of that library's "
                "median time over the bound.")
    return ("Points below half of their library's median time over the "
            "bound: " + "; ".join(odd) + ".")


def write_report(out, stamp, log):
    """Merges the C++ and (in a full run) the Python measurements into the
    data behind the chapter's figures and tables: the full benchmark's when
    it has been run into out, else this run's short one (stamp: when and
    how it was measured)."""
    full_cpp = out / "ch06_bench_full_cpp.dat"
    # A full run's file from an older version lacks columns this version
    # writes: it is ignored, not shown half empty.
    full = False
    if full_cpp.exists():
        names, cpp_rows = read_columns(full_cpp)
        missing = [c for c in CPP_COLUMNS if c not in names]
        full = not missing
        if missing:
            log.say("Note: %s has no column(s) %s: an older version wrote "
                    "it, so the short run is shown instead. Run sh "
                    "code/tools/benchmark_ch06.sh again."
                    % (full_cpp, " ".join(missing)))
    if not full:
        _, cpp_rows = read_columns(out / "ch06_bench_cpp.dat")
    py_file = out / "ch06_bench_python.dat"
    python = full and py_file.exists()
    merged = merge(cpp_rows, read_columns(py_file)[1] if python else [])
    write_columns(out / "ch06_bench.dat", BENCH_COLUMNS, merged)

    time_rows, ratio_rows, memory_rows = [], [], []
    for r in merged:
        fastest, name = fastest_way(r)
        n = cell(r["n"], "%.0f")
        time_rows.append([n] + [cell(r[c]) for c in (
            "loops_s", "xtensor_s", "blas_s", "tiled_s", "numpy_s",
            "torch_s", "bound_s")])
        ratio_rows.append([
            n, name, cell(ratio(fastest, r["bound_s"]), "%.2f"),
            cell(1.0 + ratio(r["exp_s"], r["bound_s"]), "%.2f"),
            cell(ratio(r["numpy_s"], fastest), "%.2f"),
            cell(ratio(r["torch_s"], fastest), "%.2f")])
        memory_rows.append([
            n, cell(r["s_and_a_mib"], "%.0f"), cell(r["loops_mib"]),
            cell(r["xtensor_mib"]), cell(r["blas_mib"], "%.4g"),
            cell(r["tiled_mib"]), cell(r["numpy_mib"], "%.4g"),
            cell(r["torch_mib"], "%.4g")])
    write_markdown_table(
        out / "ch06_benchmark_time.md",
        ["<i>n</i>", "loops", "xtensor", "BLAS", "tiled", "NumPy", "PyTorch",
         "matmul bound"], time_rows)
    write_markdown_table(
        out / "ch06_benchmark_ratio.md",
        ["<i>n</i>", "fastest", "fastest / bound",
         "1 + <i>t</i><sub>exp</sub> <i>R</i> / (<i>d</i><sub>k</sub> + "
         "<i>d</i><sub>v</sub>)", "NumPy / fastest", "PyTorch / fastest"],
        ratio_rows)
    write_markdown_table(
        out / "ch06_benchmark_memory.md",
        ["<i>n</i>", "<i>S</i> and <i>A</i> (model)", "loops", "xtensor",
         "BLAS", "tiled", "NumPy", "PyTorch"], memory_rows)
    write_markdown_table(out / "ch06_targets.md",
                         ["target", "wanted", "measured", "verdict"],
                         target_rows(merged))

    # Where the numbers come from, for the sentence above the tables.
    if full:
        source = ("These numbers come from the full benchmark, %s. "
                  % first_line(out / "ch06_bench_full_stamp.txt"))
        source += ("NumPy and PyTorch: %s."
                   % first_line(out / "ch06_bench_python_stamp.txt")
                   if python else
                   "NumPy and PyTorch were not measured in that run.")
    else:
        source = ("These numbers come from the short run made by the build "
                  "(<i>n</i> up to 2048, the library only), " + stamp
                  + ". Run <tt>sh code/tools/benchmark_ch06.sh</tt> for the "
                  "full benchmark up to <i>n</i> = 32768 with NumPy and "
                  "PyTorch beside it; this page is then regenerated from its "
                  "output.")
    (out / "ch06_bench_source.md").write_text(source + "\n")
    (out / "ch06_outliers.md").write_text(outliers(merged, python) + "\n")

    # The decoding measurements: the full run's if there is one.
    kv_full = out / "ch06_kv_full.dat"
    shutil.copyfile(kv_full if full and kv_full.exists()
                    else out / "ch06_kv.dat", out / "ch06_kv_plot.dat")


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
    parser.add_argument("--max-n", type=int, default=32768,
                        help="largest n of the full benchmark "
                        "(default 32768)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    max_n = args.max_n if args.full else SHORT_MAX_N
    log = Log(echo=args.log is None)

    # The demonstrations, this machine's rates and the decoding steps.
    log.say(run_program(args.program, ["--out", str(args.out)]
                        + (["--benchmark", "--max-n", str(max_n)]
                           if args.full else [])).rstrip("\n"))
    _, (machine,) = read_columns(args.out / "ch06_machine.dat")

    # The sweep, then the rate again: the machine is shared, so the better
    # of the two rates sets the bound.
    rows = sweep(args.program, args.full, max_n)
    rate_before, rate_after = machine["rate"], gemm_rate(args.program)
    rate = max(rate_before, rate_after)
    for r in rows:
        r["bound_s"] = r["n"] * r["n"] * 2 * D / rate         # Eq. 6.1
        r["exp_s"] = r["n"] * r["n"] * machine["t_exp_s"]
    log.say()
    print_sweep(log, rows)
    log.say("Matrix-multiply rate R measured again after the timings:\n  "
            "%.2f G multiply-adds per CPU second (the bound uses the larger)"
            % (rate_after / 1e9))
    suffix = "_full" if args.full else ""
    write_columns(args.out / ("ch06_bench%s_cpp.dat" % suffix), CPP_COLUMNS,
                  rows)

    # The decoding steps, with Eq. 6.5 turned into seconds at that rate.
    _, steps = read_columns(args.out / "ch06_kv_steps.dat")
    for s in steps:
        s["cached_model_s"] = s["cached_madds"] / rate
        s["uncached_model_s"] = s["uncached_madds"] / rate
    write_columns(args.out / ("ch06_kv%s.dat" % suffix), KV_COLUMNS, steps)

    stamp = ("measured %s in CPU seconds, one thread; matrix-multiply rate "
             "%.2f G multiply-adds per CPU second before the timings and "
             "%.2f after (the bound uses the larger); one <tt>std::exp</tt> "
             "%.3g ns; writing to newly allocated memory took %.3g ms per "
             "MiB, writing it again %.3g ms per MiB"
             % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                rate_before / 1e9, rate_after / 1e9,
                1e9 * machine["t_exp_s"], 1e3 * machine["fresh_s_per_mib"],
                1e3 * machine["again_s_per_mib"]))
    if args.full:
        (args.out / "ch06_bench_full_stamp.txt").write_text(stamp + "\n")
    else:
        write_report(args.out, stamp, log)
    if args.log:
        args.log.write_text(log.text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

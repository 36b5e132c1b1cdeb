#!/usr/bin/env python3
"""NumPy and PyTorch attention on the CPU, timed the way ch06_scale times
the library: d = 64, float64, one thread, each configuration in a process
of its own, best CPU time (time.process_time) of up to five runs (until
0.2 s have passed), and the peak resident memory beyond inputs and output.

    OPENBLAS_NUM_THREADS=1 python3 code/tools/bench_ch06_python.py \
        --out build/book/gen [--max-n 8192]

Writes ch06_bench_python.dat (n, numpy_s, numpy_mib, torch_s, torch_mib)
and ch06_bench_python_stamp.txt. PyTorch 1.13 (Debian 12) has no
scaled_dot_product_attention (it came with 2.0), so its attention is
torch.softmax(q @ k.T / sqrt(d), dim=-1) @ v, with PyTorch's fused row
softmax.
"""
import argparse
import math
import os
import pathlib
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
D = 64
MIB = 1024.0 * 1024.0
# The columns of ch06_bench_python.dat, which code/tools/report_ch06.py
# reads by these names.
COLUMNS = ("n", "numpy_s", "numpy_mib", "torch_s", "torch_mib")


def status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def measure(lib, n):
    """Prints the best time and the peak bytes beyond inputs and output."""
    import numpy as np
    rng = np.random.default_rng(n)
    q, k, v = (rng.standard_normal((n, D)) for _ in range(3))
    if lib == "numpy":
        def attention():
            s = q @ k.T / math.sqrt(D)                  # (n, n)
            e = np.exp(s - s.max(axis=1, keepdims=True))
            return (e / e.sum(axis=1, keepdims=True)) @ v
        q @ q.T[:, :8]                                  # OpenBLAS's buffers
    else:
        import torch
        torch.set_num_threads(1)
        q, k, v = (torch.from_numpy(x) for x in (q, k, v))

        def attention():
            with torch.no_grad():
                return torch.softmax(q @ k.T / math.sqrt(D), dim=-1) @ v
        q @ q.T[:, :8]
    rss_before = status_kib("VmRSS")
    reset_peak()
    best, total = math.inf, 0.0
    for _ in range(5):
        start = time.process_time()
        y = attention()
        seconds = time.process_time() - start
        del y
        best, total = min(best, seconds), total + seconds
        if total >= 0.2:
            break
    peak = 1024.0 * (status_kib("VmHWM") - rss_before) - 8.0 * n * D
    print("%.6g %.6g" % (best, peak))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.
                                     RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path,
                        help="folder for ch06_bench_python.dat")
    parser.add_argument("--max-n", type=int, default=8192,
                        help="largest n (they store n x n matrices)")
    parser.add_argument("--measure", help="internal: LIB:N in this process")
    args = parser.parse_args()
    if args.measure:
        lib, n = args.measure.split(":")
        measure(lib, int(n))
        return 0
    if args.out is None:
        parser.error("--out is required")
    import numpy
    libs = {"numpy": "NumPy " + numpy.__version__}
    try:
        import torch
        libs["torch"] = "PyTorch " + torch.__version__.split("+")[0]
    except ImportError:
        print("PyTorch is not installed (apt-get install python3-torch): "
              "its columns stay empty")
    rows = []
    print("       n  NumPy (s)  PyTorch (s)  NumPy MiB  PyTorch MiB")
    n = 256
    while n <= args.max_n:
        row = {"n": n}
        for lib in ("numpy", "torch"):
            seconds, peak = math.nan, math.nan
            if lib in libs:
                run = subprocess.run([sys.executable, __file__, "--measure",
                                      "%s:%d" % (lib, n)], check=True,
                                     capture_output=True, text=True)
                seconds, peak = (float(x) for x in run.stdout.split())
            row[lib + "_s"], row[lib + "_mib"] = seconds, peak / MIB
        rows.append(row)
        print("  %6d  %9.3g  %11.3g  %9.4g  %11.4g"
              % (n, row["numpy_s"], row["torch_s"], row["numpy_mib"],
                 row["torch_mib"]), flush=True)
        n *= 2
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "ch06_bench_python.dat", "w") as f:
        f.write("# " + " ".join(COLUMNS) + "\n")
        for row in rows:
            f.write(" ".join("%.10g" % row[c] for c in COLUMNS) + "\n")
    with open(args.out / "ch06_bench_python_stamp.txt", "w") as f:
        f.write("%s, measured %s, one thread\n" % (
            " and ".join(libs.values()),
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

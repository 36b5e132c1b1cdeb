#!/usr/bin/env python3
"""NumPy's and PyTorch's attention on the CPU, one configuration per
process, timed exactly as `ch06_scale --measure` times the library's ways
(its best_of): one warm-up run, then at least five timed runs, more while
they add up to less than the budget (at most 1000), and the best wall-clock
time; d = 64, float64. Prints the best seconds and the peak resident memory
beyond inputs and output, in bytes.

    /usr/bin/python3 code/tools/bench_ch06_python.py --measure numpy:1024 \
        [--threads T] [--budget S]
    /usr/bin/python3 code/tools/bench_ch06_python.py --versions

NumPy computes softmax(q k^T / 8) v with the row maximum subtracted, in
array operations with OpenBLAS products. PyTorch 1.13 (Debian 12) has no
scaled_dot_product_attention (it came with 2.0), so its attention is
torch.softmax(q @ k.T / 8, dim=-1) @ v, with PyTorch's fused row softmax.
--threads sets OPENBLAS_NUM_THREADS (and torch.set_num_threads) before
either library is loaded. code/tools/report_ch06.py runs this script.
"""
import argparse
import math
import os
import sys
import time

D = 64


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


def best_of(run, budget):
    """ch06_scale's best_of: a warm-up, then at least five runs, more while
    they add up to less than budget seconds; the best."""
    run()
    best, total, reps = math.inf, 0.0, 0
    while reps < 1000 and (reps < 5 or total < budget):
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        best, total, reps = min(best, seconds), total + seconds, reps + 1
    return best


def measure(lib, n, threads, budget):
    """Prints the best seconds and the peak bytes beyond inputs and
    output."""
    import numpy as np
    rng = np.random.default_rng(n)
    q, k, v = (rng.standard_normal((n, D)) for _ in range(3))
    if lib == "numpy":
        def attention():
            s = q @ k.T / math.sqrt(D)                  # (n, n)
            e = np.exp(s - s.max(axis=1, keepdims=True))
            return (e / e.sum(axis=1, keepdims=True)) @ v
        q.T @ q                                         # OpenBLAS's buffers
    else:
        import torch
        torch.set_num_threads(threads)
        q, k, v = (torch.from_numpy(x) for x in (q, k, v))

        def attention():
            with torch.no_grad():
                return torch.softmax(q @ k.T / math.sqrt(D), dim=-1) @ v
        q.T @ q
    rss_before = status_kib("VmRSS")
    reset_peak()
    seconds = best_of(attention, budget)
    peak = 1024.0 * (status_kib("VmHWM") - rss_before) - 8.0 * n * D
    print("%.6g %.6g" % (seconds, peak))


def versions():
    """One line per library: its name and version, or 'missing'."""
    import numpy
    print("numpy NumPy %s" % numpy.__version__)
    try:
        import torch
        print("torch PyTorch %s" % torch.__version__.split("+")[0])
    except ImportError:
        print("torch missing")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", metavar="LIB:N",
                        help="numpy:N or torch:N, in this process")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads the library may use (default 1)")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="time more runs while they add up to less "
                        "than this many seconds (default 1)")
    parser.add_argument("--versions", action="store_true",
                        help="print which libraries are installed")
    args = parser.parse_args()
    if args.versions:
        versions()
        return 0
    if not args.measure or ":" not in args.measure:
        parser.error("--measure LIB:N or --versions is required")
    lib, n = args.measure.split(":", 1)
    if lib not in ("numpy", "torch") or not n.isdigit() or int(n) < 1:
        parser.error("--measure expects numpy:N or torch:N, got "
                     + args.measure)
    if not 1 <= args.threads <= 64 or not 0 <= args.budget <= 60:
        parser.error("--threads must be 1 to 64 and --budget 0 to 60")
    # Before NumPy or PyTorch loads OpenBLAS, which reads them once.
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    measure(lib, int(n), args.threads, args.budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())

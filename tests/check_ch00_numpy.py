#!/usr/bin/env python3
"""Checks a chapter program against NumPy: make random inputs, save them as
.npy, run the program with --load and --save, and compare what it wrote with
NumPy's own computation of the chapter's equations.

    python3 tests/check_ch00_numpy.py --bin-dir build
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np


def softmax_rows(s):
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def check_ch00(bin_dir, work):
    rng = np.random.default_rng(2024)
    Q = rng.standard_normal((5, 8))    # (n_q, d_k)
    K = rng.standard_normal((7, 8))    # (n_k, d_k)
    V = rng.standard_normal((7, 3))    # (n_k, d_v)
    for name, array in {"Q": Q, "K": K, "V": V}.items():
        np.save(work / (name + ".npy"), array)
    subprocess.run([str(bin_dir / "ch00_introduction"), "--load", str(work),
                    "--save", str(work)], check=True, capture_output=True)
    S = Q @ K.T / np.sqrt(Q.shape[1])  # Eq. (0.2)
    A = softmax_rows(S)
    Y = A @ V
    return {name: np.max(np.abs(np.load(work / (name + ".npy")) - expected))
            for name, expected in {"S": S, "A": A, "Y": Y}.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin-dir", required=True,
                        type=lambda p: pathlib.Path(p).resolve(),
                        help="the build folder holding the chapter programs")
    args = parser.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, diffs in {"ch00_introduction": check_ch00(
                args.bin_dir, pathlib.Path(tmp))}.items():
            for symbol, diff in diffs.items():
                print("%s: largest |%s - NumPy| = %.3g" % (name, symbol, diff))
                worst = max(worst, diff)
    if worst > 1e-12:
        print("FAILED: a difference above 1e-12")
        return 1
    print("all agree with NumPy to 1e-12")
    return 0


if __name__ == "__main__":
    sys.exit(main())

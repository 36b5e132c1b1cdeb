#!/usr/bin/env python3
"""Checks a chapter program against NumPy: make random inputs, save them as
.npy, run the program with --load and --save, and compare what it wrote with
NumPy's own computation of the chapter's equations.

    python3 tests/check_ch00_numpy.py --program build/ch00_introduction
"""
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

from numpy_reference import program_argument, softmax_rows_np




def check_ch00(program, work):
    rng = np.random.default_rng(2024)
    Q = rng.standard_normal((5, 8))    # (n_q, d_k)
    K = rng.standard_normal((7, 8))    # (n_k, d_k)
    V = rng.standard_normal((7, 3))    # (n_k, d_v)
    for name, array in {"Q": Q, "K": K, "V": V}.items():
        np.save(work / (name + ".npy"), array)
    subprocess.run([str(program), "--load", str(work),
                    "--save", str(work)], check=True, capture_output=True)
    S = Q @ K.T / np.sqrt(Q.shape[1])  # Eq. (0.2)
    A = softmax_rows_np(S)
    Y = A @ V
    return {name: np.max(np.abs(np.load(work / (name + ".npy")) - expected))
            for name, expected in {"S": S, "A": A, "Y": Y}.items()}


def main():
    args = program_argument(__doc__).parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, diffs in {"ch00_introduction": check_ch00(
                args.program, pathlib.Path(tmp))}.items():
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

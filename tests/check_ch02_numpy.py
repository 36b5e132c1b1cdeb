#!/usr/bin/env python3
"""Checks ch02_self_attention against NumPy, and its answers to bad input.

    python3 tests/check_ch02_numpy.py --program build/ch02_self_attention

1. Random X, W_q, W_k, W_v are saved as .npy; the program is run with
   --load and --save; the six arrays it writes (Q, K, V, S, A, Y) are
   compared with NumPy's own Eqs. (2.1)-(2.4).
2. Permuting the rows of X permutes the rows of the program's Y (Eq. 2.8).
3. Damaged files, shapes that do not fit, and --save without --load give
   one line on standard error and exit status 2.
"""
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from program_errors import expect, damaged_npy_cases, FAILURES  # noqa: E402
from numpy_reference import program_argument, softmax_rows_np  # noqa: E402,E501




def run(program, folder, inputs):
    for name, array in inputs.items():
        np.save(folder / (name + ".npy"), array)
    subprocess.run([str(program), "--load", str(folder), "--save",
                    str(folder)], check=True, capture_output=True)
    return {name: np.load(folder / (name + ".npy"))
            for name in ("Q", "K", "V", "S", "A", "Y")}


def check_numbers(program, folder):
    rng = np.random.default_rng(2017)
    X = rng.standard_normal((7, 12))     # (n, d_model)
    W_q = rng.standard_normal((12, 5))   # (d_model, d_k)
    W_k = rng.standard_normal((12, 5))   # (d_model, d_k)
    W_v = rng.standard_normal((12, 3))   # (d_model, d_v)
    got = run(program, folder, {"X": X, "W_q": W_q, "W_k": W_k, "W_v": W_v})
    Q, K, V = X @ W_q, X @ W_k, X @ W_v  # Eq. (2.1)
    S = Q @ K.T / np.sqrt(Q.shape[1])    # Eq. (2.2)
    A = softmax_rows_np(S)               # Eq. (2.3)
    Y = A @ V                            # Eq. (2.4)
    worst = 0.0
    for name, expected in {"Q": Q, "K": K, "V": V, "S": S, "A": A,
                           "Y": Y}.items():
        if got[name].shape != expected.shape:
            print("FAIL: %s.npy has shape %s, expected %s"
                  % (name, got[name].shape, expected.shape))
            return 1.0
        diff = np.max(np.abs(got[name] - expected))
        print("ch02_self_attention: largest |%s - NumPy| = %.3g"
              % (name, diff))
        worst = max(worst, diff)
    # Eq. (2.8): permuting the tokens permutes the outputs.
    perm = rng.permutation(X.shape[0])
    permuted = run(program, folder, {"X": X[perm]})
    diff = np.max(np.abs(permuted["Y"] - got["Y"][perm]))
    print("ch02_self_attention: largest |Y(PX) - P Y(X)| = %.3g" % diff)
    return max(worst, diff)


def check_errors(program):
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        rng = np.random.default_rng(0)

        def good_inputs():
            np.save(folder / "X.npy", rng.standard_normal((4, 3)))
            np.save(folder / "W_q.npy", rng.standard_normal((3, 2)))
            np.save(folder / "W_k.npy", rng.standard_normal((3, 2)))
            np.save(folder / "W_v.npy", rng.standard_normal((3, 5)))

        for name in ("X.npy", "W_v.npy"):
            for what, damage, expected in damaged_npy_cases(folder, name):
                good_inputs()
                damage()
                expect(program, ["--load", tmp, "--save", tmp], 2, expected)
        # Shapes that do not fit: d_model of W_q, d_k of W_k, rows of W_v.
        for name, shape in (("W_q.npy", (4, 2)), ("W_k.npy", (3, 3)),
                            ("W_v.npy", (2, 5))):
            good_inputs()
            np.save(folder / name, rng.standard_normal(shape))
            expect(program, ["--load", tmp, "--save", tmp], 2, "do not fit")
        good_inputs()
        np.save(folder / "X.npy", np.zeros((0, 3)))
        expect(program, ["--load", tmp, "--save", tmp], 2, "must not be empty")
        expect(program, ["--save", tmp], 2, "--save needs --load")


def main():
    program = program_argument(__doc__).parse_args().program
    with tempfile.TemporaryDirectory() as tmp:
        worst = check_numbers(program, pathlib.Path(tmp))
    check_errors(program)
    status = 0
    if worst > 1e-12:
        print("FAILED: a difference above 1e-12")
        status = 1
    if FAILURES:
        print("FAILED: %d bad-input case(s)" % len(FAILURES))
        status = 1
    if status == 0:
        print("all agree with NumPy to 1e-12; bad input is refused")
    return status


if __name__ == "__main__":
    sys.exit(main())

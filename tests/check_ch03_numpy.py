#!/usr/bin/env python3
"""Checks ch03_multi_head against NumPy and against bad input.

1. Random layers: save X, W_q, W_k, W_v, W_o, b_o as .npy, run
   `ch03_multi_head --heads H --load D --save E`, and compare A.npy and
   Y.npy with NumPy's own multi-head attention (Eqs. 3.1 to 3.4), for
   several H.
2. The hand-set two-head example that `ch03_multi_head --save E` writes:
   head 0 puts its weight on the previous position, head 1 spreads it
   evenly over the occurrences of the token's own word; and loading the
   example's inputs back gives the same A and Y.
3. Bad input: H not dividing d_model, inconsistent shapes, damaged files:
   one line on standard error and exit status 2.

    python3 tests/check_ch03_numpy.py --program build/ch03_multi_head
"""
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from program_errors import FAILURES, damaged_npy_cases, expect  # noqa: E402
from numpy_reference import program_argument, softmax_rows  # noqa: E402,E501




def multi_head_numpy(X, W_q, W_k, W_v, W_o, b_o, H):
    """Multi-head attention the NumPy way: reshape to (H, n, d_k)."""
    n, d_model = X.shape
    d_k = d_model // H

    def split(M):  # (n, d_model) -> (H, n, d_k), head h = columns h d_k...
        return M.reshape(n, H, d_k).transpose(1, 0, 2)

    Q, K, V = split(X @ W_q), split(X @ W_k), split(X @ W_v)   # Eq. (3.1)
    A = softmax_rows(Q @ K.transpose(0, 2, 1) / np.sqrt(d_k))  # Eq. (3.2)
    heads = (A @ V).transpose(1, 0, 2).reshape(n, d_model)     # Eq. (3.3)
    return A, heads @ W_o + b_o                                # Eq. (3.4)


def save_all(folder, arrays):
    for name, array in arrays.items():
        np.save(folder / (name + ".npy"), array)


def run(program, args):
    return subprocess.run([str(program)] + args, check=True,
                          capture_output=True, text=True)


def check_random_layers(program, work):
    worst = 0.0
    rng = np.random.default_rng(2024)
    for n, d_model, H in [(5, 8, 1), (5, 8, 2), (7, 12, 3), (4, 12, 12)]:
        scale = 1 / np.sqrt(d_model)
        inputs = {"X": rng.standard_normal((n, d_model)),
                  "W_q": scale * rng.standard_normal((d_model, d_model)),
                  "W_k": scale * rng.standard_normal((d_model, d_model)),
                  "W_v": scale * rng.standard_normal((d_model, d_model)),
                  "W_o": scale * rng.standard_normal((d_model, d_model)),
                  "b_o": rng.standard_normal(d_model)}
        save_all(work, inputs)
        run(program, ["--heads", str(H), "--load", str(work), "--save",
                      str(work)])
        A, Y = multi_head_numpy(H=H, **inputs)
        A_prog = np.load(work / "A.npy")
        Y_prog = np.load(work / "Y.npy")
        if A_prog.shape != A.shape or Y_prog.shape != Y.shape:
            print("FAIL: H = %d: shapes %s, %s, expected %s, %s"
                  % (H, A_prog.shape, Y_prog.shape, A.shape, Y.shape))
            return np.inf
        diff = max(np.max(np.abs(A_prog - A)), np.max(np.abs(Y_prog - Y)))
        print("n = %d, d_model = %d, H = %2d: largest |A, Y - NumPy| = %.3g"
              % (n, d_model, H, diff))
        worst = max(worst, diff)
    return worst


def check_two_head_example(program, work):
    """The example's heads attend where the chapter says they do."""
    ok = True
    run(program, ["--save", str(work)])
    A = np.load(work / "A.npy")
    words = np.argmax(np.load(work / "X.npy")[:, :6], axis=1)
    n = len(words)
    previous = np.maximum(np.arange(n) - 1, 0)  # position 0 asks for itself
    if not np.all(A[0][np.arange(n), previous] > 0.999):
        print("FAIL: head 0 does not attend to the previous position")
        ok = False
    same = (words[:, None] == words[None, :]).astype(float)
    if not np.allclose(A[1], same / same.sum(axis=1, keepdims=True),
                       atol=1e-3):
        print("FAIL: head 1 does not spread over the same word")
        ok = False
    # The saved inputs, loaded back, give the saved outputs.
    inputs = {name: np.load(work / (name + ".npy"))
              for name in ("X", "W_q", "W_k", "W_v", "W_o", "b_o")}
    A_np, Y_np = multi_head_numpy(H=2, **inputs)
    diff = max(np.max(np.abs(A_np - A)),
               np.max(np.abs(Y_np - np.load(work / "Y.npy"))))
    print("two-head example: head 0 -> previous, head 1 -> same word: %s; "
          "largest |A, Y - NumPy| = %.3g" % ("ok" if ok else "FAILED", diff))
    return ok, diff


def check_bad_input(program):
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        rng = np.random.default_rng(7)

        def good(d_model=6):
            save_all(folder, {
                "X": rng.standard_normal((4, d_model)),
                "W_q": rng.standard_normal((d_model, d_model)),
                "W_k": rng.standard_normal((d_model, d_model)),
                "W_v": rng.standard_normal((d_model, d_model)),
                "W_o": rng.standard_normal((d_model, d_model)),
                "b_o": rng.standard_normal(d_model)})

        good()
        args = ["--load", tmp, "--save", tmp]
        expect(program, ["--heads", "4"] + args, 2, "does not divide")
        expect(program, ["--heads", "0"] + args, 2,
               "expected a positive whole number, got '0'")
        expect(program, ["--heads", "-1"] + args, 2, "heads")
        expect(program, ["--heads", "x"] + args, 2, "heads")
        expect(program, ["--heads", "2"], 2, "--load")
        np.save(folder / "W_k.npy", rng.standard_normal((6, 5)))
        expect(program, ["--heads", "2"] + args, 2, "W_k.npy")
        good()
        np.save(folder / "W_o.npy", rng.standard_normal((5, 5)))
        expect(program, ["--heads", "2"] + args, 2, "W_o.npy")
        good()
        np.save(folder / "b_o.npy", rng.standard_normal(5))
        expect(program, ["--heads", "2"] + args, 2, "b_o.npy")
        good()
        np.save(folder / "b_o.npy", rng.standard_normal((1, 6)))
        expect(program, ["--heads", "2"] + args, 2, "rank")
        # Damaged X.npy; the good (2, 3) X fits weights of width 3, H = 3.
        good(3)
        for what, damage, expected in damaged_npy_cases(folder, "X.npy"):
            damage()
            expect(program, ["--heads", "3"] + args, 2, expected)
        good()
        expect(program, ["--heads", "3"] + args, 0)


def main():
    program = program_argument(__doc__).parse_args().program
    with tempfile.TemporaryDirectory() as tmp:
        worst = check_random_layers(program, pathlib.Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        example_ok, diff = check_two_head_example(program, pathlib.Path(tmp))
    worst = max(worst, diff)
    check_bad_input(program)
    failed = False
    if worst > 1e-12:
        print("FAILED: a difference above 1e-12")
        failed = True
    if not example_ok or FAILURES:
        print("FAILED: %d bad-input case(s), example %s"
              % (len(FAILURES), "ok" if example_ok else "wrong"))
        failed = True
    if not failed:
        print("all agree with NumPy to 1e-12; every bad input gives exit 2")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks ch04_cross_attention against NumPy: multi-head cross-attention
(Eq. 4.1) with a mask, with --causal (bottom-right alignment, Eq. 4.2), and
with a fully masked query row, whose row of Y must be exactly b_o; then its
answers to bad input (one line, exit status 2).

    python3 tests/check_ch04_numpy.py --program build/ch04_cross_attention
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


# [ch04-numpy-reference]
def cross_attention(X, Z, W_q, W_k, W_v, W_o, b_o, H, mask):
    """Eq. (4.1) with H heads; mask (n_q, n_k), True = may attend."""
    d_k = X.shape[1] // H
    Q, K, V = X @ W_q, Z @ W_k, Z @ W_v
    A = np.zeros((H, X.shape[0], Z.shape[0]))
    heads = np.zeros_like(Q)
    for h in range(H):
        c = slice(h * d_k, (h + 1) * d_k)
        S = np.where(mask, Q[:, c] @ K[:, c].T / np.sqrt(d_k), -np.inf)
        A[h] = softmax_rows_np(S)        # a fully masked row: zero weights
        heads[:, c] = A[h] @ V[:, c]
    return A, heads @ W_o + b_o


def causal_lower_right(n_q, n_k):
    """np.tril with diagonal n_k - n_q: PyTorch's causal_lower_right."""
    return np.tril(np.ones((n_q, n_k), dtype=bool), k=n_k - n_q)
# [ch04-numpy-reference]


def save_inputs(folder, rng, n_q, n_k, d_model):
    arrays = {"X": rng.standard_normal((n_q, d_model)),
              "Z": rng.standard_normal((n_k, d_model)),
              "b_o": rng.standard_normal(d_model)}
    for name in ("W_q", "W_k", "W_v", "W_o"):
        arrays[name] = rng.standard_normal((d_model, d_model)) / 2
    for name, array in arrays.items():
        np.save(folder / (name + ".npy"), array)
    return arrays


def run(program, folder, *flags):
    subprocess.run([str(program), "--load", str(folder), "--save",
                    str(folder)] + list(flags), check=True,
                   capture_output=True)
    return np.load(folder / "A.npy"), np.load(folder / "Y.npy")


def check_values(program):
    worst = 0.0
    rng = np.random.default_rng(4)
    for n_q, n_k, d_model, H, causal, dtype in [
            (5, 7, 8, 2, False, bool), (3, 6, 12, 3, True, np.uint8),
            (6, 6, 8, 4, True, None), (4, 9, 6, 1, False, None)]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = pathlib.Path(tmp)
            a = save_inputs(folder, rng, n_q, n_k, d_model)
            mask = np.ones((n_q, n_k), dtype=bool)
            if dtype is not None:
                mask = rng.random((n_q, n_k)) < 0.6
                mask[1, :] = False                   # one fully masked row
                np.save(folder / "mask.npy", mask.astype(dtype))
            if causal:
                mask &= causal_lower_right(n_q, n_k)
            flags = ["--heads", str(H)] + (["--causal"] if causal else [])
            A, Y = run(program, folder, *flags)
            A_np, Y_np = cross_attention(a["X"], a["Z"], a["W_q"], a["W_k"],
                                         a["W_v"], a["W_o"], a["b_o"], H,
                                         mask)
            diff = max(np.max(np.abs(A - A_np)), np.max(np.abs(Y - Y_np)))
            print("n_q %d, n_k %d, d_model %d, H %d, causal %s, mask %s: "
                  "largest |A, Y - NumPy| = %.3g"
                  % (n_q, n_k, d_model, H, causal,
                     getattr(dtype, "__name__", "none"), diff))
            worst = max(worst, diff)
            for i in np.flatnonzero(~mask.any(axis=1)):
                # A fully masked query row: zero weights, Y row = b_o.
                if not (np.all(A[:, i, :] == 0.0)
                        and np.array_equal(Y[i], a["b_o"])):
                    print("FAILED: fully masked row %d is not exactly b_o"
                          % i)
                    worst = np.inf
    return worst


def check_errors(program):
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        rng = np.random.default_rng(0)
        for what, damage, expected in damaged_npy_cases(folder, "Z.npy"):
            save_inputs(folder, rng, 2, 3, 4)
            damage()
            expect(program, ["--load", tmp, "--save", tmp], 2, expected)
        save_inputs(folder, rng, 2, 3, 4)
        np.save(folder / "Z.npy", rng.standard_normal((3, 5)))
        expect(program, ["--load", tmp], 2, "Z.npy")
        save_inputs(folder, rng, 2, 3, 4)
        np.save(folder / "W_k.npy", rng.standard_normal((4, 3)))
        expect(program, ["--load", tmp], 2, "W_k.npy")
        save_inputs(folder, rng, 2, 3, 4)
        np.save(folder / "b_o.npy", rng.standard_normal((1, 4)))
        expect(program, ["--load", tmp], 2, "b_o.npy")
        save_inputs(folder, rng, 2, 3, 4)
        expect(program, ["--load", tmp, "--heads", "3"], 2, "must divide")
        expect(program, ["--load", tmp, "--heads", "0"], 2,
               "expected a positive whole number, got '0'")
        expect(program, ["--load", tmp, "--heads", "two"], 2, "two")
        np.save(folder / "mask.npy", np.ones((3, 2), dtype=bool))
        expect(program, ["--load", tmp], 2, "mask.npy")
        np.save(folder / "mask.npy", np.ones((2, 3)))
        expect(program, ["--load", tmp], 2, "expected dtype bool")
        np.save(folder / "mask.npy", np.ones((2, 3, 1), dtype=bool))
        expect(program, ["--load", tmp], 2, "rank")
    expect(program, ["--causal"], 2, "needs --load")
    expect(program, ["--heads", "2"], 2, "needs --load")


def main():
    program = program_argument(__doc__).parse_args().program
    worst = check_values(program)
    check_errors(program)
    if worst > 1e-12 or FAILURES:
        print("FAILED: a difference above 1e-12 or %d bad answer(s)"
              % len(FAILURES))
        return 1
    print("all agree with NumPy to 1e-12; bad input is refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())

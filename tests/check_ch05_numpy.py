#!/usr/bin/env python3
"""Checks ch05_heads against NumPy: save random weights of the tiny model,
run the program with --load and --save (no training), and recompute in
NumPy the per-head weights A, the logits, and the gradient of the loss with
respect to the head gates (by central differences). Then check its answers
to bad weights files.

    python3 tests/check_ch05_numpy.py --program build/ch05_heads
"""
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from program_errors import expect, damaged_npy_cases, FAILURES  # noqa: E402
from numpy_reference import program_argument, softmax_rows_np  # noqa: E402,E501

V, L, D, H = 5, 9, 16, 4          # vocabulary, tokens, d_model, heads
N, DK = L + 1, D // H             # positions (with BOS), head width




def forward(w, x, gates):
    """Eq. (5.1): one multi-head self-attention layer, strict causal mask,
    residual, linear read-out. Returns A (H, n, n) and the logits (n, 2V)."""
    q, k, v = x @ w["W_q"], x @ w["W_k"], x @ w["W_v"]
    allowed = np.tril(np.ones((N, N), dtype=bool), k=-1)  # keys j < i
    a = np.zeros((H, N, N))
    heads = np.zeros((N, D))
    for h in range(H):
        c = slice(h * DK, (h + 1) * DK)
        s = np.where(allowed, q[:, c] @ k[:, c].T / np.sqrt(DK), -np.inf)
        a[h] = softmax_rows_np(s)
        heads[:, c] = gates[h] * a[h] @ v[:, c]
    z = x + heads @ w["W_o"] + w["b_o"]
    return a, z @ w["W_u"] + w["b_u"]


def targets(tokens):
    """Class 2 t[i-1] + (t[i] occurred among t[1..i-1]) at i >= 2."""
    return {i: 2 * tokens[i - 1] + int(tokens[i] in tokens[1:i])
            for i in range(2, N)}


def loss(w, x, gates):
    _, logits = forward(w, x, gates)
    p = softmax_rows_np(logits)
    t = targets(list(np.argmax(x[:, :V + 1], axis=1)))
    return -np.mean([np.log(p[i, c]) for i, c in t.items()])


def check_numbers(program, work):
    rng = np.random.default_rng(5)
    w = {name: rng.standard_normal(shape) / 4 for name, shape in
         {"W_q": (D, D), "W_k": (D, D), "W_v": (D, D), "W_o": (D, D),
          "b_o": (D,), "W_u": (D, 2 * V), "b_u": (2 * V,)}.items()}
    inp, out = work / "in", work / "out"
    inp.mkdir()
    for name, array in w.items():
        np.save(inp / (name + ".npy"), array)
    subprocess.run([str(program), "--load", str(inp),
                    "--save", str(out), "--seed", "3"], check=True,
                   capture_output=True)
    x = np.load(out / "X.npy")
    a, logits = forward(w, x, np.ones(H))
    step = 1e-5
    d_xi = np.array([(loss(w, x, np.ones(H) + step * e)
                      - loss(w, x, np.ones(H) - step * e)) / (2 * step)
                     for e in np.eye(H)])
    # (largest difference, tolerance): central differences are good to
    # about 1e-9, everything else to rounding.
    diffs = {"A": (np.max(np.abs(np.load(out / "A.npy") - a)), 1e-12),
             "logits": (np.max(np.abs(np.load(out / "logits.npy")
                                      - logits)), 1e-12),
             "d_xi (central differences)":
                 (np.max(np.abs(np.load(out / "d_xi.npy") - d_xi)), 1e-7),
             "W_q.npy saved back": (np.max(np.abs(np.load(out / "W_q.npy")
                                               - w["W_q"])), 0.0),
             # one token and one position in every row of X
             "X is one-hot (row sums minus 2)":
                 (np.max(np.abs(x.sum(axis=1) - 2)), 0.0)}
    return diffs


def check_errors(program, work):
    expect(program, ["--steps", "0"], 2, "--steps")
    rng = np.random.default_rng(0)
    good = {"W_q": (D, D), "W_k": (D, D), "W_v": (D, D), "W_o": (D, D),
            "b_o": (D,), "W_u": (D, 2 * V), "b_u": (2 * V,)}
    folder = work / "bad"
    folder.mkdir()
    for name, shape in good.items():
        np.save(folder / (name + ".npy"), rng.standard_normal(shape))
    np.save(folder / "W_u.npy", rng.standard_normal((D, 7)))
    expect(program, ["--load", str(folder)], 2, "W_u must have shape")
    np.save(folder / "W_u.npy", rng.standard_normal((D, 2 * V)))
    for what, damage, expected in damaged_npy_cases(folder, "W_k.npy"):
        damage()
        expect(program, ["--load", str(folder)], 2, expected)
        np.save(folder / "W_k.npy", rng.standard_normal((D, D)))


def main():
    args = program_argument(__doc__).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        diffs = check_numbers(args.program, pathlib.Path(tmp))
        check_errors(args.program, pathlib.Path(tmp))
    bad = 0
    for symbol, (diff, tolerance) in diffs.items():
        print("ch05_heads: %s: largest difference from NumPy %.3g "
              "(tolerance %.0e)"
              % (symbol, diff, tolerance))
        bad += diff > tolerance
    if bad or FAILURES:
        print("FAILED: %d difference(s) above tolerance, %d bad answer(s) "
              "to bad input" % (bad, len(FAILURES)))
        return 1
    print("all agree with NumPy; bad input is refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())

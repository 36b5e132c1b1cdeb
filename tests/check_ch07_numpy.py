#!/usr/bin/env python3
"""Checks ch07_layers against NumPy: write random weights of a decoder model
in the --load format, run the program's forward pass (--load DIR --save DIR
--heads H --layers L, no training) for several sizes, and recompute in NumPy
the logits and every layer's per-head weights A_<l>. Then check its answers
to bad token files and sizes.

    python3 tests/check_ch07_numpy.py --program build/ch07_layers
"""
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from program_errors import expect, FAILURES  # noqa: E402
from numpy_reference import program_argument, softmax_rows_np  # noqa: E402


def forward(w, tokens, heads, layers):
    """Eqs. (7.1)-(7.3): X^(0) = W_E[t] + P[:n]; per layer, causal
    multi-head self-attention added to the stream; logits X^(L) W_U.
    Returns the logits (n, |V|) and per layer A (H, n, n)."""
    n = len(tokens)
    d = w["W_E"].shape[1]
    dk = d // heads
    x = w["W_E"][tokens] + w["P"][:n]
    causal = np.tril(np.ones((n, n), dtype=bool))  # key j <= query i
    weights = []
    for l in range(layers):
        q = x @ w["W_q_%d" % l]
        k = x @ w["W_k_%d" % l]
        v = x @ w["W_v_%d" % l]
        a = np.zeros((heads, n, n))
        y_cat = np.zeros((n, d))
        for h in range(heads):
            c = slice(h * dk, (h + 1) * dk)
            s = np.where(causal, q[:, c] @ k[:, c].T / np.sqrt(dk), -np.inf)
            a[h] = softmax_rows_np(s)
            y_cat[:, c] = a[h] @ v[:, c]
        x = x + y_cat @ w["W_o_%d" % l] + w["b_o_%d" % l]
        weights.append(a)
    return x @ w["W_U"], weights


def random_model(rng, vocab, n_max, d, layers):
    w = {"W_E": rng.standard_normal((vocab, d)),
         "P": rng.standard_normal((n_max, d)),
         "W_U": rng.standard_normal((d, vocab)) / np.sqrt(d)}
    for l in range(layers):
        for name in ("W_q", "W_k", "W_v", "W_o"):
            w["%s_%d" % (name, l)] = rng.standard_normal((d, d)) / np.sqrt(d)
        w["b_o_%d" % l] = rng.standard_normal(d) / 4
    return w


def save_model(folder, w, tokens):
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.npy"):
        old.unlink()
    for name, array in w.items():
        np.save(folder / (name + ".npy"), array)
    np.save(folder / "tokens.npy", np.asarray(tokens, dtype=np.int64))


def check_numbers(program, work):
    """Largest difference from NumPy for each (H, L, n) tried."""
    rng = np.random.default_rng(7)
    diffs = {}
    # (|V|, n_max, d, H, L, n): one and several layers, one and several
    # heads, a sequence shorter than n_max and one as long.
    for vocab, n_max, d, heads, layers, n in [(7, 10, 8, 2, 2, 9),
                                              (5, 6, 12, 3, 1, 6),
                                              (11, 12, 8, 4, 3, 12),
                                              (4, 5, 6, 1, 2, 1)]:
        w = random_model(rng, vocab, n_max, d, layers)
        tokens = rng.integers(0, vocab, size=n)
        inp, out = work / "in", work / ("out_%d_%d" % (heads, layers))
        save_model(inp, w, tokens)
        subprocess.run([str(program), "--load", str(inp), "--save", str(out),
                        "--heads", str(heads), "--layers", str(layers)],
                       check=True, capture_output=True)
        logits, weights = forward(w, tokens, heads, layers)
        key = "H=%d L=%d n=%d" % (heads, layers, n)
        diffs[key + ": logits"] = np.max(np.abs(np.load(out / "logits.npy")
                                                - logits))
        diffs[key + ": A_<l>"] = max(
            np.max(np.abs(np.load(out / ("A_%d.npy" % l)) - weights[l]))
            for l in range(layers))
    return diffs


def check_errors(program, work):
    """Token files and sizes that do not fit the model."""
    rng = np.random.default_rng(1)
    w = random_model(rng, 5, 6, 4, 2)
    folder, out = work / "bad", work / "bad_out"
    args = ["--load", str(folder), "--save", str(out)]
    for tokens, expected in [
            (np.array([0, 1, 5]), "expected token ids in 0 .. 5 - 1"),
            (np.array([0, -1]), "found -1 at index 1"),
            (np.arange(7) % 5, "expected 1 to n_max = 6 tokens"),
            (np.zeros(0, dtype=np.int64), "expected 1 to n_max = 6 tokens"),
            (np.array([0.0, 1.0]), "expected dtype int64"),
            (np.array([[0, 1]]), "expected an array of rank 1")]:
        save_model(folder, w, [0])
        np.save(folder / "tokens.npy", tokens)
        expect(program, args, 2, expected)
    save_model(folder, w, [0, 1])
    expect(program, args + ["--heads", "3"], 2,
           "--heads 3: expected a divisor of d_model = 4")
    expect(program, args + ["--layers", "3"], 2, "W_q_2.npy: cannot open")
    expect(program, args + ["--heads", "0"], 2, "--heads: expected at least 1")
    np.save(folder / "W_U.npy", rng.standard_normal((4, 6)))
    expect(program, args, 2, "W_U")
    expect(program, ["--load", str(folder)], 2, "--load needs --save")


def main():
    args = program_argument(__doc__).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        diffs = check_numbers(args.program, pathlib.Path(tmp))
        check_errors(args.program, pathlib.Path(tmp))
    tolerance = 1e-12
    bad = 0
    for what, diff in diffs.items():
        print("ch07_layers: %s: largest difference from NumPy %.3g "
              "(tolerance %.0e)" % (what, diff, tolerance))
        bad += diff > tolerance
    if bad or FAILURES:
        print("FAILED: %d difference(s) above tolerance, %d bad answer(s) "
              "to bad input" % (bad, len(FAILURES)))
        return 1
    print("all agree with NumPy; bad input is refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())

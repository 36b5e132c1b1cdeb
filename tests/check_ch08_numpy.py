#!/usr/bin/env python3
"""Checks ch08_modern's --load/--save layer against NumPy and bad input.

1. Random layers for several (H, G) pairs, with and without RoPE (and its
   base), ALiBi, a causal mask, a sliding window and a position offset:
   save X, W_q, W_k, W_v, W_o, b_o as .npy, run
   `ch08_modern --heads H --kv-heads G [flags] --load D --save E`, and
   compare A.npy (H, n, n) and Y.npy (n, d_model) with an independent NumPy
   implementation: heads as an axis (reshape), key-value heads repeated
   with np.repeat as PyTorch code does with repeat_interleave, RoPE by
   complex multiplication of neighbouring pairs, ALiBi's slopes by the
   authors' recursion, masks from i - j.
2. Bad input: G not dividing H, widths that do not fit, a window of 0, an
   odd head width with --rope, damaged files: one line on standard error
   and exit status 2.

    python3 tests/check_ch08_numpy.py --program build/ch08_modern
"""
import math
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from program_errors import FAILURES, damaged_npy_cases, expect  # noqa: E402
from numpy_reference import program_argument, softmax_rows_np  # noqa: E402,E501


def alibi_slopes_np(n):
    """The slopes of Press et al.'s code (fairseq, get_slopes)."""
    def power_of_2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return power_of_2(n)
    c = 2 ** math.floor(math.log2(n))
    return power_of_2(c) + alibi_slopes_np(2 * c)[0::2][:n - c]


def rope_np(x, positions, base):
    """x (heads, n, d): pairs (2f, 2f+1) as complex numbers times
    exp(i p theta_f), theta_f = base^(-2f/d)."""
    d = x.shape[-1]
    theta = base ** (-np.arange(0, d, 2) / d)              # (d/2,)
    z = x[..., 0::2] + 1j * x[..., 1::2]
    z = z * np.exp(1j * np.outer(positions, theta))         # (n, d/2)
    out = np.empty_like(x)
    out[..., 0::2], out[..., 1::2] = z.real, z.imag
    return out


def layer_np(X, W_q, W_k, W_v, W_o, b_o, H, G, rope=False, base=10000.0,
             offset=0, causal=False, window=0, alibi=False):
    n = X.shape[0]
    d = W_q.shape[1] // H

    def split(M, heads):  # (n, heads d) -> (heads, n, d)
        return M.reshape(n, heads, d).transpose(1, 0, 2)

    Q, K, V = split(X @ W_q, H), split(X @ W_k, G), split(X @ W_v, G)
    if rope:
        positions = offset + np.arange(n)
        Q, K = rope_np(Q, positions, base), rope_np(K, positions, base)
    K, V = np.repeat(K, H // G, axis=0), np.repeat(V, H // G, axis=0)
    S = Q @ K.transpose(0, 2, 1) / np.sqrt(d)               # (H, n, n)
    dist = np.subtract.outer(np.arange(n), np.arange(n))    # i - j
    if alibi:
        S = S - np.array(alibi_slopes_np(H))[:, None, None] * dist
    allowed = np.ones((n, n), dtype=bool)
    if causal or window:
        allowed &= dist >= 0
    if window:
        allowed &= dist < window
    S = np.where(allowed, S, -np.inf)
    A = softmax_rows_np(S)
    Y_cat = (A @ V).transpose(1, 0, 2).reshape(n, H * d)
    return A, Y_cat @ W_o + b_o


def save_all(folder, arrays):
    for name, array in arrays.items():
        np.save(folder / (name + ".npy"), array)


def random_inputs(rng, n, d_model, H, G, d):
    s = 1 / np.sqrt(d_model)
    return {"X": rng.standard_normal((n, d_model)),
            "W_q": s * rng.standard_normal((d_model, H * d)),
            "W_k": s * rng.standard_normal((d_model, G * d)),
            "W_v": s * rng.standard_normal((d_model, G * d)),
            "W_o": s * rng.standard_normal((H * d, d_model)),
            "b_o": rng.standard_normal(d_model)}


CASES = [  # (n, d_model, H, G, d, flags)
    (5, 8, 1, 1, 8, {}),
    (6, 8, 4, 4, 2, {"causal": True}),
    (6, 8, 4, 2, 2, {"rope": True, "causal": True}),
    (7, 12, 6, 3, 4, {"rope": True, "offset": 17}),
    (7, 12, 6, 1, 4, {"alibi": True, "causal": True}),
    (9, 8, 8, 2, 2, {"window": 3, "rope": True, "offset": 1000}),
    (9, 8, 8, 8, 2, {"window": 1}),
    (8, 10, 4, 2, 6, {"rope": True, "base": 500.0, "alibi": True,
                      "window": 4}),
    (6, 10, 3, 1, 4, {"alibi": True}),   # H = 3: the non-power-of-two rule
    (6, 10, 6, 2, 4, {"alibi": True, "rope": True, "causal": True}),
]


def flags_of(H, G, f):
    args = ["--heads", str(H), "--kv-heads", str(G)]
    if f.get("rope"):
        args.append("--rope")
    if "base" in f:
        args += ["--rope-base", repr(f["base"])]
    if "offset" in f:
        args += ["--position-offset", str(f["offset"])]
    if f.get("causal"):
        args.append("--causal")
    if f.get("window"):
        args += ["--window", str(f["window"])]
    if f.get("alibi"):
        args.append("--alibi")
    return args


def check_random_layers(program, work):
    worst = 0.0
    rng = np.random.default_rng(2026)
    for n, d_model, H, G, d, f in CASES:
        inputs = random_inputs(rng, n, d_model, H, G, d)
        save_all(work, inputs)
        args = flags_of(H, G, f)
        subprocess.run([str(program)] + args + ["--load", str(work),
                                                "--save", str(work)],
                       check=True, capture_output=True, text=True)
        A, Y = layer_np(H=H, G=G, rope=f.get("rope", False),
                        base=f.get("base", 10000.0),
                        offset=f.get("offset", 0),
                        causal=f.get("causal", False),
                        window=f.get("window", 0),
                        alibi=f.get("alibi", False), **inputs)
        A_prog, Y_prog = np.load(work / "A.npy"), np.load(work / "Y.npy")
        if A_prog.shape != A.shape or Y_prog.shape != Y.shape:
            print("FAIL: %s: shapes %s, %s, expected %s, %s"
                  % (" ".join(args), A_prog.shape, Y_prog.shape, A.shape,
                     Y.shape))
            return np.inf
        diff = max(np.max(np.abs(A_prog - A)), np.max(np.abs(Y_prog - Y)))
        print("n = %d, H = %d, G = %d, d = %d %-45s largest |A, Y - NumPy| "
              "= %.3g" % (n, H, G, d, " ".join(args[4:]), diff))
        worst = max(worst, diff)
    return worst


def check_bad_input(program):
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        rng = np.random.default_rng(8)

        def good(H=4, G=2, d=2, n=5, d_model=8):
            save_all(folder, random_inputs(rng, n, d_model, H, G, d))

        args = ["--load", tmp, "--save", tmp]
        good()
        expect(program, ["--heads", "4", "--kv-heads", "2"] + args, 0)
        expect(program, ["--heads", "4", "--kv-heads", "3"] + args, 2,
               "--kv-heads 3 must divide --heads 4")
        expect(program, ["--heads", "4", "--kv-heads", "4"] + args, 2,
               "W_k.npy has shape (8, 4), expected (d_model, G d) = (8, 8)")
        expect(program, ["--heads", "3", "--kv-heads", "1"] + args, 2,
               "W_q.npy has shape")
        expect(program, ["--heads", "4", "--kv-heads", "2", "--window",
                         "0"] + args, 2, "--window: expected a window of at "
                                         "least 1 position")
        good(H=2, G=1, d=3, d_model=6)
        expect(program, ["--heads", "2", "--kv-heads", "1"] + args, 0)
        expect(program, ["--heads", "2", "--kv-heads", "1", "--rope"] + args,
               2, "--rope needs an even head width d, got d = 3")
        good()
        np.save(folder / "W_o.npy", rng.standard_normal((8, 7)))
        expect(program, ["--heads", "4", "--kv-heads", "2"] + args, 2,
               "W_o.npy has shape (8, 7), expected (H d, d_model) = (8, 8)")
        good()
        np.save(folder / "X.npy", rng.standard_normal((5, 7)))
        expect(program, ["--heads", "4", "--kv-heads", "2"] + args, 2,
               "W_q.npy has shape (8, 8), expected (d_model, H d) with "
               "d_model = 7")
        good()
        for what, damage, expected in damaged_npy_cases(folder, "W_k.npy",
                                                        (8, 4)):
            damage()
            expect(program, ["--heads", "4", "--kv-heads", "2"] + args, 2,
                   ["W_k.npy", expected], label=what)
        good()


def main():
    program = program_argument(__doc__).parse_args().program
    with tempfile.TemporaryDirectory() as tmp:
        worst = check_random_layers(program, pathlib.Path(tmp))
    check_bad_input(program)
    failed = False
    if worst > 1e-12:
        print("FAILED: a difference above 1e-12")
        failed = True
    if FAILURES:
        print("FAILED: %d bad-input case(s)" % len(FAILURES))
        failed = True
    if not failed:
        print("all agree with NumPy to 1e-12; every bad input gives exit 2")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks ch06_scale against NumPy: random Q, K, V (n_q != n_k) with and
without a mask that leaves one query no key, saved as .npy; the program's
four ways (--load/--save) must each equal NumPy's masked attention to a
relative error of 1e-12. With --backward, its Y, dQ, dK, dV must equal
NumPy's forward and backward pass of L = sum(dY * Y) to the same error.
Also checks the program's answers to bad input.

    python3 tests/check_ch06_numpy.py --program build/ch06_scale
"""
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from program_errors import expect, FAILURES  # noqa: E402
from numpy_reference import program_argument, softmax_rows_np  # noqa: E402,E501

WAYS = ("loops", "xtensor", "blas", "tiled")


def weights(Q, K, mask=None):
    """A = softmax_rows(Q K^T / sqrt(d_k)), -inf where the mask forbids."""
    S = Q @ K.T / np.sqrt(Q.shape[1])             # (n_q, n_k)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    return softmax_rows_np(S)                     # (n_q, n_k)


def attention(Q, K, V, mask=None):
    return weights(Q, K, mask) @ V                # (n_q, d_v)


def save_inputs(work, arrays, mask):
    """Empties work of .npy files, then saves each array as NAME.npy, and
    the mask as mask.npy unless it is None."""
    for f in work.glob("*.npy"):
        f.unlink()
    for name, array in arrays.items():
        np.save(work / (name + ".npy"), array)
    if mask is not None:
        np.save(work / "mask.npy", mask)


def random_cases(work, seed, with_dy):
    """Three problems, (n_q, n_k) = (9, 300) without a mask, (300, 9) and
    (37, 513) with a random mask that leaves query 0 no key: each drawn,
    saved into work, and yielded as (n_q, n_k, arrays, mask or None), the
    arrays Q, K, V (and dY if with_dy) by name."""
    rng = np.random.default_rng(seed)
    for n_q, n_k, masked in ((9, 300, False), (300, 9, True),
                             (37, 513, True)):
        arrays = {"Q": rng.standard_normal((n_q, 16)),
                  "K": rng.standard_normal((n_k, 16)),
                  "V": rng.standard_normal((n_k, 8))}
        if with_dy:
            arrays["dY"] = rng.standard_normal((n_q, 8))
        mask = rng.random((n_q, n_k)) < 0.5
        mask[0, :] = False
        save_inputs(work, arrays, mask if masked else None)
        yield n_q, n_k, arrays, mask if masked else None


def check_ways(program, work):
    worst = 0.0
    for n_q, n_k, arrays, mask in random_cases(work, 6, with_dy=False):
        masked = mask is not None
        subprocess.run([str(program), "--load", str(work), "--save",
                        str(work)], check=True, capture_output=True)
        Y = attention(arrays["Q"], arrays["K"], arrays["V"], mask)
        for way in WAYS:
            Y_way = np.load(work / ("Y_%s.npy" % way))
            err = np.max(np.abs(Y_way - Y)) / np.max(np.abs(Y))
            print("(%d, %d) mask=%s %-8s relative error %.3g"
                  % (n_q, n_k, masked, way, err))
            if Y_way.shape != Y.shape:
                err = np.inf
            worst = max(worst, err)
            if masked and np.any(Y_way[0] != 0.0):
                print("FAILED: the fully masked query is not zero")
                worst = np.inf
    return worst


def attention_backward(Q, K, V, dY, mask=None):
    """Y and the gradients of L = sum(dY * Y) with respect to Q, K, V, the
    plain way (Eqs. 5.4 to 5.6): store S and A."""
    scale = 1.0 / np.sqrt(Q.shape[1])
    A = weights(Q, K, mask)                       # (n_q, n_k)
    dA = dY @ V.T
    dS = A * (dA - np.sum(A * dA, axis=1, keepdims=True))
    return A @ V, dS @ K * scale, dS.T @ Q * scale, A.T @ dY


def check_backward(program, work):
    """--backward: Y, dQ, dK, dV against NumPy, with and without a mask
    that leaves query 0 no key (its Y and dQ rows must be exactly 0)."""
    worst = 0.0
    for n_q, n_k, arrays, mask in random_cases(work, 16, with_dy=True):
        masked = mask is not None
        subprocess.run([str(program), "--load", str(work), "--save",
                        str(work), "--backward"], check=True,
                       capture_output=True)
        expected = attention_backward(arrays["Q"], arrays["K"], arrays["V"],
                                      arrays["dY"], mask)
        for name, E in zip(("Y", "dQ", "dK", "dV"), expected):
            got = np.load(work / (name + ".npy"))
            err = np.inf if got.shape != E.shape else \
                np.max(np.abs(got - E)) / np.max(np.abs(E))
            print("(%d, %d) mask=%s backward %-3s relative error %.3g"
                  % (n_q, n_k, masked, name, err))
            worst = max(worst, err)
            if masked and name in ("Y", "dQ") and np.any(got[0] != 0.0):
                print("FAILED: the fully masked query's %s row is not zero"
                      % name)
                worst = np.inf
    return worst


def check_errors(program, work):
    rng = np.random.default_rng(1)
    for f in work.glob("*.npy"):
        f.unlink()
    np.save(work / "Q.npy", rng.standard_normal((3, 4)))
    np.save(work / "K.npy", rng.standard_normal((5, 4)))
    np.save(work / "V.npy", rng.standard_normal((5, 2)))
    np.save(work / "mask.npy", np.ones((5, 3), dtype=bool))
    expect(program, ["--load", str(work), "--save", str(work)], 2,
           ["mask.npy: its array must have shape (n_q, n_k)", "= (3, 5)"])
    np.save(work / "mask.npy", np.ones((3, 5)))
    expect(program, ["--load", str(work), "--save", str(work)], 2, "bool")
    (work / "mask.npy").unlink()
    np.save(work / "V.npy", rng.standard_normal((6, 2)))
    expect(program, ["--load", str(work), "--save", str(work)], 2,
           "V.npy: its array must have shape (n_k, d_v)")
    expect(program, ["--benchmark"], 2, "--benchmark needs --out")
    expect(program, ["--measure", "tiled"], 2, "WAY:N")
    expect(program, ["--measure", "quick:64"], 2, "unknown way 'quick'")
    expect(program, ["--measure", "tiled:64", "--threads", "2"], 2,
           "--threads applies to the way fast only")
    expect(program, ["--measure", "fast:64", "--budget", "-1"], 2,
           "--budget must be from 0 to 60")
    expect(program, ["--threads", "2"], 2, "go with --measure")
    expect(program, ["--measure", "none:64"], 2, "not 'none'")
    expect(program, ["--io", "loops:64"], 2,
           "--io expects none, blas or tiled")
    expect(program, ["--benchmark", "--out", str(work), "--max-n", "100"],
           2, "--max-n must be between 256 and 65536")


def main():
    program = program_argument(__doc__).parse_args().program
    with tempfile.TemporaryDirectory() as tmp:
        worst = check_ways(program, pathlib.Path(tmp))
        worst = max(worst, check_backward(program, pathlib.Path(tmp)))
        check_errors(program, pathlib.Path(tmp))
    if worst > 1e-12 or FAILURES:
        print("FAILED: relative error %.3g, %d bad-input checks failed"
              % (worst, len(FAILURES)))
        return 1
    print("all four ways and the backward pass agree with NumPy to 1e-12; "
          "bad input refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks ch01_bahdanau against NumPy: make random annotations, decoder
states and alignment weights, save them as .npy, run the program with
--load and --save, and compare e, alpha and c with NumPy's own computation
of Eqs. (1.2)-(1.4). Then checks that inconsistent or damaged inputs are
refused with one line and exit status 2.

    python3 tests/check_ch01_numpy.py --program build/ch01_bahdanau
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


# [ch01-numpy-reference]
def bahdanau_numpy(h, q_prev, W_a, U_a, v_a):
    """Eqs. (1.2)-(1.4), written independently of the C++ code; the keys
    are the names of the program's files (alpha.npy holds A)."""
    Uh = h @ U_a.T                                   # (T_x, d_a)
    Wq = q_prev @ W_a.T                              # (T_y, d_a)
    e = np.tanh(Wq[:, None, :] + Uh[None, :, :]) @ v_a  # (T_y, T_x)
    A = softmax_rows_np(e)                           # (T_y, T_x)
    return {"e": e, "alpha": A, "c": A @ h}          # c: (T_y, 2d_h)
# [ch01-numpy-reference]


def inputs(rng, T_x, T_y, d_h, d_a):
    # s_prev.npy holds the decoder states q_{i-1}.
    return {"h": rng.standard_normal((T_x, 2 * d_h)),
            "s_prev": rng.standard_normal((T_y, d_h)),
            "W_a": rng.standard_normal((d_a, d_h)),
            "U_a": rng.standard_normal((d_a, 2 * d_h)),
            "v_a": rng.standard_normal(d_a)}


def save_all(folder, arrays):
    for name, array in arrays.items():
        np.save(folder / (name + ".npy"), array)


def compare(program, work):
    """Largest difference per output over three random problems."""
    rng = np.random.default_rng(2015)
    worst = {"e": 0.0, "alpha": 0.0, "c": 0.0}
    for T_x, T_y, d_h, d_a in [(7, 5, 3, 4), (1, 1, 1, 1), (12, 9, 8, 10)]:
        arrays = inputs(rng, T_x, T_y, d_h, d_a)
        save_all(work, arrays)
        subprocess.run([str(program), "--load", str(work), "--save",
                        str(work)], check=True, capture_output=True)
        expected = bahdanau_numpy(*(arrays[k] for k in ("h", "s_prev", "W_a",
                                                        "U_a", "v_a")))
        for name in worst:
            got = np.load(work / (name + ".npy"))
            if got.shape != expected[name].shape:
                print("%s.npy has shape %s, expected %s"
                      % (name, got.shape, expected[name].shape))
                return None
            worst[name] = max(worst[name],
                              float(np.max(np.abs(got - expected[name]))))
    return worst


def bad_inputs(program, folder):
    """Inconsistent shapes and damaged files: one line, exit status 2."""
    rng = np.random.default_rng(7)
    good = inputs(rng, 4, 3, 2, 5)
    wrong = [("h.npy", rng.standard_normal((4, 5))),       # not 2d_h wide
             ("s_prev.npy", rng.standard_normal((3, 3))),  # d_h differs
             ("W_a.npy", rng.standard_normal((5, 3))),
             ("U_a.npy", rng.standard_normal((4, 4))),     # d_a differs
             ("v_a.npy", rng.standard_normal(6))]
    for name, array in wrong:
        save_all(folder, good)
        np.save(folder / name, array)
        expect(program, ["--load", str(folder), "--save", str(folder)], 2,
               "do not fit")
    save_all(folder, good)
    np.save(folder / "v_a.npy", rng.standard_normal((5, 1)))
    expect(program, ["--load", str(folder), "--save", str(folder)], 2,
           "v_a.npy")
    for what, damage, text in damaged_npy_cases(folder, "h.npy"):
        save_all(folder, good)
        damage()
        expect(program, ["--load", str(folder), "--save", str(folder)], 2,
               text)
    save_all(folder, good)
    expect(program, ["--load", str(folder)], 2, "--save")
    expect(program, ["--save", str(folder)], 2, "--load")


def main():
    program = program_argument(__doc__).parse_args().program
    with tempfile.TemporaryDirectory() as tmp:
        worst = compare(program, pathlib.Path(tmp))
    if worst is None:
        return 1
    for name, diff in worst.items():
        print("ch01_bahdanau: largest |%s - NumPy| = %.3g" % (name, diff))
    with tempfile.TemporaryDirectory() as tmp:
        bad_inputs(program, pathlib.Path(tmp))
    if max(worst.values()) > 1e-12:
        print("FAILED: a difference above 1e-12")
        return 1
    if FAILURES:
        print("FAILED: %d bad input(s) not refused properly" % len(FAILURES))
        return 1
    print("all agree with NumPy to 1e-12; bad inputs refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())

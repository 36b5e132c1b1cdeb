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
from numpy_reference import program_argument, softmax_rows_np  # noqa: E402,E501




def multi_head_numpy(X, W_q, W_k, W_v, W_o, b_o, H):
    """Multi-head attention the NumPy way: reshape to (H, n, d_k)."""
    n, d_model = X.shape
    d_k = d_model // H

    def split(M):  # (n, d_model) -> (H, n, d_k), head h = columns h d_k...
        return M.reshape(n, H, d_k).transpose(1, 0, 2)

    Q, K, V = split(X @ W_q), split(X @ W_k), split(X @ W_v)   # Eq. (3.1)
    A = softmax_rows_np(Q @ K.transpose(0, 2, 1) / np.sqrt(d_k))  # (3.2)
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


# [ch03-pytorch-weights]
def pytorch_layout_multihead(x, in_proj_weight, out_proj_weight,
                             out_proj_bias, H):
    """nn.MultiheadAttention(d, H, bias=False) computed as PyTorch does:
    weights are (out, in) and a linear layer is x W^T (F.linear)."""
    n, d = x.shape
    w_q, w_k, w_v = np.split(in_proj_weight, 3)       # each (d, d), (out, in)
    q, k, v = x @ w_q.T, x @ w_k.T, x @ w_v.T
    split = lambda m: m.reshape(n, H, d // H).transpose(1, 0, 2)
    s = split(q) @ split(k).transpose(0, 2, 1) / np.sqrt(d // H)
    a = softmax_rows_np(s)
    heads = (a @ split(v)).transpose(1, 0, 2).reshape(n, d)
    return heads @ out_proj_weight.T + out_proj_bias


def book_weights_from_pytorch(in_proj_weight, out_proj_weight,
                              out_proj_bias):
    """The book's (in, out) weights: transpose every PyTorch weight, and
    store it in C order (a transposed array is in Fortran order)."""
    w_q, w_k, w_v = np.split(in_proj_weight, 3)
    c_order = np.ascontiguousarray
    return {"W_q": c_order(w_q.T), "W_k": c_order(w_k.T),
            "W_v": c_order(w_v.T), "W_o": c_order(out_proj_weight.T),
            "b_o": out_proj_bias}
# [ch03-pytorch-weights]


def check_pytorch_weights(program, work):
    """Weights stored as PyTorch stores them, loaded by transposing."""
    rng = np.random.default_rng(7)
    n, d, H = 5, 8, 2
    x = rng.standard_normal((n, d))
    in_proj = rng.standard_normal((3 * d, d)) / np.sqrt(d)
    out_proj, out_bias = rng.standard_normal((d, d)), rng.standard_normal(d)
    expected = pytorch_layout_multihead(x, in_proj, out_proj, out_bias, H)
    try:  # the real PyTorch layer too, where PyTorch is installed
        import torch
        layer = torch.nn.MultiheadAttention(d, H, bias=False).double()
        with torch.no_grad():
            layer.in_proj_weight.copy_(torch.from_numpy(in_proj))
            layer.out_proj.weight.copy_(torch.from_numpy(out_proj))
        xt = torch.from_numpy(x)[:, None, :]          # (n, batch 1, d)
        y_torch = layer(xt, xt, xt)[0][:, 0, :].detach().numpy() + out_bias
        print("PyTorch's nn.MultiheadAttention vs its layout in NumPy: %.3g"
              % np.max(np.abs(y_torch - expected)))
        expected = y_torch
    except ImportError:
        print("PyTorch is not installed: its layout is computed in NumPy")
    save_all(work, dict(X=x, **book_weights_from_pytorch(in_proj, out_proj,
                                                         out_bias)))
    run(program, ["--heads", str(H), "--load", str(work), "--save",
                  str(work)])
    diff = np.max(np.abs(np.load(work / "Y.npy") - expected))
    print("PyTorch-layout weights, transposed and loaded: largest "
          "|Y - PyTorch| = %.3g" % diff)
    return diff


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
    with tempfile.TemporaryDirectory() as tmp:
        worst = max(worst, check_pytorch_weights(program, pathlib.Path(tmp)))
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

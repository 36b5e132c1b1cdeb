"""What the check scripts share: the book's row softmax written in NumPy,
independently of the C++ code, and the one command-line argument every
check script takes (the path of the chapter program it checks)."""
import argparse
import pathlib

import numpy as np


def softmax_rows_np(s, axis=-1):
    """Softmax over the keys (the last axis), the book's rule: the row
    maximum is subtracted first, a masked score (-inf) gets weight exactly
    0, and a row whose scores are all -inf gets all-zero weights."""
    m = s.max(axis=axis, keepdims=True)
    m = np.where(np.isinf(m), 0.0, m)   # a fully masked row stays -inf ...
    e = np.exp(s - m)
    z = e.sum(axis=axis, keepdims=True)
    return e / np.where(z == 0.0, 1.0, z)  # ... and gets zero weights


def program_argument(description):
    """The parser of a check script: --program PATH, the chapter program."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--program", required=True,
                        type=lambda p: pathlib.Path(p).resolve(),
                        help="the chapter program to check")
    return parser

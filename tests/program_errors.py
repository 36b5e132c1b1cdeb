#!/usr/bin/env python3
"""Every chapter program answers bad input with one line on standard error
and exit status 2, never a crash or a silent wrong answer.

    python3 tests/program_errors.py build/ch00_introduction build/ch01_...

For every program: --help, an unknown flag, malformed values of --seed
and of the program's own flags, a stray argument, a --load folder that does
not exist, an empty one, --out and --save where no file can be written,
and a --load folder where each input the program reads, one at a time, is
damaged in each way of damaged_npy_cases (missing, not .npy, wrong dtype,
big-endian, Fortran order, wrong rank, truncated, corrupt header, NaN,
infinity), and inputs whose shapes do not fit each other (and, where a
program reads a mask, a mask of the wrong shape or dtype).
"""
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

FAILURES = []


def expect(program, args, status, stderr_has=None, one_line=True, cwd=None,
           label=None):
    """Runs program with args; checks the exit status and, for status 2,
    one line on stderr that starts with '<name>: error: ' and contains
    stderr_has (a string, or a list of strings that must all appear).
    label, if given, names the case in the printed line."""
    run = subprocess.run([str(program)] + args, capture_output=True,
                         text=True, timeout=120, cwd=cwd)
    name = pathlib.Path(program).name
    what = "%s %s" % (name, " ".join(args))
    if label:
        what += " [%s]" % label
    err = run.stderr.strip()
    problems = []
    if run.returncode != status:
        problems.append("exit status %d, expected %d" % (run.returncode,
                                                         status))
    if status == 2:
        if one_line and len(err.splitlines()) != 1:
            problems.append("expected one line on stderr, got %r" % err)
        if not err.startswith(name + ": error: "):
            problems.append("stderr should start with '%s: error: ', got %r"
                            % (name, err))
        wanted = [stderr_has] if isinstance(stderr_has, str) else (
            stderr_has or [])
        for text in wanted:
            if text not in err:
                problems.append("stderr should mention %r, got %r"
                                % (text, err))
    print("%s  %s -> %d %s" % ("FAIL" if problems else "ok  ", what,
                               run.returncode, err.splitlines()[0] if err
                               else ""))
    for p in problems:
        print("      " + p)
        FAILURES.append(what)


def damaged_npy_cases(folder, name, shape=(2, 3)):
    """(description, writer, expected text) for one input file `name` whose
    good shape is `shape`."""
    good = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    last = tuple(n - 1 for n in shape)
    last_text = "(%s)" % ", ".join(map(str, last)) if len(last) > 1 \
        else "(%d,)" % last[0]

    def save(array):
        np.save(folder / name, array)

    def raw(data):
        (folder / name).write_bytes(data)

    def truncated():
        save(good)
        data = (folder / name).read_bytes()
        raw(data[:-5])

    def corrupt_header():
        save(good)
        data = bytearray((folder / name).read_bytes())
        data[10:20] = b"garbage!!!"
        raw(bytes(data))

    def nan():
        bad = good.copy()
        bad[last] = np.nan
        save(bad)

    cases = [
        ("missing file", lambda: (folder / name).unlink(missing_ok=True),
         "cannot open"),
        ("not .npy", lambda: raw(b"hello, world\n"), "not a .npy file"),
        ("wrong dtype", lambda: save(good.astype(np.float32)),
         "expected dtype float64"),
        ("big-endian", lambda: save(good.astype(">f8")), "big-endian"),
        ("Fortran order", lambda: save(np.asfortranarray(good)),
         "Fortran order"),
        ("wrong rank", lambda: save(np.zeros(shape + (2,))), "rank"),
        ("truncated", truncated, "truncated"),
        ("corrupt header", corrupt_header, "corrupt"),
        ("NaN", nan, "at index " + last_text),
        ("infinity", lambda: save(np.full(shape, np.inf)), "finite"),
    ]
    if len(shape) == 1:
        # A vector is stored the same in C and Fortran order.
        cases = [c for c in cases if c[0] != "Fortran order"]
    return cases


# What each program reads with --load: arrays whose shapes fit each other.
# Each of them is damaged in turn in every way of damaged_npy_cases.
def _f8(*shape):
    return np.random.default_rng(sum(shape)).standard_normal(shape)


GOOD_INPUTS = {
    "ch00_introduction": {"Q.npy": _f8(2, 3), "K.npy": _f8(4, 3),
                          "V.npy": _f8(4, 2)},
    "ch01_bahdanau": {"h.npy": _f8(3, 4), "s_prev.npy": _f8(2, 2),
                      "W_a.npy": _f8(3, 2), "U_a.npy": _f8(3, 4),
                      "v_a.npy": _f8(3)},
    "ch02_self_attention": {"X.npy": _f8(3, 4), "W_q.npy": _f8(4, 2),
                            "W_k.npy": _f8(4, 2), "W_v.npy": _f8(4, 3)},
    "ch03_multi_head": dict([("X.npy", _f8(3, 4))]
                            + [(w, _f8(4, 4)) for w in ("W_q.npy", "W_k.npy",
                                                        "W_v.npy", "W_o.npy")]
                            + [("b_o.npy", _f8(4))]),
    "ch04_cross_attention": dict([("X.npy", _f8(3, 4)), ("Z.npy", _f8(5, 4))]
                                 + [(w, _f8(4, 4))
                                    for w in ("W_q.npy", "W_k.npy",
                                              "W_v.npy", "W_o.npy")]
                                 + [("b_o.npy", _f8(4))]),
    "ch05_heads": dict([(w, _f8(16, 16)) for w in ("W_q.npy", "W_k.npy",
                                                   "W_v.npy", "W_o.npy")]
                       + [("b_o.npy", _f8(16)), ("W_u.npy", _f8(16, 10)),
                          ("b_u.npy", _f8(10))]),
    "ch06_scale": {"Q.npy": _f8(3, 4), "K.npy": _f8(5, 4),
                   "V.npy": _f8(5, 2)},
    # |V| = 5, n_max = 6, d_model = 4, the default H = 2 and L = 2.
    "ch07_layers": dict([("tokens.npy", np.array([0, 1, 4, 2])),
                         ("W_E.npy", _f8(5, 4)), ("P.npy", _f8(6, 4)),
                         ("W_U.npy", _f8(4, 5))]
                        + [("%s_%d.npy" % (w, l), _f8(4, 4))
                           for l in (0, 1)
                           for w in ("W_q", "W_k", "W_v", "W_o")]
                        + [("b_o_%d.npy" % l, _f8(4)) for l in (0, 1)]),
    "ch08_modern": dict([("X.npy", _f8(3, 4))]
                        + [(w, _f8(4, 4)) for w in ("W_q.npy", "W_k.npy",
                                                    "W_v.npy", "W_o.npy")]
                        + [("b_o.npy", _f8(4))]),
}

# Inputs that hold token ids (int64), not float64: of damaged_npy_cases
# only the damage that does not depend on the dtype applies (their own
# faults are in SHAPE_MISMATCHES).
INDEX_INPUTS = {"tokens.npy"}
INDEX_DAMAGE = {"missing file", "not .npy", "truncated", "corrupt header"}

# (file, array, expected text): one input replaced by one whose shape does
# not fit the others.
SHAPE_MISMATCHES = {
    "ch00_introduction": [("Q.npy", _f8(2, 5), "do not fit")],
    "ch01_bahdanau": [("U_a.npy", _f8(3, 5), "do not fit")],
    "ch02_self_attention": [("W_k.npy", _f8(4, 3), "do not fit")],
    "ch03_multi_head": [("W_v.npy", _f8(4, 3), "W_v.npy has shape")],
    "ch04_cross_attention": [
        ("Z.npy", _f8(5, 3), "Z.npy"),
        ("mask.npy", np.ones((3, 4), dtype=bool),
         "mask.npy: its array must have shape (n_q, n_k) = (3, 5)"),
        ("mask.npy", np.ones((3, 5)), "expected dtype bool")],
    "ch05_heads": [("W_u.npy", _f8(16, 9), "W_u must have shape")],
    "ch07_layers": [
        ("W_U.npy", _f8(4, 6), "W_U must have shape (d_model, |V|)"),
        ("P.npy", _f8(6, 3), "P must have shape (n_max, d_model)"),
        ("b_o_1.npy", _f8(3), "b_o must have shape (d_model,)"),
        ("tokens.npy", np.array([0, 5]), "expected token ids in 0 .. 5 - 1"),
        ("tokens.npy", np.arange(7) % 5, "expected 1 to n_max = 6 tokens"),
        ("tokens.npy", np.array([0.0, 1.0]), "expected dtype int64")],
    "ch06_scale": [
        ("K.npy", _f8(5, 3), "K.npy: its array must have shape"),
        ("V.npy", _f8(4, 2), "V.npy: its array must have shape"),
        ("mask.npy", np.ones((3, 4), dtype=bool),
         "mask.npy: its array must have shape"),
        ("mask.npy", np.ones((3, 5), dtype=np.int64),
         "expected dtype bool")],
    "ch08_modern": [("W_v.npy", _f8(4, 3), "W_v.npy has shape"),
                    ("W_o.npy", _f8(3, 4), "W_o.npy has shape"),
                    ("b_o.npy", _f8(3), "b_o.npy has shape"),
                    ("W_q.npy", _f8(5, 4), "W_q.npy has shape")],
}

# Malformed values of each program's own flags: (arguments, expected text).
BAD_FLAGS = {
    "ch03_multi_head": [(["--heads", "-1"], "--heads"),
                        (["--heads", "x"], "--heads"),
                        (["--heads", "0"], "--heads: expected a positive "
                                           "whole number, got '0'")],
    "ch04_cross_attention": [
        (["--heads", "two"], "--heads: expected a whole number, 0 or more, "
                             "got 'two'"),
        (["--heads=-2"], "--heads: expected a whole number, 0 or more, got "
                         "'-2'"),
        (["--heads", "0"], "--heads: expected a positive whole number, got "
                           "'0'")],
    "ch05_heads": [(["--steps", "-1"], "--steps: expected a whole number, "
                                       "0 or more, got '-1'"),
                   (["--steps", "1e3"], "--steps: expected a whole number")],
    "ch07_layers": [(["--seeds", "0"], "--seeds: expected at least 1"),
                    (["--steps", "x"], "--steps: expected a whole number"),
                    (["--heads", "2"], "--heads and --layers describe a "
                                       "model read with --load")],
    "ch06_scale": [(["--max-n", "big"], "--max-n: expected a whole number"),
                   (["--measure", "tiled:-5"], "WAY:N"),
                   (["--measure", "tiled:99999999999"], "WAY:N"),
                   (["--backward"], "--backward needs --load DIR and "
                                    "--save DIR")],
    "ch08_modern": [(["--heads", "0"], "--heads: expected a positive whole "
                                       "number, got '0'"),
                    (["--kv-heads", "0"], "--kv-heads: expected a positive "
                                          "whole number, got '0'"),
                    (["--window", "0"], "--window: expected a window of at "
                                        "least 1 position"),
                    (["--window", "-3"], "--window: expected a whole number"),
                    (["--rope-base", "0.5"], "--rope-base: expected a finite "
                                             "number above 1"),
                    (["--rope-base", "x"], "--rope-base: expected a number"),
                    (["--position-offset", "-1"], "--position-offset"),
                    (["--heads", "2"], "--heads applies to --load DIR"),
                    (["--seeds", "0"], "--seeds"),
                    (["--steps", "x"], "--steps: expected a whole number")],
}


# A second mode of a program, selected by a flag, that reads more inputs:
# flag, its inputs (GOOD_INPUTS and more), and the inputs that do not fit
# (file, array, expected text). Its extra inputs are damaged in every way
# of damaged_npy_cases, as GOOD_INPUTS are.
SECOND_MODES = {
    "ch06_scale": ("--backward",
                   dict(GOOD_INPUTS["ch06_scale"], **{"dY.npy": _f8(3, 2)}),
                   [("dY.npy", _f8(3, 3), "dY.npy: its array must have "
                                          "shape (n_q, d_v)"),
                    ("dY.npy", _f8(4, 2), "dY.npy: its array must have "
                                          "shape (n_q, d_v)"),
                    ("mask.npy", np.ones((3, 4), dtype=bool),
                     "mask.npy: its array must have shape")]),
}


def check_second_mode(program, name):
    """The damaged and mismatched inputs of SECOND_MODES[name]."""
    flag, inputs, mismatches = SECOND_MODES[name]
    extra = set(inputs) - set(GOOD_INPUTS[name])
    with tempfile.TemporaryDirectory() as tmp, \
            tempfile.TemporaryDirectory() as out:
        folder = pathlib.Path(tmp)
        for file in sorted(extra):
            for what, damage, expected in damaged_npy_cases(
                    folder, file, inputs[file].shape):
                write_inputs(folder, inputs)
                damage()
                expect(program, ["--load", tmp, "--save", out, flag], 2,
                       [file, expected],
                       label="%s %s: %s" % (flag, file, what))
        for file, array, expected in mismatches:
            write_inputs(folder, inputs)
            np.save(folder / file, array)
            expect(program, ["--load", tmp, "--save", out, flag], 2,
                   expected, label="%s %s %s" % (
                       flag, file, "x".join(map(str, array.shape))))


# Programs whose --save alone writes what they computed without inputs:
# chapter 3 its two-head example, chapters 5 and 7 their trained models.
SAVE_ALONE_WRITES = {"ch03_multi_head", "ch05_heads", "ch07_layers"}


def write_inputs(folder, inputs):
    for old in folder.glob("*.npy"):
        old.unlink()
    for name, array in inputs.items():
        np.save(folder / name, array)


def main(programs):
    for program in programs:
        name = pathlib.Path(program).name
        expect(program, ["--help"], 0)
        expect(program, ["--no-such-flag"], 2, "unknown flag '--no-such-flag'")
        expect(program, ["--seed", "abc"], 2,
               "--seed: expected a whole number, 0 or more, got 'abc'")
        expect(program, ["--seed", "-1"], 2,
               "--seed: expected a whole number, 0 or more, got '-1'")
        expect(program, ["--seed=1.5"], 2, "--seed: expected a whole number")
        expect(program, ["--seed"], 2, "--seed: expected a value")
        expect(program, ["stray"], 2, "stray")
        expect(program, ["--load", "/nonexistent/folder"], 2,
               "/nonexistent/folder")
        for args, expected in BAD_FLAGS.get(name, []):
            expect(program, args, 2, expected)
        if name not in SAVE_ALONE_WRITES:
            # --save without --load: every program whose results need
            # inputs answers the same way.
            with tempfile.TemporaryDirectory() as tmp:
                expect(program, ["--save", tmp], 2,
                       "--save needs --load DIR holding the inputs")
        with tempfile.TemporaryDirectory() as tmp:
            # An empty --load folder: the first input it reads is missing.
            expect(program, ["--load", tmp, "--save", tmp], 2, ".npy")
        if name not in GOOD_INPUTS:
            FAILURES.append("%s: no inputs known for the damaged-file cases"
                            % name)
            continue
        # Nowhere to write: --out and --save on a file, and on a folder
        # where no file can be created (even by root: /proc).
        with tempfile.NamedTemporaryFile() as file:
            for flag in ("--out", "--save"):
                expect(program, [flag, file.name], 2, flag)
                expect(program, [flag, "/proc"], 2,
                       [flag + " /proc", "writable"])
                expect(program, [flag, file.name + "/sub"], 2,
                       [flag, "cannot create"])
        inputs = GOOD_INPUTS[name]
        with tempfile.TemporaryDirectory() as tmp, \
                tempfile.TemporaryDirectory() as out:
            folder = pathlib.Path(tmp)
            # Each kind of damage in each input; the message names the file.
            for file, array in inputs.items():
                for what, damage, expected in damaged_npy_cases(
                        folder, file, array.shape):
                    if file in INDEX_INPUTS and what not in INDEX_DAMAGE:
                        continue
                    write_inputs(folder, inputs)
                    damage()
                    expect(program, ["--load", tmp, "--save", out], 2,
                           [file, expected], label="%s: %s" % (file, what))
            # Inputs whose shapes do not fit each other.
            for file, array, expected in SHAPE_MISMATCHES[name]:
                write_inputs(folder, inputs)
                np.save(folder / file, array)
                expect(program, ["--load", tmp, "--save", out], 2, expected,
                       label="%s %s" % (file, "x".join(map(str, array.shape))
                                        + " " + str(array.dtype)))
        if name in SECOND_MODES:
            check_second_mode(program, name)
    print("%d failure(s)" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

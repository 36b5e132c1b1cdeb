#!/usr/bin/env python3
"""Every chapter program answers bad input with one line on standard error
and exit status 2, never a crash or a silent wrong answer.

    python3 tests/program_errors.py build/ch00_introduction build/ch01_...

For every program: --help, an unknown flag, a malformed --seed, a stray
argument, a --load folder that does not exist, and a --load folder holding
damaged .npy files (missing, wrong dtype, wrong rank, truncated, corrupt
header, big-endian, Fortran order, NaN, infinity).
"""
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

FAILURES = []


def expect(program, args, status, stderr_has=None, one_line=True, cwd=None):
    run = subprocess.run([str(program)] + args, capture_output=True,
                         text=True, timeout=120, cwd=cwd)
    name = pathlib.Path(program).name
    what = "%s %s" % (name, " ".join(args))
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
        if stderr_has and stderr_has not in err:
            problems.append("stderr should mention %r, got %r"
                            % (stderr_has, err))
    print("%s  %s -> %d %s" % ("FAIL" if problems else "ok  ", what,
                               run.returncode, err.splitlines()[0] if err
                               else ""))
    for p in problems:
        print("      " + p)
        FAILURES.append(what)


def damaged_npy_cases(folder, name):
    """(description, writer, expected text) for one input file `name`."""
    good = np.arange(6, dtype=np.float64).reshape(2, 3)

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
        bad[1, 2] = np.nan
        save(bad)

    return [
        ("missing file", lambda: (folder / name).unlink(missing_ok=True),
         "cannot open"),
        ("not .npy", lambda: raw(b"hello, world\n"), "not a .npy file"),
        ("wrong dtype", lambda: save(good.astype(np.float32)),
         "expected dtype float64"),
        ("big-endian", lambda: save(good.astype(">f8")), "big-endian"),
        ("Fortran order", lambda: save(np.asfortranarray(good)),
         "Fortran order"),
        ("wrong rank", lambda: save(np.zeros((2, 3, 4))), "rank"),
        ("truncated", truncated, "truncated"),
        ("corrupt header", corrupt_header, "corrupt"),
        ("NaN", nan, "at index (1, 2)"),
        ("infinity", lambda: save(np.full((2, 3), np.inf)), "finite"),
    ]


def main(programs):
    for program in programs:
        expect(program, ["--help"], 0)
        expect(program, ["--no-such-flag"], 2, "no-such-flag")
        expect(program, ["--seed", "abc"], 2, "abc")
        expect(program, ["stray"], 2, "stray")
        expect(program, ["--load", "/nonexistent/folder"], 2,
               "/nonexistent/folder")
        with tempfile.TemporaryDirectory() as tmp:
            folder = pathlib.Path(tmp)
            # An empty --load folder: the first input it reads is missing.
            expect(program, ["--load", tmp, "--save", tmp], 2, ".npy")
    # ch00 reads Q.npy, K.npy, V.npy: damage each kind of way in Q.npy.
    ch00 = [p for p in programs if pathlib.Path(p).name == "ch00_introduction"]
    for program in ch00:
        with tempfile.TemporaryDirectory() as tmp:
            folder = pathlib.Path(tmp)
            rng = np.random.default_rng(0)
            for what, damage, expected in damaged_npy_cases(folder, "Q.npy"):
                np.save(folder / "K.npy", rng.standard_normal((4, 3)))
                np.save(folder / "V.npy", rng.standard_normal((4, 2)))
                damage()
                expect(program, ["--load", tmp, "--save", tmp], 2, expected)
            np.save(folder / "Q.npy", rng.standard_normal((2, 5)))
            expect(program, ["--load", tmp, "--save", tmp], 2, "do not fit")
    print("%d failure(s)" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

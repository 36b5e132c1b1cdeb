#!/usr/bin/python3
"""Packs the data the playgrounds need (trained weights, a chapter's inputs)
into one script the pages load: window.BookPlaygroundData.

Usage:
    playground_data.py GEN_DIR OUT.js

Every file GEN_DIR/pg_*.npy (a chapter program writes them with its --out
run, next to its figures' data) becomes an entry named after the file
(pg_ch01_W_a.npy -> "ch01_W_a") holding its shape and its numbers row by
row. Numbers are written with repr(), the shortest text that reads back as
the same double, so the page sends the library exactly what the program
wrote. With no such file it writes an empty table.
"""
import glob
import json
import os
import sys

import numpy as np


def main(argv):
    if len(argv) != 3:
        print("usage: playground_data.py GEN_DIR OUT.js", file=sys.stderr)
        return 2
    gen, out = argv[1], argv[2]
    table = {}
    for path in sorted(glob.glob(os.path.join(gen, "pg_*.npy"))):
        name = os.path.basename(path)[3:-4]
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            print(f"playground_data.py: cannot read {path}: {e}",
                  file=sys.stderr)
            return 2
        if a.dtype.kind not in "fiub" or not np.all(np.isfinite(a)):
            print(f"playground_data.py: {path}: expected finite numbers, "
                  f"got dtype {a.dtype}", file=sys.stderr)
            return 2
        table[name] = {"shape": list(a.shape),
                       "data": [float(x) for x in a.astype(float).ravel()]}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write("// Written by code/tools/playground_data.py from the "
                "chapter programs' pg_*.npy.\n")
        f.write("window.BookPlaygroundData = ")
        json.dump(table, f, separators=(",", ":"))
        f.write(";\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

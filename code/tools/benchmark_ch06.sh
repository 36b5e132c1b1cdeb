#!/bin/sh
# Chapter 6's full benchmark, kept out of the test suite: time and peak
# memory of the four ways against n (256 to 32768, d = 64, double), NumPy
# and PyTorch in the same run, the matrix-multiply bound, and the cost of a
# decoding step with and without a key-value cache. Installs python3-numpy
# and python3-torch when missing, builds, measures into build/book/gen and
# regenerates the book from the measurements (code/tools/report_ch06.py
# drives the library's measurements and writes the report). Everything on
# ONE thread.
# Run it from the repository's top folder; it takes several minutes.
#
#   sh code/tools/benchmark_ch06.sh [MAX_N]      (default 32768)
set -eu
MAX_N=${1:-32768}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

cd "$(dirname "$0")/../.."
sh code/tools/ensure_packages.sh python3-numpy python3-torch gnuplot-nox

[ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target ch06_scale
GEN=build/book/gen
mkdir -p "$GEN"

echo "== The library (C++), n up to $MAX_N"
/usr/bin/python3 code/tools/report_ch06.py --program build/ch06_scale \
    --out "$GEN" --full --max-n "$MAX_N"
echo
echo "== NumPy and PyTorch, n up to 8192 (they store the n x n matrices)"
PY_MAX=8192
[ "$MAX_N" -lt "$PY_MAX" ] && PY_MAX=$MAX_N
/usr/bin/python3 code/tools/bench_ch06_python.py --out "$GEN" --max-n "$PY_MAX"

# Re-run the build's short run of chapter 6 (code/tools/report_ch06.py),
# which merges the full measurements into the chapter's tables and
# figures, then regenerate the book.
rm -f "$GEN/ch06_scale.txt"
cmake --build build -j2
echo
echo "== Time (s) and ratios"
cat "$GEN/ch06_benchmark_time.md"
echo
echo "== Peak memory beyond inputs and output (MiB)"
cat "$GEN/ch06_benchmark_memory.md"
echo
echo "== Targets"
cat "$GEN/ch06_targets.md"
echo
echo "Figures: $GEN/ch06_time.svg, $GEN/ch06_memory.svg, $GEN/ch06_kv_cache.svg"
echo "The chapter: build/book/html/ch06_scale.html"

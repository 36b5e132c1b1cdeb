#!/bin/sh
# Chapter 6's full benchmark, kept out of the test suite: the library's
# ways, NumPy and PyTorch side by side in one run, n = 256 to MAX_N
# (d = 64, double; NumPy and PyTorch up to 8192), on one thread and on two,
# each contender at each n in a process of its own, a warm-up and the best
# of at least five runs (a budget of 1 s); the levers one at a time; the
# peak memory of the forward and backward passes at n = 32768; and the
# decoding steps. Installs python3-numpy and python3-torch when missing,
# builds the book if needed, measures into build/book/gen with
# code/tools/report_ch06.py --full, then regenerates the chapter's page
# from those numbers and prints the tables and the targets.
# Run it from the repository's top folder. MAX_N = 32768 took 15 minutes
# on a 2-core machine (two runs); 8192 leaves out the slowest points.
#
#   sh code/tools/benchmark_ch06.sh [MAX_N]      (default 32768)
set -eu
MAX_N=${1:-32768}
case "$MAX_N" in
  ''|*[!0-9]*) echo "benchmark_ch06.sh: MAX_N must be a number from 4096" \
                    "to 65536, got '$MAX_N'" >&2; exit 2 ;;
esac
if [ "$MAX_N" -lt 4096 ] || [ "$MAX_N" -gt 65536 ]; then
  echo "benchmark_ch06.sh: MAX_N must be from 4096 to 65536, got $MAX_N" >&2
  exit 2
fi

cd "$(dirname "$0")/../.."
sh code/tools/ensure_packages.sh python3-numpy python3-torch gnuplot-nox

[ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
GEN=build/book/gen

echo "== Measuring, n up to $MAX_N (progress on standard error)"
/usr/bin/python3 code/tools/report_ch06.py --program build/ch06_scale \
    --out "$GEN" --log "$GEN/ch06_scale.txt" --full --max-n "$MAX_N"

# The log is newer than the program, so the build keeps these numbers:
# it only redraws the figures and regenerates the HTML.
cmake --build build -j2 --target book
echo
cat "$GEN/ch06_scale.txt" | sed -n '/^Side by side/,$p'
echo "Figures: $GEN/ch06_time.svg, $GEN/ch06_memory.svg, $GEN/ch06_kv_cache.svg"
echo "The chapter: build/book/html/ch06_scale.html"

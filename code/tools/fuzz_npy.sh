#!/bin/sh
# Fuzzes the .npy reading path with libFuzzer (clang), under
# AddressSanitizer and UndefinedBehaviorSanitizer, for a bounded time.
#     sh code/tools/fuzz_npy.sh [SECONDS]     (default 60)
# Seeds come from tests/fuzz/corpus; the corpus it grows stays in
# build-fuzz/. If it finds a crash, it stops and names the input file:
# fix the cause, then copy the file into tests/fuzz/regressions/, where the
# test command replays it for ever after.
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-60}
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz_npy.sh: expected a number of seconds, got '$seconds'" >&2
               exit 2 ;;
esac
sh code/tools/ensure_packages.sh clang libclang-rt-14-dev libxtensor-dev \
  python3-numpy
mkdir -p build-fuzz/corpus
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all -Icode tests/fuzz/fuzz_npy.cpp \
  -o build-fuzz/fuzz_npy
echo "Fuzzing the .npy reader for $seconds s..."
build-fuzz/fuzz_npy -max_total_time="$seconds" -max_len=4096 \
  -artifact_prefix=build-fuzz/ -print_final_stats=1 \
  build-fuzz/corpus tests/fuzz/corpus

#!/bin/sh
# The whole test suite built again with AddressSanitizer and
# UndefinedBehaviorSanitizer (GCC, -O1, leak detection on), in build-asan/.
# Any error report stops the test that made it, so the command fails.
#     sh code/tools/sanitizer_tests.sh
# It needs what the README's first command installs; on 2 cores it takes
# about as long as that command.
set -eu
cd "$(dirname "$0")/../.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBOOK_SANITIZE=ON \
      -DBOOK_DOCS=OFF
cmake --build build-asan -j2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -j2 --output-on-failure

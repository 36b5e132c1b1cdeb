#!/bin/sh
# The whole test suite built again with AddressSanitizer and
# UndefinedBehaviorSanitizer (GCC, -O1, leak detection on), in build-asan/.
# Any error report stops the test that made it, so the command fails.
#     sh code/tools/sanitizer_tests.sh
# It needs what the README's first command installs; on 2 cores it takes
# about as long as that command.
set -eu
cd "$(dirname "$0")/../.."
# The configuration is the preset "sanitize" of CMakePresets.json (-O1:
# xtensor's expression templates at -O0 make chapter 5's training and
# chapter 6's timings many times slower; Clang's AddressSanitizer manual:
# "To get a reasonable performance add -O1 or higher").
cmake --preset sanitize
cmake --build --preset sanitize
ctest --preset sanitize

#!/bin/sh
# Grades your coding exercises: builds the graders against your files in
# code/exercises and says, exercise by exercise, which pass.
#     sh code/tools/grade_exercises.sh          every chapter
#     sh code/tools/grade_exercises.sh ch01     one chapter
# Run the README's first command once before (it configures build/).
set -eu
cd "$(dirname "$0")/../.."
if [ ! -f build/CMakeCache.txt ]; then
  echo "No build/ yet: run 'sh code/tools/build_book.sh' first." >&2
  exit 2
fi
cmake -S . -B build > /dev/null
graders=""
for src in tests/exercises/grade_${1:-ch}*.cpp; do
  [ -f "$src" ] || { echo "no grader matches '${1:-}'" >&2; exit 2; }
  graders="$graders $(basename "$src" .cpp)"
done
cmake --build build -j2 --target $graders
passed=0; total=0
for g in $graders; do
  # One line per exercise: its tag and name, then PASS or FAIL.
  build/$g --list-test-names-only | grep '^Exercise' > build/$g.list
  while IFS= read -r name; do
    total=$((total + 1))
    if build/$g "$name" > build/$g.last 2>&1; then
      passed=$((passed + 1)); echo "PASS  $name"
    else
      echo "FAIL  $name    (details: build/$g \"$name\")"
    fi
  done < build/$g.list
done
echo "$passed of $total exercises pass"

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
# Build them all at once; if that fails, one by one, so that a chapter
# whose file does not compile does not stop the grading of the others.
if ! cmake --build build -j2 --target $graders; then
  for g in $graders; do
    cmake --build build -j2 --target $g > build/$g.log 2>&1 \
      || { rm -f build/$g; echo "$g does not compile: see build/$g.log"; }
  done
fi
passed=0; total=0
for g in $graders; do
  if [ ! -x build/$g ]; then
    # Every exercise of a chapter that does not compile fails.
    grep -o '"Exercise [^"]*"' tests/exercises/$g.cpp | tr -d '"' |
    while IFS= read -r name; do
      echo "FAIL  $name    (does not compile: build/$g.log)"
    done
    n=$(grep -c '"Exercise ' tests/exercises/$g.cpp)
    total=$((total + n))
    continue
  fi
  # One line per exercise: its tag and name, then PASS or FAIL.
  build/$g --list-test-names-only | grep '^Exercise' > build/$g.list
  while IFS= read -r name; do
    total=$((total + 1))
    # Catch2 reads ',' and '[' in a name as syntax: escape them; and a
    # name that matched no test must not count as a pass.
    spec=$(printf '%s' "$name" | sed 's/[],[]/\\&/g')
    if build/$g "$spec" -w NoTests > build/$g.last 2>&1; then
      passed=$((passed + 1)); echo "PASS  $name"
    else
      echo "FAIL  $name    (details: build/$g \"$name\")"
    fi
  done < build/$g.list
done
echo "$passed of $total exercises pass"

#!/bin/sh
# Grades your coding exercises: builds the graders against your files in
# code/exercises and says, exercise by exercise, which pass.
#     sh code/tools/grade_exercises.sh          every chapter
#     sh code/tools/grade_exercises.sh ch01     one chapter
#     sh code/tools/grade_exercises.sh capstone the capstone's seven parts
# Run the README's first command once before (it configures build/).
#
# Options (before the chapter):
#     --exercises DIR  grade the chNN_*.hpp files in DIR instead of
#                      code/exercises (a student's submission, or
#                      tests/solutions); built in build/graded/
#     --build DIR      the build tree for the graders (default build/, or
#                      build/graded/ with --exercises); created if missing
#     --summary FILE   where to write the summary (default build/grades.tsv,
#                      or grades.tsv in the --build tree)
#
# It prints one block per exercise: PASS or FAIL and its name; under a
# FAIL, the check that failed with what was expected and what came, the
# inputs the grader shows, and a hint when it recognises the mistake. The
# summary has one line per exercise, tab-separated:
#     chapter  tag  name  PASS|FAIL  first failing check ("-" for a pass)
# The compiler's output goes to build/grade_build.log (and, for a chapter
# that does not compile, build/grade_chNN.log), never between the verdicts.
# Exit status: 0 when every exercise graded passes, 1 when one fails,
# 2 on bad arguments or without a configured build/.
set -eu
usage() {
  echo "usage: sh code/tools/grade_exercises.sh [--exercises DIR]" \
       "[--build DIR] [--summary FILE] [chNN]" >&2
  exit 2
}
here=$(pwd)
absolute() {
  case $1 in /*) echo "$1" ;; *) echo "$here/$1" ;; esac
}
exercises=""; build=""; summary=""; chapter=""
while [ $# -gt 0 ]; do
  case $1 in
    --exercises) [ $# -ge 2 ] || usage; exercises=$(absolute "$2"); shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build=$(absolute "$2"); shift 2 ;;
    --summary) [ $# -ge 2 ] || usage; summary=$(absolute "$2"); shift 2 ;;
    -h|--help) sed -n '2,26s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) usage ;;
    *) [ -z "$chapter" ] || usage; chapter=$1; shift ;;
  esac
done
cd "$(dirname "$0")/../.."
src=$(pwd)
if [ -n "$exercises" ] && [ ! -d "$exercises" ]; then
  echo "--exercises: no folder $exercises" >&2
  exit 2
fi
exercises=$(cd "${exercises:-code/exercises}" && pwd)
graders=""
for file in tests/exercises/grade_${chapter:-ch}*.cpp; do
  [ -f "$file" ] || { echo "no grader matches '$chapter'" >&2; exit 2; }
  graders="$graders $(basename "$file" .cpp)"
done
if [ -z "$build" ] && [ "$exercises" = "$src/code/exercises" ]; then
  # The student's own files: the book's build tree.
  build=$src/build
  if [ ! -f build/CMakeCache.txt ]; then
    echo "No build/ yet: run 'sh code/tools/build_book.sh' first." >&2
    exit 2
  fi
  cmake -S . -B build > build/grade_build.log 2>&1 ||
    { echo "cmake failed: see build/grade_build.log" >&2; exit 2; }
else
  # A build tree of its own, whose graders include the folder graded in
  # place of code/exercises (BOOK_EXERCISES_DIR in CMakeLists.txt).
  build=${build:-$src/build/graded}
  mkdir -p "$build"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBOOK_DOCS=OFF \
        -DBOOK_EXERCISES_DIR="$exercises" > "$build/grade_build.log" 2>&1 ||
    { echo "cmake failed: see $build/grade_build.log" >&2; exit 2; }
fi
summary=${summary:-$build/grades.tsv}
# Paths as the student sees them: relative to the source folder.
shown() {
  case $1 in "$src"/*) echo "${1#"$src"/}" ;; *) echo "$1" ;; esac
}
b=$(shown "$build")
jobs=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
# Build them all at once; if that fails, one by one, so that a chapter
# whose file does not compile does not stop the grading of the others.
echo "Building the graders (compiler output: $b/grade_build.log) ..."
if ! cmake --build "$b" -j "$jobs" --target $graders \
     >> "$b/grade_build.log" 2>&1; then
  for g in $graders; do
    cmake --build "$b" -j "$jobs" --target $g > "$b/$g.log" 2>&1 ||
      { rm -f "$b/$g"; echo "$g does not compile: see $b/$g.log"; }
  done
fi
echo
set --
for g in $graders; do
  set -- "$@" --chapter "${g#grade_}" "tests/exercises/$g.cpp" \
         "$b/$g" "$b/$g.log"
done
# Exit status 1 when an exercise fails: not an error of this script.
status=0
python=/usr/bin/python3
[ -x "$python" ] || python=python3
"$python" code/tools/grade_report.py --summary "$(shown "$summary")" \
  --xml-dir "$b/grade_xml" --source-dir "$src" "$@" || status=$?
exit $status

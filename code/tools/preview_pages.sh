#!/bin/sh
# Regenerates the book's HTML from this checkout's chapters, library and
# playgrounds, reusing the programs' output of an existing build (its
# book/gen folder), so that a change of text or of a playground can be
# looked at in about a minute instead of a full build. Not part of the
# README's commands; the normal build does all of this and more.
#
#     sh code/tools/preview_pages.sh BUILD_DIR OUT_DIR
#
# BUILD_DIR is a finished build (for example build/ of a fresh clone);
# nothing in it is written. OUT_DIR gets gen/ (a copy of BUILD_DIR's, with
# this checkout's playground files), html/ (the book) and book_playground
# (the native program, for tests/playground_check.py).
set -eu
[ $# -eq 2 ] || { echo "usage: preview_pages.sh BUILD_DIR OUT_DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/../.." && pwd)
ref=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
[ -d "$ref/book/gen" ] || { echo "preview_pages.sh: expected a finished build, $ref/book/gen is missing" >&2; exit 2; }
rm -rf "$out/gen" && cp -r "$ref/book/gen" "$out/gen"
mkdir -p "$out/gen/web"
g++ -std=c++17 -O1 -I"$src/code" -o "$out/book_playground" \
  "$src/code/web/playground.cpp" -lopenblas &
cmake -DEMXX="$(command -v em++ || true)" -DSOURCE="$src" \
  -DOUT="$out/gen/web/book_playground.js" -DINCLUDE="$ref/wasm_include" \
  -P "$src/code/tools/build_wasm.cmake"
wait
cat "$src/code/web/book_playgrounds.js" "$src"/code/web/pg_ch*.js \
  > "$out/gen/web/book_playgrounds.js"
/usr/bin/python3 "$src/code/tools/playground_data.py" "$out/gen" \
  "$out/gen/web/book_playground_data.js"
sed -e "s|@BOOK_GEN@|$out/gen|g" -e "s|@BOOK_OUT@|$out|g" \
    -e "s|@Python3_EXECUTABLE@|/usr/bin/python3|g" \
    -e "s|@PROJECT_SOURCE_DIR@|$src|g" "$src/Doxyfile" > "$out/Doxyfile"
cd "$src"
doxygen "$out/Doxyfile"
[ -d "$out/html/mathjax" ] || cp -r "$ref/book/html/mathjax" "$out/html/"
echo "The pages: $out/html/index.html"

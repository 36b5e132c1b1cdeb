#!/bin/sh
# The README's first command: installs the Debian packages that are
# missing, then configures and builds everything: every chapter program,
# a run of each, the figures drawn from their output, and the HTML book in
# build/book/html. Run it from the repository's top folder.
set -eu
cd "$(dirname "$0")/../.."

sh code/tools/ensure_packages.sh cmake make g++ pkg-config git python3 \
  python3-numpy libxtensor-dev libxtensor-blas-dev libopenblas-dev \
  liblapack-dev libcxxopts-dev catch2 doxygen graphviz libjs-mathjax \
  gnuplot-nox fonts-dejavu-core chromium valgrind emscripten

cmake --preset default
cmake --build --preset default
echo
echo "The book: build/book/html/index.html"
echo "Run the tests with: ctest --test-dir build -j2 --output-on-failure"

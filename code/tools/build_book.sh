#!/bin/sh
# The README's first command: installs the Debian packages that are
# missing, then configures and builds everything: every chapter program,
# a run of each, the figures drawn from their output, and the HTML book in
# build/book/html. Run it from the repository's top folder.
set -eu

PACKAGES="cmake make g++ pkg-config python3 python3-numpy \
libxtensor-dev libxtensor-blas-dev libopenblas-dev liblapack-dev \
libcxxopts-dev catch2 doxygen graphviz libjs-mathjax gnuplot-nox \
fonts-dejavu-core"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
       | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -n "$missing" ]; then
  echo "Installing missing Debian packages:$missing"
  if [ "$(id -u)" = 0 ]; then
    SUDO=""
  elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "Not root and no sudo. As root, run:" >&2
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
echo
echo "The book: build/book/html/index.html"
echo "Run the tests with: ctest --test-dir build -j2 --output-on-failure"

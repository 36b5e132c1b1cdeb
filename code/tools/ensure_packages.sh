#!/bin/sh
# Installs the Debian packages named as arguments that are not installed
# yet: as root directly, otherwise through sudo; with neither, it prints the
# apt-get line to run and fails.
#     sh code/tools/ensure_packages.sh PACKAGE...
set -eu
missing=""
for p in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
       | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -n "$missing" ] || exit 0
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

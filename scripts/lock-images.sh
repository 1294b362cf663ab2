#!/usr/bin/env bash
# Writes the pinned Python dependencies the images install (`pip install --no-deps -r`, then
# `pip check`), so an image is the same whenever it is built: every package at the version the
# project's .venv runs (make setup), resolved on Debian's Python 3.11 (the images' Python).
#   compose/images/target/requirements.txt   the package's dependencies (shop and Locust images)
#                                            and setuptools, which builds it
#   examples/two-service/requirements.txt    aiohttp and prometheus-client
# Run it after a dependency in pyproject.toml changed (and make setup installed it); a unit
# test fails while the files disagree with pyproject.toml's pins.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3.11}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/pip freeze --exclude-editable >"$tmp/venv.txt"
# lock OUT HEADER FREEZE-ARGS PIP-ARGS...: a fresh venv, the args installed at the .venv's versions
lock() {
  local out=$1 header=$2 freeze=$3
  shift 3
  rm -rf "$tmp/venv"
  "$PY" -m venv "$tmp/venv"
  nice -n 19 "$tmp/venv/bin/pip" install -q --disable-pip-version-check -c "$tmp/venv.txt" "$@"
  { printf '%s\n' "$header"; "$tmp/venv/bin/pip" freeze $freeze --exclude stormproof; }  # $freeze: words >"$out"
  echo "wrote $out ($(grep -vc '^#' "$out") packages)"
}
lock compose/images/target/requirements.txt \
  "# Written by scripts/lock-images.sh: the package's dependencies at the .venv's versions." \
  "--all --exclude pip" . "setuptools>=68"  # the build backend (pyproject.toml), for --no-build-isolation
lock examples/two-service/requirements.txt \
  "# Written by scripts/lock-images.sh: web.py's and quotes.py's dependencies, pinned." \
  "" aiohttp prometheus-client

#!/usr/bin/env bash
# The container smoke (`make test-containers`; `make test` runs it with --ci through
# tests/harness/test_container_smoke.py): the smoke scenarios (`-m smoke`), on the compose
# backend, in one run (one stack, images built once). Engine: $DOCKER_HOST when set, else the project engine (images built or checked first,
# started and stopped here if it was not running).
#
# A machine that cannot run containers is a skip, never a silent one: the script prints
# "[test-containers] SKIPPED: <why>" and exits 0. A scenario that fails is a failure (the run's
# exit status). With --ci, what is missing is set up first (scripts/setup-containers.sh: the
# Debian packages, then the images), and every step before the scenarios that cannot work here
# (no podman and no apt-get, apt-get failing, an image build failing, an engine that does not
# start or cannot run a container on a network of its own) is a skip, with its reason.
# Other arguments replace the default selection, e.g. scripts/test-containers.sh scenarios/crash-payments.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[test-containers] %s\n' "$*"; }
skip() { log "SKIPPED: $*"; exit 0; }
SP=".venv/bin/stormproof"
ci=0
if [ "${1:-}" = "--ci" ]; then ci=1; shift; fi
if [ $# -eq 0 ]; then set -- scenarios/ -m smoke; fi
t0=$(date +%s)

# the last lines of a failed step's output, on one line, for the skip reason
tail_of() { tail -n 4 "$1" | tr '\n' ' ' | cut -c1-600; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

started=0
if [ -z "${DOCKER_HOST:-}" ]; then
  missing=()
  for cmd in podman runc debootstrap docker-compose; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  [ -x /usr/lib/cni/dnsname ] || missing+=(dnsname-plugin)
  if [ $ci = 1 ]; then
    # packages when missing, then the images (an unchanged image is kept: under a second)
    [ ${#missing[@]} -eq 0 ] || log "setting up containers: ${missing[*]} missing"
    s=$(date +%s)
    if ! bash scripts/setup-containers.sh >"$out" 2>&1; then
      skip "make setup-containers failed here ($(tail_of "$out"))"
    fi
    cat "$out"  # what was installed and each image's build time, for the log
    log "setup-containers (packages and images) in $(( $(date +%s) - s ))s"
  elif [ ${#missing[@]} -gt 0 ]; then
    skip "no container engine (DOCKER_HOST unset; ${missing[*]} not installed): run 'make setup-containers'"
  else
    nice -n 19 "$SP" engine build
  fi
  if ! grep -q '^project engine: pid' <<<"$("$SP" engine status)"; then
    if ! nice -n 19 "$SP" engine up >"$out" 2>&1; then
      skip "the project engine did not start ($(tail_of "$out"))"
    fi
    started=1
    trap 'rm -f "$out"; "$SP" engine down >/dev/null' EXIT
  fi
  if ! "$SP" engine check >"$out" 2>&1; then
    skip "the engine cannot run a container here ($(tail_of "$out"))"
  fi
  log "$(cat "$out")"
else
  log "using your engine at DOCKER_HOST=$DOCKER_HOST (upstream images, docker-compose.yml)"
fi
s=$(date +%s)
status=0
nice -n 19 "$SP" run --backend compose --report reports/containers "$@" || status=$?
log "container smoke: exit $status, the run $(( $(date +%s) - s ))s, in all $(( $(date +%s) - t0 ))s (engine started here: $started)"
exit $status

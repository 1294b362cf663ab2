#!/usr/bin/env bash
# The container smoke (`make test-containers`): the smoke scenarios that can run in containers
# (`-m "smoke and not slow_start"`), on the compose backend. Engine: $DOCKER_HOST when set, else
# the project engine (images built or checked first, started and stopped here if it was not
# running). When no engine can start it says why and exits 0: a skip, never a silent one.
# Arguments replace the default selection, e.g. scripts/test-containers.sh scenarios/crash-payments.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[test-containers] %s\n' "$*"; }
SP=".venv/bin/stormproof"
if [ $# -eq 0 ]; then set -- scenarios/ -m "smoke and not slow_start"; fi

started=0
if [ -z "${DOCKER_HOST:-}" ]; then
  if ! command -v podman >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
    log "SKIPPED: no container engine (DOCKER_HOST unset, podman or docker-compose not installed): run 'make setup-containers'"
    exit 0
  fi
  nice -n 19 "$SP" engine build
  if ! "$SP" engine status | grep -q '^project engine: pid'; then
    nice -n 19 "$SP" engine up
    started=1
    trap '"$SP" engine down' EXIT
  fi
else
  log "using your engine at DOCKER_HOST=$DOCKER_HOST (upstream images, docker-compose.yml)"
fi
start=$(date +%s)
status=0
nice -n 19 "$SP" run --backend compose --report reports/containers "$@" || status=$?
log "container smoke: exit $status in $(( $(date +%s) - start ))s (engine started here: $started)"
exit $status

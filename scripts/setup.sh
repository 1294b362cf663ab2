#!/usr/bin/env bash
# Idempotent setup: system packages (Prometheus, etcd, Chromium; Redis and its exporter for
# examples/redis-cluster), Toxiproxy and Jaeger built from source with Go, and the Python
# package with its dependencies in .venv. Safe to run again: each step
# is skipped when what it installs is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
TOXIPROXY_TAG=v2.12.0
JAEGER_VERSION=v1.76.0  # the module version; its cmd/jaeger is the v2 (collector-based) all-in-one
BIN=.stormproof/bin
mkdir -p "$BIN"
log() { printf '[setup] %s\n' "$*"; }

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)  # static check of docker-compose.yml
# examples/redis-cluster: Redis 7.0 (cluster-port), redis-cli (forms the cluster), its exporter
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v prometheus-redis-exporter >/dev/null 2>&1 || need_apt+=(prometheus-redis-exporter)
if [ "${STORMPROOF_SKIP_CHROMIUM:-0}" != 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${need_apt[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    log "missing ${need_apt[*]}: install them with your package manager (apt-get install ${need_apt[*]})"
    exit 3
  fi
fi
# Debian's packages may start their daemons on systems with an init; the harness runs its own
# instances with their own config and never relies on those.

if [ ! -x "$BIN/toxiproxy-server" ]; then
  command -v go >/dev/null 2>&1 || { log "Go 1.23+ is needed to build Toxiproxy"; exit 3; }
  log "building Toxiproxy $TOXIPROXY_TAG with go install"
  tmp=$(mktemp -d)
  (cd "$tmp" && GOBIN="$tmp" go install \
    -ldflags "-X github.com/Shopify/toxiproxy/v2.Version=${TOXIPROXY_TAG#v}" \
    "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_TAG")
  mv "$tmp/server" "$BIN/toxiproxy-server"
  rm -rf "$tmp"
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.stormproof-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing the Python package and its dependencies"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi
# With STORMPROOF_PREPARE_CONTAINERS=1 (make test), the container setup (podman's packages,
# debootstrap and the images: mostly downloads) runs meanwhile, beside Jaeger's compile (CPU),
# instead of after it inside the container smoke. Its failure is not setup's: the smoke runs
# scripts/setup-containers.sh again and skips, saying why, when this machine cannot do it.
containers_pid=""
if [ "${STORMPROOF_PREPARE_CONTAINERS:-0}" = 1 ]; then
  log "preparing containers in the background (log: .stormproof/setup-containers.log)"
  bash scripts/setup-containers.sh >.stormproof/setup-containers.log 2>&1 &
  containers_pid=$!
  # a failed step below still waits for it: nothing is left running
  trap 'if [ -n "$containers_pid" ]; then wait "$containers_pid" || true; fi' EXIT
fi

# Jaeger's all-in-one, from a small module of its own: `go get -tool` pins the version and every
# dependency in that module's go.mod (cmd/jaeger cannot be built with `go install pkg@version`:
# its module has replace directives). ~4 min on 2 cores, a ~120 MB binary; no UI assets.
if [ ! -x "$BIN/jaeger" ]; then
  command -v go >/dev/null 2>&1 || { log "Go 1.24+ is needed to build Jaeger"; exit 3; }
  log "building Jaeger $JAEGER_VERSION (cmd/jaeger) with go get -tool; this takes minutes"
  tmp=$(mktemp -d)
  (cd "$tmp" \
    && printf 'module stormproof.local/jaeger-build\n\ngo 1.24\n' > go.mod \
    && go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" \
    && go build -trimpath -o jaeger \
      -ldflags "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$JAEGER_VERSION" \
      github.com/jaegertracing/jaeger/cmd/jaeger)
  mv "$tmp/jaeger" "$BIN/jaeger"
  rm -rf "$tmp"
fi

if [ -n "$containers_pid" ]; then
  status=0
  wait "$containers_pid" || status=$?
  containers_pid=""
  if [ "$status" = 0 ]; then
    log "containers prepared: $(tail -n 1 .stormproof/setup-containers.log)"
  else
    log "container setup failed here (the container smoke will say why): $(tail -n 2 .stormproof/setup-containers.log | tr '\n' ' ')"
  fi
fi
log "ready: toxiproxy $("$BIN/toxiproxy-server" -version 2>&1 | tail -1), jaeger $JAEGER_VERSION, $(prometheus --version 2>&1 | head -1), $(etcd --version 2>&1 | head -1), $(redis-server --version | cut -d' ' -f1-3)"

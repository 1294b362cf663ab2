#!/usr/bin/env bash
# Opt-in container setup (`make setup-containers`; `make setup` stays native and quick):
# podman (with runc and the dnsname CNI plugin), debootstrap and Debian's docker-compose, then
# the project's images built locally with no registry (`stormproof engine build`: a debootstrap
# base, then Toxiproxy, Prometheus, etcd, the shop and Locust, each tagged by content so an
# unchanged image is not rebuilt). Nothing under /etc is written except by apt-get: podman runs
# with the project's own containers.conf and storage.conf under .stormproof/engine/.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup-containers] %s\n' "$*"; }

need_apt=()
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
[ -x /usr/lib/cni/dnsname ] || need_apt+=(golang-github-containernetworking-plugin-dnsname)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${need_apt[*]} with apt-get"
    start=$(date +%s)
    nice -n 19 apt-get update -qq  # a fresh machine has no package lists
    DEBIAN_FRONTEND=noninteractive nice -n 19 apt-get install -y -qq --no-install-recommends \
      "${need_apt[@]}" >/dev/null
    log "installed in $(( $(date +%s) - start ))s"
  else
    log "missing ${need_apt[*]}: install them with your package manager (apt-get install ${need_apt[*]})"
    exit 3
  fi
fi
log "building the images (an unchanged image is kept)"
nice -n 19 .venv/bin/stormproof engine build
log "ready: stormproof engine up, then stormproof run --backend compose SCENARIO"

#!/usr/bin/env bash
# Validates DeltaStream's deployment artifacts offline: Dockerfile, .dockerignore,
# docker-compose.yml (compose-spec schema), deploy/kubernetes (Kubernetes JSON
# schemas, KEDA structure, cross references), NATS configs (nats-server -t),
# OpenTelemetry collector config, Prometheus config/rules (promtool, with unit
# tests) and the Grafana provisioning and dashboard. No Docker engine, no
# cluster, no network at validation time.
#
# Tools go into the git-ignored .tools/ (installed on first use, quick after):
#   .tools/venv        python venv: check-jsonschema (bundles the compose-spec
#                      schema), kubernetes-validate (bundles Kubernetes schemas), PyYAML
#   .tools/prometheus  promtool, unpacked from Debian's `prometheus` package
#   nats-server        .tools/bin, installed by scripts/setup.sh (pinned 2.14.6)
#
# Usage: scripts/validate-deploy.sh [--setup-only]
# Env:   DS_K8S_VERSIONS  Kubernetes schema versions to check (default 1.28.0,1.37.0)
# Exit:  0 valid; 1 invalid (one FAIL line per problem); 2 tools unavailable.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
venv="$tools/venv"
log() { printf 'validate-deploy: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

py_reqs=(check-jsonschema==0.39.0 kubernetes-validate==1.37.0 PyYAML==6.0.3)
stamp="$venv/.validate-deploy-$(printf '%s\n' "${py_reqs[@]}" | sha256sum | cut -c1-12)"

ensure_venv() {
  [ -f "$stamp" ] && [ -x "$venv/bin/python" ] && return 0
  command -v python3 >/dev/null || die "python3 is required"
  log "installing ${py_reqs[*]} into .tools/venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || die "python3 -m venv failed"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${py_reqs[@]}" \
    || die "pip install ${py_reqs[*]} failed"
  "$venv/bin/python" -c 'import sys, tomllib; assert sys.version_info >= (3, 11)' 2>/dev/null \
    || die "python >= 3.11 is required (tomllib)"
  rm -f "$venv"/.validate-deploy-*
  touch "$stamp"
}

# deb_extract <package> <file in package> <dest dir>: unpacks one file of a
# Debian package (downloaded with apt-get, no installation, no root needed to run).
deb_extract() {
  local pkg="$1" file="$2" dest="$3" work
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
    || die "apt-get/dpkg-deb unavailable: cannot fetch $pkg (provide ${file##*/} in $dest)"
  work="$(mktemp -d)"
  log "fetching Debian package $pkg for ${file##*/}"
  if ! (cd "$work" && apt-get download "$pkg" >/dev/null 2>&1); then
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) || { rm -rf "$work"; die "apt-get download $pkg failed"; }
  fi
  mkdir -p "$dest"
  dpkg-deb --fsys-tarfile "$work"/"$pkg"_*.deb | tar -x -C "$dest" "./${file#/}" \
    || { rm -rf "$work"; die "unpacking $file from $pkg failed"; }
  rm -rf "$work"
}

promtool="$tools/prometheus/usr/bin/promtool"
ensure_promtool() {
  [ -x "$promtool" ] && return 0
  if command -v promtool >/dev/null; then promtool="$(command -v promtool)"; return 0; fi
  deb_extract prometheus /usr/bin/promtool "$tools/prometheus"
  [ -x "$promtool" ] || die "promtool not found after unpacking"
}

nats_server="$tools/bin/nats-server"
ensure_nats_server() {
  # The pinned server of scripts/setup.sh, the one every other part runs.
  [ -x "$nats_server" ] || "$root/scripts/setup.sh" || die "scripts/setup.sh failed"
  [ -x "$nats_server" ] || die "nats-server not found in .tools/bin after scripts/setup.sh"
}

# Serialise first-time setup between concurrent callers (e.g. parallel tests).
mkdir -p "$tools"
if command -v flock >/dev/null; then
  exec 9>"$tools/.validate-deploy.lock"
  flock 9
fi
ensure_venv
ensure_promtool
ensure_nats_server
if command -v flock >/dev/null; then exec 9>&-; fi
[ "${1:-}" = "--setup-only" ] && { log "tools ready"; exit 0; }

exec "$venv/bin/python" -B "$root/deploy/validate/validate_deploy.py" \
  --root "$root" \
  --promtool "$promtool" \
  --nats-server "$nats_server" \
  --k8s-versions "${DS_K8S_VERSIONS:-1.28.0,1.37.0}"

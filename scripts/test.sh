#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/setup.sh), then runs every
# Rust test (unit, property, and integration tests against private nats-server and
# mongod processes), and validates the deployment files offline.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
cargo test --workspace --locked
scripts/validate-deploy.sh

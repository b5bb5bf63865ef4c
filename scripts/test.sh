#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/setup.sh, and Chromium +
# playwright-core for the dashboard's browser test), then runs every Rust test
# (unit, property, and integration tests against private nats-server and mongod
# processes, the browser test included), and validates the deployment files offline.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
tests/browser/setup.sh
# The browser test must run here, not skip.
export DS_REQUIRE_BROWSER=1
cargo test --workspace --locked
scripts/validate-deploy.sh

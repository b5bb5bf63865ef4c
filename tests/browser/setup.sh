#!/usr/bin/env bash
# Prepares the browser test (tests/tests/ws_browser.rs): Debian's `chromium` and
# `playwright-core` from npm (pinned by package-lock.json, into
# tests/browser/node_modules). Idempotent: does nothing that is already done.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium (apt-get)"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node and npm are needed (e.g. apt-get install nodejs npm)" >&2
  exit 1
fi

if [ ! -f "$here/node_modules/playwright-core/package.json" ] \
  || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  echo "installing playwright-core (npm ci)"
  (cd "$here" && npm ci --no-audit --no-fund)
fi

echo "browser test ready: $(/usr/bin/chromium --version 2>/dev/null || echo chromium), playwright-core $(node -p "require('$here/node_modules/playwright-core/package.json').version")"

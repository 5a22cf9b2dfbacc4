#!/usr/bin/env bash
# Run the whole test suite (installs what it needs into .venv first).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]"
if command -v npm >/dev/null 2>&1 && [ -f zapier_app/integration/package-lock.json ]; then
  (cd zapier_app/integration && npm ci --no-audit --no-fund --loglevel=error)
fi
.venv/bin/ruff check .
.venv/bin/lint-imports  # the layer contracts in pyproject.toml (ARCHITECTURE.md)
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"

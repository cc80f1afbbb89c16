#!/usr/bin/env bash
# The test suite: set up if needed, lint, then pytest (sandbox on port 0, real Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh
echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] pytest"
exec .venv/bin/python -m pytest "$@"

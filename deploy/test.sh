#!/usr/bin/env bash
# The test suite: set up if needed, lint, then pytest (sandbox on port 0, real Chromium).
# Two passes, each given this script's arguments: every test not marked `serial` on two workers
# (pytest-xdist; each worker has its own sandbox, store server and Redis, a test file stays on one
# worker), then the `serial` tests alone (they bound wall-clock times or load every core).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh
echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
workers=${LOOQTA_TEST_WORKERS:-2}
echo "[test] pytest: all but the serial tests, on $workers workers"
parallel=0
.venv/bin/python -m pytest -n "$workers" --dist loadfile -m "not serial" "$@" || parallel=$?
echo "[test] pytest: the serial tests, alone"
serial=0
.venv/bin/python -m pytest -p no:xdist -m serial "$@" || serial=$?
# pytest's 5 is "no test selected": fine for one pass (arguments naming only serial tests, or none).
for code in "$parallel" "$serial"; do
  if [ "$code" -ne 0 ] && [ "$code" -ne 5 ]; then exit "$code"; fi
done
if [ "$parallel" -eq 5 ] && [ "$serial" -eq 5 ]; then exit 5; fi
exit 0

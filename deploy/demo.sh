#!/usr/bin/env bash
# The main job: set up if needed, start the offline sandbox, crawl amazon and
# noon through the whole stack, write output/*.jsonl and output/*.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh
exec .venv/bin/python -m looqta.demo "$@"

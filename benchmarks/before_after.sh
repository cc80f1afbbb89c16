#!/usr/bin/env bash
# Run the files and render benchmarks on an older commit and on this tree, interleaved
# (files before, files after, render before, render after; ROUNDS times), so both see the
# same machine. Usage: bash benchmarks/before_after.sh OLD_REV [ROUNDS] [OUT_DIR]
# Results: OUT_DIR/{files,render}-{before,after}-ROUND.txt; the commit and load at each start
# are printed. The older commit is checked out in a temporary worktree, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?an older commit to compare with}
rounds=${2:-2}
out=${3:-benchmark-results/before-after}
mkdir -p "$out"
out=$(cd "$out" && pwd)
here=$(pwd)
py="$here/.venv/bin/python"
before=$(mktemp -d)
git worktree add -q --detach "$before" "$old"
trap 'git worktree remove --force "$before"' EXIT
for round in $(seq 1 "$rounds"); do
  for bench in files render; do
    for side in before after; do
      dir=$here; [ "$side" = before ] && dir=$before
      echo "== round $round $side $bench $(git -C "$dir" rev-parse --short HEAD) $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
      if [ "$bench" = files ]; then
        (cd "$dir" && "$py" benchmarks/files.py --max-pages 4 --pdf-pages 200 --latency-ms 100 \
          --repeat 2 --modes none,pool) > "$out/files-$side-$round.txt" 2>&1
      else
        (cd "$dir" && "$py" -m benchmarks.render --pages 100 --rounds 2) > "$out/render-$side-$round.txt" 2>&1
      fi
    done
  done
done
grep -H "^| none\|^| pool\|^| rendered\|^| plain" "$out"/*.txt

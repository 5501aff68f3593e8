#!/bin/bash
# Issue 16 section 5 and issue 32 section 1: the card's command as a newcomer meets it, on a
# fresh clone with an empty dataset cache (the README's `make demo`), then (without
# --demo-only) the card's cell (voxshield and random-roi on swinunetr at 4/255, seeds 0-2, and
# clean) in the same folder so seed 0 is reused. LOG (default /work/card/log.txt) gets the log.
L=${LOG:-/work/card/log.txt}
mkdir -p "$(dirname "$L")"
rm -rf /work/card/clone /work/card/cache
git clone -q /work/main /work/card/clone
cd /work/card/clone || exit 1
export UEBENCH_CACHE=/work/card/cache
{
date; echo "== make demo at $(git rev-parse --short HEAD) (fresh clone, empty UEBENCH_CACHE)"
/usr/bin/time -v make demo
echo "rc=$?"
if [ "${1:-}" != "--demo-only" ]; then
  date; echo "== the card's cell"
  /usr/bin/time -v .venv/bin/uebench sweep --quiet --out runs --workers 2 --victim swinunetr \
    --method clean --method random-roi --method voxshield --seed 0 --seed 1 --seed 2 \
    --eps 4/255
  echo "rc=$?"
fi
date; echo "== done"
} >> "$L" 2>&1

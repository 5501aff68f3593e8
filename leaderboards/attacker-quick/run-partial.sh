#!/bin/bash
# The partial-protection curve at quick 32/255 (F = 0.2, 0.5, 0.8; F = 1 is run.sh's undefended
# row), unet, seeds 0-2, after run-defenses.sh (same host, separate checkout and cache). One
# share at a time over the three seeds; each finished share's records are copied here and
# committed. Resumable: stages cached, recorded runs skipped.
set -u
MAIN=/work/main
TREE=${SWEEP_TREE:-/work/sweep}
O=${SWEEP_OUT:-/work/attacker-quick/runs}
L=/work/attacker-quick/log.txt
DEST=$MAIN/leaderboards/attacker-quick/records
mkdir -p /work/attacker-quick "$DEST"
cd "$TREE"
{
for F in 0.8 0.5 0.2; do
  date; echo "== quick protected fraction $F, seeds 0-2, code at $(git rev-parse --short HEAD)"
  /usr/bin/time -v "$TREE/.venv/bin/uebench" sweep --quiet --out "$O" --workers 2 --preset quick \
    --victim unet --eps 32/255 --seed 0 --seed 1 --seed 2 \
    --method clean --method random-roi --method em --method voxshield --protected-fraction "$F"
  echo "rc=$?"
  cp -n "$O"/records/*.json "$DEST"/
  for try in 1 2 3 4 5; do
    (cd "$MAIN" && git add leaderboards/attacker-quick/records \
      && git commit -q -m "leaderboards/attacker-quick: records of protected fraction $F (quick 32/255, seeds 0-2)" \
         -- leaderboards/attacker-quick/records) && break
    sleep 20
  done
done
date; echo "== done partial"
} >> "$L" 2>&1

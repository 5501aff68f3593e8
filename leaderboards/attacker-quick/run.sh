#!/bin/bash
# The early-stop row at quick (the protocol-3 CPU board's preset), 32/255, unet, seeds 0-2, for
# voxshield, em and random-roi beside clean data, each beside the same cells without a defense
# trained on the same host: quick victims trained by bit-identical code differ between hosts
# (clean-trained seed 0: 0.679 on the quick board's host, 0.784 on another), so early-stop is
# compared only with none trained where it was. One seed at a time, run from a separate
# checkout (SWEEP_TREE, at a commit) so that edits in this one do not mark its records dirty;
# each finished seed's records are copied here and committed. Resumable: stages cached,
# recorded runs skipped.
set -u
MAIN=/work/main
TREE=${SWEEP_TREE:-/work/sweep}
O=${SWEEP_OUT:-/work/attacker-quick/runs}
L=/work/attacker-quick/log.txt
DEST=$MAIN/leaderboards/attacker-quick/records
mkdir -p /work/attacker-quick "$DEST"
cd "$TREE"
{
for S in 0 1 2; do
  date; echo "== quick early-stop + none, seed $S, code at $(git rev-parse --short HEAD)"
  /usr/bin/time -v "$TREE/.venv/bin/uebench" sweep --quiet --out "$O" --workers 2 --preset quick \
    --victim unet --eps 32/255 --seed "$S" \
    --method clean --method random-roi --method em --method voxshield \
    --defense early-stop --defense none
  echo "rc=$?"
  cp -n "$O"/records/*.json "$DEST"/
  for try in 1 2 3 4 5; do
    (cd "$MAIN" && git add leaderboards/attacker-quick/records \
      && git commit -q -m "leaderboards/attacker-quick: records of seed $S (early-stop and none, quick 32/255)" \
         -- leaderboards/attacker-quick/records) && break
    sleep 20
  done
done
date; echo "== done"
} >> "$L" 2>&1

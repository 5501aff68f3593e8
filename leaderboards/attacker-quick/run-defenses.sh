#!/bin/bash
# The other attacker defenses at quick 32/255, unet, seeds 0-2, after run.sh (same host, same
# separate checkout, same cache): one defense at a time over the three seeds, most telling
# first, so that an interrupted sweep leaves whole rows; each finished row's records are copied
# here and committed. Resumable: stages cached, recorded runs skipped.
set -u
MAIN=/work/main
TREE=${SWEEP_TREE:-/work/sweep}
O=${SWEEP_OUT:-/work/attacker-quick/runs}
L=/work/attacker-quick/log.txt
DEST=$MAIN/leaderboards/attacker-quick/records
mkdir -p /work/attacker-quick "$DEST"
cd "$TREE"
{
for D in pretrained renormalise regrid:factor=0.5 renormalise:budget=true regrid:factor=1.5; do
  date; echo "== quick $D, seeds 0-2, code at $(git rev-parse --short HEAD)"
  /usr/bin/time -v "$TREE/.venv/bin/uebench" sweep --quiet --out "$O" --workers 2 --preset quick \
    --victim unet --eps 32/255 --seed 0 --seed 1 --seed 2 \
    --method clean --method random-roi --method em --method voxshield --defense "$D"
  echo "rc=$?"
  cp -n "$O"/records/*.json "$DEST"/
  for try in 1 2 3 4 5; do
    (cd "$MAIN" && git add leaderboards/attacker-quick/records \
      && git commit -q -m "leaderboards/attacker-quick: records of $D (quick 32/255, seeds 0-2)" \
         -- leaderboards/attacker-quick/records) && break
    sleep 20
  done
done
date; echo "== done defenses"
} >> "$L" 2>&1

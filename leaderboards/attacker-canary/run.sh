#!/bin/bash
# The attacker's axes at canary, 32/255, unet, seeds 0-2 (issue 17 section 3): defenses, then
# the partial-protection curve. Resumable: the sweep skips recorded runs, stages are cached.
cd /work/main
B=/work/main/.venv/bin/uebench
O=/work/defense-canary/runs
L=/work/defense-canary/log.txt
{
date; echo "== defenses at $(git rev-parse --short HEAD)"
/usr/bin/time -v $B sweep --quiet --out $O --workers 2 --preset canary --victim unet --eps 32/255 \
  --seed 0 --seed 1 --seed 2 --method clean --method random-roi --method voxshield --method em \
  --defense none --defense early-stop --defense pretrained --defense regrid:factor=0.5 --defense regrid:factor=1.5
echo "rc=$?"
date; echo "== partial-protection curve"
/usr/bin/time -v $B sweep --quiet --out $O --workers 2 --preset canary --victim unet --eps 32/255 \
  --seed 0 --seed 1 --seed 2 --method clean --method random-roi --method voxshield --method em \
  --protected-fraction 0.2 --protected-fraction 0.5 --protected-fraction 0.8 --protected-fraction 1.0
echo "rc=$?"
date; echo "== done"
} >> $L 2>&1

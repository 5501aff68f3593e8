#!/bin/bash
# renormalise:budget=true (the reader's view, then the writer's shrink to eps, no rounding): at
# native on the release check's folder for em, seeds 0-2 (does the shrink take em's effect
# away, as the written release does?), then at canary 32/255 beside the attacker-canary board.
# Resumable: stages are cached, the sweep skips recorded runs.
cd /work/main
B=/work/main/.venv/bin/uebench
D=/work/brats-native-msd
L=/work/renormalise/log-budget.txt
{
for S in 0 1 2; do
date; echo "== native em seed $S renormalise:budget=true at $(git rev-parse --short HEAD)"
/usr/bin/time -v $B run --method em --victim unet --dataset decathlon:$D --preset native --eps 32/255 --seed $S --defense renormalise:budget=true --out /work/release-runs --quiet
echo "rc=$?"
done
date; echo "== canary renormalise:budget=true"
/usr/bin/time -v $B sweep --quiet --out /work/defense-canary/runs --workers 2 --preset canary --victim unet --eps 32/255 \
  --seed 0 --seed 1 --seed 2 --method clean --method random-roi --method voxshield --method em \
  --defense renormalise:budget=true
echo "rc=$?"
date; echo "== done"
} >> $L 2>&1

#!/bin/bash
# The renormalise defense (the reader's view of a release, in memory): at canary 32/255 beside the
# attacker-canary board (same cache, so only the victims train), then at native on the release
# check's folder for em and voxshield, seeds 0-2. Resumable: the sweep skips recorded runs,
# stages are cached.
cd /work/main
B=/work/main/.venv/bin/uebench
D=/work/brats-native-msd
L=/work/renormalise/log.txt
mkdir -p /work/renormalise
{
date; echo "== canary renormalise at $(git rev-parse --short HEAD)"
/usr/bin/time -v $B sweep --quiet --out /work/defense-canary/runs --workers 2 --preset canary --victim unet --eps 32/255 \
  --seed 0 --seed 1 --seed 2 --method clean --method random-roi --method voxshield --method em \
  --defense renormalise
echo "rc=$?"
for M in em voxshield; do for S in 0 1 2; do
date; echo "== native $M seed $S renormalise"
/usr/bin/time -v $B run --method $M --victim unet --dataset decathlon:$D --preset native --eps 32/255 --seed $S --defense renormalise --out /work/release-runs --quiet
echo "rc=$?"
done; done
date; echo "== done"
} >> $L 2>&1

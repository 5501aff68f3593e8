#!/bin/bash
# em release check at native, seeds 1 and 2: in memory, written by protect, trained on the release.
cd /work/main
PY=/work/main/.venv/bin/python
D=/work/brats-native-msd
L=/work/em-release/log-seeds-1-2.txt
{
for S in 1 2; do
date; echo "== in memory em seed $S at $(git rev-parse --short HEAD)"
/usr/bin/time -v $PY -m uebench.cli run --method em --victim unet --dataset decathlon:$D --preset native --eps 32/255 --seed $S --out /work/release-runs --quiet
echo "rc=$?"
date; echo "== protect em seed $S"
/usr/bin/time -v $PY -m uebench.cli protect --data $D --out /work/release-native/em-s$S --preset native --method em --eps 32/255 --seed $S --quiet
echo "rc=$?"
date; echo "== released em seed $S"
/usr/bin/time -v $PY -m uebench.cli run --train-data decathlon:/work/release-native/em-s$S --test-data decathlon:$D --victim unet --preset native --eps 32/255 --seed $S --out /work/release-runs --quiet
echo "rc=$?"
done
date; echo "== done"
} >> $L 2>&1

#!/bin/bash
# em release check at native, seed 0, after the budget-fit fix (7ce1251).
cd /work/main
PY=/work/main/.venv/bin/python
D=/work/brats-native-msd
L=/work/em-release/log2.txt
{
date; echo "== protect em seed 0 at $(git rev-parse --short HEAD)"
/usr/bin/time -v $PY -m uebench.cli protect --data $D --out /work/release-native/em-s0 --preset native --method em --eps 32/255 --seed 0 --quiet
echo "rc=$?"
date; echo "== released em seed 0"
/usr/bin/time -v $PY -m uebench.cli run --train-data decathlon:/work/release-native/em-s0 --test-data decathlon:$D --victim unet --preset native --eps 32/255 --seed 0 --out /work/release-runs
echo "rc=$?"
date; echo "== done"
} >> $L 2>&1

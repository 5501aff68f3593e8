#!/bin/bash
# em release check at native, seed 0: train on the release made by run2.sh (protect finished rc=0; the training was cut by the session's end).
cd /work/main
PY=/work/main/.venv/bin/python
D=/work/brats-native-msd
L=/work/em-release/log3.txt
{
date; echo "== released em seed 0 at $(git rev-parse --short HEAD)"
/usr/bin/time -v $PY -m uebench.cli run --train-data decathlon:/work/release-native/em-s0 --test-data decathlon:$D --victim unet --preset native --eps 32/255 --seed 0 --out /work/release-runs --quiet
echo "rc=$?"
date; echo "== done"
} >> $L 2>&1

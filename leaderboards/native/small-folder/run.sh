#!/bin/bash
# Issue 31 part 5: a small real folder at a native preset. An 8-case MSD export of brats-mni at
# 1 mm (split 6/1/1), the clean-trained unet at native-1mm with its fixed 14 batches an epoch,
# then the same with one round over the cases an epoch (the rule before; rounds.py).
set -eu
W=${WORK:-/work/native8}
uebench export-decathlon "$W/mri8" --dataset brats-mni --preset native-1mm --n 8
uebench run --method clean --victim unet --dataset "decathlon:$W/mri8" --preset native-1mm \
  --out "$W/runs" --quiet
python "$(dirname "$0")/rounds.py" "$W/mri8" "$W/runs-rounds"

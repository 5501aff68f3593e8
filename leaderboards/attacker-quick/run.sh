#!/bin/bash
# The early-stop row at quick (the protocol-3 CPU board's preset), 32/255, unet, seeds 0-2, for
# voxshield, em and random-roi beside clean data, each beside the same cells without a defense
# trained on the same host: quick victims trained by bit-identical code differ between hosts
# (clean-trained seed 0: 0.679 on the quick board's host, 0.784 on another), so early-stop is
# compared only with none trained where it was. One seed at a time, each committed as it lands.
# Resumable: stages cached, recorded runs skipped.
source "$(dirname "$0")/sweep-and-commit.sh"
{
for S in 0 1 2; do
  sweep_and_commit "early-stop and none, seed $S" --seed "$S" --defense early-stop --defense none
done
date; echo "== done"
} >> "$L" 2>&1

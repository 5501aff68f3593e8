#!/bin/bash
# The other attacker defenses at quick 32/255, unet, seeds 0-2, after run.sh (same host, same
# separate checkout, same cache): one defense at a time over the three seeds, most telling
# first, so that an interrupted sweep leaves whole rows, each committed as it lands.
# Resumable: stages cached, recorded runs skipped.
source "$(dirname "$0")/sweep-and-commit.sh"
{
for D in pretrained renormalise regrid:factor=0.5 renormalise:budget=true regrid:factor=1.5; do
  sweep_and_commit "$D, seeds 0-2" --seed 0 --seed 1 --seed 2 --defense "$D"
done
date; echo "== done defenses"
} >> "$L" 2>&1

#!/bin/bash
# The partial-protection curve at quick 32/255 (F = 0.8, 0.5, 0.2; F = 1 is run.sh's undefended
# row), unet, seeds 0-2, after run-defenses.sh (same host, separate checkout and cache): one
# share at a time over the three seeds, each committed as it lands. Resumable: stages cached,
# recorded runs skipped.
source "$(dirname "$0")/sweep-and-commit.sh"
{
for F in 0.8 0.5 0.2; do
  sweep_and_commit "protected fraction $F, seeds 0-2" --seed 0 --seed 1 --seed 2 \
    --protected-fraction "$F"
done
date; echo "== done partial"
} >> "$L" 2>&1

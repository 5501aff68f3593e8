#!/bin/bash
# The same cells without a defense, on the same host as the early-stop row (quick victims
# trained by bit-identical code differ between hosts: clean-trained seed 0 0.679 on the quick
# board's host, 0.784 here), so that early-stop is compared with none trained where it was.
# The protections are cached by run.sh: only the victims train.
cd /work/main
B=/work/main/.venv/bin/uebench
O=/work/attacker-quick/runs
L=/work/attacker-quick/log.txt
{
date; echo "== quick none seeds 0-2 at $(git rev-parse --short HEAD)"
/usr/bin/time -v $B sweep --quiet --out $O --workers 2 --preset quick --victim unet --eps 32/255 \
  --seed 0 --seed 1 --seed 2 --method random-roi --method em --method voxshield --defense none
echo "rc=$?"
date; echo "== done none"
} >> $L 2>&1

#!/bin/bash
# The early-stop row at quick (the protocol-3 CPU board's preset), 32/255, unet, seeds 0-2, for
# voxshield, em and random-roi beside clean data under the same defense; one seed at a time so
# that an interrupted sweep leaves whole seeds. Resumable: stages cached, recorded runs skipped.
cd /work/main
B=/work/main/.venv/bin/uebench
O=/work/attacker-quick/runs
L=/work/attacker-quick/log.txt
mkdir -p /work/attacker-quick
{
for S in 0 1 2; do
date; echo "== quick early-stop seed $S at $(git rev-parse --short HEAD)"
/usr/bin/time -v $B sweep --quiet --out $O --workers 2 --preset quick --victim unet --eps 32/255 \
  --seed $S --method clean --method random-roi --method em --method voxshield --defense early-stop
echo "rc=$?"
done
date; echo "== done"
} >> $L 2>&1

#!/bin/bash
# The protocol-4 boards of issue 32 ("Every method and every victim on the board"), at the
# presets leaderboards/preset-choice chose: the methods board, the main one (its records in
# leaderboards/records, its boards beside them), at canary-v48 (every registered
# method and control on unet at 4, 8, 16 and 32/255, seeds 0-3: 4 seeds detect a 0.05 paired
# difference there; with voxshield without its z-term, the one variant of VoxShield's ablation
# that fell below random-roi at 4/255, leaderboards/recipe/ablation), then the transfer board at canary-v64 (SwinUNETR's 64^3 floor; every
# victim at 32/255, seeds 0-2) and the defense board at canary-v48 (every defense at 32/255,
# seeds 0-2). Which methods transfer and face the defenses is the methods board's answer:
# TRANSFER_METHODS and DEFENSE_METHODS (each "--method NAME ..."): no default, the script stops
# after the methods board until they are set (the defense board's method: the strongest that the
# attacker boards, which hold voxshield and em, do not cover).
# From a separate checkout (sweep-and-commit.sh), one torch thread per worker, resumable:
# stages cached, recorded runs skipped, each step's records committed as they land (the
# methods board a seed at a time: the ends, 4/255 and 32/255, first).
export SWEEP_LOG=${SWEEP_LOG:-/work/boards/log.txt} SWEEP_OUT=${SWEEP_OUT:-/work/boards/runs}
export SWEEP_LOG_COPY=leaderboards/methods/sweep-log.txt
source "$(dirname "$0")/../recipe/sweep-and-commit.sh"
METHODS=""
for M in voxshield voxshield:lambda_z=0 voxshield-pgd em em-classwise tap slicewise \
    slicewise-tap lsp ar rem ops clean random random-roi random-signs-roi \
    random-signs-classwise; do
  METHODS="$METHODS --method $M"
done
TRANSFER_METHODS=${TRANSFER_METHODS:-}
DEFENSE_METHODS=${DEFENSE_METHODS:-}
CONTROLS="--method clean --method random-roi"
ALL_VICTIMS=""
for V in unet swinunetr unetr segresnet dynunet attentionunet basicunetplusplus vnet unet2d; do
  ALL_VICTIMS="$ALL_VICTIMS --victim $V"
done
DEFENSES=""
for D in gaussian median zlowpass slice-shuffle lowres quantize jpeg gamma affine \
    affine-elastic nnunet-aug ueraser adv-train early-stop pretrained regrid renormalise; do
  DEFENSES="$DEFENSES --defense $D"
done
BOARD=$MAIN/leaderboards/records
{
for PAIR in "4/255 32/255" "8/255 16/255"; do
  set -- $PAIR
  for SEED in 0 1 2 3; do  # a seed a step, so each ~35 min of records is committed
    DEST=$BOARD sweep_and_commit "the methods board at $1 and $2, seed $SEED" $METHODS \
      --seed "$SEED" --eps "$1" --eps "$2" --preset canary-v48
  done
done
if [ -z "$TRANSFER_METHODS" ] || [ -z "$DEFENSE_METHODS" ]; then
  date; echo "== stopped after the methods board: set TRANSFER_METHODS and DEFENSE_METHODS" \
    "from its answer (render it first) to run the transfer and defense boards"
  exit 0
fi
DEST=$MAIN/leaderboards/transfer/records VICTIMS=$ALL_VICTIMS sweep_and_commit \
  "the transfer board at 32/255" $TRANSFER_METHODS $CONTROLS --seed 0 --seed 1 --seed 2 \
  --eps 32/255 --preset canary-v64
DEST=$MAIN/leaderboards/defenses/records sweep_and_commit "the defense board at 32/255" \
  $DEFENSE_METHODS $CONTROLS $DEFENSES --seed 0 --seed 1 --seed 2 --eps 32/255 \
  --preset canary-v48
date; echo "== done"
} >> "$L" 2>&1

#!/bin/bash
# The protocol-4 boards of issue 32 ("Every method and every victim on the board"), at the
# presets leaderboards/preset-choice chose, each step a seed so that its records are committed
# as they land:
# 1. the methods board's ends (its records in leaderboards/records, the main board): every
#    registered method and control on unet at 4 and 32/255, canary-v48, seeds 0-3 (with
#    voxshield without its z-term, the one variant of VoxShield's ablation that fell below
#    random-roi at 4/255, leaderboards/recipe/ablation);
# 2. a seed at a time, the transfer board at canary-v64 (SwinUNETR's 64^3 floor; every victim
#    but vnet at 32/255, seeds 0-2) and the defense board at canary-v48 (every defense at
#    32/255, seeds 0-2, the undefended cells with them). Which methods transfer and face the
#    defenses is the methods board's answer at its ends: TRANSFER_METHODS and DEFENSE_METHODS
#    (each "--method NAME ..."), no default; the script stops after step 1 until they are set
#    (the defense board's method: the strongest that the attacker boards, which hold voxshield
#    and em, do not cover);
# 3. the methods board's middle budget, 16/255, seeds 0-3 (8/255 cut for cost).
# From a separate checkout (sweep-and-commit.sh), one torch thread per worker, resumable:
# stages cached, recorded runs skipped.
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
# SegResNet at its own lr (at canary-v64's 0.006 it stalls at background); vnet cut for cost
# (one training 2615 s of a core at canary-v64, 4-10x the others: leaderboards/methods/README.md)
ALL_VICTIMS=""
for V in unet swinunetr unetr segresnet:lr=0.001 dynunet attentionunet basicunetplusplus unet2d; do
  ALL_VICTIMS="$ALL_VICTIMS --victim $V"
done
DEFENSES="--defense none"
for D in gaussian median zlowpass slice-shuffle lowres quantize jpeg gamma affine \
    affine-elastic nnunet-aug ueraser adv-train early-stop pretrained regrid renormalise; do
  DEFENSES="$DEFENSES --defense $D"
done
BOARD=$MAIN/leaderboards/records
{
for SEED in 0 1 2 3; do
  DEST=$BOARD sweep_and_commit "the methods board at 4/255 and 32/255, seed $SEED" $METHODS \
    --seed "$SEED" --eps 4/255 --eps 32/255 --preset canary-v48
done
if [ -z "$TRANSFER_METHODS" ] || [ -z "$DEFENSE_METHODS" ]; then
  date; echo "== stopped after the methods board's ends: set TRANSFER_METHODS and" \
    "DEFENSE_METHODS from its answer (render it first) to run the other boards"
  exit 0
fi
# a seed of each board in turn, the short one first, so that a stop leaves both begun
for SEED in 0 1 2; do
  DEST=$MAIN/leaderboards/defenses/records sweep_and_commit \
    "the defense board at 32/255, seed $SEED" $DEFENSE_METHODS $CONTROLS $DEFENSES \
    --seed "$SEED" --eps 32/255 --preset canary-v48
  DEST=$MAIN/leaderboards/transfer/records VICTIMS=$ALL_VICTIMS sweep_and_commit \
    "the transfer board at 32/255, seed $SEED" $TRANSFER_METHODS $CONTROLS --seed "$SEED" \
    --eps 32/255 --preset canary-v64
done
for SEED in 0 1 2 3; do  # 16/255 only: 8/255 cut for cost (leaderboards/methods/README.md)
  DEST=$BOARD sweep_and_commit "the methods board at 16/255, seed $SEED" $METHODS \
    --seed "$SEED" --eps 16/255 --preset canary-v48
done
date; echo "== done"
} >> "$L" 2>&1

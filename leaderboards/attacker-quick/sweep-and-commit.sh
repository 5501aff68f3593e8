# Sourced by run.sh, run-defenses.sh and run-partial.sh: one `uebench sweep` of the quick
# 32/255 unet cells (clean, random-roi, em, voxshield) from a separate checkout (SWEEP_TREE, at a
# commit, so that edits in this one do not mark its records dirty), then its records copied
# into this folder and committed, so that a finished step outlives the machine's cache.
# Usage: sweep_and_commit "what the commit names" SWEEP-ARGS...
set -u
MAIN=/work/main
TREE=${SWEEP_TREE:-/work/sweep}
O=${SWEEP_OUT:-/work/attacker-quick/runs}
L=/work/attacker-quick/log.txt
DEST=$MAIN/leaderboards/attacker-quick/records
mkdir -p /work/attacker-quick "$DEST"

sweep_and_commit() {
  local what=$1; shift
  date; echo "== quick $what, code at $(git -C "$TREE" rev-parse --short HEAD)"
  (cd "$TREE" && /usr/bin/time -v "$TREE/.venv/bin/uebench" sweep --quiet --out "$O" \
    --workers 2 --preset quick --victim unet --eps 32/255 \
    --method clean --method random-roi --method em --method voxshield "$@")
  echo "rc=$?"
  cp -n "$O"/records/*.json "$DEST"/
  (cd "$MAIN" && git add leaderboards/attacker-quick/records) || return
  if git -C "$MAIN" diff --cached --quiet -- leaderboards/attacker-quick/records; then
    echo "no new records"; return
  fi
  for _ in 1 2 3 4 5; do  # the index may be locked by a commit made meanwhile in this checkout
    git -C "$MAIN" commit -q -m "leaderboards/attacker-quick: records of $what (quick 32/255)" \
      -- leaderboards/attacker-quick/records && return
    sleep 20
  done
}

# Sourced by run.sh: one `uebench sweep` from a separate checkout
# (SWEEP_TREE, at a commit, so that edits in this one do not mark its records dirty), then its
# records copied into DEST and committed, so that a finished step outlives the machine's cache:
# those of the runs that the step's own arguments plan (benchmarks/step_records.py), with its
# victims (VICTIMS, default "--victim unet").
# Workers per step: the number in WORKERS_FILE (default /work/recipe/workers), else 2, read
# at each step, so a shared machine can give the sweep one core and later two.
# Usage: sweep_and_commit "what the commit names" SWEEP-ARGS...
set -u
MAIN=/work/main
TREE=${SWEEP_TREE:-/work/sweep}
O=${SWEEP_OUT:-/work/recipe/runs}
L=${SWEEP_LOG:-/work/recipe/log.txt}
DEST=${DEST:-$MAIN/leaderboards/recipe/records}  # each call may set its own
mkdir -p "$(dirname "$L")" "$DEST"

sweep_and_commit() {
  local what=$1; shift
  date; echo "== $what, code at $(git -C "$TREE" rev-parse --short HEAD)"
  (cd "$TREE" && /usr/bin/time -v "$TREE/.venv/bin/uebench" sweep --quiet --out "$O" \
    --workers "$(cat "${WORKERS_FILE:-/work/recipe/workers}" 2>/dev/null || echo 2)" \
    --threads 1 ${VICTIMS:---victim unet} "$@")
  echo "rc=$?"
  # this step's records only (the sweeps share one output folder and cache)
  (cd "$TREE" && .venv/bin/python -m benchmarks.step_records "$O/records" "$DEST" \
    ${VICTIMS:---victim unet} "$@")
  local rel=${DEST#"$MAIN"/} log=${SWEEP_LOG_COPY:-leaderboards/recipe/sweep-log.txt}
  (cd "$MAIN" && git add "$rel") || return
  if git -C "$MAIN" diff --cached --quiet -- "$rel"; then
    echo "no new records"; return
  fi
  cp "$L" "$MAIN/$log" && git -C "$MAIN" add "$log"  # the log so far, with its records
  for _ in 1 2 3 4 5; do  # the index may be locked by a commit made meanwhile in this checkout
    git -C "$MAIN" commit -q -m "$rel: records of $what" -- "$rel" "$log" && return
    sleep 20
  done
}

#!/usr/bin/env bash
# The MinAtar evidence of issue 13 under decision rules v3 (registered 2026-12-01T20:55:00+00:00 in 8140643;
# results/minatar/README.md).  Two steps, each resumable:
#
#   bash atari_check/scripts/minatar_evidence.sh grid SWEEP_DIR        # run/continue the 40-run grid (Ray)
#   bash atari_check/scripts/minatar_evidence.sh store SWEEP_DIR       # only when all 40 runs are finished
#   bash atari_check/scripts/minatar_evidence.sh store SWEEP_DIR GAME  # one game, when its 20 runs are finished
#
# `store` copies the finished runs into RESULTS/runs (never over a stored run), then recomputes compare and the
# plot from everything stored.  A game is stored whole or not at all; the full form skips a game stored before
# and also keeps the sweep's own record (sweep.json).  The claims registry reports MinAtar as pending until
# both games are compared (proofs/empirical.py, require_all_envs).
#
# `grid` must run from a checkout that nobody edits while it runs (the 2026-12-01 grid ran from a separate
# worktree at 8140643 with its own venv): a resumed segment imports whatever code is on disk.
set -eu
cd "$(dirname "$0")/../.."
STEP="${1:?grid or store}"
DIR="${2:?sweep directory}"
PY="${PY:-python}"
RESULTS="${RESULTS:-atari_check/results/minatar}"  # where `store` writes (tests point it elsewhere)
ENVS="MinAtar/Breakout-v1 MinAtar/SpaceInvaders-v1"
ALGOS="a2c-proper sql sql-unscaled a2c-naive"
case "$STEP" in
  grid)
    if [ -n "$(git status --porcelain)" ]; then
      echo "the checkout is dirty: runs would not match a commit" >&2; exit 3
    fi
    # shellcheck disable=SC2086
    nice -n 10 "$PY" -m atari_check sweep --envs $ENVS --algos $ALGOS --seeds 0 1 2 3 4 --frames 2000000 \
      --out "$DIR" --num-cpus "${NUM_CPUS:-2}" ;;
  store)
    finished() { find "$1" -name run.json -exec grep -l '"status": "finished"' {} + 2>/dev/null | wc -l; }
    GAME="${3:-}"
    if [ -n "$GAME" ]; then
      case "$GAME" in *" "*) echo "one game at a time, got '$GAME'" >&2; exit 2 ;; esac
      case " $ENVS " in *" $GAME "*) ;; *) echo "game must be one of: $ENVS; got $GAME" >&2; exit 2 ;; esac
      GAMES="$GAME"
    else
      n=$(finished "$DIR")
      if [ "$n" -ne 40 ]; then echo "$n of 40 runs finished: a partial grid is not stored" >&2; exit 3; fi
      GAMES="$ENVS"
      # checked before anything is stored, so that a refusal leaves the results tree as it was
      if [ ! -f "$DIR/sweep.json" ]; then echo "$DIR/sweep.json is missing: the sweep's record" >&2; exit 3; fi
      if [ -e "$RESULTS/sweep.json" ] && ! cmp -s "$DIR/sweep.json" "$RESULTS/sweep.json"; then
        echo "$RESULTS/sweep.json exists and differs from $DIR/sweep.json: not replaced" >&2; exit 3
      fi
    fi
    todo=""
    for g in $GAMES; do
      sub="${g//\//_}"  # the sweep's directory name: MinAtar/Breakout-v1 -> MinAtar_Breakout-v1
      n=$(finished "$DIR/$sub")
      if [ "$n" -ne 20 ]; then echo "$n of 20 runs of $g finished: a partial game is not stored" >&2; exit 3; fi
      if [ -d "$RESULTS/runs/$sub" ]; then
        m=$(finished "$RESULTS/runs/$sub")
        if [ "$m" -ne 20 ]; then  # a store killed midway: each run is atomic, the game is not
          echo "$RESULTS/runs/$sub holds $m of 20 stored runs of $g (a store stopped midway?): move it away" \
               "and store again" >&2; exit 3
        fi
        if [ -n "$GAME" ]; then echo "$g is stored already ($RESULTS/runs/$sub): not stored again" >&2; exit 3; fi
        echo "$g: stored before, kept" >&2
        continue
      fi
      todo="$todo $sub"
    done
    for sub in $todo; do
      "$PY" atari_check/scripts/store_runs.py "$DIR/$sub" "$RESULTS/runs/$sub"
    done
    if [ -z "$GAME" ]; then cp "$DIR/sweep.json" "$RESULTS/sweep.json"; fi
    "$PY" -m atari_check compare "$RESULTS/runs" --out "$RESULTS" --rules 3
    "$PY" -m atari_check plot "$RESULTS/runs" --out "$RESULTS/minatar_learning_curves.png" ;;
  *) echo "step must be grid or store, got $STEP" >&2; exit 2 ;;
esac

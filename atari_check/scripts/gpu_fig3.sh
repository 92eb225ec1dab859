#!/usr/bin/env bash
# The Fig. 3 study of §6.3 on a GPU, carried to completion in bounded jobs (see atari_check/GPU_PLAN.md).
#
# Each invocation works for at most BUDGET_S seconds, then exits cleanly: finished runs are skipped, the
# run in progress resumes from its checkpoint (python -m atari_check run --resume --time-limit ...).
# Run it again and again (e.g. one <= 10-minute device job at a time) until it prints "ALL DONE".
#
# Job order: phase 1 = a2c-proper and sql on each game and seed (the equivalence pair);
#            phase 2 = sql-unscaled on each game and seed (the negative control, c = 1/tau).
# When every run is finished it writes compare.{json,txt} and the plots into $RESULTS.
#
# Environment variables (defaults): BUDGET_S (540), RESULTS (atari_check/results/gpu), FRAMES (10000000),
#   GAMES ("pong breakout"), SEEDS ("0 1 2"), DEVICE (cuda), PY (python3), TORCH_THREADS (4),
#   LOCKSTEP_INTERVAL (1000 updates), KEEP_CHECKPOINTS (0: delete a run's checkpoint once it is finished),
#   OUT (if set, a copy of the metrics goes to $OUT/gpu_results.tar.gz and the live checkpoint to
#   $OUT/<game>_<algo>_seed<k>_checkpoint.pt, so that a bare machine can continue next time).
set -u
cd "$(dirname "$0")/../.."
BUDGET_S="${BUDGET_S:-540}"
RESULTS="${RESULTS:-atari_check/results/gpu}"
FRAMES="${FRAMES:-10000000}"
GAMES="${GAMES:-pong breakout}"
SEEDS="${SEEDS:-0 1 2}"
DEVICE="${DEVICE:-cuda}"
PY="${PY:-python3}"
TORCH_THREADS="${TORCH_THREADS:-4}"
LOCKSTEP_INTERVAL="${LOCKSTEP_INTERVAL:-1000}"
KEEP_CHECKPOINTS="${KEEP_CHECKPOINTS:-0}"
SAFETY_S=45   # start-up, final checkpoint and packing time kept in reserve

start=$(date +%s)
mkdir -p "$RESULTS/runs"
export PYTHONUNBUFFERED=1

is_finished() { [ -f "$1/run.json" ] && grep -q '"status": "finished"' "$1/run.json"; }

jobs=()
for phase_algos in "a2c-proper sql" "sql-unscaled"; do
  for game in $GAMES; do
    for seed in $SEEDS; do
      for algo in $phase_algos; do jobs+=("$game $algo $seed"); done
    done
  done
done

live=""
for job in "${jobs[@]}"; do
  read -r game algo seed <<<"$job"
  out="$RESULTS/runs/$game/$algo/seed$seed"
  if is_finished "$out"; then continue; fi
  left=$(( BUDGET_S - ($(date +%s) - start) - SAFETY_S ))
  if [ "$left" -lt 60 ]; then live="$out"; break; fi
  mkdir -p "$(dirname "$out")"
  echo "== $game $algo seed $seed: up to ${left}s"
  "$PY" -m atari_check run --algo "$algo" --env "$game" --frames "$FRAMES" --seed "$seed" --device "$DEVICE" \
      --out "$out" --resume --no-progress --time-limit "$left" --lockstep-interval "$LOCKSTEP_INTERVAL" \
      --checkpoint-interval-s 120 --torch-threads "$TORCH_THREADS"
  rc=$?
  if [ "$rc" -ne 0 ]; then echo "run exited with code $rc (see $out/run.json)"; live="$out"; break; fi
  if is_finished "$out"; then
    [ "$KEEP_CHECKPOINTS" = "1" ] || rm -f "$out/checkpoint.pt"
  else
    live="$out"; break
  fi
done

echo "== status"
all_done=1
for job in "${jobs[@]}"; do
  read -r game algo seed <<<"$job"
  out="$RESULTS/runs/$game/$algo/seed$seed"
  if [ -f "$out/run.json" ]; then
    "$PY" - "$out/run.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
c = j["config"]
print(f"{c['env']:>10} {c['algo']:>13} seed {c['seed']}: {j['status']:>11} {j['frames_done']:>11,}/{c['frames']:,} "
      f"frames, {j.get('frames_per_s') or 0:,.0f} frames/s")
EOF
  else
    echo "$(printf '%10s %13s' "$game" "$algo") seed $seed: not started"
  fi
  is_finished "$out" || all_done=0
done

if [ "$all_done" = "1" ]; then
  "$PY" -m atari_check compare "$RESULTS/runs" --out "$RESULTS" && \
  "$PY" -m atari_check plot "$RESULTS/runs" --out "$RESULTS/fig3_learning_curves.png" && echo "ALL DONE"
fi

if [ -n "${OUT:-}" ]; then   # hand the state back: metrics (small) and the one live checkpoint
  tar -czf "$OUT/gpu_results.tar.gz" --exclude='checkpoint.pt' --exclude='.lock' "$RESULTS"
  if [ -n "$live" ] && [ -f "$live/checkpoint.pt" ]; then
    name=$(echo "${live#"$RESULTS"/runs/}" | tr '/' '_')
    cp "$live/checkpoint.pt" "$OUT/${name}_checkpoint.pt"
  fi
fi

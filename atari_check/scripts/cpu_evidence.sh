#!/usr/bin/env bash
# CPU-scale evidence for §6.3 (issue 4, item 6): CartPole-v1 (and optionally Acrobot-v1),
# a2c-proper vs sql (scaled) — the equivalence pair — and sql-unscaled (negative control),
# plus a2c-naive for the record; seeds 0..9, one run at a time (the machine has 2 shared cores).
# Resumable: re-running skips finished runs and resumes interrupted ones from their checkpoints.
#
#   bash atari_check/scripts/cpu_evidence.sh [ENV] [FRAMES]      (defaults: CartPole-v1 1000000)
set -u
cd "$(dirname "$0")/../.."
ENV_ID="${1:-CartPole-v1}"
FRAMES="${2:-1000000}"
RESULTS=atari_check/results/cpu
ALGOS="${ALGOS:-a2c-proper sql sql-unscaled a2c-naive}"
SEEDS="${SEEDS:-0 1 2 3 4 5 6 7 8 9}"
PY="${PY:-python}"
mkdir -p "$RESULTS/runs"
for seed in $SEEDS; do
  for algo in $ALGOS; do
    out="$RESULTS/runs/$ENV_ID/$algo/seed$seed"
    if [ -f "$out/run.json" ] && grep -q '"status": "finished"' "$out/run.json"; then continue; fi
    mkdir -p "$(dirname "$out")"
    for attempt in 1 2 3; do   # retry: another process may be editing the shared checkout at import time
      "$PY" -m atari_check run --algo "$algo" --env "$ENV_ID" --frames "$FRAMES" --seed "$seed" \
        --out "$out" --resume --no-progress --lockstep-interval 250 --log-interval 50 \
        --checkpoint-interval-s 60 && break
      echo "attempt $attempt for $algo seed $seed failed" >&2; sleep 5
    done
  done
done

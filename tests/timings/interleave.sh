#!/usr/bin/env bash
# Interleaved rounds of the README's default test command between two trees (two checkouts, or a checkout and a
# `git worktree add --detach DIR COMMIT`), in the same virtual environment:
#   bash tests/timings/interleave.sh TREE_A TREE_B [ROUNDS]  >> tests/timings/<date>-interleaved.txt
# Odd rounds run A first, even rounds B first, so that a machine slowing down or speeding up does not favour one.
# Stop everything else on the machine first: on 2 shared cores a background job changes the wall time by x2.
set -u
A=${1:?tree A}; B=${2:?tree B}; ROUNDS=${3:-3}
one() {
  local dir=$1 tag=$2 t0 t1 summary
  t0=$(date +%s.%N)
  summary=$(cd "$dir" && python -m pytest -n 2 --dist loadgroup 2>&1 | tail -1)
  t1=$(date +%s.%N)
  echo "$tag $(date -u +%T) wall=$(echo "$t1 - $t0" | bc) $summary"
}
echo "# A=$A B=$B load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then one "$A" A; one "$B" B; else one "$B" B; one "$A" A; fi
done

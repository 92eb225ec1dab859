"""The MinAtar score ranges and equivalence margins of decision rules v3, derived from the committed pilot.

The rule was written down before the pilot's numbers were read (results/minatar/pilot/README.md, "The v3
pilot"): per game, low = the random policy's mean return, high = the mean ``final_score`` of the pilot's
``a2c-proper`` runs, s = the larger sample SD (ddof 1) of their ``final_score`` and ``auc``, margin M = 2 s
(about 80 % TOST power at α = 0.05 with 5 seeds per group), registered as the fraction
f = ⌈100 · M / (high − low)⌉ / 100 of the range, and f = 0.09 if that comes out ≥ 0.10 (tighter than
CartPole's 10 %).  ``atari_check.compare`` holds the registered numbers; tests/test_atari_minatar_rules.py
checks that they are what this derivation gives on the committed pilot.

Run: python atari_check/scripts/minatar_margins.py [PILOT_DIR] > atari_check/results/minatar/pilot/margins.json
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from atari_check.compare import load_runs

RESULTS = Path(__file__).resolve().parents[1] / "results" / "minatar"
PILOT_DIR = RESULTS / "pilot" / "v3"
RANDOM_SCORES = RESULTS / "random_scores.json"
POWER_FACTOR = 2.0      # M = 2 s: (t_0.95,8 + z_0.90) · sqrt(2/5) = 1.99
SEEDS_PER_GAME = 3      # the pilot's a2c-proper seeds
CAP = 0.10              # a fraction >= CAP is registered as FALLBACK
FALLBACK = 0.09
CONTROL = "sql-unscaled"


def margin_fraction(margin: float, low: float, high: float) -> tuple[float, bool]:
    """(f, capped): f = ⌈100 · margin / (high − low)⌉ / 100, or FALLBACK when that is ≥ CAP."""
    if not high > low:
        raise ValueError(f"high must exceed low (A2C must beat random in the pilot), got low={low!r}, high={high!r}")
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be finite and > 0, got {margin!r}")
    # round first: 100·M/range computed as 7.000000000000001 must give 0.07, not 0.08
    f = math.ceil(round(100.0 * margin / (high - low), 9)) / 100.0
    return (FALLBACK, True) if f >= CAP else (f, False)


def expected_tost_power(margin: float, sd: float, n: int = 5, alpha: float = 0.05) -> float:
    """P(TOST passes) at a true difference of 0 if both groups have SD ``sd``: the 90 % Welch CI
    d ± t₀.₉₅,₂ₙ₋₂ · √(2/n) · sd must lie inside ±margin, with d ~ N(0, 2·sd²/n) (normal approximation)."""
    from scipy import stats

    if sd == 0.0:  # no spread: the CI is the point 0, inside any margin > 0
        return 1.0 if margin > 0 else 0.0
    se = math.sqrt(2.0 / n) * sd
    slack = margin - stats.t.ppf(1.0 - alpha, 2 * n - 2) * se
    return max(0.0, 2.0 * float(stats.norm.cdf(slack / se)) - 1.0)


def derive(pilot_dir: str | Path = PILOT_DIR, random_scores: str | Path = RANDOM_SCORES) -> dict:
    """Per game: the range, s, M, f and the sensitivity pair's pilot score, as a JSON-able dict."""
    runs, notes = load_runs([pilot_dir], strict=True)
    random = json.loads(Path(random_scores).read_text())["scores"]
    out: dict = {"schema": "atari_check.minatar_margins/1", "rule": "results/minatar/pilot/README.md",
                 "power_factor": POWER_FACTOR, "cap": CAP, "fallback": FALLBACK, "games": {}, "notes": notes}
    for env in sorted({r["env"] for r in runs}):
        a2c = [r for r in runs if r["env"] == env and r["algo"] == "a2c-proper"]
        if len(a2c) != SEEDS_PER_GAME:
            raise ValueError(f"{env}: the rule needs {SEEDS_PER_GAME} a2c-proper pilot runs, found {len(a2c)}")
        if env not in random:
            raise ValueError(f"{env}: no random-policy score in {random_scores}")
        low = float(random[env]["mean"])
        high = float(np.mean([r["final_score"] for r in a2c]))
        sds = {m: float(np.std([r[m] for r in a2c], ddof=1)) for m in ("final_score", "auc")}
        s = max(sds.values())
        margin = POWER_FACTOR * s
        f, capped = margin_fraction(margin, low, high)
        control = sorted(r["final_score"] for r in runs if r["env"] == env and r["algo"] == CONTROL)
        out["games"][env] = {
            "low": low, "high": high, "seeds": sorted(r["seed"] for r in a2c), "sd": sds, "s": s,
            "margin": margin, "fraction": f, "capped": capped, "registered_margin": f * (high - low),
            "expected_tost_power": {m: expected_tost_power(f * (high - low), sd) for m, sd in sds.items()},
            "control_final_scores": control,
            "control_within_margin": [abs(c - high) < margin for c in control],
        }
    return out


if __name__ == "__main__":
    print(json.dumps(derive(*sys.argv[1:2]), indent=2))

"""``python -m atari_check compare DIR...``: per-run scores, group statistics and TOST verdicts.

Per run (from ``episodes.csv``, unclipped scores of full episodes):

* ``final_score``  mean return of the episodes that ended in the last 10% of
  the run's frames (the last episode if none did).
* ``auc``          normalised area under the learning curve: the frames axis
  is cut into 20 equal bins, each bin gets the mean return of the episodes
  that ended in it (an empty bin repeats the previous bin; leading empty bins
  take the first non-empty one), and ``auc`` is the mean over bins — in score
  units, so it is comparable with ``final_score``.

Per (environment, algorithm): mean and IQM across seeds with 95% percentile
bootstrap CIs (10,000 resamples, seed 0).

Pairs (fixed in advance, before any result was looked at):

* ``equivalence``       a2c-proper vs sql (§6.3: "learning curves of PG and
  QL almost identical"): expected verdict ``equivalent``.
* ``negative_control``  a2c-proper vs sql-unscaled (c = 1/τ, which the paper
  reports as unstable): expected verdict ``different``.

Equivalence margin M = ``margin_fraction`` (default 0.10) × the score range
of the environment (:data:`SCORE_RANGES`), fixed before looking at results.
Verdict rule: :mod:`atari_check.stats`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np

from . import stats
from .config import Config
from .run import read_csv


def read_metrics(path: str | Path) -> list[dict]:
    """Rows of a metrics CSV, or of its gzipped copy ``<name>.csv.gz`` (how committed results are stored)."""
    path = Path(path)
    if path.exists():
        return read_csv(path)
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        import csv
        import gzip

        with gzip.open(gz, "rt", newline="") as f:
            return list(csv.DictReader(f))
    raise FileNotFoundError(f"neither {path} nor {gz} exists")


def has_metrics(path: str | Path) -> bool:
    path = Path(path)
    return path.exists() or path.with_name(path.name + ".gz").exists()

COMPARE_SCHEMA = "equiv.compare/1"

PAIRS = (
    ("a2c-proper", "sql", "equivalence", "equivalent"),
    ("a2c-proper", "sql-unscaled", "negative_control", "different"),
)
METRICS = ("final_score", "auc")

# Score range per environment: (low, high).  gymnasium: the attainable range of an episode's return
# under the registered time limit.  Atari (keyed by ALE ROM id): random and human reference scores,
# the standard pair used for human-normalised scores (e.g. Wang et al. 2016, Badia et al. 2020).
SCORE_RANGES: dict[str, tuple[float, float]] = {
    "CartPole-v1": (0.0, 500.0),
    "CartPole-v0": (0.0, 200.0),
    "Acrobot-v1": (-500.0, 0.0),
    "MountainCar-v0": (-200.0, 0.0),
    "pong": (-20.7, 14.6),
    "breakout": (1.7, 30.5),
    "beam_rider": (363.9, 16926.5),
    "enduro": (0.0, 860.5),
    "qbert": (163.9, 13455.0),
    "seaquest": (68.4, 42054.7),
    "space_invaders": (148.0, 1668.7),
}
MARGIN_FRACTION = 0.10
ALPHA = 0.05
FINAL_FRACTION = 0.10
AUC_BINS = 20
N_BOOT = 10_000
BOOT_SEED = 0

# Config fields that may differ between runs of one group (everything else must match).
_FREE_FIELDS = {"seed", "device", "torch_threads", "env_threads", "checkpoint_interval_s",
                "checkpoint_every_updates", "log_interval", "lockstep_interval", "lockstep_dtype"}


def run_scores(episodes: list[dict], total_frames: int, *, final_fraction: float = FINAL_FRACTION,
               bins: int = AUC_BINS) -> dict:
    """``final_score`` and ``auc`` of one run (see the module docstring)."""
    if not episodes:
        raise ValueError("run has no finished episodes")
    frames = np.array([float(e["frames"]) for e in episodes])
    returns = np.array([float(e["return"]) for e in episodes])
    order = np.argsort(frames, kind="stable")
    frames, returns = frames[order], returns[order]
    late = frames > (1.0 - final_fraction) * total_frames
    final = float(returns[late].mean()) if late.any() else float(returns[-1])
    edges = np.linspace(0.0, total_frames, bins + 1)
    which = np.clip(np.searchsorted(edges, frames, side="left") - 1, 0, bins - 1)
    curve = np.full(bins, np.nan)
    for k in range(bins):
        sel = which == k
        if sel.any():
            curve[k] = returns[sel].mean()
    first = curve[~np.isnan(curve)][0]
    prev = first
    for k in range(bins):
        if np.isnan(curve[k]):
            curve[k] = prev
        prev = curve[k]
    return {"final_score": final, "auc": float(curve.mean()), "episodes": len(episodes),
            "curve": [float(c) for c in curve]}


def load_runs(dirs: list[str | Path]) -> tuple[list[dict], list[str]]:
    """Finished runs below ``dirs`` (any depth), with their scores; plus notes on skipped ones."""
    runs, notes = [], []
    seen = set()
    paths = []
    for d in dirs:
        d = Path(d)
        if not d.exists():
            raise ValueError(f"no such directory: {str(d)!r}")
        paths += sorted(d.rglob("run.json")) if d.is_dir() else []
    if not paths:
        raise ValueError(f"no run.json found under {[str(d) for d in dirs]}")
    for path in paths:
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        info = json.loads(path.read_text())
        if info.get("schema") != "atari_check.run/1":
            notes.append(f"skipped {path.parent}: not an atari_check run")
            continue
        if info.get("status") != "finished":
            notes.append(f"skipped {path.parent}: status {info.get('status')!r}")
            continue
        cfg = Config.from_dict(info["config"])
        episodes = read_metrics(path.parent / "episodes.csv")
        scores = run_scores(episodes, cfg.frames)
        runs.append({"dir": str(path.parent), "env": info["env"]["title"], "env_key": info["env"].get("rom")
                     or info["env"].get("id"), "algo": info["label"], "seed": cfg.seed, "config": cfg,
                     "frames": info["frames_done"], "elapsed_s": info.get("elapsed_s"),
                     "frames_per_s": info.get("frames_per_s"), **scores})
    return runs, notes


def _check_group(group: list[dict]) -> None:
    base = group[0]["config"].to_dict()
    for r in group[1:]:
        other = r["config"].to_dict()
        diff = sorted(k for k in base if k not in _FREE_FIELDS and base[k] != other[k])
        if diff:
            raise ValueError(
                f"runs {group[0]['dir']} and {r['dir']} are in the same group ({r['env']}, {r['algo']}) but "
                f"differ in {diff}; compare runs of one configuration per algorithm"
            )
    seeds = [r["seed"] for r in group]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"group ({group[0]['env']}, {group[0]['algo']}) has duplicate seeds {sorted(seeds)}")


def margin_for(env_key: str, margin_fraction: float) -> tuple[float, tuple[float, float]]:
    if env_key not in SCORE_RANGES:
        raise ValueError(
            f"no score range is registered for env {env_key!r} (known: {sorted(SCORE_RANGES)}); the "
            f"equivalence margin must be fixed in advance, so add it to atari_check.compare.SCORE_RANGES"
        )
    lo, hi = SCORE_RANGES[env_key]
    return margin_fraction * (hi - lo), (lo, hi)


def compare(dirs: list[str | Path], *, margin_fraction: float = MARGIN_FRACTION, alpha: float = ALPHA) -> dict:
    """Everything ``compare`` prints, as the ``equiv.compare/1`` JSON document."""
    if not (0 < margin_fraction < 1):
        raise ValueError(f"margin_fraction must be in (0, 1), got {margin_fraction!r}")
    runs, notes = load_runs(dirs)
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["env"], r["algo"]), []).append(r)
    group_rows = []
    for (env, algo), group in sorted(groups.items()):
        _check_group(group)
        row = {"env": env, "algo": algo, "n": len(group), "seeds": sorted(r["seed"] for r in group),
               "frames": group[0]["config"].frames}
        for metric in METRICS:
            x = np.array([r[metric] for r in group])
            row[metric] = {
                "values": [float(v) for v in x], "mean": float(x.mean()),
                "std": float(x.std(ddof=1)) if len(x) > 1 else None, "iqm": stats.iqm(x),
                "mean_ci95": list(stats.bootstrap_ci(x, np.mean, n_boot=N_BOOT, seed=BOOT_SEED)),
                "iqm_ci95": list(stats.bootstrap_ci(x, stats.iqm, n_boot=N_BOOT, seed=BOOT_SEED)),
            }
        row["elapsed_s_total"] = float(sum(r["elapsed_s"] or 0.0 for r in group))
        group_rows.append(row)

    comparisons = []
    envs = sorted({env for env, _ in groups})
    for env in envs:
        env_key = next(r["env_key"] for r in runs if r["env"] == env)
        for a, b, role, expected in PAIRS:
            if (env, a) not in groups or (env, b) not in groups:
                continue
            ga, gb = groups[(env, a)], groups[(env, b)]
            if len(ga) < 2 or len(gb) < 2:
                notes.append(f"{env}: {a} vs {b} needs >= 2 runs each (have {len(ga)}, {len(gb)})")
                continue
            if ga[0]["config"].frames != gb[0]["config"].frames:
                notes.append(f"{env}: {a} and {b} ran for different frame budgets; not compared")
                continue
            margin, score_range = margin_for(env_key, margin_fraction)
            for metric in METRICS:
                xa = np.array([r[metric] for r in ga])
                xb = np.array([r[metric] for r in gb])
                test = stats.tost(xa, xb, margin, alpha)
                comparisons.append({
                    "env": env, "a": a, "b": b, "role": role, "metric": metric,
                    "verdict": test["verdict"], "expected": expected,
                    "as_expected": test["verdict"] == expected,
                    "margin": margin, "ci": test["ci"], "n_a": len(xa), "n_b": len(xb),
                    "mean_a": float(xa.mean()), "mean_b": float(xb.mean()),
                    "iqm_a": stats.iqm(xa), "iqm_b": stats.iqm(xb),
                    "iqm_diff_ci95_bootstrap": list(stats.bootstrap_diff_ci(
                        xa, xb, stats.iqm, n_boot=N_BOOT, seed=BOOT_SEED)),
                    "mean_diff_ci95_bootstrap": list(stats.bootstrap_diff_ci(
                        xa, xb, np.mean, n_boot=N_BOOT, seed=BOOT_SEED)),
                    "score_range": list(score_range), "margin_fraction": margin_fraction,
                    **{k: test[k] for k in ("diff", "se", "df", "ci_level", "ci95", "p_lower", "p_upper",
                                             "p_tost", "p_difference", "alpha")},
                })
    return {
        "schema": COMPARE_SCHEMA,
        "comparisons": comparisons,
        "groups": group_rows,
        "runs": [{k: v for k, v in r.items() if k != "config"} for r in runs],
        "notes": notes,
        "provenance": {
            "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": _git_commit(),
            "dirs": [str(d) for d in dirs],
            "n_runs": len(runs),
            "test": "Welch two one-sided tests (TOST) on the difference of means across seeds",
            "verdict_rule": ("equivalent: the (1-2α) CI of mean_a - mean_b lies inside (-margin, margin); "
                             "different: it lies entirely outside [-margin, margin]; else inconclusive"),
            "alpha": alpha,
            "margin_rule": f"margin = {margin_fraction} × (score range of the env), fixed before the runs",
            "score_ranges": {k: list(v) for k, v in SCORE_RANGES.items()},
            "metrics": {
                "final_score": f"mean unclipped return of episodes ending in the last {FINAL_FRACTION:.0%} of frames",
                "auc": f"mean over {AUC_BINS} equal frame bins of the per-bin mean return (score units)",
            },
            "bootstrap": {"resamples": N_BOOT, "seed": BOOT_SEED, "kind": "percentile, runs resampled"},
            "pairs": [{"a": a, "b": b, "role": role, "expected": e} for a, b, role, e in PAIRS],
        },
    }


def _git_commit() -> str | None:
    from .run import _git

    return _git(["rev-parse", "HEAD"])


def _f(x: float, w: int = 9) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-".rjust(w)
    return f"{x:{w}.2f}" if abs(x) < 1e5 else f"{x:{w}.3g}"


def format_report(result: dict) -> str:
    """The human-readable table printed by ``compare``."""
    lines = ["Per environment and algorithm (unclipped episode returns; 95% bootstrap CIs over seeds)", ""]
    header = f"{'env':<14}{'algo':<16}{'n':>3}  {'metric':<12}{'mean':>9} {'[95% CI]':>21}  {'IQM':>9} {'[95% CI]':>21}"
    lines += [header, "-" * len(header)]
    for g in result["groups"]:
        for metric in METRICS:
            m = g[metric]
            lines.append(
                f"{g['env']:<14}{g['algo']:<16}{g['n']:>3}  {metric:<12}{_f(m['mean'])} "
                f"[{_f(m['mean_ci95'][0])},{_f(m['mean_ci95'][1])}]  {_f(m['iqm'])} "
                f"[{_f(m['iqm_ci95'][0])},{_f(m['iqm_ci95'][1])}]"
            )
    lines += ["", "Equivalence tests (Welch TOST, alpha = 0.05; margin = "
              f"{result['comparisons'][0]['margin_fraction'] if result['comparisons'] else MARGIN_FRACTION:g}"
              " × score range of the env, fixed in advance)", ""]
    header = (f"{'env':<14}{'role':<18}{'a':<12}{'b':<14}{'metric':<12}{'diff':>9} {'90% CI':>21} "
              f"{'margin':>8} {'p_TOST':>8} {'p_diff':>8}  verdict (expected)")
    lines += [header, "-" * len(header)]
    for c in result["comparisons"]:
        flag = "" if c["as_expected"] else "   <-- NOT as expected"
        lines.append(
            f"{c['env']:<14}{c['role']:<18}{c['a']:<12}{c['b']:<14}{c['metric']:<12}{_f(c['diff'])} "
            f"[{_f(c['ci'][0])},{_f(c['ci'][1])}] {c['margin']:8.2f} {c['p_tost']:8.2g} "
            f"{c['p_difference']:8.2g}  {c['verdict']} ({c['expected']}){flag}"
        )
    if not result["comparisons"]:
        lines.append("(no comparable pair: need a2c-proper with sql and/or sql-unscaled, >= 2 seeds each)")
    if result["notes"]:
        lines += ["", "Notes:"] + [f"  - {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"


def write_outputs(result: dict, out_dir: str | Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, txt_path = out_dir / "compare.json", out_dir / "compare.txt"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    txt_path.write_text(format_report(result))
    return json_path, txt_path

"""What ran, where and how long: a summary of the ``run.json`` files below a results tree, per env and algorithm.

For each (env, algorithm): the number of runs by status, their seeds, the training time (sum, min and max of
``elapsed_s``), frames per second (min, median, max of each run's ``frames_per_s``), the number of segments
(a resumed run has more than one), the first start and the last end, and the set of commits, ``git_dirty``
flags, torch versions and device names the runs recorded.  Nothing is computed that is not in the files.

``--lockstep``: instead, per env and lockstep pair over every run's ``lockstep.csv`` (or ``.csv.gz``): the number
of diagnostics, the largest ``rel_diff_expected`` (the two rules' gradients with (∗)/(∗∗) replaced by their exact
action-expectation) and ``decomposition_residual``, and the median and smallest ``cos_sampled``, NaN values (written
where a gradient norm is 0) left out and counted.

Run: python atari_check/scripts/runs_summary.py DIR [--json] [--lockstep]
"""

from __future__ import annotations

import gzip
import json
import math
import statistics
import sys
from pathlib import Path


def _read(path: Path) -> dict:
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as f:
            return json.load(f)
    return json.loads(path.read_text())


def _run_files(root: str | Path) -> list[Path]:
    """Every ``run.json`` (or ``run.json.gz``) below ``root``; none is an error."""
    root = Path(root)
    files = sorted([*root.rglob("run.json"), *root.rglob("run.json.gz")])
    if not files:
        raise ValueError(f"no run.json below {str(root)!r}")
    return files


def summarise(root: str | Path) -> dict:
    """{"env | algo": summary} over every ``run.json`` (or ``run.json.gz``) below ``root``."""
    files = _run_files(root)
    groups: dict[str, list[dict]] = {}
    for f in files:
        info = _read(f)
        key = f"{info['config']['env']} | {info['label']}"
        groups.setdefault(key, []).append(info)
    out = {}
    for key, runs in sorted(groups.items()):
        statuses: dict[str, int] = {}
        for r in runs:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        elapsed = [float(r.get("elapsed_s") or 0.0) for r in runs]
        fps = sorted(float(r["frames_per_s"]) for r in runs if r.get("frames_per_s"))
        prov = [r.get("provenance", {}) for r in runs]
        out[key] = {
            "runs": len(runs),
            "status": statuses,
            "seeds": sorted(r["config"]["seed"] for r in runs),
            "frames": sorted({r.get("frames_done") for r in runs}),
            "elapsed_s": {"sum": sum(elapsed), "min": min(elapsed), "max": max(elapsed)},
            "frames_per_s": ({"min": fps[0], "median": statistics.median(fps), "max": fps[-1]} if fps else None),
            "segments": sum(len(r.get("segments", [])) for r in runs),
            "first_start": min(r["start_time"] for r in runs),
            # while a run is unfinished the group has no end yet
            "last_end": ("" if any(r["status"] != "finished" for r in runs)
                         else max(r.get("end_time") or "" for r in runs)),
            "git_commit": sorted({p.get("git_commit") or "?" for p in prov}),
            "git_dirty": sorted({bool(p.get("git_dirty")) for p in prov}),
            "torch": sorted({p.get("torch") or "?" for p in prov}),
            "device_name": sorted({p.get("device_name") or "?" for p in prov}),
        }
    return out


def summarise_lockstep(root: str | Path) -> dict:
    """{"env | pair": {...}} over the lockstep rows of every run below ``root`` (see the module docstring)."""
    from atari_check.compare import has_metrics, read_metrics

    files = _run_files(root)
    rows: dict[str, list[dict]] = {}
    for f in files:
        if not has_metrics(f.parent / "lockstep.csv"):
            continue
        env = _read(f)["config"]["env"]
        for row in read_metrics(f.parent / "lockstep.csv"):
            rows.setdefault(f"{env} | {row['pair']}", []).append(row)
    def finite(rs, field):  # lockstep writes NaN where a gradient norm is 0; max/sorted would mishandle it
        values = [float(r[field]) for r in rs]
        return sorted(v for v in values if not math.isnan(v)), sum(math.isnan(v) for v in values)

    out = {}
    for key, rs in sorted(rows.items()):
        cos, cos_nan = finite(rs, "cos_sampled")
        rel, rel_nan = finite(rs, "rel_diff_expected")
        res, res_nan = finite(rs, "decomposition_residual")
        out[key] = {"diagnostics": len(rs),
                    "max_rel_diff_expected": rel[-1] if rel else math.nan,
                    "max_decomposition_residual": res[-1] if res else math.nan,
                    "median_cos_sampled": statistics.median(cos) if cos else math.nan,
                    "min_cos_sampled": cos[0] if cos else math.nan,
                    "nan": {"cos_sampled": cos_nan, "rel_diff_expected": rel_nan, "decomposition_residual": res_nan}}
    return out


def format_lockstep(summary: dict) -> str:
    lines = [f"{'env':<24} {'pair':<20} {'diagnostics':>11} {'max rel_diff_expected':>21} {'max residual':>12} "
             f"{'median cos':>11} {'min cos':>8} {'NaN':>4}", "-" * 116]
    for key, s in summary.items():
        env, pair = key.split(" | ")
        lines.append(f"{env:<24} {pair:<20} {s['diagnostics']:>11} {s['max_rel_diff_expected']:>21.2e} "
                     f"{s['max_decomposition_residual']:>12.2e} {s['median_cos_sampled']:>11.6f} "
                     f"{s['min_cos_sampled']:>8.3f} {sum(s['nan'].values()):>4}")
    return "\n".join(lines)


def _short(iso: str) -> str:
    """2026-12-01T23:42:05+00:00 -> 12-01 23:42 (UTC, as the run.json files record it)."""
    return f"{iso[5:10]} {iso[11:16]}" if iso else "-"


def format_summary(summary: dict) -> str:
    lines = [f"{'env':<24} {'algo':<12} {'runs':>4} {'fin':>4} {'train h':>8} {'fr/s min':>9} {'median':>7} "
             f"{'max':>7} {'segs':>5}  first start – last end (UTC)", "-" * 117]
    for key, s in summary.items():
        env, algo = key.split(" | ")
        fps = s["frames_per_s"] or {"min": float("nan"), "median": float("nan"), "max": float("nan")}
        lines.append(f"{env:<24} {algo:<12} {s['runs']:>4} {s['status'].get('finished', 0):>4} "
                     f"{s['elapsed_s']['sum'] / 3600:>8.2f} {fps['min']:>9.0f} {fps['median']:>7.0f} "
                     f"{fps['max']:>7.0f} "
                     f"{s['segments']:>5}  {_short(s['first_start'])} – {_short(s['last_end'])}")
    commits = sorted({c for s in summary.values() for c in s["git_commit"]})
    dirty = sorted({d for s in summary.values() for d in s["git_dirty"]})
    lines.append(f"commits: {', '.join(c[:10] for c in commits)}; git_dirty: {dirty}; torch: "
                 f"{sorted({t for s in summary.values() for t in s['torch']})}")
    return "\n".join(lines)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a not in ("--json", "--lockstep")]
    if len(args) != 1:
        sys.exit("usage: python atari_check/scripts/runs_summary.py DIR [--json] [--lockstep]")
    lockstep = "--lockstep" in sys.argv
    result = summarise_lockstep(args[0]) if lockstep else summarise(args[0])
    fmt = format_lockstep if lockstep else format_summary
    print(json.dumps(result, indent=1) if "--json" in sys.argv else fmt(result))

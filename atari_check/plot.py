"""``python -m atari_check plot DIR... --out PNG``: learning curves and lockstep diagnostics.

Learning curves are drawn like the paper's Figures 1-3: per environment one
panel, per algorithm the mean over seeds of the binned episode return (solid)
and ± one standard deviation across seeds (shaded).  The lockstep figure
shows, per pair of update rules, the cosine similarity and the relative
difference of the sampled gradients and of the gradients with (∗)/(∗∗)
replaced by their exact expectation (log scale), over frames.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from .compare import has_metrics, load_runs, read_metrics

COLORS = {"a2c-naive": "tab:orange", "a2c-proper": "tab:blue", "sql": "tab:green", "sql-unscaled": "tab:red",
          "dqn": "tab:purple", "dqn-soft-kl": "tab:brown", "dqn-soft-ent": "tab:pink"}


def _color(label: str) -> str | None:
    return COLORS.get(label, COLORS.get(label.split("-n")[0]))


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(dirs, out: str | Path, *, bins: int = 50) -> Path:
    plt = _mpl()
    runs, _ = load_runs(dirs)
    envs = sorted({r["env"] for r in runs})
    fig, axes = plt.subplots(1, len(envs), figsize=(5.2 * len(envs), 3.8), squeeze=False)
    for ax, env in zip(axes[0], envs):
        env_runs = [r for r in runs if r["env"] == env]
        total = max(r["config"].frames for r in env_runs)
        edges = np.linspace(0, total, bins + 1)
        centres = 0.5 * (edges[1:] + edges[:-1])
        for label in sorted({r["algo"] for r in env_runs}):
            curves = []
            for r in (r for r in env_runs if r["algo"] == label):
                eps = read_metrics(Path(r["dir"]) / "episodes.csv")
                f = np.array([float(e["frames"]) for e in eps])
                ret = np.array([float(e["return"]) for e in eps])
                which = np.clip(np.searchsorted(edges, f, side="left") - 1, 0, bins - 1)
                curve = np.array([ret[which == k].mean() if (which == k).any() else np.nan for k in range(bins)])
                for k in range(1, bins):  # empty bin: carry the previous value
                    if np.isnan(curve[k]):
                        curve[k] = curve[k - 1]
                curves.append(curve)
            c = np.array(curves)
            with warnings.catch_warnings():  # bins before a seed's first episode are NaN: left blank
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(c, axis=0)
                std = np.nanstd(c, axis=0, ddof=1) if len(c) > 1 else np.zeros_like(mean)
            ax.plot(centres, mean, color=_color(label), label=f"{label} (n={len(c)})")
            ax.fill_between(centres, mean - std, mean + std, color=_color(label), alpha=0.2, linewidth=0)
        ax.set_title(env)
        ax.set_xlabel("frames")
        ax.set_ylabel("episode return (unclipped)")
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
    fig.suptitle("mean over seeds ± 1 std (shaded)", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_lockstep(dirs, out: str | Path) -> Path | None:
    plt = _mpl()
    runs, _ = load_runs(dirs)
    rows = []
    for r in runs:
        path = Path(r["dir"]) / "lockstep.csv"
        if has_metrics(path):
            rows += [dict(row, algo=r["algo"], env=r["env"]) for row in read_metrics(path)]
    if not rows:
        return None
    pairs = sorted({row["pair"] for row in rows})
    fig, axes = plt.subplots(2, len(pairs), figsize=(5.5 * len(pairs), 6.5), squeeze=False)
    for j, pair in enumerate(pairs):
        sel = [row for row in rows if row["pair"] == pair]
        for label in sorted({row["algo"] for row in sel}):
            pts = [row for row in sel if row["algo"] == label]
            f = np.array([float(p["frames"]) for p in pts])
            cos = np.array([float(p["cos_sampled"]) for p in pts])
            rel_s = np.array([float(p["rel_diff_sampled"]) for p in pts])
            rel_e = np.array([float(p["rel_diff_expected"]) for p in pts])
            axes[0, j].scatter(f, cos, s=4, color=_color(label), alpha=0.5, label=f"trained by {label}")
            axes[1, j].scatter(f, rel_s, s=4, color=_color(label), alpha=0.5, marker="o")
            axes[1, j].scatter(f, np.maximum(rel_e, 1e-18), s=4, color=_color(label), alpha=0.5, marker="x")
        axes[0, j].set_title(f"{pair}: cosine(sampled soft-Q grad, PG grad)", fontsize=9)
        axes[0, j].set_ylim(-1.05, 1.05)
        axes[0, j].legend(fontsize=7, markerscale=3)
        axes[1, j].set_yscale("log")
        axes[1, j].set_title("relative difference: o sampled, x (∗)/(∗∗) replaced by exact expectation", fontsize=9)
        for ax in axes[:, j]:
            ax.set_xlabel("frames")
            ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def lockstep_summary(dirs) -> dict:
    """Per pair: how many diagnostics, and the worst expected-case relative difference."""
    runs, _ = load_runs(dirs)
    out: dict[str, dict] = {}
    for r in runs:
        path = Path(r["dir"]) / "lockstep.csv"
        if not has_metrics(path):
            continue
        for row in read_metrics(path):
            d = out.setdefault(row["pair"], {"n": 0, "max_rel_diff_expected": 0.0, "cos_sampled": []})
            d["n"] += 1
            rel = float(row["rel_diff_expected"])
            if not math.isnan(rel):
                d["max_rel_diff_expected"] = max(d["max_rel_diff_expected"], rel)
            d["cos_sampled"].append(float(row["cos_sampled"]))
    for d in out.values():
        c = np.array(d.pop("cos_sampled"))
        d.update(cos_sampled_median=float(np.nanmedian(c)), cos_sampled_min=float(np.nanmin(c)),
                 cos_sampled_max=float(np.nanmax(c)))
    return out

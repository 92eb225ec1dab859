"""``python -m atari_check plot DIR... --out PNG``: learning curves and lockstep diagnostics.

Learning curves are drawn like the paper's Figures 1-3: per environment one
panel, per algorithm the mean over seeds of the binned episode return (line
with its own marker) and ± one standard deviation across seeds (shaded),
frames in millions.  The lockstep figure shows, per pair of update rules,
the cosine similarity and the relative difference of the sampled gradients
and of the gradients with (∗)/(∗∗) replaced by their exact expectation (log
scale), over frames.  Every panel has both axes labelled.  A run with no
finished episode is skipped with a warning naming it (``strict``: refused),
as in :func:`atari_check.compare.load_runs`.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from .compare import has_metrics, load_runs, read_metrics

MARKERS = {"a2c-naive": "v", "a2c-proper": "o", "sql": "s", "sql-unscaled": "x", "dqn": "D", "dqn-soft-kl": "^",
           "dqn-soft-ent": "P"}
FIGSIZE_PER_PANEL = (6.4, 4.8)  # inches; at DPI 130 a panel is ~830 × 620 px
DPI = 130
COLORS = {"a2c-naive": "tab:orange", "a2c-proper": "tab:blue", "sql": "tab:green", "sql-unscaled": "tab:red",
          "dqn": "tab:purple", "dqn-soft-kl": "tab:brown", "dqn-soft-ent": "tab:pink"}


def _base(label: str) -> str:
    for algo in sorted(COLORS, key=len, reverse=True):  # "a2c-proper-c100" -> "a2c-proper"
        if label == algo or label.startswith(algo + "-"):
            return algo
    return label


def _color(label: str) -> str | None:
    return COLORS.get(_base(label))


def _marker(label: str) -> str:
    return MARKERS.get(_base(label), "*") if _base(label) == label else "*"


def _millions(x, _pos=None) -> str:
    return f"{x / 1e6:g}"


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _frames_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(_millions))
    ax.set_xlabel("frames (millions)")


def learning_curves_figure(runs: list[dict], *, bins: int = 50):
    """The learning-curve figure of ``runs`` (as from :func:`load_runs`): one panel per env."""
    plt = _mpl()
    envs = sorted({r["env"] for r in runs})
    w, h = FIGSIZE_PER_PANEL
    fig, axes = plt.subplots(1, len(envs), figsize=(w * len(envs), h), squeeze=False)
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
            ax.plot(centres, mean, color=_color(label), marker=_marker(label), markevery=max(1, bins // 10),
                    markersize=6, linewidth=1.6, label=f"{label} (n={len(c)})")
            ax.fill_between(centres, mean - std, mean + std, color=_color(label), alpha=0.2, linewidth=0)
        ax.set_title(env, fontsize=12)
        _frames_axis(ax)
        ax.set_ylabel("episode return (unclipped)")
        ax.legend(fontsize=9, loc="best")
        ax.grid(alpha=0.3)
    fig.suptitle("mean over seeds ± 1 std (shaded)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_learning_curves(dirs, out: str | Path, *, bins: int = 50, strict: bool = False) -> Path:
    plt = _mpl()
    runs, _ = load_runs(dirs, strict=strict)
    if not runs:
        raise ValueError(f"no finished run with a finished episode under {[str(d) for d in dirs]}")
    fig = learning_curves_figure(runs, bins=bins)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def plot_lockstep(dirs, out: str | Path, *, strict: bool = False) -> Path | None:
    plt = _mpl()
    runs, _ = load_runs(dirs, strict=strict)
    rows = []
    for r in runs:
        path = Path(r["dir"]) / "lockstep.csv"
        if has_metrics(path):
            rows += [dict(row, algo=r["algo"], env=r["env"]) for row in read_metrics(path)]
    if not rows:
        return None
    pairs = sorted({row["pair"] for row in rows})
    w, h = FIGSIZE_PER_PANEL
    fig, axes = plt.subplots(2, len(pairs), figsize=(w * len(pairs), 2 * h), squeeze=False)
    for j, pair in enumerate(pairs):
        sel = [row for row in rows if row["pair"] == pair]
        for label in sorted({row["algo"] for row in sel}):
            pts = [row for row in sel if row["algo"] == label]
            f = np.array([float(p["frames"]) for p in pts])
            cos = np.array([float(p["cos_sampled"]) for p in pts])
            rel_s = np.array([float(p["rel_diff_sampled"]) for p in pts])
            rel_e = np.array([float(p["rel_diff_expected"]) for p in pts])
            axes[0, j].scatter(f, cos, s=10, color=_color(label), alpha=0.5, marker=_marker(label),
                               label=f"trained by {label}")
            axes[1, j].scatter(f, rel_s, s=10, color=_color(label), alpha=0.5, marker="o")
            axes[1, j].scatter(f, np.maximum(rel_e, 1e-18), s=12, color=_color(label), alpha=0.5, marker="x")
        axes[0, j].set_title(f"{pair}: sampled soft-Q vs PG gradient", fontsize=11)
        axes[0, j].set_ylim(-1.05, 1.05)
        axes[0, j].set_ylabel("cosine similarity")
        axes[0, j].legend(fontsize=8, markerscale=2)
        axes[1, j].set_yscale("log")
        axes[1, j].set_title(f"{pair}: relative difference", fontsize=11)
        axes[1, j].set_ylabel("‖g_Q − g_PG‖ / ‖g_PG‖ (log)")
        axes[1, j].scatter([], [], color="gray", marker="o", label="sampled")  # shapes; colours as above
        axes[1, j].scatter([], [], color="gray", marker="x", label="(∗)/(∗∗) by exact expectation")
        axes[1, j].legend(fontsize=8, markerscale=2, loc="center right")
        for ax in axes[:, j]:
            _frames_axis(ax)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def lockstep_summary(dirs, *, strict: bool = False) -> dict:
    """Per pair: how many diagnostics, and the worst expected-case relative difference."""
    runs, _ = load_runs(dirs, strict=strict)
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

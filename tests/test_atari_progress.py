"""The progress line (issue 12 §3): ≤ 80 columns, frames, frames/s, return over the last N episodes carried
across a resume, ETA as h:mm:ss."""

from __future__ import annotations

import re

import numpy as np
import pytest

from atari_check.config import Config
from atari_check.run import PROGRESS_WIDTH, format_progress, hms, read_csv, run

LINE = re.compile(r"^\[.+\] \S+/\S+ \d+\.\d% \S+ fps \| ret\(last (\d+)\) (\S+) \| ETA (\d+:\d\d:\d\d|-:--:--)$")


def test_hms():
    assert [hms(x) for x in (0, 59.4, 61, 3600, 36_000 + 62, float("nan"), -1)] == [
        "0:00:00", "0:00:59", "0:01:01", "1:00:00", "10:01:02", "-:--:--", "-:--:--"]


@pytest.mark.parametrize("title", ["a2c-proper Pong s0", "dqn-soft-kl-n5-printed SpaceInvaders s123456789" * 3])
@pytest.mark.parametrize("frames,total,fps,recent", [
    (0, 10_000_000, 0.0, []),
    (123_456, 10_000_000, 1234.5, [-21.0, -20.0]),
    (9_999_999_999, 10**12, 9.9e9, [-123456.789] * 20),
    (320_000_000, 320_000_000, 12.0, [1e9]),
])
def test_progress_line_fits_80_columns(title, frames, total, fps, recent):
    line = format_progress(title, frames, total, fps, recent)
    assert len(line) <= PROGRESS_WIDTH, line
    match = LINE.match(line)
    assert match, line
    assert int(match[1]) == len(recent)
    if fps > 0:
        assert match[3] == hms((total - frames) / fps)


def test_progress_line_content():
    line = format_progress("a2c-proper Pong s0", 123_456, 10_000_000, 1000.0, [-21.0, -19.0])
    assert line == "[a2c-proper Pong s0] 123k/10M 1.2% 1,000 fps | ret(last 2) -20 | ETA 2:44:37"


def test_recent_returns_are_carried_across_a_resume(tmp_path, capsys):
    cfg = Config(algo="a2c-proper", env="CartPole-v1", frames=400, num_envs=2, lockstep_interval=0, log_interval=1)
    run(cfg, tmp_path / "r", progress=True)
    first = capsys.readouterr().err.strip().splitlines()[-1]
    n_first = int(LINE.match(first)[1])
    episodes = read_csv(tmp_path / "r" / "episodes.csv")
    assert n_first == min(20, len(episodes)) > 0  # the last 20 episodes
    assert LINE.match(first)[2] == f"{np.mean([float(e['return']) for e in episodes[-20:]]):.4g}"
    run(cfg.replace(frames=420), tmp_path / "r", resume=True, progress=True)  # 2 more updates
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert len(last) <= PROGRESS_WIDTH and int(LINE.match(last)[1]) >= n_first, (first, last)

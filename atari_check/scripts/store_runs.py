"""Copy finished runs from a sweep directory into the repository's results tree, as committed results are kept.

For every ``run.json`` below SRC whose status is ``finished``: the same relative directory under DST with
``run.json`` copied and ``episodes.csv``, ``updates.csv``, ``lockstep.csv`` gzipped (mtime 0, so the bytes
depend only on the data); checkpoints are not copied.  Unfinished runs are listed and skipped — a partial grid
is never stored as if it were whole.  An existing destination directory is refused, never overwritten.
``atari_check.compare.read_metrics`` reads the ``.csv.gz`` files.

Run: python atari_check/scripts/store_runs.py SRC DST
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

METRICS = ("episodes.csv", "updates.csv", "lockstep.csv")


def store_runs(src: str | Path, dst: str | Path) -> tuple[list[Path], list[Path]]:
    """(stored run directories, skipped unfinished ones).  Raises FileExistsError before writing anything
    if any destination run directory exists."""
    src, dst = Path(src), Path(dst)
    runs = sorted(src.rglob("run.json"))
    if not runs:
        raise ValueError(f"no run.json below {str(src)!r}")
    finished, skipped = [], []
    for rj in runs:
        (finished if json.loads(rj.read_text()).get("status") == "finished" else skipped).append(rj.parent)
    clash = [dst / d.relative_to(src) for d in finished if (dst / d.relative_to(src)).exists()]
    if clash:
        raise FileExistsError(f"refusing to overwrite {len(clash)} stored run(s), e.g. {clash[0]}")
    stored = []
    for d in finished:
        out = dst / d.relative_to(src)
        out.mkdir(parents=True)
        shutil.copy2(d / "run.json", out / "run.json")
        for name in METRICS:
            with open(out / f"{name}.gz", "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as g:
                g.write((d / name).read_bytes())
        stored.append(out)
    return stored, skipped


if __name__ == "__main__":
    done, left = store_runs(sys.argv[1], sys.argv[2])
    for d in left:
        print(f"skipped (not finished): {d}", file=sys.stderr)
    print(f"stored {len(done)} finished run(s); {len(left)} not finished")

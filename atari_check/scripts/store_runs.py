"""Copy finished runs from a sweep directory into the repository's results tree, as committed results are kept.

For every ``run.json`` below SRC whose status is ``finished``: the same relative directory under DST with
``run.json`` copied and ``episodes.csv``, ``updates.csv``, ``lockstep.csv`` gzipped (mtime 0, so the bytes
depend only on the data); checkpoints are not copied.  Unfinished runs are listed and skipped — a partial grid
is never stored as if it were whole.  An existing destination directory is refused, never overwritten; a run
is written into ``<name>.partial`` and renamed when complete, and missing source files stop it before anything
is written.
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
    missing = [d / name for d in finished for name in ("run.json", *METRICS) if not (d / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} file(s) of finished runs are missing, e.g. {missing[0]}; "
                                f"nothing was stored")
    stored = []
    for d in finished:
        out = dst / d.relative_to(src)
        tmp = out.with_name(out.name + ".partial")  # a killed copy leaves only this, never a half-stored run
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        shutil.copy2(d / "run.json", tmp / "run.json")
        for name in METRICS:
            data = (d / name).read_bytes()
            with open(tmp / f"{name}.gz", "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as g:
                g.write(data)
        tmp.rename(out)
        stored.append(out)
    return stored, skipped


if __name__ == "__main__":
    done, left = store_runs(sys.argv[1], sys.argv[2])
    for d in left:
        print(f"skipped (not finished): {d}", file=sys.stderr)
    print(f"stored {len(done)} finished run(s); {len(left)} not finished")

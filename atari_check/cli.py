"""Command line: ``python -m atari_check {run,compare,plot,bench,sweep} ...``.

Every :class:`~atari_check.config.Config` field is an option of ``run``, ``bench``
and ``sweep`` (``--num-envs 8``, ``--life-loss-terminal false``, …); see
``python -m atari_check run --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import warnings
from pathlib import Path

from .config import ALGO_DESCRIPTIONS, ALGOS, Config, field_help


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _parse_int(text: str) -> int:
    t = text.replace("_", "")
    try:
        return int(t)
    except ValueError:
        pass
    try:
        value = float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


_PARSERS = {"int": _parse_int, "float": _parse_float, "bool": _parse_bool, "str": str}


def _add_config_options(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    helps = field_help()
    group = p.add_argument_group("configuration (atari_check.config.Config; defaults in brackets)")
    for f in dataclasses.fields(Config):
        if f.name in skip:
            continue
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        kwargs = {"type": _PARSERS[kind], "default": None, "dest": f.name,
                  "help": f"{helps[f.name]} [{f.default}]"}
        if f.name == "algo":
            kwargs.update(type=str, choices=ALGOS)
        group.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def _config_from(args: argparse.Namespace, **overrides) -> Config:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
              if getattr(args, f.name, None) is not None}
    values.update(overrides)
    return Config(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m atari_check", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train one algorithm on one environment",
                       description="Train one run. Algorithms: " + "; ".join(
                           f"{k}: {v}" for k, v in ALGO_DESCRIPTIONS.items()))
    p.add_argument("--out", required=True, help="run directory (must be new/empty, or use --resume)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint (starts fresh if --out is empty)")
    p.add_argument("--time-limit", type=_parse_float, default=None,
                   help="stop cleanly (checkpoint, status 'interrupted') after this many seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_config_options(p)

    p = sub.add_parser("compare", help="statistics and the registered tests' verdicts over run directories")
    p.add_argument("dirs", nargs="+", help="run directories or folders containing them (searched recursively)")
    p.add_argument("--out", default=None,
                   help="where to write compare.json / compare.txt; never inside a DIR [the first DIR's parent]")
    p.add_argument("--rules", type=_parse_int, default=None,
                   help="version of atari_check.compare.DECISION_RULES to apply [latest]")
    p.add_argument("--margin-fraction", type=_parse_float, default=None,
                   help="override the registered margin (fraction of the score range); results are then "
                        "marked not pre-registered [the rules' margin]")
    p.add_argument("--strict", action="store_true",
                   help="refuse a finished run with no finished episode instead of skipping it with a warning")

    p = sub.add_parser("plot", help="learning curves (Figs. 1-3 style) and lockstep diagnostics")
    p.add_argument("dirs", nargs="+")
    p.add_argument("--strict", action="store_true",
                   help="refuse a finished run with no finished episode instead of skipping it with a warning")
    p.add_argument("--out", required=True, help="PNG for the learning curves")
    p.add_argument("--lockstep-out", default=None, help="PNG for the lockstep diagnostics [OUT stem + _lockstep]")

    p = sub.add_parser("bench", help="env-only vs training throughput (and optional sb3 A2C side by side)",
                       description="Interleaved rounds, order rotated; min/median/max of each contender and of "
                                   "each ratio taken within a round; serial limit from the components.")
    p.add_argument("--rounds", type=_parse_int, default=10, help="rounds, each measuring every contender [10; >= 3]")
    p.add_argument("--seconds", type=_parse_float, default=2.0,
                   help="duration of each contender's measurement in each round [2]")
    p.add_argument("--sb3", action="store_true", help="also time stable-baselines3 A2C (if installed)")
    p.add_argument("--processes", type=_parse_int, default=None, metavar="AGENT_STEPS",
                   help="instead: time whole processes (spawn to exit) of `python -m atari_check run` (a2c-proper, "
                        "sql) and sb3's A2C on its own Atari stack, AGENT_STEPS agent steps each, --rounds rounds")
    p.add_argument("--out", default=None, help="also write the results as JSON here")
    _add_config_options(p, skip=("algo", "frames"))

    p = sub.add_parser("sweep", help="the env x algo x seed grid as Ray tasks; resumable, run by run",
                       description="Every run is a Ray task that resumes from its own checkpoint in "
                                   "OUT/<env>/<algo>/seed<S>; run it again to continue an interrupted sweep.")
    p.add_argument("--envs", nargs="+", required=True, help="environment ids")
    p.add_argument("--algos", nargs="+", required=True, choices=ALGOS, help="algorithms")
    p.add_argument("--seeds", nargs="+", required=True, type=_parse_int, help="seeds")
    p.add_argument("--frames", required=True, type=_parse_int, help="frames per run")
    p.add_argument("--out", required=True, help="sweep directory (holds one run directory per grid point)")
    p.add_argument("--address", default=None, help="existing Ray cluster ('auto' or HOST:PORT) [local Ray]")
    p.add_argument("--num-cpus", type=_parse_int, default=None, help="CPUs of the local Ray [all cores]")
    p.add_argument("--cpus-per-run", type=_parse_float, default=1.0, help="CPUs reserved per run [1]")
    p.add_argument("--max-retries", type=_parse_int, default=3, help="Ray retries when a worker dies [3]")
    p.add_argument("--progress-interval", type=_parse_float, default=10.0, help="seconds between progress lines")
    _add_config_options(p, skip=("algo", "env", "seed", "frames"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            from .run import run

            cfg = _config_from(args)
            result = run(cfg, args.out, resume=args.resume, progress=not args.no_progress,
                         time_limit_s=args.time_limit)
            print(f"{result.status}: {result.frames:,} frames, {result.updates:,} updates, "
                  f"{result.episodes:,} episodes -> {result.out}" + (f"\n{result.message}" if result.message else ""))
            if result.status == "failed":
                print(f"error: {result.message}", file=sys.stderr)
            return result.exit_code
        if args.command == "compare":
            from .compare import LATEST_RULES, check_out_dir, compare, format_report, write_outputs

            out = check_out_dir(args.out or Path(args.dirs[0]).resolve().parent, args.dirs)  # before the work
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                result = compare(args.dirs, rules=LATEST_RULES if args.rules is None else args.rules,
                                 margin_fraction=args.margin_fraction, strict=args.strict)
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)
            json_path, txt_path = write_outputs(result, out, args.dirs)
            print(format_report(result), end="")
            print(f"\nwrote {json_path} and {txt_path}")
            return 0
        if args.command == "plot":
            from .plot import plot_learning_curves, plot_lockstep

            lock_out = args.lockstep_out or str(Path(args.out).with_name(Path(args.out).stem + "_lockstep.png"))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                out = plot_learning_curves(args.dirs, args.out, strict=args.strict)
                lock = plot_lockstep(args.dirs, lock_out, strict=args.strict)
            for message in dict.fromkeys(str(w.message) for w in caught):  # each run named once
                print(f"warning: {message}", file=sys.stderr)
            print(f"wrote {out}" + (f" and {lock}" if lock else " (no lockstep rows found)"))
            return 0
        if args.command == "bench":
            from .bench import bench, format_bench, write_bench

            defaults = {"env": "pong", "lr_schedule": "constant"}
            cfg = _config_from(args, **{k: v for k, v in defaults.items() if getattr(args, k, None) is None})
            if args.processes is not None:
                from .bench import bench_processes, format_bench_processes

                if args.sb3:
                    raise ValueError("--processes always includes sb3 (its own stack); drop --sb3")
                result = bench_processes(cfg, args.processes, rounds=args.rounds,
                                         progress=lambda line: print(line, file=sys.stderr, flush=True))
                print(format_bench_processes(result), end="")
                if args.out:
                    print(f"wrote {write_bench(result, args.out)}")
                return 0
            result = bench(cfg, rounds=args.rounds, seconds=args.seconds, with_sb3=args.sb3,
                           progress=lambda line: print(line, file=sys.stderr, flush=True))
            print(format_bench(result), end="")
            if args.out:
                print(f"wrote {write_bench(result, args.out)}")
            return 0
        if args.command == "sweep":
            from .sweep import sweep

            overrides = {} if args.checkpoint_interval_s is not None else {"checkpoint_interval_s": 60.0}
            base = _config_from(args, **overrides)
            try:
                summary = sweep(base, args.envs, args.algos, args.seeds, args.frames, args.out,
                                address=args.address, num_cpus=args.num_cpus, cpus_per_run=args.cpus_per_run,
                                max_retries=args.max_retries, progress_interval_s=args.progress_interval)
            except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: sweep() stopped and recorded the tasks
                print(f"sweep interrupted: the runs in progress stopped at their last checkpoint (listed in "
                      f"{args.out}/sweep.json); run the same command again to continue", file=sys.stderr)
                return 128 + int(getattr(stop, "signum", signal.SIGINT))
            bad = {n: s for n, s in summary["status"].items() if s != "finished"}
            print(f"sweep: {summary['finished']}/{summary['runs']} runs finished ({summary['skipped_done']} were "
                  f"already, {summary['ran']} ran now; Ray start {summary['ray_start_s']:.1f} s) -> {summary['out']}")
            for n, s in bad.items():
                print(f"  {n}: {s}", file=sys.stderr)
            for problem in summary["audit"]:
                print(f"  audit: {problem}", file=sys.stderr)
            return 0 if not bad and not summary["audit"] else 1
    except ValueError as err:  # includes RunDirError: bad input, nothing overwritten
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1

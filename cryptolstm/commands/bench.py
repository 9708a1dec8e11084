"""`cryptolstm bench-scale` — the cost curve of every stage from 9 to 900 coins (see cryptolstm/bench/scale.py) —
and the device check of `cryptolstm bench-train --device` (see cryptolstm/bench/train.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from cryptolstm.bench.train import DEVICES, WARMUP_STEPS


def _bench_scale(args: argparse.Namespace) -> int:
    import os

    from cryptolstm.bench import scale
    from cryptolstm.commands import CommandError
    from cryptolstm.commands.market import SHARED_DATA

    shared = Path(args.data).resolve() if args.data else SHARED_DATA.parent
    if not (shared / "binance-1d").is_dir() or not (shared / "binance-1d-more").is_dir():
        raise CommandError(f"{shared} must hold binance-1d/ and binance-1d-more/ (the recorded candles)")
    sizes = tuple(int(x) for x in args.sizes.split(","))
    print(f"bench-scale: sizes {sizes} on {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    results = scale.run(sizes, shared_data=shared, work_dir=Path(args.work_dir) if args.work_dir else None,
                        max_train_windows=args.max_train_windows, train_steps=args.train_steps,
                        train_rss_cap_gib=args.train_rss_cap_gib, stages=tuple(args.stages.split(",")),
                        on_size=(lambda r: scale.save(r, Path(args.json))) if args.json else None)
    results["env"]["loadavg_end"] = os.getloadavg()
    print()
    print(scale.markdown(results))
    print("growth exponents k (time ~ coins^k):",
          ", ".join(f"{k} {v:.2f}" for k, v in results.get("exponents", {}).items()))
    if args.json:
        scale.save(results, Path(args.json))
        print(f"raw numbers: {args.json}")
    return 0


def _device_check(args: argparse.Namespace, panel_of: Callable[[argparse.Namespace], object]) -> int:
    import os

    from cryptolstm.bench import train as bench
    from cryptolstm.commands import CommandError

    if args.steps <= WARMUP_STEPS:
        raise CommandError(f"--steps must be above {WARMUP_STEPS} (the warm-up steps are not timed)")
    print(f"bench-train --device {args.device}: profile {args.profile}, {args.steps} steps, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()}", flush=True)
    try:
        bench.select_device(args.device)  # before TensorFlow runs anything
        report = bench.run(panel_of(args), profile=args.profile, steps=args.steps)
    except RuntimeError as exc:
        raise CommandError(str(exc)) from None
    print("\n".join(report.lines()))
    return 0


def add_device_check(parser: argparse.ArgumentParser, wall_time: Callable[[argparse.Namespace], object],
                     panel_of: Callable[[argparse.Namespace], object]) -> None:
    """Give `bench-train` its `--device` mode: a capped real fit of the candles `panel_of(args)` that prints the
    device TensorFlow placed it on and the seconds per step. Without `--device` it runs `wall_time(args)`."""
    g = parser.add_argument_group("device check (--device)")
    g.add_argument("--device", nargs="?", const="auto", choices=DEVICES,
                   help="check where TensorFlow fits instead of timing the weekly computation: auto (its own "
                        "placement, a GPU if it sees one; also `--device` alone), cpu (GPUs hidden), gpu (fail "
                        "if it sees none). Prints the device, TF version, GPUs, seconds per step, windows per second")
    g.add_argument("--steps", type=int, default=20,
                   help=f"gradient steps before the fit is stopped (default 20; the first {WARMUP_STEPS} are warm-up)")
    g.add_argument("--profile", choices=("full", "tiny"), default="full",
                   help="the model: full (production TrainConfig, default) or tiny")
    parser.set_defaults(func=lambda args: _device_check(args, panel_of) if args.device else wall_time(args))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench-scale", help="measure ingest, features, cube, epoch, train, forecast for 9..900 coins")
    p.add_argument("--sizes", default="9,20,90,900", help="universe sizes, comma-separated (default 9,20,90,900)")
    p.add_argument("--stages", default=",".join(("ingest", "features", "cube", "epoch", "train", "forecast")),
                   help="stages to run (default: all)")
    p.add_argument("--max-train-windows", type=int, default=60_000,
                   help="epochs with more windows are timed on this many and extrapolated (default 60000)")
    p.add_argument("--train-steps", type=int, default=20,
                   help="gradient steps of the train stage's fit before it is stopped (default 20)")
    p.add_argument("--train-rss-cap-gib", type=float, default=8.0,
                   help="the train stage's fit is killed above this resident memory (default 8 GiB)")
    p.add_argument("--data", help="folder holding binance-1d/ and binance-1d-more/ (default ../shared/data)")
    p.add_argument("--work-dir", help="where the synthetic CSVs and the benchmark's database go (default: a temp dir)")
    p.add_argument("--json", metavar="FILE", help="also write every number measured as JSON")
    p.set_defaults(func=_bench_scale)

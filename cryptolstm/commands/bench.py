"""`cryptolstm bench-scale` — the cost curve of every stage from 9 to 900 coins (see cryptolstm/bench/scale.py)."""

from __future__ import annotations

import argparse
from pathlib import Path


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

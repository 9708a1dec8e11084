"""`cryptolstm run` — the main job on the embedded default.

Brings the stack up, then lets Airflow do the work exactly as it would in production: a backfill of
the weekly DAG for the last complete week (ingest, walk-forward, train, gated promotion), then the
daily DAG over the last closed days of that week (ingest, features, forecast, score, alerts, charts), and finally
prints the forecasts and where to look. Rerunning it reuses what already ran.

Candles come from the live exchange, or from a recorded CSV folder replayed by the local stand-in
(`--replay DIR`). With neither chosen, the live exchange is tried first and, if it cannot be
reached, the recorded folder is used — said loudly, never silently.
"""

from __future__ import annotations

import argparse
import csv
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from cryptolstm.commands import CommandError
from cryptolstm import environment
from cryptolstm.config import DAILY_DAG_ID as DAILY, WEEKLY_DAG_ID as WEEKLY, Settings, TrainConfig


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def last_common_day(replay_dir: Path, coins: tuple[str, ...], quote: str) -> date:
    """The last day every configured coin has in the recorded folder (files are sorted by date); a folder
    of folders (see `market.csv_files.csv_folders`) is searched in each of them."""
    from cryptolstm.market.csv_files import csv_folders

    folders = csv_folders(replay_dir, quote)
    last = []
    for coin in coins:
        path = next((d / f"{coin}{quote}.csv" for d in folders if (d / f"{coin}{quote}.csv").exists()),
                    replay_dir / f"{coin}{quote}.csv")
        if not path.exists():
            raise CommandError(f"{path} is missing: the replay folder must hold one CSV per coin")
        with path.open() as f:
            rows = list(csv.reader(f))
        last.append(date.fromisoformat(rows[-1][0]))
    return min(last)


def _exchange_reachable(settings: Settings) -> str | None:
    """None when the live exchange answers; otherwise the reason it does not."""
    from cryptolstm.config import IngestConfig
    from cryptolstm.market.exchange import make_client

    try:
        client = make_client(settings.market, IngestConfig(timeout_ms=5000))
        client.fetch_time()
        return None
    except Exception as exc:  # any failure means "not usable now"; the reason is shown to the user
        return f"{type(exc).__name__}: {str(exc)[:160]}"


def _choose_source(args: argparse.Namespace, settings: Settings) -> Path | None:
    """The replay folder to use, or None for the live exchange."""
    from cryptolstm.commands.market import SHARED_DATA

    if args.replay:
        return Path(args.replay).resolve()
    if settings.market.api_url:
        return None  # an explicit exchange URL (e.g. a stand-in the user runs) is used as is
    why = _exchange_reachable(settings)
    if why is None:
        return None
    if args.live or not SHARED_DATA.is_dir():
        raise CommandError(f"the live exchange {settings.market.exchange} is unreachable ({why}); "
                           "run on recorded candles with --replay DIR")
    print(f"!! the live exchange {settings.market.exchange} is unreachable ({why})")
    # the parent folder: the stand-in then serves the served coins and the auxiliary ones (binance-1d-more)
    print(f"!! REPLAYING the recorded candles in {SHARED_DATA.parent} instead (use --live to refuse this)")
    return SHARED_DATA.parent


def trained_line(model) -> str:
    """What the weekly run trained: ensemble members and their seeds, walk-forward folds, coins trained on."""
    hp, m = model.hyperparams, model.metrics
    k = int(hp.get("n_seeds", 1))
    seeds = ", ".join(str(TrainConfig(seed=int(hp.get("seed", 0))).member_seed(i)) for i in range(k))
    coins = hp.get("coins") or []
    folds = m.get("folds") or []
    return (f"   trained {model.model_id}: K = {k} member(s) (seeds {seeds}), {len(folds)} walk-forward folds "
            f"({m.get('eval_start', '?')} .. {m.get('eval_end', '?')}), {len(coins)} coins ({' '.join(coins)})")


def _print_outcome(dsn: str, as_of: date, week_end: date) -> None:
    from cryptolstm import storage
    from cryptolstm.serving import registry

    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("promotion_decisions_select_interval"), {"decided_for": _utc(week_end)})
        for _, cid, _, promoted, cda, chda, n, _, reason, *_intervals in cur.fetchall():
            fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
            print(f"weekly decision {week_end}: {cid} {'PROMOTED' if promoted else 'not promoted'} "
                  f"(DA {fmt(cda)} vs champion {fmt(chda)} on {n} cells) — {reason}")
            print(trained_line(registry.get(cur, cid)))
        cur.execute(storage.query("v_latest_forecasts_select_as_of"), {"as_of": as_of})
        rows = cur.fetchall()
    if not rows:
        print(f"no forecast for {as_of}: no model was trained before that day "
              "(see the weekly decision above and the `alerts` table) — no fake forecast is made")
        return
    by_coin: dict[str, list] = {}
    drift: dict[str, tuple[bool | None, str | None]] = {}  # per coin: its input window is one, whatever h
    for coin, h, r, p, base, model, _, lo80, hi80, lo95, hi95, drifted, cause, _conf, _agree, tier in rows:
        by_coin.setdefault(coin, []).append((h, r, p, base, model, (lo80, hi80, lo95, hi95), tier))
        drift[coin] = (drifted, cause)
    if rows[0][6] == "provisional":
        print(f"\n!! PROVISIONAL: no model has been promoted yet; {rows[0][5]} is the newest model trained before "
              f"{as_of} and forecasts until one is (the no_champion alert is firing)")
    print(f"\nforecasts as of {as_of} (price = close[t]·exp(r̂)), model {rows[0][5]} ({rows[0][6]}):")
    print(f"{'coin':5} {'close':>12} " + " ".join(f"{'t+' + str(h):>20}" for h in range(1, 6)))
    for coin, cells in by_coin.items():
        cols = " ".join(f"{p:>12.6g} ({r:+.3%})" for _, r, p, *_ in sorted(cells))  # daily forecasts are small
        print(f"{coin:5} {cells[0][3]:>12.6g} {cols}")
        for k, label in ((0, "80 %"), (2, "95 %")):  # the stored ranges of the price
            if all(c[5][k] is not None for c in cells):
                spans = (f"{c[5][k]:.6g}–{c[5][k + 1]:.6g}" for c in sorted(cells))
                print(f"{'':5} {label:>12} " + " ".join(f"{x:>20}" for x in spans))
        if drift[coin][0]:
            print(f"{'':5} {'INPUT DRIFT':>12} {drift[coin][1]}")
        if any(c[6] is not None for c in cells):  # issue 26: each forecast's confidence tier
            print(f"{'':5} {'tier':>12} " + " ".join(f"{c[6] or '-':>20}" for c in sorted(cells)))
    tiers = [c[6] for cells in by_coin.values() for c in cells]
    if all(t is None for t in tiers):
        print("confidence tiers: none (the model was registered without a confidence reference)")
    else:
        print("confidence tiers: " + ", ".join(f"{tiers.count(t)} {t}" for t in ("high", "medium", "low"))
              + " (where each forecast's score falls among the model's walk-forward forecasts of its horizon)")
    flagged = sorted(c for c, (d, _) in drift.items() if d)
    if all(d is None for d, _ in drift.values()):
        print("input drift: not assessed (the model was registered without a description of its training inputs)")
    else:
        print(f"input drift: {len(flagged)} of {len(drift)} coins have an input window unlike the model's training "
              "windows" + (f" ({', '.join(flagged)}): read their forecasts with care" if flagged else ""))


def backfill(api, dag_id: str, start: datetime, end: datetime, timeout: float, log=print) -> None:
    """Create a backfill over [start, end] that reprocesses nothing already done.

    Airflow allows one running backfill per DAG (409 otherwise). If one is running — an earlier
    `run` that was interrupted, or one made in the UI — wait for it and then create ours, which only
    adds the runs still missing; say in one line what is happening and how to stop it instead.
    """
    from cryptolstm.runtime.airflow_api import AirflowApiError

    try:
        api.backfill(dag_id, start, end, reprocess="none")
        return
    except AirflowApiError as exc:
        if exc.status != 409:
            raise
    for b in api.backfills(dag_id, active_only=True):
        log(f"   a backfill of {dag_id} is already running (id {b['id']}, {b['from_date'][:10]} .. "
            f"{b['to_date'][:10]}): waiting for it to finish (or cancel it: Airflow UI, DAG {dag_id}, Backfills)")
        try:
            api.wait_for_backfill(b["id"], timeout=timeout)
        except TimeoutError as exc:
            raise CommandError(f"{exc}; cancel it in the Airflow UI (DAG {dag_id}, Backfills) and rerun") from None
    api.backfill(dag_id, start, end, reprocess="none")


def _run(args: argparse.Namespace) -> int:
    from cryptolstm.runtime import services
    from cryptolstm.runtime.airflow_api import AirflowApi
    from cryptolstm.calendar import weekly_boundary

    try:
        s, _ = environment.validate()  # every setting checked before any service starts
    except environment.SettingError as exc:
        raise CommandError(f"bad configuration: {exc}")
    print("== 1/4 choose the market data source")
    replay = _choose_source(args, s)
    if replay:
        as_of = last_common_day(replay, s.market.coins, s.market.quote)
        print(f"replaying {replay}: the last closed day there is {as_of}")
    else:
        as_of = datetime.now(timezone.utc).date() - timedelta(days=1)  # the day that just closed
        print(f"live exchange {s.market.api_url or s.market.exchange}: the last closed day is {as_of}")
    week_end = weekly_boundary(as_of)

    print("== 2/4 database, Airflow services" + (", exchange stand-in" if replay else ""))
    saved = services.saved_mode(s)  # a Celery runtime started by `services up --executor celery` stays Celery
    try:
        services.up(s, wait=args.wait, replay_dir=replay, executor=saved.executor if saved else "local",
                    workers=saved.workers if saved else 1)
    except services.NotReady as exc:
        raise CommandError(str(exc)) from None
    login = services.UiLogin()
    api = AirflowApi(f"http://127.0.0.1:{s.api_port}", login.username, login.password)
    for dag_id in (WEEKLY, DAILY):
        api.wait_for_dag(dag_id)
        api.set_paused(dag_id, False)

    print(f"== 3/4 weekly DAG for the week ending {week_end}: ingest, walk-forward, train, promotion gate")
    print("   (the full model trains for several minutes on 2 cores; progress in the Airflow UI)")
    week_start = _utc(week_end - timedelta(days=7))
    backfill(api, WEEKLY, week_start, week_start, timeout=args.timeout)
    weekly = api.wait_for_run(WEEKLY, week_start, timeout=args.timeout, log=print)

    first = max(week_end, as_of - timedelta(days=args.days - 1))
    print(f"== 4/4 daily DAG for {first} .. {as_of}: ingest, features, forecast, score, alerts, charts")
    backfill(api, DAILY, _utc(first), _utc(as_of), timeout=args.timeout)
    days = [first + timedelta(days=i) for i in range((as_of - first).days + 1)]
    daily = [api.wait_for_run(DAILY, _utc(d), timeout=args.timeout, log=print) for d in days]

    from cryptolstm.commands.db import forecast_dsn

    print()
    _print_outcome(forecast_dsn(s), as_of, week_end)
    ui = f"http://127.0.0.1:{s.api_port}"
    print(f"""
where to look:
  Airflow UI      {ui}  (login {login.username} / {login.password}) — DAGs {WEEKLY}, {DAILY}
  Forecasts page  {ui}/cryptolstm/
  SQL             .venv/bin/cryptolstm db psql -c 'SELECT * FROM v_latest_forecasts'
  stop it all     make down""")
    failed = [r["dag_run_id"] for r in (weekly, *daily) if r["state"] != "success"]
    if failed:
        print(f"\nfailed runs: {', '.join(failed)} — open them in the UI for the task logs")
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the main job: stack up, weekly training/promotion, daily forecast")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--replay", metavar="DIR", help="replay recorded daily candles instead of live: a CSV folder, "
                                                      "or a folder of CSV folders (e.g. ../shared/data)")
    src.add_argument("--live", action="store_true", help="live exchange only; fail if unreachable")
    p.add_argument("--wait", type=float, default=180.0, help="seconds to wait for the services (default 180)")
    p.add_argument("--days", type=int, default=5,
                   help="daily runs to backfill, ending on the last closed day, from the week's end (default 5)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for each DAG run (default 3600)")
    p.set_defaults(func=_run)

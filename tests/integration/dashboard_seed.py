"""Synthetic but consistent rows for the chart and dashboard tests: candles, two models, forecasts,
scores and promotion decisions, written through plain SQL into a test database."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import numpy as np

from cryptolstm import storage

AS_OF = date(2024, 6, 30)  # the last closed day in the seeded data
DAYS = 200  # candles per coin
FORECAST_DAYS = 90  # as-of days with forecasts
SWITCH = AS_OF - timedelta(days=40)  # model m2 becomes champion on this as-of day
# each model's walk-forward DA of two naive rules, as registered: reversal_3 is its fixed live comparator
WF_BASELINES = '{"baseline_da": {"always_up": 0.50, "reversal_3": 0.52}}'
START_PRICE = {"BTC": 60000.0, "ETH": 3000.0, "BNB": 550.0, "XRP": 0.5, "ADA": 0.45, "SOL": 140.0,
               "DOGE": 0.12, "LTC": 80.0, "LINK": 15.0}


def seed(dsn: str, seed: int = 7) -> dict[str, dict[date, float]]:
    """Fill `dsn`; return the closes {coin: {day: close}}."""
    rng = np.random.default_rng(seed)
    first = AS_OF - timedelta(days=DAYS - 1)
    closes: dict[str, dict[date, float]] = {}
    with storage.transaction(dsn) as cur:
        cur.execute("SELECT coin FROM coins ORDER BY coin_index")
        coins = [r[0] for r in cur.fetchall()]
        for coin in coins:
            logp = math.log(START_PRICE.get(coin, 10.0)) + np.cumsum(rng.normal(0.0005, 0.03, DAYS))
            closes[coin] = {}
            for i, lp in enumerate(logp):
                day, c = first + timedelta(days=i), float(math.exp(lp))
                o = c * math.exp(rng.normal(0, 0.01))
                closes[coin][day] = c
                cur.execute(
                    "INSERT INTO candles (coin, day, open, high, low, close, volume, first_seen_in) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (coin, day, o, max(o, c) * 1.01, min(o, c) * 0.99, c, 1000.0,
                     datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)))
        for mid, cutoff, frm, until, status in [
            ("m1", first + timedelta(days=60), AS_OF - timedelta(days=FORECAST_DAYS), SWITCH, "retired"),
            ("m2", SWITCH - timedelta(days=10), SWITCH, None, "champion"),
        ]:
            cur.execute(
                "INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                "code_version, artifact, artifact_sha256, status, champion_from, champion_until, metrics) "
                "VALUES (%s, %s, %s, 'v1', '{}', 'test', %s, 'x', %s, %s, %s, %s)",
                (mid, datetime.combine(cutoff + timedelta(days=6), datetime.min.time(), timezone.utc), cutoff,
                 b"\0", status, frm, until, WF_BASELINES))
        for k in range(FORECAST_DAYS):
            as_of = AS_OF - timedelta(days=FORECAST_DAYS - 1 - k)
            model = "m2" if as_of >= SWITCH else "m1"
            for coin in coins:
                base = closes[coin][as_of]
                for h in range(1, 6):
                    target = as_of + timedelta(days=h)
                    r_hat = float(rng.normal(0.002 * h, 0.01 * math.sqrt(h)))
                    w80, w95 = 1.28 * 0.03 * math.sqrt(h), 1.96 * 0.03 * math.sqrt(h)  # ranges as stored
                    cur.execute(
                        "INSERT INTO forecasts (coin, as_of, horizon, model_id, target_day, base_close, "
                        "pred_log_return, pred_close, run_id, lo80_log_return, hi80_log_return, lo95_log_return, "
                        "hi95_log_return, lo80_close, hi80_close, lo95_close, hi95_close, interval_method) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'test')",
                        (coin, as_of, h, model, target, base, r_hat, base * math.exp(r_hat), f"run_{as_of}",
                         r_hat - w80, r_hat + w80, r_hat - w95, r_hat + w95, base * math.exp(r_hat - w80),
                         base * math.exp(r_hat + w80), base * math.exp(r_hat - w95), base * math.exp(r_hat + w95)))
                    if target <= AS_OF:
                        r = math.log(closes[coin][target] / base)
                        cur.execute(
                            "INSERT INTO forecast_scores (coin, as_of, horizon, model_id, realised_log_return, "
                            "realised_close, direction_hit, abs_error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                            (coin, as_of, h, model, r, closes[coin][target],
                             None if r == 0 else (r > 0) == (r_hat > 0), abs(r - r_hat)))
        cur.execute(
            "INSERT INTO promotion_decisions (decided_for, challenger_id, champion_id, promoted, challenger_da, "
            "champion_da, n_cells, p_value, reason) VALUES "
            "(%s, 'm1', NULL, true, 0.54, NULL, 450, NULL, 'first model beats random walk and always-up'), "
            "(%s, 'm2', 'm1', true, 0.56, 0.51, 315, 0.031, 'challenger DA beats champion + 1 pp')",
            (datetime.combine(AS_OF - timedelta(days=FORECAST_DAYS), datetime.min.time(), timezone.utc),
             datetime.combine(SWITCH, datetime.min.time(), timezone.utc)))
        _seed_trust(cur, coins, np.random.default_rng(seed + 1))
    return closes


DRIFTED = ("BTC", "DOGE")  # the coins whose latest input window is flagged
DRIFT_THRESHOLD = 2.5


def seeded_tier(coin_index: int, horizon: int) -> str:
    """The confidence tier seeded on the latest day's forecast of a coin (its index in `coins`) and horizon."""
    return ("high", "medium", "low")[(coin_index + horizon) % 3]


def _seed_trust(cur, coins: list[str], rng) -> None:
    """The latest day's input-drift columns (DRIFTED flagged, the others not) and m2's walk-forward cells
    (the evidence beside each forecast); a separate random stream, so the rows above are unchanged."""
    for i, coin in enumerate(coins):  # the latest day's confidence tiers (issue 26), one of each on every coin
        for h in range(1, 6):
            cur.execute("UPDATE forecasts SET confidence = %s, members_agree = 0.8, tier = %s "
                        "WHERE coin = %s AND as_of = %s AND horizon = %s",
                        (0.1 + 0.15 * h, seeded_tier(i, h), coin, AS_OF, h))
    for coin in coins:
        drifted = coin in DRIFTED
        cur.execute("UPDATE forecasts SET input_distance = %s, input_drift_threshold = %s, input_drifted = %s, "
                    "input_drift_cause = %s WHERE coin = %s AND as_of = %s",
                    (3.7 if drifted else 1.2, DRIFT_THRESHOLD, drifted,
                     f"distance 3.70 > threshold {DRIFT_THRESHOLD:.2f}" if drifted else None, coin, AS_OF))
    first = SWITCH - timedelta(days=10 + 5 + 120)  # 120 walk-forward as-of days before m2's cutoff
    for k in range(120):
        for coin in coins:
            for h in range(1, 6):
                y, p = float(rng.normal(0, 0.03)), float(rng.normal(0.001, 0.01))
                cur.execute("INSERT INTO validation_predictions (model_id, coin, as_of, horizon, fold, fold_cutoff, "
                            "pred_log_return, realised_log_return) VALUES ('m2', %s, %s, %s, 0, %s, %s, %s)",
                            (coin, first + timedelta(days=k), h, first - timedelta(days=6), p, y))

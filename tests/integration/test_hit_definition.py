"""One definition of a directional hit (issue 25): the same cells, with predictions and outcomes of exactly 0,
give the same DA through the Python scorer (`evaluation.metrics`, which the walk-forward, the alerts and the
charts use) and through the SQL views (`direction_score`, migration 013: v_live_accuracy, v_forecast_evidence)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from cryptolstm import storage
from cryptolstm.evaluation import metrics
from cryptolstm.serving import alert_rules
from cryptolstm.serving.scoring import score_matured
from cryptolstm.ui import charts

D0 = date(2024, 6, 1)
N_DAYS = 24  # every target day inside v_live_accuracy's 30 days and v_forecast_evidence's 60


def _q(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchall()


def _seed(db) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candles with flat days, forecasts with exact-0 predictions (scored by the daily scorer), and walk-forward
    cells with both zeros; returns the live cells (y, p, as-of ordinal, target day) and the walk-forward (y, p)."""
    rng = np.random.default_rng(25)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, N_DAYS)))
    closes[6], closes[13] = closes[5], closes[11]  # realised 0 at h = 1 from day 5 and at h = 2 from day 11
    with storage.transaction(db) as cur:
        cur.execute("INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                    "code_version, artifact, artifact_sha256, status, champion_from) VALUES ('m', '2024-05-31', "
                    "'2024-05-30', 'f', '{}', 't', '\\x01', 'x', 'champion', '2024-05-31')")
        for i, c in enumerate(closes):
            cur.execute("INSERT INTO candles (coin, day, open, high, low, close, volume, first_seen_in) "
                        "VALUES ('BTC', %s, %s, %s, %s, %s, 1, now())", (D0 + timedelta(days=i), *[float(c)] * 4))
        for i in range(N_DAYS):
            for h in range(1, 6):
                p = 0.0 if (i + h) % 3 == 0 else float(rng.normal(0, 0.01))  # a third of the calls are no calls
                cur.execute("INSERT INTO forecasts (coin, as_of, horizon, model_id, target_day, base_close, "
                            "pred_log_return, pred_close, run_id) VALUES ('BTC', %s, %s, 'm', %s, %s, %s, %s, 'r')",
                            (D0 + timedelta(days=i), h, D0 + timedelta(days=i + h), float(closes[i]), p,
                             float(closes[i] * np.exp(p))))
        wf = []
        for i in range(60):
            for h in range(1, 6):
                y = 0.0 if i % 7 == 0 else float(rng.normal(0, 0.02))
                p = 0.0 if (i + h) % 4 == 0 else float(rng.normal(0, 0.01))
                wf.append((y, p))
                cur.execute("INSERT INTO validation_predictions VALUES ('m', 'BTC', %s, %s, 0, '2023-12-20', %s, %s)",
                            (date(2024, 1, 1) + timedelta(days=i), h, p, y))
    score_matured(db, D0 + timedelta(days=N_DAYS - 1))
    with storage.transaction(db) as cur:
        live = _q(cur, "SELECT s.realised_log_return, f.pred_log_return, f.as_of, f.target_day FROM forecasts f "
                       "JOIN forecast_scores s USING (coin, as_of, horizon, model_id) ORDER BY f.as_of, f.horizon")
    y, p = (np.array([r[k] for r in live], dtype=np.float64) for k in (0, 1))
    assert (y == 0).sum() >= 2 and (p == 0).sum() >= 10 and ((p == 0) & (y != 0)).any()  # the cases that differed
    w = np.array(wf)
    return y, p, np.array([r[2].toordinal() for r in live]), pd.to_datetime([r[3] for r in live]), w[:, 0], w[:, 1]


def test_python_and_sql_score_the_same_cells_the_same_way(db):
    y, p, day, target, wf_y, wf_p = _seed(db)
    da = metrics.directional_accuracy(y, p)
    with storage.transaction(db) as cur:
        live_view = _q(cur, "SELECT da, n_direction_cells, always_up_da FROM v_live_accuracy "
                            "WHERE model_id = 'm' AND coin = 'ALL' AND horizon = 0")
        evidence = _q(cur, "SELECT wf_da, wf_n_cells, live_da, live_n_cells FROM v_forecast_evidence WHERE coin = 'BTC'")
    assert live_view[0][0] == pytest.approx(da) and live_view[0][1] == int((y != 0).sum())
    assert live_view[0][2] == pytest.approx(metrics.directional_accuracy(y, np.ones_like(y)))  # always-up
    wf_da, wf_n, live_da, live_n = evidence[0]
    assert wf_da == pytest.approx(metrics.directional_accuracy(wf_y, wf_p)) and wf_n == int((wf_y != 0).sum())
    assert live_da == pytest.approx(da) and live_n == int((y != 0).sum())
    # the alert's interval and the chart's rolling DA score the same way
    assert alert_rules.day_block_interval(y, p, day, 5)["da"] == pytest.approx(da)
    rolled = charts.rolling_live_accuracy(pd.DataFrame({"target_day": target, "pred_log_return": p,
                                                        "realised_log_return": y}), window=N_DAYS + 5)
    assert rolled["da"].iloc[-1] == pytest.approx(da)

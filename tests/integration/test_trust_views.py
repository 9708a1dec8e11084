"""The views that say how far to trust a forecast (migration 010) compute what the Python does:
v_range_backtests = evaluation.backtests on the same misses, v_forecast_evidence = the day-block interval
of the live-accuracy alert, and its comparator fixed at registration (migration 016) on the same cells; v_latest_forecasts shows the drift flag."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from cryptolstm import storage
from cryptolstm.evaluation import backtests
from cryptolstm.serving import alert_rules
from backtest_helpers import markov_misses

D0 = date(2024, 6, 1)
N_DAYS = 160


def _model(cur, mid="m", metrics="{}"):
    cur.execute("INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                "code_version, artifact, artifact_sha256, status, champion_from, metrics) VALUES (%s, '2024-05-31', "
                "'2024-05-30', 'f', '{}', 't', '\\x01', 'x', 'champion', '2024-05-31', %s)", (mid, metrics))


def _forecast(cur, coin, as_of, h, pred, lo80=None, hi80=None, lo95=None, hi95=None, mid="m", drift=(None,) * 4):
    cur.execute("INSERT INTO forecasts (coin, as_of, horizon, model_id, target_day, base_close, pred_log_return, "
                "pred_close, run_id, lo80_log_return, hi80_log_return, lo95_log_return, hi95_log_return, "
                "input_distance, input_drift_threshold, input_drifted, input_drift_cause) "
                "VALUES (%s, %s, %s, %s, %s, 100, %s, 100 * exp(%s), 'r', %s, %s, %s, %s, %s, %s, %s, %s)",
                (coin, as_of, h, mid, as_of + timedelta(days=h), float(pred), float(pred), lo80, hi80, lo95, hi95,
                 *drift))


def _score(cur, coin, as_of, h, y, pred, mid="m"):
    cur.execute("INSERT INTO forecast_scores VALUES (%s, %s, %s, %s, %s, 100 * exp(%s), %s, %s)",
                (coin, as_of, h, mid, float(y), float(y), None if y == 0 else bool(np.sign(y) == np.sign(pred)),
                 float(abs(y - pred))))


def _q(db, sql):
    with storage.transaction(db) as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_range_backtests_match_the_python_backtests(db):
    gap = 50  # BTC has no forecast on day 50: the chain breaks there
    seq = {"BTC": markov_misses(N_DAYS, 0.1, 0.6, 1),
           "ETH": (np.random.default_rng(2).random(N_DAYS) < 0.2).astype(int)}
    wide = {"BTC": markov_misses(N_DAYS, 0.03, 0.3, 3),
            "ETH": (np.random.default_rng(4).random(N_DAYS) < 0.05).astype(int)}
    days = {c: [i for i in range(N_DAYS) if not (c == "BTC" and i == gap)] for c in seq}
    with storage.transaction(db) as cur:
        _model(cur)
        for coin in seq:
            for i in days[coin]:
                for h in (1, 2):
                    # realised 0.5 / 1.5 / 2.5: inside both, outside the 80 % range only, outside both
                    y = 0.5 + int(seq[coin][i]) + int(seq[coin][i] & wide[coin][i])
                    _forecast(cur, coin, D0 + timedelta(days=i), h, 0.1, -1.0, 1.0, -2.0, 2.0)
                    _score(cur, coin, D0 + timedelta(days=i), h, y, 0.1)
    rows = _q(db, "SELECT coin, horizon, level, n_cells, n_miss, kupiec_p, independence_p, conditional_coverage_p, "
                  "repeated_miss_share, n_11 FROM v_range_backtests WHERE model_id = 'm'")
    got = {(r[0], r[1], r[2]): r[3:] for r in rows}
    assert len(got) == 3 * 2 * 2  # BTC, ETH, ALL x h = 1, 2 x 80, 95
    for coin in seq:
        day = np.array(days[coin])
        m80 = seq[coin][day]
        m95 = (seq[coin] & wide[coin])[day]
        for level, m in ((80, m80), (95, m95)):
            ref = backtests.christoffersen(m, level / 100, day)
            n, n_miss, p_uc, p_ind, p_cc, share, n11 = got[(coin, 1, level)]
            assert (n, n_miss, n11) == (ref["n"], ref["n_miss"], ref["n_11"])
            assert p_uc == pytest.approx(ref["p_uc"], rel=1e-9, abs=1e-300)
            assert p_ind == pytest.approx(ref["p_ind"], rel=1e-9, abs=1e-300)
            assert p_cc == pytest.approx(ref["p_cc"], rel=1e-9, abs=1e-300)
            ref_share = backtests.repeated_miss_share(m, day)
            assert share == (None if np.isnan(ref_share) else pytest.approx(ref_share))
            assert got[(coin, 2, level)][3] is None  # no independence test where targets overlap
    assert got[("BTC", 1, 80)][3] < 0.01 and got[("ETH", 1, 80)][3] > 0.05  # clustered vs independent misses
    all_day = np.concatenate([days["BTC"], days["ETH"]])
    all_coin = np.array(["BTC"] * len(days["BTC"]) + ["ETH"] * len(days["ETH"]))
    all_m = np.concatenate([seq["BTC"][days["BTC"]], seq["ETH"][days["ETH"]]])
    ref = backtests.christoffersen(all_m, 0.8, all_day, all_coin)
    assert got[("ALL", 1, 80)][0] == ref["n"] and got[("ALL", 1, 80)][3] == pytest.approx(ref["p_ind"], rel=1e-9)


# the model's walk-forward, registered before its live cells: reversal_7 was its best naive rule (logit is not one)
WF_BASELINES = '{"baseline_da": {"always_up": 0.51, "reversal_7": 0.53, "momentum_1": 0.49, "logit": 0.60}}'


def test_forecast_evidence_matches_the_alert_interval_and_the_fixed_comparator(db):
    rng = np.random.default_rng(7)
    last = D0 + timedelta(days=N_DAYS - 1)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, N_DAYS + 5)))
    with storage.transaction(db) as cur:
        _model(cur, metrics=WF_BASELINES)
        for i, c in enumerate(closes[:N_DAYS]):
            cur.execute("INSERT INTO candles (coin, day, open, high, low, close, volume, first_seen_in) "
                        "VALUES ('BTC', %s, %s, %s, %s, %s, 1, now())", (D0 + timedelta(days=i), *[float(c)] * 4))
        wf = []
        for i in range(100):  # walk-forward cells of the model, before its live days
            for h in range(1, 6):
                y, p = float(rng.normal(0, 0.02)), float(rng.normal(0, 0.01))
                wf.append((date(2024, 1, 1) + timedelta(days=i), h, p, y))
                cur.execute("INSERT INTO validation_predictions VALUES ('m', 'BTC', %s, %s, 0, '2023-12-20', %s, %s)",
                            (wf[-1][0], h, p, y))
        live = []
        for i in range(N_DAYS):
            as_of = D0 + timedelta(days=i)
            for h in range(1, 6):
                p = float(rng.normal(0, 0.01))
                drift = (0.8, 1.3, False, None) if i == N_DAYS - 1 else (None,) * 4
                _forecast(cur, "BTC", as_of, h, p, drift=drift)
                if i + h < N_DAYS:  # matured
                    y = float(np.log(closes[i + h] / closes[i]))
                    _score(cur, "BTC", as_of, h, y, p)
                    if as_of + timedelta(days=h) > last - timedelta(days=60):
                        live.append((i, h, p, y))
    row = _q(db, "SELECT model_id, as_of, wf_da, wf_da_low, wf_da_high, wf_n_cells, live_da, live_da_low, "
                 "live_da_high, live_n_cells, comparator_rule, comparator_wf_da, comparator_live_da, "
                 "comparator_live_da_low, comparator_live_da_high, comparator_live_n_cells FROM v_forecast_evidence "
                 "WHERE coin = 'BTC'")
    assert len(row) == 1
    (mid, as_of, wf_da, wf_lo, wf_hi, wf_n, live_da, live_lo, live_hi, live_n,
     rule, rule_wf, rule_da, rule_lo, rule_hi, rule_n) = row[0]
    assert (mid, as_of, wf_n, live_n) == ("m", last, 500, len(live))
    a = np.array(wf, dtype=object)
    ref = alert_rules.day_block_interval(a[:, 3].astype(float), a[:, 2].astype(float),
                                         np.array([d.toordinal() for d in a[:, 0]]), 5)
    assert wf_da == pytest.approx(ref["da"]) and (wf_lo, wf_hi) == pytest.approx(ref["ci"], abs=1e-3)
    b = np.array(live, dtype=float)
    ref = alert_rules.day_block_interval(b[:, 3], b[:, 2], b[:, 0].astype(int), 5)
    assert live_da == pytest.approx(ref["da"]) and (live_lo, live_hi) == pytest.approx(ref["ci"], abs=1e-3)
    i, y = b[:, 0].astype(int), b[:, 3]
    logc = np.log(closes)
    calls = {"always_up": (np.ones(len(i), bool), np.ones(len(i)))}
    for k in (1, 3, 7):
        ok = i >= k
        move = np.zeros(len(i))
        move[ok] = logc[i[ok]] - logc[i[ok] - k]
        calls[f"momentum_{k}"], calls[f"reversal_{k}"] = (ok, move), (ok, -move)
    das = {r: np.mean(np.where(p[ok] == 0, 0.5, np.sign(p[ok]) == np.sign(y[ok]))) for r, (ok, p) in calls.items()}
    # the comparator is the rule fixed at registration, not the best one after the fact
    assert (rule, rule_wf) == ("reversal_7", pytest.approx(0.53)) and max(das, key=das.get) != "reversal_7"
    ok, p = calls["reversal_7"]
    ref = alert_rules.day_block_interval(y[ok], p[ok], i[ok], 5)
    assert rule_da == pytest.approx(ref["da"]) and (rule_lo, rule_hi) == pytest.approx(ref["ci"], abs=1e-3)
    assert rule_n == int(ok.sum())
    every = _q(db, "SELECT rule, live_da, live_da_low, live_da_high, live_n_cells, wf_da, is_comparator "
                   "FROM v_live_rule_accuracy WHERE coin = 'BTC'")
    assert {r[0] for r in every} == set(das)  # every rule, each with its own interval
    for r, da, lo, hi, n, wf_r, is_comp in every:
        ok, p = calls[r]
        ref = alert_rules.day_block_interval(y[ok], p[ok], i[ok], 5)
        assert (da, n) == (pytest.approx(das[r]), int(ok.sum())) and (lo, hi) == pytest.approx(ref["ci"], abs=1e-3)
        assert is_comp == (r == "reversal_7")
        assert wf_r == {"always_up": pytest.approx(0.51), "reversal_7": pytest.approx(0.53),
                        "momentum_1": pytest.approx(0.49)}.get(r)
    columns = {c[0] for c in _q(db, "SELECT column_name FROM information_schema.columns "
                                    "WHERE table_name = 'v_forecast_evidence'")}
    assert not {c for c in columns if "best" in c}  # no maximum over rules is shown as a comparator
    drift = _q(db, "SELECT DISTINCT input_drifted, input_distance, input_drift_threshold, input_drift_cause "
                   "FROM v_latest_forecasts")
    assert drift == [(False, 0.8, 1.3, None)]


def test_a_flag_always_has_its_cause(db):
    with storage.transaction(db) as cur:
        _model(cur)
        _forecast(cur, "BTC", D0, 1, 0.01, drift=(None, 1.3, True, "non-finite feature(s): rv_7"))
        _forecast(cur, "ETH", D0, 1, 0.01, drift=(None,) * 4)  # not assessed: an older model
    assert _q(db, "SELECT coin, input_drifted FROM v_latest_forecasts ORDER BY coin") == [("BTC", True), ("ETH", None)]
    import psycopg2

    with pytest.raises(psycopg2.errors.CheckViolation):
        with storage.transaction(db) as cur:
            _forecast(cur, "XRP", D0, 1, 0.01, drift=(3.0, 1.3, True, None))


def test_the_new_views_are_documented_and_readable(db):
    names = {r[0] for r in _q(db, "SELECT c.relname FROM pg_class c WHERE c.relkind = 'v' AND "
                                  "c.relnamespace = 'public'::regnamespace AND obj_description(c.oid) IS NOT NULL")}
    assert {"v_range_backtests", "v_forecast_evidence", "v_live_rule_accuracy", "v_model_comparator",
            "v_serving_live_cells"} <= names
    grants = {r[0] for r in _q(db, "SELECT table_name FROM information_schema.role_table_grants "
                                   "WHERE grantee = 'cryptolstm_reader' AND privilege_type = 'SELECT'")}
    assert {"v_range_backtests", "v_forecast_evidence", "v_live_rule_accuracy"} <= grants

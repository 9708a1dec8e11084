"""forecast_as_of stores each row's input-drift assessment beside an unchanged forecast; an older bundle
without a training description still forecasts (NULL drift columns, one log line); a non-finite feature is
flagged with its cause and logged."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import date

import numpy as np
import pytest

from cryptolstm import storage
from cryptolstm.config import DEFAULT_COINS
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling.bundle import TrainedModel
from cryptolstm.serving import registry
from cryptolstm.serving.forecast import forecast_as_of
from orchestration_seed import full_panel, insert_candles, make_champion, tiny_model_bytes

CUTOFF = date(2024, 12, 31)
EFFECTIVE = date(2025, 1, 1)
AS_OF = date(2025, 1, 15)


def _rows(dsn):
    with storage.transaction(dsn) as cur:
        cur.execute("SELECT coin, horizon, pred_log_return, input_distance, input_drift_threshold, input_drifted, "
                    "input_drift_cause FROM forecasts WHERE as_of = %s ORDER BY coin, horizon", (AS_OF,))
        return cur.fetchall()


def _without_description(artifact: bytes) -> bytes:
    """The same bundle as one written before the training description was recorded."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(artifact)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "meta.json":
                meta = json.loads(data)
                del meta["input_description"]
                data = json.dumps(meta, sort_keys=True).encode()
            zout.writestr(item, data)
    return out.getvalue()


def test_every_row_carries_the_drift_of_its_window_and_the_forecast_is_unchanged(db):
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    out = forecast_as_of(db, AS_OF, "run-1")
    assert out["status"] == "ok" and out["drift_assessed"]
    rows = _rows(db)
    model = TrainedModel.from_bytes(tiny_model_bytes(CUTOFF))
    panel = panel_mod.until(full_panel(), AS_OF)
    expected = model.predict(panel, AS_OF).set_index(["coin", "horizon"])["pred_log_return"]
    drift = model.input_drift(panel, AS_OF, list(DEFAULT_COINS)).set_index("coin")
    assert len(rows) == 45
    for coin, h, pred, dist, threshold, drifted, cause in rows:
        assert pred == expected[(coin, h)]  # bit for bit: the drift assessment changes no forecast
        assert dist == pytest.approx(drift.at[coin, "input_distance"], rel=1e-12)
        assert threshold == model.input_description.threshold
        assert drifted == bool(drift.at[coin, "input_drifted"]) and (cause is not None) == drifted
    assert out["drifted_coins"] == sorted(c for c in DEFAULT_COINS if drift.at[c, "input_drifted"])
    with storage.transaction(db) as cur:
        cur.execute("SELECT DISTINCT coin, input_drifted FROM v_latest_forecasts ORDER BY coin")
        assert [r[1] for r in cur.fetchall()] == [bool(drift.at[c, "input_drifted"]) for c in sorted(DEFAULT_COINS)]


def test_an_older_bundle_without_a_description_still_serves_with_null_drift(db, caplog):
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    forecast_as_of(db, AS_OF, "run-1")
    with_description = [r[:3] for r in _rows(db)]
    old = _without_description(tiny_model_bytes(CUTOFF))
    with storage.transaction(db) as cur:  # the same network, as a bundle registered before drift was recorded
        cur.execute("DELETE FROM forecasts")
        cur.execute("UPDATE models SET artifact = %s, artifact_sha256 = %s WHERE model_id = 'champ'",
                    (old, registry.sha256(old)))
    with caplog.at_level(logging.WARNING, logger="cryptolstm.serving.forecast"):
        out = forecast_as_of(db, AS_OF, "run-1")
    assert out["status"] == "ok" and out["rows"] == 45 and not out["drift_assessed"]
    rows = _rows(db)
    assert [r[:3] for r in rows] == with_description  # the same forecasts
    assert all(r[3:] == (None, None, None, None) for r in rows)
    lines = [r.getMessage() for r in caplog.records if "no description of its training inputs" in r.getMessage()]
    assert len(lines) == 1 and "champ" in lines[0]  # the reason, once, never an error


def test_a_non_finite_feature_is_flagged_and_its_cause_logged(db, caplog, monkeypatch):
    from cryptolstm.modelling import features

    real = features.build_features

    def with_inf(panel):  # an infinite feature in ETH's window ending on the as-of day
        f = real(panel)
        f.loc[(f["coin"] == "ETH") & (f["day"] == panel_mod.to_day(AS_OF)), "vol_rel"] = np.inf
        return f

    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    monkeypatch.setattr(features, "build_features", with_inf)
    with caplog.at_level(logging.WARNING, logger="cryptolstm.serving.forecast"):
        out = forecast_as_of(db, AS_OF, "run-1")
    assert "ETH" in out["drifted_coins"]
    eth = [r for r in _rows(db) if r[0] == "ETH"]
    assert len(eth) == 5 and all(np.isfinite(r[2]) for r in eth)
    assert all(r[3] is None and r[5] is True and r[6] == "non-finite feature(s): vol_rel" for r in eth)
    assert any("input drift: ETH" in r.getMessage() and "vol_rel" in r.getMessage() for r in caplog.records)

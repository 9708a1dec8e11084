"""Helpers of the orchestration tests: real candles into a test database, a tiny real model trained
once per test session (cached by cutoff), and a registered champion."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import psycopg2.extras

from cryptolstm.market import panel as panel_mod
from cryptolstm.serving import registry
from cryptolstm import storage

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance-1d"


def weights_digest(artifact: bytes) -> str:
    """sha256 of a model bundle's weights and scaler: what the model computes. The artifact's own bytes also
    hold the time Keras saved it, so two identical trainings never have the same artifact sha256."""
    from cryptolstm.modelling.bundle import TrainedModel

    model = TrainedModel.from_bytes(bytes(artifact))
    h = hashlib.sha256(json.dumps(model.scaler.to_dict(), sort_keys=True).encode())
    for key in sorted(model.members):
        for net in model.members[key]:
            for w in net.get_weights():
                h.update(w.tobytes())
    return h.hexdigest()


@lru_cache(maxsize=1)
def full_panel():
    return panel_mod.load_csv_dir(SHARED)


def insert_candles(dsn: str, until: date, since: date | None = None, panel=None) -> int:
    """The real candles with since <= day <= until into `candles` (first_seen_in = the day after)."""
    p = panel_mod.until(full_panel() if panel is None else panel, until)
    if since is not None:
        p = p[p["day"] >= panel_mod.to_day(since)]
    rows = [(r.coin, r.day.date(), r.open, r.high, r.low, r.close, r.volume,
             datetime.combine(r.day.date() + timedelta(days=1), datetime.min.time(), timezone.utc))
            for r in p.itertuples(index=False)]
    with storage.transaction(dsn) as cur:
        psycopg2.extras.execute_values(
            cur, "INSERT INTO candles (coin, day, open, high, low, close, volume, first_seen_in) VALUES %s "
                 "ON CONFLICT (coin, day) DO UPDATE SET close = excluded.close", rows, page_size=5000)
    return len(rows)


@lru_cache(maxsize=4)
def tiny_model_bytes(cutoff: date) -> bytes:
    """A real tiny TrainedModel bundle trained on the shared candles up to `cutoff`."""
    from cryptolstm.modelling import train

    return train.fit(train.build_cube(full_panel()), cutoff, train.TrainConfig.tiny()).to_bytes()


def bundle_coins(artifact: bytes) -> list[str]:
    """The coin vocabulary a bundle declares: what its registry row records (`hyperparams.coins`)."""
    with zipfile.ZipFile(io.BytesIO(artifact)) as z:
        return json.loads(z.read("meta.json"))["coins"]


def register_tiny(dsn: str, model_id: str, cutoff: date, metrics: dict | None = None) -> registry.ModelRecord:
    from cryptolstm.modelling import features

    artifact = tiny_model_bytes(cutoff)
    with storage.transaction(dsn) as cur:
        return registry.register(cur, model_id=model_id, created_for=datetime.combine(
            cutoff + timedelta(days=1), datetime.min.time(), timezone.utc), training_cutoff=cutoff,
            feature_version=features.FEATURE_VERSION, hyperparams={"tiny": True, "coins": bundle_coins(artifact)},
            code_version="test", metrics=metrics or {}, artifact=artifact)


def make_champion(dsn: str, model_id: str, cutoff: date, effective: date) -> registry.ModelRecord:
    register_tiny(dsn, model_id, cutoff)
    with storage.transaction(dsn) as cur:
        registry.promote(cur, model_id, effective)
        return registry.get(cur, model_id)

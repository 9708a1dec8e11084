"""The weekly run's preparation, made once and stored: the feature cube of every candle up to the training
cutoff and, for each walk-forward fold and the final fit, its `train.PreparedFit` (cells, scaler, input
description, digest). The weekly DAG's `prepare` task stores it; every `train_member` task and the gather
load it instead of rebuilding the cube, so every member of one fit trains on the same bits.

It is stored under a content key: the sha256 of the candles it was built from and of the run's
configuration, so a corrected candle gives another key (and a rerun of `prepare` a new preparation), and
a member task asked for a key that is not stored, or whose stored bytes are not what the key names,
fails at once instead of training on something else. The stored bytes are an `.npz` of plain arrays (entries
dated 1980, so one preparation always gives the same bytes), read with `allow_pickle=False` and checked against
their sha256 before they are parsed, as bundles are.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date

import numpy as np

from cryptolstm import storage
from cryptolstm.errors import Permanent

FORMAT = "cryptolstm-weekly-preparation"
VERSION = 1
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # every entry's time: the same preparation gives the same bytes and sha256


class PreparationMissing(Permanent, RuntimeError):
    """No preparation is stored under the key a member task was given (deleted, or made from other candles):
    a retry cannot bring it; rerun the weekly run from its `prepare` task."""


class PreparationCorrupt(Permanent, ValueError):
    """The stored preparation is not what its key and digest name: refused, like a corrupted bundle."""


@dataclass(frozen=True)
class WeeklyPreparation:
    """The cube and one `PreparedFit` per walk-forward fold (0..n-1) and for the final fit (None)."""

    key: str  # content key: sha256 of the candles and the configuration it was made from
    cube: "windows.Cube"  # noqa: F821 -- the feature cube of every candle up to the training cutoff
    bounds: list  # [windows.Fold] the walk-forward folds the run scores
    fits: dict  # {fold | None: train.PreparedFit}

    def fit(self, fold: int | None):
        """The preparation of walk-forward fold `fold` (None: the final fit)."""
        return self.fits[fold]


def content_key(panel, ident: dict) -> str:
    """The sha256 of a candle panel's values (every coin, day, OHLCV) and of the run's identity (config,
    feature version, folds): a changed candle or setting changes the key."""
    h = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode())
    cols = ["coin", "day", "open", "high", "low", "close", "volume"]
    rows = panel[cols].sort_values(["coin", "day"], kind="stable")
    h.update(rows["coin"].astype(str).str.cat(sep="\x1f").encode())
    h.update(rows["day"].to_numpy().astype("datetime64[ns]").astype(np.int64).tobytes())
    h.update(np.ascontiguousarray(rows[cols[2:]].to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()


def build(key: str, cube, bounds: list, cutoff: date, config) -> WeeklyPreparation:
    """`train.prepare_fit` of every fold (at its cutoff) and of the final fit (at `cutoff`) on `cube`."""
    from cryptolstm.modelling import train

    fits = {k: train.prepare_fit(cube, cube.days[f.cutoff], config) for k, f in enumerate(bounds)}
    fits[None] = train.prepare_fit(cube, cutoff, config)
    return WeeklyPreparation(key, cube, list(bounds), fits)


def to_bytes(prep: WeeklyPreparation) -> bytes:
    """One `.npz` of plain arrays: the cube, and per fit its day cut, coins, cells; scalers and descriptions
    as JSON."""
    arrays = {"x": prep.cube.x, "log_close": prep.cube.log_close,
              "days": prep.cube.days.to_numpy().astype("datetime64[ns]").astype(np.int64)}
    fits = []
    for j, (fold, p) in enumerate(prep.fits.items()):
        for name in ("fit_cells", "es_cells", "all_cells"):
            plan = getattr(p, name)
            arrays[f"{j}_{name}"] = np.stack([plan.coin.astype(np.int64), plan.t.astype(np.int64),
                                              plan.trainable.astype(np.int64)])  # [3, N]
        fits.append({"fold": fold, "cutoff": str(p.cutoff.date()), "days": len(p.cube.days), "coins": list(p.cube.coins),
                     "scaler": p.scaler.to_dict(), "description": p.description.to_dict(), "digest": p.digest})
    meta = {"format": FORMAT, "version": VERSION, "key": prep.key, "coins": list(prep.cube.coins),
            "bounds": [[f.cutoff, f.val_start, f.val_end] for f in prep.bounds], "fits": fits}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # np.savez's layout, without its wall-clock times
        for name, arr in arrays.items():
            with z.open(zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME), "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def from_bytes(data: bytes, key: str, sha256: str, config) -> WeeklyPreparation:
    """Inverse of `to_bytes`, for the preparation stored under `key`: PreparationCorrupt when the bytes
    differ from their sha256, are not a preparation, name another key, or a fit's recomputed digest
    (`train.preparation_digest` of its cube slice) is not the one it was trained with."""
    import pandas as pd

    from cryptolstm.modelling import drift, train, windows
    from cryptolstm.modelling.scaling import RobustScaler

    if hashlib.sha256(data).hexdigest() != sha256:
        raise PreparationCorrupt(f"preparation {key[:12]}: bytes do not match their sha256 {sha256[:12]}...: "
                                 "refused; rerun the weekly run from its prepare task")
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(f"unsupported format {meta.get('format')!r} v{meta.get('version')!r}")
        days = pd.DatetimeIndex(z["days"].astype("datetime64[ns]"))
        cube = windows.Cube(tuple(meta["coins"]), days, z["x"], z["log_close"])
        bounds = [windows.Fold(*map(int, b)) for b in meta["bounds"]]
        fits = {}
        for j, f in enumerate(meta["fits"]):
            part = train.cube_until(cube, f["days"] - 1)
            plans = {n: windows.Plan(z[f"{j}_{n}"][0], z[f"{j}_{n}"][1], z[f"{j}_{n}"][2].astype(bool))
                     for n in ("fit_cells", "es_cells", "all_cells")}
            cutoff = pd.Timestamp(f["cutoff"])
            if list(part.coins) != f["coins"] or train.preparation_digest(part, cutoff, config) != f["digest"]:
                raise ValueError(f"fit of fold {f['fold']}: its cube is not the one it was prepared from")
            fits[f["fold"]] = train.PreparedFit(part, cutoff, plans["fit_cells"], plans["es_cells"],
                                                plans["all_cells"], RobustScaler.from_dict(f["scaler"]),
                                                drift.TrainingDescription.from_dict(f["description"]), f["digest"])
    except Exception as exc:
        raise PreparationCorrupt(f"preparation {key[:12]}: not a loadable preparation ({exc}): refused; rerun the "
                                 "weekly run from its prepare task") from exc
    if meta["key"] != key:
        raise PreparationCorrupt(f"preparation stored under {key[:12]} was made as {meta['key'][:12]}: refused")
    return WeeklyPreparation(key, cube, bounds, fits)


def store(cur, prep: WeeklyPreparation, model_id: str, cutoff: date) -> int:
    """Store `prep` under its key (a key already stored is kept: same key, same content); returns its bytes."""
    from cryptolstm.serving import registry

    data = to_bytes(prep)
    cur.execute(storage.query("prepared_fits_upsert"), {"prep_key": prep.key, "model_id": model_id,
                                                        "training_cutoff": cutoff, "artifact": data,
                                                        "artifact_sha256": registry.sha256(data)})
    return len(data)


def exists(cur, key: str) -> bool:
    cur.execute(storage.query("prepared_fits_exists"), {"prep_key": key})
    return cur.fetchone() is not None


def load(cur, key: str, config) -> WeeklyPreparation:
    """The preparation stored under `key`; PreparationMissing when there is none, PreparationCorrupt when its
    bytes are not what the key names."""
    cur.execute(storage.query("prepared_fits_select"), {"prep_key": key})
    row = cur.fetchone()
    if row is None:
        raise PreparationMissing(f"no weekly preparation is stored under key {key}: it was deleted or made from "
                                 "other candles; rerun the weekly run from its prepare task (nothing was trained)")
    return from_bytes(bytes(row[0]), key, row[1], config)

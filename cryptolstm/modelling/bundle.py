"""`TrainedModel`: the fitted Keras network(s) + scaler + config + feature version + cutoff + coin
vocabulary, predicting from a candle panel, and serialised as ONE bundle (a zip) for the registry.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from cryptolstm.modelling import features as feats_mod
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling import windows
from cryptolstm.modelling.scaling import RobustScaler

BUNDLE_FORMAT = "cryptolstm-model-bundle"
BUNDLE_VERSION = 1
PRED_COLUMNS = ["coin", "as_of", "horizon", "pred_log_return"]


class BundleError(ValueError):
    """The bytes are not a loadable cryptolstm model bundle."""


def _vocabulary(coins) -> tuple[str, ...]:
    """Embedding order: the stable DEFAULT_COINS ids first, then unknown coins sorted."""
    known = panel_mod.coin_index()
    present = set(coins)
    return tuple([c for c in known if c in present] + sorted(present - set(known)))


class TrainedModel:
    """Predicts the next H days' log returns. `members[key]` lists the ensemble of Keras models;
    key "*" is the shared model, a coin name is a per-coin model (the per-coin ablation)."""

    def __init__(self, members: dict, scaler: RobustScaler, config, feature_version: str,
                 training_cutoff: date, coins: tuple[str, ...], info: dict | None = None):
        self.members = members
        self.scaler = scaler
        self.config = config
        self.feature_version = feature_version
        self.training_cutoff = training_cutoff
        self.coins = tuple(coins)  # vocabulary: coins[i] has embedding id i
        self.info = dict(info or {})  # training facts: epochs, seconds, number of windows

    def hyperparams(self) -> dict:
        """JSON-able description: the config, plus what the registry should know about this fit."""
        cfg = asdict(self.config)
        return {**cfg, "feature_version": self.feature_version, "coins": list(self.coins),
                "training_cutoff": str(self.training_cutoff), "features": list(feats_mod.FEATURES), **self.info}

    # ---- prediction -----------------------------------------------------------------------------
    def cube(self, panel: pd.DataFrame) -> windows.Cube:
        """Features of `panel` on the calendar grid, in this model's coin order."""
        if feats_mod.FEATURE_VERSION != self.feature_version:
            raise ValueError(f"model uses features {self.feature_version}, code computes {feats_mod.FEATURE_VERSION}")
        f = feats_mod.build_features(panel)
        return windows.build_cube(f, panel, self.coins, list(feats_mod.FEATURES))

    def predict_cells(self, cube: windows.Cube, coin: np.ndarray, t: np.ndarray) -> np.ndarray:
        """[N, H] predicted log returns for cells (coin index into cube.coins == embedding id, day index)."""
        out = np.zeros((len(t), self.config.horizons))
        if len(t) == 0:
            return out
        x = self.scaler.transform(windows.gather_windows(cube.x, coin, t, self.config.window))  # [N, T, F]
        ids = coin.astype(np.int32)  # [N]
        for key, models in self.members.items():
            rows = np.ones(len(t), bool) if key == "*" else (coin == self.coins.index(key))
            if not rows.any():
                continue
            z = np.mean([m.predict([x[rows], ids[rows]], verbose=0, batch_size=1024) for m in models], axis=0)
            out[rows] = self.scaler.unscale_targets(z)  # [n, H]
        return out

    def predict(self, panel: pd.DataFrame, as_of, coins=None) -> pd.DataFrame:
        """[coin, as_of, horizon, pred_log_return] for day `as_of`, from panel rows <= as_of only.

        coins=None forecasts every vocabulary coin that has a complete window ending at as_of;
        naming a coin without one (or unknown to the model) raises ValueError.
        """
        day = panel_mod.to_day(as_of)
        hist = panel_mod.until(panel, day)
        wanted = None if coins is None else [str(c) for c in coins]
        if wanted is not None and (unknown := set(wanted) - set(self.coins)):
            raise ValueError(f"coins unknown to the model: {sorted(unknown)}")
        if len(hist) == 0 or hist["day"].max() < day:
            if wanted:
                raise ValueError(f"no candles up to {day.date()}")
            return pd.DataFrame(columns=PRED_COLUMNS)
        cube = self.cube(hist)
        d = cube.day_index(day)
        plan = windows.index_plan(~np.isnan(cube.x).any(axis=2), ~np.isnan(cube.log_close),
                                  self.config.window, self.config.horizons, first=d, last=d)
        # predict every forecastable coin, then select: a coin's forecast must not depend (even in the
        # last bit, through batch-size-dependent kernels) on which other coins were asked for
        pred = self.predict_cells(cube, plan.coin, plan.t)  # [N, H]
        keep = np.ones(len(plan.t), bool) if wanted is None else np.isin(np.array(cube.coins)[plan.coin], wanted)
        coin, pred = plan.coin[keep], pred[keep]
        if wanted is not None and (lacking := set(wanted) - {cube.coins[i] for i in coin}):
            raise ValueError(f"no complete {self.config.window}-day window ending {day.date()} for {sorted(lacking)}")
        H = self.config.horizons
        return pd.DataFrame({
            "coin": np.repeat(np.array(cube.coins)[coin], H) if len(coin) else np.array([], dtype=object),
            "as_of": [day.date()] * (len(coin) * H),
            "horizon": np.tile(np.arange(1, H + 1), len(coin)),
            "pred_log_return": pred.reshape(-1),
        })[PRED_COLUMNS]

    # ---- serialisation --------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """One zip: meta.json (format, config, features, cutoff, coins, scaler) + one .keras per member."""
        buf = io.BytesIO()
        names: dict[str, list[str]] = {}
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for k, (key, models) in enumerate(self.members.items()):
                names[key] = []
                for i, m in enumerate(models):
                    name = f"member_{k}_{i}.keras"
                    m.save(Path(tmp) / name)
                    z.write(Path(tmp) / name, name)
                    names[key].append(name)
            meta = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "config": asdict(self.config),
                    "feature_version": self.feature_version, "training_cutoff": str(self.training_cutoff),
                    "coins": list(self.coins), "scaler": self.scaler.to_dict(), "members": names,
                    "info": self.info}
            z.writestr("meta.json", json.dumps(meta, sort_keys=True))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "TrainedModel":
        """Inverse of to_bytes; raises BundleError on anything that is not a complete bundle."""
        import keras

        from cryptolstm.config import TrainConfig

        try:
            z = zipfile.ZipFile(io.BytesIO(data))
            meta = json.loads(z.read("meta.json"))
        except Exception as exc:
            raise BundleError(f"not a cryptolstm model bundle: {exc}") from exc
        if meta.get("format") != BUNDLE_FORMAT or meta.get("version") != BUNDLE_VERSION:
            raise BundleError(f"unsupported bundle format {meta.get('format')!r} v{meta.get('version')!r}")
        try:
            cfg = meta["config"]
            cfg = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
            members = {}
            with tempfile.TemporaryDirectory() as tmp:
                for key, names in meta["members"].items():
                    members[key] = []
                    for name in names:
                        (Path(tmp) / name).write_bytes(z.read(name))
                        members[key].append(keras.models.load_model(Path(tmp) / name, compile=False))
            return cls(members, RobustScaler.from_dict(meta["scaler"]), cfg, meta["feature_version"],
                       date.fromisoformat(meta["training_cutoff"]), tuple(meta["coins"]), meta.get("info"))
        except BundleError:
            raise
        except Exception as exc:
            raise BundleError(f"corrupt cryptolstm model bundle: {exc}") from exc

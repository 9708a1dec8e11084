"""`TrainedModel`: the fitted Keras network(s) + scaler + config + feature version + cutoff + coin
vocabulary + the description of its training inputs (input drift), predicting from a candle panel, and
serialised as ONE bundle (a zip) for the registry.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from cryptolstm.errors import Permanent
from cryptolstm.modelling import features as feats_mod
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling import drift, windows
from cryptolstm.modelling.scaling import RobustScaler, cell_scale

BUNDLE_FORMAT = "cryptolstm-model-bundle"
BUNDLE_VERSION = 1
PRED_COLUMNS = ["coin", "as_of", "horizon", "pred_log_return"]
DRIFT_COLUMNS = ["coin", "input_distance", "input_drift_threshold", "input_drifted", "input_drift_cause"]


class BundleError(ValueError):
    """The bytes are not a loadable cryptolstm model bundle."""


class FeatureVersionError(Permanent, ValueError):
    """The model was trained on features this code no longer computes: it cannot serve until retrained."""


def vocabulary(coins) -> tuple[str, ...]:
    """Embedding order: the stable DEFAULT_COINS ids first, then unknown coins sorted."""
    known = panel_mod.coin_index()
    present = set(coins)
    return tuple([c for c in known if c in present] + sorted(present - set(known)))


def target_cell_scale(cube: windows.Cube, coin: np.ndarray, t: np.ndarray, config) -> np.ndarray:
    """[N, H] factor the log-return targets of cells (coin, t) are divided by before the robust scaler:
    1 ("robust"), or rv_30 at t * sqrt(h) ("vol"; rv_30 is a feature of day t, so known at t)."""
    if getattr(config, "target_scaling", "robust") == "robust":
        return np.ones((len(t), config.horizons))
    if config.target_scaling != "vol":
        raise ValueError(f"unknown target_scaling {config.target_scaling!r}")
    rv = cube.x[coin, t, feats_mod.FEATURES.index("rv_30")]  # [N] raw (unscaled) feature
    return cell_scale(rv, config.horizons)


def member_count_error(counts: dict[str, int], member_ids, n_seeds: int) -> str | None:
    """Why networks counted per member key ({key: count}) cannot be the members `member_ids` of an
    ensemble of `n_seeds` (None: they can)."""
    ids = list(member_ids)
    if len(set(ids)) != len(ids) or not set(ids) <= set(range(n_seeds)) or not ids:
        return f"its meta declares members {ids}, not distinct ids of an ensemble of n_seeds={n_seeds}"
    if any(n != len(ids) for n in counts.values()):
        return (f"its member count disagrees with its meta: {counts} networks per member key, meta declares "
                f"{len(ids)} (members {ids} of an ensemble of n_seeds={n_seeds})")
    return None


def combination_error(combination, method: str) -> str | None:
    """Why `combination` (a bundle's meta "combination") cannot serve a model whose config's combination is
    `method` (None: it can). Checked here, at load, as any other corruption: the method must match, and the
    scales, the weights of a stacked one and the classifier must be present and every number in them finite (the
    full check of their shapes is evaluation.combination.ServedCombination.from_json, where it is used)."""
    if method == "none":
        return None if combination is None else "its meta carries a combination but its config serves none"
    if not isinstance(combination, dict) or combination.get("method") != method:
        got = combination.get("method") if isinstance(combination, dict) else combination
        return f"its config serves the {method!r} combination, its meta carries {got!r}"
    needed = ("scales", "classifier") + (("weights",) if method == "stacked" else ())
    if lacking := [k for k in needed if not combination.get(k)]:
        return f"its {method} combination lacks {', '.join(lacking)}"

    def numbers(v):
        if isinstance(v, dict):
            return [x for w in v.values() for x in numbers(w)]
        if isinstance(v, list):
            return [x for w in v for x in numbers(w)]
        return [v] if isinstance(v, (int, float)) and not isinstance(v, bool) else []
    values = numbers({k: combination[k] for k in needed})
    if not values or not np.isfinite(np.asarray(values, dtype=np.float64)).all():
        return f"its {method} combination has missing or non-finite numbers"
    return None


def reference_error(reference, horizons: int) -> str | None:
    """Why `reference` (a bundle's meta "confidence_reference", issue 26) cannot rank a model's forecasts (None: it
    can): a score name, two shares in [0, 1], and per grid (abs_mean, abs_served, scores) one finite, nondecreasing
    list per horizon. Checked here, at load, as any other corruption; evaluation.tiers.Reference.from_json reads it."""
    if not isinstance(reference, dict):
        return f"its confidence reference is not a mapping: {type(reference).__name__}"
    if not isinstance(reference.get("score"), str) or not isinstance(reference.get("n_cells"), int):
        return "its confidence reference lacks its score or cell count"
    shares = [reference.get(k) for k in ("high_share", "low_share")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in shares):
        return f"its confidence reference has shares {shares}, not two numbers in [0, 1]"
    for name in ("abs_mean", "abs_served", "scores"):
        grid = reference.get(name)
        try:
            a = np.asarray(grid, dtype=np.float64)  # [H, Q]
        except (TypeError, ValueError):
            return f"its confidence reference's {name} is not numeric"
        if a.ndim != 2 or a.shape[0] != horizons or a.shape[1] < 2:
            return f"its confidence reference's {name} has shape {a.shape}, expected ({horizons}, Q >= 2)"
        if not np.isfinite(a).all() or (np.diff(a, axis=1) < 0).any():
            return f"its confidence reference's {name} is not finite and sorted per horizon"
    return None


def _head(out) -> np.ndarray:
    """The log-return head's output of a one- or two-headed model (the sign head is never served)."""
    return out[0] if isinstance(out, (list, tuple)) else out


class TrainedModel:
    """Predicts the next H days' log returns. `members[key]` lists the ensemble of Keras models;
    key "*" is the shared model, a coin name is a per-coin model (the per-coin ablation)."""

    def __init__(self, members: dict, scaler: RobustScaler, config, feature_version: str,
                 training_cutoff: date, coins: tuple[str, ...], info: dict | None = None,
                 input_description: drift.TrainingDescription | None = None,
                 member_ids: tuple[int, ...] | None = None, combination: dict | None = None,
                 confidence_reference: dict | None = None):
        self.members = members
        # which of the config's n_seeds members `members[key]` holds, in order (None: all of them)
        self.member_ids = tuple(range(config.n_seeds)) if member_ids is None else tuple(member_ids)
        if error := member_count_error({key: len(models) for key, models in members.items()}, self.member_ids,
                                       config.n_seeds):
            raise BundleError(error)
        self.scaler = scaler
        self.config = config
        self.feature_version = feature_version
        self.training_cutoff = training_cutoff
        self.coins = tuple(coins)  # vocabulary: coins[i] has embedding id i
        self.info = dict(info or {})  # training facts: epochs, seconds, number of windows
        self.input_description = input_description  # None: a model trained before drift was described
        # what a model with config.combination != "none" serves on top of its members (issue 28): the JSON of
        # evaluation.combination.ServedCombination, fitted by the weekly gather (`with_combination`); None on the
        # members and parts it is made of (a served bundle without it is refused by `from_bytes`)
        if combination is not None and (error := combination_error(combination, getattr(config, "combination", "none"))):
            raise BundleError(error)
        self.combination = combination
        # issue 26: the JSON of evaluation.tiers.Reference, fitted by the weekly gather on the walk-forward (what a
        # forecast's confidence and tier are ranked against); None on members, parts and models made before it
        if confidence_reference is not None and (error := reference_error(confidence_reference, config.horizons)):
            raise BundleError(error)
        self.confidence_reference = confidence_reference

    def with_combination(self, combination: dict) -> "TrainedModel":
        """This model serving `combination` (its config's method; BundleError when missing or not finite)."""
        return TrainedModel(self.members, self.scaler, self.config, self.feature_version, self.training_cutoff,
                            self.coins, self.info, self.input_description, self.member_ids, combination,
                            self.confidence_reference)

    def with_confidence_reference(self, reference: dict) -> "TrainedModel":
        """This model carrying `reference` (`tiers.Reference.to_json`; BundleError when malformed)."""
        return TrainedModel(self.members, self.scaler, self.config, self.feature_version, self.training_cutoff,
                            self.coins, self.info, self.input_description, self.member_ids, self.combination,
                            reference)

    def hyperparams(self) -> dict:
        """JSON-able description: the config, plus what the registry should know about this fit."""
        cfg = asdict(self.config)
        return {**cfg, "feature_version": self.feature_version, "coins": list(self.coins),
                "training_cutoff": str(self.training_cutoff), "features": list(feats_mod.FEATURES), **self.info,
                **({"input_description": self.input_description.summary()} if self.input_description else {}),
                # what v_models shows of a served combination: its method, weights, scales and rule (not the
                # classifier's coefficients)
                **({"served_combination": {k: v for k, v in self.combination.items() if k != "classifier"}}
                   if self.combination else {})}

    def check_vocabulary(self, registered) -> None:
        """BundleError unless this bundle's coin order (its embedding ids) is `registered`, the vocabulary
        its registry row records: a bundle with two coins swapped would forecast each with the other's id."""
        if registered is None:
            raise BundleError("its registry row records no coin vocabulary (hyperparams.coins): cannot check "
                              "which embedding id is which coin")
        if list(registered) != list(self.coins):
            diff = [f"id {i}: {b} in the bundle, {r} in the registry"
                    for i, (b, r) in enumerate(zip(self.coins, registered)) if b != r]
            raise BundleError(f"its coin vocabulary disagrees with its registry row ({len(self.coins)} coins in the "
                              f"bundle, {len(registered)} registered; {'; '.join(diff[:4]) or 'different lengths'})")

    @classmethod
    def join(cls, parts: "list[TrainedModel]") -> "TrainedModel":
        """One model holding the members of `parts`, in member-id order: one-member models from
        `train.fit_member` on ONE preparation. Raises ValueError when the parts name different
        preparations (`info['preparation']`, the digest of what they were trained on), differ in coins,
        cutoff, feature version or config (other than n_seeds), or repeat a member. The config (n_seeds
        included) is the first part's."""
        if not parts:
            raise ValueError("nothing to merge")
        first = parts[0]
        digests = {m.info.get("preparation") for m in parts}
        if None in digests:
            raise ValueError("cannot merge members that name no preparation (trained before preparations were "
                             "recorded): retrain them")
        if len(digests) > 1:
            raise ValueError(f"cannot merge members of {len(digests)} different preparations "
                             f"({', '.join(sorted(d[:12] for d in digests))}): every member of one model must be "
                             "trained on one preparation")
        for m in parts[1:]:  # identities, not recomputed floats: the digest vouches for the scaler and description
            if diff := [name for name, a, b in (
                    ("coins", m.coins, first.coins), ("training cutoff", m.training_cutoff, first.training_cutoff),
                    ("feature version", m.feature_version, first.feature_version),
                    ("config", replace(m.config, n_seeds=0), replace(first.config, n_seeds=0)),
                    ("member networks", sorted(m.members), sorted(first.members))) if a != b]:
                raise ValueError(f"cannot merge models that differ in {', '.join(diff)}")
        order = sorted(range(len(parts)), key=lambda j: parts[j].member_ids)
        ids = [i for j in order for i in parts[j].member_ids]
        if len(set(ids)) != len(ids):
            raise ValueError(f"the parts hold members {sorted(ids)}: a member is repeated")
        ordered = [parts[j] for j in order]
        members = {key: [net for m in ordered for net in m.members[key]] for key in first.members}
        info = dict(first.info)
        for name in ("epochs", "refit_epochs"):  # fit lists them group by group, members within a group
            if all(name in m.info for m in ordered):
                n = [len(m.member_ids) for m in ordered]
                groups = len(ordered[0].info[name]) // n[0]
                info[name] = [e for g in range(groups) for m, k in zip(ordered, n) for e in m.info[name][g * k:(g + 1) * k]]
        if all("train_seconds" in m.info for m in ordered):
            info["train_seconds"] = round(sum(m.info["train_seconds"] for m in ordered), 2)
        if all("pred_scale" in m.info for m in ordered):  # train.prediction_scale of each member, in member order
            scales = [s for m in ordered for s in m.info.get("member_pred_scale", [m.info["pred_scale"]])]
            info["member_pred_scale"] = scales  # [K][H]
            # the ensemble's scale is approximated by the members' mean scale (an upper bound of the sd of their
            # mean prediction, equal to it when the members agree): what a combination divides the forecast by
            info["pred_scale"] = [float(v) for v in np.mean(np.asarray(scales, dtype=np.float64), axis=0)]
        return cls(members, first.scaler, first.config, first.feature_version, first.training_cutoff, first.coins,
                   info, input_description=first.input_description, member_ids=tuple(ids))

    @classmethod
    def merge(cls, parts: "list[TrainedModel]") -> "TrainedModel":
        """The K-member ensemble of members trained apart (`train.fit_member`, possibly in separate
        processes or on different devices): it predicts what `train.fit` with n_seeds = K does. Checks
        that the parts share one preparation digest and one config, and are members 0..K-1 together;
        it never compares floats that were computed twice (see `join`)."""
        ids = sorted(i for m in parts for i in m.member_ids)
        if ids != list(range(len(ids))):
            raise ValueError(f"the parts hold members {ids}: need each of 0..{len(ids) - 1} once")
        whole = cls.join(parts)
        return cls(whole.members, whole.scaler, replace(whole.config, n_seeds=len(whole.member_ids)),
                   whole.feature_version, whole.training_cutoff, whole.coins, whole.info,
                   input_description=whole.input_description)

    # ---- prediction -----------------------------------------------------------------------------
    def cube(self, panel: pd.DataFrame, features: pd.DataFrame | None = None) -> windows.Cube:
        """Features of `panel` on the calendar grid, in this model's coin order. `features`: the caller's
        `build_features` of the same candles, so that a daily run builds them once."""
        if feats_mod.FEATURE_VERSION != self.feature_version:
            raise FeatureVersionError(f"model uses features {self.feature_version}, code computes "
                                      f"{feats_mod.FEATURE_VERSION}: train a new model, a retry cannot help")
        f = feats_mod.build_features(panel) if features is None else features
        return windows.build_cube(f, panel, self.coins, list(feats_mod.FEATURES))

    def _member_outputs(self, cube: windows.Cube, coin: np.ndarray, t: np.ndarray):
        """Per member key with cells: (its rows [N] bool, each member network's scaled output [K][n, H])."""
        x = self.scaler.transform(windows.gather_windows(cube.x, coin, t, self.config.window))  # [N, T, F]
        ids = coin.astype(np.int32)  # [N]
        for key, models in self.members.items():
            rows = np.ones(len(t), bool) if key == "*" else (coin == self.coins.index(key))
            if rows.any():
                yield rows, [_head(m.predict([x[rows], ids[rows]], verbose=0, batch_size=1024)) for m in models]

    def predict_cells(self, cube: windows.Cube, coin: np.ndarray, t: np.ndarray) -> np.ndarray:
        """[N, H] predicted log returns for cells (coin index into cube.coins == embedding id, day index)."""
        return self._cells(cube, coin, t, members=False)[0]

    def predict_member_cells(self, cube: windows.Cube, coin: np.ndarray, t: np.ndarray) -> np.ndarray:
        """[K, N, H] each member's predicted log returns for the cells of `predict_cells` (whose [N, H] is their
        mean up to rounding: the unscaling is linear)."""
        return self._cells(cube, coin, t, members=True)[1]

    def _cells(self, cube: windows.Cube, coin: np.ndarray, t: np.ndarray, members: bool):
        """([N, H] the ensemble's forecast, [K, N, H] each member's or None), from one pass of every network."""
        out = np.zeros((len(t), self.config.horizons))
        each = np.zeros((len(self.member_ids), len(t), self.config.horizons)) if members else None
        if len(t) == 0:
            return out, each
        for rows, zs in self._member_outputs(cube, coin, t):
            scale = target_cell_scale(cube, coin[rows], t[rows], self.config)  # [n, H]
            z = np.mean(zs, axis=0)  # the members' mean in scaled units, then unscaled: the ensemble's forecast
            out[rows] = self.scaler.unscale_targets(z) * scale
            if members:
                for i, zi in enumerate(zs):
                    each[i, rows] = self.scaler.unscale_targets(zi) * scale
        return out, each

    def predict(self, panel: pd.DataFrame, as_of, coins=None, features: pd.DataFrame | None = None) -> pd.DataFrame:
        """[coin, as_of, horizon, pred_log_return] for day `as_of`, from panel rows <= as_of only.

        coins=None forecasts every vocabulary coin that has a complete window ending at as_of;
        naming a coin without one (or unknown to the model) raises ValueError. `features`, if given,
        is `features.build_features` of `panel` (built once by the caller); rows after as_of are ignored.
        """
        return self._predict_day(panel, as_of, coins, features, members=False)[0]

    def predict_with_members(self, panel: pd.DataFrame, as_of,
                             features: pd.DataFrame | None = None) -> tuple[pd.DataFrame, np.ndarray]:
        """(`predict(panel, as_of, features=features)`, [K, rows] each member's prediction of those rows), from one
        pass of every network: what a forecast and its confidence (issue 26) need."""
        return self._predict_day(panel, as_of, None, features, members=True)

    def predict_members(self, panel: pd.DataFrame, as_of, features: pd.DataFrame | None = None) -> np.ndarray:
        """[K, rows] each member's prediction of the rows `predict(panel, as_of, features=features)` returns (every
        forecastable coin, coin-major, horizons 1..H), from panel rows <= as_of only."""
        return self.predict_with_members(panel, as_of, features)[1]

    def _predict_day(self, panel: pd.DataFrame, as_of, coins, features: pd.DataFrame | None, members: bool):
        """`predict`'s frame and, with `members`, each member's [K, rows] (else None)."""
        K = len(self.member_ids)
        day = panel_mod.to_day(as_of)
        hist = panel_mod.until(panel, day)
        wanted = None if coins is None else [str(c) for c in coins]
        if wanted is not None and (unknown := set(wanted) - set(self.coins)):
            raise ValueError(f"coins unknown to the model: {sorted(unknown)}")
        if len(hist) == 0 or hist["day"].max() < day:
            if wanted:
                raise ValueError(f"no candles up to {day.date()}")
            return pd.DataFrame(columns=PRED_COLUMNS), (np.zeros((K, 0)) if members else None)
        cube, plan = self._day_plan(hist, day, features)
        # predict every forecastable coin, then select: a coin's forecast must not depend (even in the
        # last bit, through batch-size-dependent kernels) on which other coins were asked for
        pred, each = self._cells(cube, plan.coin, plan.t, members)  # [N, H], [K, N, H] or None
        keep = np.ones(len(plan.t), bool) if wanted is None else np.isin(np.array(cube.coins)[plan.coin], wanted)
        coin, pred = plan.coin[keep], pred[keep]
        if wanted is not None and (lacking := set(wanted) - {cube.coins[i] for i in coin}):
            raise ValueError(f"no complete {self.config.window}-day window ending {day.date()} for {sorted(lacking)}")
        H = self.config.horizons
        frame = pd.DataFrame({
            "coin": np.repeat(np.array(cube.coins)[coin], H) if len(coin) else np.array([], dtype=object),
            "as_of": [day.date()] * (len(coin) * H),
            "horizon": np.tile(np.arange(1, H + 1), len(coin)),
            "pred_log_return": pred.reshape(-1),
        })[PRED_COLUMNS]
        return frame, (each[:, keep].reshape(K, -1) if members else None)  # [K, N, H] -> [K, rows]

    def _day_plan(self, hist: pd.DataFrame, day, features: pd.DataFrame | None):
        """(cube of `hist`, the index plan of the coins with a complete window ending on `day`)."""
        cube = self.cube(hist, None if features is None else features[features["day"] <= day])
        d = cube.day_index(day)
        return cube, windows.index_plan(~np.isnan(cube.x).any(axis=2), ~np.isnan(cube.log_close),
                                        self.config.window, self.config.horizons, first=d, last=d)

    def input_drift(self, panel: pd.DataFrame, as_of, coins, features: pd.DataFrame | None = None) -> pd.DataFrame:
        """[coin, input_distance, input_drift_threshold, input_drifted, input_drift_cause]: how far each of
        `coins`' input windows ending at `as_of` lies from the training windows (`drift.TrainingDescription.assess`),
        from panel rows <= as_of only. Never changes a forecast. Raises ValueError when the model has no
        training description (an older bundle) or a coin has no window ending at as_of."""
        if self.input_description is None:
            raise ValueError("the model bundle has no training description (trained before input drift was recorded)")
        day = panel_mod.to_day(as_of)
        hist = panel_mod.until(panel, day)
        cube = self.cube(hist, None if features is None else features[features["day"] <= day])
        d, T = cube.day_index(day), self.config.window
        if d < T - 1:
            raise ValueError(f"no {T}-day window ends on {day.date()}")
        coin = np.array([self.coins.index(str(c)) for c in coins], dtype=np.int64)  # ValueError: unknown coin
        z = self.scaler.standardise(windows.gather_windows(cube.x, coin, np.full(len(coin), d), T))  # [N, T, F]
        a = self.input_description.assess(z)
        return pd.DataFrame({"coin": [str(c) for c in coins], "input_distance": a.distance,
                             "input_drift_threshold": self.input_description.threshold,
                             "input_drifted": a.drifted,
                             "input_drift_cause": pd.Series(a.cause, dtype=object)})[DRIFT_COLUMNS]  # None stays None

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
                    "member_ids": list(self.member_ids), "info": self.info}
            if self.input_description is not None:
                meta["input_description"] = self.input_description.to_dict()
            if self.combination is not None:
                meta["combination"] = self.combination
            if self.confidence_reference is not None:
                meta["confidence_reference"] = self.confidence_reference
            z.writestr("meta.json", json.dumps(meta, sort_keys=True))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, sha256: str | None = None, *, part: bool = False) -> "TrainedModel":
        """Inverse of to_bytes; raises BundleError on anything that is not a complete bundle. A bundle whose config
        serves a combination must carry it, complete and finite, unless it is a `part` (one member of a weekly
        run, stored before the gather fits the combination).

        An artifact is untrusted input (anyone who can write the `models` table can craft one), so
        nothing is written before it is checked: the sha256 (when the caller knows the expected
        one), then the member list, which must be exactly meta.json plus the `member_K_I.keras`
        names meta.json declares. Members are read from the zip in memory; each Keras model is
        written for `keras.models.load_model` (it reads paths only) into a fresh private
        directory (mkdtemp, mode 0700) under a name generated here, never a name from the zip.
        """
        import keras

        from cryptolstm.config import TrainConfig

        meta, member_names = _checked_members(data, sha256)
        z = zipfile.ZipFile(io.BytesIO(data))
        try:
            cfg = meta["config"]
            cfg = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
            members = {}
            tmp = tempfile.mkdtemp(prefix="cryptolstm-bundle-")  # 0700, a new name: no one else's files
            try:
                for k, (key, names) in enumerate(member_names.items()):
                    members[key] = []
                    for i, name in enumerate(names):
                        path = os.path.join(tmp, f"{k}_{i}.keras")  # our name, never the zip's
                        with open(path, "xb") as f:
                            f.write(z.read(name))
                        members[key].append(keras.models.load_model(path, compile=False, safe_mode=True))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if not part and (error := combination_error(meta.get("combination"), cfg.combination)):
                raise BundleError(f"bundle refused: {error}")
            desc = meta.get("input_description")  # absent from bundles made before it was recorded
            return cls(members, RobustScaler.from_dict(meta["scaler"]), cfg, meta["feature_version"],
                       date.fromisoformat(meta["training_cutoff"]), tuple(meta["coins"]), meta.get("info"),
                       input_description=None if desc is None else drift.TrainingDescription.from_dict(desc),
                       member_ids=meta.get("member_ids"),  # absent from bundles made before: all n_seeds
                       combination=meta.get("combination"),  # BundleError when its config needs one and it is bad
                       # absent from bundles made before issue 26 (they serve without tiers); BundleError when bad
                       confidence_reference=meta.get("confidence_reference"))
        except BundleError:
            raise
        except Exception as exc:
            raise BundleError(f"corrupt cryptolstm model bundle: {exc}") from exc


_MEMBER_NAME = re.compile(r"member_[0-9]{1,4}_[0-9]{1,4}\.keras")  # what to_bytes writes, nothing else
MAX_BUNDLE_BYTES = 2 << 30  # uncompressed size bound of a bundle (a full model is a few MB): no zip bomb


def _checked_members(data: bytes, sha256: str | None) -> tuple[dict, dict[str, list[str]]]:
    """(meta, {member key: [zip names]}) of a bundle whose digest and member list are as expected.

    Reads only the zip directory and meta.json (in memory); raises BundleError before anything
    is unpacked when the digest differs, a name is not one to_bytes writes (a path, `..`, an extra
    file), a name is listed twice, or a declared member is absent.
    """
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise BundleError(f"bundle does not match its sha256 {sha256[:12]}...: refusing to unpack it")
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
    except Exception as exc:
        raise BundleError(f"not a cryptolstm model bundle: {exc}") from exc
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise BundleError("bundle lists a member twice: refusing it")
    if "meta.json" not in names:
        raise BundleError("not a cryptolstm model bundle: no meta.json")
    if sum(i.file_size for i in infos) > MAX_BUNDLE_BYTES:
        raise BundleError(f"bundle unpacks to more than {MAX_BUNDLE_BYTES} bytes: refusing it")
    try:
        meta = json.loads(z.read("meta.json"))
    except Exception as exc:
        raise BundleError(f"not a cryptolstm model bundle: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT or meta.get("version") != BUNDLE_VERSION:
        got = meta if not isinstance(meta, dict) else f"{meta.get('format')!r} v{meta.get('version')!r}"
        raise BundleError(f"unsupported bundle format {got}")
    members = meta.get("members")
    if not isinstance(members, dict) or not members or not all(
            isinstance(k, str) and isinstance(v, list) and v and all(isinstance(n, str) for n in v)
            for k, v in members.items()):
        raise BundleError("bundle meta.json has no valid member list")
    declared = [n for v in members.values() for n in v]
    bad = [n for n in declared if not _MEMBER_NAME.fullmatch(n)]
    if bad or len(set(declared)) != len(declared):
        raise BundleError(f"bundle declares unexpected member names {sorted(set(bad))[:5] or declared}: refusing it")
    unexpected = sorted(set(names) - set(declared) - {"meta.json"})
    if unexpected:
        raise BundleError(f"bundle holds unexpected members {unexpected[:5]}: refusing it")
    absent = sorted(set(declared) - set(names))
    if absent:
        raise BundleError(f"bundle lacks declared members {absent[:5]}")
    config = meta.get("config")
    n_seeds = config.get("n_seeds", 1) if isinstance(config, dict) else None
    member_ids = meta.get("member_ids", list(range(n_seeds)) if isinstance(n_seeds, int) else None)
    if not isinstance(n_seeds, int) or not isinstance(member_ids, list) or not all(
            isinstance(i, int) for i in member_ids):
        raise BundleError("bundle meta.json has no valid ensemble size (config.n_seeds, member_ids)")
    if error := member_count_error({k: len(v) for k, v in members.items()}, member_ids, n_seeds):
        raise BundleError(f"bundle refused: {error}")
    return meta, members

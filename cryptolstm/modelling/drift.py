"""Input drift: how far a (coin, as-of day) input window lies from the windows the model learnt from.

At training time `describe` keeps a compact description of the training windows (the model's own
scaled inputs, clipped as the network sees them):

    summary(w)  = [last row, mean over the T days, std over the T days] of the window   [T, F] -> [3F]
    reference   = summaries of a seeded subsample of M training windows                 [M, 3F]
    d_ref       = mean over the reference of each one's distance to its nearest OTHER reference summary
    DI(w)       = min_m ||summary(w) - reference_m|| / d_ref                             (FreqAI's dissimilarity index)
    threshold   = the `quantile` (0.99) of DI over other training windows, each measured without the reference
                  windows of its own coin that overlap it in time (as if it were unseen)
    quantiles   = per-feature quantiles of the scaled training rows                     [Q, F]

so the threshold comes from the training data alone. At forecast time a window is *drifted* when DI >
threshold. A window with a NaN or infinite feature is flagged too, never "not drifted", and its cause
names the features; a flagged finite window's cause names the features whose last-row value lies
outside the training rows' [q 0.5 %, q 99.5 %].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUANTILE_LEVELS = (0.005, 0.05, 0.25, 0.5, 0.75, 0.95, 0.995)  # of each scaled feature over the training rows
N_REFERENCE = 256  # training windows kept as the nearest-neighbour reference (M)
N_CALIBRATION = 4000  # other training windows whose DI fixes the threshold
THRESHOLD_QUANTILE = 0.99  # of the training windows' own DI


@dataclass(frozen=True, eq=False)
class Assessment:
    distance: np.ndarray  # [N] DI; NaN where the window has a non-finite feature
    drifted: np.ndarray  # [N] bool: DI > threshold, or a non-finite feature
    cause: list[str | None]  # [N] why a window is flagged (None when it is not)


@dataclass(frozen=True, eq=False)
class TrainingDescription:
    feature_names: tuple[str, ...]  # F, the order of the feature axis
    clip: float  # scaled inputs are clipped to +-clip before they are summarised (as the model sees them)
    quantile_levels: tuple[float, ...]  # Q
    quantiles: np.ndarray  # [Q, F] per-feature quantiles of the scaled training rows
    reference: np.ndarray  # [M, 3F] window summaries of the reference subsample
    mean_nn_distance: float  # d_ref
    threshold: float  # DI above it: drifted
    threshold_quantile: float  # which quantile of the training windows' DI the threshold is
    n_windows: int  # training windows described

    def assess(self, z: np.ndarray) -> Assessment:
        """[N, T, F] scaled, NOT yet clipped windows ((x - center) / scale) -> distance, flag and cause."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 3 or z.shape[2] != len(self.feature_names):
            raise ValueError(f"need [N, T, {len(self.feature_names)}] windows, got {z.shape}")
        finite = np.isfinite(z).all(axis=(1, 2))  # [N]
        dist = np.full(len(z), np.nan)
        if finite.any():
            s = summarise(np.clip(z[finite], -self.clip, self.clip))  # [n, 3F]
            dist[finite] = _nn_distance(s, self.reference) / self.mean_nn_distance
        drifted = ~finite | (dist > self.threshold)
        cause: list[str | None] = []
        for i in range(len(z)):
            if not finite[i]:
                bad = [self.feature_names[f] for f in np.flatnonzero(~np.isfinite(z[i]).all(axis=0))]
                cause.append("non-finite feature(s): " + ", ".join(bad))
            elif drifted[i]:
                cause.append(f"distance {dist[i]:.2f} > threshold {self.threshold:.2f}" + self._outside(z[i, -1]))
            else:
                cause.append(None)
        return Assessment(dist, drifted, cause)

    def _outside(self, last_row: np.ndarray) -> str:
        """'; outside the training range: f1, f2' for the features of [F] beyond [q 0.5 %, q 99.5 %]."""
        lo, hi = self.quantiles[0], self.quantiles[-1]
        names = [self.feature_names[f] for f in np.flatnonzero((last_row < lo) | (last_row > hi))]
        return "; outside the training range: " + ", ".join(names) if names else ""

    def summary(self) -> dict:
        """JSON-able without the reference sample (what the registry records beside the model)."""
        return {"method": "nearest-neighbour dissimilarity index of window summaries (last row, mean, std)",
                "feature_names": list(self.feature_names), "clip": self.clip,
                "quantile_levels": list(self.quantile_levels), "quantiles": self.quantiles.tolist(),
                "n_reference": int(len(self.reference)), "mean_nn_distance": self.mean_nn_distance,
                "threshold": self.threshold, "threshold_quantile": self.threshold_quantile,
                "n_windows": self.n_windows}

    def to_dict(self) -> dict:
        """JSON-able, the reference included (what the bundle stores); floats round-trip exactly."""
        return {**self.summary(), "reference": self.reference.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainingDescription":
        ref = np.asarray(d["reference"], dtype=np.float64)
        q = np.asarray(d["quantiles"], dtype=np.float64)
        names = tuple(d["feature_names"])
        if ref.ndim != 2 or ref.shape[1] != 3 * len(names) or q.shape != (len(d["quantile_levels"]), len(names)):
            raise ValueError("inconsistent training description")
        return cls(names, float(d["clip"]), tuple(d["quantile_levels"]), q, ref, float(d["mean_nn_distance"]),
                   float(d["threshold"]), float(d["threshold_quantile"]), int(d["n_windows"]))


def summarise(z: np.ndarray) -> np.ndarray:
    """[N, T, F] -> [N, 3F]: the last row, the mean and the standard deviation over the window."""
    return np.concatenate([z[:, -1, :], z.mean(axis=1), z.std(axis=1)], axis=1)


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N, D], [M, D] -> [N, M] Euclidean distances."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def _nn_distance(a: np.ndarray, ref: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """[N] distance of each row of `a` to its nearest row of `ref` (chunked: [chunk, M] at a time)."""
    return np.concatenate([_pairwise(a[i:i + chunk], ref).min(axis=1) for i in range(0, len(a), chunk)]) \
        if len(a) else np.zeros(0)


def sample(n: int, seed: int = 0, size: int = N_REFERENCE + N_CALIBRATION) -> np.ndarray:
    """Sorted indices of a seeded subsample of at most `size` of n training windows (what `describe` needs;
    gathering every training window twice would double the training fold's memory)."""
    return np.sort(np.random.default_rng(seed).permutation(n)[:size])


def describe(z: np.ndarray, coin: np.ndarray, t: np.ndarray, rows: np.ndarray, feature_names, clip: float, *,
             seed: int = 0, n_reference: int = N_REFERENCE, n_calibration: int = N_CALIBRATION,
             quantile: float = THRESHOLD_QUANTILE) -> TrainingDescription:
    """The description of training windows z [N, T, F] (scaled, not yet clipped, all finite; every training
    window or a `sample` of them) of cells (coin [N], as-of day index t [N]) and of the scaled training rows
    [R, F] (the quantiles): formulas in the module docstring. The first `n_reference` windows of a seeded
    permutation are the reference (at most half of them), the next `n_calibration` fix the threshold; a
    calibration window's DI ignores the reference windows of its coin whose days overlap its own (|t - t_ref| < T)."""
    z = np.asarray(z, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.float64)
    coin, t = np.asarray(coin), np.asarray(t)
    F = len(feature_names)
    if z.ndim != 3 or z.shape[2] != F or coin.shape != (len(z),) or t.shape != (len(z),):
        raise ValueError(f"need [N, T, {F}] windows with [N] coin and t, got {z.shape}")
    if rows.ndim != 2 or rows.shape[1] != F or len(rows) == 0:
        raise ValueError(f"need [R, {F}] training rows, got {rows.shape}")
    if len(z) < 20:
        raise ValueError(f"too few training windows to describe ({len(z)} < 20)")
    if not (np.isfinite(z).all() and np.isfinite(rows).all()):
        raise ValueError("training windows and rows must be finite")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    T = z.shape[1]
    z = np.clip(z, -clip, clip)
    order = np.random.default_rng(seed).permutation(len(z))
    m = min(n_reference, len(z) // 2)
    ref_idx, cal_idx = order[:m], order[m:m + n_calibration]
    ref = summarise(z[ref_idx])  # [M, 3F]
    d = _pairwise(ref, ref)  # [M, M]
    np.fill_diagonal(d, np.inf)
    mean_nn = float(d.min(axis=1).mean())
    if not mean_nn > 0:
        raise ValueError("the reference windows are all identical: no distance scale")
    dc = _pairwise(summarise(z[cal_idx]), ref)  # [K, M]
    overlap = (coin[cal_idx][:, None] == coin[ref_idx][None, :]) & (
        np.abs(t[cal_idx][:, None] - t[ref_idx][None, :]) < T)
    dc[overlap] = np.inf
    di = dc.min(axis=1) / mean_nn  # [K]
    di = di[np.isfinite(di)]
    if len(di) == 0:
        raise ValueError("no calibration window away from the reference: too few training windows")
    return TrainingDescription(tuple(feature_names), float(clip), QUANTILE_LEVELS,
                               np.quantile(np.clip(rows, -clip, clip), QUANTILE_LEVELS, axis=0), ref, mean_nn,
                               float(np.quantile(di, quantile)), float(quantile), int(len(z)))

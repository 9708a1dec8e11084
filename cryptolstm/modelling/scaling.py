"""Input and target scaling, fit on the training fold only, saved inside the model bundle.

Choice: ONE global robust scaler (per feature: median and inter-quartile range over all coins' rows
of the training fold), not nine per-coin scalers. Why:
- the features are already made comparable across coins by construction (log returns, ratios, the
  volume relative to the coin's own trailing mean), so what remains coin-specific — e.g. DOGE's
  volatility being higher than BTC's — is information the shared model should see, not remove;
- a coin with a short history (SOL joins in 2020) or a newly added coin would get a noisy per-coin
  scaler from a few hundred rows; the global one is estimated on ~20k rows in every fold;
- median/IQR are robust to the crash days that dominate means and standard deviations in crypto;
  after scaling, values are clipped to +-`clip` so one extreme day cannot saturate the LSTM gates.

Targets are divided by a per-horizon robust scale (1.4826 x median absolute value) WITHOUT centring:
the sign of a return is what is scored, and a shift would move zero. The model predicts y / scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VOL_FLOOR = 0.005  # daily volatility floor of the per-cell target scale (no division by a near-zero rv_30)


@dataclass(frozen=True)
class RobustScaler:
    center: np.ndarray  # [F] median of each feature on the training fold
    scale: np.ndarray  # [F] inter-quartile range (1.0 where it is 0)
    target_scale: np.ndarray  # [H] 1.4826 * median |y_h| on the training fold's targets
    clip: float = 6.0  # scaled inputs are clipped to [-clip, clip]

    @classmethod
    def fit(cls, x_rows: np.ndarray, y: np.ndarray, clip: float = 6.0) -> "RobustScaler":
        """x_rows: [N, F] feature rows of the training fold; y: [M, H] its trainable targets."""
        x_rows = np.asarray(x_rows, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x_rows.ndim != 2 or len(x_rows) == 0 or not np.isfinite(x_rows).all():
            raise ValueError("scaler needs a non-empty finite [N, F] array of training rows")
        if y.ndim != 2 or len(y) == 0 or not np.isfinite(y).all():
            raise ValueError("scaler needs a non-empty finite [M, H] array of training targets")
        q25, med, q75 = np.percentile(x_rows, [25, 50, 75], axis=0)
        iqr = q75 - q25
        tscale = 1.4826 * np.median(np.abs(y), axis=0)
        return cls(center=med, scale=np.where(iqr > 0, iqr, 1.0),
                   target_scale=np.where(tscale > 0, tscale, 1.0), clip=float(clip))

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """[..., F] -> [..., F] float64, (x - median) / IQR, not clipped (a NaN or inf stays one)."""
        return (np.asarray(x, dtype=np.float64) - self.center) / self.scale

    def transform(self, x: np.ndarray) -> np.ndarray:
        """[..., F] -> [..., F] float32, (x - median) / IQR clipped to +-clip."""
        return np.clip(self.standardise(x), -self.clip, self.clip).astype(np.float32)

    def scale_targets(self, y: np.ndarray) -> np.ndarray:
        """[N, H] log returns -> model units."""
        return (np.asarray(y, dtype=np.float64) / self.target_scale).astype(np.float32)

    def unscale_targets(self, z: np.ndarray) -> np.ndarray:
        """[N, H] model outputs -> log returns."""
        return np.asarray(z, dtype=np.float64) * self.target_scale

    def to_dict(self) -> dict:
        """JSON-able; floats round-trip exactly through json (repr is shortest-exact)."""
        return {"center": self.center.tolist(), "scale": self.scale.tolist(),
                "target_scale": self.target_scale.tolist(), "clip": self.clip}

    @classmethod
    def from_dict(cls, d: dict) -> "RobustScaler":
        return cls(np.asarray(d["center"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64),
                   np.asarray(d["target_scale"], dtype=np.float64), float(d["clip"]))


def cell_scale(rv_30: np.ndarray, horizons: int) -> np.ndarray:
    """[N] trailing 30-day daily volatility at t (known at t) -> [N, H] per-cell target scale rv_30 * sqrt(h)."""
    vol = np.maximum(np.asarray(rv_30, dtype=np.float64), VOL_FLOOR)  # [N]
    return vol[:, None] * np.sqrt(np.arange(1, horizons + 1))[None, :]  # [N, H]

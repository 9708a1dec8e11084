"""Training losses (Keras). Metrics for reporting live in `metrics.py`, not here.

Direction-aware Huber, per cell and horizon h (y, yhat in scaled units):

    L = w_h * [ huber_delta(y - yhat) + lambda * relu(-y * yhat) ]

The second term is zero when the signs agree and grows with the size of the miss otherwise; it is
never a constant. Two forms (`dir_term`):

- "product": lambda * relu(-y * yhat). A confident wrong call (large |yhat|) on a large move (large
  |y|) costs most; the gradient -lambda * y pulls yhat toward the sign of y, weighted by |y|, so the
  few big moves decide what "the right direction" is (a conditional-MEAN signal).
- "sign": lambda * relu(-sign(y) * yhat). The cost grows with how far yhat sits on the wrong side;
  the gradient -lambda * sign(y) counts every cell's direction equally (a conditional-MEDIAN signal,
  which is what directional accuracy scores: P(y > 0) > 1/2 exactly when the median is > 0).

With a small delta the Huber term is close to L1, whose minimiser is also the conditional median.
"""

from __future__ import annotations


DIR_TERMS = ("product", "sign")


def direction_aware_huber(delta: float = 1.0, lam: float = 0.5, horizon_weights=None, dir_term: str = "product"):
    """Keras loss fn(y_true [B, H], y_pred [B, H]) -> [B]; lam=0 gives plain Huber."""
    from keras import ops

    if delta <= 0 or lam < 0:
        raise ValueError("need delta > 0 and lam >= 0")
    if dir_term not in DIR_TERMS:
        raise ValueError(f"dir_term must be one of {DIR_TERMS}")
    weights = None if horizon_weights is None else [float(w) for w in horizon_weights]

    def loss(y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        err = ops.abs(y_true - y_pred)  # [B, H]
        quad = ops.minimum(err, delta)
        huber = 0.5 * quad * quad + delta * (err - quad)  # [B, H]
        direction = y_true if dir_term == "product" else ops.sign(y_true)  # [B, H]
        wrong = ops.relu(-direction * y_pred)  # [B, H], > 0 only on sign mismatch
        per = huber + lam * wrong  # [B, H]
        if weights is not None:
            w = ops.convert_to_tensor(weights, dtype=per.dtype)  # [H]
            return ops.sum(per * w, axis=-1) / float(sum(weights))  # [B]
        return ops.mean(per, axis=-1)  # [B]

    loss.__name__ = f"dir_huber_d{delta:g}_l{lam:g}" + ("_sign" if dir_term == "sign" else "")
    return loss

"""Training losses (Keras). Metrics for reporting live in `metrics.py`, not here.

Direction-aware Huber, per cell and horizon h (y, yhat in scaled units):

    L = w_h * [ huber_delta(y - yhat) + lambda * relu(-y * yhat) ]

The second term is zero when the signs agree and grows with the size of the miss otherwise: a
confident wrong call (large |yhat|) on a large move (large |y|) costs most, and its gradient with
respect to yhat is -lambda * y, which pushes yhat toward the sign of y. It is never a constant.
"""

from __future__ import annotations


def direction_aware_huber(delta: float = 1.0, lam: float = 0.5, horizon_weights=None):
    """Keras loss fn(y_true [B, H], y_pred [B, H]) -> [B]; lam=0 gives plain Huber."""
    from keras import ops

    if delta <= 0 or lam < 0:
        raise ValueError("need delta > 0 and lam >= 0")
    weights = None if horizon_weights is None else [float(w) for w in horizon_weights]

    def loss(y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        err = ops.abs(y_true - y_pred)  # [B, H]
        quad = ops.minimum(err, delta)
        huber = 0.5 * quad * quad + delta * (err - quad)  # [B, H]
        wrong = ops.relu(-y_true * y_pred)  # [B, H], > 0 only on sign mismatch
        per = huber + lam * wrong  # [B, H]
        if weights is not None:
            w = ops.convert_to_tensor(weights, dtype=per.dtype)  # [H]
            return ops.sum(per * w, axis=-1) / float(sum(weights))  # [B]
        return ops.mean(per, axis=-1)  # [B]

    loss.__name__ = f"dir_huber_d{delta:g}_l{lam:g}"
    return loss

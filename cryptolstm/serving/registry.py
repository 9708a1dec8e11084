"""Model registry in PostgreSQL: register, load (sha256-verified), status transitions, and the
point-in-time champion lookup.

A model's life: `candidate` (registered by the weekly run) -> `champion` (promoted) -> `retired`
(replaced), or `candidate` -> `rejected`. A champion serves the as-of days of
[champion_from, champion_until); the daily DAG forecasts day t with the model whose range contains t
AND whose training cutoff is before t (`champion_as_of`), so a rerun or backfill of any day picks the
model a live run would have picked, and never one trained on data after t.

No Airflow and no TensorFlow here: `load_model` imports the model code only when asked to.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime

from cryptolstm import storage
from cryptolstm.errors import Permanent

STATUSES = ("candidate", "champion", "retired", "rejected")


class ArtifactError(Permanent, Exception):
    """The stored artifact does not match its sha256 or cannot be loaded as a model."""


@dataclass(frozen=True)
class ModelRecord:
    """One `models` row without the artifact bytes."""

    model_id: str
    created_for: datetime
    training_cutoff: date
    feature_version: str
    hyperparams: dict
    code_version: str
    metrics: dict
    artifact_sha256: str
    status: str
    champion_from: date | None = None
    champion_until: date | None = None

    def age_days(self, as_of: date) -> int:
        """Days between the training cutoff and `as_of` (how old the newest data it learned from is)."""
        return (as_of - self.training_cutoff).days


def _record(row) -> ModelRecord:
    return ModelRecord(*row)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_version() -> str:
    """The package version (plus the git commit when the checkout has one)."""
    import subprocess

    from cryptolstm import __version__
    from cryptolstm.config import PROJECT_ROOT

    try:
        rev = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"{__version__}+{rev}" if rev else str(__version__)


def register(cur, *, model_id: str, created_for: datetime, training_cutoff: date, feature_version: str,
             hyperparams: dict, code_version: str, metrics: dict, artifact: bytes) -> ModelRecord:
    """Insert a new candidate. Re-registering the same model_id is refused unless it is the same artifact
    (a rerun of the same weekly interval), in which case the existing row is returned unchanged."""
    if not artifact:
        raise ValueError("empty artifact")
    digest = sha256(artifact)
    existing = get(cur, model_id)
    if existing is not None:
        if existing.artifact_sha256 != digest:
            raise ValueError(f"model {model_id} is already registered with another artifact")
        return existing
    cur.execute(storage.query("models_insert"), {
        "model_id": model_id, "created_for": created_for, "training_cutoff": training_cutoff,
        "feature_version": feature_version, "hyperparams": to_json(hyperparams),
        "code_version": code_version, "metrics": to_json(metrics),
        "artifact": artifact, "artifact_sha256": digest})
    return get(cur, model_id)


def to_json(obj) -> str:
    """JSON for a jsonb column: numpy scalars as numbers, dates as ISO text, NaN / inf as null
    (PostgreSQL's json has no NaN; e.g. a p-value undefined on a degenerate fold)."""
    import math

    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if hasattr(v, "item") and not isinstance(v, (bytes, str)):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return json.dumps(clean(obj), sort_keys=True, default=_json_default)


def _json_default(value):
    """numpy scalars, NaN-free floats and dates in JSON metrics."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def get(cur, model_id: str) -> ModelRecord | None:
    cur.execute(storage.query("models_select_one"), {"model_id": model_id})
    row = cur.fetchone()
    return _record(row) if row else None


def champion_as_of(cur, as_of: date) -> ModelRecord | None:
    """The model that served as champion on `as_of` and was trained on data before it, or None."""
    cur.execute(storage.query("models_select_champion_as_of"), {"as_of": as_of})
    row = cur.fetchone()
    return _record(row) if row else None


def provisional_as_of(cur, as_of: date) -> ModelRecord | None:
    """The newest model trained before `as_of`, decided (any verdict) or of the newest week: serves a day that
    has no champion, so that the days before the first promotion still get LSTM forecasts, labelled
    provisional. An older week's never-decided candidate is never taken. None if none exists."""
    cur.execute(storage.query("models_select_provisional_as_of"), {"as_of": as_of})
    row = cur.fetchone()
    return _record(row) if row else None


def current_champion(cur) -> ModelRecord | None:
    """The model whose status is 'champion' (open-ended range)."""
    cur.execute(storage.query("models_select_current_champion"))
    rows = cur.fetchall()
    if len(rows) > 1:
        raise RuntimeError(f"registry corrupt: {len(rows)} models have status 'champion'")
    return _record(rows[0]) if rows else None


def artifact_bytes(cur, model_id: str) -> bytes:
    """The artifact, verified against its stored sha256 (ArtifactError on mismatch)."""
    cur.execute(storage.query("models_select_artifact"), {"model_id": model_id})
    row = cur.fetchone()
    if row is None:
        raise KeyError(f"no model {model_id!r} in the registry")
    data, digest = bytes(row[0]), row[1]
    if sha256(data) != digest:
        raise ArtifactError(f"artifact of {model_id} does not match its sha256 (stored {digest[:12]}..., "
                            f"computed {sha256(data)[:12]}...): refusing to load it")
    return data


def load_model(dsn: str, model_id: str):
    """The TrainedModel stored under `model_id`; ArtifactError when the hash or the bundle is bad, or when
    the bundle's coin vocabulary is not the one its registry row records."""
    with storage.transaction(dsn) as cur:
        data = artifact_bytes(cur, model_id)
        registered = get(cur, model_id).hyperparams.get("coins")
    from cryptolstm.modelling.bundle import BundleError, TrainedModel

    from cryptolstm.evaluation.combination import CombinationError, ServedCombination
    from cryptolstm.evaluation.tiers import Reference

    try:
        model = TrainedModel.from_bytes(data)
        model.check_vocabulary(registered)
        if model.combination is not None:  # its full check: shapes and signals, not only present and finite
            ServedCombination.from_json(model.combination)
        if model.confidence_reference is not None:  # issue 26: a known score, finite sorted grids per horizon
            try:
                Reference.from_json(model.confidence_reference)
            except ValueError as exc:
                raise BundleError(f"bundle refused: {exc}") from exc
        return model
    except (BundleError, CombinationError) as exc:
        raise ArtifactError(f"artifact of {model_id} cannot be loaded: {exc}") from exc


# ---- status transitions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Transition:
    """What `promote` / `reject` changed, for logs and the decision record."""

    model_id: str
    status: str
    retired: list[str] = field(default_factory=list)


def promote(cur, model_id: str, effective: date) -> Transition:
    """Make `model_id` the champion for as-of days >= `effective`; retire the current champion at the same day.

    Idempotent: promoting the model that already is champion from `effective` changes nothing.
    Refused when `effective` is not after the model's training cutoff (it would forecast days it
    was trained on) or not after the current champion's start (transitions must move forward in time).
    """
    m = get(cur, model_id)
    if m is None:
        raise KeyError(f"no model {model_id!r}")
    if m.status == "champion" and m.champion_from == effective:
        return Transition(model_id, "champion")
    if m.status != "candidate":
        raise ValueError(f"only a candidate can be promoted; {model_id} is {m.status}")
    if not m.training_cutoff < effective:
        raise ValueError(f"{model_id}: champion_from {effective} must be after its training cutoff {m.training_cutoff}")
    retired = []
    old = current_champion(cur)
    if old is not None:
        if not old.champion_from < effective:
            raise ValueError(f"current champion {old.model_id} starts {old.champion_from}, not before {effective}")
        cur.execute(storage.query("models_update_retired"), {"until": effective, "model_id": old.model_id})
        retired.append(old.model_id)
    cur.execute(storage.query("models_update_champion"), {"effective": effective, "model_id": model_id})
    return Transition(model_id, "champion", retired)


def reject(cur, model_id: str) -> Transition:
    """Mark a candidate rejected (idempotent). A champion or retired model cannot be rejected."""
    m = get(cur, model_id)
    if m is None:
        raise KeyError(f"no model {model_id!r}")
    if m.status not in ("candidate", "rejected"):
        raise ValueError(f"only a candidate can be rejected; {model_id} is {m.status}")
    cur.execute(storage.query("models_update_rejected"), {"model_id": model_id})
    return Transition(model_id, "rejected")

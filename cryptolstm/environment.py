"""Settings from the environment, read with pydantic-settings: the one place CRYPTOLSTM_* variables and
the Airflow connections AIRFLOW_CONN_CRYPTOLSTM_DB / _READER are read.

Each section below names its variables in full, with their types and bounds. An unset or blank
variable keeps the default of the frozen dataclass in `cryptolstm.config`, where every default is
defined once. A bad value fails with the variable's name and what it accepts
(`CRYPTOLSTM_WF_FOLDS must be an integer >= 1, got 'abc'`), and one load reports every bad variable
at once in a `SettingError`. Entry points load once (`validate()` in the CLI, `load_*()` in a DAG
task's first library call) and pass the dataclasses down; the library below them reads nothing.

Nothing here touches the network, the disk or the database.
"""

from __future__ import annotations

import os
from types import UnionType
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Mapping, TypeVar, Union, get_args, get_origin

from annotated_types import Ge, Le
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from cryptolstm.config import AlertConfig, MarketConfig, PipelineConfig, PromotionConfig, Settings
from cryptolstm.dsn import dsn_from_airflow_conn

Environ = Mapping[str, str]


class SettingError(ValueError):
    """One or more settings have values they do not accept (each message names the variable)."""


# ---- value types ---------------------------------------------------------------------------------------

def _items(value: Any) -> Any:
    """A comma-separated variable as the tuple of its non-blank items."""
    return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else value


def _connection(value: str) -> str:
    try:
        return dsn_from_airflow_conn(value)
    except (ValueError, TypeError, AttributeError) as exc:  # the value is a secret: only its start is shown
        raise PydanticCustomError("setting", "{accepts}", {"accepts": f"an Airflow connection URI or JSON ({exc})",
                                                           "got": value[:40] + "..."}) from None


Items = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_items)]  # "a, b,,c" -> ("a", "b", "c")
Coins = Annotated[Items, AfterValidator(lambda coins: tuple(c.upper() for c in coins))]
Upper = Annotated[str, AfterValidator(str.upper)]
Connection = Annotated[str, AfterValidator(_connection)]  # an AIRFLOW_CONN_* value, as a libpq DSN

_BLANK_IS_EMPTY = frozenset({"CRYPTOLSTM_AUX_COINS"})  # set to "": the empty list; any other blank: unset
_RETIRED = {"CRYPTOLSTM_ALERT_STALE_DAYS": "unset: forecasts and alerts share one stale limit, CRYPTOLSTM_STALE_DAYS"}


# ---- sections: one per config dataclass; field names are the dataclass's, aliases the variables ----------

class _Section(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", allow_inf_nan=False, frozen=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_):
        return (init_settings,)  # `_read` hands in the environment it was given (os.environ in production)


class _MarketEnv(_Section):
    exchange: str | None = Field(None, alias="CRYPTOLSTM_EXCHANGE")
    quote: Upper | None = Field(None, alias="CRYPTOLSTM_QUOTE")
    coins: Coins | None = Field(None, alias="CRYPTOLSTM_COINS", min_length=1)
    auxiliary: Coins | None = Field(None, alias="CRYPTOLSTM_AUX_COINS")
    api_url: str | None = Field(None, alias="CRYPTOLSTM_EXCHANGE_URL")
    overlap_days: int | None = Field(None, alias="CRYPTOLSTM_OVERLAP_DAYS", ge=0, le=365)
    max_close_jump: float | None = Field(None, alias="CRYPTOLSTM_MAX_CLOSE_JUMP", ge=1.0)
    level_shift_days: int | None = Field(None, alias="CRYPTOLSTM_LEVEL_SHIFT_DAYS", ge=1, le=365)


class _SqlDirEnv(_Section):
    sql_dir: Path | None = Field(None, alias="CRYPTOLSTM_SQL_DIR")


class _SettingsEnv(_Section):
    dsn: str | None = Field(None, alias="CRYPTOLSTM_DSN")
    db_connection: Connection | None = Field(None, alias="AIRFLOW_CONN_CRYPTOLSTM_DB")  # when CRYPTOLSTM_DSN is unset
    reader_dsn: str | None = Field(None, alias="CRYPTOLSTM_READER_DSN")
    reader_connection: Connection | None = Field(None, alias="AIRFLOW_CONN_CRYPTOLSTM_READER")  # ... _READER_DSN unset
    state_dir: Path | None = Field(None, alias="CRYPTOLSTM_STATE_DIR")
    api_port: int | None = Field(None, alias="CRYPTOLSTM_API_PORT", ge=1, le=65535)
    smtp_port: int | None = Field(None, alias="CRYPTOLSTM_SMTP_PORT", ge=1, le=65535)
    standin_port: int | None = Field(None, alias="CRYPTOLSTM_STANDIN_PORT", ge=1, le=65535)
    heartbeat_stale_s: float | None = Field(None, alias="CRYPTOLSTM_HEARTBEAT_STALE_S", ge=1)
    health_check_s: float | None = Field(None, alias="CRYPTOLSTM_HEALTH_CHECK_S", ge=0.1)


class _PromotionEnv(_Section):
    margin: float | None = Field(None, alias="CRYPTOLSTM_PROMOTION_MARGIN", ge=-1.0, le=1.0)
    alpha: float | None = Field(None, alias="CRYPTOLSTM_PROMOTION_ALPHA", ge=1e-9, le=0.999999)
    min_cells: int | None = Field(None, alias="CRYPTOLSTM_PROMOTION_MIN_CELLS", ge=1)
    weeks: int | None = Field(None, alias="CRYPTOLSTM_PROMOTION_WEEKS", ge=1, le=52)
    first_model_margin: float | None = Field(None, alias="CRYPTOLSTM_PROMOTION_FIRST_MARGIN", ge=-1.0, le=1.0)
    first_model_min_lower: float | None = Field(None, alias="CRYPTOLSTM_PROMOTION_FIRST_MIN_LOWER", ge=0.0, le=1.0)


class _AlertEnv(_Section):
    window_days: int | None = Field(None, alias="CRYPTOLSTM_ALERT_WINDOW_DAYS", ge=1)
    min_da: float | None = Field(None, alias="CRYPTOLSTM_ALERT_MIN_DA", ge=0.0, le=1.0)
    below_validation_pp: float | None = Field(None, alias="CRYPTOLSTM_ALERT_BELOW_VALIDATION_PP", ge=0.0, le=100.0)
    min_cells: int | None = Field(None, alias="CRYPTOLSTM_ALERT_MIN_CELLS", ge=1)
    block_days: int | None = Field(None, alias="CRYPTOLSTM_ALERT_BLOCK_DAYS", ge=1)
    # the one stale limit: forecasts are labelled stale and the stale_champion alert fires past it
    stale_after_days: int | None = Field(None, alias="CRYPTOLSTM_STALE_DAYS", ge=0)
    expire_after_days: int | None = Field(None, alias="CRYPTOLSTM_ALERT_EXPIRE_DAYS", ge=1)
    recipients: Items | None = Field(None, alias="CRYPTOLSTM_ALERT_TO", min_length=1)


class _SensorEnv(_Section):  # read alone at DAG parse time too (load_sensor_poke)
    sensor_poke_s: float | None = Field(None, alias="CRYPTOLSTM_SENSOR_POKE_S", ge=1, le=3600)


class _PipelineEnv(_SensorEnv):
    train_profile: Literal["full", "tiny"] | None = Field(None, alias="CRYPTOLSTM_TRAIN_PROFILE")
    wf_folds: int | None = Field(None, alias="CRYPTOLSTM_WF_FOLDS", ge=1)
    wf_days: int | None = Field(None, alias="CRYPTOLSTM_WF_DAYS", ge=1)
    charts_dir: Path | None = Field(None, alias="CRYPTOLSTM_CHARTS_DIR")
    provisional: bool | None = Field(None, alias="CRYPTOLSTM_PROVISIONAL")
    ensemble_members: int | None = Field(None, alias="CRYPTOLSTM_ENSEMBLE_MEMBERS", ge=1, le=50)
    combination: Literal["none", "blend_equal", "stacked"] | None = Field(None, alias="CRYPTOLSTM_COMBINATION")
    member_retention_weeks: int | None = Field(None, alias="CRYPTOLSTM_MEMBER_RETENTION_WEEKS", ge=0)


class _WorkerEnv(_Section):  # set by the local runtime's supervisor for each Celery worker it starts
    name: str | None = Field(None, alias="CRYPTOLSTM_WORKER_NAME")


# ---- loaders -------------------------------------------------------------------------------------------

def load_market(environ: Environ | None = None) -> MarketConfig:
    """The market section: CRYPTOLSTM_EXCHANGE, _QUOTE, _COINS, _AUX_COINS ("" = none), _EXCHANGE_URL,
    _OVERLAP_DAYS, _MAX_CLOSE_JUMP, _LEVEL_SHIFT_DAYS."""
    return _checked(_market, environ)


def load_settings(environ: Environ | None = None) -> Settings:
    """Where things are: CRYPTOLSTM_DSN (else AIRFLOW_CONN_CRYPTOLSTM_DB), CRYPTOLSTM_READER_DSN (else
    AIRFLOW_CONN_CRYPTOLSTM_READER), CRYPTOLSTM_STATE_DIR, _SQL_DIR, _API_PORT, _SMTP_PORT, _STANDIN_PORT,
    _HEARTBEAT_STALE_S, _HEALTH_CHECK_S, and the market's."""
    return _checked(_settings, environ)


def load_promotion(environ: Environ | None = None) -> PromotionConfig:
    """The promotion gate: CRYPTOLSTM_PROMOTION_MARGIN, _ALPHA, _MIN_CELLS, _WEEKS, _FIRST_MARGIN, _FIRST_MIN_LOWER."""
    return _checked(_promotion, environ)


def load_alerts(environ: Environ | None = None) -> AlertConfig:
    """The daily alerts: CRYPTOLSTM_ALERT_WINDOW_DAYS, _MIN_DA, _BELOW_VALIDATION_PP, _MIN_CELLS, _BLOCK_DAYS,
    _EXPIRE_DAYS, _TO, and the stale limit CRYPTOLSTM_STALE_DAYS."""
    return _checked(_alerts, environ)


def load_pipeline(environ: Environ | None = None) -> PipelineConfig:
    """The DAG steps: CRYPTOLSTM_TRAIN_PROFILE, _WF_FOLDS, _WF_DAYS, _CHARTS_DIR, _PROVISIONAL (1/0),
    _ENSEMBLE_MEMBERS, _COMBINATION, _MEMBER_RETENTION_WEEKS, _SENSOR_POKE_S, with the promotion and alert sections."""
    return _checked(_pipeline, environ)


def load_sensor_poke(environ: Environ | None = None) -> float:
    """The sensors' poke interval in seconds (CRYPTOLSTM_SENSOR_POKE_S); read alone, because a DAG file needs it
    while it is parsed and no other setting may fail the parse."""
    return _checked(lambda env, errors: _read(_SensorEnv, env, errors).sensor_poke_s or PipelineConfig.sensor_poke_s,
                    environ)


def load_sql_dir(environ: Environ | None = None) -> Path:
    """Where sql/ is (CRYPTOLSTM_SQL_DIR); read alone, so importing storage validates nothing else."""
    return _checked(_sql_dir, environ)


def load_worker_name(environ: Environ | None = None) -> str | None:
    """The name the local runtime gave this Celery worker (CRYPTOLSTM_WORKER_NAME); None outside one."""
    return _checked(lambda env, errors: _read(_WorkerEnv, env, errors).name, environ)


def validate(environ: Environ | None = None) -> tuple[Settings, PipelineConfig]:
    """Load every setting once; raise one `SettingError` naming every bad variable."""
    return _checked(lambda env, errors: (_settings(env, errors), _pipeline(env, errors)), environ)


T = TypeVar("T")


def _checked(load: Callable[[Environ, list[str]], T], environ: Environ | None) -> T:
    """`load` over `environ` (default os.environ), raising every bad variable it met at once."""
    errors: list[str] = []
    out = load(os.environ if environ is None else environ, errors)
    if errors:
        raise SettingError("; ".join(errors))
    return out


def _market(environ: Environ, errors: list[str]) -> MarketConfig:
    return _apply(MarketConfig(), _read(_MarketEnv, environ, errors))


def _sql_dir(environ: Environ, errors: list[str]) -> Path:
    return _read(_SqlDirEnv, environ, errors).sql_dir or Settings.sql_dir


def _settings(environ: Environ, errors: list[str]) -> Settings:
    env = _read(_SettingsEnv, environ, errors)
    settings = _apply(Settings(), env, exclude=frozenset({"db_connection", "reader_connection"}))
    return replace(settings, dsn=env.dsn or env.db_connection, reader_dsn=env.reader_dsn or env.reader_connection,
                   state_dir=(env.state_dir or Settings.state_dir).resolve(), sql_dir=_sql_dir(environ, errors),
                   market=_market(environ, errors))


def _promotion(environ: Environ, errors: list[str]) -> PromotionConfig:
    return _apply(PromotionConfig(), _read(_PromotionEnv, environ, errors))


def _alerts(environ: Environ, errors: list[str]) -> AlertConfig:
    for name, accepts in _RETIRED.items():
        if (environ.get(name) or "").strip():
            errors.append(f"{name} must be {accepts}, got {environ[name].strip()!r}")
    return _apply(AlertConfig(), _read(_AlertEnv, environ, errors))


def _pipeline(environ: Environ, errors: list[str]) -> PipelineConfig:
    promotion = _promotion(environ, errors)
    config = _apply(PipelineConfig(), _read(_PipelineEnv, environ, errors), promotion=promotion,
                    alerts=_alerts(environ, errors))
    if config.wf_days < 7 * promotion.weeks and not errors:
        errors.append(f"CRYPTOLSTM_WF_DAYS must be >= 7 x CRYPTOLSTM_PROMOTION_WEEKS (= {7 * promotion.weeks}) "
                      f"to cover the comparison weeks, got '{config.wf_days}'")
    return config


# ---- reading one section -----------------------------------------------------------------------------

S = TypeVar("S", bound=_Section)


class _Environ(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping: values stripped, blank ones unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Environ):
        self._environ = environ
        super().__init__(settings_cls, case_sensitive=True)

    def _load_env_vars(self) -> Mapping[str, str]:  # the source's own hook (its dotenv source overrides it too)
        values = {k: v.strip() for k, v in self._environ.items() if isinstance(v, str)}
        return {k: v for k, v in values.items() if v or k in _BLANK_IS_EMPTY}


def _read(section: type[S], environ: Environ, errors: list[str]) -> S:
    """The section's values (None where unset); a bad value is recorded in `errors` and left unset."""
    source = _Environ(section, environ)
    values = source()
    try:
        return section(**values)
    except ValidationError as exc:
        bad = set()
        for err in exc.errors():
            name = err["loc"][0]
            bad.add(name)
            errors.append(_message(section.model_fields, err, source.env_vars[name]))
        return section(**{k: v for k, v in values.items() if k not in bad})


def _message(fields: dict[str, FieldInfo], err: dict, raw: str) -> str:
    name = err["loc"][0]
    if err["type"] == "setting":
        return f"{name} must be {err['ctx']['accepts']}, got {err['ctx'].get('got', raw)!r}"
    field = next(f for f in fields.values() if f.alias == name)
    return f"{name} must be {_accepts(field)}, got {raw!r}"


def _accepts(field: FieldInfo) -> str:
    """What a field accepts, in words: its type and bounds."""
    kind = field.annotation
    while get_origin(kind) in (Union, UnionType, Annotated):
        kind = next(a for a in get_args(kind) if a is not type(None))
    lo = next((m.ge for m in field.metadata if isinstance(m, Ge)), None)
    hi = next((m.le for m in field.metadata if isinstance(m, Le)), None)
    if kind is bool:
        return "1 or 0 (also true/false, yes/no, on/off)"
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(repr(c) for c in get_args(kind))
    if get_origin(kind) is tuple:
        return "a comma-separated list with at least one item"
    words = {int: "an integer", float: "a number"}.get(kind, "a valid value")
    if lo is not None and hi is not None:
        return f"{words} between {lo} and {hi}"
    return words + (f" >= {lo}" if lo is not None else f" <= {hi}" if hi is not None else "")


def _apply(default: T, section: _Section, exclude: frozenset[str] = frozenset(), **nested: Any) -> T:
    """`default` with the section's set values (and the `nested` sections) in place."""
    values = {k: v for k, v in section.model_dump(exclude=exclude).items() if v is not None}
    return replace(default, **values, **nested)

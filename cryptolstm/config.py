"""The one configuration: every constant, every config dataclass and the one settings loader.

Frozen dataclasses with commented defaults. The environment (CRYPTOLSTM_* variables and the Airflow
connections AIRFLOW_CONN_CRYPTOLSTM_DB / _READER) is read here and nowhere else, through the typed
readers of `Env`: a bad value fails with the variable's name and what it accepts, never a bare
`int()` traceback. `validate()` loads every setting once (the CLI calls it before any command).

Nothing here touches the network, the disk or the database, and nothing heavy is imported, so it is
safe at DAG parse time.
"""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Mapping
from urllib.parse import quote, unquote, urlsplit

# ---- constants (each defined once) -----------------------------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COINS = ("BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK")  # the SERVED coins
# Auxiliary coins: ingested and trained on (a wider panel teaches the shared model more), never forecast, scored,
# alerted on or charted. MATIC (2024-09-10) and XMR (2024-02-20) stopped trading on Binance; their history stays.
AUX_COINS = ("ATOM", "AVAX", "BCH", "DOT", "ETC", "MATIC", "SHIB", "TRX", "UNI", "XLM", "XMR")
COIN_ORDER = DEFAULT_COINS + AUX_COINS  # stable embedding ids = position here (= coins.coin_index in SQL)
HORIZONS = 5  # H: forecasts are log(close[t+h] / close[t]) for h = 1..H (the modelling law: 5)
PURGE_DAYS = 5  # days between a fold's last training target and its first scored/early-stopping day
WF_FOLDS = 5  # walk-forward folds of `cryptolstm evaluate` and of the weekly run (one model fit each)
WF_FOLD_DAYS = 120  # scored as-of days per fold
OVERLAP_DAYS = 3  # closed days before an interval re-fetched, re-featured and re-scored (late revisions)
STALE_AFTER_DAYS = 21  # a champion whose training cutoff is older than this still forecasts, but alerts
EXPIRE_AFTER_DAYS = 42  # ... and older than this it no longer forecasts (status 'expired', no rows)
LIVE_ACCURACY_DAYS = 30  # rolling window (target days) of live accuracy: alerts, charts, the page
SHARED_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "binance-1d"  # recorded real candles (read-only)
SHARED_DATA_MORE_DIR = SHARED_DATA_DIR.parent / "binance-1d-more"  # recorded candles of the auxiliary coins
DAILY_DAG_ID = "cryptolstm_daily"
WEEKLY_DAG_ID = "cryptolstm_weekly"
DEFAULT_ALERT_TO = ("cryptolstm-ops@localhost",)  # who gets alert and failure emails
# Scale-out (docs/deploy.md): Celery queues route tasks to workers (the LocalExecutor ignores them); Airflow pools
# cap concurrency across every worker. `services up` and compose's airflow-init create the pools.
DEFAULT_QUEUE = "default"  # Airflow's [operators] default_queue: ingestion and every light task
TRAIN_QUEUE = "train"  # training and forecasting: a GPU or large-memory worker can serve this queue alone
EXCHANGE_POOL = "exchange"  # exchange calls: ccxt's rate limiter works within one process, the pool across workers
TENSORFLOW_POOL = "tensorflow"  # TensorFlow model loads: each such task peaks near 0.9 GB
POOL_SLOTS = {EXCHANGE_POOL: 3, TENSORFLOW_POOL: 2}  # concurrent task slots of each pool


# ---- typed environment readers ------------------------------------------------------------------------

class SettingError(ValueError):
    """One or more settings have values they do not accept (each message names the variable)."""


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class Env:
    """Typed, bounded readers over one environment mapping.

    A reader records a bad value (name, what it accepts, what it got) and returns the default, so one
    pass reports every bad variable; `check()` raises them together as a `SettingError`.
    """

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.errors: list[str] = []

    def raw(self, name: str) -> str | None:
        """The stripped value, None when unset or empty."""
        value = self.environ.get(name)
        return value.strip() if value is not None and value.strip() else None

    def _bad(self, name: str, accepts: str, got: str, default):
        message = f"{name} must be {accepts}, got {got!r}"
        if message not in self.errors:  # a variable read by two sections is reported once
            self.errors.append(message)
        return default

    def str(self, name: str, default: str | None, choices: tuple[str, ...] | None = None) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        if choices is not None and value not in choices:
            return self._bad(name, "one of " + ", ".join(repr(c) for c in choices), value, default)
        return value

    def int(self, name: str, default: int, min: int | None = None, max: int | None = None) -> int:
        return self._number(name, default, int, "an integer", min, max)

    def float(self, name: str, default: float | None, min: float | None = None,
              max: float | None = None) -> float | None:
        return self._number(name, default, float, "a number", min, max)

    def _number(self, name, default, parse, kind: str, lo, hi):
        value = self.raw(name)
        if value is None:
            return default
        accepts = kind + _bounds(lo, hi)
        try:
            number = parse(value)
        except ValueError:
            return self._bad(name, accepts, value, default)
        if not math.isfinite(number) or (lo is not None and number < lo) or (hi is not None and number > hi):
            return self._bad(name, accepts, value, default)
        return number

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        return self._bad(name, "1 or 0 (also true/false, yes/no, on/off)", value, default)

    def list(self, name: str, default: tuple[str, ...], upper: bool = False,
             empty_ok: bool = False) -> tuple[str, ...]:
        """Comma-separated items; with `empty_ok`, a variable set to "" means the empty list."""
        if empty_ok and name in self.environ and not self.environ[name].strip():
            return ()
        value = self.raw(name)
        if value is None:
            return default
        items = tuple((v.strip().upper() if upper else v.strip()) for v in value.split(",") if v.strip())
        return items or self._bad(name, "a comma-separated list with at least one item", value, default)

    def path(self, name: str, default: Path | None) -> Path | None:
        value = self.raw(name)
        return default if value is None else Path(value)

    def port(self, name: str, default: int) -> int:
        return self.int(name, default, min=1, max=65535)

    def conn_dsn(self, name: str) -> str | None:
        """An Airflow connection variable (AIRFLOW_CONN_*, URI or JSON form) as a libpq URI."""
        value = self.raw(name)
        if value is None:
            return None
        try:
            return dsn_from_airflow_conn(value)
        except (ValueError, TypeError, AttributeError) as exc:
            return self._bad(name, f"an Airflow connection URI or JSON ({exc})", value[:40] + "...", None)

    def check(self) -> None:
        if self.errors:
            errors, self.errors = self.errors, []
            raise SettingError("; ".join(errors))


def _bounds(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f" between {lo} and {hi}"
    if lo is not None:
        return f" >= {lo}"
    return f" <= {hi}" if hi is not None else ""


@contextmanager
def reading(environ: "Mapping[str, str] | Env | None") -> Iterator[Env]:
    """An `Env` over `environ`; raises the collected errors on leaving, unless an outer reader owns it."""
    if isinstance(environ, Env):
        yield environ
        return
    env = Env(environ)
    yield env
    env.check()


@dataclass(frozen=True)
class MarketConfig:
    exchange: str = "binance"  # ccxt exchange id
    quote: str = "USDT"  # quote currency shared by every pair
    coins: tuple[str, ...] = DEFAULT_COINS  # SERVED base currencies; order fixes nothing (coin ids live in SQL)
    auxiliary: tuple[str, ...] = AUX_COINS  # training-only coins; training universe = coins + auxiliary
    api_url: str | None = None  # override of the exchange's public REST root, e.g. a local stand-in
    overlap_days: int = OVERLAP_DAYS  # re-fetch this many closed days before the interval (late revisions)
    # A candle whose close is more than this multiple of the previous day's close, or less than its
    # inverse, is quarantined as implausible (rejected_candles), never stored. The largest real daily move
    # of the 20 recorded pairs 2017-2025 is x4.9 (DOGE, 2021-01-28); a misplaced decimal point is x10+.
    max_close_jump: float = 10.0
    level_shift_days: int = 3  # quarantined closes on one new level this many days: called a level shift

    def symbols(self) -> tuple[str, ...]:
        """ccxt unified symbols, e.g. 'BTC/USDT'."""
        return tuple(f"{c}/{self.quote}" for c in self.coins)

    def universe(self) -> tuple[str, ...]:
        """The training universe: served coins first, then the auxiliary ones (ingested and trained on)."""
        return self.coins + tuple(c for c in self.auxiliary if c not in self.coins)

    def universe_symbols(self) -> tuple[str, ...]:
        """ccxt symbols of the whole training universe (what the daily DAG ingests)."""
        return tuple(f"{c}/{self.quote}" for c in self.universe())

    @classmethod
    def from_env(cls, environ: "Mapping[str, str] | Env | None" = None) -> "MarketConfig":
        """Overrides: CRYPTOLSTM_EXCHANGE, _QUOTE, _COINS, _AUX_COINS (comma-separated; AUX "" = none),
        _EXCHANGE_URL, _OVERLAP_DAYS, _MAX_CLOSE_JUMP, _LEVEL_SHIFT_DAYS."""
        with reading(environ) as env:
            return cls(exchange=env.str("CRYPTOLSTM_EXCHANGE", cls.exchange),
                       quote=env.str("CRYPTOLSTM_QUOTE", cls.quote).upper(),
                       coins=env.list("CRYPTOLSTM_COINS", DEFAULT_COINS, upper=True),
                       auxiliary=env.list("CRYPTOLSTM_AUX_COINS", AUX_COINS, upper=True, empty_ok=True),
                       api_url=env.raw("CRYPTOLSTM_EXCHANGE_URL"),
                       overlap_days=env.int("CRYPTOLSTM_OVERLAP_DAYS", cls.overlap_days, min=0, max=365),
                       max_close_jump=env.float("CRYPTOLSTM_MAX_CLOSE_JUMP", cls.max_close_jump, min=1.0),
                       level_shift_days=env.int("CRYPTOLSTM_LEVEL_SHIFT_DAYS", cls.level_shift_days, min=1, max=365))


@dataclass(frozen=True)
class RetryConfig:
    attempts: int = 5  # tries per request, the first included
    base_delay: float = 1.0  # seconds before the 2nd try; doubles per try
    max_delay: float = 30.0  # cap of one pause
    jitter: float = 0.5  # a pause is drawn from [delay * (1 - jitter), delay] so clients spread out
    max_retry_after: float = 60.0  # a 429's Retry-After up to this many seconds is waited; longer fails the coin


@dataclass(frozen=True)
class IngestConfig:
    page_limit: int = 1000  # klines per request; Binance's maximum
    timeout_ms: int = 10_000  # ccxt per-request timeout
    max_pages: int = 100  # safety stop of the since-loop (100k days)
    retry: RetryConfig = field(default_factory=RetryConfig)


@dataclass(frozen=True)
class Settings:
    """Where things are. Every field has an environment override, read in `from_env` only."""

    dsn: str | None = None  # forecasting DB; None -> the embedded server under `state_dir`
    reader_dsn: str | None = None  # read-only role for the Forecasts page; None -> `dsn`
    state_dir: Path = PROJECT_ROOT / ".local"  # git-ignored: embedded pg data, airflow home, logs
    forecast_db: str = "cryptolstm"  # database name on the embedded server
    airflow_db: str = "airflow"  # Airflow metadata database on the embedded server
    api_port: int = 8080  # local Airflow api-server port (bound to 127.0.0.1)
    standin_port: int = 8765  # local exchange stand-in in replay mode
    smtp_port: int = 8025  # local SMTP sink (alert emails land in <state_dir>/mail) when no smtp_default is set
    heartbeat_stale_s: float = 120.0  # a scheduler/dag-processor/triggerer heartbeat this old: the supervisor restarts it
    health_check_s: float = 10.0  # how often the supervisor reads Airflow's health endpoint for those heartbeats
    sql_dir: Path = PROJECT_ROOT / "sql"  # migrations/ and queries/
    market: MarketConfig = field(default_factory=MarketConfig)

    @property
    def pg_dir(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def mail_dir(self) -> Path:
        return self.state_dir / "mail"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @classmethod
    def from_env(cls, environ: "Mapping[str, str] | Env | None" = None) -> "Settings":
        """Overrides: CRYPTOLSTM_DSN (else the Airflow connection AIRFLOW_CONN_CRYPTOLSTM_DB),
        CRYPTOLSTM_READER_DSN (else AIRFLOW_CONN_CRYPTOLSTM_READER), CRYPTOLSTM_STATE_DIR, _SQL_DIR,
        _API_PORT, _SMTP_PORT, _STANDIN_PORT, _HEARTBEAT_STALE_S, _HEALTH_CHECK_S, and the market's
        (`MarketConfig.from_env`)."""
        with reading(environ) as env:
            dsn = env.raw("CRYPTOLSTM_DSN") or env.conn_dsn("AIRFLOW_CONN_CRYPTOLSTM_DB")
            reader = env.raw("CRYPTOLSTM_READER_DSN") or env.conn_dsn("AIRFLOW_CONN_CRYPTOLSTM_READER")
            return cls(
                dsn=dsn,
                reader_dsn=reader,
                state_dir=env.path("CRYPTOLSTM_STATE_DIR", cls.state_dir).resolve(),
                sql_dir=env.path("CRYPTOLSTM_SQL_DIR", cls.sql_dir),
                api_port=env.port("CRYPTOLSTM_API_PORT", cls.api_port),
                smtp_port=env.port("CRYPTOLSTM_SMTP_PORT", cls.smtp_port),
                standin_port=env.port("CRYPTOLSTM_STANDIN_PORT", cls.standin_port),
                heartbeat_stale_s=env.float("CRYPTOLSTM_HEARTBEAT_STALE_S", cls.heartbeat_stale_s, min=1),
                health_check_s=env.float("CRYPTOLSTM_HEALTH_CHECK_S", cls.health_check_s, min=0.1),
                market=MarketConfig.from_env(env),
            )


def sql_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where sql/ is (CRYPTOLSTM_SQL_DIR overrides); read alone so importing storage validates nothing else."""
    with reading(environ) as env:
        return env.path("CRYPTOLSTM_SQL_DIR", Settings.sql_dir)


def dsn_from_airflow_conn(value: str) -> str:
    """Turn an Airflow connection (URI or JSON form, as in AIRFLOW_CONN_*) into a libpq URI.

    A host that starts with '/' is a unix-socket directory (the embedded server) and is
    passed as the `host=` query parameter, which is how libpq spells it.
    """
    value = value.strip()
    if value.startswith("{"):
        c = json.loads(value)
        host, port = c.get("host") or "", c.get("port")
        login, password, schema = c.get("login") or "", c.get("password") or "", c.get("schema") or ""
        extra = c.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
    else:
        u = urlsplit(value)
        host, port = unquote(u.hostname or ""), u.port
        login, password = unquote(u.username or ""), unquote(u.password or "")
        schema = u.path.lstrip("/")
        extra = dict(p.split("=", 1) for p in u.query.split("&") if "=" in p)
        extra = {k: unquote(v) for k, v in extra.items()}
        # `postgres://` (Airflow's conn type) and `postgresql://` are the same thing to libpq.
    return make_dsn(host=host, port=port, user=login, password=password, dbname=schema, **extra)


def make_dsn(*, host: str, dbname: str, user: str = "postgres", password: str = "",
             port: int | None = None, **params: str) -> str:
    """Build a `postgresql://` URI; a socket directory host goes into `?host=`."""
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    query = dict(params)
    if host.startswith("/"):
        query = {"host": host, **query}
        netloc = f"{auth}@"
    else:
        netloc = f"{auth}@{host}" + (f":{port}" if port else "")
    q = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in query.items())
    return f"postgresql://{netloc}/{quote(dbname, safe='')}" + (f"?{q}" if q else "")


@dataclass(frozen=True)
class TrainConfig:
    # data
    window: int = 60  # T: days in one input window (ending at the as-of day, inclusive)
    horizons: int = HORIZONS  # H: the model forecasts log(close[t+h] / close[t]) for h = 1..H
    # model
    arch: str = "lstm"  # "lstm" = the baseline stacked LSTM; "bilstm" / "cnn_lstm" are ablations
    per_coin: bool = False  # True: nine separate per-coin models instead of one shared (ablation)
    lstm_units: tuple[int, int] = (128, 64)  # widths of the two recurrent layers
    dense_units: int = 64  # width of the Dense(relu) layer before the head
    dropout: float = 0.2  # between the two recurrent layers
    embed_dim: int = 4  # size of the coin-id embedding joined to the sequence summary
    # loss: Huber on scaled returns + dir_lambda * relu(-d * yhat), d = y ("product") or sign(y) ("sign");
    # dir_lambda = 0 is plain Huber (see losses.py for why the two forms differ)
    huber_delta: float = 1.0  # in robust target-scale units (why not 0.1: docs/evaluation.md, "Round 2 withdrawn")
    dir_lambda: float = 0.5  # weight of the wrong-sign term (0 = plain Huber ablation)
    dir_term: str = "product"  # "product": cost ~ |y| * |yhat|; "sign": cost ~ |yhat|, every cell's direction counts alike
    input_clip: float = 6.0  # scaled inputs are clipped to +-input_clip robust units (one crash day cannot dominate)
    target_scaling: str = "robust"  # "robust": y_h / s_h (s_h = robust scale of horizon h on the training fold);
    #                                 "vol": y_h / (rv_30_t * sqrt(h)) first, rv_30 known at t: calm and wild
    #                                 periods count alike; the output is scaled back by the same per-cell factor
    sign_head: float = 0.0  # weight of a second head's logistic loss on sign(y) (0 = none); the stored
    #                         forecast stays the log-return head's
    horizon_weights: tuple[float, ...] | None = None  # per-horizon loss weights; None = equal
    # optimisation
    learning_rate: float = 1e-3  # Adam
    batch_size: int = 512  # cells per gradient step
    max_epochs: int = 20  # upper bound; early stopping usually ends sooner
    patience: int = 1  # epochs without early-stopping-loss improvement before stopping (docs/evaluation.md, "Speed")
    es_fraction: float = 0.1  # share of the training fold's as-of days, at its END, used for early stopping
    purge: int = PURGE_DAYS  # days between the last fitting target and the first early-stopping day
    seed: int = 0  # seeds Keras/TF/NumPy and the within-fold batch order
    n_seeds: int = 1  # ensemble size: members differ only by seed; predictions are averaged
    refit_all: bool = False  # True: after early stopping picks the epoch count, retrain from the same seed on
    #                          fit + early-stopping cells for that many epochs (the freshest ~10 % is learnt too)
    verbose: int = 0  # Keras fit verbosity

    @classmethod
    def tiny(cls, **overrides) -> "TrainConfig":
        """A seconds-long configuration for tests and CI. Widths 16/8/16, not 8/4/8: the narrower net's
        sign ignored its input at some horizon (the promotion gate's constant-sign guard rejects such a
        model, and the tests that expect a promotion must get one honestly)."""
        base = cls(window=10, lstm_units=(16, 8), dense_units=16, embed_dim=2, batch_size=256,
                   max_epochs=2, patience=1)
        return replace(base, **overrides)


NAIVE_BASELINES = ("random_walk", "always_up", "momentum_1", "momentum_3", "momentum_7",
                   "reversal_1", "reversal_3", "reversal_7")  # the rules a first model must not fall below


@dataclass(frozen=True)
class PromotionConfig:
    margin: float = 0.0  # challenger DA must exceed champion DA + margin (0.01 = one percentage point)
    alpha: float = 0.05  # ... with one-sided day-block bootstrap p = P*(DA diff <= margin) below alpha
    min_cells: int = 90  # fewer common out-of-sample cells than this -> not enough evidence, keep the champion
    weeks: int = 4  # the daily runs of the last K weeks must be finished before deciding (backfills)
    first_model_baselines: tuple[str, ...] = NAIVE_BASELINES  # the first model's DA must be >= each of these
    first_model_margin: float = 0.0  # ... + this margin
    first_model_min_lower: float = 0.5  # lower end of its DA's 95 % day-block bootstrap interval must be above
    block_days: int = 10  # day-block length of the gate's bootstraps (as in the evaluate report)
    n_boot: int = 2000  # bootstrap draws
    seed: int = 0  # fixed: the same cells give the same interval and p on every rerun

    @classmethod
    def from_env(cls, environ: "Mapping[str, str] | Env | None" = None) -> "PromotionConfig":
        """Overrides: CRYPTOLSTM_PROMOTION_MARGIN, _ALPHA, _MIN_CELLS, _WEEKS, _FIRST_MARGIN, _FIRST_MIN_LOWER."""
        p = "CRYPTOLSTM_PROMOTION_"
        with reading(environ) as env:
            return cls(margin=env.float(p + "MARGIN", cls.margin, min=-1.0, max=1.0),
                       alpha=env.float(p + "ALPHA", cls.alpha, min=1e-9, max=0.999999),
                       min_cells=env.int(p + "MIN_CELLS", cls.min_cells, min=1),
                       weeks=env.int(p + "WEEKS", cls.weeks, min=1, max=52),
                       first_model_margin=env.float(p + "FIRST_MARGIN", cls.first_model_margin, min=-1.0, max=1.0),
                       first_model_min_lower=env.float(p + "FIRST_MIN_LOWER", cls.first_model_min_lower,
                                                       min=0.0, max=1.0))


@dataclass(frozen=True)
class AlertConfig:
    window_days: int = LIVE_ACCURACY_DAYS  # rolling window of matured forecasts (by target day) for live DA
    min_da: float = 0.50  # fire when live DA is below this ...
    below_validation_pp: float | None = None  # ... or, if set, below the champion's validation DA minus this many points
    min_cells: int = 450  # fewer scored cells in the window (10 days x 45): not enough evidence, keep the state
    block_days: int = 5  # day blocks of the live DA interval (5: the overlapping horizons stay in one block)
    stale_after_days: int = STALE_AFTER_DAYS  # champion trained on data older than this (days since its cutoff)
    expire_after_days: int = EXPIRE_AFTER_DAYS  # ... older than this: it no longer forecasts, `expired` fires
    coverage_window_days: int = 60  # fully matured as-of days of the 80 % range coverage check
    coverage_low: float = 0.70  # fire when the 80 % ranges' coverage leaves [low, high]
    coverage_high: float = 0.90
    coverage_min_cells: int = 450  # fewer matured cells with a range: keep the previous state
    recipients: tuple[str, ...] = DEFAULT_ALERT_TO  # who gets the alert emails

    @classmethod
    def from_env(cls, environ: "Mapping[str, str] | Env | None" = None) -> "AlertConfig":
        """Overrides: CRYPTOLSTM_ALERT_WINDOW_DAYS, _MIN_DA, _BELOW_VALIDATION_PP, _MIN_CELLS, _STALE_DAYS,
        _EXPIRE_DAYS, _BLOCK_DAYS, _TO (CRYPTOLSTM_STALE_DAYS applies when CRYPTOLSTM_ALERT_STALE_DAYS is not set)."""
        p = "CRYPTOLSTM_ALERT_"
        with reading(environ) as env:
            stale = env.int("CRYPTOLSTM_STALE_DAYS", cls.stale_after_days, min=0)
            return cls(window_days=env.int(p + "WINDOW_DAYS", cls.window_days, min=1),
                       min_da=env.float(p + "MIN_DA", cls.min_da, min=0.0, max=1.0),
                       below_validation_pp=env.float(p + "BELOW_VALIDATION_PP", None, min=0.0, max=100.0),
                       min_cells=env.int(p + "MIN_CELLS", cls.min_cells, min=1),
                       block_days=env.int(p + "BLOCK_DAYS", cls.block_days, min=1),
                       stale_after_days=env.int(p + "STALE_DAYS", stale, min=0),
                       expire_after_days=env.int(p + "EXPIRE_DAYS", cls.expire_after_days, min=1),
                       recipients=env.list(p + "TO", cls.recipients))


@dataclass(frozen=True)
class ChartConfig:
    history_days: int = 90  # days of closes drawn before the as-of day
    lookback_days: int = 180  # matured forecasts (by target day) used for live accuracy (ranges are stored)
    accuracy_window: int = LIVE_ACCURACY_DAYS  # days in the rolling live-accuracy window


@dataclass(frozen=True)
class PipelineConfig:
    train_profile: str = "full"  # "full": TrainConfig() (production); "tiny": TrainConfig.tiny() (tests, CI)
    wf_folds: int = WF_FOLDS  # walk-forward folds of the weekly run (one model fit each): the evaluate computation
    wf_days: int = WF_FOLDS * WF_FOLD_DAYS  # as-of days they score in all (as `cryptolstm evaluate`); tests use less
    stale_after_days: int = STALE_AFTER_DAYS  # a champion older than this (days since cutoff) forecasts but alerts
    charts_dir: Path | None = None  # where render_charts writes PNGs; None: <state_dir>/charts
    provisional: bool = True  # no champion yet: the newest model trained before the day forecasts it, labelled
    #                           provisional (False: such days get no forecast, only the no_champion alert)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)

    @classmethod
    def from_env(cls, environ: "Mapping[str, str] | Env | None" = None) -> "PipelineConfig":
        """Overrides: CRYPTOLSTM_TRAIN_PROFILE, CRYPTOLSTM_WF_FOLDS, CRYPTOLSTM_WF_DAYS,
        CRYPTOLSTM_STALE_DAYS, CRYPTOLSTM_CHARTS_DIR, CRYPTOLSTM_PROVISIONAL (1/0), CRYPTOLSTM_PROMOTION_*,
        CRYPTOLSTM_ALERT_*."""
        with reading(environ) as env:
            promotion = PromotionConfig.from_env(env)
            wf_days = env.int("CRYPTOLSTM_WF_DAYS", cls.wf_days, min=1)
            if wf_days < 7 * promotion.weeks and not env.errors:
                env.errors.append(f"CRYPTOLSTM_WF_DAYS must be >= 7 x CRYPTOLSTM_PROMOTION_WEEKS "
                                  f"(= {7 * promotion.weeks}) to cover the comparison weeks, got '{wf_days}'")
            return cls(train_profile=env.str("CRYPTOLSTM_TRAIN_PROFILE", cls.train_profile, choices=("full", "tiny")),
                       wf_folds=env.int("CRYPTOLSTM_WF_FOLDS", cls.wf_folds, min=1),
                       wf_days=wf_days,
                       stale_after_days=env.int("CRYPTOLSTM_STALE_DAYS", cls.stale_after_days, min=0),
                       charts_dir=env.path("CRYPTOLSTM_CHARTS_DIR", None),
                       provisional=env.bool("CRYPTOLSTM_PROVISIONAL", cls.provisional),
                       promotion=promotion, alerts=AlertConfig.from_env(env))

    def train_config(self) -> TrainConfig:
        return TrainConfig.tiny() if self.train_profile == "tiny" else TrainConfig()


def validate(environ: Mapping[str, str] | None = None) -> tuple[Settings, PipelineConfig]:
    """Load every setting once; raise one `SettingError` naming every bad variable."""
    with reading(environ) as env:
        return Settings.from_env(env), PipelineConfig.from_env(env)


LEVELS = (0.80, 0.95)  # nominal coverages of the forecast ranges


@dataclass(frozen=True)
class IntervalConfig:
    levels: tuple[float, ...] = LEVELS  # nominal coverages of the stored ranges
    calib_days: int = 365  # residuals with an as-of day in the last calib_days before t (and target day < t)
    min_coin_cells: int = 60  # fewer residuals of one coin for a horizon: pool every coin's for it
    vol_power: float = 0.5  # scale s = vol_t ** vol_power (0: fixed width). 0.5, selected on the inner period
    #                         2021-06 .. 2023-06: full vol-scaling (1) covers closest to nominal but has a WORSE
    #                         interval score than fixed width; sqrt(vol) has the best (docs/ranges.md)
    vol_days: int = 20  # vol_t = std of the last vol_days daily log returns up to t

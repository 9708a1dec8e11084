"""The one configuration: every constant and every config dataclass, with commented defaults.

Frozen dataclasses: model bundles store `TrainConfig`, and a loaded config cannot drift. Nothing here
reads the environment: `cryptolstm.environment` does, once, at the entry points, and builds these
dataclasses from it. Nothing here touches the network, the disk or the database, and nothing heavy is
imported, so it is safe at DAG parse time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

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
# Every Forecasts page query is cancelled after this (its milliseconds-long queries must never hold the
# database). Set on the page's own connection, so it holds whatever the reader role's default is (docs/deploy.md).
PAGE_STATEMENT_TIMEOUT = "10s"
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
    """Where things are; `cryptolstm.environment.load_settings` reads their overrides."""

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


@dataclass(frozen=True)
class TrainConfig:
    # data
    window: int = 30  # T: days in one input window (ending at the as-of day, inclusive); 30: round 7 (docs/evaluation.md)
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
    # what the forecast serves (issue 28, evaluation/combination.py): "none" = the ensemble's mean; "blend_equal" /
    # "stacked" = the ensemble combined with the rules' and the logistic classifier's signals (the weights, scales
    # and classifier are fitted by the weekly gather and stored in the bundle). blend_equal: round 9
    # (docs/evaluation.md), the only candidate above the control with MAE/RW < 1 on the inner folds
    combination: str = "blend_equal"
    highway: bool = False  # True: add a linear path Dense(H) from the window's last day (scaled features + coin
    #                        embedding) to the head's output, trained end to end with it (LSTNet's "highway",
    #                        issue 28's lstm_highway): a linear reversal need not be learnt through the gates
    # optimisation
    learning_rate: float = 1e-3  # Adam
    batch_size: int = 512  # cells per gradient step
    train_stride: int = 1  # every k-th as-of day is a fitting cell (2: every other day; neighbours' windows overlap)
    es_batch_size: int = 32  # cells per early-stopping evaluation batch (32: Keras's default evaluation batch)
    max_epochs: int = 20  # upper bound; early stopping usually ends sooner
    patience: int = 1  # epochs without early-stopping-loss improvement before stopping (docs/evaluation.md, "Speed")
    es_fraction: float = 0.1  # share of the training fold's as-of days, at its END, used for early stopping
    purge: int = PURGE_DAYS  # days between the last fitting target and the first early-stopping day
    seed: int = 0  # seeds Keras/TF/NumPy and the within-fold batch order
    n_seeds: int = 5  # K, the ensemble size: members differ only by seed (member_seed); predictions are averaged.
    #                   5: round 6 (docs/evaluation.md), the smallest worst-seed risk on the inner folds; round 7
    #                   kept it with window 30 (the cheapest member configuration near the best worst draw)
    refit_all: bool = False  # True: after early stopping picks the epoch count, retrain from the same seed on
    #                          fit + early-stopping cells for that many epochs (the freshest ~10 % is learnt too)
    verbose: int = 0  # Keras fit verbosity

    def member_seed(self, i: int) -> int:
        """The seed of ensemble member i (members differ only by it)."""
        return self.seed + 1000 * i

    @classmethod
    def tiny(cls, **overrides) -> "TrainConfig":
        """A seconds-long configuration for tests and CI, one member and the bare ensemble mean (tests ask for
        an ensemble or a combination by name, e.g. CRYPTOLSTM_ENSEMBLE_MEMBERS=2, CRYPTOLSTM_COMBINATION=blend_equal). Widths 16/8/16, not 8/4/8: the narrower net's
        sign ignored its input at some horizon (the promotion gate's constant-sign guard rejects such a
        model, and the tests that expect a promotion must get one honestly)."""
        base = cls(window=10, lstm_units=(16, 8), dense_units=16, embed_dim=2, batch_size=256,
                   max_epochs=2, patience=1, n_seeds=1, combination="none")
        return replace(base, **overrides)

    def with_settings(self, assignments) -> "TrainConfig":
        """This config with `KEY=VALUE` strings applied (a round's candidate on the command line: `window=30`,
        `lstm_units=64,32`); each value is read as its field's type, and an unknown key is an error."""
        changes = {}
        for a in assignments:
            key, sep, raw = a.partition("=")
            key, raw = key.strip(), raw.strip()
            if not sep or key not in self.__dataclass_fields__:
                raise ValueError(f"{a!r}: expected KEY=VALUE with KEY a TrainConfig field")
            current = getattr(self, key)
            try:
                if isinstance(current, bool):
                    value = {"true": True, "false": False, "1": True, "0": False}[raw.lower()]
                elif isinstance(current, tuple) or (current is None and key == "horizon_weights"):
                    kind = type(current[0]) if current else float
                    value = tuple(kind(x) for x in raw.split(","))
                elif current is None:
                    raise ValueError(f"{key} has no type to read {raw!r} as")
                else:
                    value = type(current)(raw)
            except (KeyError, ValueError) as e:
                raise ValueError(f"{a!r}: {raw!r} is not a {type(current).__name__}") from e
            changes[key] = value
        return replace(self, **changes)


COMBINATIONS = ("none", "blend_equal", "stacked")  # the values of TrainConfig.combination


@dataclass(frozen=True)
class CombinationConfig:
    """Issue 28's combinations of the LSTM ensemble with the rules' and the classifier's signals
    (evaluation/combination.py)."""

    # stacked weights: ridge penalty per fitted row, on signals of unit training-period scale (0.01 barely
    # shrinks 5 weights fitted on thousands of rows; it keeps them finite when two signals are collinear)
    ridge: float = 0.01
    tie: float = 0.003  # the pick: a cheaper candidate whose inner DA is within this of the best one wins


@dataclass(frozen=True)
class TierConfig:
    """Issue 26's confidence tiers (evaluation/tiers.py): which score ranks a forecast, and where the cuts lie.
    Fixed by round 8 on the inner folds (docs/evaluation.md)."""

    # what ranks a cell, one of tiers.SCORES: "combined" = (pct |ensemble mean| + members_agree + agreement in sign
    # with the best rule) / 3, round 8's pick on the inner folds (the highest lower interval end of the high tier)
    score: str = "combined"
    high_share: float = 0.33  # the top share of the score's percentile is tier "high" (round 8's pick)
    low_share: float = 1 / 3  # the bottom share is tier "low"; the rest "medium"
    grid: int = 201  # quantiles per horizon of the model's walk-forward reference stored with it (0.5 % steps)


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


@dataclass(frozen=True)
class AlertConfig:
    window_days: int = LIVE_ACCURACY_DAYS  # rolling window of matured forecasts (by target day) for live DA
    min_da: float = 0.50  # fire when live DA is below this ...
    below_validation_pp: float | None = None  # ... or, if set, below the champion's validation DA minus this many points
    min_cells: int = 450  # fewer scored cells in the window (10 days x 45): not enough evidence, keep the state
    block_days: int = 5  # day blocks of the live DA interval (5: the overlapping horizons stay in one block)
    # the one stale limit (CRYPTOLSTM_STALE_DAYS): a champion whose training cutoff is older than this many days
    # still forecasts, its forecasts labelled stale, and the stale_champion alert fires
    stale_after_days: int = STALE_AFTER_DAYS
    expire_after_days: int = EXPIRE_AFTER_DAYS  # ... older than this: it no longer forecasts, `expired` fires
    # issue 26: fewer scored high-tier cells in the window: not enough evidence, keep the state (about a third of
    # min_cells: the high tier is the top high_share of the cells)
    high_tier_min_cells: int = 150
    coverage_window_days: int = 60  # fully matured as-of days of the 80 % range coverage check
    coverage_low: float = 0.70  # fire when the 80 % ranges' coverage leaves [low, high]
    coverage_high: float = 0.90
    coverage_min_cells: int = 450  # fewer matured cells with a range: keep the previous state
    coverage_alpha: float = 0.01  # level of the h = 1 misses' clustering test (checked daily on overlapping windows)
    drift_majority: float = 0.5  # input_drift fires when more than this share of the day's assessed coins is flagged
    recipients: tuple[str, ...] = DEFAULT_ALERT_TO  # who gets the alert emails


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
    charts_dir: Path | None = None  # where render_charts writes PNGs; None: <state_dir>/charts
    provisional: bool = True  # no champion yet: the newest model trained before the day forecasts it, labelled
    #                           provisional (False: such days get no forecast, only the no_champion alert)
    ensemble_members: int | None = None  # K seed-ensemble members of the weekly model; None: the profile's n_seeds
    combination: str | None = None  # what the weekly model serves (COMBINATIONS); None: the profile's (none)
    # A weekly model's pieces (member_weights, member_predictions: ~135,000 rows a week at K = 5, the fold
    # baselines and the preparation) are kept until it is registered and this many weeks after, then the weekly gather deletes them: the
    # registered model holds their mean and its K-member bundle. 0: deleted as soon as the model is registered.
    member_retention_weeks: int = 4
    # how often a waiting sensor (daily wait_for_weekly, weekly wait_for_daily) looks again. Each look is a task
    # start (reschedule mode), and a week's training takes many minutes: once a minute costs nothing here.
    # Tests that wait on a training of seconds set it low (CRYPTOLSTM_SENSOR_POKE_S)
    sensor_poke_s: float = 60.0
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    tiers: TierConfig = field(default_factory=TierConfig)  # issue 26: the confidence tiers a weekly model stores

    def train_config(self) -> TrainConfig:
        """The profile's TrainConfig, with `ensemble_members` as its n_seeds and `combination` when set."""
        tc = TrainConfig.tiny() if self.train_profile == "tiny" else TrainConfig()
        tc = tc if self.ensemble_members is None else replace(tc, n_seeds=self.ensemble_members)
        return tc if self.combination is None else replace(tc, combination=self.combination)


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
    corrections: tuple[str, ...] = ("aci_0.02", "qt")  # the online coverage correction per level of `levels`
    #   (evaluation/coverage.py: none, aci_0.005, aci_0.01, aci_0.02, qt), fed by the served ranges' misses matured
    #   before the day. Picked per level on the inner period by issue 26's pre-registered rule (docs/ranges.md):
    #   80 %: ACI gamma 0.02 (worst-horizon gap 3.9 -> 0.3 pp, Winkler +1.5 %); 95 %: quantile tracking (1.3 -> 0.2
    #   pp, +1.2 %). ("none", "none") serves today's uncorrected ranges.

"""Configuration: frozen dataclasses with commented defaults; environment overrides read in ONE place.

Nothing here touches the network, the disk or the database: `Settings.from_env()` only reads
`os.environ` (and computes paths), so it is safe at DAG parse time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COINS = ("BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK")  # the SERVED coins
# Auxiliary coins: ingested and trained on (a wider panel teaches the shared model more), never forecast, scored,
# alerted on or charted. MATIC (2024-09-10) and XMR (2024-02-20) stopped trading on Binance; their history stays.
AUX_COINS = ("ATOM", "AVAX", "BCH", "DOT", "ETC", "MATIC", "SHIB", "TRX", "UNI", "XLM", "XMR")
COIN_ORDER = DEFAULT_COINS + AUX_COINS  # stable embedding ids = position here (= coins.coin_index in SQL)


@dataclass(frozen=True)
class MarketConfig:
    exchange: str = "binance"  # ccxt exchange id
    quote: str = "USDT"  # quote currency shared by every pair
    coins: tuple[str, ...] = DEFAULT_COINS  # SERVED base currencies; order fixes nothing (coin ids live in SQL)
    auxiliary: tuple[str, ...] = AUX_COINS  # training-only coins; training universe = coins + auxiliary
    api_url: str | None = None  # override of the exchange's public REST root, e.g. a local stand-in
    overlap_days: int = 3  # re-fetch this many closed days before the interval to pick up late revisions
    # A candle whose close is more than this multiple of the previous day's close, or less than its
    # inverse, is quarantined as implausible (rejected_candles), never stored. The largest real daily move
    # of the 20 recorded pairs 2017-2025 is x4.9 (DOGE, 2021-01-28); a misplaced decimal point is x10+.
    max_close_jump: float = 10.0

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
class Settings:
    """Where things are. Every field has an environment override, read in `from_env` only."""

    dsn: str | None = None  # forecasting DB; None -> the embedded server under `state_dir`
    state_dir: Path = PROJECT_ROOT / ".local"  # git-ignored: embedded pg data, airflow home, logs
    forecast_db: str = "cryptolstm"  # database name on the embedded server
    airflow_db: str = "airflow"  # Airflow metadata database on the embedded server
    api_port: int = 8080  # local Airflow api-server port (bound to 127.0.0.1)
    standin_port: int = 8765  # local exchange stand-in in replay mode
    smtp_port: int = 8025  # local SMTP sink (alert emails land in <state_dir>/mail) when no smtp_default is set
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
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        market = MarketConfig(
            exchange=env.get("CRYPTOLSTM_EXCHANGE", MarketConfig.exchange),
            quote=env.get("CRYPTOLSTM_QUOTE", MarketConfig.quote),
            coins=tuple(c.strip().upper() for c in env["CRYPTOLSTM_COINS"].split(",") if c.strip())
            if env.get("CRYPTOLSTM_COINS")
            else DEFAULT_COINS,
            auxiliary=tuple(c.strip().upper() for c in env["CRYPTOLSTM_AUX_COINS"].split(",") if c.strip())
            if "CRYPTOLSTM_AUX_COINS" in env else AUX_COINS,  # "" = no auxiliary coins
            api_url=env.get("CRYPTOLSTM_EXCHANGE_URL") or None,
            overlap_days=int(env.get("CRYPTOLSTM_OVERLAP_DAYS", MarketConfig.overlap_days)),
        )
        dsn = env.get("CRYPTOLSTM_DSN") or None
        if dsn is None and env.get("AIRFLOW_CONN_CRYPTOLSTM_DB"):
            dsn = dsn_from_airflow_conn(env["AIRFLOW_CONN_CRYPTOLSTM_DB"])
        return cls(
            dsn=dsn,
            state_dir=Path(env.get("CRYPTOLSTM_STATE_DIR", str(cls.state_dir))).resolve(),
            api_port=int(env.get("CRYPTOLSTM_API_PORT", cls.api_port)),
            smtp_port=int(env.get("CRYPTOLSTM_SMTP_PORT", cls.smtp_port)),
            standin_port=int(env.get("CRYPTOLSTM_STANDIN_PORT", cls.standin_port)),
            market=market,
        )


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
    horizons: int = 5  # H: the model forecasts log(close[t+h] / close[t]) for h = 1..H (the law: 5)
    # model
    arch: str = "lstm"  # "lstm" = the baseline stacked LSTM; "bilstm" / "cnn_lstm" are ablations
    per_coin: bool = False  # True: nine separate per-coin models instead of one shared (ablation)
    lstm_units: tuple[int, int] = (128, 64)  # widths of the two recurrent layers
    dense_units: int = 64  # width of the Dense(relu) layer before the head
    dropout: float = 0.2  # between the two recurrent layers
    embed_dim: int = 4  # size of the coin-id embedding joined to the sequence summary
    # loss: Huber on scaled returns + dir_lambda * relu(-d * yhat), d = y ("product") or sign(y) ("sign");
    # dir_lambda = 0 is plain Huber (see losses.py for why the two forms differ)
    huber_delta: float = 1.0  # in robust target-scale units. Not 0.1: that fits the median, which is ~0, and the
    #                           model's sign then ignores its input (docs/evaluation.md, round 2 withdrawn)
    dir_lambda: float = 0.5  # weight of the wrong-sign term (0 = plain Huber ablation)
    dir_term: str = "product"  # "product": cost ~ |y| * |yhat|; "sign": cost ~ |yhat|, every cell's direction counts alike
    input_clip: float = 6.0  # scaled inputs are clipped to +-input_clip robust units (one crash day cannot dominate)
    horizon_weights: tuple[float, ...] | None = None  # per-horizon loss weights; None = equal
    # optimisation
    learning_rate: float = 1e-3  # Adam
    batch_size: int = 512  # 512: ~20 % faster per epoch than 256 on this CPU, same quality
    max_epochs: int = 20  # upper bound; early stopping usually ends sooner
    patience: int = 1  # epochs without early-stopping-loss improvement before stopping; 1, not 3: on the
    #                    5 walk-forward folds the best epoch was 1-2 and epochs 3+ never improved, so 3 only
    #                    burnt ~2 epochs per fit (same restored weights, ~40 % less time; docs/evaluation.md)
    es_fraction: float = 0.1  # share of the training fold's as-of days, at its END, used for early stopping
    purge: int = 5  # days between the last fitting target and the first early-stopping day
    seed: int = 0  # seeds Keras/TF/NumPy and the within-fold batch order
    n_seeds: int = 1  # ensemble size: members differ only by seed; predictions are averaged
    refit_all: bool = False  # True: after early stopping picks the epoch count, retrain from the same seed on
    #                          fit + early-stopping cells for that many epochs (the freshest ~10 % is learnt too)
    verbose: int = 0  # Keras fit verbosity

    @classmethod
    def tiny(cls, **overrides) -> "TrainConfig":
        """A seconds-long configuration for tests and CI."""
        base = cls(window=10, lstm_units=(8, 4), dense_units=8, embed_dim=2, batch_size=256,
                   max_epochs=2, patience=1)
        return replace(base, **overrides)

-- 001: core tables of the forecasting database.
-- Every table has a natural key so that every write is an idempotent UPSERT
-- (INSERT ... ON CONFLICT (key) DO UPDATE). Timestamps that identify a write come from the
-- Airflow data interval, never from now(), so a rerun of the same interval writes identical rows.
-- Days are UTC calendar days (type date); instants are timestamptz, stored and shown in UTC.

-- Sessions of this database see UTC whatever the server default is (the runner also sets it per connection).
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(), 'UTC'); END $$;

CREATE TABLE coins (
    coin        text PRIMARY KEY,                 -- base currency, e.g. 'BTC'
    symbol      text NOT NULL UNIQUE,             -- ccxt unified symbol, e.g. 'BTC/USDT'
    exchange    text NOT NULL DEFAULT 'binance',  -- ccxt exchange id
    coin_index  smallint NOT NULL UNIQUE CHECK (coin_index >= 0)  -- stable id for the model's embedding
);

-- One closed daily candle per coin and UTC day. `revision` counts changes the exchange made to a
-- candle after we first stored it; `revised_in` is the data interval end of the run that last changed it.
CREATE TABLE candles (
    coin        text NOT NULL REFERENCES coins(coin),
    day         date NOT NULL,                    -- UTC day the candle opened
    open        double precision NOT NULL CHECK (open > 0),
    high        double precision NOT NULL CHECK (high > 0),
    low         double precision NOT NULL CHECK (low > 0),
    close       double precision NOT NULL CHECK (close > 0),
    volume      double precision NOT NULL CHECK (volume >= 0),
    first_seen_in timestamptz NOT NULL,           -- data interval end of the run that first stored it
    revised_in  timestamptz,                      -- data interval end of the run that last revised it
    revision    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (coin, day),
    CHECK (low <= open AND low <= close AND open <= high AND close <= high)
);

-- Rows the exchange sent that failed validation: kept with the raw payload and the reason.
CREATE TABLE rejected_candles (
    coin            text NOT NULL,
    interval_start  timestamptz NOT NULL,
    interval_end    timestamptz NOT NULL,
    raw_sha256      text NOT NULL,                -- digest of `raw`, part of the key so reruns do not duplicate
    reason          text NOT NULL,
    day             date,                         -- the candle's day when it could be parsed
    raw             jsonb NOT NULL,
    PRIMARY KEY (coin, interval_start, interval_end, raw_sha256, reason)
);

-- One row per coin and ingested interval: what was asked, what came back, what is missing.
CREATE TABLE ingest_runs (
    coin            text NOT NULL,
    interval_start  timestamptz NOT NULL,
    interval_end    timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN ('ok', 'partial', 'failed')),
    requests        integer NOT NULL DEFAULT 0,
    fetched         integer NOT NULL DEFAULT 0,
    stored          integer NOT NULL DEFAULT 0,
    revised         integer NOT NULL DEFAULT 0,
    rejected        integer NOT NULL DEFAULT 0,
    missing_days    date[] NOT NULL DEFAULT '{}',  -- gaps inside the interval, asked for again next run
    error           text,
    PRIMARY KEY (coin, interval_start, interval_end)
);

-- Model inputs per coin and day, computed from candles <= day only.
CREATE TABLE features (
    coin            text NOT NULL REFERENCES coins(coin),
    day             date NOT NULL,
    feature_version text NOT NULL,
    values          jsonb NOT NULL,               -- {feature name: value}
    PRIMARY KEY (coin, day, feature_version)
);

-- Model registry. The artifact is the Keras model + scaler bundle; its sha256 is verified on load.
CREATE TABLE models (
    model_id        text PRIMARY KEY,
    created_for     timestamptz NOT NULL,         -- data interval end of the training run (not now())
    training_cutoff date NOT NULL,                -- last as-of day whose 5-day target was trained on ends <= cutoff
    feature_version text NOT NULL,
    hyperparams     jsonb NOT NULL,
    code_version    text NOT NULL,
    metrics         jsonb NOT NULL DEFAULT '{}',  -- walk-forward metrics
    artifact        bytea NOT NULL,
    artifact_sha256 text NOT NULL,
    status          text NOT NULL DEFAULT 'candidate'
                    CHECK (status IN ('candidate', 'champion', 'retired', 'rejected')),
    champion_from   date,                         -- first as-of day it may serve as champion
    champion_until  date                          -- first as-of day it no longer serves (NULL: still champion)
);

-- 5-day forecasts: one row per (coin, as-of day, horizon, model).
CREATE TABLE forecasts (
    coin            text NOT NULL REFERENCES coins(coin),
    as_of           date NOT NULL,                -- last closed day the forecast used
    horizon         smallint NOT NULL CHECK (horizon BETWEEN 1 AND 5),
    model_id        text NOT NULL REFERENCES models(model_id),
    target_day      date NOT NULL,                -- as_of + horizon
    base_close      double precision NOT NULL,    -- close[as_of]
    pred_log_return double precision NOT NULL,    -- predicted log(close[as_of+h] / close[as_of])
    pred_close      double precision NOT NULL,    -- base_close * exp(pred_log_return)
    run_id          text NOT NULL,
    PRIMARY KEY (coin, as_of, horizon, model_id),
    CHECK (target_day = as_of + horizon)
);

-- Realised outcome of each matured forecast, written by the daily scoring step.
CREATE TABLE forecast_scores (
    coin            text NOT NULL,
    as_of           date NOT NULL,
    horizon         smallint NOT NULL,
    model_id        text NOT NULL,
    realised_log_return double precision NOT NULL,
    realised_close  double precision NOT NULL,
    direction_hit   boolean,                      -- NULL when the realised return is exactly 0
    abs_error       double precision NOT NULL,
    PRIMARY KEY (coin, as_of, horizon, model_id),
    FOREIGN KEY (coin, as_of, horizon, model_id) REFERENCES forecasts ON DELETE CASCADE
);

-- Every promotion decision of the weekly DAG, promoted or not.
CREATE TABLE promotion_decisions (
    decided_for     timestamptz NOT NULL,         -- data interval end of the weekly run
    challenger_id   text NOT NULL REFERENCES models(model_id),
    champion_id     text REFERENCES models(model_id),
    promoted        boolean NOT NULL,
    challenger_da   double precision,
    champion_da     double precision,
    n_cells         integer NOT NULL DEFAULT 0,
    p_value         double precision,
    reason          text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (decided_for, challenger_id)
);

-- Alert state changes (an email is sent once per change, not every day).
CREATE TABLE alerts (
    kind            text NOT NULL,                -- e.g. 'live_accuracy', 'stale_champion'
    as_of           date NOT NULL,
    state           text NOT NULL CHECK (state IN ('ok', 'firing')),
    message         text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}',
    emailed         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (kind, as_of)
);

INSERT INTO coins (coin, symbol, exchange, coin_index) VALUES
    ('BTC', 'BTC/USDT', 'binance', 0), ('ETH', 'ETH/USDT', 'binance', 1), ('BNB', 'BNB/USDT', 'binance', 2),
    ('XRP', 'XRP/USDT', 'binance', 3), ('ADA', 'ADA/USDT', 'binance', 4), ('SOL', 'SOL/USDT', 'binance', 5),
    ('DOGE', 'DOGE/USDT', 'binance', 6), ('LTC', 'LTC/USDT', 'binance', 7), ('LINK', 'LINK/USDT', 'binance', 8)
ON CONFLICT (coin) DO NOTHING;

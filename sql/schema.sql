-- The schema `cryptolstm db migrate` builds (normalised pg_dump --schema-only of a fresh database).
-- Generated, do not edit: regenerate with `.venv/bin/cryptolstm db schema > sql/schema.sql`.

CREATE FUNCTION public.candles_keep_history() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF (OLD.open, OLD.high, OLD.low, OLD.close, OLD.volume)
       IS NOT DISTINCT FROM (NEW.open, NEW.high, NEW.low, NEW.close, NEW.volume) THEN
        RETURN NEW;
    END IF;
    INSERT INTO candle_history (coin, day, revision, open, high, low, close, volume, stored_in, replaced_in)
    VALUES (OLD.coin, OLD.day, OLD.revision, OLD.open, OLD.high, OLD.low, OLD.close, OLD.volume,
            coalesce(OLD.revised_in, OLD.first_seen_in), NEW.revised_in);
    IF NEW.revision <= OLD.revision THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION public.direction_score(pred double precision, realised double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN realised = 0 THEN NULL
                      WHEN pred = 0 THEN 0.5
                      ELSE (sign(pred) = sign(realised))::int::double precision END $$;

CREATE FUNCTION public.stat_chi2_sf(x double precision, df integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE df WHEN 1 THEN erfc(sqrt(greatest(x, 0) / 2)) WHEN 2 THEN exp(-greatest(x, 0) / 2) END $$;

CREATE FUNCTION public.stat_t975(df integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN df < 1 THEN NULL
                      WHEN df <= 30 THEN (ARRAY[12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                                2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                                2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
                                                2.042]::double precision[])[df]
                      ELSE 1.959964 + (1.959964 ^ 3 + 1.959964) / (4 * df)
                           + (5 * 1.959964 ^ 5 + 16 * 1.959964 ^ 3 + 3 * 1.959964) / (96 * df ^ 2) END $$;

CREATE FUNCTION public.stat_xlny(x double precision, y double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN x = 0 THEN 0::double precision ELSE x * ln(y) END $$;

CREATE TABLE public.alerts (
    kind text NOT NULL,
    as_of date NOT NULL,
    state text NOT NULL,
    message text NOT NULL,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    emailed boolean DEFAULT false NOT NULL,
    CONSTRAINT alerts_state_check CHECK ((state = ANY (ARRAY['ok'::text, 'firing'::text])))
);

CREATE TABLE public.baseline_predictions (
    model_id text NOT NULL,
    fold smallint NOT NULL,
    coin text NOT NULL,
    as_of date NOT NULL,
    horizon smallint NOT NULL,
    predictions jsonb NOT NULL,
    CONSTRAINT baseline_predictions_fold_check CHECK ((fold >= 0)),
    CONSTRAINT baseline_predictions_horizon_check CHECK (((horizon >= 1) AND (horizon <= 5)))
);

CREATE TABLE public.candle_history (
    history_id bigint NOT NULL,
    coin text NOT NULL,
    day date NOT NULL,
    revision integer NOT NULL,
    open double precision NOT NULL,
    high double precision NOT NULL,
    low double precision NOT NULL,
    close double precision NOT NULL,
    volume double precision NOT NULL,
    stored_in timestamp with time zone NOT NULL,
    replaced_in timestamp with time zone
);

CREATE SEQUENCE public.candle_history_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.candle_history_history_id_seq OWNED BY public.candle_history.history_id;

CREATE TABLE public.candle_level_shifts (
    coin text NOT NULL,
    day date NOT NULL,
    ratio double precision NOT NULL,
    reason text NOT NULL,
    accepted_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT candle_level_shifts_ratio_check CHECK ((ratio > (0)::double precision))
);

CREATE TABLE public.candles (
    coin text NOT NULL,
    day date NOT NULL,
    open double precision NOT NULL,
    high double precision NOT NULL,
    low double precision NOT NULL,
    close double precision NOT NULL,
    volume double precision NOT NULL,
    first_seen_in timestamp with time zone NOT NULL,
    revised_in timestamp with time zone,
    revision integer DEFAULT 0 NOT NULL,
    CONSTRAINT candles_check CHECK (((low <= open) AND (low <= close) AND (open <= high) AND (close <= high))),
    CONSTRAINT candles_close_check CHECK ((close > (0)::double precision)),
    CONSTRAINT candles_high_check CHECK ((high > (0)::double precision)),
    CONSTRAINT candles_low_check CHECK ((low > (0)::double precision)),
    CONSTRAINT candles_open_check CHECK ((open > (0)::double precision)),
    CONSTRAINT candles_volume_check CHECK ((volume >= (0)::double precision))
);

CREATE TABLE public.coins (
    coin text NOT NULL,
    symbol text NOT NULL,
    exchange text DEFAULT 'binance'::text NOT NULL,
    coin_index smallint NOT NULL,
    active boolean DEFAULT true NOT NULL,
    inactive_since date,
    inactive_reason text,
    CONSTRAINT coins_coin_index_check CHECK ((coin_index >= 0))
);

CREATE TABLE public.exchange_bans (
    ban_id bigint NOT NULL,
    exchange text NOT NULL,
    coin text NOT NULL,
    interval_start timestamp with time zone NOT NULL,
    interval_end timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    banned_until timestamp with time zone,
    in_force_until timestamp with time zone NOT NULL,
    message text NOT NULL
);

CREATE SEQUENCE public.exchange_bans_ban_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.exchange_bans_ban_id_seq OWNED BY public.exchange_bans.ban_id;

CREATE TABLE public.forecast_scores (
    coin text NOT NULL,
    as_of date NOT NULL,
    horizon smallint NOT NULL,
    model_id text NOT NULL,
    realised_log_return double precision NOT NULL,
    realised_close double precision NOT NULL,
    direction_hit boolean,
    abs_error double precision NOT NULL
);

CREATE TABLE public.forecasts (
    coin text NOT NULL,
    as_of date NOT NULL,
    horizon smallint NOT NULL,
    model_id text NOT NULL,
    target_day date NOT NULL,
    base_close double precision NOT NULL,
    pred_log_return double precision NOT NULL,
    pred_close double precision NOT NULL,
    run_id text NOT NULL,
    lo80_log_return double precision,
    hi80_log_return double precision,
    lo95_log_return double precision,
    hi95_log_return double precision,
    lo80_close double precision,
    hi80_close double precision,
    lo95_close double precision,
    hi95_close double precision,
    interval_method text,
    input_distance double precision,
    input_drift_threshold double precision,
    input_drifted boolean,
    input_drift_cause text,
    confidence double precision,
    members_agree double precision,
    tier text,
    lo80_log_return_uncorrected double precision,
    hi80_log_return_uncorrected double precision,
    lo95_log_return_uncorrected double precision,
    hi95_log_return_uncorrected double precision,
    CONSTRAINT forecasts_check CHECK ((target_day = (as_of + (horizon)::integer))),
    CONSTRAINT forecasts_drift_cause CHECK (((input_drifted IS TRUE) = (input_drift_cause IS NOT NULL))),
    CONSTRAINT forecasts_horizon_check CHECK (((horizon >= 1) AND (horizon <= 5))),
    CONSTRAINT forecasts_ranges_nested CHECK (((lo80_log_return IS NULL) OR ((lo95_log_return <= lo80_log_return) AND (lo80_log_return <= hi80_log_return) AND (hi80_log_return <= hi95_log_return)))),
    CONSTRAINT forecasts_tier_check CHECK ((tier = ANY (ARRAY['high'::text, 'medium'::text, 'low'::text])))
);

CREATE TABLE public.ingest_runs (
    coin text NOT NULL,
    interval_start timestamp with time zone NOT NULL,
    interval_end timestamp with time zone NOT NULL,
    status text NOT NULL,
    requests integer DEFAULT 0 NOT NULL,
    fetched integer DEFAULT 0 NOT NULL,
    stored integer DEFAULT 0 NOT NULL,
    revised integer DEFAULT 0 NOT NULL,
    rejected integer DEFAULT 0 NOT NULL,
    missing_days date[] DEFAULT '{}'::date[] NOT NULL,
    error text,
    attempt integer DEFAULT 1 NOT NULL,
    logged_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT ingest_runs_status_check CHECK ((status = ANY (ARRAY['ok'::text, 'partial'::text, 'failed'::text, 'inactive'::text])))
);

CREATE TABLE public.member_predictions (
    model_id text NOT NULL,
    fold smallint NOT NULL,
    member smallint NOT NULL,
    coin text NOT NULL,
    as_of date NOT NULL,
    horizon smallint NOT NULL,
    pred_log_return double precision NOT NULL,
    realised_log_return double precision NOT NULL,
    CONSTRAINT member_predictions_fold_check CHECK ((fold >= 0)),
    CONSTRAINT member_predictions_horizon_check CHECK (((horizon >= 1) AND (horizon <= 5))),
    CONSTRAINT member_predictions_member_check CHECK ((member >= 0))
);

CREATE TABLE public.member_weights (
    model_id text NOT NULL,
    fold smallint NOT NULL,
    member smallint NOT NULL,
    seed integer NOT NULL,
    training_cutoff date NOT NULL,
    info jsonb NOT NULL,
    artifact bytea,
    artifact_sha256 text,
    CONSTRAINT member_weights_final_fit_weights_only CHECK ((((fold = '-1'::integer) = (artifact IS NOT NULL)) AND ((artifact IS NULL) = (artifact_sha256 IS NULL)))),
    CONSTRAINT member_weights_fold_check CHECK ((fold >= '-1'::integer)),
    CONSTRAINT member_weights_member_check CHECK ((member >= 0))
);

CREATE TABLE public.models (
    model_id text NOT NULL,
    created_for timestamp with time zone NOT NULL,
    training_cutoff date NOT NULL,
    feature_version text NOT NULL,
    hyperparams jsonb NOT NULL,
    code_version text NOT NULL,
    metrics jsonb DEFAULT '{}'::jsonb NOT NULL,
    artifact bytea NOT NULL,
    artifact_sha256 text NOT NULL,
    status text DEFAULT 'candidate'::text NOT NULL,
    champion_from date,
    champion_until date,
    CONSTRAINT models_status_check CHECK ((status = ANY (ARRAY['candidate'::text, 'champion'::text, 'retired'::text, 'rejected'::text])))
);

CREATE TABLE public.prepared_fits (
    prep_key text NOT NULL,
    model_id text NOT NULL,
    training_cutoff date NOT NULL,
    artifact bytea NOT NULL,
    artifact_sha256 text NOT NULL
);

CREATE TABLE public.promotion_decisions (
    decided_for timestamp with time zone NOT NULL,
    challenger_id text NOT NULL,
    champion_id text,
    promoted boolean NOT NULL,
    challenger_da double precision,
    champion_da double precision,
    n_cells integer DEFAULT 0 NOT NULL,
    p_value double precision,
    reason text NOT NULL,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    challenger_da_ci_low double precision,
    challenger_da_ci_high double precision,
    da_diff_ci_low double precision,
    da_diff_ci_high double precision
);

CREATE TABLE public.range_corrections (
    coin text NOT NULL,
    as_of date NOT NULL,
    horizon smallint NOT NULL,
    level smallint NOT NULL,
    method text NOT NULL,
    alpha double precision NOT NULL,
    log_factor double precision NOT NULL,
    n_misses_used integer NOT NULL,
    n_missed integer NOT NULL,
    last_target_day date,
    model_id text NOT NULL,
    CONSTRAINT range_corrections_level_check CHECK ((level = ANY (ARRAY[80, 95])))
);

CREATE TABLE public.rejected_candles (
    coin text NOT NULL,
    interval_start timestamp with time zone NOT NULL,
    interval_end timestamp with time zone NOT NULL,
    raw_sha256 text NOT NULL,
    reason text NOT NULL,
    day date,
    raw jsonb NOT NULL,
    seen integer DEFAULT 1 NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT rejected_candles_seen_check CHECK ((seen >= 1))
);

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    sha256 text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.schema_migrations_lock (
    held boolean NOT NULL,
    CONSTRAINT schema_migrations_lock_held_check CHECK (held)
);

CREATE VIEW public.v_alerts AS
 SELECT kind,
    as_of,
    state,
    emailed,
    message,
    details
   FROM public.alerts;

CREATE VIEW public.v_candle_revisions AS
 SELECT h.coin,
    h.day,
    h.revision,
    h.open,
    h.high,
    h.low,
    h.close,
    h.volume,
    h.stored_in,
    h.replaced_in,
    c.revision AS current_revision,
    c.close AS current_close,
    (c.close / h.close) AS close_ratio,
    c.revised_in AS current_since
   FROM (public.candle_history h
     LEFT JOIN public.candles c USING (coin, day));

CREATE VIEW public.v_latest_forecasts AS
 WITH latest AS (
         SELECT DISTINCT ON (f_1.coin) f_1.coin,
            f_1.as_of,
            f_1.model_id
           FROM (public.forecasts f_1
             JOIN public.models m_1 USING (model_id))
          ORDER BY f_1.coin, f_1.as_of DESC, ((m_1.champion_from IS NOT NULL) AND (m_1.champion_from <= f_1.as_of) AND ((m_1.champion_until IS NULL) OR (f_1.as_of < m_1.champion_until))) DESC, m_1.created_for DESC, f_1.model_id
        )
 SELECT f.coin,
    f.as_of,
    f.horizon,
    f.target_day,
    f.model_id,
    f.base_close,
    f.pred_log_return,
    f.pred_close,
    (sign(f.pred_log_return))::integer AS pred_direction,
    f.run_id,
        CASE
            WHEN ((m.champion_from IS NOT NULL) AND (m.champion_from <= f.as_of) AND ((m.champion_until IS NULL) OR (f.as_of < m.champion_until))) THEN 'champion'::text
            ELSE 'provisional'::text
        END AS served_as,
    f.lo80_log_return,
    f.hi80_log_return,
    f.lo95_log_return,
    f.hi95_log_return,
    f.lo80_close,
    f.hi80_close,
    f.lo95_close,
    f.hi95_close,
    f.interval_method,
    f.input_drifted,
    f.input_distance,
    f.input_drift_threshold,
    f.input_drift_cause,
    f.confidence,
    f.members_agree,
    f.tier
   FROM ((public.forecasts f
     JOIN latest l USING (coin, as_of, model_id))
     JOIN public.models m USING (model_id));

CREATE VIEW public.v_model_comparator AS
 SELECT DISTINCT ON (m.model_id) m.model_id,
    r.rule,
    (((m.metrics -> 'baseline_da'::text) ->> r.rule))::double precision AS wf_da
   FROM (public.models m
     CROSS JOIN ( VALUES ('always_up'::text), ('momentum_1'::text), ('momentum_3'::text), ('momentum_7'::text), ('reversal_1'::text), ('reversal_3'::text), ('reversal_7'::text)) r(rule))
  WHERE (((m.metrics -> 'baseline_da'::text) ->> r.rule) IS NOT NULL)
  ORDER BY m.model_id, (((m.metrics -> 'baseline_da'::text) ->> r.rule))::double precision DESC, r.rule;

CREATE VIEW public.v_serving_live_cells AS
 WITH serving AS (
         SELECT DISTINCT v_latest_forecasts.coin,
            v_latest_forecasts.model_id,
            v_latest_forecasts.as_of
           FROM public.v_latest_forecasts
        )
 SELECT s.coin,
    s.model_id,
    s.as_of AS serving_as_of,
    f.as_of,
    f.horizon,
    sc.realised_log_return AS y,
    public.direction_score(f.pred_log_return, sc.realised_log_return) AS hit
   FROM ((serving s
     JOIN public.forecasts f ON (((f.coin = s.coin) AND (f.model_id = s.model_id))))
     JOIN public.forecast_scores sc ON (((sc.coin = f.coin) AND (sc.as_of = f.as_of) AND (sc.horizon = f.horizon) AND (sc.model_id = f.model_id))))
  WHERE ((f.target_day > (s.as_of - 60)) AND (f.target_day <= s.as_of));

CREATE VIEW public.v_live_rule_accuracy AS
 WITH calls AS (
         SELECT l.coin,
            l.model_id,
            l.serving_as_of,
            r.rule,
            l.as_of,
            public.direction_score(
                CASE
                    WHEN (r.k = 0) THEN (1)::double precision
                    ELSE ((r.direction)::double precision * ln((c0.close / ck.close)))
                END, l.y) AS hit
           FROM (((public.v_serving_live_cells l
             CROSS JOIN ( VALUES ('always_up'::text,0,1), ('momentum_1'::text,1,1), ('momentum_3'::text,3,1), ('momentum_7'::text,7,1), ('reversal_1'::text,1,'-1'::integer), ('reversal_3'::text,3,'-1'::integer), ('reversal_7'::text,7,'-1'::integer)) r(rule, k, direction))
             LEFT JOIN public.candles c0 ON (((c0.coin = l.coin) AND (c0.day = l.as_of))))
             LEFT JOIN public.candles ck ON (((ck.coin = l.coin) AND (ck.day = (l.as_of - r.k)))))
        ), blocks AS (
         SELECT calls.coin,
            calls.model_id,
            calls.serving_as_of,
            calls.rule,
            calls.hit,
            calls.as_of,
            ((dense_rank() OVER (PARTITION BY calls.coin, calls.model_id, calls.rule ORDER BY calls.as_of DESC) - 1) / 5) AS blk
           FROM calls
        ), per_block AS (
         SELECT blocks.coin,
            blocks.model_id,
            blocks.serving_as_of,
            blocks.rule,
            blocks.blk,
            COALESCE(sum(blocks.hit), (0)::double precision) AS h,
            count(blocks.hit) AS n
           FROM blocks
          GROUP BY blocks.coin, blocks.model_id, blocks.serving_as_of, blocks.rule, blocks.blk
        ), totals AS (
         SELECT per_block.coin,
            per_block.model_id,
            per_block.serving_as_of,
            per_block.rule,
            count(*) AS n_blocks,
            sum(per_block.n) AS n_cells,
            (sum(per_block.h) / (NULLIF(sum(per_block.n), (0)::numeric))::double precision) AS da
           FROM per_block
          GROUP BY per_block.coin, per_block.model_id, per_block.serving_as_of, per_block.rule
        ), intervals AS (
         SELECT t.coin,
            t.model_id,
            t.serving_as_of,
            t.rule,
            t.da,
            t.n_cells,
            t.n_blocks,
                CASE
                    WHEN ((t.n_blocks < 2) OR (t.da IS NULL)) THEN NULL::double precision
                    ELSE (sqrt(((((t.n_blocks)::numeric / ((t.n_blocks)::numeric - 1.0)))::double precision * sum(((b.h - (t.da * (b.n)::double precision)) ^ (2)::double precision)))) / (t.n_cells)::double precision)
                END AS se
           FROM (totals t
             JOIN per_block b USING (coin, model_id, serving_as_of, rule))
          GROUP BY t.coin, t.model_id, t.serving_as_of, t.rule, t.da, t.n_cells, t.n_blocks
        )
 SELECT i.coin,
    i.model_id,
    i.serving_as_of AS as_of,
    i.rule,
    i.da AS live_da,
        CASE
            WHEN (i.da IS NULL) THEN NULL::double precision
            WHEN (i.se IS NULL) THEN (0)::double precision
            ELSE GREATEST((0)::double precision, (i.da - (public.stat_t975(((i.n_blocks)::integer - 1)) * i.se)))
        END AS live_da_low,
        CASE
            WHEN (i.da IS NULL) THEN NULL::double precision
            WHEN (i.se IS NULL) THEN (1)::double precision
            ELSE LEAST((1)::double precision, (i.da + (public.stat_t975(((i.n_blocks)::integer - 1)) * i.se)))
        END AS live_da_high,
    i.n_cells AS live_n_cells,
    (((m.metrics -> 'baseline_da'::text) ->> i.rule))::double precision AS wf_da,
    (NOT (c.rule IS DISTINCT FROM i.rule)) AS is_comparator
   FROM ((intervals i
     JOIN public.models m ON ((m.model_id = i.model_id)))
     LEFT JOIN public.v_model_comparator c ON ((c.model_id = i.model_id)));

CREATE TABLE public.validation_predictions (
    model_id text NOT NULL,
    coin text NOT NULL,
    as_of date NOT NULL,
    horizon smallint NOT NULL,
    fold smallint NOT NULL,
    fold_cutoff date NOT NULL,
    pred_log_return double precision NOT NULL,
    realised_log_return double precision NOT NULL,
    CONSTRAINT validation_predictions_check CHECK ((fold_cutoff < as_of)),
    CONSTRAINT validation_predictions_horizon_check CHECK (((horizon >= 1) AND (horizon <= 5)))
);

CREATE VIEW public.v_forecast_evidence AS
 WITH serving AS (
         SELECT DISTINCT v_latest_forecasts.coin,
            v_latest_forecasts.model_id,
            v_latest_forecasts.as_of
           FROM public.v_latest_forecasts
        ), wf AS (
         SELECT s_1.coin,
            s_1.model_id,
            'walk_forward'::text AS kind,
            v.as_of,
            public.direction_score(v.pred_log_return, v.realised_log_return) AS hit
           FROM (serving s_1
             JOIN public.validation_predictions v USING (model_id, coin))
        ), both_kinds AS (
         SELECT wf.coin,
            wf.model_id,
            wf.kind,
            wf.as_of,
            wf.hit
           FROM wf
        UNION ALL
         SELECT v_serving_live_cells.coin,
            v_serving_live_cells.model_id,
            'live'::text,
            v_serving_live_cells.as_of,
            v_serving_live_cells.hit
           FROM public.v_serving_live_cells
        ), blocks AS (
         SELECT both_kinds.coin,
            both_kinds.model_id,
            both_kinds.kind,
            ((dense_rank() OVER (PARTITION BY both_kinds.coin, both_kinds.model_id, both_kinds.kind ORDER BY both_kinds.as_of DESC) - 1) / 5) AS blk,
            both_kinds.hit,
            both_kinds.as_of
           FROM both_kinds
        ), per_block AS (
         SELECT blocks.coin,
            blocks.model_id,
            blocks.kind,
            blocks.blk,
            COALESCE(sum(blocks.hit), (0)::double precision) AS h,
            count(blocks.hit) AS n,
            min(blocks.as_of) AS first_as_of,
            max(blocks.as_of) AS last_as_of
           FROM blocks
          GROUP BY blocks.coin, blocks.model_id, blocks.kind, blocks.blk
        ), totals AS (
         SELECT per_block.coin,
            per_block.model_id,
            per_block.kind,
            count(*) AS n_blocks,
            sum(per_block.n) AS n_cells,
            (sum(per_block.h) / (NULLIF(sum(per_block.n), (0)::numeric))::double precision) AS da,
            min(per_block.first_as_of) AS first_as_of,
            max(per_block.last_as_of) AS last_as_of
           FROM per_block
          GROUP BY per_block.coin, per_block.model_id, per_block.kind
        ), intervals AS (
         SELECT t.coin,
            t.model_id,
            t.kind,
            t.da,
            t.n_cells,
            t.n_blocks,
            t.first_as_of,
            t.last_as_of,
                CASE
                    WHEN ((t.n_blocks < 2) OR (t.da IS NULL)) THEN NULL::double precision
                    ELSE (sqrt(((((t.n_blocks)::numeric / ((t.n_blocks)::numeric - 1.0)))::double precision * sum(((b.h - (t.da * (b.n)::double precision)) ^ (2)::double precision)))) / (t.n_cells)::double precision)
                END AS se
           FROM (totals t
             JOIN per_block b USING (coin, model_id, kind))
          GROUP BY t.coin, t.model_id, t.kind, t.da, t.n_cells, t.n_blocks, t.first_as_of, t.last_as_of
        ), ci AS (
         SELECT intervals.coin,
            intervals.model_id,
            intervals.kind,
            intervals.da,
            intervals.n_cells,
            intervals.n_blocks,
            intervals.first_as_of,
            intervals.last_as_of,
            intervals.se,
                CASE
                    WHEN (intervals.da IS NULL) THEN NULL::double precision
                    WHEN (intervals.se IS NULL) THEN (0)::double precision
                    ELSE GREATEST((0)::double precision, (intervals.da - (public.stat_t975(((intervals.n_blocks)::integer - 1)) * intervals.se)))
                END AS lo,
                CASE
                    WHEN (intervals.da IS NULL) THEN NULL::double precision
                    WHEN (intervals.se IS NULL) THEN (1)::double precision
                    ELSE LEAST((1)::double precision, (intervals.da + (public.stat_t975(((intervals.n_blocks)::integer - 1)) * intervals.se)))
                END AS hi
           FROM intervals
        )
 SELECT s.coin,
    s.model_id,
    s.as_of,
    w.da AS wf_da,
    w.lo AS wf_da_low,
    w.hi AS wf_da_high,
    w.n_cells AS wf_n_cells,
    w.first_as_of AS wf_first_as_of,
    w.last_as_of AS wf_last_as_of,
    l.da AS live_da,
    l.lo AS live_da_low,
    l.hi AS live_da_high,
    l.n_cells AS live_n_cells,
    l.first_as_of AS live_first_as_of,
    l.last_as_of AS live_last_as_of,
    c.rule AS comparator_rule,
    c.wf_da AS comparator_wf_da,
    r.live_da AS comparator_live_da,
    r.live_da_low AS comparator_live_da_low,
    r.live_da_high AS comparator_live_da_high,
    r.live_n_cells AS comparator_live_n_cells
   FROM ((((serving s
     LEFT JOIN ci w ON (((w.coin = s.coin) AND (w.model_id = s.model_id) AND (w.kind = 'walk_forward'::text))))
     LEFT JOIN ci l ON (((l.coin = s.coin) AND (l.model_id = s.model_id) AND (l.kind = 'live'::text))))
     LEFT JOIN public.v_model_comparator c ON ((c.model_id = s.model_id)))
     LEFT JOIN public.v_live_rule_accuracy r ON (((r.coin = s.coin) AND (r.model_id = s.model_id) AND (r.rule = c.rule))));

CREATE VIEW public.v_forecast_outcomes AS
 SELECT f.coin,
    f.as_of,
    f.horizon,
    f.target_day,
    f.model_id,
    f.base_close,
    f.pred_log_return,
    f.pred_close,
    s.realised_log_return,
    s.realised_close,
    s.direction_hit,
    s.abs_error,
    abs(s.realised_log_return) AS rw_abs_error,
    (s.coin IS NOT NULL) AS matured,
    f.run_id,
    f.lo80_log_return,
    f.hi80_log_return,
    f.lo95_log_return,
    f.hi95_log_return,
    ((s.realised_log_return >= f.lo80_log_return) AND (s.realised_log_return <= f.hi80_log_return)) AS in_range_80,
    ((s.realised_log_return >= f.lo95_log_return) AND (s.realised_log_return <= f.hi95_log_return)) AS in_range_95,
    (((f.hi80_log_return - f.lo80_log_return) + ((10)::double precision * GREATEST((f.lo80_log_return - s.realised_log_return), (0)::double precision))) + ((10)::double precision * GREATEST((s.realised_log_return - f.hi80_log_return), (0)::double precision))) AS winkler_80,
    (((f.hi95_log_return - f.lo95_log_return) + ((40)::double precision * GREATEST((f.lo95_log_return - s.realised_log_return), (0)::double precision))) + ((40)::double precision * GREATEST((s.realised_log_return - f.hi95_log_return), (0)::double precision))) AS winkler_95
   FROM (public.forecasts f
     LEFT JOIN public.forecast_scores s USING (coin, as_of, horizon, model_id));

CREATE VIEW public.v_ingest_runs AS
 SELECT DISTINCT ON (coin, interval_start, interval_end) coin,
    interval_start,
    interval_end,
    attempt AS attempts,
    status,
    requests,
    fetched,
    stored,
    revised,
    rejected,
    missing_days,
    error,
    logged_at
   FROM public.ingest_runs
  ORDER BY coin, interval_start, interval_end, attempt DESC;

CREATE VIEW public.v_interval_scores AS
 SELECT o.model_id,
    COALESCE(o.coin, 'ALL'::text) AS coin,
    (COALESCE((o.horizon)::integer, 0))::smallint AS horizon,
    count(*) AS n_cells,
    (avg((o.in_range_80)::integer))::double precision AS coverage_80,
    (avg((o.in_range_95)::integer))::double precision AS coverage_95,
    avg((o.hi80_log_return - o.lo80_log_return)) AS mean_width_80,
    avg((o.hi95_log_return - o.lo95_log_return)) AS mean_width_95,
    avg(o.winkler_80) AS mean_interval_score_80,
    avg(o.winkler_95) AS mean_interval_score_95,
    min(o.as_of) AS first_as_of,
    max(o.as_of) AS last_as_of,
    (avg((((o.realised_log_return >= f.lo80_log_return_uncorrected) AND (o.realised_log_return <= f.hi80_log_return_uncorrected)))::integer))::double precision AS coverage_80_uncorrected,
    (avg((((o.realised_log_return >= f.lo95_log_return_uncorrected) AND (o.realised_log_return <= f.hi95_log_return_uncorrected)))::integer))::double precision AS coverage_95_uncorrected,
    avg((f.hi80_log_return_uncorrected - f.lo80_log_return_uncorrected)) AS mean_width_80_uncorrected,
    avg((f.hi95_log_return_uncorrected - f.lo95_log_return_uncorrected)) AS mean_width_95_uncorrected,
    avg((((f.hi80_log_return_uncorrected - f.lo80_log_return_uncorrected) + ((10)::double precision * GREATEST((f.lo80_log_return_uncorrected - o.realised_log_return), (0)::double precision))) + ((10)::double precision * GREATEST((o.realised_log_return - f.hi80_log_return_uncorrected), (0)::double precision)))) AS mean_interval_score_80_uncorrected,
    avg((((f.hi95_log_return_uncorrected - f.lo95_log_return_uncorrected) + ((40)::double precision * GREATEST((f.lo95_log_return_uncorrected - o.realised_log_return), (0)::double precision))) + ((40)::double precision * GREATEST((o.realised_log_return - f.hi95_log_return_uncorrected), (0)::double precision)))) AS mean_interval_score_95_uncorrected
   FROM (public.v_forecast_outcomes o
     JOIN public.forecasts f USING (coin, as_of, horizon, model_id))
  WHERE (o.matured AND (o.lo80_log_return IS NOT NULL))
  GROUP BY GROUPING SETS ((o.model_id, o.coin, o.horizon), (o.model_id, o.coin), (o.model_id, o.horizon), (o.model_id));

CREATE VIEW public.v_live_accuracy AS
 WITH scored AS (
         SELECT s.coin,
            s.as_of,
            s.horizon,
            s.model_id,
            s.realised_log_return,
            s.realised_close,
            s.direction_hit,
            s.abs_error,
            abs(s.realised_log_return) AS rw_abs_error,
            public.direction_score(f.pred_log_return, s.realised_log_return) AS hit,
            public.direction_score((1)::double precision, s.realised_log_return) AS always_up_hit,
            public.direction_score(ln((c3.close / c0.close)), s.realised_log_return) AS reversal_3_hit
           FROM (((public.forecast_scores s
             JOIN public.forecasts f USING (coin, as_of, horizon, model_id))
             LEFT JOIN public.candles c0 ON (((c0.coin = s.coin) AND (c0.day = s.as_of))))
             LEFT JOIN public.candles c3 ON (((c3.coin = s.coin) AND (c3.day = (s.as_of - 3)))))
          WHERE (f.target_day > (( SELECT max(f2.target_day) AS max
                   FROM (public.forecast_scores s2
                     JOIN public.forecasts f2 USING (coin, as_of, horizon, model_id))) - 30))
        ), agg AS (
         SELECT scored.model_id,
            COALESCE(scored.coin, 'ALL'::text) AS coin,
            (COALESCE((scored.horizon)::integer, 0))::smallint AS horizon,
            count(*) AS n_cells,
            count(scored.hit) AS n_direction_cells,
            avg(scored.hit) AS da,
            avg(scored.abs_error) AS mae,
            avg(scored.rw_abs_error) AS rw_mae,
            (avg(scored.abs_error) / NULLIF(avg(scored.rw_abs_error), (0)::double precision)) AS mae_ratio_rw,
            min(scored.as_of) AS first_as_of,
            max(scored.as_of) AS last_as_of,
            avg(scored.always_up_hit) AS always_up_da,
            avg(scored.reversal_3_hit) AS reversal_3_da,
            (NULLIF(count(scored.hit), 0))::double precision AS nd
           FROM scored
          GROUP BY GROUPING SETS ((scored.model_id, scored.coin, scored.horizon), (scored.model_id, scored.coin), (scored.model_id, scored.horizon), (scored.model_id))
        )
 SELECT model_id,
    coin,
    horizon,
    n_cells,
    n_direction_cells,
    da,
    mae,
    rw_mae,
    mae_ratio_rw,
    first_as_of,
    last_as_of,
    (((da + (((1.96 ^ (2)::numeric))::double precision / ((2)::double precision * nd))) - ((1.96)::double precision * sqrt((((da * ((1)::double precision - da)) / nd) + (((1.96 ^ (2)::numeric))::double precision / ((4)::double precision * (nd ^ (2)::double precision))))))) / ((1)::double precision + (((1.96 ^ (2)::numeric))::double precision / nd))) AS da_wilson_low,
    (((da + (((1.96 ^ (2)::numeric))::double precision / ((2)::double precision * nd))) + ((1.96)::double precision * sqrt((((da * ((1)::double precision - da)) / nd) + (((1.96 ^ (2)::numeric))::double precision / ((4)::double precision * (nd ^ (2)::double precision))))))) / ((1)::double precision + (((1.96 ^ (2)::numeric))::double precision / nd))) AS da_wilson_high,
    always_up_da,
    reversal_3_da
   FROM agg;

CREATE VIEW public.v_live_accuracy_by_tier AS
 WITH scored AS (
         SELECT s.model_id,
            f.tier,
            s.horizon,
            s.as_of,
            public.direction_score(f.pred_log_return, s.realised_log_return) AS hit
           FROM (public.forecast_scores s
             JOIN public.forecasts f USING (coin, as_of, horizon, model_id))
          WHERE ((f.tier IS NOT NULL) AND (f.target_day > (( SELECT max(f2.target_day) AS max
                   FROM (public.forecast_scores s2
                     JOIN public.forecasts f2 USING (coin, as_of, horizon, model_id))) - 30)))
        ), agg AS (
         SELECT scored.model_id,
            scored.tier,
            (COALESCE((scored.horizon)::integer, 0))::smallint AS horizon,
            count(*) AS n_cells,
            count(scored.hit) AS n_direction_cells,
            avg(scored.hit) AS da,
            min(scored.as_of) AS first_as_of,
            max(scored.as_of) AS last_as_of,
            (NULLIF(count(scored.hit), 0))::double precision AS nd
           FROM scored
          GROUP BY GROUPING SETS ((scored.model_id, scored.tier, scored.horizon), (scored.model_id, scored.tier))
        )
 SELECT model_id,
    tier,
    horizon,
    n_cells,
    n_direction_cells,
    da,
    first_as_of,
    last_as_of,
    (((da + (((1.96 ^ (2)::numeric))::double precision / ((2)::double precision * nd))) - ((1.96)::double precision * sqrt((((da * ((1)::double precision - da)) / nd) + (((1.96 ^ (2)::numeric))::double precision / ((4)::double precision * (nd ^ (2)::double precision))))))) / ((1)::double precision + (((1.96 ^ (2)::numeric))::double precision / nd))) AS da_wilson_low,
    (((da + (((1.96 ^ (2)::numeric))::double precision / ((2)::double precision * nd))) + ((1.96)::double precision * sqrt((((da * ((1)::double precision - da)) / nd) + (((1.96 ^ (2)::numeric))::double precision / ((4)::double precision * (nd ^ (2)::double precision))))))) / ((1)::double precision + (((1.96 ^ (2)::numeric))::double precision / nd))) AS da_wilson_high
   FROM agg;

CREATE VIEW public.v_models AS
 SELECT model_id,
    created_for,
    training_cutoff,
    feature_version,
    code_version,
    status,
    champion_from,
    champion_until,
    hyperparams,
    metrics,
    artifact_sha256,
    octet_length(artifact) AS artifact_bytes,
    COALESCE((((metrics -> 'ensemble'::text) ->> 'members'::text))::integer, ((hyperparams ->> 'n_seeds'::text))::integer) AS members,
    (((metrics -> 'ensemble'::text) ->> 'da_min'::text))::double precision AS member_da_min,
    (((metrics -> 'ensemble'::text) ->> 'da_max'::text))::double precision AS member_da_max,
    (((metrics -> 'ensemble'::text) ->> 'pred_sd'::text))::double precision AS member_pred_sd,
    COALESCE((hyperparams ->> 'combination'::text), 'none'::text) AS combination,
    (((hyperparams -> 'served_combination'::text) -> 'weights'::text) -> 'weights'::text) AS combination_weights
   FROM public.models;

CREATE VIEW public.v_promotion_history AS
 SELECT d.decided_for,
    d.challenger_id,
    d.champion_id,
    d.promoted,
    d.challenger_da,
    d.champion_da,
    (d.challenger_da - d.champion_da) AS da_difference,
    d.n_cells,
    d.p_value,
    d.reason,
    c.training_cutoff AS challenger_cutoff,
    c.status AS challenger_status,
    c.champion_from AS challenger_champion_from,
    c.champion_until AS challenger_champion_until,
    p.training_cutoff AS champion_cutoff,
    d.details,
    d.challenger_da_ci_low,
    d.challenger_da_ci_high,
    d.da_diff_ci_low,
    d.da_diff_ci_high
   FROM ((public.promotion_decisions d
     JOIN public.models c ON ((c.model_id = d.challenger_id)))
     LEFT JOIN public.models p ON ((p.model_id = d.champion_id)));

CREATE VIEW public.v_range_backtests AS
 WITH cells AS (
         SELECT o.model_id,
            o.coin,
            o.horizon,
            o.as_of,
            l.level,
            (NOT
                CASE l.level
                    WHEN 80 THEN o.in_range_80
                    ELSE o.in_range_95
                END) AS miss,
            (NOT
                CASE l.level
                    WHEN 80 THEN ((o.realised_log_return >= f.lo80_log_return_uncorrected) AND (o.realised_log_return <= f.hi80_log_return_uncorrected))
                    ELSE ((o.realised_log_return >= f.lo95_log_return_uncorrected) AND (o.realised_log_return <= f.hi95_log_return_uncorrected))
                END) AS miss_u
           FROM ((public.v_forecast_outcomes o
             JOIN public.forecasts f USING (coin, as_of, horizon, model_id))
             CROSS JOIN ( VALUES (80), (95)) l(level))
          WHERE (o.matured AND (o.lo80_log_return IS NOT NULL))
        ), chained AS (
         SELECT c.model_id,
            c.coin,
            c.horizon,
            c.as_of,
            c.level,
            c.miss,
            c.miss_u,
            lag(c.miss) OVER w AS prev_miss,
            lag(c.miss_u) OVER w AS prev_miss_u,
            (lag(c.as_of) OVER w = (c.as_of - 1)) AS chained
           FROM cells c
          WINDOW w AS (PARTITION BY c.model_id, c.coin, c.horizon, c.level ORDER BY c.as_of)
        ), counts AS (
         SELECT chained.model_id,
            COALESCE(chained.coin, 'ALL'::text) AS coin,
            chained.horizon,
            (chained.level)::smallint AS level,
            count(*) AS n_cells,
            count(*) FILTER (WHERE chained.miss) AS n_miss,
            count(*) FILTER (WHERE (chained.chained AND (NOT chained.prev_miss) AND (NOT chained.miss))) AS n_00,
            count(*) FILTER (WHERE (chained.chained AND (NOT chained.prev_miss) AND chained.miss)) AS n_01,
            count(*) FILTER (WHERE (chained.chained AND chained.prev_miss AND (NOT chained.miss))) AS n_10,
            count(*) FILTER (WHERE (chained.chained AND chained.prev_miss AND chained.miss)) AS n_11,
            min(chained.as_of) AS first_as_of,
            max(chained.as_of) AS last_as_of,
            count(*) FILTER (WHERE chained.miss_u) AS n_miss_u,
            count(*) FILTER (WHERE (chained.chained AND (NOT chained.prev_miss_u) AND (NOT chained.miss_u))) AS n_00_u,
            count(*) FILTER (WHERE (chained.chained AND (NOT chained.prev_miss_u) AND chained.miss_u)) AS n_01_u,
            count(*) FILTER (WHERE (chained.chained AND chained.prev_miss_u AND (NOT chained.miss_u))) AS n_10_u,
            count(*) FILTER (WHERE (chained.chained AND chained.prev_miss_u AND chained.miss_u)) AS n_11_u
           FROM chained
          GROUP BY GROUPING SETS ((chained.model_id, chained.coin, chained.horizon, chained.level), (chained.model_id, chained.horizon, chained.level))
        ), rates AS (
         SELECT counts.model_id,
            counts.coin,
            counts.horizon,
            counts.level,
            counts.n_cells,
            counts.n_miss,
            counts.n_00,
            counts.n_01,
            counts.n_10,
            counts.n_11,
            counts.first_as_of,
            counts.last_as_of,
            counts.n_miss_u,
            counts.n_00_u,
            counts.n_01_u,
            counts.n_10_u,
            counts.n_11_u,
            ((counts.n_miss)::double precision / (counts.n_cells)::double precision) AS miss_rate,
            ((1)::double precision - ((counts.level)::double precision / (100.0)::double precision)) AS p,
            (((counts.n_01 + counts.n_11))::double precision / (NULLIF((((counts.n_00 + counts.n_01) + counts.n_10) + counts.n_11), 0))::double precision) AS pi_2,
            ((counts.n_01)::double precision / (NULLIF((counts.n_00 + counts.n_01), 0))::double precision) AS pi_01,
            ((counts.n_11)::double precision / (NULLIF((counts.n_10 + counts.n_11), 0))::double precision) AS pi_11,
            ((counts.n_miss_u)::double precision / (counts.n_cells)::double precision) AS miss_rate_u,
            (((counts.n_01_u + counts.n_11_u))::double precision / (NULLIF((((counts.n_00_u + counts.n_01_u) + counts.n_10_u) + counts.n_11_u), 0))::double precision) AS pi_2_u,
            ((counts.n_01_u)::double precision / (NULLIF((counts.n_00_u + counts.n_01_u), 0))::double precision) AS pi_01_u,
            ((counts.n_11_u)::double precision / (NULLIF((counts.n_10_u + counts.n_11_u), 0))::double precision) AS pi_11_u
           FROM counts
        ), lr AS (
         SELECT rates.model_id,
            rates.coin,
            rates.horizon,
            rates.level,
            rates.n_cells,
            rates.n_miss,
            rates.n_00,
            rates.n_01,
            rates.n_10,
            rates.n_11,
            rates.first_as_of,
            rates.last_as_of,
            rates.n_miss_u,
            rates.n_00_u,
            rates.n_01_u,
            rates.n_10_u,
            rates.n_11_u,
            rates.miss_rate,
            rates.p,
            rates.pi_2,
            rates.pi_01,
            rates.pi_11,
            rates.miss_rate_u,
            rates.pi_2_u,
            rates.pi_01_u,
            rates.pi_11_u,
            GREATEST(((('-2'::integer)::double precision * (public.stat_xlny(((rates.n_cells - rates.n_miss))::double precision, ((1)::double precision - rates.p)) + public.stat_xlny((rates.n_miss)::double precision, rates.p))) + ((2)::double precision * (public.stat_xlny(((rates.n_cells - rates.n_miss))::double precision, ((1)::double precision - rates.miss_rate)) + public.stat_xlny((rates.n_miss)::double precision, rates.miss_rate)))), (0)::double precision) AS lr_uc,
                CASE
                    WHEN ((rates.horizon = 1) AND (rates.pi_2 IS NOT NULL)) THEN GREATEST(((('-2'::integer)::double precision * (public.stat_xlny(((rates.n_00 + rates.n_10))::double precision, ((1)::double precision - rates.pi_2)) + public.stat_xlny(((rates.n_01 + rates.n_11))::double precision, rates.pi_2))) + ((2)::double precision * (((public.stat_xlny((rates.n_00)::double precision, ((1)::double precision - COALESCE(rates.pi_01, (0)::double precision))) + public.stat_xlny((rates.n_01)::double precision, COALESCE(rates.pi_01, (0)::double precision))) + public.stat_xlny((rates.n_10)::double precision, ((1)::double precision - COALESCE(rates.pi_11, (0)::double precision)))) + public.stat_xlny((rates.n_11)::double precision, COALESCE(rates.pi_11, (0)::double precision))))), (0)::double precision)
                    ELSE NULL::double precision
                END AS lr_ind,
            GREATEST(((('-2'::integer)::double precision * (public.stat_xlny(((rates.n_cells - rates.n_miss_u))::double precision, ((1)::double precision - rates.p)) + public.stat_xlny((rates.n_miss_u)::double precision, rates.p))) + ((2)::double precision * (public.stat_xlny(((rates.n_cells - rates.n_miss_u))::double precision, ((1)::double precision - rates.miss_rate_u)) + public.stat_xlny((rates.n_miss_u)::double precision, rates.miss_rate_u)))), (0)::double precision) AS lr_uc_u,
                CASE
                    WHEN ((rates.horizon = 1) AND (rates.pi_2_u IS NOT NULL)) THEN GREATEST(((('-2'::integer)::double precision * (public.stat_xlny(((rates.n_00_u + rates.n_10_u))::double precision, ((1)::double precision - rates.pi_2_u)) + public.stat_xlny(((rates.n_01_u + rates.n_11_u))::double precision, rates.pi_2_u))) + ((2)::double precision * (((public.stat_xlny((rates.n_00_u)::double precision, ((1)::double precision - COALESCE(rates.pi_01_u, (0)::double precision))) + public.stat_xlny((rates.n_01_u)::double precision, COALESCE(rates.pi_01_u, (0)::double precision))) + public.stat_xlny((rates.n_10_u)::double precision, ((1)::double precision - COALESCE(rates.pi_11_u, (0)::double precision)))) + public.stat_xlny((rates.n_11_u)::double precision, COALESCE(rates.pi_11_u, (0)::double precision))))), (0)::double precision)
                    ELSE NULL::double precision
                END AS lr_ind_u
           FROM rates
        )
 SELECT model_id,
    coin,
    horizon,
    level,
    n_cells,
    n_miss,
    miss_rate,
    p AS expected_miss_rate,
    lr_uc AS kupiec_lr,
    public.stat_chi2_sf(lr_uc, 1) AS kupiec_p,
    pi_11 AS repeated_miss_share,
    pi_01,
    n_00,
    n_01,
    n_10,
    n_11,
    lr_ind AS independence_lr,
    public.stat_chi2_sf(lr_ind, 1) AS independence_p,
    (lr_uc + lr_ind) AS conditional_coverage_lr,
    public.stat_chi2_sf((lr_uc + lr_ind), 2) AS conditional_coverage_p,
    first_as_of,
    last_as_of,
    n_miss_u AS n_miss_uncorrected,
    miss_rate_u AS miss_rate_uncorrected,
    public.stat_chi2_sf(lr_uc_u, 1) AS kupiec_p_uncorrected,
    pi_11_u AS repeated_miss_share_uncorrected,
    public.stat_chi2_sf(lr_ind_u, 1) AS independence_p_uncorrected,
    public.stat_chi2_sf((lr_uc_u + lr_ind_u), 2) AS conditional_coverage_p_uncorrected
   FROM lr;

ALTER TABLE ONLY public.candle_history ALTER COLUMN history_id SET DEFAULT nextval('public.candle_history_history_id_seq'::regclass);

ALTER TABLE ONLY public.exchange_bans ALTER COLUMN ban_id SET DEFAULT nextval('public.exchange_bans_ban_id_seq'::regclass);

ALTER TABLE ONLY public.alerts
    ADD CONSTRAINT alerts_pkey PRIMARY KEY (kind, as_of);

ALTER TABLE ONLY public.baseline_predictions
    ADD CONSTRAINT baseline_predictions_pkey PRIMARY KEY (model_id, fold, coin, as_of, horizon);

ALTER TABLE ONLY public.candle_history
    ADD CONSTRAINT candle_history_pkey PRIMARY KEY (history_id);

ALTER TABLE ONLY public.candle_level_shifts
    ADD CONSTRAINT candle_level_shifts_pkey PRIMARY KEY (coin, day);

ALTER TABLE ONLY public.candles
    ADD CONSTRAINT candles_pkey PRIMARY KEY (coin, day);

ALTER TABLE ONLY public.coins
    ADD CONSTRAINT coins_coin_index_key UNIQUE (coin_index);

ALTER TABLE ONLY public.coins
    ADD CONSTRAINT coins_pkey PRIMARY KEY (coin);

ALTER TABLE ONLY public.coins
    ADD CONSTRAINT coins_symbol_key UNIQUE (symbol);

ALTER TABLE ONLY public.exchange_bans
    ADD CONSTRAINT exchange_bans_pkey PRIMARY KEY (ban_id);

ALTER TABLE ONLY public.forecast_scores
    ADD CONSTRAINT forecast_scores_pkey PRIMARY KEY (coin, as_of, horizon, model_id);

ALTER TABLE ONLY public.forecasts
    ADD CONSTRAINT forecasts_pkey PRIMARY KEY (coin, as_of, horizon, model_id);

ALTER TABLE ONLY public.ingest_runs
    ADD CONSTRAINT ingest_runs_pkey PRIMARY KEY (coin, interval_start, interval_end, attempt);

ALTER TABLE ONLY public.member_predictions
    ADD CONSTRAINT member_predictions_pkey PRIMARY KEY (model_id, fold, member, coin, as_of, horizon);

ALTER TABLE ONLY public.member_weights
    ADD CONSTRAINT member_weights_pkey PRIMARY KEY (model_id, fold, member);

ALTER TABLE ONLY public.models
    ADD CONSTRAINT models_pkey PRIMARY KEY (model_id);

ALTER TABLE ONLY public.prepared_fits
    ADD CONSTRAINT prepared_fits_pkey PRIMARY KEY (prep_key);

ALTER TABLE ONLY public.promotion_decisions
    ADD CONSTRAINT promotion_decisions_pkey PRIMARY KEY (decided_for, challenger_id);

ALTER TABLE ONLY public.range_corrections
    ADD CONSTRAINT range_corrections_pkey PRIMARY KEY (coin, as_of, horizon, level);

ALTER TABLE ONLY public.rejected_candles
    ADD CONSTRAINT rejected_candles_pkey PRIMARY KEY (coin, raw_sha256, reason);

ALTER TABLE ONLY public.schema_migrations_lock
    ADD CONSTRAINT schema_migrations_lock_pkey PRIMARY KEY (held);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.validation_predictions
    ADD CONSTRAINT validation_predictions_pkey PRIMARY KEY (model_id, coin, as_of, horizon);

CREATE INDEX candle_history_coin_day ON public.candle_history USING btree (coin, day, revision);

CREATE INDEX exchange_bans_exchange_until ON public.exchange_bans USING btree (exchange, in_force_until);

CREATE TRIGGER candles_keep_history BEFORE UPDATE ON public.candles FOR EACH ROW EXECUTE FUNCTION public.candles_keep_history();

ALTER TABLE ONLY public.candles
    ADD CONSTRAINT candles_coin_fkey FOREIGN KEY (coin) REFERENCES public.coins(coin);

ALTER TABLE ONLY public.forecast_scores
    ADD CONSTRAINT forecast_scores_coin_as_of_horizon_model_id_fkey FOREIGN KEY (coin, as_of, horizon, model_id) REFERENCES public.forecasts(coin, as_of, horizon, model_id) ON DELETE CASCADE;

ALTER TABLE ONLY public.forecasts
    ADD CONSTRAINT forecasts_coin_fkey FOREIGN KEY (coin) REFERENCES public.coins(coin);

ALTER TABLE ONLY public.forecasts
    ADD CONSTRAINT forecasts_model_id_fkey FOREIGN KEY (model_id) REFERENCES public.models(model_id);

ALTER TABLE ONLY public.promotion_decisions
    ADD CONSTRAINT promotion_decisions_challenger_id_fkey FOREIGN KEY (challenger_id) REFERENCES public.models(model_id);

ALTER TABLE ONLY public.promotion_decisions
    ADD CONSTRAINT promotion_decisions_champion_id_fkey FOREIGN KEY (champion_id) REFERENCES public.models(model_id);

ALTER TABLE ONLY public.validation_predictions
    ADD CONSTRAINT validation_predictions_model_id_fkey FOREIGN KEY (model_id) REFERENCES public.models(model_id) ON DELETE CASCADE;

GRANT USAGE ON SCHEMA public TO cryptolstm_reader;

GRANT SELECT ON TABLE public.alerts TO cryptolstm_reader;

GRANT SELECT ON TABLE public.baseline_predictions TO cryptolstm_reader;

GRANT SELECT ON TABLE public.candle_history TO cryptolstm_reader;

GRANT SELECT ON TABLE public.candle_level_shifts TO cryptolstm_reader;

GRANT SELECT ON TABLE public.candles TO cryptolstm_reader;

GRANT SELECT ON TABLE public.coins TO cryptolstm_reader;

GRANT SELECT ON TABLE public.exchange_bans TO cryptolstm_reader;

GRANT SELECT ON TABLE public.forecast_scores TO cryptolstm_reader;

GRANT SELECT ON TABLE public.forecasts TO cryptolstm_reader;

GRANT SELECT ON TABLE public.ingest_runs TO cryptolstm_reader;

GRANT SELECT ON TABLE public.member_predictions TO cryptolstm_reader;

GRANT SELECT ON TABLE public.member_weights TO cryptolstm_reader;

GRANT SELECT ON TABLE public.models TO cryptolstm_reader;

GRANT SELECT ON TABLE public.prepared_fits TO cryptolstm_reader;

GRANT SELECT ON TABLE public.promotion_decisions TO cryptolstm_reader;

GRANT SELECT ON TABLE public.range_corrections TO cryptolstm_reader;

GRANT SELECT ON TABLE public.rejected_candles TO cryptolstm_reader;

GRANT SELECT ON TABLE public.schema_migrations TO cryptolstm_reader;

GRANT SELECT ON TABLE public.schema_migrations_lock TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_alerts TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_candle_revisions TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_latest_forecasts TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_model_comparator TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_serving_live_cells TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_live_rule_accuracy TO cryptolstm_reader;

GRANT SELECT ON TABLE public.validation_predictions TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_forecast_evidence TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_forecast_outcomes TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_ingest_runs TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_interval_scores TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_live_accuracy TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_live_accuracy_by_tier TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_models TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_promotion_history TO cryptolstm_reader;

GRANT SELECT ON TABLE public.v_range_backtests TO cryptolstm_reader;

ALTER DEFAULT PRIVILEGES FOR ROLE <migrator> IN SCHEMA public GRANT SELECT ON TABLES TO cryptolstm_reader;

-- 005: market data keeps its history (issue 12 §3, issue 11 §1).
-- * candle_history: the values a candle had before each change. A trigger archives the old row on
--   every UPDATE that changes a value (a late correction by the exchange, or an operator's undo), so a
--   bad correction can be seen (v_candle_revisions) and undone (docs/sql.md). Implausible candles never
--   get this far: ingestion quarantines them in rejected_candles (MarketConfig.max_close_jump).
-- * ingest_runs: one row per attempt (attempt 1, 2, ... of the same coin and interval), so a rerun
--   never erases what the first run counted; v_ingest_runs shows the latest attempt of each.
-- * coins.active: false once the exchange stopped trading the pair (a delisting); its candles stay.
-- Written to be re-runnable (IF NOT EXISTS, OR REPLACE, guarded constraint changes).

CREATE TABLE IF NOT EXISTS candle_history (
    history_id  bigserial PRIMARY KEY,
    coin        text NOT NULL,
    day         date NOT NULL,
    revision    integer NOT NULL,                 -- the candle's revision while it had these values (0 = first)
    open        double precision NOT NULL,
    high        double precision NOT NULL,
    low         double precision NOT NULL,
    close       double precision NOT NULL,
    volume      double precision NOT NULL,
    stored_in   timestamptz NOT NULL,             -- data interval end of the run that stored these values
    replaced_in timestamptz                       -- data interval end of the run that replaced them (revised_in)
);
CREATE INDEX IF NOT EXISTS candle_history_coin_day ON candle_history (coin, day, revision);

-- BEFORE UPDATE: archive the old values, and make sure the revision moves forward even when the
-- writer did not bump it (a hand-written UPDATE), so (coin, day, revision) names one set of values.
CREATE OR REPLACE FUNCTION candles_keep_history() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP TRIGGER IF EXISTS candles_keep_history ON candles;
CREATE TRIGGER candles_keep_history BEFORE UPDATE ON candles
    FOR EACH ROW EXECUTE FUNCTION candles_keep_history();

-- Every earlier version of a candle next to the current one; close_ratio = current close / that close.
CREATE OR REPLACE VIEW v_candle_revisions AS
SELECT h.coin, h.day, h.revision, h.open, h.high, h.low, h.close, h.volume, h.stored_in, h.replaced_in,
       c.revision AS current_revision,
       c.close AS current_close,
       c.close / h.close AS close_ratio,
       c.revised_in AS current_since
FROM candle_history h
LEFT JOIN candles c USING (coin, day);
COMMENT ON VIEW v_candle_revisions IS
    'Earlier values of revised candles (one row per replaced version) beside the current values.';

-- ingest_runs: one row per attempt; 'inactive' = the exchange no longer trades the pair.
ALTER TABLE ingest_runs ADD COLUMN IF NOT EXISTS attempt integer NOT NULL DEFAULT 1;
ALTER TABLE ingest_runs ADD COLUMN IF NOT EXISTS logged_at timestamptz NOT NULL DEFAULT now();  -- wall clock of the attempt (audit only)
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                   WHERE i.indrelid = 'ingest_runs'::regclass AND i.indisprimary AND a.attname = 'attempt') THEN
        ALTER TABLE ingest_runs DROP CONSTRAINT ingest_runs_pkey;
        ALTER TABLE ingest_runs ADD PRIMARY KEY (coin, interval_start, interval_end, attempt);
    END IF;
END $$;
ALTER TABLE ingest_runs DROP CONSTRAINT IF EXISTS ingest_runs_status_check;
ALTER TABLE ingest_runs ADD CONSTRAINT ingest_runs_status_check
    CHECK (status IN ('ok', 'partial', 'failed', 'inactive'));

CREATE OR REPLACE VIEW v_ingest_runs AS
SELECT DISTINCT ON (coin, interval_start, interval_end)
       coin, interval_start, interval_end, attempt AS attempts, status, requests, fetched, stored, revised,
       rejected, missing_days, error, logged_at
FROM ingest_runs
ORDER BY coin, interval_start, interval_end, attempt DESC;
COMMENT ON VIEW v_ingest_runs IS
    'Latest ingestion attempt per coin and interval (attempts = how many); every attempt is in ingest_runs.';

-- coins the exchange stopped trading: kept (with their candles), marked inactive.
ALTER TABLE coins ADD COLUMN IF NOT EXISTS active boolean NOT NULL DEFAULT true;
ALTER TABLE coins ADD COLUMN IF NOT EXISTS inactive_since date;   -- first day the exchange no longer served
ALTER TABLE coins ADD COLUMN IF NOT EXISTS inactive_reason text;  -- what the exchange answered

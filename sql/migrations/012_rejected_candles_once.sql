-- 012: a rejected row is stored once, however often ingestion meets it again (issue 27).
-- A quarantined coin's days are asked for again on every ingest, and the key held the ingested interval, so
-- each ingest stored them again: a coin quarantined for n days accumulated about n^2/2 rows. Now one row per
-- rejected row of a coin: (coin, raw_sha256, reason), the payload (which holds the candle's day) and why.
-- * seen: how many times ingestion met it (a rerun of an interval counts; two identical copies in one
--   answer count twice);
-- * interval_start / interval_end: the ingested interval that met it last (before 012: its own interval);
-- * last_seen_at: the wall-clock time it was met last (audit only, never part of a key).
-- Rows stored before 012 are folded into the one of their latest interval, with seen = how many there were.

ALTER TABLE rejected_candles
    ADD COLUMN seen         integer NOT NULL DEFAULT 1 CHECK (seen >= 1),
    ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();

CREATE TEMPORARY TABLE rejected_candles_fold ON COMMIT DROP AS
SELECT ctid AS row_id,
       row_number() OVER (PARTITION BY coin, raw_sha256, reason ORDER BY interval_end DESC, interval_start DESC) AS rn,
       count(*) OVER (PARTITION BY coin, raw_sha256, reason) AS n
FROM rejected_candles;
DELETE FROM rejected_candles r USING rejected_candles_fold f WHERE r.ctid = f.row_id AND f.rn > 1;
UPDATE rejected_candles r SET seen = f.n FROM rejected_candles_fold f WHERE r.ctid = f.row_id AND f.n > 1;

ALTER TABLE rejected_candles
    DROP CONSTRAINT rejected_candles_pkey,
    ADD CONSTRAINT rejected_candles_pkey PRIMARY KEY (coin, raw_sha256, reason);
COMMENT ON TABLE rejected_candles IS
    'Rows the exchange sent that failed validation, once per coin, payload and reason: seen = times met, '
    'interval_* = the ingested interval that met it last, last_seen_at = when (wall clock).';

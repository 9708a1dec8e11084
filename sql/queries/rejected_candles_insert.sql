-- Rows that failed validation, with the raw payload and the reason: one row per (coin, payload digest,
-- reason), however often it is met again (a quarantined day is asked for on every ingest). Meeting it again
-- adds to `seen` (excluded.seen: how many times this batch met it) and records the interval and time.
INSERT INTO rejected_candles AS r (coin, interval_start, interval_end, raw_sha256, reason, day, raw, seen)
VALUES %s
ON CONFLICT (coin, raw_sha256, reason) DO UPDATE
SET seen = r.seen + excluded.seen,
    interval_start = excluded.interval_start,
    interval_end = excluded.interval_end,
    last_seen_at = now()

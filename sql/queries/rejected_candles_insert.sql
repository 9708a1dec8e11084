-- Rows that failed validation, with the raw payload and the reason. The key includes the payload
-- digest, so rerunning the interval records each bad row once.
INSERT INTO rejected_candles (coin, interval_start, interval_end, raw_sha256, reason, day, raw)
VALUES %s
ON CONFLICT DO NOTHING

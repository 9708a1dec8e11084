-- One row per ingestion attempt of (coin, interval): attempt = 1 + the attempts already logged, so a
-- rerun adds a row and never erases the first run's counts.
INSERT INTO ingest_runs (coin, interval_start, interval_end, attempt, status, requests, fetched, stored, revised,
                         rejected, missing_days, error)
SELECT %(coin)s, %(interval_start)s, %(interval_end)s, coalesce(max(attempt), 0) + 1, %(status)s, %(requests)s,
       %(fetched)s, %(stored)s, %(revised)s, %(rejected)s, %(missing_days)s::date[], %(error)s
FROM ingest_runs
WHERE coin = %(coin)s AND interval_start = %(interval_start)s AND interval_end = %(interval_end)s

-- What one ingestion of (coin, interval) asked, got and missed; a rerun replaces its own row.
INSERT INTO ingest_runs (coin, interval_start, interval_end, status, requests, fetched, stored, revised,
                         rejected, missing_days, error)
VALUES (%(coin)s, %(interval_start)s, %(interval_end)s, %(status)s, %(requests)s, %(fetched)s, %(stored)s,
        %(revised)s, %(rejected)s, %(missing_days)s::date[], %(error)s)
ON CONFLICT (coin, interval_start, interval_end) DO UPDATE
SET status = excluded.status, requests = excluded.requests, fetched = excluded.fetched,
    stored = excluded.stored, revised = excluded.revised, rejected = excluded.rejected,
    missing_days = excluded.missing_days, error = excluded.error

-- Where the next ingestion of a coin must start: its first and last stored days (NULL: bootstrap) and
-- the earliest day some earlier run reported missing that is still not stored (re-requested).
SELECT (SELECT min(day) FROM candles WHERE coin = %(coin)s) AS first_day,
       (SELECT max(day) FROM candles WHERE coin = %(coin)s) AS last_day,
       (SELECT min(m.day)
          FROM ingest_runs r, unnest(r.missing_days) AS m(day)
         WHERE r.coin = %(coin)s
           AND NOT EXISTS (SELECT 1 FROM candles c WHERE c.coin = r.coin AND c.day = m.day)) AS first_missing

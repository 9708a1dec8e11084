-- The misses of the served ranges whose target day is before %(as_of)s, for the online coverage correction of
-- that day's ranges (evaluation/coverage.py). One served row per (coin, as-of day, horizon) among the scored
-- rows with ranges, ranked as v_latest_forecasts ranks models (the champion of that day first, then the newest
-- model, then the model id), whatever model it was: the state is carried across model changes. The realised
-- return is the current score's, so a corrected candle (rescored by scoring) feeds every later state. In
-- target-day order (the order the misses became known).
WITH served AS (
    SELECT DISTINCT ON (f.coin, f.as_of, f.horizon)
           f.coin, f.as_of, f.horizon, f.target_day, s.realised_log_return AS y,
           f.lo80_log_return, f.hi80_log_return, f.lo95_log_return, f.hi95_log_return
    FROM forecasts f
    JOIN forecast_scores s USING (coin, as_of, horizon, model_id)
    JOIN models m USING (model_id)
    WHERE f.target_day < %(as_of)s
      AND f.lo80_log_return IS NOT NULL
      AND f.coin = ANY(%(coins)s)
    ORDER BY f.coin, f.as_of, f.horizon,
             (m.champion_from IS NOT NULL AND m.champion_from <= f.as_of
              AND (m.champion_until IS NULL OR f.as_of < m.champion_until)) DESC,
             m.created_for DESC, f.model_id
)
SELECT coin, horizon, as_of, target_day,
       NOT (y BETWEEN lo80_log_return AND hi80_log_return) AS miss_80,
       NOT (y BETWEEN lo95_log_return AND hi95_log_return) AS miss_95
FROM served
ORDER BY coin, horizon, target_day, as_of

-- Score every forecast whose target day has closed by %(as_of)s: realised log return from the stored
-- candles of the as-of (base) and target days (only days <= %(as_of)s are read, so a rerun of an old day
-- writes the same rows). Unscored forecasts are scored whatever their age. A scored one is rewritten when
-- a candle it reads was revised since (its stored close or return no longer follows from the candles,
-- whatever their age: a correction of its base or of its target day), and when its target day lies in
-- the last %(lookback)s days, the ingestion's re-fetched overlap [as_of - lookback, as_of] (its base day is
-- earlier still). A forecast across an accepted level shift (as_of < break <= target_day) is not scored:
-- its base and target closes are on different scales.
-- direction_hit: the signs agree, i.e. direction_score (migration 013, the one definition of a hit) is 1; NULL
-- when the realised return is exactly 0. DA is computed from direction_score, which counts a prediction of
-- exactly 0 as half a hit (false here).
INSERT INTO forecast_scores AS s (coin, as_of, horizon, model_id, realised_log_return, realised_close,
                                  direction_hit, abs_error)
SELECT f.coin, f.as_of, f.horizon, f.model_id,
       ln(ct.close / cb.close),
       ct.close,
       direction_score(f.pred_log_return, ln(ct.close / cb.close)) = 1,
       abs(ln(ct.close / cb.close) - f.pred_log_return)
FROM forecasts f
JOIN candles cb ON cb.coin = f.coin AND cb.day = f.as_of
JOIN candles ct ON ct.coin = f.coin AND ct.day = f.target_day
LEFT JOIN forecast_scores old
       ON old.coin = f.coin AND old.as_of = f.as_of AND old.horizon = f.horizon AND old.model_id = f.model_id
WHERE f.target_day <= %(as_of)s
  AND NOT EXISTS (SELECT 1 FROM candle_level_shifts b
                  WHERE b.coin = f.coin AND b.day > f.as_of AND b.day <= f.target_day)
  AND (old.coin IS NULL
       OR f.target_day >= %(as_of)s::date - %(lookback)s::int
       OR old.realised_close IS DISTINCT FROM ct.close
       OR old.realised_log_return IS DISTINCT FROM ln(ct.close / cb.close))
ON CONFLICT (coin, as_of, horizon, model_id) DO UPDATE SET
    realised_log_return = excluded.realised_log_return,
    realised_close = excluded.realised_close,
    direction_hit = excluded.direction_hit,
    abs_error = excluded.abs_error
RETURNING (xmax = 0) AS inserted

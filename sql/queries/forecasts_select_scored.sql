-- Matured, scored forecasts whose target day lies in the `days` days ending at `as_of`.
-- One model per (coin, as-of, horizon) cell, chosen like forecasts_select_latest (the champion of
-- that day first), so a challenger's shadow forecasts are not counted twice.
SELECT DISTINCT ON (f.coin, f.as_of, f.horizon)
       f.coin, f.as_of, f.horizon, f.target_day, f.model_id, f.pred_log_return, s.realised_log_return
FROM forecasts f
JOIN forecast_scores s USING (coin, as_of, horizon, model_id)
JOIN models m USING (model_id)
WHERE f.target_day <= %(as_of)s AND f.target_day > %(as_of)s::date - %(days)s::int
ORDER BY f.coin, f.as_of, f.horizon,
         (m.champion_from IS NOT NULL AND m.champion_from <= f.as_of
          AND (m.champion_until IS NULL OR f.as_of < m.champion_until)) DESC,
         m.created_for DESC, f.model_id

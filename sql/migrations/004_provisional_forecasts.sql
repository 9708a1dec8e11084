-- Before the first promotion the newest model trained before the day forecasts it PROVISIONALLY
-- (cryptolstm/forecast.py). v_latest_forecasts says which rows are such, in a new last column;
-- CREATE OR REPLACE keeps the view's grants (the reader role).
CREATE OR REPLACE VIEW v_latest_forecasts AS
WITH latest AS (
    SELECT DISTINCT ON (f.coin) f.coin, f.as_of, f.model_id
    FROM forecasts f
    JOIN models m USING (model_id)
    ORDER BY f.coin, f.as_of DESC,
             (m.champion_from IS NOT NULL AND m.champion_from <= f.as_of
              AND (m.champion_until IS NULL OR f.as_of < m.champion_until)) DESC,
             m.created_for DESC, f.model_id
)
SELECT f.coin, f.as_of, f.horizon, f.target_day, f.model_id,
       f.base_close,                                   -- close of the as-of day
       f.pred_log_return,                              -- predicted log(close[target] / close[as_of])
       f.pred_close,                                   -- implied price: base_close * exp(pred_log_return)
       sign(f.pred_log_return)::int AS pred_direction, -- +1 up, -1 down, 0 flat
       f.run_id,
       CASE WHEN m.champion_from IS NOT NULL AND m.champion_from <= f.as_of
                 AND (m.champion_until IS NULL OR f.as_of < m.champion_until)
            THEN 'champion' ELSE 'provisional' END AS served_as  -- provisional: no champion on that day yet
FROM forecasts f
JOIN latest l USING (coin, as_of, model_id)
JOIN models m USING (model_id);
COMMENT ON VIEW v_latest_forecasts IS
    'Latest 5-day forecast per coin (one row per horizon) from the model that was champion on that as-of day, '
    'or, before the first promotion, from the newest model trained before it (served_as = provisional).';

-- Live accuracy of the stored (champion) forecasts whose target day lies in the %(window)s days ending
-- at %(as_of)s, from their scores. da counts cells whose realised return is not 0.
SELECT count(*) AS n_cells,
       count(s.direction_hit) AS n_direction_cells,
       avg(s.direction_hit::int)::double precision AS da,
       avg(s.abs_error) AS mae,
       avg(abs(s.realised_log_return)) AS rw_mae
FROM forecasts f
JOIN forecast_scores s USING (coin, as_of, horizon, model_id)
WHERE f.target_day <= %(as_of)s AND f.target_day > %(as_of)s::date - %(window)s::int

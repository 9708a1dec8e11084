-- The coverage-correction state used for one range of as-of day %(as_of)s; a rerun of the day rewrites it with
-- the same values (a function of the misses stored before the day).
INSERT INTO range_corrections (coin, as_of, horizon, level, method, alpha, log_factor, n_misses_used, n_missed,
                               last_target_day, model_id)
VALUES (%(coin)s, %(as_of)s, %(horizon)s, %(level)s, %(method)s, %(alpha)s, %(log_factor)s, %(n_misses_used)s,
        %(n_missed)s, %(last_target_day)s, %(model_id)s)
ON CONFLICT (coin, as_of, horizon, level) DO UPDATE SET
    method = excluded.method, alpha = excluded.alpha, log_factor = excluded.log_factor,
    n_misses_used = excluded.n_misses_used, n_missed = excluded.n_missed,
    last_target_day = excluded.last_target_day, model_id = excluded.model_id

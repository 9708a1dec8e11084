-- The day's rows of this model for coins it did not forecast this time (e.g. a rerun after a gap).
DELETE FROM forecasts WHERE as_of = %(as_of)s AND model_id = %(model_id)s AND NOT (coin = ANY(%(coins)s))

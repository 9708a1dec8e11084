-- The most recent as-of day that has a forecast (NULL when there is none).
SELECT max(as_of) AS as_of FROM forecasts

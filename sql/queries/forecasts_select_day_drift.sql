-- The input-drift flag of each coin forecast on %(as_of)s (NULL: not assessed, a model without a training
-- description) and why it is flagged; a coin forecast by two models is flagged if either flags it.
SELECT coin,
       bool_or(input_drifted) AS drifted,
       max(input_drift_cause) AS cause
FROM forecasts
WHERE as_of = %(as_of)s
GROUP BY coin
ORDER BY coin

-- The serving model's record beside each coin's latest forecast made on or before %(as_of)s: walk-forward and
-- live DA with their 95 percent day-block intervals, and the best naive rule's DA on the same live cells.
SELECT coin, model_id, as_of, wf_da, wf_da_low, wf_da_high, wf_n_cells, live_da, live_da_low, live_da_high,
       live_n_cells, best_naive_rule, best_naive_da, best_naive_n_cells
FROM v_forecast_evidence
WHERE as_of <= %(as_of)s
ORDER BY coin

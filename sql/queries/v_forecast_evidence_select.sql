-- The serving model's record beside each coin's latest forecast made on or before %(as_of)s: walk-forward and
-- live DA with their 95 percent day-block intervals, and its comparator fixed before the live cells (the naive rule
-- best in the model's own walk-forward) with its live DA on the same cells.
SELECT coin, model_id, as_of, wf_da, wf_da_low, wf_da_high, wf_n_cells, live_da, live_da_low, live_da_high,
       live_n_cells, comparator_rule, comparator_wf_da, comparator_live_da, comparator_live_da_low,
       comparator_live_da_high, comparator_live_n_cells
FROM v_forecast_evidence
WHERE as_of <= %(as_of)s
ORDER BY coin

-- Every naive rule's live DA [95 percent interval] on the live cells of the model behind each coin's latest
-- forecast made on or before %(as_of)s, rule by rule (the page's table behind the comparator's link).
SELECT coin, model_id, as_of, rule, live_da, live_da_low, live_da_high, live_n_cells, wf_da, is_comparator
FROM v_live_rule_accuracy
WHERE as_of <= %(as_of)s
ORDER BY coin, rule

-- Every decision recorded for one weekly interval end.
SELECT decided_for, challenger_id, champion_id, promoted, challenger_da, champion_da, n_cells, p_value, reason,
       challenger_da_ci_low, challenger_da_ci_high, da_diff_ci_low, da_diff_ci_high, details
FROM promotion_decisions
WHERE decided_for = %(decided_for)s
ORDER BY challenger_id

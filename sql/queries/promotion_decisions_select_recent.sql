-- Promotion decisions of the weekly DAG, newest first.
SELECT decided_for, challenger_id, champion_id, promoted, challenger_da, champion_da, n_cells, p_value, reason
FROM promotion_decisions
ORDER BY decided_for DESC, challenger_id
LIMIT %(limit)s

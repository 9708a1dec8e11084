-- Record one promotion decision (promoted or not) with both DAs, the bootstrap intervals, the cell count,
-- the one-sided p-value, the reason and every other figure (details).
INSERT INTO promotion_decisions (decided_for, challenger_id, champion_id, promoted, challenger_da, champion_da,
                                 n_cells, p_value, reason, details, challenger_da_ci_low, challenger_da_ci_high,
                                 da_diff_ci_low, da_diff_ci_high)
VALUES (%(decided_for)s, %(challenger_id)s, %(champion_id)s, %(promoted)s, %(challenger_da)s, %(champion_da)s,
        %(n_cells)s, %(p_value)s, %(reason)s, %(details)s::jsonb, %(challenger_da_ci_low)s,
        %(challenger_da_ci_high)s, %(da_diff_ci_low)s, %(da_diff_ci_high)s)

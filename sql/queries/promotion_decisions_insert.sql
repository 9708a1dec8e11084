-- Record one promotion decision (promoted or not) with both DAs, the cell count, p-value and reason.
INSERT INTO promotion_decisions (decided_for, challenger_id, champion_id, promoted, challenger_da, champion_da,
                                 n_cells, p_value, reason, details)
VALUES (%(decided_for)s, %(challenger_id)s, %(champion_id)s, %(promoted)s, %(challenger_da)s, %(champion_da)s,
        %(n_cells)s, %(p_value)s, %(reason)s, %(details)s::jsonb)

-- Has any decision been recorded for the weekly interval ending at this day (00:00 UTC)?
SELECT 1 FROM promotion_decisions WHERE decided_for = %(week_end)s::date::timestamptz LIMIT 1

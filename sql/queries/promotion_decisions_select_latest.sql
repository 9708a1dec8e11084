-- The most recent weekly interval end with a recorded decision (decisions are made in calendar order).
SELECT max(decided_for) FROM promotion_decisions

-- Remove one ensemble piece's row (before it stores it again: a rerun replaces exactly its rows). fold NULL: the
-- final fit (stored as -1).
DELETE FROM member_weights WHERE model_id = %(model_id)s AND fold = coalesce(%(fold)s, -1) AND member = %(member)s

-- Remove one ensemble piece's weights (before it stores them again: a rerun replaces exactly its rows).
DELETE FROM member_weights WHERE model_id = %(model_id)s AND fold = %(fold)s AND member = %(member)s

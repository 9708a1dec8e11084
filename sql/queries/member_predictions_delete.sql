-- Remove one walk-forward piece's predictions (before it stores them again: a rerun replaces exactly its rows).
DELETE FROM member_predictions WHERE model_id = %(model_id)s AND fold = %(fold)s AND member = %(member)s

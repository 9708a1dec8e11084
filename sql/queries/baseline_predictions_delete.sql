-- Remove one fold's baseline predictions (before they are stored again: a rerun replaces exactly its rows).
DELETE FROM baseline_predictions WHERE model_id = %(model_id)s AND fold = %(fold)s

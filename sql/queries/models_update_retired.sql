-- The current champion stops serving at %(until)s (exclusive).
UPDATE models SET status = 'retired', champion_until = %(until)s WHERE model_id = %(model_id)s

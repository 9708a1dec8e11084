-- A candidate becomes the champion for as-of days >= %(effective)s.
UPDATE models SET status = 'champion', champion_from = %(effective)s, champion_until = NULL
WHERE model_id = %(model_id)s

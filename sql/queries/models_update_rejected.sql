-- A candidate the gate refused.
UPDATE models SET status = 'rejected' WHERE model_id = %(model_id)s

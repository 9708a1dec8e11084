-- Replace a model's metrics document.
UPDATE models SET metrics = %(metrics)s WHERE model_id = %(model_id)s

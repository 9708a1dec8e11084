-- The model serving as champion on the as-of day (by its champion_from/until range), else the
-- model whose status is 'champion' now.
SELECT model_id, training_cutoff, champion_from, champion_until, created_for, status
FROM models
WHERE (champion_from <= %(as_of)s AND (champion_until IS NULL OR %(as_of)s < champion_until))
   OR status = 'champion'
ORDER BY (champion_from <= %(as_of)s AND (champion_until IS NULL OR %(as_of)s < champion_until)) DESC NULLS LAST,
         champion_from DESC NULLS LAST
LIMIT 1

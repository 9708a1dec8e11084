-- The stored pieces of a model (without their bytes): which (fold, member) exist, with their training facts,
-- and whether each is whole: a walk-forward piece has its predictions too (the final fit, stored as fold -1 and
-- handed to Python as NULL, has none). A piece stores both in one transaction; a half one was altered by hand.
SELECT nullif(w.fold, -1) AS fold, w.member, w.info,
       w.fold = -1 OR EXISTS (SELECT 1 FROM member_predictions p
                              WHERE p.model_id = w.model_id AND p.fold = w.fold AND p.member = w.member)
FROM member_weights w
WHERE w.model_id = %(model_id)s
ORDER BY w.fold, w.member

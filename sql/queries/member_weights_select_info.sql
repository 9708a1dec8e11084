-- The stored pieces of a model (without their bytes): which (fold, member) exist, with their training facts;
-- fold NULL is the final fit.
SELECT nullif(fold, -1) AS fold, member, info FROM member_weights WHERE model_id = %(model_id)s ORDER BY fold, member

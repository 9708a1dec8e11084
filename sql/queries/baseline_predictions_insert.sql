-- Every baseline's prediction of one cell and horizon of one walk-forward fold.
INSERT INTO baseline_predictions (model_id, fold, coin, as_of, horizon, predictions)
VALUES (%(model_id)s, %(fold)s, %(coin)s, %(as_of)s, %(horizon)s, %(predictions)s::jsonb)

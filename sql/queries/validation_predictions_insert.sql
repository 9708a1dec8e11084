-- One out-of-sample walk-forward prediction of a registered model (written once, with the model).
INSERT INTO validation_predictions (model_id, coin, as_of, horizon, fold, fold_cutoff, pred_log_return,
                                    realised_log_return)
VALUES (%(model_id)s, %(coin)s, %(as_of)s, %(horizon)s, %(fold)s, %(fold_cutoff)s, %(pred_log_return)s,
        %(realised_log_return)s)

-- One out-of-sample walk-forward prediction of one ensemble member.
INSERT INTO member_predictions (model_id, fold, member, coin, as_of, horizon, pred_log_return, realised_log_return)
VALUES (%(model_id)s, %(fold)s, %(member)s, %(coin)s, %(as_of)s, %(horizon)s, %(pred_log_return)s,
        %(realised_log_return)s)

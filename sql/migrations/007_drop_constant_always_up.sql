-- 007: validation_predictions.always_up held the constant 1.0 on every cell (the always-up rule's
-- prediction) and nothing read it: the naive baselines' figures on the challenger's cells are in its
-- registry metrics (`metrics.baselines`, `metrics.baseline_da`). No view reads the column.
ALTER TABLE validation_predictions DROP COLUMN always_up;

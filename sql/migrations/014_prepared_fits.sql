-- 014: the weekly run prepares once and trains members cheaply (cryptolstm/serving/preparations.py).
-- * prepared_fits: the weekly run's preparation (the feature cube up to the training cutoff, and per walk-forward
--   fold and for the final fit its cells, scaler and input description), stored once by the `prepare` task under
--   a content key (sha256 of the candles and the configuration); every train_member task and the gather load it.
-- * member_weights keeps the final fit's weights only: a walk-forward piece stores its predictions
--   (member_predictions) and its training facts here, with no artifact. Fold -1 is the final fit (in SQL only:
--   the queries hand the final fit's fold to Python as NULL).

CREATE TABLE prepared_fits (
    prep_key        text PRIMARY KEY,      -- sha256 of the candles up to the cutoff and of the run's configuration
    model_id        text NOT NULL,         -- the weekly model it is prepared for (no FK: stored before it exists)
    training_cutoff date NOT NULL,
    artifact        bytea NOT NULL,        -- .npz of plain arrays (no pickles), see preparations.to_bytes
    artifact_sha256 text NOT NULL
);
COMMENT ON TABLE prepared_fits IS
    'The weekly run''s preparation (cube, and per fold and final fit: cells, scaler, input description), by content key.';

UPDATE member_weights SET artifact = NULL, artifact_sha256 = NULL WHERE fold >= 0 AND artifact IS NOT NULL;
ALTER TABLE member_weights ALTER COLUMN artifact DROP NOT NULL;
ALTER TABLE member_weights ALTER COLUMN artifact_sha256 DROP NOT NULL;
ALTER TABLE member_weights ADD CONSTRAINT member_weights_final_fit_weights_only
    CHECK ((fold = -1) = (artifact IS NOT NULL) AND (artifact IS NULL) = (artifact_sha256 IS NULL));
COMMENT ON TABLE member_weights IS
    'One seed-ensemble member of a weekly challenger: training facts per walk-forward fold (0..n-1) and for the '
    'final fit (-1), whose one-member bundle alone is kept.';

-- * baseline_predictions: every challenger baseline's out-of-sample predictions of one walk-forward fold, computed by
--   its own mapped task (fit_baselines) on the preparation; the gather scores the ensemble next to them. One row per
--   cell and horizon, the baselines' predictions as {baseline: predicted log return}.
CREATE TABLE baseline_predictions (
    model_id    text NOT NULL,
    fold        smallint NOT NULL CHECK (fold >= 0),
    coin        text NOT NULL,
    as_of       date NOT NULL,
    horizon     smallint NOT NULL CHECK (horizon BETWEEN 1 AND 5),
    predictions jsonb NOT NULL,  -- {baseline name: predicted log return}
    PRIMARY KEY (model_id, fold, coin, as_of, horizon)
);
COMMENT ON TABLE baseline_predictions IS
    'Out-of-sample walk-forward predictions of every challenger baseline, per weekly model, fold and cell.';

-- 011: the weekly run trains its seed ensemble one (fold, member) piece at a time, each an Airflow mapped task
-- (cryptolstm/serving/members.py), and a gather task joins them into one registered K-member model.
-- * member_weights: each piece's one-member model bundle; fold -1 is the final fit on every day up to the
--   training cutoff, folds 0..n-1 the walk-forward folds.
-- * member_predictions: each walk-forward piece's out-of-sample predictions (the gather averages them per cell).
-- A piece replaces exactly its own rows, keyed by (model_id, fold, member), in one transaction. model_id is the
-- model the pieces will be registered as: no foreign key, the pieces are stored before the model exists.
-- * v_models shows each model's ensemble size and the members' spread (metrics.ensemble), NULL for a model
--   registered before it was recorded.

CREATE TABLE member_weights (
    model_id        text NOT NULL,
    fold            smallint NOT NULL CHECK (fold >= -1),  -- -1: the final fit; 0..n-1: walk-forward fold
    member          smallint NOT NULL CHECK (member >= 0),  -- ensemble member, 0-based
    seed            integer NOT NULL,                      -- the member's training seed
    training_cutoff date NOT NULL,                         -- last day whose targets the member trained on
    info            jsonb NOT NULL,                        -- training facts: epochs, windows, seconds
    artifact        bytea NOT NULL,                        -- one-member model bundle (modelling/bundle.py)
    artifact_sha256 text NOT NULL,
    PRIMARY KEY (model_id, fold, member)
);
COMMENT ON TABLE member_weights IS
    'One seed-ensemble member of a weekly challenger, per walk-forward fold (0..n-1) and for the final fit (-1).';

CREATE TABLE member_predictions (
    model_id            text NOT NULL,
    fold                smallint NOT NULL CHECK (fold >= 0),
    member              smallint NOT NULL CHECK (member >= 0),
    coin                text NOT NULL,
    as_of               date NOT NULL,
    horizon             smallint NOT NULL CHECK (horizon BETWEEN 1 AND 5),
    pred_log_return     double precision NOT NULL,
    realised_log_return double precision NOT NULL,
    PRIMARY KEY (model_id, fold, member, coin, as_of, horizon)
);
COMMENT ON TABLE member_predictions IS
    'Out-of-sample walk-forward predictions of one seed-ensemble member (validation_predictions: their mean).';

CREATE OR REPLACE VIEW v_models AS
SELECT model_id, created_for, training_cutoff, feature_version, code_version, status,
       champion_from, champion_until, hyperparams, metrics, artifact_sha256,
       octet_length(artifact) AS artifact_bytes,
       coalesce((metrics -> 'ensemble' ->> 'members')::int, (hyperparams ->> 'n_seeds')::int) AS members,
       (metrics -> 'ensemble' ->> 'da_min')::double precision AS member_da_min,  -- the members' walk-forward DA:
       (metrics -> 'ensemble' ->> 'da_max')::double precision AS member_da_max,  -- lowest and highest
       (metrics -> 'ensemble' ->> 'pred_sd')::double precision AS member_pred_sd -- mean cross-member sd of pred_log_return
FROM models;
COMMENT ON VIEW v_models IS
    'Model registry rows without the artifact bytes; champion_from/until are as-of days; members: ensemble size, '
    'with the members'' walk-forward DA range and mean cross-member sd of the predicted log return.';

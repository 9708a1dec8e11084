-- 008: the `features` table goes; the read-only role gets a statement timeout.
-- `features` (001) kept the model inputs of each daily run, but nothing ever read them: the forecast builds
-- its features from `candles` every day, and the same inputs are rebuilt bit for bit from `candles` by
-- `modelling.features.build_features`.
DROP TABLE features;

-- A reader's query (the Forecasts page, an analyst's psql) is cancelled after 15 s, so that it cannot hold
-- the database: the page's queries take milliseconds. A session may still raise it for itself
-- (SET statement_timeout = ...). Like 003 on an existing role, only a superuser applies it; where the
-- migrations run as the database owner (docker), docker/postgres-init/10-cryptolstm.sh sets the same value.
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE cryptolstm_reader SET statement_timeout = '15s';
    END IF;
END $$;

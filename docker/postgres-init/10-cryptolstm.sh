#!/bin/bash
# Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d/).
# Creates the forecasting database `cryptolstm`, owned by the role `cryptolstm` that the DAGs and the
# migrations use, and the read-only role `cryptolstm_reader` for the Forecasts page and analysts.
# Passwords come from the environment (compose passes them from .env); nothing is hard-coded.
set -euo pipefail
: "${CRYPTOLSTM_DB_PASSWORD:?set CRYPTOLSTM_DB_PASSWORD}"
: "${CRYPTOLSTM_READER_PASSWORD:?set CRYPTOLSTM_READER_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
     -v db_pw="$CRYPTOLSTM_DB_PASSWORD" -v reader_pw="$CRYPTOLSTM_READER_PASSWORD" <<'SQL'
CREATE ROLE cryptolstm LOGIN PASSWORD :'db_pw';
CREATE ROLE cryptolstm_reader LOGIN PASSWORD :'reader_pw';
ALTER ROLE cryptolstm_reader SET default_transaction_read_only = on;
ALTER ROLE cryptolstm_reader SET statement_timeout = '15s';  -- as migration 008 (run by a superuser)
CREATE DATABASE cryptolstm OWNER cryptolstm;
REVOKE ALL ON DATABASE cryptolstm FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE cryptolstm TO cryptolstm;
GRANT CONNECT ON DATABASE cryptolstm TO cryptolstm_reader;
\connect cryptolstm
ALTER SCHEMA public OWNER TO cryptolstm;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO cryptolstm_reader;
-- Tables and views the migrations create later (as `cryptolstm`) are readable by the reader.
ALTER DEFAULT PRIVILEGES FOR ROLE cryptolstm IN SCHEMA public GRANT SELECT ON TABLES TO cryptolstm_reader;
SQL
echo "cryptolstm: database 'cryptolstm', roles 'cryptolstm' and 'cryptolstm_reader' created"

-- 003: the read-only role for analysts and dashboards.
-- `cryptolstm_reader` can log in, read every table and view of this database and nothing else: its
-- sessions are read-only by default and it owns nothing. Its password is set by the deployment
-- (docker: the postgres init script creates the role with one; by hand:
-- ALTER ROLE cryptolstm_reader PASSWORD '...'). Roles are cluster-wide, so this migration is
-- idempotent across databases on one server, and it works when run by a database owner that cannot
-- manage roles, as long as the role already exists (the docker init script creates it).
DO $$
DECLARE
    is_super boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
    can_create boolean := (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cryptolstm_reader') THEN
        IF NOT can_create THEN
            RAISE EXCEPTION 'role cryptolstm_reader does not exist and % may not create roles: create it first', current_user;
        END IF;
        CREATE ROLE cryptolstm_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
        ALTER ROLE cryptolstm_reader SET default_transaction_read_only = on;
    ELSIF is_super THEN
        ALTER ROLE cryptolstm_reader SET default_transaction_read_only = on;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO cryptolstm_reader', current_database());
END $$;

GRANT USAGE ON SCHEMA public TO cryptolstm_reader;
-- Every table and view of migrations 001-002 (incl. models.artifact; use v_models to skip the bytes).
GRANT SELECT ON ALL TABLES IN SCHEMA public TO cryptolstm_reader;
-- Tables and views later migrations create (as the same owner) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO cryptolstm_reader;
-- No DDL in public, even where PUBLIC still has CREATE (PostgreSQL < 15 defaults).
REVOKE CREATE ON SCHEMA public FROM cryptolstm_reader;

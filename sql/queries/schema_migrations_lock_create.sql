-- The migration lock table (never holds a row; see storage.migrate for why a table lock).
CREATE TABLE IF NOT EXISTS schema_migrations_lock (
    held boolean PRIMARY KEY CHECK (held)
)

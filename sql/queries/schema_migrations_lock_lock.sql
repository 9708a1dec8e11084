-- Take the migration lock until the transaction ends: only the table's owner (the migrating role) may.
LOCK TABLE schema_migrations_lock IN EXCLUSIVE MODE

-- The applied migrations and their recorded checksums.
SELECT version, sha256 FROM schema_migrations

-- Record one applied migration (in the same transaction as the migration itself).
INSERT INTO schema_migrations (version, name, sha256) VALUES (%(version)s, %(name)s, %(sha256)s)

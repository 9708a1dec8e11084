-- A weekly preparation's bytes and their sha256, by content key.
SELECT artifact, artifact_sha256 FROM prepared_fits WHERE prep_key = %(prep_key)s

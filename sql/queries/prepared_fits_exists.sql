-- Is a weekly preparation stored under this content key?
SELECT 1 FROM prepared_fits WHERE prep_key = %(prep_key)s

-- Record the state of one alert on one day; `emailed` is kept when the row already exists, so a
-- rerun of the day never mails twice.
INSERT INTO alerts AS a (kind, as_of, state, message, details, emailed)
VALUES (%(kind)s, %(as_of)s, %(state)s, %(message)s, %(details)s::jsonb, false)
ON CONFLICT (kind, as_of) DO UPDATE SET
    state = excluded.state, message = excluded.message, details = excluded.details,
    emailed = a.emailed AND a.state = excluded.state
RETURNING emailed

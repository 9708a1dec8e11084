-- One coin-day of model inputs (computed from candles <= that day only).
INSERT INTO features (coin, day, feature_version, values)
VALUES (%(coin)s, %(day)s, %(feature_version)s, %(values)s::jsonb)
ON CONFLICT (coin, day, feature_version) DO UPDATE SET values = excluded.values

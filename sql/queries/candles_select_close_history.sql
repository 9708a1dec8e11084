-- Daily closes of every coin in the `days` days ending at `as_of` (nothing after it).
SELECT coin, day, close
FROM candles
WHERE day <= %(as_of)s AND day > %(as_of)s::date - %(days)s::int
ORDER BY coin, day

-- The canonical candle panel for the model: every stored daily candle up to a day (inclusive).
-- Parameters: until (date or NULL for everything). Order is (coin_index, day) so coins come out
-- in embedding order. A coin's history starts at its latest accepted level shift on or before `until`
-- (candle_level_shifts): prices before the break are on another scale, and no return is read across it.
SELECT c.coin, c.day, c.open, c.high, c.low, c.close, c.volume
FROM candles c
JOIN coins k USING (coin)
WHERE (%(until)s::date IS NULL OR c.day <= %(until)s::date)
  AND c.day >= coalesce((SELECT max(b.day) FROM candle_level_shifts b
                         WHERE b.coin = c.coin AND (%(until)s::date IS NULL OR b.day <= %(until)s::date)),
                        '-infinity'::date)
ORDER BY k.coin_index, c.day

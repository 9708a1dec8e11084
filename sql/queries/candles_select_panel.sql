-- The canonical candle panel for the model: every stored daily candle up to a day (inclusive).
-- Parameters: until (date or NULL for everything). Order is (coin_index, day) so coins come out
-- in embedding order.
SELECT c.coin, c.day, c.open, c.high, c.low, c.close, c.volume
FROM candles c
JOIN coins k USING (coin)
WHERE (%(until)s::date IS NULL OR c.day <= %(until)s::date)
ORDER BY k.coin_index, c.day

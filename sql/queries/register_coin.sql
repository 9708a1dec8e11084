-- A configured coin not seeded yet gets the next free embedding index; a known coin is left as is.
INSERT INTO coins (coin, symbol, exchange, coin_index)
SELECT %(coin)s, %(symbol)s, %(exchange)s, coalesce(max(coin_index) + 1, 0) FROM coins
ON CONFLICT (coin) DO NOTHING

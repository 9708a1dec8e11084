-- How many candles are stored.
SELECT count(*) FROM candles

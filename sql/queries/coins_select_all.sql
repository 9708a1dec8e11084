-- The coins to chart, in their stable model order.
SELECT coin, symbol FROM coins ORDER BY coin_index

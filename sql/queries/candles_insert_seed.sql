-- Seed candles in bulk (benchmarks on a scratch database): psycopg2.extras.execute_values fills the VALUES list.
INSERT INTO candles (coin, day, open, high, low, close, volume, first_seen_in) VALUES %s

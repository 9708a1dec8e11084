"""`panel.read_candles` reads the candles table into the same frame as the CSV loader."""

import pandas as pd

from cryptolstm.market import panel

from cryptolstm import storage
from cryptolstm.modelling.features import build_features


def _insert(dsn, frame):
    with storage.transaction(dsn) as cur:
        for r in frame.itertuples():
            cur.execute("INSERT INTO candles (coin, day, open, high, low, close, volume, first_seen_in) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, '2025-01-01T00:00Z')",
                        (r.coin, r.day.date(), r.open, r.high, r.low, r.close, r.volume))


def test_read_candles_matches_the_csv_frame(db, shared_data):
    csv = panel.load_csv_dir(shared_data, coins=("ETH", "BTC"))
    csv = csv[csv.day >= "2024-09-01"].reset_index(drop=True)
    _insert(db, csv)
    got = panel.read_candles(db)
    pd.testing.assert_frame_equal(got, csv, check_exact=True)
    assert panel.read_candles(db, until="2024-12-31")["day"].max() == pd.Timestamp("2024-12-31")
    pd.testing.assert_frame_equal(build_features(got), build_features(csv), check_exact=True)


def test_empty_table_gives_an_empty_frame(db):
    got = panel.read_candles(db)
    assert list(got.columns) == panel.COLUMNS and got.empty

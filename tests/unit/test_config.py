import json

from cryptolstm.config import DEFAULT_COINS, Settings, dsn_from_airflow_conn, make_dsn


def test_defaults_and_env_overrides():
    s = Settings.from_env({})
    assert s.dsn is None and s.market.coins == DEFAULT_COINS and s.market.exchange == "binance"
    s = Settings.from_env({"CRYPTOLSTM_COINS": "btc, eth", "CRYPTOLSTM_EXCHANGE_URL": "http://127.0.0.1:1/api/v3",
                           "CRYPTOLSTM_DSN": "postgresql://u@h/db"})
    assert s.market.coins == ("BTC", "ETH") and s.market.symbols() == ("BTC/USDT", "ETH/USDT")
    assert s.market.api_url == "http://127.0.0.1:1/api/v3" and s.dsn == "postgresql://u@h/db"


def test_airflow_connection_json_and_uri_forms():
    j = json.dumps({"conn_type": "postgres", "host": "/tmp/sock dir", "login": "postgres", "schema": "cryptolstm"})
    assert dsn_from_airflow_conn(j) == "postgresql://postgres@/cryptolstm?host=/tmp/sock%20dir"
    uri = "postgres://reader:p%40ss@db.example:5433/cryptolstm?sslmode=require"
    assert dsn_from_airflow_conn(uri) == "postgresql://reader:p%40ss@db.example:5433/cryptolstm?sslmode=require"
    assert Settings.from_env({"AIRFLOW_CONN_CRYPTOLSTM_DB": uri}).dsn.startswith("postgresql://reader:")


def test_make_dsn_socket_and_tcp():
    assert make_dsn(host="/s", dbname="d") == "postgresql://postgres@/d?host=/s"
    assert make_dsn(host="h", dbname="d", user="u", password="p", port=5432) == "postgresql://u:p@h:5432/d"


def test_served_coins_and_training_universe():
    from cryptolstm.config import AUX_COINS, COIN_ORDER

    m = Settings.from_env({}).market
    assert m.coins == DEFAULT_COINS and m.auxiliary == AUX_COINS
    assert m.universe() == DEFAULT_COINS + AUX_COINS == COIN_ORDER and len(m.universe()) == 20
    assert m.universe_symbols()[-1] == "XMR/USDT" and m.symbols() == tuple(f"{c}/USDT" for c in DEFAULT_COINS)
    none = Settings.from_env({"CRYPTOLSTM_AUX_COINS": ""}).market
    assert none.universe() == DEFAULT_COINS
    some = Settings.from_env({"CRYPTOLSTM_COINS": "btc", "CRYPTOLSTM_AUX_COINS": "xmr, btc"}).market
    assert some.universe() == ("BTC", "XMR")  # a served coin listed as auxiliary is not counted twice

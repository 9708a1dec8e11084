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


# ---- the one settings loader: typed readers, bounds, every bad variable named -------------------------

import pytest  # noqa: E402

from cryptolstm.config import (AlertConfig, Env, MarketConfig, PipelineConfig, PromotionConfig,  # noqa: E402
                               SettingError, validate)


def test_bad_integer_names_the_variable_and_what_it_accepts():
    with pytest.raises(SettingError) as err:
        PipelineConfig.from_env({"CRYPTOLSTM_WF_FOLDS": "abc"})
    assert str(err.value) == "CRYPTOLSTM_WF_FOLDS must be an integer >= 1, got 'abc'"


@pytest.mark.parametrize("name, value, accepts", [
    ("CRYPTOLSTM_WF_FOLDS", "0", "an integer >= 1"),
    ("CRYPTOLSTM_WF_DAYS", "-3", "an integer >= 1"),
    ("CRYPTOLSTM_STALE_DAYS", "-1", "an integer >= 0"),
    ("CRYPTOLSTM_ALERT_STALE_DAYS", "-1", "an integer >= 0"),
    ("CRYPTOLSTM_ALERT_MIN_DA", "1.5", "a number between 0.0 and 1.0"),
    ("CRYPTOLSTM_ALERT_MIN_DA", "nan", "a number between 0.0 and 1.0"),
    ("CRYPTOLSTM_ALERT_WINDOW_DAYS", "0", "an integer >= 1"),
    ("CRYPTOLSTM_ALERT_MIN_CELLS", "x", "an integer >= 1"),
    ("CRYPTOLSTM_ALERT_BELOW_VALIDATION_PP", "-2", "a number between 0.0 and 100.0"),
    ("CRYPTOLSTM_ALERT_TO", ", ,", "a comma-separated list with at least one item"),
    ("CRYPTOLSTM_PROMOTION_MIN_CELLS", "0", "an integer >= 1"),
    ("CRYPTOLSTM_PROMOTION_ALPHA", "2", "a number between 1e-09 and 0.999999"),
    ("CRYPTOLSTM_PROMOTION_FIRST_MIN_LOWER", "-0.1", "a number between 0.0 and 1.0"),
    ("CRYPTOLSTM_PROMOTION_WEEKS", "0", "an integer between 1 and 52"),
    ("CRYPTOLSTM_PROMOTION_MARGIN", "lots", "a number between -1.0 and 1.0"),
    ("CRYPTOLSTM_TRAIN_PROFILE", "huge", "one of 'full', 'tiny'"),
    ("CRYPTOLSTM_PROVISIONAL", "maybe", "1 or 0 (also true/false, yes/no, on/off)"),
    ("CRYPTOLSTM_API_PORT", "http", "an integer between 1 and 65535"),
    ("CRYPTOLSTM_SMTP_PORT", "0", "an integer between 1 and 65535"),
    ("CRYPTOLSTM_STANDIN_PORT", "70000", "an integer between 1 and 65535"),
    ("CRYPTOLSTM_OVERLAP_DAYS", "-1", "an integer between 0 and 365"),
    ("CRYPTOLSTM_MAX_CLOSE_JUMP", "0.5", "a number >= 1.0"),
    ("CRYPTOLSTM_COINS", ",,", "a comma-separated list with at least one item"),
])
def test_settings_refuse_nonsense(name, value, accepts):
    with pytest.raises(SettingError) as err:
        validate({name: value})  # the loader `cryptolstm` runs before any command
    assert str(err.value) == f"{name} must be {accepts}, got {value!r}"


def test_validate_reports_every_bad_variable_at_once():
    env = {"CRYPTOLSTM_WF_FOLDS": "abc", "CRYPTOLSTM_STALE_DAYS": "-1", "CRYPTOLSTM_API_PORT": "x"}
    with pytest.raises(SettingError) as err:
        validate(env)
    message = str(err.value)
    for name in env:
        assert name in message, message
    settings, pipeline = validate({"CRYPTOLSTM_WF_FOLDS": "3", "CRYPTOLSTM_API_PORT": "9090"})
    assert (pipeline.wf_folds, settings.api_port) == (3, 9090)


def test_wf_days_must_cover_the_comparison_weeks():
    with pytest.raises(SettingError, match=r"CRYPTOLSTM_WF_DAYS must be >= 7 x CRYPTOLSTM_PROMOTION_WEEKS \(= 28\)"):
        PipelineConfig.from_env({"CRYPTOLSTM_WF_DAYS": "20"})
    assert PipelineConfig.from_env({"CRYPTOLSTM_WF_DAYS": "21", "CRYPTOLSTM_PROMOTION_WEEKS": "3"}).wf_days == 21


def test_stale_days_reach_alerts_unless_the_alert_override_is_set():
    c = PipelineConfig.from_env({"CRYPTOLSTM_STALE_DAYS": "10", "CRYPTOLSTM_ALERT_STALE_DAYS": "12"})
    assert (c.stale_after_days, c.alerts.stale_after_days) == (10, 12)


def test_env_readers_types_and_defaults():
    env = Env({"I": " 7 ", "F": "0.25", "B": "Off", "L": "a, b,,c", "P": "/x/y", "S": "tiny", "E": "  "})
    assert env.int("I", 0, min=1) == 7 and env.float("F", 0.0) == 0.25 and env.bool("B", True) is False
    assert env.list("L", ()) == ("a", "b", "c") and str(env.path("P", None)) == "/x/y"
    assert env.str("S", "full", choices=("full", "tiny")) == "tiny"
    assert env.int("E", 5) == 5 and env.int("MISSING", 6) == 6  # blank or unset: the default
    env.check()  # nothing bad was read


def test_airflow_connection_is_read_by_the_same_loader():
    reader = "postgres://cryptolstm_reader:pw@pg:5432/cryptolstm"
    s = Settings.from_env({"AIRFLOW_CONN_CRYPTOLSTM_READER": reader,
                           "AIRFLOW_CONN_CRYPTOLSTM_DB": "postgres://cryptolstm:x@pg:5432/cryptolstm"})
    assert s.reader_dsn == "postgresql://cryptolstm_reader:pw@pg:5432/cryptolstm"
    assert s.dsn == "postgresql://cryptolstm:x@pg:5432/cryptolstm"
    assert Settings.from_env({"CRYPTOLSTM_DSN": "postgresql://u@h/d", "AIRFLOW_CONN_CRYPTOLSTM_DB": reader}).dsn \
        == "postgresql://u@h/d"  # the explicit DSN wins
    with pytest.raises(SettingError, match="AIRFLOW_CONN_CRYPTOLSTM_DB must be an Airflow connection"):
        Settings.from_env({"AIRFLOW_CONN_CRYPTOLSTM_DB": "{not json"})


def test_config_sections_read_their_own_variables():
    assert MarketConfig.from_env({"CRYPTOLSTM_QUOTE": "usdc"}).quote == "USDC"
    assert PromotionConfig.from_env({"CRYPTOLSTM_PROMOTION_FIRST_MARGIN": "-0.5"}).first_model_margin == -0.5
    assert PipelineConfig.from_env({}).wf_folds * 120 <= PipelineConfig.from_env({}).wf_days  # >= 5 x 120
    assert PipelineConfig.from_env({}).wf_folds >= 5
    assert AlertConfig.from_env({"CRYPTOLSTM_ALERT_BELOW_VALIDATION_PP": "3"}).below_validation_pp == 3.0


def test_cli_refuses_a_bad_setting_before_running_anything(monkeypatch, capsys):
    from cryptolstm import cli

    monkeypatch.setenv("CRYPTOLSTM_WF_FOLDS", "abc")
    called = []
    monkeypatch.setattr(cli, "build_parser", lambda: _parser(called))
    assert cli.main(["noop"]) == 2
    assert called == [] and "CRYPTOLSTM_WF_FOLDS must be an integer >= 1, got 'abc'" in capsys.readouterr().err


def _parser(called):
    import argparse

    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    sub.add_parser("noop").set_defaults(func=lambda args: called.append(args))
    return p

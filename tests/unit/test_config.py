import json
from dataclasses import replace

from psycopg2.extensions import parse_dsn

from cryptolstm.config import DEFAULT_COINS, TrainConfig
from cryptolstm.dsn import dsn_from_airflow_conn, make_dsn, with_dbname
from cryptolstm.environment import load_settings


def test_defaults_and_env_overrides():
    s = load_settings({})
    assert s.dsn is None and s.market.coins == DEFAULT_COINS and s.market.exchange == "binance"
    s = load_settings({"CRYPTOLSTM_COINS": "btc, eth", "CRYPTOLSTM_EXCHANGE_URL": "http://127.0.0.1:1/api/v3",
                           "CRYPTOLSTM_DSN": "postgresql://u@h/db"})
    assert s.market.coins == ("BTC", "ETH") and s.market.symbols() == ("BTC/USDT", "ETH/USDT")
    assert s.market.api_url == "http://127.0.0.1:1/api/v3" and s.dsn == "postgresql://u@h/db"


def _same(dsn: str, expected: str) -> bool:
    """Two DSNs (key=value or URI form) say the same thing to libpq."""
    return parse_dsn(dsn) == parse_dsn(expected)


def test_airflow_connection_json_and_uri_forms():
    j = json.dumps({"conn_type": "postgres", "host": "/tmp/sock dir", "login": "postgres", "schema": "cryptolstm"})
    assert _same(dsn_from_airflow_conn(j), "postgresql://postgres@/cryptolstm?host=/tmp/sock%20dir")
    uri = "postgres://reader:p%40ss@db.example:5433/cryptolstm?sslmode=require"
    assert _same(dsn_from_airflow_conn(uri), "postgresql://reader:p%40ss@db.example:5433/cryptolstm?sslmode=require")
    assert parse_dsn(load_settings({"AIRFLOW_CONN_CRYPTOLSTM_DB": uri}).dsn)["user"] == "reader"


def test_airflow_connection_extras_reach_libpq_only_when_libpq_knows_them():
    j = json.dumps({"host": "h", "login": "u", "schema": "d", "extra": {"sslmode": "require", "cursor": "dictcursor"}})
    assert _same(dsn_from_airflow_conn(j), "postgresql://u@h/d?sslmode=require")
    assert _same(dsn_from_airflow_conn("postgres://u@h/d?iam=true&connect_timeout=5"),
                 "postgresql://u@h/d?connect_timeout=5")


def test_make_dsn_socket_and_tcp():
    assert _same(make_dsn(host="/s", dbname="d"), "postgresql://postgres@/d?host=/s")
    assert _same(make_dsn(host="h", dbname="d", user="u", password="p", port=5432), "postgresql://u:p@h:5432/d")
    assert parse_dsn(make_dsn(host="h", dbname="d", password="a b'c"))["password"] == "a b'c"  # quoted by psycopg2
    assert _same(with_dbname("postgresql://u@h:5/d?sslmode=require", "other"), "postgresql://u@h:5/other?sslmode=require")


def test_served_coins_and_training_universe():
    from cryptolstm.config import AUX_COINS, COIN_ORDER

    m = load_settings({}).market
    assert m.coins == DEFAULT_COINS and m.auxiliary == AUX_COINS
    assert m.universe() == DEFAULT_COINS + AUX_COINS == COIN_ORDER and len(m.universe()) == 20
    assert m.universe_symbols()[-1] == "XMR/USDT" and m.symbols() == tuple(f"{c}/USDT" for c in DEFAULT_COINS)
    none = load_settings({"CRYPTOLSTM_AUX_COINS": ""}).market
    assert none.universe() == DEFAULT_COINS
    some = load_settings({"CRYPTOLSTM_COINS": "btc", "CRYPTOLSTM_AUX_COINS": "xmr, btc"}).market
    assert some.universe() == ("BTC", "XMR")  # a served coin listed as auxiliary is not counted twice


# ---- the one settings loader: typed readers, bounds, every bad variable named -------------------------

import pytest  # noqa: E402

from cryptolstm.environment import (SettingError, load_alerts, load_market, load_pipeline,  # noqa: E402
                                    load_promotion, load_sensor_poke, validate)


def test_bad_integer_names_the_variable_and_what_it_accepts():
    with pytest.raises(SettingError) as err:
        load_pipeline({"CRYPTOLSTM_WF_FOLDS": "abc"})
    assert str(err.value) == "CRYPTOLSTM_WF_FOLDS must be an integer >= 1, got 'abc'"


@pytest.mark.parametrize("name, value, accepts", [
    ("CRYPTOLSTM_WF_FOLDS", "0", "an integer >= 1"),
    ("CRYPTOLSTM_WF_DAYS", "-3", "an integer >= 1"),
    ("CRYPTOLSTM_STALE_DAYS", "-1", "an integer >= 0"),
    ("CRYPTOLSTM_ALERT_STALE_DAYS", "-1", "unset: forecasts and alerts share one stale limit, CRYPTOLSTM_STALE_DAYS"),
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
    ("CRYPTOLSTM_ENSEMBLE_MEMBERS", "0", "an integer between 1 and 50"),
    ("CRYPTOLSTM_SENSOR_POKE_S", "0", "a number between 1 and 3600"),
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
        load_pipeline({"CRYPTOLSTM_WF_DAYS": "20"})
    assert load_pipeline({"CRYPTOLSTM_WF_DAYS": "21", "CRYPTOLSTM_PROMOTION_WEEKS": "3"}).wf_days == 21


def test_one_stale_limit_for_forecasts_and_alerts():
    """CRYPTOLSTM_STALE_DAYS is the one stale limit: the forecasts' stale label (pipeline.forecast) and the
    stale_champion alert both read `alerts.stale_after_days`; the retired alert-only variable is refused."""
    c = load_pipeline({"CRYPTOLSTM_STALE_DAYS": "10"})
    assert c.alerts.stale_after_days == 10 and not hasattr(c, "stale_after_days")
    assert load_pipeline({}).alerts.stale_after_days == 21
    with pytest.raises(SettingError, match="CRYPTOLSTM_ALERT_STALE_DAYS must be unset"):
        load_pipeline({"CRYPTOLSTM_STALE_DAYS": "10", "CRYPTOLSTM_ALERT_STALE_DAYS": "12"})


def test_env_readers_types_and_defaults():
    """Values are stripped; ints, floats, booleans (1/0, true/false, yes/no, on/off), comma lists, paths and
    choices are parsed; a blank or unset variable keeps the default."""
    c = load_pipeline({"CRYPTOLSTM_WF_FOLDS": " 7 ", "CRYPTOLSTM_PROMOTION_MARGIN": "0.25", "CRYPTOLSTM_PROVISIONAL": "Off",
                       "CRYPTOLSTM_ALERT_TO": "a, b,,c", "CRYPTOLSTM_CHARTS_DIR": "/x/y",
                       "CRYPTOLSTM_TRAIN_PROFILE": "tiny", "CRYPTOLSTM_WF_DAYS": "  "})
    assert c.wf_folds == 7 and c.promotion.margin == 0.25 and c.provisional is False
    assert c.alerts.recipients == ("a", "b", "c") and str(c.charts_dir) == "/x/y"
    assert c.train_profile == "tiny"
    assert c.wf_days == 600 and c.alerts.min_cells == 450  # blank or unset: the default


def test_airflow_connection_is_read_by_the_same_loader():
    reader = "postgres://cryptolstm_reader:pw@pg:5432/cryptolstm"
    s = load_settings({"AIRFLOW_CONN_CRYPTOLSTM_READER": reader,
                           "AIRFLOW_CONN_CRYPTOLSTM_DB": "postgres://cryptolstm:x@pg:5432/cryptolstm"})
    assert _same(s.reader_dsn, "postgresql://cryptolstm_reader:pw@pg:5432/cryptolstm")
    assert _same(s.dsn, "postgresql://cryptolstm:x@pg:5432/cryptolstm")
    assert load_settings({"CRYPTOLSTM_DSN": "postgresql://u@h/d", "AIRFLOW_CONN_CRYPTOLSTM_DB": reader}).dsn \
        == "postgresql://u@h/d"  # the explicit DSN wins
    with pytest.raises(SettingError, match="AIRFLOW_CONN_CRYPTOLSTM_DB must be an Airflow connection"):
        load_settings({"AIRFLOW_CONN_CRYPTOLSTM_DB": "{not json"})


def test_config_sections_read_their_own_variables():
    assert load_market({"CRYPTOLSTM_QUOTE": "usdc"}).quote == "USDC"
    assert load_promotion({"CRYPTOLSTM_PROMOTION_FIRST_MARGIN": "-0.5"}).first_model_margin == -0.5
    assert load_pipeline({}).wf_folds * 120 <= load_pipeline({}).wf_days  # >= 5 x 120
    assert load_pipeline({}).wf_folds >= 5
    assert load_alerts({"CRYPTOLSTM_ALERT_BELOW_VALIDATION_PP": "3"}).below_validation_pp == 3.0
    assert load_market({"CRYPTOLSTM_WF_FOLDS": "abc"}).quote == "USDT"  # a section validates its own variables


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


def test_ensemble_members_overrides_the_profiles_ensemble_size():
    assert load_pipeline({}).train_config().n_seeds == TrainConfig().n_seeds and load_pipeline({}).ensemble_members is None
    assert load_pipeline({"CRYPTOLSTM_ENSEMBLE_MEMBERS": "3"}).train_config() == replace(TrainConfig(), n_seeds=3)
    tiny = load_pipeline({"CRYPTOLSTM_TRAIN_PROFILE": "tiny", "CRYPTOLSTM_ENSEMBLE_MEMBERS": "2"}).train_config()
    assert tiny.n_seeds == 2 and tiny.lstm_units == (16, 8)


def test_the_sensor_poke_is_read_alone_for_the_dag_parse():
    """The DAG files read CRYPTOLSTM_SENSOR_POKE_S while parsed: another bad variable must not reach that read."""
    assert load_sensor_poke({}) == load_pipeline({}).sensor_poke_s == 60.0
    assert load_sensor_poke({"CRYPTOLSTM_SENSOR_POKE_S": "5", "CRYPTOLSTM_WF_FOLDS": "abc"}) == 5.0
    assert load_pipeline({"CRYPTOLSTM_SENSOR_POKE_S": "2.5"}).sensor_poke_s == 2.5
    with pytest.raises(SettingError, match="CRYPTOLSTM_SENSOR_POKE_S must be a number between 1 and 3600, got 'x'"):
        load_sensor_poke({"CRYPTOLSTM_SENSOR_POKE_S": "x"})


def test_with_settings_reads_each_value_as_its_fields_type():
    c = TrainConfig().with_settings(["window=30", "lstm_units=64,32", "train_stride=2", "learning_rate=3e-4",
                                     "refit_all=true", "arch=bilstm", "horizon_weights=1,1,1,2,2"])
    assert c == replace(TrainConfig(), window=30, lstm_units=(64, 32), train_stride=2, learning_rate=3e-4,
                        refit_all=True, arch="bilstm", horizon_weights=(1.0, 1.0, 1.0, 2.0, 2.0))
    assert TrainConfig().with_settings([]) == TrainConfig()


@pytest.mark.parametrize("bad", ["windw=30", "window", "window=thirty", "refit_all=maybe", "lstm_units=a,b"])
def test_with_settings_refuses_unknown_keys_and_unreadable_values(bad):
    with pytest.raises(ValueError, match="TrainConfig field|is not a"):
        TrainConfig().with_settings([bad])


def test_the_full_profile_serves_round_9s_blend_and_the_tiny_one_the_bare_mean():
    assert TrainConfig().combination == "blend_equal" and TrainConfig().window == 30  # rounds 9 and 7
    assert TrainConfig.tiny().combination == "none"
    assert load_pipeline({}).train_config().combination == "blend_equal"
    assert load_pipeline({"CRYPTOLSTM_TRAIN_PROFILE": "tiny"}).train_config().combination == "none"
    assert load_pipeline({"CRYPTOLSTM_COMBINATION": "stacked"}).train_config().combination == "stacked"

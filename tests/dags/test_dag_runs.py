"""dag.test() of both DAGs on real PostgreSQL, the exchange stand-in (real ccxt over HTTP) and an SMTP
sink (aiosmtpd): weekly trains a tiny model and decides; daily ingests, forecasts, scores, alerts.
Then idempotency (a day run twice -> identical rows) and the future scramble at DAG level (every
candle after the as-of day altered in the stand-in -> identical forecasts for that day)."""

from __future__ import annotations

import csv
import json
import mailbox
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cryptolstm import storage
from cryptolstm.serving.alerts import KINDS as ALERT_KINDS
from cryptolstm.runtime.standin import StandIn

ROOT = Path(__file__).resolve().parents[2]
RUN_DAG = Path(__file__).with_name("run_dag.py")
# dag.test(logical_date=X) runs the data interval that ENDS at X (a manual run's interval), so each
# run is started at the END of the interval it should process.
WEEK_END = "2025-01-12"  # weekly run: interval [Jan 5, Jan 12), cutoff Jan 11, champion from Jan 12
DAY, DAY_RUN = "2025-01-13", "2025-01-14"  # daily run: interval [Jan 13, Jan 14), as-of day Jan 13
LATER, LATER_RUN = "2025-01-18", "2025-01-19"  # by then Jan 13's five horizons have matured
BEFORE_GAP, BEFORE_GAP_RUN = "2025-01-19", "2025-01-20"  # a day with candles (forecast by a corrupted model)
GAP_DAY, GAP_RUN = "2025-01-20", "2025-01-21"  # a day the exchange never publishes




@pytest.fixture(scope="module")
def airflow_env(pg_exec, dsn_for, tmp_path_factory):
    """An Airflow home and a migrated metadata database for this module's dag.test() runs."""
    name = f"af_dagtest_{os.getpid()}"
    pg_exec(f"DROP DATABASE IF EXISTS {name}")
    pg_exec(f"CREATE DATABASE {name}")
    meta = _sqlalchemy_url(dsn_for(name))
    home = tmp_path_factory.mktemp("airflow_home")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
           "AIRFLOW__CORE__UNIT_TEST_MODE": "False", "CRYPTOLSTM_TRAIN_PROFILE": "tiny",
           "CRYPTOLSTM_WF_FOLDS": "2", "CRYPTOLSTM_WF_DAYS": "56",  # production: 5 x 120 as-of days
           "CRYPTOLSTM_ENSEMBLE_MEMBERS": "2",  # K = 2: one train_member task per (fold x member) + 2 final
           "CRYPTOLSTM_CHARTS_DIR": str(home / "charts"), "CRYPTOLSTM_ALERT_TO": "ops@example.test",
           "CRYPTOLSTM_AUX_COINS": ""}  # the stand-in replays the 9 served coins only
    out = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    yield env
    pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def smtp_sink(tmp_path_factory, free_port):
    """aiosmtpd writing every received mail into a maildir."""
    maildir = tmp_path_factory.mktemp("mail") / "box"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c",
                             "aiosmtpd.handlers.Mailbox", str(maildir)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port, maildir
    proc.terminate()
    proc.wait(10)


def _mails(maildir: Path) -> list[tuple[str, str]]:
    if not maildir.exists():
        return []
    out = []
    for msg in mailbox.Maildir(str(maildir), create=False):
        body = msg.get_payload(decode=False)
        parts = body if isinstance(body, list) else [msg]
        text = "".join(p.get_payload(decode=True).decode("utf-8", "replace") for p in parts
                       if not p.is_multipart() and p.get_payload(decode=True))
        out.append((msg["Subject"], text))
    return out


def _new_mails(maildir: Path, before: Counter) -> list[tuple[str, str]]:
    """The mails received since `before` (a Counter of _mails(); a Maildir has no order)."""
    return list((Counter(_mails(maildir)) - before).elements())


def _scrambled_copy(src: Path, dest: Path, after: str) -> Path:
    """A copy of the candle CSVs where every row after `after` is altered (prices x 1.9, volume x 7)."""
    dest.mkdir(parents=True)
    for f in src.glob("*.csv"):
        rows = list(csv.DictReader(f.open()))
        with (dest / f.name).open("w", newline="") as out:
            w = csv.DictWriter(out, fieldnames=["date", "open", "high", "low", "close", "volume"])
            w.writeheader()
            for r in rows:
                if r["date"] > after:
                    r = {**r, **{k: str(float(r[k]) * 1.9) for k in ("open", "high", "low", "close")},
                         "volume": str(float(r["volume"]) * 7)}
                w.writerow(r)
    return dest


def _run(env: dict, dag_file: str, day: str, db: str, standin_url: str, smtp_port: int, extra=None) -> dict:
    run_env = {**env, "AIRFLOW_CONN_CRYPTOLSTM_DB": json.dumps(_conn(db)), "CRYPTOLSTM_EXCHANGE_URL": standin_url,
               "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
                   "conn_type": "smtp", "host": "127.0.0.1", "port": smtp_port,
                   "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@localhost",
                             "retry_limit": 0, "timeout": 10}}), **(extra or {})}
    out = subprocess.run([sys.executable, str(RUN_DAG), str(ROOT / "dags" / dag_file), day], env=run_env,
                         capture_output=True, text=True, timeout=900, cwd=str(ROOT))
    lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    assert out.returncode == 0 and lines, (out.stdout[-4000:], out.stderr[-6000:])
    return json.loads(lines[-1][len("RESULT "):])


def _conn(dsn: str) -> dict:
    from psycopg2.extensions import parse_dsn

    p = parse_dsn(dsn)
    return {"conn_type": "postgres", "host": p["host"], "login": p.get("user", "postgres"), "schema": p["dbname"]}


def _sqlalchemy_url(dsn: str) -> str:
    """Airflow's metadata DB as a SQLAlchemy URL, on the server and as the user of the libpq `dsn`."""
    from psycopg2.extensions import parse_dsn
    from sqlalchemy.engine import URL

    p = parse_dsn(dsn)
    return URL.create("postgresql+psycopg2", username=p.get("user"), password=p.get("password"),
                      database=p["dbname"], query={"host": p["host"]}).render_as_string(hide_password=False)


def _q(dsn, sql, params=()):
    with storage.transaction(dsn) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


FORECASTS = ("SELECT coin, as_of, horizon, model_id, target_day, base_close, pred_log_return, pred_close "
             "FROM forecasts WHERE as_of = %s ORDER BY coin, horizon")
# the first tiny model is promoted whatever its DA (it has no skill); the constant-sign guard stays on
PROMOTE_FIRST = {"CRYPTOLSTM_PROMOTION_FIRST_MARGIN": "-1", "CRYPTOLSTM_PROMOTION_FIRST_MIN_LOWER": "0"}


@pytest.mark.slow
def test_weekly_then_daily_then_rerun_and_future_scramble(airflow_env, smtp_sink, db, pg_exec, dsn_for,
                                                          template_name, shared_data, tmp_path):
    port, maildir = smtp_sink
    data = tmp_path / "live"
    shutil.copytree(shared_data, data)
    with StandIn(data) as ex:
        weekly = _run(airflow_env, "cryptolstm_weekly.py", WEEK_END, db, ex.url, port, PROMOTE_FIRST)
        assert weekly["state"] == "success", weekly
        assert set(weekly["tasks"].values()) == {"success"}
        # the training fanned out: (2 folds + the final fit) x 2 members, each its own task and rows
        assert sorted(k for k in weekly["tasks"] if k.startswith("train_member")) == \
            [f"train_member[{i}]" for i in range(6)]
        assert sorted(weekly["map_names"][f"train_member[{i}]"] for i in range(6)) == \
            ["final fit, member 0", "final fit, member 1", "fold 0, member 0", "fold 0, member 1", "fold 1, member 0",
             "fold 1, member 1"]  # the UI names each piece, not its index
        assert _q(db, "SELECT fold, count(*), count(artifact) FROM member_weights GROUP BY fold ORDER BY fold") == \
            [(-1, 2, 2), (0, 2, 0), (1, 2, 0)]  # every piece's facts; weights of the final fit's members only
        assert _q(db, "SELECT count(*) FROM prepared_fits") == [(1,)]  # prepared once for the 6 pieces
        assert _q(db, "SELECT members FROM v_models") == [(2,)]
        decision = _q(db, "SELECT challenger_id, champion_id, promoted, n_cells, reason FROM promotion_decisions")
        assert len(decision) == 1 and decision[0][1] is None and decision[0][2] is True
        assert decision[0][3] > 0 and decision[0][4].startswith("first model: promoted: DA")
        model = _q(db, "SELECT model_id, training_cutoff, champion_from, status, artifact_sha256, "
                       "encode(sha256(artifact), 'hex') FROM models")[0]
        assert str(model[1]) == "2025-01-11" and str(model[2]) == WEEK_END and model[3] == "champion"
        assert model[4] == model[5]
        # validation predictions: every fold trained strictly before the days it scored
        assert _q(db, "SELECT count(*) FROM validation_predictions WHERE fold_cutoff >= as_of - 5")[0][0] == 0
        assert any("weekly PROMOTED" in s for s, _ in _mails(maildir))
        # every client reads it: text and HTML alternatives, the text part plain 7-bit, not base64
        (mail,) = [m for m in mailbox.Maildir(str(maildir), create=False) if "weekly PROMOTED" in m["Subject"]]
        assert mail.get_content_type() == "multipart/alternative"
        text, html = mail.get_payload()
        assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
        assert text["Content-Transfer-Encoding"] == "7bit"
        assert "first model: promoted: DA" in " ".join(text.get_payload().split())

        daily = _run(airflow_env, "cryptolstm_daily.py", DAY_RUN, db, ex.url, port)
        assert daily["state"] == "success", daily
        assert daily["tasks"]["forecast"] == "success" and daily["tasks"]["wait_for_weekly"] == "success"
        assert daily["tasks"]["day_complete"] == "success" and daily["tasks"]["check_interval"] == "success"
        assert sum(1 for k in daily["tasks"] if k.startswith("ingest[")) == 9
        first = _q(db, FORECASTS, (DAY,))
        assert len(first) == 45 and {r[3] for r in first} == {model[0]}
        assert _q(db, "SELECT max(day) FROM candles")[0][0].isoformat() == DAY  # nothing after the interval

        again = _run(airflow_env, "cryptolstm_daily.py", DAY_RUN, db, ex.url, port)
        assert again["state"] == "success"
        assert _q(db, FORECASTS, (DAY,)) == first

        later = _run(airflow_env, "cryptolstm_daily.py", LATER_RUN, db, ex.url, port)
        assert later["state"] == "success"
        scored = _q(db, "SELECT count(*), count(direction_hit) FROM forecast_scores WHERE as_of = %s", (DAY,))[0]
        assert scored[0] == 45
        assert _q(db, "SELECT count(*) FROM v_latest_forecasts WHERE as_of = %s", (LATER,))[0][0] == 45
        kinds = {r[0] for r in _q(db, "SELECT DISTINCT kind FROM alerts WHERE as_of = %s", (LATER,))}
        assert kinds == set(ALERT_KINDS)  # every rule leaves its state for the day

    # Issue 12 §1: a failed forecast fails the run (scoring and alerts still run), and a day whose
    # candles are missing is a failure with a clear message, never "ok, 0 rows".
    for f in data.glob("*.csv"):  # the exchange never publishes GAP_DAY
        f.write_text("".join(l for l in f.read_text().splitlines(keepends=True) if not l.startswith(GAP_DAY)))
    with StandIn(data) as ex:
        artifact = _q(db, "SELECT artifact FROM models WHERE model_id = %s", (model[0],))[0][0]
        with storage.transaction(db) as cur:
            cur.execute("UPDATE models SET artifact = overlay(artifact placing 'xx' from 100) WHERE model_id = %s",
                        (model[0],))
        mails = Counter(_mails(maildir))
        corrupted = _run(airflow_env, "cryptolstm_daily.py", BEFORE_GAP_RUN, db, ex.url, port)
        assert corrupted["state"] == "failed", corrupted
        tasks = corrupted["tasks"]
        assert tasks["forecast"] == "failed" and tasks["day_complete"] == "upstream_failed"
        assert tasks["score"] == tasks["alerts"] == tasks["charts"] == "success"
        assert _q(db, "SELECT count(*) FROM forecasts WHERE as_of = %s", (BEFORE_GAP,))[0][0] == 0
        failed_mails = [(s, t) for s, t in _new_mails(maildir, mails) if "task failed" in s]
        assert len(failed_mails) == 1 and "forecast" in failed_mails[0][0] and "ArtifactError" in failed_mails[0][1]
        with storage.transaction(db) as cur:
            cur.execute("UPDATE models SET artifact = %s WHERE model_id = %s", (artifact, model[0]))

        mails = Counter(_mails(maildir))
        gap = _run(airflow_env, "cryptolstm_daily.py", GAP_RUN, db, ex.url, port)
        assert gap["state"] == "failed", gap
        assert gap["tasks"]["forecast"] == "failed" and gap["tasks"]["day_complete"] == "upstream_failed"
        assert gap["tasks"]["score"] == "success" and gap["tasks"]["alerts"] == "success"
        assert _q(db, "SELECT count(*) FROM forecasts WHERE as_of = %s", (GAP_DAY,))[0][0] == 0
        (mail,) = [(s, t) for s, t in _new_mails(maildir, mails) if "task failed" in s]
        assert "forecast" in mail[0] and "MissingDataError: no forecast for " + GAP_DAY in mail[1]
        assert "latest candle stored up to that day: " + BEFORE_GAP in mail[1]

    # Future scramble: a fresh database and a stand-in whose every candle after DAY is altered.
    name = f"cl_scramble_{os.getpid()}"
    pg_exec(f"CREATE DATABASE {name} TEMPLATE {template_name}")
    db2 = dsn_for(name)
    try:
        with StandIn(_scrambled_copy(shared_data, tmp_path / "scrambled", DAY)) as ex2:
            assert _run(airflow_env, "cryptolstm_weekly.py", WEEK_END, db2, ex2.url, port, PROMOTE_FIRST)["state"] == "success"
            assert _run(airflow_env, "cryptolstm_daily.py", DAY_RUN, db2, ex2.url, port)["state"] == "success"
        assert _q(db2, FORECASTS, (DAY,)) == first
    finally:
        pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.parametrize("dag_file,leaf", [("cryptolstm_daily.py", "day_complete"), ("cryptolstm_weekly.py", "notify")])
def test_a_run_without_a_data_interval_is_refused_once(airflow_env, smtp_sink, db, dag_file, leaf):
    """Issue 12 §1: a manual run with no logical date failed every task ('NoneType' object has no
    attribute 'date') and sent 13 failure emails."""
    port, maildir = smtp_sink
    before = Counter(_mails(maildir))
    run = _run(airflow_env, dag_file, "none", db, "http://127.0.0.1:9", port)
    assert run["state"] == "failed", run
    tasks = run["tasks"]
    assert tasks["check_interval"] == "failed" and tasks[leaf] == "upstream_failed"
    assert [t for t, state in tasks.items() if state == "failed"] == ["check_interval"], tasks
    assert set(tasks.values()) <= {"failed", "upstream_failed", "skipped"}, tasks
    mails = _new_mails(maildir, before)
    assert len(mails) == 1, [s for s, _ in mails]
    subject, text = mails[0]
    assert "check_interval" in subject and "no data interval" in text and "--logical-date" in text
    assert _q(db, "SELECT count(*) FROM ingest_runs")[0][0] == 0


def test_a_week_before_the_latest_decision_is_refused_once_before_anything_is_trained(airflow_env, smtp_sink, db):
    """Issue 27 §1: a weekly run for a week ending before the latest decision trained every piece, registered a
    candidate that stayed one for good, then `decide` raised a RuntimeError that Airflow retried twice. Now its
    first task refuses it: one failed task, one email naming both weeks, nothing asked, trained or registered."""
    port, maildir = smtp_sink
    _q(db, "INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, code_version, "
           "artifact, artifact_sha256, status) VALUES ('later', '2025-01-19', '2025-01-18', 'f', '{}', 'c', 'x', 's', "
           "'rejected') RETURNING 1")
    _q(db, "INSERT INTO promotion_decisions (decided_for, challenger_id, promoted, reason) "
           "VALUES ('2025-01-19', 'later', false, 'test') RETURNING 1")
    before = Counter(_mails(maildir))
    run = _run(airflow_env, "cryptolstm_weekly.py", WEEK_END, db, "http://127.0.0.1:9", port)
    assert run["state"] == "failed", run
    tasks = run["tasks"]
    assert [t for t, state in tasks.items() if state == "failed"] == ["check_interval"], tasks
    assert tasks["notify"] == "upstream_failed" and set(tasks.values()) <= {"failed", "upstream_failed"}, tasks
    mails = _new_mails(maildir, before)
    assert len(mails) == 1, [s for s, _ in mails]
    subject, text = mails[0]
    assert "check_interval" in subject and "week ending 2025-01-12" in text and "2025-01-19" in text
    assert "Backfill" in text
    assert _q(db, "SELECT model_id FROM models") == [("later",)]
    assert _q(db, "SELECT (SELECT count(*) FROM member_weights) + (SELECT count(*) FROM ingest_runs)") == [(0,)]


def test_a_ban_fails_one_ingest_task_without_retry_and_is_mailed_once(airflow_env, smtp_sink, db, shared_data):
    """Issue 20 §5: a persistent HTTP 418 (Retry-After 600) was retried by Airflow (requests at 0, 129 and
    248 s) while the other coin tasks kept asking. Now the task that met the ban fails at once (no retry),
    the others are skipped without a request, and one email names the ban and its end."""
    port, maildir = smtp_sink
    before = Counter(_mails(maildir))
    with StandIn(shared_data) as ex:
        ex.inject("418", times=None, retry_after=600)  # every klines request, until cleared
        run = _run(airflow_env, "cryptolstm_daily.py", DAY_RUN, db, ex.url, port)
        assert ex.requests("klines") == 1  # one request met the ban; nothing asked after it
    ingest = {k: v for k, v in run["tasks"].items() if k.startswith("ingest[")}
    assert len(ingest) == 9 and sorted(ingest.values()) == ["failed"] + ["skipped"] * 8, run
    assert run["state"] == "failed" and run["tasks"]["day_complete"] == "upstream_failed", run
    [(coin, until)] = _q(db, "SELECT coin, banned_until FROM exchange_bans")
    assert _q(db, "SELECT count(*) FROM ingest_runs WHERE requests > 0") == [(1,)]  # no try of a retry
    about_ban = [(subject, text) for subject, text in _new_mails(maildir, before) if "banned" in text]
    assert len(about_ban) == 1, [s for s, _ in _new_mails(maildir, before)]
    assert f"until {until:%Y-%m-%d %H:%M:%S} UTC" in about_ban[0][1] and coin in about_ban[0][1]

"""Airflow-side helpers shared by the cryptolstm DAG files (not a DAG: listed in `.airflowignore`).

Airflow puts the DAGs folder on `sys.path`, so DAG files import this module by name. Everything
here is cheap at import; connections and CRYPTOLSTM_* settings are read only when a task (or its
failure callback) calls these functions, so a bad setting fails the tasks that read it, naming the
variable, and never the parse of the DAG files. The one exception, the sensors' poke interval, is an
argument of the sensor itself: it is read while parsing, and a bad value keeps its default there.
"""

from __future__ import annotations

from airflow.sdk import Asset

from cryptolstm.config import (  # noqa: F401 (DAG ids, queues and pools: defined once)
    DAILY_DAG_ID, DEFAULT_ALERT_TO, EXCHANGE_POOL, TENSORFLOW_POOL, TRAIN_QUEUE, WEEKLY_DAG_ID)

# The tables the DAGs write, as Airflow Assets (each defined once; the URIs name the table).
CANDLES = Asset(name="cryptolstm_candles", uri="x-cryptolstm://db/candles")
FORECASTS = Asset(name="cryptolstm_forecasts", uri="x-cryptolstm://db/forecasts")
SCORES = Asset(name="cryptolstm_forecast_scores", uri="x-cryptolstm://db/forecast_scores")
ALERTS = Asset(name="cryptolstm_alerts", uri="x-cryptolstm://db/alerts")
MODELS = Asset(name="cryptolstm_models", uri="x-cryptolstm://db/models")
DECISIONS = Asset(name="cryptolstm_promotion_decisions", uri="x-cryptolstm://db/promotion_decisions")


def alert_to() -> list[str]:
    """Who gets alert and failure emails (CRYPTOLSTM_ALERT_TO, comma-separated), read when a task sends."""
    from cryptolstm.environment import load_alerts

    return list(load_alerts().recipients)


def on_failure(context) -> None:
    """The failure callback: email the task failure through the `smtp_default` connection."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from cryptolstm.environment import SettingError

    try:
        to = alert_to()
    except SettingError:  # the failed task's own error names the bad variable; the failure is still mailed
        to = list(DEFAULT_ALERT_TO)
    SmtpNotifier(to=to, subject="[cryptolstm] task failed: {{ ti.dag_id }}.{{ ti.task_id }} "
                                "({{ ds if dag_run.logical_date else dag_run.run_id }})",
                 html_content="<p>{{ ti.dag_id }}.{{ ti.task_id }} failed in run {{ run_id }} "
                              "(try {{ ti.try_number }}).</p><p>{{ exception }}</p>")(context)


def sensor_poke_s() -> float:
    """The sensors' poke interval (CRYPTOLSTM_SENSOR_POKE_S), read while the DAG file is parsed. A bad value
    keeps the default here, so the parse never fails; the tasks that load the pipeline settings fail on it,
    naming the variable."""
    from cryptolstm.config import PipelineConfig
    from cryptolstm.environment import SettingError, load_sensor_poke

    try:
        return load_sensor_poke()
    except SettingError:
        return PipelineConfig.sensor_poke_s


def dsn() -> str:
    """The forecasting database, from the Airflow connection `cryptolstm_db` (read inside tasks only)."""
    from airflow.sdk import BaseHook

    from cryptolstm.dsn import connection_dsn

    c = BaseHook.get_connection("cryptolstm_db")
    return connection_dsn(host=c.host, port=c.port, login=c.login, password=c.password, schema=c.schema,
                          extra=c.extra_dejson)


def send_email(mail) -> None:
    """Send one `cryptolstm.serving.mail.Mail` (text and HTML alternatives) to the alert recipients through
    the `smtp_default` connection."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id="smtp_default") as hook:
        if not hook.from_email:
            raise ValueError("the smtp_default connection has no from_email")
        # The hook's send_email_smtp builds an HTML-only message; it still opens and logs in the client.
        hook._smtp_client.send_message(mail.as_message(hook.from_email, alert_to()))


def library_step(step, *args, **kwargs):
    """Run one library step for a task, the DAGs' one translation of the library's permanent-failure protocol
    (`cryptolstm.errors`): a `Permanent` error fails the task at once, without retries (AirflowFailException), or
    skips it where the error says this task met no fault of its own; a result with nothing to do
    (`errors.nothing_to_do`) skips the task. Any other error is raised as is: Airflow retries it."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from cryptolstm.errors import Permanent, nothing_to_do, one_line

    try:
        out = step(*args, **kwargs)
    except Permanent as exc:
        raise (AirflowSkipException if exc.skip else AirflowFailException)(one_line(exc)) from exc
    why = nothing_to_do(out)
    if why is not None:
        raise AirflowSkipException(why)
    return out


NO_INTERVAL = ("this run of {dag_id} has no data interval (it was triggered without a logical date), so it "
               "has no day to process; nothing was done. Trigger it with a logical date (UI: fill in "
               "'Logical date'; CLI: airflow dags trigger {dag_id} --logical-date 2025-02-02T00:00:00+00:00) "
               "or backfill a range")


def require_interval(dag_id: str, data_interval_start, data_interval_end) -> str:
    """The first task of a run: fail it once, without retries, when the run has no data interval."""
    if data_interval_start is None or data_interval_end is None:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(NO_INTERVAL.format(dag_id=dag_id))
    return f"{data_interval_start.isoformat()}/{data_interval_end.isoformat()}"


def as_of_day(data_interval_start):
    """The run's as-of day. Without a data interval the task is skipped, not failed: the run's
    `check_interval` task already failed it with one message (and one email)."""
    if data_interval_start is None:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException("no data interval: see the check_interval task")
    return data_interval_start.date()

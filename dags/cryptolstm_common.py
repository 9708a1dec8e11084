"""Airflow-side helpers shared by the cryptolstm DAG files (not a DAG: listed in `.airflowignore`).

Airflow puts the DAGs folder on `sys.path`, so DAG files import this module by name. Everything
here is cheap at import; connections are read only when a task calls these functions.
"""

from __future__ import annotations

import os

# Who gets alert and failure emails (comma-separated), read once at parse time from the environment.
ALERT_TO = [a.strip() for a in os.environ.get("CRYPTOLSTM_ALERT_TO", "cryptolstm-ops@localhost").split(",") if a.strip()]


def on_failure():
    """A failure callback that emails the task failure through the `smtp_default` connection."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(to=ALERT_TO, subject="[cryptolstm] task failed: {{ ti.dag_id }}.{{ ti.task_id }} "
                                             "({{ ds if dag_run.logical_date else dag_run.run_id }})",
                        html_content="<p>{{ ti.dag_id }}.{{ ti.task_id }} failed in run {{ run_id }} "
                                     "(try {{ ti.try_number }}).</p><p>{{ exception }}</p>")


def dsn() -> str:
    """The forecasting database, from the Airflow connection `cryptolstm_db` (read inside tasks only)."""
    from airflow.sdk.bases.hook import BaseHook

    from cryptolstm.config import dsn_from_airflow_conn

    return dsn_from_airflow_conn(BaseHook.get_connection("cryptolstm_db").get_uri())


def send_email(subject: str, html: str) -> None:
    """Send one email to ALERT_TO through the `smtp_default` connection."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id="smtp_default") as hook:
        hook.send_email_smtp(to=ALERT_TO, subject=subject, html_content=html)

# syntax=docker/dockerfile:1
# The cryptolstm image: Airflow 3.3 (api-server, scheduler, dag-processor, triggerer, celery worker)
# with the cryptolstm library, its DAGs and its plugin. Every Python package comes from the pinned
# requirements.lock (the same lock the local venv and CI install from; the CeleryExecutor's provider,
# celery and the redis client are in it). Build: `docker compose build`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/cryptolstm/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/cryptolstm/plugins \
    CRYPTOLSTM_STATE_DIR=/opt/airflow/cryptolstm

# tini reaps task subprocesses; uid 50000 / gid 0 like the official Airflow image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home airflow

# 1) Dependencies only (a cached layer): exactly the versions of requirements.lock.
COPY requirements.lock /opt/cryptolstm/
RUN pip install -c /opt/cryptolstm/requirements.lock -r /opt/cryptolstm/requirements.lock \
 && pip check

# 2) The project itself. Editable, so that sql/ (migrations, named queries) stays next to the package
#    exactly as in a checkout. --no-deps: nothing may be resolved outside the lock.
COPY pyproject.toml README.md /opt/cryptolstm/
COPY cryptolstm /opt/cryptolstm/cryptolstm
COPY sql /opt/cryptolstm/sql
COPY dags /opt/cryptolstm/dags
COPY plugins /opt/cryptolstm/plugins
RUN pip install --no-deps -c /opt/cryptolstm/requirements.lock -e /opt/cryptolstm \
 && pip check \
 && mkdir -p /opt/airflow/logs /opt/airflow/config /opt/airflow/cryptolstm \
 && chown -R airflow:0 /opt/airflow

USER airflow
WORKDIR /opt/airflow
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["version"]

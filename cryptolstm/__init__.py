"""cryptolstm — daily crypto return forecasts from one shared Keras LSTM, scheduled by Airflow.

Importing this package is cheap on purpose: no tensorflow, pandas or ccxt at import time,
so Airflow DAG files can import names from here while they are parsed.
"""

__version__ = "0.1.0"

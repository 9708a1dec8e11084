"""Fixtures for integration tests: the Binance stand-in over a private copy of the real candles.

    def test_something(db, standin, market, fast_ingest):
        standin.set_clock("2025-02-11")                  # only candles closed by then are served
        standin.inject("429", symbol="BTCUSDT", times=2)  # fault injection (see cryptolstm.runtime.standin)
        ingest_coin(db, market, "BTC", start, end, config=fast_ingest)
        assert standin.requests("klines", "BTCUSDT") == 3

`standin.url` is the root to put in `MarketConfig.api_url` or `CRYPTOLSTM_EXCHANGE_URL` (for other
processes, e.g. Airflow tasks; they can steer it over HTTP with `cryptolstm.runtime.standin.StandInControl`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cryptolstm.config import MarketConfig
from cryptolstm.market.ingest import IngestConfig, RetryConfig
from cryptolstm.runtime.standin import StandIn
from fault_settings import CLIENT_TIMEOUT_MS


@pytest.fixture
def standin_data(shared_data, tmp_path) -> Path:
    """A writable copy of ../shared/data/binance-1d (tests may edit it; the original stays read-only)."""
    dest = tmp_path / "binance-1d"
    shutil.copytree(shared_data, dest)
    return dest


@pytest.fixture
def standin(standin_data) -> StandIn:
    """A running stand-in on a free port; clock after the last CSV day, still-open day served."""
    with StandIn(standin_data) as ex:
        yield ex


@pytest.fixture
def market(standin) -> MarketConfig:
    """The nine coins on the stand-in (3-day overlap, the default); no auxiliary coins: the stand-in
    replays the 9-coin folder only."""
    return MarketConfig(api_url=standin.url, auxiliary=())


@pytest.fixture
def fast_ingest() -> IngestConfig:
    """Ingestion settings that keep fault tests fast: 3 tries, ~10 ms pauses, a 3 s client timeout (0.5 s
    timed out on healthy answers on a loaded CI machine)."""
    return IngestConfig(timeout_ms=CLIENT_TIMEOUT_MS, retry=RetryConfig(attempts=3, base_delay=0.01, max_delay=0.05))

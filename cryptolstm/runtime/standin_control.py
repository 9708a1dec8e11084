"""HTTP client of a running stand-in's /_standin/ control endpoint (see `cryptolstm.runtime.standin`), for
other processes: Airflow tasks, a replay driver, tests of services."""

from __future__ import annotations

import json
import urllib.request
from datetime import date, datetime


class StandInControl:
    """HTTP client of a stand-in's /_standin/ control endpoint (for other processes)."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_standin/" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return json.loads(resp.read())

    def state(self) -> dict:
        return self._call("GET", "state")

    def set_clock(self, now, follow: bool | None = None) -> dict:
        now = now.isoformat() if isinstance(now, (date, datetime)) else now
        return self._call("POST", "clock", {"now": now, "follow": follow})

    def inject(self, kind: str, **kw) -> dict:
        return self._call("POST", "faults", {"kind": kind, **kw})

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")

    def set_candle(self, symbol: str, day: str, **fields) -> dict:
        return self._call("POST", "candle", {"symbol": symbol, "day": day, **fields})

    def reset_stats(self) -> dict:
        return self._call("POST", "reset", {})

    def requests(self, endpoint: str | None = None, symbol: str | None = None) -> int:
        counts = self.state()["requests"]
        return sum(n for ep, per in counts.items() if endpoint in (None, ep)
                   for s, n in per.items() if symbol in (None, s))

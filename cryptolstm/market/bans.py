"""Exchange IP bans in SQL (`exchange_bans`): the ban ingestion met, with its end, and whether one is in force.

Every request during a ban lengthens it, so while one is in force no ingestion asks the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptolstm import storage
from cryptolstm.market.exchange import IpBanned


@dataclass(frozen=True)
class Ban:
    """An IP ban in force, as recorded in `exchange_bans`."""

    coin: str  # whose request met it
    until: datetime  # when it ends (the server's Retry-After, else the end of the UTC day it was recorded)
    said: bool  # the server said when it ends

    def __str__(self) -> str:
        end = f"{self.until:%Y-%m-%d %H:%M:%S} UTC" + ("" if self.said else " (the exchange did not say; assumed)")
        return f"the exchange banned this IP (HTTP 418) while ingesting {self.coin}, until {end}"


def in_force(cur, exchange: str) -> Ban | None:
    """The latest ban of the exchange still in force now, or None."""
    cur.execute(storage.query("exchange_bans_select_in_force"), {"exchange": exchange})
    row = cur.fetchone()
    return None if row is None else Ban(row[0], row[1], row[2])


def record(cur, exchange: str, coin: str, start: datetime, end: datetime, exc: IpBanned) -> tuple[bool, Ban]:
    """Record the ban `coin` met while ingesting [start, end), unless one is already in force (tasks ingesting
    in parallel may meet the same ban): (recorded by this call, the ban in force)."""
    now = datetime.now(timezone.utc)
    until = exc.until or datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
    cur.execute(storage.query("exchange_bans_lock"), {"exchange": exchange})
    cur.execute(storage.query("exchange_bans_insert"), {
        "exchange": exchange, "coin": coin, "interval_start": start, "interval_end": end, "banned_until": exc.until,
        "in_force_until": until, "message": str(exc)})
    if cur.fetchone() is not None:
        return True, Ban(coin, until, exc.until is not None)
    return False, in_force(cur, exchange) or Ban(coin, until, exc.until is not None)

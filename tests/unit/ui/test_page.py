"""The Forecasts page's HTML (Jinja2, autoescaped) and the reads its charts share, without a database."""

from __future__ import annotations

from datetime import date

import pandas as pd

from cryptolstm.ui.dashboard import SharedReads
from cryptolstm.ui.page import PageData, render_page

DAY = date(2025, 1, 13)


def _page(**kw) -> PageData:
    forecasts = pd.DataFrame([{"coin": "BTC", "as_of": DAY, "horizon": h, "model_id": "m<1>", "base_close": 100.0,
                               "pred_log_return": 0.01, "pred_close": 101.0, "lo80_close": None, "hi80_close": None,
                               "lo95_close": None, "hi95_close": None} for h in range(1, 6)])
    return PageData(**{"as_of": DAY, "coins": ["BTC", "ETH"], "forecasts": forecasts, "accuracy": pd.DataFrame(),
                       "champion": None, "promotions": [], **kw})


def test_every_value_from_the_database_is_text_not_markup():
    evil = "<script>alert('x')</script>"
    page = render_page(_page(promotions=[{
        "decided_for": DAY, "challenger_id": evil, "champion_id": None, "promoted": False, "challenger_da": 0.5,
        "champion_da": None, "n_cells": 90, "p_value": float("nan"), "reason": f"rejected: {evil}"}]),
        lambda name: f"/charts/{name}.png?as_of={DAY}&read=t")
    assert "<script>" not in page and page.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") == 2
    assert "m&lt;1&gt;" in page and "<b>BTC</b>" in page  # the provisional model id, escaped
    assert 'colspan="8" class="l muted">no forecast' in page  # ETH: 1 + 1 + HORIZONS + 1 columns
    assert 'src="/charts/BTC.png?as_of=2025-01-13&amp;read=t"' in page
    promotions = page.split('id="promotions"')[1].split("</table>")[0]
    assert '<td class="l">–</td>' in promotions and "<td>–</td>" in promotions  # no champion, no p-value
    assert "None" not in page


def test_a_page_read_serves_its_charts_for_a_while_only():
    now = [0.0]
    reads = SharedReads(ttl_seconds=10, size=2, clock=lambda: now[0])
    data = {"coins": pd.DataFrame({"coin": ["BTC"]})}
    token = reads.put(DAY, data)
    assert reads.get(token, DAY) is data and reads.get(token, None) is data
    assert reads.get(token, date(2025, 1, 12)) is None  # read as of another day
    assert reads.get("unknown", DAY) is None and reads.get(None, DAY) is None
    now[0] = 10.0
    assert reads.get(token, DAY) is None  # expired: the chart reads for itself
    first = reads.put(DAY, data)
    reads.put(DAY, data), reads.put(DAY, data)
    assert reads.get(first, DAY) is None  # bounded: the oldest read is dropped

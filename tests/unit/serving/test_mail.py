"""Mail is one value rendered twice: a plain-text part a terminal client shows as is, and an HTML part."""

from __future__ import annotations

import email
from email import policy

from cryptolstm.serving import mail

REASON = ("first model: not promoted: DA 0.5070, 95 % day-block interval [0.4887, 0.5265] over 600 as-of days; "
          "best baseline always_up 0.5213; below always_up 0.5213; interval lower end 0.4887 <= 0.5000")


def test_report_renders_the_same_words_as_text_and_as_html():
    m = mail.report("[cryptolstm] weekly REJECTED: m (2025-02-09)", ["Weekly decision: REJECTED", REASON],
                    [("challenger_da", 0.50701234), ("champion_id", None), ("constant_sign", ["fold 0 h1", "fold 2 h3"]),
                     ("note", "<b>not markup</b>")])
    assert max(map(len, m.text.splitlines())) <= mail.TEXT_WIDTH
    assert REASON in " ".join(m.text.split())
    assert "challenger_da  0.5070" in m.text and "champion_id    -" in m.text
    assert "fold 0 h1, fold 2 h3" in m.text and "<b>not markup</b>" in m.text  # text is not escaped
    assert "&lt;b&gt;not markup&lt;/b&gt;" in m.html and "<td>0.5070</td>" in m.html and "&lt;= 0.5000" in m.html


def test_message_is_multipart_alternative_with_a_plain_7bit_text_part():
    m = mail.report("subject", ["one paragraph"], [("n_cells", 1260)])
    raw = m.as_message("airflow@localhost", ["a@x", "b@y"]).as_bytes()
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["To"] == "a@x, b@y" and msg.get_content_type() == "multipart/alternative"
    text, html = msg.iter_parts()
    assert text.get_content_type() == "text/plain" and text["Content-Transfer-Encoding"] == "7bit"
    assert html.get_content_type() == "text/html"
    assert b"one paragraph" in raw and b"n_cells  1260" in raw  # readable in the raw message itself


def test_the_weekly_email_has_a_section_per_confidence_tier_when_the_challenger_has_one():
    from datetime import date, datetime, timezone

    from cryptolstm.serving.decisions import DecisionRecord, decision_email

    d = DecisionRecord(datetime(2025, 1, 12, tzinfo=timezone.utc), "c", None, False, 0.51, None, 900, None, "no")
    tiers = {"score": "mean", "high_share": 0.33, "low_share": 1 / 3, "n_cells": 900,
             "high": {"da": 0.55, "ci": [0.52, 0.58], "n": 297}, "medium": {"da": 0.5, "ci": [0.47, 0.53], "n": 303},
             "low": {"da": 0.49, "ci": [0.46, 0.52], "n": 300}, "high_per_horizon": {"1": 0.56, "2": 0.54},
             "baselines_at_coverage": {"reversal_1": {"da": 0.53, "ci": [0.5, 0.56], "n": 297, "ranked_by": "|r_1|"}}}
    m = decision_email(d, date(2025, 1, 12), tiers)
    words = " ".join(m.text.split())
    assert "Confidence tiers on the walk-forward" in words and "top 33%" in words
    assert "tier high: DA [95 %], cells 0.5500 [0.5200, 0.5800], 297" in words
    assert "at coverage: reversal_1 0.5300" in words and "tier high, h1 0.5600" in words
    assert "tier low" in m.html and "at coverage: reversal_1" in m.html
    assert "Confidence tiers" not in decision_email(d, date(2025, 1, 12)).text  # an older model: no section

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

"""Outgoing mail as one typed value: the subject, a plain-text part and an HTML part with the same words,
built here once from a few paragraphs and a table of figures. Whoever sends it (the DAG's SMTP function,
the CLI's printer, a test's list) only delivers it, as `multipart/alternative`: a terminal mail client
shows the text part, a graphical one the HTML.
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Callable, Iterable, Sequence

# Line length of the text part: RFC 5322's recommended limit, so an ASCII text part travels as plain
# 7-bit text, readable as is (no base64, no quoted-printable).
TEXT_WIDTH = 78


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str  # the text/plain alternative
    html: str  # the text/html alternative

    def as_message(self, sender: str, to: Sequence[str]) -> EmailMessage:
        """The MIME message: multipart/alternative, the plain text first and the HTML last (RFC 2046:
        the last alternative is the richest)."""
        msg = EmailMessage()
        msg["Subject"] = self.subject
        msg["From"] = sender
        msg["To"] = ", ".join(to)
        msg.set_content(self.text)
        msg.add_alternative(self.html, subtype="html")
        return msg


SendFn = Callable[[Mail], None]  # delivers one mail


def figure(value) -> str:
    """A figure as mailed: '-' for none (or empty), floats to 4 decimals, lists comma-separated, anything
    else as text."""
    if value is None or value == "":
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(figure(v) for v in value) or "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def report(subject: str, paragraphs: Sequence[str], rows: Iterable[tuple[str, object]]) -> Mail:
    """A mail of `paragraphs` followed by a two-column table of (label, figure) rows, rendered once as
    text (paragraphs wrapped, the table aligned) and once as HTML (escaped)."""
    cells = [(str(label), figure(value)) for label, value in rows]
    width = max((len(label) for label, _ in cells), default=0)
    wrap = dict(width=TEXT_WIDTH, break_on_hyphens=False)
    text = "\n\n".join(textwrap.fill(p, **wrap) for p in paragraphs) + "\n\n" + "".join(
        textwrap.fill(v, initial_indent=f"  {label:<{width}}  ", subsequent_indent=" " * (width + 4), **wrap) + "\n"
        for label, v in cells)
    body = ("".join(f"<p>{html.escape(p)}</p>" for p in paragraphs) + "<table border='1' cellpadding='3'>"
            + "".join(f"<tr><td>{html.escape(label)}</td><td>{html.escape(v)}</td></tr>" for label, v in cells)
            + "</table>")
    return Mail(subject, text, body)

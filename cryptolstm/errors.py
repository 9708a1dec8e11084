"""The permanent-failure protocol: how the library says "a retry cannot fix this".

An error class mixes in `Permanent` (`class ArtifactError(Permanent, Exception)`); the DAGs' one adapter
(`dags/cryptolstm_common.py`, `library_step`) fails such a task at once, without retries, and the CLI prints it
as its one-line error. A step that ran but found nothing to do returns a result that `nothing_to_do` names: the
DAGs skip the task. Nothing else decides whether an error is retried.
"""

from __future__ import annotations

NOTHING_TO_DO = ("no_champion", "expired")  # forecast statuses: no model may serve the day (the alerts say why)


class Permanent(Exception):
    """Mixin for errors a retry cannot fix (a corrupted artifact, a missing day, an exchange ban, ...).

    `skip`: True when this task met no fault of its own (e.g. another task met the exchange ban and recorded
    it): the DAG skips it instead of failing it, so the run sends one failure email, not one per task."""

    skip: bool = False


def one_line(exc: BaseException) -> str:
    """`TypeName: message` on one line (a loader's message may span lines)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def nothing_to_do(result) -> str | None:
    """The message of a step result that did nothing because there is nothing to do (its `status` is one of
    `NOTHING_TO_DO`), else None."""
    if isinstance(result, dict) and result.get("status") in NOTHING_TO_DO:
        return str(result.get("message", result["status"]))
    return None

"""Request results stored before migrations 0007-0009 get the fields those added to the
application: ``activated_on``, ``decision_rules_version``, ``submitted_on``. A retry
answers the stored result, and one stored before them answered an approved application
with no decision rules version and a submitted one with no submission date.

Each is filled from the application's row, as the result stood when stored: each field
is set once (at submission, the decision, activation) and never changes after, so the
row's value is the result's whenever the result's state is past that step, and the
field is empty before it (a draft's result has no submission date though the
application was submitted since). Results of the beneficiary register's requests are
not applications and are left alone.

Revision ID: 0010_request_results_dates
Revises: 0009_submitted_on
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_request_results_dates"
down_revision = "0009_submitted_on"
branch_labels = None
depends_on = None

# The operations whose stored result is an application (storage/repository.py).
APPLICATION_OPERATIONS = ("create", "submit", "score", "decide", "claim", "activate",
                          "expire")
_DECIDED = {"approved", "rejected", "active", "claimed", "expired"}
_ACTIVATED = {"active", "claimed", "expired"}
_PAGE = 500

_requests = sa.table("requests", sa.column("request_id", sa.String),
                     sa.column("operation", sa.String), sa.column("result", sa.JSON))
_applications = sa.table("applications", sa.column("id", sa.Integer),
                         sa.column("decision_rules_version", sa.String),
                         sa.column("submitted_on", sa.Date),
                         sa.column("activated_on", sa.Date))


def _iso(value) -> str | None:  # type: ignore[no-untyped-def]
    if value is None:
        return None
    return value if isinstance(value, str) else value.isoformat()  # SQLite: text


def completed(result: dict, row) -> dict:  # type: ignore[no-untyped-def]
    """``result`` with each of the three fields it lacks, from the application's ``row``
    as the result's state had it."""
    state = result.get("state")
    known = {"submitted_on": _iso(row.submitted_on) if state != "draft" else None,
             "decision_rules_version": (row.decision_rules_version or ""
                                        if state in _DECIDED else ""),
             "activated_on": _iso(row.activated_on) if state in _ACTIVATED else None}
    return {**result, **{k: v for k, v in known.items() if k not in result}}


def upgrade() -> None:
    bind = op.get_bind()
    last = ""
    while True:  # a page at a time, in request id order: the table holds every request
        page = bind.execute(
            sa.select(_requests.c.request_id, _requests.c.result)
            .where(_requests.c.operation.in_(APPLICATION_OPERATIONS),
                   _requests.c.request_id > last)
            .order_by(_requests.c.request_id).limit(_PAGE)).all()
        if not page:
            return
        last = page[-1].request_id
        stale = {r.request_id: r.result for r in page
                 if isinstance(r.result, dict) and "id" in r.result
                 and not {"submitted_on", "decision_rules_version",
                          "activated_on"} <= r.result.keys()}
        ids = {int(result["id"]) for result in stale.values()}
        rows = {row.id: row for row in bind.execute(
            sa.select(_applications).where(_applications.c.id.in_(ids)))} if ids else {}
        for request_id, result in stale.items():
            row = rows.get(int(result["id"]))
            if row is not None:
                bind.execute(sa.update(_requests)
                             .where(_requests.c.request_id == request_id)
                             .values(result=completed(result, row)))


def downgrade() -> None:
    pass  # the fields filled in stay: the code of 0009 reads them as its own results

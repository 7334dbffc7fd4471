"""``python -m services.funding.storage.outbox_admin``: the outbox's dead events, for an
operator.

An event the broker can never take (above its maximum payload, or an unreadable
envelope) is set aside as *dead* by the relay (``ijh_outbox_dead``, logged at ERROR).
Once the cause is fixed (e.g. the broker's ``max_payload`` raised), ``resend-dead``
clears ``dead_at`` so that the running relay publishes the event again at its next
pass, with its original event id. The database is the funding service's
(``IJH_DATABASE_URL``, else SQLite under ``IJH_VAR_DIR``) unless ``--database-url``
names another.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from services.funding.storage.engine import make_engine
from services.funding.storage.outbox import NotDead, dead_events, resend_dead
from services.shared.config import settings_for_tool

OK, OTHER, USAGE = 0, 1, 2
EXIT_CODES_HELP = ("Exit codes: 0 ok; 1 other error (e.g. the database cannot be read); "
                   "2 usage: bad flags, or ids that are not dead events (nothing changed).")
#: Longest error text in the table (``--json`` prints it whole).
WHY_WIDTH = 120

app = typer.Typer(
    name="outbox_admin", no_args_is_help=True, pretty_exceptions_enable=False,
    add_completion=False, rich_markup_mode=None,
    help="The funding outbox's dead events: list them; resend them once the cause is fixed.",
    epilog=EXIT_CODES_HELP)


class AdminError(Exception):
    """A failure shown as one line on stderr (never a traceback) with its exit code."""

    def __init__(self, message: str, exit_code: int = OTHER):
        super().__init__(message)
        self.exit_code = exit_code


def _fail(exc: AdminError) -> typer.Exit:
    print(f"error: {exc}", file=sys.stderr, flush=True)
    return typer.Exit(exc.exit_code)


@app.callback()
def _root(ctx: typer.Context, database_url: Annotated[str | None, typer.Option(
        help="The ledger's database [IJH_DATABASE_URL; default SQLite "
             "IJH_VAR_DIR/funding.sqlite3].")] = None) -> None:
    ctx.obj = database_url or settings_for_tool("outbox_admin").ledger_url


def _engine(url: str) -> Engine:
    """An engine on an existing ledger (a missing SQLite file is not created)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise AdminError(f"no ledger database at {parsed.database!r} (set IJH_VAR_DIR, "
                         "IJH_DATABASE_URL or --database-url)", USAGE)
    return make_engine(url, pool_size=1)


def _run(url: str, work):
    """``work(engine)``, with database failures as one line and exit code 1."""
    try:
        engine = _engine(url)
        try:
            return work(engine)
        finally:
            engine.dispose()
    except NotDead as exc:
        raise _fail(AdminError(str(exc), USAGE)) from None
    except AdminError as exc:
        raise _fail(exc) from None
    except SQLAlchemyError as exc:
        raise _fail(AdminError(f"database: {exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0]}")) from None


@app.command("list-dead")
def list_dead(ctx: typer.Context, as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON document (the full error texts) for scripts.")] = False
              ) -> None:
    """The dead events, oldest first: id, type, subject, size, when, why."""
    dead = _run(ctx.obj, dead_events)
    if as_json:
        print(json.dumps({"dead_events": [{
            "id": d.seq, "event_id": d.event_id, "type": d.type, "subject": d.subject,
            "size_bytes": d.size_bytes, "created_at": d.created_at.isoformat(),
            "dead_at": d.dead_at.isoformat(), "attempts": d.attempts, "why": d.last_error}
            for d in dead]}, indent=2, ensure_ascii=False))
        return
    if not dead:
        print("no dead events")
        return
    table = Table(title=f"{len(dead)} dead event(s)", title_justify="left")
    for column in ("id", "type", "subject", "size", "dead at (UTC)", "attempts", "why"):
        table.add_column(column, justify="right" if column in ("id", "size", "attempts")
                         else "left")
    for d in dead:
        why = d.last_error if len(d.last_error) <= WHY_WIDTH else \
            d.last_error[:WHY_WIDTH - 1] + "…"
        table.add_row(str(d.seq), d.type, d.subject, f"{d.size_bytes:,} B",
                      d.dead_at.strftime("%Y-%m-%d %H:%M:%S"), str(d.attempts), why)
    Console(highlight=False, soft_wrap=False,
            width=None if sys.stdout.isatty() else 200).print(table)


@app.command("resend-dead")
def resend(ctx: typer.Context,
           ids: Annotated[list[int] | None, typer.Argument(
               help="Ids (as list-dead shows them) of the dead events to resend.",
               metavar="ID", show_default=False)] = None,
           every: Annotated[bool, typer.Option(
               "--all", help="Resend every dead event.")] = False) -> None:
    """Clear the dead mark of the chosen events: the running relay publishes them again
    (with their original event ids). All or nothing: an id that is not a dead event is
    refused and nothing changes."""
    if bool(ids) == every:
        raise _fail(AdminError("name the dead events' ids, or --all (not both)", USAGE))
    resent = _run(ctx.obj, lambda engine: resend_dead(engine, None if every else ids))
    if not resent:
        print("no dead events")
        return
    print(f"{len(resent)} event(s) will be published again by the running relay: "
          + ", ".join(str(seq) for seq in resent))


if __name__ == "__main__":
    app()

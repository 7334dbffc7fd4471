"""Imported at start-up by the funding service of tests/cli/test_cli_grant_change.py (its
PYTHONPATH names this folder; no other process's does): the IJH rules are read from
FUNDING_TEST_IJH_RULES, and the repository's clock runs the number of days written in
FUNDING_TEST_DAYS_AHEAD_FILE ahead (none while it is missing), so that one application
may be submitted under one version of the rules and decided under the next, through the
real services."""

import os

if os.environ.get("FUNDING_TEST_IJH_RULES"):
    from datetime import timedelta
    from pathlib import Path

    from services.funding.rules import rulebook
    from services.funding.storage import repository

    rulebook.PARAMETER_DIRECTORY = Path(os.environ["FUNDING_TEST_IJH_RULES"])
    _ahead = Path(os.environ["FUNDING_TEST_DAYS_AHEAD_FILE"])

    def _clock():
        days = int(_ahead.read_text()) if _ahead.exists() else 0
        return repository.utc_now() + timedelta(days=days)

    _init = repository.Repository.__init__

    def _with_clock(self, *args, **kwargs):
        kwargs.setdefault("clock", _clock)
        _init(self, *args, **kwargs)

    repository.Repository.__init__ = _with_clock

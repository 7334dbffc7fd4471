"""Exit codes scripts can rely on, and the one error type the commands raise."""

from __future__ import annotations

import sys

OK = 0
OTHER = 1
USAGE = 2  # bad flags, or a bad input file (named with its line and field)
REFUSED = 3  # the service said INVALID_ARGUMENT, FAILED_PRECONDITION or ALREADY_EXISTS
AUTH = 4  # UNAUTHENTICATED or PERMISSION_DENIED
UNAVAILABLE = 5  # UNAVAILABLE or DEADLINE_EXCEEDED
INTERRUPTED = 130  # Ctrl-C (the server-side work was cancelled)

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 other error; 2 usage or bad input file (file:line: field: why); "
    "3 refused by the service (INVALID_ARGUMENT, FAILED_PRECONDITION, fields mapped back "
    "to file lines; ALREADY_EXISTS, a request id reused for another write); 4 "
    "authentication or permission (UNAUTHENTICATED, PERMISSION_DENIED); "
    "5 service unavailable or deadline exceeded; 130 interrupted (Ctrl-C cancels the call).")


class CliError(Exception):
    """An error shown as plain lines on stderr (never a traceback) with its exit code."""

    def __init__(self, message: str, exit_code: int = OTHER):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def show(self) -> None:
        print(f"error: {self.message}", file=sys.stderr, flush=True)

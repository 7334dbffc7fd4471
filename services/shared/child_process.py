"""Child processes that end with the launcher that started them (Linux).

`make run`'s launcher stops its children in order on Ctrl-C. Killed with SIGKILL (an
IDE's stop button, the OOM killer) it cannot, and nats-server and the three services used
to keep running, holding their ports, so the next `make run` could not start.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Interrupted(Exception):
    """A wait for a child to be ready, given up because the launcher was told to stop."""


def ending_with_this_thread() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send the child SIGTERM (its clean stop) when the
    thread starting it ends; None where there is no such call. Start such children from a
    thread that lives as long as the process (the launcher's main thread)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the launcher was gone before the call above
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec

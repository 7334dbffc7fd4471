"""Files a service reads at start and takes again when they change while it runs: TLS
certificates (:class:`~services.shared.tls.TlsSource`), the gateway's trusted token keys
(:class:`~services.gateway.identity.TokenKeySource`), the internal caller keys
(:class:`~services.shared.caller.CallerKeySource`). Kubernetes rewrites a mounted Secret
in place (a new directory, then the ``..data`` link swapped), so no restart is needed.

One mechanism for all of them: :func:`watch_files` polls each :class:`FileSource` every
``IJH_TLS_RELOAD_SECONDS``; a source compares its files' stat (symlinks followed) with
the last, and on a change reads them again, whole. A set its reader refuses (a
ConfigurationError: a file half-written, missing, of the wrong kind) is one WARNING and
the loaded set stays until the files change again. A set taken is handed to each
subscriber; one that fails is an ERROR once and is handed the loaded set again at each
poll until it takes it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from services.shared.config import ConfigurationError

log = logging.getLogger(__name__)

T = TypeVar("T")


def file_stamp(path: str) -> tuple[int, ...]:
    """What changes when a file is rewritten or replaced, or its mode or owner changed (the
    ctime: a chmod or chown that makes a refused file readable changes nothing else); the
    path's symlinks followed (Kubernetes swaps the ``..data`` link a Secret's files point
    through)."""
    try:
        st = os.stat(path)
    except OSError as exc:  # missing for a moment, or for good: the reader says which
        return (exc.errno or -1,)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class FileSource(Generic[T]):
    """What ``read`` makes of ``paths``: read now (a ConfigurationError: the service cannot
    start), then by :meth:`poll` again whenever their stat changes; :attr:`current` is the
    set taken last. ``name`` labels its log lines under :attr:`field` ("tls": "public")."""

    #: What the files hold, as log lines name them ("TLS files", "caller keys").
    kind = "files"
    #: The log field naming the source.
    field = "source"

    def __init__(self, name: str, paths: Sequence[str], read: Callable[[], T]):
        self.name = name
        # Logged under the subclass's module: its lines read as the TLS's, the keys'.
        self._log = logging.getLogger(type(self).__module__)
        self._paths = [path for path in paths if path]
        self._read = read
        self._stamp = self._stat()  # before the read: a change meanwhile is read again
        self.current: T = read()
        # Each listener and the name its failure is logged under, in order of subscription.
        self._listeners: dict[Callable[[T], None], str] = {}
        # Those that failed to take the current set (logged once): retried at each poll.
        self._behind: set[Callable[[T], None]] = set()

    def _stat(self) -> tuple:
        return tuple(file_stamp(path) for path in self._paths)

    def subscribe(self, listener: Callable[[T], None], name: str = "") -> None:
        """Call ``listener`` with each new set taken (on the event loop, from :meth:`poll`).
        One that raises is an ERROR naming it (``name``, else its qualified name), keeps
        what it had, and is called again with the current set at each poll until it takes
        it; the others are called all the same."""
        self._listeners[listener] = name or getattr(listener, "__qualname__", repr(listener))

    def unsubscribe(self, listener: Callable[[T], None]) -> None:
        self._listeners.pop(listener, None)
        self._behind.discard(listener)

    def poll(self) -> bool:
        """Read the files again if their stat changed; True when a new set was taken.
        Subscribers still on an older set are handed the current one again."""
        taken = False
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            taken = self._take()
        if not taken:
            for listener in [one for one in self._listeners if one in self._behind]:
                self._hand(listener)
        self._polled()
        return taken

    def _take(self) -> bool:
        try:
            value = self._read()
        except ConfigurationError as exc:
            # Once per change: the next poll finds the same stat and reads nothing.
            self._log.warning(f"new {self.kind} refused: the loaded ones stay in use",
                        extra={self.field: self.name, "error": str(exc)})
            return False
        if value == self.current:  # touched, not changed
            return False
        old, self.current = self.current, value
        self._taken(old, value)
        for listener in list(self._listeners):
            self._hand(listener)
        return True

    def _hand(self, listener: Callable[[T], None]) -> None:
        """Give ``listener`` the current set; an ERROR the first time it fails to take one."""
        name = self._listeners[listener]
        try:
            listener(self.current)
        except Exception:  # one failing must not leave the next on the old set
            if listener not in self._behind:
                self._behind.add(listener)
                self._log.exception(f"new {self.kind} not taken up by one of their users: it "
                              "stays on the old ones, tried again at each poll",
                              extra={self.field: self.name, "subscriber": name})
            else:
                self._log.debug("retry failed", extra={self.field: self.name, "subscriber": name},
                          exc_info=True)
            return
        if listener in self._behind:
            self._behind.discard(listener)
            self._log.info(f"new {self.kind} taken up at a retry",
                     extra={self.field: self.name, "subscriber": name})

    def _taken(self, old: T, new: T) -> None:
        """Say what changed (an INFO line): a new set replaced ``old``."""
        self._log.info(f"{self.kind} reloaded", extra={self.field: self.name})

    def _polled(self) -> None:
        """At the end of each poll (e.g. say that a loaded certificate is expiring)."""


async def watch_files(sources: Sequence[FileSource], interval_seconds: float) -> None:
    """Poll ``sources`` every ``interval_seconds``, until cancelled."""
    while True:
        await asyncio.sleep(interval_seconds)
        for source in sources:
            try:
                source.poll()
            except Exception:  # a bug here must not stop the watch of the others
                log.exception(f"{source.kind} could not be checked",
                              extra={source.field: source.name})

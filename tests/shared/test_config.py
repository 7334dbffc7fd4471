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

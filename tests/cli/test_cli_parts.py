"""The command's pure parts: euros to cents, YAML line marks, connection precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from ijh_cli.connection import ConnectionFlags, resolve
from ijh_cli.errors import CliError
from ijh_cli.files import euros_to_cents
from ijh_cli.inputs import load_procurement

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("text", "cents"), [
    ("42000.00", 4_200_000), ("42 000.00", 4_200_000), ("42_000", 4_200_000),
    ("0.1", 10), ("1,234,567.89", 123_456_789), ("€ 12.05", 1205), ("-3.5", -350)])
def test_euros_convert_exactly(text, cents):
    assert euros_to_cents(text) == cents


@pytest.mark.parametrize("text", ["12.345", "1e3", "lots", "", "1 2"])
def test_euros_refuse_what_is_not_an_amount(text):
    with pytest.raises(ValueError):
        euros_to_cents(text)


def test_procurement_file_maps_proto_paths_back_to_lines():
    model = load_procurement(ROOT / "examples" / "pcp_procurement.yaml")
    assert model.model.budget_cents == 230_000_000
    assert len(model.model.phases) == 3 and not model.model.phases[0].HasField(
        "pass_probability")
    line, field = model.sources.locate("model.cost_items[2].distribution.pert.mode_cents")
    text = (ROOT / "examples" / "pcp_procurement.yaml").read_text().splitlines()[line - 1]
    assert 'mode: "600 000.00"' in text and field == "cost_items[2].cost.pert.mode"


def _tree(tmp_path: Path) -> Path:
    var = tmp_path / "var"
    (var / "tokens").mkdir(parents=True)
    (var / "dev-pki").mkdir()
    (var / "dev-pki" / "ca.pem").write_text("CA")
    for role in ("officer", "agency", "analyst"):
        (var / "tokens" / f"{role}.jwt").write_text(f"token-{role}\n")
    return var


def test_precedence_flag_env_config_default(tmp_path, monkeypatch):
    var = _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    # defaults of make run: the command's own role, var/dev-pki/ca.pem
    c = resolve(ConnectionFlags(), "agency", env)
    assert (c.gateway, c.token, c.ca_cert) == ("127.0.0.1:50051", "token-agency",
                                               Path("var/dev-pki/ca.pem"))
    # ./ijh.toml beats the defaults (paths relative to the file)
    (tmp_path / "ijh.toml").write_text('gateway = "cfg:1"\nrole = "analyst"\n'
                                       'ca_cert = "var/dev-pki/ca.pem"\n')
    c = resolve(ConnectionFlags(), "agency", env)
    assert (c.gateway, c.token) == ("cfg:1", "token-analyst")
    assert c.ca_cert == tmp_path / "var/dev-pki/ca.pem"
    # the environment beats the config file
    env |= {"IJH_GATEWAY": "env:2", "IJH_TOKEN_FILE": str(var / "tokens" / "officer.jwt")}
    c = resolve(ConnectionFlags(), "agency", env)
    assert (c.gateway, c.token) == ("env:2", "token-officer")
    # flags beat the environment
    c = resolve(ConnectionFlags(gateway="flag:3", role="agency"), "analyst", env)
    assert (c.gateway, c.token) == ("flag:3", "token-agency")
    assert c.origin["token"].startswith("flag")


def test_unknown_role_and_half_mtls_are_usage_errors(tmp_path, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    env = {"HOME": str(tmp_path)}
    with pytest.raises(CliError) as exc:
        resolve(ConnectionFlags(role="nobody"), "agency", env)
    assert exc.value.exit_code == 2 and "nobody.jwt" in exc.value.message
    with pytest.raises(CliError) as exc:
        resolve(ConnectionFlags(client_cert="c.pem"), "agency", env)
    assert exc.value.exit_code == 2

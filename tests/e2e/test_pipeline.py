"""The staging pipeline with real tools and the shipped policies:
twine uploads to root/dev, `airlock push` and `devpi push` move releases to
root/prod, pip and uv install from root/prod only; a mirrored package goes
root/pypi -> root/dev -> root/prod and installs from prod with upstream gone;
and the higher-version (dependency-confusion) attack fails with pip and uv.
"""

from __future__ import annotations

import pytest

from conftest import REPO, ROOT_PASSWORD, build_project, run, venv_tool, write_project
from fake_upstream import FakeUpstream

POLICIES = str(REPO / "policies")


def build(tmp_path, name, version, body="X = 1\n"):
    module = name.replace("-", "_")
    proj = write_project(tmp_path / "src", name, version, module, body)
    out = tmp_path / f"out-{name}-{version}"
    proc = build_project(proj, out)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    (wheel,) = out.glob("*.whl")
    return wheel


def airlock(airlock_bin, srv, tmp_path, *args, check=True):
    env = {"AIRLOCK_CLIENT_CONFIG": str(tmp_path / "airlock-client.json")}
    return run([str(airlock_bin), *args, "--url", srv.url, "--user", "root", "--password", ROOT_PASSWORD],
               check=check, env_extra=env)


def test_upload_push_install_from_prod(make_server, clients, airlock_bin, tmp_path):
    srv = make_server("--policies", POLICIES)
    billing = build(tmp_path, "acme-billing", "1.4.0", 'VERSION = "1.4.0"\n')
    tools = build(tmp_path, "acme-tools", "2.0.0", 'VERSION = "2.0.0"\n')
    clients.twine_upload(srv.upload_url("root/dev"), [billing, tools], "root", ROOT_PASSWORD)

    # prod refuses direct uploads
    res = clients.twine_upload(srv.upload_url("root/prod"), [billing], "root", ROOT_PASSWORD, check=False)
    assert res.returncode != 0 and "takes no direct uploads" in res.output, res.output

    # nothing in prod yet
    res, _ = clients.pip_install(srv.index_url("root/prod"), "acme-billing", check=False)
    assert res.returncode != 0

    # dry run: the review, nothing lands
    res = airlock(airlock_bin, srv, tmp_path, "push", "acme-billing==1.4.0", "--from", "root/dev", "--to", "root/prod", "--dry-run")
    assert "dry run" in res.output and "decision: land" in res.output, res.output
    res, _ = clients.pip_install(srv.index_url("root/prod"), "acme-billing", check=False)
    assert res.returncode != 0

    # airlock push lands it
    res = airlock(airlock_bin, srv, tmp_path, "push", "acme-billing==1.4.0", "--from", "root/dev", "--to", "root/prod")
    assert "pushed to root/prod" in res.output and billing.name in res.output, res.output

    # devpi push lands the other one
    clientdir = tmp_path / "devpi-client"
    devpi = lambda *a, check=True: run([venv_tool("devpi"), "--clientdir", str(clientdir), *a], check=check)  # noqa: E731
    devpi("use", srv.url)
    devpi("login", "root", "--password", ROOT_PASSWORD)
    devpi("use", "root/dev")
    res = devpi("push", "acme-tools==2.0.0", "root/prod")
    assert tools.name in res.output, res.output

    # pip and uv install both from prod, and prod only
    _, target = clients.pip_install(srv.index_url("root/prod"), "acme-billing", "acme-tools")
    assert clients.import_from(target, "acme_billing") == "1.4.0"
    assert clients.import_from(target, "acme_tools") == "2.0.0"
    _, target = clients.uv_install(srv.index_url("root/prod"), "acme-billing", "acme-tools")
    assert clients.import_from(target, "acme_billing") == "1.4.0"

    # devpi push of different bytes under the same filename into the
    # non-volatile prod: the client fails and shows the reason
    tools_alt = build(tmp_path / "alt", "acme-tools", "2.0.0", 'VERSION = "2.0.0"\nALT = 1\n')
    assert tools_alt.name == tools.name and tools_alt.read_bytes() != tools.read_bytes()
    clients.twine_upload(srv.upload_url("root/dev"), [tools_alt], "root", ROOT_PASSWORD)  # volatile: replaced
    res = devpi("push", "acme-tools==2.0.0", "root/prod", check=False)
    assert res.returncode != 0 and "non-volatile" in res.output, res.output
    _, target = clients.pip_install(srv.index_url("root/prod"), "acme-tools")
    assert clients.import_from(target, "acme_tools") == "2.0.0"
    assert not (target / "acme_tools" / "__init__.py").read_text().count("ALT"), "prod kept the pushed bytes"

    # the wrong direction is refused with a clear message, and nothing changes
    res = airlock(airlock_bin, srv, tmp_path, "push", "acme-billing==1.4.0", "--from", "root/prod", "--to", "root/dev", check=False)
    assert res.returncode != 0 and "accepts pushes only from" in res.output, res.output


@pytest.fixture
def upstream(tmp_path):
    up = FakeUpstream()
    up.add("attrs-lite", build(tmp_path, "attrs-lite", "23.1.0", 'VERSION = "23.1.0"\n'))
    up.add("acme-billing", build(tmp_path, "acme-billing", "99.0", 'VERSION = "99.0"\nEVIL = True\n'))
    up.start()
    try:
        yield up
    finally:
        up.stop()


def test_mirror_to_dev_to_prod_then_offline(make_server, clients, airlock_bin, tmp_path, upstream):
    srv = make_server("--policies", POLICIES, "--upstream", upstream.simple_url)
    airlock(airlock_bin, srv, tmp_path, "push", "attrs-lite==23.1.0", "--from", "root/pypi", "--to", "root/dev")
    res = airlock(airlock_bin, srv, tmp_path, "push", "attrs-lite==23.1.0", "--from", "root/dev", "--to", "root/prod")
    assert "from http://127.0.0.1" in res.output, "upstream provenance shown"
    # upstream gone, airlock restarted offline: prod still installs it
    url = upstream.simple_url
    upstream.stop()
    srv.stop()
    srv.args = [a for a in srv.args if a not in ("--upstream", url)] + ["--offline"]
    srv.start()
    _, target = clients.pip_install(srv.index_url("root/prod"), "attrs-lite")
    assert clients.import_from(target, "attrs_lite") == "23.1.0"


def test_higher_version_attack_fails(make_server, clients, airlock_bin, tmp_path, upstream):
    srv = make_server("--policies", POLICIES, "--upstream", upstream.simple_url)
    private = build(tmp_path / "private", "acme-billing", "1.0", 'VERSION = "1.0"\n')
    clients.twine_upload(srv.upload_url("root/dev"), [private], "root", ROOT_PASSWORD)
    # dev inherits the mirror, upstream has acme-billing 99.0: dev serves 1.0
    _, target = clients.pip_install(srv.index_url("root/dev"), "acme-billing")
    assert clients.import_from(target, "acme_billing") == "1.0"
    _, target = clients.uv_install(srv.index_url("root/dev"), "acme-billing")
    assert clients.import_from(target, "acme_billing") == "1.0"
    assert upstream.hits[f"/files/{'acme_billing-99.0-py3-none-any.whl'}"] == 0
    # a push of the attacker's release from the mirror is refused
    res = airlock(airlock_bin, srv, tmp_path, "push", "acme-billing==99.0", "--from", "root/pypi", "--to", "root/dev", check=False)
    assert res.returncode != 0 and "dependency confusion" in res.output, res.output
    # prod has only what was pushed
    res, _ = clients.pip_install(srv.index_url("root/prod"), "acme-billing", check=False)
    assert res.returncode != 0
    airlock(airlock_bin, srv, tmp_path, "push", "acme-billing==1.0", "--from", "root/dev", "--to", "root/prod")
    _, target = clients.uv_install(srv.index_url("root/prod"), "acme-billing")
    assert clients.import_from(target, "acme_billing") == "1.0"
    # and the attempt is reported
    res = airlock(airlock_bin, srv, tmp_path, "alerts", check=None)
    assert res.returncode == 1 and "[high] dependency_confusion acme-billing" in res.output, res.output

"""The first hour of a new user (issue 15): behind a TLS-intercepting proxy
(an upstream whose CA only a trust store passed with SSL_CERT_FILE knows),
the root password, logging in, listing pushes and alerts, what pip shows —
each asserted on what the user sees from the real binary and real clients.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO, ROOT_PASSWORD, run, wheel_metadata
from fake_upstream import FakeUpstream

POLICIES = str(REPO / "policies")


def make_ca(airlock_bin: Path, where: Path) -> Path:
    """A throwaway CA with a server certificate for 127.0.0.1 (and a client
    certificate for alice), written by `airlock certs init`."""
    run([str(airlock_bin), "certs", "init", str(where), "--client", "alice"])
    return where


def cli(airlock_bin, tmp_path, *args, check=True, stdin=None, env=None):
    """The airlock CLI with its own client config file."""
    extra = {"AIRLOCK_CLIENT_CONFIG": str(tmp_path / "airlock-client.json"), **(env or {})}
    if stdin is None:
        return run([str(airlock_bin), *args], check=check, env_extra=extra)
    from conftest import scrubbed_env

    full = scrubbed_env()
    full.update(extra)
    proc = subprocess.run([str(airlock_bin), *args], input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=full, text=True, timeout=60)
    if check is True:
        assert proc.returncode == 0, proc.stdout
    elif check is False:
        assert proc.returncode != 0, proc.stdout
    return proc


@pytest.fixture
def https_upstream(dists, airlock_bin, tmp_path):
    """demo-pkg and demo-app served over HTTPS by a CA that is in no system
    trust store: (upstream, CA folder)."""
    pki = make_ca(airlock_bin, tmp_path / "upstream-pki")
    up = FakeUpstream()
    up.add("demo-pkg", dists.demo.wheel.path, metadata=wheel_metadata(dists.demo.wheel.path))
    up.add("demo-pkg", dists.demo.sdist.path)
    up.add("demo-app", dists.app.wheel.path)
    up.start(tls=(pki / "server.pem", pki / "server.key"))
    try:
        yield up, pki
    finally:
        up.stop()


# -- 1. upstream TLS: the system trust store, SSL_CERT_FILE, --upstream-ca ----


def test_mirror_trusts_what_ssl_cert_file_trusts(make_server, clients, https_upstream):
    up, pki = https_upstream
    srv = make_server("--upstream", up.simple_url, env={"SSL_CERT_FILE": str(pki / "ca.pem")})
    _, target = clients.pip_install(srv.index_url("root/pypi"), "demo-app")
    assert clients.import_from(target, "demo_app") == "2.0.0"


def test_mirror_trusts_upstream_ca_on_top_of_the_system(make_server, clients, https_upstream):
    up, pki = https_upstream
    srv = make_server("--upstream", up.simple_url, "--upstream-ca", str(pki / "ca.pem"))
    _, target = clients.uv_install(srv.index_url("root/pypi"), "demo-pkg")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"


def test_untrusted_upstream_names_the_fix_and_is_not_retried(make_server, clients, https_upstream, airlock_bin, tmp_path):
    up, _ = https_upstream
    other = make_ca(airlock_bin, tmp_path / "other-pki")  # trusts some other CA only
    srv = make_server("--upstream", up.simple_url, env={"SSL_CERT_FILE": str(other / "ca.pem")})
    # pip hides a 502 of a project page (it says "from versions: none"); the
    # answer itself and the server's log say what to do
    clients.pip_install(srv.index_url("root/pypi"), "demo-pkg", check=False)
    assert "--upstream-ca" in srv.log(), srv.log()
    r = requests.get(f"{srv.url}/root/pypi/+simple/demo-pkg/", timeout=30)
    assert r.status_code == 502, r.text
    assert "not trusted" in r.text and "--upstream-ca" in r.text and "SSL_CERT_FILE" in r.text, r.text
    assert "invalid peer certificate" in r.text, r.text  # the same-named other CA: BadSignature
    assert "retrying" not in srv.log(), srv.log()


# -- 1. the CLI towards an HTTPS airlock ------------------------------------------


def test_cli_names_ca_for_an_untrusted_server_and_https_for_http(make_server, airlock_bin, tmp_path):
    pki = make_ca(airlock_bin, tmp_path / "pki")
    srv = make_server("--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"))
    assert srv.url.startswith("https://")
    res = cli(airlock_bin, tmp_path, "use", srv.url, check=False)
    assert "--ca" in res.output and "not trusted" in res.output, res.output
    plain = srv.url.replace("https://", "http://")
    res = cli(airlock_bin, tmp_path, "use", plain, check=False)
    assert "speaks HTTPS" in res.output and f"airlock use {srv.url}" in res.output, res.output
    assert res.output.count("invalid HTTP version") == 0, res.output
    res = cli(airlock_bin, tmp_path, "use", srv.url, "--ca", str(pki / "ca.pem"))
    assert "using server" in res.output
    # SSL_CERT_FILE works as for pip and curl
    res = cli(airlock_bin, tmp_path / "x", "use", srv.url, env={"SSL_CERT_FILE": str(pki / "ca.pem")})
    assert "using server" in res.output


# -- 5. the root password ---------------------------------------------------------


def test_root_password_generated_framed_ignored_later_and_reset_offline(make_server, airlock_bin, tmp_path):
    srv = make_server(env={"AIRLOCK_ROOT_PASSWORD": None})
    out = srv.stdout()
    m = re.search(r"^={60,}\n  airlock: created user 'root'\n\n      password: (\S+)\n", out, re.M)
    assert m, out
    generated = m.group(1)
    assert "airlock user passwd root --data" in out, out
    assert requests.post(f"{srv.url}/+login", json={"user": "root", "password": generated}, timeout=30).ok

    # later starts: the variable is ignored, and the log says so
    srv.stop()
    srv.extra_env["AIRLOCK_ROOT_PASSWORD"] = "chosen-too-late"
    srv.start()
    assert "AIRLOCK_ROOT_PASSWORD is set but IGNORED" in srv.log(), srv.log()
    assert "password:" not in srv.stdout().split("=" * 72)[-1]
    r = requests.post(f"{srv.url}/+login", json={"user": "root", "password": "chosen-too-late"}, timeout=30)
    assert r.status_code == 401

    # offline reset, from standard input, audited
    srv.stop()
    res = cli(airlock_bin, tmp_path, "user", "passwd", "root", "--data", str(srv.data), stdin="", check=False)
    assert res.returncode != 0 and "no password given" in res.stdout, res.stdout
    res = cli(airlock_bin, tmp_path, "user", "passwd", "root", "--data", str(srv.data), stdin="fresh-pw\n")
    assert "password of root changed" in res.stdout, res.stdout
    res = cli(airlock_bin, tmp_path, "user", "passwd", "nobody", "--data", str(srv.data), check=False)
    assert "no user nobody" in res.output, res.output
    srv.start()
    assert requests.post(f"{srv.url}/+login", json={"user": "root", "password": "fresh-pw"}, timeout=30).ok
    srv.stop()
    res = cli(airlock_bin, tmp_path, "user", "passwd", "root", "--data", str(srv.data), "--generate")
    m = re.search(r"password: (\S+)", res.output)
    assert m and "=" * 72 in res.output, res.output
    srv.start()
    tok = requests.post(f"{srv.url}/+login", json={"user": "root", "password": m.group(1)}, timeout=30)
    assert tok.ok, tok.text
    audit = requests.get(f"{srv.url}/+audit", auth=("root", m.group(1)), headers={"Accept": "application/json"},
                         timeout=30).json()
    entries = [e for e in audit["result"] if e["action"] == "user_modify" and e["target"] == "root"]
    assert len(entries) == 2 and "offline" in json.dumps(entries[0]["details"]), entries
    res = cli(airlock_bin, tmp_path, "audit", "verify", "--url", srv.url, "--user", "root", "--password", m.group(1))
    assert res.returncode == 0, res.output


# -- 12. login without a password ---------------------------------------------------


def test_login_with_no_password_says_so(server, airlock_bin, tmp_path):
    res = cli(airlock_bin, tmp_path, "login", "root", "--url", server.url, stdin="", check=False)
    assert "no password given" in res.stdout and "401" not in res.stdout, res.stdout
    res = cli(airlock_bin, tmp_path, "login", "root", "--url", server.url, stdin=ROOT_PASSWORD + "\n")
    assert "logged in as root" in res.stdout, res.stdout


# -- shared: a policy'd server with a fake PyPI -------------------------------------


def build(tmp_path, name, version, deps=(), body=None):
    from conftest import build_project, write_project

    module = name.replace("-", "_")
    proj = write_project(tmp_path / "src", name, version, module, body or f'VERSION = "{version}"\n', deps)
    out = tmp_path / f"out-{name}-{version}"
    proc = build_project(proj, out)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    (wheel,) = out.glob("*.whl")
    return wheel


def as_root(airlock_bin, srv, tmp_path, *args, check=True):
    return cli(airlock_bin, tmp_path, *args, "--url", srv.url, "--user", "root", "--password", ROOT_PASSWORD,
               check=check)


@pytest.fixture
def pypi(tmp_path):
    """A fake PyPI with acme-billing 99.0 (an attacker's higher version of a
    private name), demo-lib 1.0 and demo-top 1.0 (which requires demo-lib)."""
    up = FakeUpstream()
    up.add("acme-billing", build(tmp_path / "up", "acme-billing", "99.0"))
    up.add("demo-lib", build(tmp_path / "up", "demo-lib", "1.0"))
    up.add("demo-top", build(tmp_path / "up", "demo-top", "1.0", deps=("demo-lib>=1",)))
    up.start()
    try:
        yield up
    finally:
        up.stop()


# -- 4. the dependency-confusion watch and acknowledging alerts ------------------------


def test_promoted_names_raise_no_alert_and_alerts_can_be_acknowledged(make_server, clients, airlock_bin, tmp_path,
                                                                      pypi):
    srv = make_server("--policies", POLICIES, "--upstream", pypi.simple_url)
    # promoted from the mirror: not a private name, whatever PyPI publishes
    res = as_root(airlock_bin, srv, tmp_path, "push", "demo-top==1.0", "--from", "root/pypi", "--to", "root/dev",
                  "--with-deps")
    assert "SHADOWED" not in res.output, res.output
    clients.pip_install(srv.index_url("root/dev"), "demo-top")
    # a private name that PyPI also publishes, higher: a real alert
    clients.twine_upload(srv.upload_url("root/dev"), [build(tmp_path, "acme-billing", "1.0")], "root", ROOT_PASSWORD)
    clients.pip_install(srv.index_url("root/dev"), "acme-billing")
    deadline = time.monotonic() + 20
    while True:
        res = as_root(airlock_bin, srv, tmp_path, "alerts", check=None)
        if res.returncode == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert res.returncode == 1, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("#")]
    assert len(lines) == 1 and "[high] dependency_confusion acme-billing" in lines[0], res.output
    assert "airlock alerts ack ID" in res.output, res.output
    alert_id = lines[0].split()[0].lstrip("#")

    res = as_root(airlock_bin, srv, tmp_path, "alerts", "ack", alert_id, "--note", "", check=False)
    assert "give a note" in res.output, res.output
    res = as_root(airlock_bin, srv, tmp_path, "alerts", "ack", "999", "--note", "x", check=False)
    assert "there is no alert #999" in res.output, res.output
    res = as_root(airlock_bin, srv, tmp_path, "alerts", "ack", alert_id, "--note", "our own package; PyPI's is squatted")
    assert f"alert #{alert_id} acknowledged" in res.output, res.output
    res = as_root(airlock_bin, srv, tmp_path, "alerts")
    assert "no open alerts" in res.output, res.output
    res = as_root(airlock_bin, srv, tmp_path, "alerts", "--all")
    assert "acknowledged by root: our own package" in res.output, res.output
    res = as_root(airlock_bin, srv, tmp_path, "alerts", "ack", alert_id, "--note", "again", check=False)
    assert "already acknowledged" in res.output, res.output
    audit = srv.api("GET", "+audit", as_user=("root", ROOT_PASSWORD)).json()["result"]
    acks = [e for e in audit if e["action"] == "alert_ack"]
    assert len(acks) == 1 and acks[0]["details"]["note"].startswith("our own package"), acks
    r = requests.get(f"{srv.url}/+alerts?all=maybe", auth=("root", ROOT_PASSWORD), timeout=30)
    assert r.status_code == 400, r.text


# -- 9. pushes listing, dry runs, dependency presence -------------------------------------


def test_pushes_listing_dry_run_and_dependency_presence(make_server, airlock_bin, tmp_path, pypi):
    srv = make_server("--policies", POLICIES, "--upstream", pypi.simple_url)
    # root/dev sees PyPI: demo-lib is available to it, so not "NOT in the target"
    res = as_root(airlock_bin, srv, tmp_path, "push", "demo-top==1.0", "--from", "root/pypi", "--to", "root/dev",
                  "--dry-run")
    assert "demo-lib >=1  [in the target]" in res.output and "NOT in the target" not in res.output, res.output
    assert "would be pushed root/pypi -> root/dev by root (dry run: nothing recorded)" in res.output, res.output
    assert "pushed root/pypi -> root/dev by root\n" not in res.output, res.output
    res = as_root(airlock_bin, srv, tmp_path, "pushes", "--status", "all")
    assert "no pushes" in res.output, res.output

    as_root(airlock_bin, srv, tmp_path, "push", "demo-top==1.0", "--from", "root/pypi", "--to", "root/dev")
    res = as_root(airlock_bin, srv, tmp_path, "pushes", "--status", "landed")
    assert re.search(r"#1 landed\s+demo-top==1\.0\s+root/pypi -> root/dev\s+by root", res.output), res.output
    assert "demo-top" in as_root(airlock_bin, srv, tmp_path, "pushes", "--status", "all").output
    assert "no pending pushes" in as_root(airlock_bin, srv, tmp_path, "pushes").output
    res = as_root(airlock_bin, srv, tmp_path, "pushes", "--status", "bogus", check=False)
    assert "400" in res.output and "unknown push status" in res.output, res.output
    r = requests.get(f"{srv.url}/+pushes?status=bogus", auth=("root", ROOT_PASSWORD),
                     headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 400 and "pending, landed, rejected, failed" in r.json()["message"], r.text

    # root/prod has no bases: demo-lib is missing there, and said so
    res = as_root(airlock_bin, srv, tmp_path, "push", "demo-top==1.0", "--from", "root/dev", "--to", "root/prod",
                  "--dry-run")
    assert "demo-lib >=1  [NOT in the target]" in res.output, res.output
    assert "missing after the push: demo-lib >=1" in res.output, res.output


# -- 3. push with dependencies: the set, all or nothing, policies ---------------------------


STRICT_PROD = """
[index."root/pypi"]
type = "mirror"

[index."root/dev"]
type = "stage"
bases = ["root/pypi"]
volatile = true
accepts_push_from = ["root/pypi"]

[index."root/prod"]
type = "stage"
production = true
accepts_push_from = ["root/dev"]
environments = { python = ["3.12"], platforms = ["linux_x86_64"] }

[index."root/prod".require]
dependencies_present = true
"""


def test_push_with_deps_dry_run_all_or_nothing_and_dependencies_present(make_server, clients, airlock_bin, tmp_path,
                                                                       pypi):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "strict.toml").write_text(STRICT_PROD)
    srv = make_server("--policies", str(policies), "--upstream", pypi.simple_url)
    # dry run: the whole set, nothing lands
    res = as_root(airlock_bin, srv, tmp_path, "push", "demo-top==1.0", "--from", "root/pypi", "--to", "root/dev",
                  "--with-deps", "--dry-run")
    assert "push with dependencies  root/pypi -> root/dev: 2 release(s)" in res.output, res.output
    assert "[1/2] push demo-top==1.0" in res.output and "[2/2] push demo-lib==1.0" in res.output, res.output
    assert "dry run: demo-top==1.0 and 1 dependenc(ies) would be pushed" in res.output, res.output
    assert "no pushes" in as_root(airlock_bin, srv, tmp_path, "pushes", "--status", "all").output
    as_root(airlock_bin, srv, tmp_path, "push", "demo-top==1.0", "--from", "root/pypi", "--to", "root/dev")
    # prod requires dependencies_present: the lone push is refused, naming what is missing
    res = as_root(airlock_bin, srv, tmp_path, "push", "demo-top==1.0", "--from", "root/dev", "--to", "root/prod",
                  check=False)
    assert "refused by policy" in res.output and "demo-lib >=1" in res.output and "--with-deps" in res.output, \
        res.output
    # with --with-deps from root/dev, demo-lib is not on root/dev (only seen through the mirror): refused, nothing lands
    res = as_root(airlock_bin, srv, tmp_path, "push", "demo-top==1.0", "--from", "root/dev", "--to", "root/prod",
                  "--with-deps", check=False)
    assert "demo-lib >=1 (needed by demo-top==1.0): not on root/dev" in res.output, res.output
    r = requests.get(srv.index_url("root/prod") + "demo-top/", timeout=30)
    assert r.status_code == 404, r.text
    # bring demo-lib to dev, then the set lands in prod, together
    as_root(airlock_bin, srv, tmp_path, "push", "demo-lib==1.0", "--from", "root/pypi", "--to", "root/dev")
    res = as_root(airlock_bin, srv, tmp_path, "push", "demo-top==1.0", "--from", "root/dev", "--to", "root/prod",
                  "--with-deps")
    assert "2 release(s) landed" in res.output, res.output
    _, target = clients.pip_install(srv.index_url("root/prod"), "demo-top")
    assert clients.import_from(target, "demo_top") == "1.0"
    assert clients.import_from(target, "demo_lib") == "1.0"


def test_bad_environments_in_a_policy_stop_the_server(make_server, tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "bad.toml").write_text(STRICT_PROD.replace('"linux_x86_64"', '"amiga"'))
    with pytest.raises(RuntimeError) as e:
        make_server("--policies", str(policies))
    assert "unknown platform \\\"amiga\\\"" in str(e.value) or 'unknown platform "amiga"' in str(e.value), e.value


# -- 8. devpi's file history ---------------------------------------------------------


def test_devpi_json_log_is_the_real_history(make_server, airlock_bin, tmp_path, pypi):
    srv = make_server("--policies", POLICIES, "--upstream", pypi.simple_url)
    as_root(airlock_bin, srv, tmp_path, "push", "demo-lib==1.0", "--from", "root/pypi", "--to", "root/dev")
    as_root(airlock_bin, srv, tmp_path, "push", "demo-lib==1.0", "--from", "root/dev", "--to", "root/prod")
    data = srv.project_json("root/prod", "demo-lib")
    (link,) = [x for x in data["1.0"]["+links"] if x["rel"] == "releasefile"]
    log = link["log"]
    assert [e["what"] for e in log] == ["mirror", "push", "push"], log
    assert log[0]["src"].startswith(pypi.simple_url.rsplit("/simple/", 1)[0]) and log[0]["dst"] == "root/pypi"
    assert (log[1]["src"], log[1]["dst"], log[1]["who"]) == ("root/pypi", "root/dev", "root"), log
    assert (log[2]["src"], log[2]["dst"], log[2]["who"]) == ("root/dev", "root/prod", "root"), log
    assert all(len(e["when"]) == 6 for e in log), log
    assert not any(e["what"] == "upload" for e in log), log


# -- 7. an upload with only a client certificate -------------------------------------------


def test_twine_uploads_with_only_a_certificate(make_server, airlock_bin, tmp_path):
    pki = make_ca(airlock_bin, tmp_path / "pki")
    srv = make_server("--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
                      "--client-ca", str(pki / "ca.pem"), "--client-auth", "optional", "--cert-identity", "san-uri")
    ca = str(pki / "ca.pem")
    r = requests.put(f"{srv.url}/alice", json={"password": "s3cret"}, auth=("root", ROOT_PASSWORD), verify=ca)
    assert r.status_code == 201, r.text
    r = requests.put(f"{srv.url}/alice/dev", json={"volatile": True}, auth=("alice", "s3cret"), verify=ca)
    assert r.status_code in (200, 201), r.text
    wheel = build(tmp_path, "alice-tool", "1.0")
    no_env_ca = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}
    twine = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", f"{srv.url}/alice/dev/", "-u", "", "-p", "", "--cert", ca]
    res = run([*twine, "--client-cert", str(pki / "alice-bundle.pem"), str(wheel)], env_extra=no_env_ca)
    assert "Enter your username" not in res.output, res.output
    r = requests.get(f"{srv.url}/alice/dev/+simple/alice-tool/", verify=ca, timeout=30)
    assert wheel.name in r.text, r.text
    audit = requests.get(f"{srv.url}/+audit", auth=("root", ROOT_PASSWORD), verify=ca).json()["result"]
    (up,) = [e for e in audit if e["action"] == "upload"]
    assert up["actor"] == "alice" and up["cert_fingerprint"], up
    # without the certificate, empty credentials are not a login
    res = run([*twine, str(wheel)], check=False, env_extra=no_env_ca)
    assert res.returncode != 0 and shows(res.output, 401), res.output


def shows(output: str, status: int) -> bool:
    from conftest import shows_status

    return shows_status(output, status)

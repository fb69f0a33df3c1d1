"""The first hour of a new user (issue 15): behind a TLS-intercepting proxy
(an upstream whose CA only a trust store passed with SSL_CERT_FILE knows),
the root password, logging in, listing pushes and alerts, what pip shows —
each asserted on what the user sees from the real binary and real clients.
"""

from __future__ import annotations

import json
import re
import subprocess
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

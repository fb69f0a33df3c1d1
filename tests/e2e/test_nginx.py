"""Debian's nginx in front of a real airlock, with the site `airlock
gen-config nginx` prints: pip, uv, twine and devpi through it; downloads
whose bytes nginx sends only after airlock authorised them (X-Accel-Redirect
into an `internal` location); a download refused by the index's read policy;
the internal location unreachable from outside.

nginx runs in the foreground from a small nginx.conf this module writes
(pid, logs and temp folders in a temporary folder), on a free loopback
port. Its workers run as `nobody` with airlock's group (root here), as the
deployment guide sets it up: they read the blobs through the group
permissions airlock gives them under --accel-redirect, and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT_PASSWORD, Clients, Server, run, unique, venv_tool

NGINX = "/usr/sbin/nginx"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
PREFIX = "/+airlock-internal"
ALICE = ("alice", "alice-pw")

if not Path(NGINX).exists():
    if os.environ.get("CI"):
        raise RuntimeError("nginx is missing: tests/run.sh installs Debian's nginx")
    pytest.skip("nginx is not installed (tests/run.sh installs it)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_conf(home: Path, site: Path, *, stream: bool = False) -> Path:
    """A whole nginx.conf around one generated site: everything nginx writes
    stays in `home`."""
    conf = home / "nginx.conf"
    temp = "\n".join(f"    {k}_temp_path {home / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    http = f"""
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format accel '$request_method $request_uri $status sent=$body_bytes_sent '
                     'upstream_len=$upstream_response_length accel=$upstream_http_x_accel_redirect';
    access_log {home / "access.log"} accel;
{temp}
    include {site};
}}
"""
    conf.write_text(
        (f"load_module {STREAM_MODULE};\n" if stream else "")
        + f"""daemon off;
worker_processes 1;
user nobody root;
pid {home / "nginx.pid"};
error_log {home / "error.log"} info;
events {{ worker_connections 128; }}
"""
        + (f"include {site};\n" if stream else http)
    )
    return conf


def nginx_test(conf: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NGINX, "-t", "-q", "-p", str(home), "-e", str(home / "error.log"), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def gen_config(airlock_bin: Path, *args: str) -> str:
    res = subprocess.run([str(airlock_bin), "gen-config", *args], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout


class Front:
    """airlock with --accel-redirect, and nginx in front of it."""

    def __init__(self, airlock: Server, home: Path, url: str, proc: subprocess.Popen):
        self.airlock = airlock
        self.home = home
        self.url = url
        self.proc = proc

    def index_url(self, index: str, auth: tuple[str, str] | None = None) -> str:
        scheme, host = self.url.split("://", 1)
        creds = f"{auth[0]}:{auth[1]}@" if auth else ""
        return f"{scheme}://{creds}{host}/{index}/+simple/"

    def access_log(self) -> list[str]:
        # nginx writes a line when the response is done: give it a moment
        time.sleep(0.2)
        return (self.home / "access.log").read_text().splitlines()


@contextlib.contextmanager
def running_front(airlock_bin: Path, logs: Path, pki: Path | None = None):
    """airlock (--accel-redirect, plain HTTP on loopback) and nginx in front
    of it with the generated site: plain HTTP, or terminating TLS with the
    server certificate of `pki` (`airlock certs init`)."""
    # nginx's workers (nobody, group root) reach this folder through the
    # group: pytest's own temporary folders are private to root.
    home = Path(tempfile.mkdtemp(prefix="airlock-nginx-", dir="/tmp"))
    os.chmod(home, 0o710)
    policies = home / "policies"
    policies.mkdir()
    (policies / "acme.toml").write_text(
        """
[index."acme/private"]
type = "stage"
volatile = true
upload_users = ["alice"]
# anonymous installs refused: a password is needed to read
auth = { install = ["password"] }
"""
    )
    port = free_port()
    outside = f"https://localhost:{port}" if pki else f"http://127.0.0.1:{port}"
    airlock = Server(
        airlock_bin,
        home / "data",
        logs,
        ["--accel-redirect", PREFIX, "--outside-url", outside, "--policies", str(policies)],
    )
    proc = None
    try:
        airlock.start()
        airlock.create_user(*ALICE)
        listen = airlock.url.removeprefix("http://")
        tls = ["--nginx-tls-cert", str(pki / "server.pem"), "--nginx-tls-key", str(pki / "server.key")] if pki else []
        site = home / "airlock-site.conf"
        site.write_text(
            gen_config(
                airlock_bin, "nginx", "--outside-url", outside, "--nginx-listen", f"127.0.0.1:{port}",
                "--listen", listen, "--data", str(airlock.data), "--accel-redirect", PREFIX, *tls,
            )
        )
        conf = nginx_conf(home, site)
        checked = nginx_test(conf, home)
        assert checked.returncode == 0, f"nginx -t:\n{checked.stderr}\n{site.read_text()}"
        proc = start_nginx(home, conf, port)
        yield Front(airlock, home, outside, proc)
    finally:
        stop_nginx(proc)
        airlock.stop()
        shutil.rmtree(home, ignore_errors=True)


def start_nginx(home: Path, conf: Path, port: int) -> subprocess.Popen:
    """nginx in the foreground (its master is this process), once it accepts
    connections on `port`."""
    proc = subprocess.Popen(
        [NGINX, "-p", str(home), "-e", str(home / "error.log"), "-c", str(conf)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_nginx(proc)
                raise RuntimeError(f"nginx did not start:\n{(home / 'error.log').read_text()}")
            time.sleep(0.05)


def stop_nginx(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGQUIT)  # graceful: the workers finish, then the master exits
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def front(airlock_bin, tmp_path_factory):
    with running_front(airlock_bin, tmp_path_factory.mktemp("airlock-logs")) as f:
        yield f


@pytest.fixture(scope="module")
def uploaded(front, dists, tmp_path_factory) -> str:
    """demo-pkg 1.0.0 on acme/private, uploaded by twine through nginx."""
    c = Clients(tmp_path_factory.mktemp("twine"))
    c.twine_upload(f"{front.url}/acme/private/", [dists.demo.wheel.path, dists.demo.sdist.path], *ALICE)
    return "acme/private"


def file_path(index: str, dist) -> str:
    return f"/{index}/+f/{dist.sha256[:3]}/{dist.sha256[3:16]}/{dist.name}"


def log_lines_for(front: Front, path: str) -> list[str]:
    """Access-log lines of requests for `path` (pip sends `+` as `%2B`)."""
    return [line for line in front.access_log() if f" {path} " in re.sub("%2[Bb]", "+", line)]


def test_pip_and_uv_install_through_nginx_and_nginx_sends_the_files(front, uploaded, dists, clients):
    wheel = dists.demo.wheel
    res, target = clients.pip_install(front.index_url(uploaded, ALICE), "demo-pkg==1.0.0")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    res, target = clients.uv_install(front.index_url(uploaded, ALICE), "demo-pkg==1.0.0")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    # both downloads of the wheel: authorised by airlock, which sent no bytes
    # (its response was empty and named the blob), the bytes came from nginx
    lines = [line for line in log_lines_for(front, file_path(uploaded, wheel)) if line.startswith("GET ")]
    whole = [line for line in lines if " 200 " in line and f"sent={len(wheel.data)} " in line]
    assert len(whole) >= 2, "\n".join(front.access_log())
    blob = f"{PREFIX}/{wheel.sha256[:2]}/{wheel.sha256[2:4]}/{wheel.sha256}"
    for line in lines:
        assert "upstream_len=0 " in line, line
        assert line.endswith(f"accel={blob}"), line


def test_a_download_through_nginx_is_the_stored_bytes_after_airlock_authorised_it(front, uploaded, dists):
    wheel = dists.demo.wheel
    url = front.url + file_path(uploaded, wheel)
    r = requests.get(url, auth=ALICE, timeout=30)
    assert r.status_code == 200, r.text
    assert hashlib.sha256(r.content).hexdigest() == wheel.sha256
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "x-accel-redirect" not in r.headers, "nginx consumes the header"
    assert "immutable" in r.headers["cache-control"]
    # the ETag is airlock's (the sha256), and a revalidation is answered by airlock
    assert r.headers["etag"] == f'"{wheel.sha256}"', r.headers
    r = requests.get(url, auth=ALICE, headers={"If-None-Match": f'"{wheel.sha256}"'}, timeout=30)
    assert r.status_code == 304 and not r.content
    # airlock's log: the authorisation, naming the blob
    assert any("download authorised" in line and wheel.sha256 in line for line in front.airlock.log().splitlines())
    # Range and HEAD are nginx's to answer, on the same authorisation
    r = requests.get(url, auth=ALICE, headers={"Range": "bytes=0-9"}, timeout=30)
    assert r.status_code == 206 and r.content == wheel.data[:10]
    r = requests.head(url, auth=ALICE, timeout=30)
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(wheel.data)


def test_a_download_the_read_policy_refuses_is_refused_through_nginx(front, uploaded, dists, clients):
    wheel = dists.demo.wheel
    path = file_path(uploaded, wheel)
    r = requests.get(front.url + path, timeout=30)
    assert r.status_code == 401, r.text
    assert "need credentials" in r.text
    assert wheel.data[:64] not in r.content
    line = log_lines_for(front, path)[-1]
    assert " 401 " in line and line.endswith("accel=-"), line
    # and pip without credentials gets nothing
    res, _ = clients.pip_install(front.index_url(uploaded), "demo-pkg==1.0.0", check=False)
    assert res.returncode != 0, res


def test_the_internal_location_is_not_reachable_from_outside(front, uploaded, dists):
    sha = dists.demo.wheel.sha256
    for path in (
        f"{PREFIX}/{sha[:2]}/{sha[2:4]}/{sha}",
        f"/%2Bairlock-internal/{sha[:2]}/{sha[2:4]}/{sha}",
        f"{PREFIX}/",
    ):
        r = requests.get(front.url + path, auth=ALICE, timeout=30)
        assert r.status_code == 404, f"{path}: {r.status_code}"
        assert dists.demo.wheel.data[:64] not in r.content
    # a client cannot make nginx follow an X-Accel-Redirect of its own
    r = requests.get(
        front.url + "/acme/private/+simple/", auth=ALICE, headers={"X-Accel-Redirect": f"{PREFIX}/{sha[:2]}/{sha[2:4]}/{sha}"},
        timeout=30,
    )
    assert r.status_code == 200 and dists.demo.wheel.data[:64] not in r.content


def test_simple_pages_through_nginx_are_compressed(front, uploaded):
    r = requests.get(
        front.index_url(uploaded) + "demo-pkg/", auth=ALICE,
        headers={"Accept-Encoding": "gzip", "Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.headers.get("content-encoding") in ("gzip", "br"), r.headers
    assert [f["filename"] for f in r.json()["files"]]
    # links point at the outside URL
    assert all(f["url"].startswith(front.url) or f["url"].startswith("../") for f in r.json()["files"]), r.json()


def test_devpi_through_nginx(front, dists, tmp_path):
    clientdir = tmp_path / "devpi-client"

    def devpi(*args):
        return run([venv_tool("devpi"), "--clientdir", clientdir, *args])

    dist_dir = tmp_path / "dists"
    dist_dir.mkdir()
    for d in (dists.demo.wheel, dists.demo.sdist):
        shutil.copy(d.path, dist_dir)
    index = unique("viansginx")
    devpi("use", front.url)
    devpi("login", "root", "--password", ROOT_PASSWORD)
    devpi("index", "-c", index, "volatile=True")
    devpi("use", f"root/{index}")
    res = devpi("upload", "--from-dir", dist_dir)
    for d in (dists.demo.wheel, dists.demo.sdist):
        assert d.name in res.output, res
    res = devpi("list", "demo-pkg")
    assert f"{front.url}/root/{index}/+f/{dists.demo.wheel.sha256[:3]}/" in res.output, res
    # devpi's own download of the file goes through nginx's internal location too
    path = file_path(f"root/{index}", dists.demo.wheel)
    r = requests.get(front.url + path, timeout=30)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == dists.demo.wheel.sha256
    assert log_lines_for(front, path)[-1].endswith(
        f"accel={PREFIX}/{dists.demo.wheel.sha256[:2]}/{dists.demo.wheel.sha256[2:4]}/{dists.demo.wheel.sha256}"
    )


def test_the_other_generated_shapes_pass_nginx_t(airlock_bin, tmp_path):
    """nginx terminating TLS (a certificate from `airlock certs init`), and
    the TLS pass-through for airlock verifying client certificates."""
    pki = tmp_path / "pki"
    run([str(airlock_bin), "certs", "init", str(pki), "--server-name", "pkg.acme.internal", "--client", "alice"])
    at_nginx = tmp_path / "tls"
    at_nginx.mkdir()
    site = at_nginx / "site.conf"
    site.write_text(
        gen_config(
            airlock_bin, "nginx", "--outside-url", "https://pkg.acme.internal", "--data", str(tmp_path / "data"),
            "--nginx-tls-cert", str(pki / "server.pem"), "--nginx-tls-key", str(pki / "server.key"),
            "--accel-redirect", PREFIX,
        )
    )
    text = site.read_text()
    assert "listen 443 ssl;" in text and "return 301 https://" in text
    checked = nginx_test(nginx_conf(at_nginx, site), at_nginx)
    assert checked.returncode == 0, f"{checked.stderr}\n{text}"

    passthrough = tmp_path / "stream"
    passthrough.mkdir()
    site = passthrough / "site.conf"
    site.write_text(
        gen_config(
            airlock_bin, "nginx", "--outside-url", "https://pkg.acme.internal", "--data", str(tmp_path / "data"),
            "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
            "--client-ca", str(pki / "ca.pem"), "--client-auth", "required",
        )
    )
    text = site.read_text()
    assert re.search(r"^stream \{", text, re.M) and "ssl_preread on;" in text
    checked = nginx_test(nginx_conf(passthrough, site, stream=True), passthrough)
    assert checked.returncode == 0, f"{checked.stderr}\n{text}"
    # and nginx -t does fail on a broken site (the check can fail)
    site.write_text(text.replace("proxy_pass airlock_tls;", "proxy_pass airlock_tls"))
    assert nginx_test(nginx_conf(passthrough, site, stream=True), passthrough).returncode != 0


def test_nginx_terminating_tls_in_front_of_airlock(airlock_bin, dists, clients, tmp_path, tmp_path_factory):
    """The usual deployment: nginx ends TLS (certificate from `airlock certs
    init`), airlock speaks plain HTTP on loopback; twine and pip over HTTPS."""
    pki = tmp_path / "pki"
    run([str(airlock_bin), "certs", "init", str(pki), "--server-name", "localhost", "--client", "alice"])
    ca = str(pki / "ca.pem")
    # requests lets these override --cert (README's gotcha)
    no_env_ca = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}
    with running_front(airlock_bin, tmp_path_factory.mktemp("airlock-tls-logs"), pki) as front:
        assert front.url.startswith("https://localhost:")
        run(
            [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", f"{front.url}/acme/private/", "-u", ALICE[0], "-p", ALICE[1], "--cert", ca,
             str(dists.demo.wheel.path)],
            env_extra=no_env_ca,
        )
        target = clients.fresh_dir("tls-target")
        clients.pip("install", "--index-url", front.index_url("acme/private", ALICE), "--cert", ca,
                    "--target", target, "--no-compile", "demo-pkg==1.0.0", env_extra=no_env_ca)
        assert clients.import_from(target, "demo_pkg") == "1.0.0"
        wheel = dists.demo.wheel
        path = file_path("acme/private", wheel)
        r = requests.get(front.url + path, auth=ALICE, verify=ca, timeout=30)
        assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == wheel.sha256
        assert log_lines_for(front, path)[-1].endswith(f"accel={PREFIX}/{wheel.sha256[:2]}/{wheel.sha256[2:4]}/{wheel.sha256}")
        # airlock's links name the outside (https) URL
        r = requests.get(f"{front.url}/acme/private/demo-pkg", auth=ALICE, verify=ca,
                         headers={"Accept": "application/json"}, timeout=30)
        hrefs = [link["href"] for v in r.json()["result"].values() for link in v.get("+links", [])]
        assert hrefs and all(h.startswith(f"{front.url}/acme/private/+f/") for h in hrefs), hrefs


def test_tls_pass_through_when_airlock_verifies_client_certificates(airlock_bin, dists, clients, tmp_path,
                                                                   tmp_path_factory):
    """airlock ends TLS itself and checks client certificates; nginx's
    generated stream {} block passes the connection through, so the
    certificate reaches airlock: installs that need one work with it and
    are refused without it, through nginx."""
    pki = tmp_path / "pki"
    run([str(airlock_bin), "certs", "init", str(pki), "--server-name", "localhost", "--client", "alice"])
    ca, bundle = str(pki / "ca.pem"), str(pki / "alice-bundle.pem")
    no_env_ca = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}
    home = Path(tempfile.mkdtemp(prefix="airlock-nginx-stream-", dir="/tmp"))
    policies = home / "policies"
    policies.mkdir()
    (policies / "acme.toml").write_text(
        """
[index."acme/certs"]
type = "stage"
volatile = true
upload_users = ["alice"]
auth = { upload = ["client_cert"], install = ["client_cert"] }
"""
    )
    port = free_port()
    outside = f"https://localhost:{port}"
    tls = ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
           "--client-ca", ca, "--client-auth", "optional", "--cert-identity", "san-uri"]
    airlock = Server(airlock_bin, home / "data", tmp_path_factory.mktemp("airlock-stream-logs"),
                     [*tls, "--outside-url", outside, "--policies", str(policies)])
    proc = None
    try:
        airlock.start()
        assert airlock.url.startswith("https://")
        r = requests.put(f"{airlock.url.replace('127.0.0.1', 'localhost')}/alice", json={"password": "apw"},
                         auth=("root", ROOT_PASSWORD), verify=ca, timeout=30)
        assert r.status_code == 201, r.text
        site = home / "stream.conf"
        site.write_text(gen_config(
            airlock_bin, "nginx", "--outside-url", outside, "--nginx-listen", f"127.0.0.1:{port}",
            "--listen", airlock.url.removeprefix("https://"), "--data", str(airlock.data), *tls,
        ))
        assert "stream {" in site.read_text()
        conf = nginx_conf(home, site, stream=True)
        checked = nginx_test(conf, home)
        assert checked.returncode == 0, checked.stderr
        proc = start_nginx(home, conf, port)

        run([sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", f"{outside}/acme/certs/", "-u", "alice", "-p", "apw", "--cert", ca,
             "--client-cert", bundle, str(dists.demo.wheel.path)], env_extra=no_env_ca)
        index = f"{outside}/acme/certs/+simple/"
        res = clients.pip("install", "--index-url", index, "--cert", ca, "--target", clients.fresh_dir("t"),
                          "demo-pkg==1.0.0", check=False, env_extra=no_env_ca)
        assert res.returncode != 0, res.output
        target = clients.fresh_dir("pip")
        clients.pip("install", "--index-url", index, "--cert", ca, "--client-cert", bundle, "--target", target,
                    "--no-compile", "demo-pkg==1.0.0", env_extra=no_env_ca)
        assert clients.import_from(target, "demo_pkg") == "1.0.0"
        # the upload was made with alice's certificate, as airlock saw it
        log = requests.get(f"{outside}/+audit", auth=("root", ROOT_PASSWORD), verify=ca, timeout=30).json()["result"]
        uploads = [e for e in log if e["action"] == "upload" and e["target"].startswith("acme/certs")]
        assert uploads and uploads[-1]["actor"] == "alice" and uploads[-1]["cert_fingerprint"], uploads
    finally:
        stop_nginx(proc)
        airlock.stop()
        shutil.rmtree(home, ignore_errors=True)

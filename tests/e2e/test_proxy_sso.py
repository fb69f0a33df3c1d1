"""Single sign-on through a real nginx (Debian's): nginx does HTTP basic auth
against an htpasswd file, passes the user and their groups to airlock's unix
socket (`--trusted-proxy --proxy-socket`), and airlock believes them there
only. twine uploads and pip installs through nginx as an htpasswd user whose
group the index ACL allows; a user outside the group is refused; a client
cannot smuggle its own identity headers past nginx; the same headers sent
straight to airlock's TCP port are refused.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT_PASSWORD, run, shows_status

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 100m;

    # who is in which group (in real life: LDAP, an SSO module, ...)
    map $remote_user $airlock_groups {{
        default  "";
        alice    "uploaders,staff";
        bob      "staff";
    }}

    upstream airlock {{
        server unix:{sock};
    }}

    server {{
        listen 127.0.0.1:{port};
        auth_basic "airlock";
        auth_basic_user_file {htpasswd};

        location / {{
            proxy_pass http://airlock;
            proxy_set_header Host $http_host;
            # set by nginx, never passed on from the client
            proxy_set_header X-Remote-User $remote_user;
            proxy_set_header X-Remote-Groups $airlock_groups;
            proxy_set_header X-Real-IP $remote_addr;
            # the password was nginx's to check, not airlock's
            proxy_set_header Authorization "";
        }}
    }}
}}
"""


def tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing (tests/run.sh installs it with apt-get)")
        pytest.skip(f"{name} is not installed (apt-get install nginx apache2-utils)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def whoami(r: requests.Response) -> list:
    assert r.status_code == 200, f"{r.status_code}: {r.text}"
    return r.json()["result"]["authstatus"]


@pytest.fixture
def nginx_front(make_server, tmp_path):
    nginx, htpasswd = tool("nginx"), tool("htpasswd")
    sock = tmp_path / "airlock.sock"
    srv = make_server("--trusted-proxy", "--proxy-socket", str(sock), "--proxy-create-users")
    front = tmp_path / "nginx"
    front.mkdir()
    users = front / "htpasswd"
    run([htpasswd, "-b", "-c", "-B", str(users), "alice", "alice-pw"])
    run([htpasswd, "-b", "-B", str(users), "bob", "bob-pw"])
    port = free_port()
    conf = front / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=front, sock=sock, port=port, htpasswd=users))
    proc = subprocess.Popen(
        [nginx, "-p", str(front), "-c", str(conf), "-e", str(front / "error.log")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
                    err = (front / "error.log").read_text() if (front / "error.log").exists() else ""
                    pytest.fail(f"nginx did not start: {out}\n{err}")
                time.sleep(0.05)
        yield srv, f"http://127.0.0.1:{port}", front
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_sso_through_nginx(nginx_front, clients, dists):
    srv, front, nginx_dir = nginx_front
    # root makes an index whose uploaders are a group
    srv.create_index(("root", ROOT_PASSWORD), "sso", bases="", acl_upload=[":group:uploaders"])

    # nginx asks for a password; a wrong one never reaches airlock
    assert requests.get(f"{front}/+api", timeout=30).status_code == 401
    assert requests.get(f"{front}/+api", auth=("alice", "wrong"), timeout=30).status_code == 401
    # alice through nginx is alice (created on first sight); what she sends
    # as identity headers herself is replaced by nginx
    r = requests.get(f"{front}/+api", auth=("alice", "alice-pw"),
                     headers={"X-Remote-User": "root", "X-Remote-Groups": "admins"}, timeout=30)
    assert whoami(r)[:2] == ["ok", "alice"]
    r = requests.get(f"{front}/+api", auth=("bob", "bob-pw"), headers={"X-Remote-User": "root"}, timeout=30)
    assert whoami(r)[:2] == ["ok", "bob"]

    # twine through nginx: alice (group uploaders) may upload ...
    clients.twine_upload(f"{front}/root/sso/", [dists.demo.wheel.path, dists.demo.sdist.path],
                         "alice", "alice-pw")
    # ... bob (staff only) may not: airlock's 403 reaches twine
    res = clients.twine_upload(f"{front}/root/sso/", [dists.demo_alt.wheel.path], "bob", "bob-pw", check=False)
    assert shows_status(res.output, 403) and "acl_upload" in res.output, res

    # pip installs through nginx with alice's password
    index = front.replace("http://", "http://alice:alice-pw@") + "/root/sso/+simple/"
    res, target = clients.pip_install(index, "demo-pkg==1.0.0")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    # what got stored is alice's file, not bob's
    files = srv.project_json("root/sso", "demo-pkg")["1.0.0"]["+links"]
    assert {f["href"].rsplit("#", 1)[0].rsplit("/", 1)[1] for f in files} == {
        dists.demo.wheel.name, dists.demo.sdist.name}

    # the same headers straight to airlock's TCP port: refused, nothing stored
    for headers in ({"X-Remote-User": "alice", "X-Remote-Groups": "uploaders"}, {"X-Remote-User": "root"}):
        r = requests.get(f"{srv.url}/+api", headers=headers, timeout=30)
        assert r.status_code == 403, r.text
        assert "trusted front proxy" in r.text
        r = requests.post(f"{srv.url}/root/sso/", headers=headers, timeout=30,
                          data={":action": "file_upload"},
                          files={"content": (dists.demo_alt.sdist.name, dists.demo_alt.sdist.data)})
        assert r.status_code == 403, r.text
    assert srv.project_json("root/sso", "demo-pkg")["1.0.0"]["+links"] == files

    # the audit log says the identities came through the proxy
    entries = srv.api("GET", "+audit", as_user=("root", ROOT_PASSWORD), expect=200).json()["result"]
    uploads = [e for e in entries if e["action"] == "upload" and e["actor"] == "alice"]
    assert uploads and all(e["remote"] == "127.0.0.1 via proxy" for e in uploads), uploads
    created = [e for e in entries if e["action"] == "user_create"]
    assert {e["target"] for e in created} >= {"alice", "bob"}, created
    assert all(e["remote"] == "127.0.0.1 via proxy" for e in created if e["target"] in ("alice", "bob"))
    # nginx really sat in between
    assert "root/sso" in (nginx_dir / "access.log").read_text()

"""Three airlock nodes on one PostgreSQL database and one S3 bucket, with
Debian's nginx round-robin in front (issue 20): what a user does with the
real clients through the load balancer — twine uploads, pip and uv install
what was just uploaded whichever node answers, the devpi client logs in on
one node and works on the others — and a node killed with SIGKILL in the
middle of an upload leaves nothing the others can see.

Real engines only, all on loopback and started here: PostgreSQL from
Debian (`initdb`/`pg_ctl`, a private cluster, as `nobody` when run as
root), the S3 protocol server `s3s-fs` (the `s3_server` example cargo
builds with the tests, signatures checked), nginx in the foreground.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT_PASSWORD, Server, run, unique, venv_tool
from engines import S3, Missing, PgCluster, pg_bin
from test_nginx import free_port, nginx_test, start_nginx, stop_nginx

ALICE = ("alice", "alice-pw")

try:
    pg_bin()
except Missing as e:
    if os.environ.get("CI"):
        raise
    pytest.skip(str(e), allow_module_level=True)


class Cluster:
    def __init__(self, nodes: list[Server], url: str, pg: PgCluster, s3: S3):
        self.nodes, self.url, self.pg, self.s3 = nodes, url, pg, s3

    def index_url(self, index: str) -> str:
        return f"{self.url}/{index}/+simple/"


def nginx_round_robin(home: Path, port: int, nodes: list[Server]) -> Path:
    upstreams = "\n".join(f"        server {n.url.removeprefix('http://')};" for n in nodes)
    conf = home / "nginx.conf"
    temp = "\n".join(f"    {k}_temp_path {home / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf.write_text(f"""daemon off;
worker_processes 1;
user nobody root;
pid {home / "nginx.pid"};
error_log {home / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {home / "access.log"};
{temp}
    upstream airlock {{
{upstreams}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://airlock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_request_buffering off;
            proxy_buffering off;
        }}
    }}
}}
""")
    return conf


@pytest.fixture(scope="module")
def cluster(airlock_bin, tmp_path_factory):
    pg = PgCluster()
    s3 = S3(airlock_bin.parent / "examples" / "s3_server")
    home = Path(tempfile.mkdtemp(prefix="airlock-cluster-", dir="/tmp"))
    os.chmod(home, 0o710)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("cluster-logs")
    nodes = [
        Server(airlock_bin, home / f"node{i}", logs / f"node{i}",
               ["--database", pg.url, "--blobs", s3.blobs("prod"), "--outside-url", url],
               env={"AIRLOCK_DATABASE_PASSWORD": pg.password, **s3.env()})
        for i in range(3)
    ]
    proc = None
    try:
        for n in nodes:
            n.start()
        conf = nginx_round_robin(home, port, nodes)
        checked = nginx_test(conf, home)
        assert checked.returncode == 0, checked.stderr
        proc = start_nginx(home, conf, port)
        nodes[0].create_user(*ALICE)
        nodes[1].create_index(ALICE, "dev", bases=[], volatile=False)
        yield Cluster(nodes, url, pg, s3)
    finally:
        stop_nginx(proc)
        errors = []
        for n in nodes:
            try:
                n.stop()
            except AssertionError as e:
                errors.append(str(e))
        s3.stop()
        pg.remove()
        shutil.rmtree(home, ignore_errors=True)
        assert not errors, errors


def test_twine_then_pip_and_uv_through_the_load_balancer(cluster, clients, dists):
    files = [dists.demo.wheel.path, dists.demo.sdist.path]
    clients.twine_upload(f"{cluster.url}/alice/dev/", files, *ALICE)
    # right after the upload, whichever node answers: six installs, so every
    # node of the round robin serves some of them
    for _ in range(3):
        res, target = clients.pip_install(cluster.index_url("alice/dev"), "demo-pkg==1.0.0")
        assert clients.import_from(target, "demo_pkg") == "1.0.0"
        res, target = clients.uv_install(cluster.index_url("alice/dev"), "demo-pkg==1.0.0")
        assert clients.import_from(target, "demo_pkg") == "1.0.0"
    # nginx spread them: every node answered part of the installs (a page,
    # a core metadata file or the wheel)
    for i, n in enumerate(cluster.nodes):
        served = re.findall(r"uri=/alice/dev/(?:\+simple/demo-pkg/|\+f/\S+demo_pkg-1\.0\.0)", n.log())
        assert served, f"node {i} served no part of the installs"
    # every node serves the same page with the upload's sha256s
    want = {dists.demo.wheel.name: dists.demo.wheel.sha256, dists.demo.sdist.name: dists.demo.sdist.sha256}
    for n in cluster.nodes:
        r = requests.get(n.index_url("alice/dev") + "demo-pkg/",
                         headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30)
        assert r.status_code == 200, r.text
        got = {f["filename"]: f["hashes"]["sha256"] for f in r.json()["files"]}
        assert got == want, n.url
        # and the bytes each node streams out of the shared bucket are the upload's
        for f in r.json()["files"]:
            body = requests.get(requests.compat.urljoin(n.index_url("alice/dev") + "demo-pkg/", f["url"]),
                                timeout=30).content
            assert hashlib.sha256(body).hexdigest() == want[f["filename"]]


def test_the_same_file_again_through_another_node_is_a_conflict(cluster, clients, dists):
    index = cluster.nodes[2].create_index(ALICE, unique("once"), bases=[], volatile=False)
    up = clients.twine_upload(f"{cluster.nodes[0].url}/{index}/", [dists.demo.wheel.path], *ALICE)
    assert up.returncode == 0
    other = clients.twine_upload(f"{cluster.nodes[1].url}/{index}/", [dists.demo_alt.wheel.path], *ALICE,
                                 check=False)
    assert other.returncode != 0
    assert "409" in other.output, other.output


def test_devpi_client_logs_in_on_one_node_and_works_through_all(cluster, clients, dists, tmp_path):
    home = tmp_path / "devpi-client"

    def devpi(*args):
        return run([venv_tool("devpi"), "--clientdir", str(home), *args])

    devpi("use", cluster.url)
    devpi("login", ALICE[0], "--password", ALICE[1])
    index = unique("viadevpi")
    devpi("index", "-c", index, "bases=", "volatile=False")
    devpi("use", f"alice/{index}")
    dist_dir = tmp_path / "one-wheel"
    dist_dir.mkdir()
    shutil.copy(dists.demo.wheel.path, dist_dir)
    devpi("upload", "--from-dir", str(dist_dir))
    # several requests, so nginx sends them to every node
    for _ in range(3):
        listed = devpi("list", "demo-pkg").output
        assert dists.demo.wheel.name in listed, listed


def test_a_node_killed_mid_upload_leaves_nothing_behind(cluster, clients, dists):
    victim = cluster.nodes[2]
    index = cluster.nodes[0].create_index(ALICE, unique("kill"), bases=[], volatile=False)
    big = dists.big_wheel.path.read_bytes()
    boundary = "airlockboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; "
            f"filename=\"{dists.big_wheel.path.name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    token = victim.token(*ALICE)
    auth = base64.b64encode(f"{ALICE[0]}:{token}".encode()).decode()
    host, port = victim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        total = len(head) + len(big) + len(f"\r\n--{boundary}--\r\n")
        sock.sendall(
            (f"POST /{index}/ HTTP/1.1\r\nHost: {host}:{port}\r\nX-Devpi-Auth: {auth}\r\n"
             f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\n\r\n").encode()
            + head + big[: len(big) // 2]
        )
        time.sleep(0.5)
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(timeout=10)
    victim.proc = None
    name = dists.big_wheel.path.name.split("-")[0]
    for n in cluster.nodes[:2]:
        r = requests.get(n.index_url(index) + f"{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                         timeout=30)
        assert r.status_code in (200, 404), r.text
        if r.status_code == 200:
            assert r.json()["files"] == [], r.text
    # the bucket holds only what rows reference: nothing of the half upload
    objects = [p for p in cluster.s3.home.rglob("*") if p.is_file() and not p.name.startswith(".")]
    digests = {p.name for p in objects}
    assert hashlib.sha256(big).hexdigest() not in digests
    # the node comes back on the same database and the upload then works
    victim.start()
    up = clients.twine_upload(f"{victim.url}/{index}/", [dists.big_wheel.path], *ALICE)
    assert up.returncode == 0
    for n in cluster.nodes:
        r = n.api("GET", "+audit/verify", as_user=("root", ROOT_PASSWORD), expect=200)
        assert r.json()["ok"] is True, r.text


def test_redirected_downloads_install_and_altered_objects_are_refused_by_the_clients(
        cluster, clients, dists, airlock_bin, tmp_path):
    """`--blobs-redirect`: a node answers downloads with presigned bucket
    URLs; pip and uv follow them and install, and when the object in the
    bucket is altered they refuse it by the page's sha256 (airlock does not
    see those bytes)."""
    node = Server(airlock_bin, tmp_path / "redirecting", tmp_path / "redirecting-logs",
                  ["--database", cluster.pg.url, "--blobs", cluster.s3.blobs("prod"), "--blobs-redirect", "60"],
                  env={"AIRLOCK_DATABASE_PASSWORD": cluster.pg.password, **cluster.s3.env()})
    node.start()
    try:
        index = node.create_index(ALICE, unique("redirect"), bases=[], volatile=False)
        clients.twine_upload(node.upload_url(index), [dists.demo.wheel.path], *ALICE)
        r = requests.get(node.index_url(index) + "demo-pkg/", headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                         timeout=30)
        href = requests.compat.urljoin(node.index_url(index) + "demo-pkg/", r.json()["files"][0]["url"])
        first = requests.get(href, allow_redirects=False, timeout=30)
        assert first.status_code == 302, first.text
        assert first.headers["location"].startswith(cluster.s3.endpoint)
        _, target = clients.pip_install(node.index_url(index), "demo-pkg==1.0.0")
        assert clients.import_from(target, "demo_pkg") == "1.0.0"
        _, target = clients.uv_install(node.index_url(index), "demo-pkg==1.0.0")
        assert clients.import_from(target, "demo_pkg") == "1.0.0"
        # the object altered in the bucket: the clients refuse it
        sha = dists.demo.wheel.sha256
        obj = cluster.s3.home / "airlock-files" / "prod" / sha[:2] / sha[2:4] / sha
        original = obj.read_bytes()
        try:
            obj.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
            res, _ = clients.pip_install(node.index_url(index), "demo-pkg==1.0.0", check=False)
            assert res.returncode != 0
            assert "hash" in res.output.lower(), res.output
            # uv reads the archive as it streams: the altered bytes break it
            # (or its hash) before anything is installed
            res, target = clients.uv_install(node.index_url(index), "demo-pkg==1.0.0", check=False)
            assert res.returncode != 0, res.output
            assert not (target / "demo_pkg").exists(), "nothing installed"
        finally:
            obj.write_bytes(original)
    finally:
        node.stop()

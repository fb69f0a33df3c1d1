"""`airlock import --from-devpi`: a real devpi-server 6.20.3 filled with the
real devpi client (users, indexes with bases and ACLs, a wheel, an sdist,
docs, a tox result from `devpi test`, a push), exported with the real
`devpi-export`, imported into a new airlock data folder; then pip, uv and
the devpi client must find the same things on airlock. Hostile exports
(paths out of the folder, wrong hashes, bad JSON) are refused cleanly.

The devpi-server venv comes from tests/run.sh (AIRLOCK_DEVPI_SERVER_VENV,
cached under target/)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO, run, scrubbed_env, shows_status, unique, venv_tool
from test_devpi_client import devpi_env, make_doc_zip, make_tested_sdist

DEVPI_ROOT_PW = "devpi-root-pw"
ALICE_PW = "alice-devpi-pw"
BOB_PW = "bob-devpi-pw"


@pytest.fixture(scope="module")
def devpi_server_venv() -> Path:
    venv = Path(os.environ.get("AIRLOCK_DEVPI_SERVER_VENV", REPO / "target" / "devpi-server-6.20.3"))
    if not (venv / "bin" / "devpi-export").exists():
        pytest.fail(f"no devpi-server venv at {venv}: tests/run.sh creates it (ensure_devpi_server)")
    out = subprocess.run([venv / "bin" / "devpi-server", "--version"], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "6.20.3", out
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevpiServer:
    """A real devpi-server on 127.0.0.1, offline, in its own serverdir."""

    def __init__(self, venv: Path, home: Path):
        self.venv = venv
        self.serverdir = home / "server"
        self.log = home / "devpi-server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def init(self):
        run([self.venv / "bin" / "devpi-init", "--serverdir", self.serverdir, "--no-root-pypi",
             "--root-passwd", DEVPI_ROOT_PW])

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.venv / "bin" / "devpi-server", "--serverdir", self.serverdir, "--host", "127.0.0.1",
                 "--port", str(self.port), "--offline-mode"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=scrubbed_env(),
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/+api", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            assert self.proc.poll() is None, f"devpi-server exited:\n{self.log.read_text()}"
            time.sleep(0.3)
        raise AssertionError(f"devpi-server did not answer:\n{self.log.read_text()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None

    def export(self, out: Path):
        run([self.venv / "bin" / "devpi-export", "--serverdir", self.serverdir, out])


class Devpi:
    """The devpi client with its own client dir (and tox on PATH)."""

    def __init__(self, clientdir: Path):
        self.clientdir = clientdir
        self.env = devpi_env(None)

    def __call__(self, *args, check=True):
        return run([venv_tool("devpi"), "--clientdir", self.clientdir, *args], check=check, env_extra=self.env)


def airlock_import(airlock_bin, export: Path, data: Path, *, check=True):
    return run([airlock_bin, "import", "--from-devpi", export, "--data", data, "--policies", REPO / "policies"],
               check=check)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def normalized(output: str, url: str) -> list[str]:
    """devpi client output without the server's address (and the lines that
    only say which server or venv is in use)."""
    return sorted(line.replace(url, "SERVER").strip() for line in output.splitlines() if line.strip())


@pytest.fixture(scope="module")
def devpi_export(devpi_server_venv, dists, tmp_path_factory):
    """A devpi-server filled with the real client, then exported. Returns
    (export dir, facts recorded on devpi for comparison)."""
    home = tmp_path_factory.mktemp("devpi")
    srv = DevpiServer(devpi_server_venv, home)
    srv.init()
    srv.start()
    facts = {}
    try:
        devpi = Devpi(home / "client")
        devpi("use", srv.url)
        devpi("login", "root", "--password", DEVPI_ROOT_PW)
        devpi("user", "-c", "alice", f"password={ALICE_PW}", "email=alice@example.org")
        devpi("user", "-c", "bob", f"password={BOB_PW}")
        # a PyPI mirror that is never asked (offline, closed port)
        devpi("index", "-c", "root/pypi", "type=mirror", "mirror_url=http://127.0.0.1:9/simple/")
        # root/prod is production under airlock's default policies: its
        # root/pypi base cannot be carried over
        devpi("index", "-c", "root/prod", "bases=root/pypi", "volatile=False")
        devpi("login", "alice", "--password", ALICE_PW)
        devpi("index", "-c", "alice/base", "volatile=False")
        devpi("index", "-c", "alice/scratch")  # devpi's default: volatile
        devpi("index", "-c", "alice/mirror", "type=mirror", "mirror_url=http://127.0.0.1:9/other/simple/")
        devpi("index", "-c", "alice/dev", "bases=alice/base,root/pypi", "volatile=False",
              "acl_upload=alice,bob", "acl_toxresult_upload=alice", "mirror_whitelist=demo-pkg",
              "title=Alice dev")
        devpi("use", "alice/dev")
        devpi("upload", dists.demo.wheel.path, dists.demo.sdist.path)
        docs = make_doc_zip(home / "demo-pkg-1.0.0.doc.zip",
                            {"index.html": b"<html><body>demo docs from devpi</body></html>"})
        devpi("upload", "--only-docs", docs)
        tested = make_tested_sdist(home, "tinytest", "1.0")
        devpi("upload", tested)
        res = devpi("test", "tinytest")
        assert "posting tox result data" in res.output, res
        # the push history: root pushes demo-pkg into root/prod
        devpi("login", "root", "--password", DEVPI_ROOT_PW)
        devpi("push", "demo-pkg==1.0.0", "root/prod")
        devpi("use", "alice/dev")
        facts["list_demo"] = normalized(devpi("list", "demo-pkg").output, srv.url)
        facts["list_tiny"] = normalized(devpi("list", "-t", "tinytest").output, srv.url)
        facts["dev_config"] = json.loads(devpi("getjson", "/alice/dev").output)["result"]
        facts["tiny_sdist_sha"] = sha256(tested)
        facts["docs"] = docs
    finally:
        srv.stop()
    export = home / "export"
    srv.export(export)
    assert (export / "dataindex.json").is_file()
    return export, facts


def test_devpi_export_imports_and_serves_the_same(airlock_bin, make_server, devpi_export, dists, clients, tmp_path):
    export, facts = devpi_export
    data = tmp_path / "imported"
    res = airlock_import(airlock_bin, export, data)
    out = res.output
    assert "imported from devpi-server 6.20.3" in out, res
    assert "users: 3 (3 with their devpi password" in out, res
    assert "release files: 5 (sha256 checked)" in out, res  # 2 + 1 on alice/dev, 2 pushed to root/prod
    assert "doc zips: 2" in out and "tox results: 1" in out, res
    # what was not carried over, and why
    assert "index root/pypi: devpi's own PyPI mirror (http://127.0.0.1:9/simple/)" in out, res
    assert "index root/prod: base root/pypi dropped: the index is production" in out, res
    assert (data / "airlock.sqlite3").is_file()
    assert not list(tmp_path.glob(".imported.devpi-import-*")), "the staging folder is left behind"
    assert "is sound" in run([airlock_bin, "fsck", "--data", data]).output

    server = make_server("--policies", str(REPO / "policies"), data=data)

    # the indexes: bases, ACLs, volatile, whitelist, title
    cfg = server.api("GET", "alice/dev", expect=200).json()["result"]
    want = facts["dev_config"]
    for key in ("type", "bases", "volatile", "acl_upload", "acl_toxresult_upload", "mirror_whitelist",
                "mirror_whitelist_inheritance", "title"):
        assert cfg[key] == want[key], (key, cfg, want)
    assert cfg["bases"] == ["alice/base", "root/pypi"] and cfg["volatile"] is False, cfg
    assert server.api("GET", "root/prod", expect=200).json()["result"]["bases"] == []
    assert "index root/prod: managed by the policy at" in out, res
    assert server.api("GET", "alice/scratch", expect=200).json()["result"]["volatile"] is True
    mirror = server.api("GET", "alice/mirror", expect=200).json()["result"]
    assert mirror["type"] == "mirror" and mirror["mirror_url"] == "http://127.0.0.1:9/other/simple/", mirror
    assert "indexes: 5" in out, res  # root/prod, alice/base, dev, scratch, mirror (root/pypi is airlock's own)
    assert server.api("GET", "root/pypi", expect=200).json()["result"]["type"] == "mirror"

    # pip and uv get the very same bytes
    dl = clients.fresh_dir("pip-download")
    clients.pip("download", "--no-deps", "--only-binary", ":all:", "--index-url", server.index_url("alice/dev"),
                "--dest", dl, "demo-pkg==1.0.0")
    assert sha256(dl / dists.demo.wheel.name) == dists.demo.wheel.sha256
    page = requests.get(server.index_url("alice/dev") + "demo-pkg/", timeout=30,
                        headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    listed = {f["filename"]: f for f in page["files"]}
    for dist in (dists.demo.wheel, dists.demo.sdist):
        assert listed[dist.name]["hashes"]["sha256"] == dist.sha256, listed
        body = requests.get(requests.compat.urljoin(server.index_url("alice/dev") + "demo-pkg/",
                                                    listed[dist.name]["url"]), timeout=30).content
        assert hashlib.sha256(body).hexdigest() == dist.sha256, dist.name
    _, target = clients.pip_install(server.index_url("alice/dev"), "demo-pkg==1.0.0", extra=["--no-deps"])
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    _, target = clients.uv_install(server.index_url("root/prod"), "demo-pkg==1.0.0")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"

    # the devpi client sees the same listings, tox results included
    devpi = Devpi(tmp_path / "client")
    devpi("use", f"{server.url}/alice/dev")
    assert normalized(devpi("list", "demo-pkg").output, server.url) == facts["list_demo"]
    tiny = normalized(devpi("list", "-t", "tinytest").output, server.url)
    assert tiny == facts["list_tiny"], (tiny, facts["list_tiny"])
    assert any("py" in line and "tests passed" in line for line in tiny), tiny

    # docs served from the imported zip
    r = requests.get(f"{server.url}/alice/dev/demo-pkg/1.0.0/+doc/index.html", timeout=30)
    assert r.status_code == 200 and "demo docs from devpi" in r.text, r.text

    # the history devpi recorded: the upload, then the push into root/prod
    links = server.project_json("root/prod", "demo-pkg")["1.0.0"]["+links"]
    wheel = next(link for link in links if link["href"].endswith(dists.demo.wheel.name))
    whats = [(e["what"], e.get("who"), e.get("dst")) for e in wheel["log"]]
    assert whats == [("upload", "alice", "alice/dev"), ("push", "root", "root/prod")], wheel["log"]
    assert all(isinstance(e["when"], list) and e["when"][0] >= 2024 for e in wheel["log"]), wheel["log"]

    # and the web UI tells the same story
    page = requests.get(f"{server.url}/root/prod/demo-pkg/1.0.0", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200, page.text
    assert "imported from devpi-server 6.20.3" in page.text and "(unrecorded step)" not in page.text, page.text

    # users log in with their devpi passwords (re-hashed on the way), never with a wrong one
    res = devpi("login", "alice", "--password", "not-her-password", check=False)
    assert shows_status(res.output, 401), res
    devpi("login", "alice", "--password", ALICE_PW)
    devpi("login", "alice", "--password", ALICE_PW)  # again, now against airlock's own hash
    assert "re-hashed to pbkdf2-sha256 at login" in server.log()
    server.token("bob", BOB_PW)
    server.token("root", DEVPI_ROOT_PW)
    # bob is in acl_upload of alice/dev: he may upload there, as on devpi
    res = clients.twine_upload(server.upload_url("alice/dev"), [dists.app.sdist.path], "bob", BOB_PW)
    assert res.returncode == 0
    # a wrong password is refused, also for basic auth
    r = requests.post(f"{server.url}/alice/dev/", auth=("bob", "wrong"), timeout=30)
    assert r.status_code == 401


def _copy(export: Path, dest: Path) -> Path:
    shutil.copytree(export, dest)
    return dest


def _edit_index(export: Path, edit):
    path = export / "dataindex.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def test_hostile_exports_are_refused_cleanly(airlock_bin, devpi_export, tmp_path):
    export, _ = devpi_export
    outside = tmp_path / "secret.whl"
    outside.write_bytes(b"not for the index")

    # paths out of the export, an absolute path, a symlink, a wrong hash, huge numbers:
    # each file refused and named, the rest imported
    bad = _copy(export, tmp_path / "bad")
    wheel_rel = next(p for p in bad.rglob("alice/dev/demo-pkg/*/*.whl")).relative_to(bad)
    sdist = next(p for p in bad.rglob("alice/dev/demo-pkg/*/*.tar.gz"))
    sdist.write_bytes(sdist.read_bytes() + b"tampered")
    tiny = next(p for p in bad.rglob("alice/dev/tinytest/*/*.tar.gz"))
    tiny.unlink()
    tiny.symlink_to(outside)

    # a doc zip whose members climb out, with its hash made to match
    doc_zip = next(bad.glob("alice/dev/*.doc.zip"))
    make_doc_zip(doc_zip, {"index.html": b"ok", "../../../../escaped.html": b"evil"})
    doc_sha = sha256(doc_zip)

    def edit(doc):
        files = doc["indexes"]["alice/dev"]["files"]
        for f in files:
            if f["type"] == "doczip":
                f["entrymapping"]["hashes"]["sha256"] = doc_sha
                f["entrymapping"]["hash_spec"] = f"sha256={doc_sha}"
        template = next(f for f in files if f["relpath"] == str(wheel_rel))
        for relpath in ["alice/dev/../../../" + str(outside.relative_to("/")), str(outside),
                        "alice/dev/demo-pkg/1.0.0/../../../../secret.whl"]:
            f = json.loads(json.dumps(template))
            f["relpath"] = relpath
            files.append(f)
        template["log"][0]["when"] = [10**30, 1, 1, 0, 0, 0]
        doc["users"]["mallory"] = {"pwhash": "$argon2id$v=19$m=99999999,t=2,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"}

    _edit_index(bad, edit)
    data = tmp_path / "data-bad"
    res = airlock_import(airlock_bin, bad, data)
    out = res.output
    assert out.count("unsafe path") == 4, res  # 3 entries, 1 doc zip member
    assert "sha256 mismatch" in out and sdist.name in out, res
    assert "symbolic link" in out and tiny.name in out, res
    assert "user mallory: password not carried over" in out and "exceed the accepted bounds" in out, res
    assert "release files: 3 (sha256 checked)" in out, res  # the wheel on alice/dev, 2 on root/prod
    assert "tox results: 0" in out, res
    assert "doc zips: 1" in out and f"{doc_zip.name}: refused" in out, res
    assert not (tmp_path / "escaped.html").exists() and not list(tmp_path.rglob("escaped.html")), res
    assert "is sound" in run([airlock_bin, "fsck", "--data", data]).output
    # nothing from outside the export got in
    blobs = {p.name for p in (data / "blobs").rglob("*") if p.is_file()}
    assert hashlib.sha256(outside.read_bytes()).hexdigest() not in blobs

    # fatal: bad JSON, huge numbers where structure is expected, wrong dump
    # version, no dataindex at all, a non-empty target: non-zero exit, nothing written
    for label, mutate in [
        ("json", lambda d: (d / "dataindex.json").write_text('{"dumpversion": "2", "users": {')),
        ("dumpversion", lambda d: (d / "dataindex.json").write_text('{"dumpversion": 1e999999}')),
        ("users", lambda d: (d / "dataindex.json").write_text('{"dumpversion": "2", "users": 1e400, "indexes": {}}')),
        ("missing", lambda d: (d / "dataindex.json").unlink()),
    ]:
        broken = _copy(export, tmp_path / f"broken-{label}")
        mutate(broken)
        target = tmp_path / f"data-{label}"
        res = airlock_import(airlock_bin, broken, target, check=False)
        assert res.returncode != 0 and "nothing was written" in res.output, (label, res)
        assert "dataindex.json" in res.output, (label, res)
        assert "panicked" not in res.output, res
        assert not target.exists(), label
        assert not list(tmp_path.glob(f".data-{label}.devpi-import-*")), label

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    res = airlock_import(airlock_bin, export, occupied, check=False)
    assert res.returncode != 0 and "is not empty" in res.output, res
    assert sorted(p.name for p in occupied.iterdir()) == ["keep.txt"]

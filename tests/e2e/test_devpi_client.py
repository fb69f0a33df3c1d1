"""devpi-client against airlock: the devpi workflow (use, login, index
creation, upload, list) must work unchanged."""

from __future__ import annotations

import shutil

import pytest

from conftest import ROOT_PASSWORD, Clients, run, shows_status, venv_tool


class Devpi:
    def __init__(self, clientdir):
        self.clientdir = clientdir

    def __call__(self, *args, check=True):
        return run([venv_tool("devpi"), "--clientdir", self.clientdir, *args], check=check)


@pytest.fixture
def devpi(tmp_path) -> Devpi:
    return Devpi(tmp_path / "devpi-client")


def test_devpi_login_create_index_upload_list(server, dists, devpi, tmp_path):
    # Dists to upload, in a folder of their own.
    dist_dir = tmp_path / "dists"
    dist_dir.mkdir()
    for d in (dists.demo.wheel, dists.demo.sdist):
        shutil.copy(d.path, dist_dir)

    devpi("use", server.url)
    devpi("login", "root", "--password", ROOT_PASSWORD)
    res = devpi("index", "-c", "devpi-stage", "bases=root/prod", "volatile=True")
    assert "root/devpi-stage" in res.output, res
    res = devpi("use", "root/devpi-stage")
    assert "root/devpi-stage" in res.output, res

    res = devpi("upload", "--from-dir", dist_dir)
    for d in (dists.demo.wheel, dists.demo.sdist):
        assert d.name in res.output, res

    res = devpi("list", "demo-pkg")
    for d in (dists.demo.wheel, dists.demo.sdist):
        assert f"/root/devpi-stage/+f/{d.sha256[:3]}/{d.sha256[3:16]}/{d.name}" in res.output, res

    # And what devpi uploaded installs with pip.
    c = Clients(tmp_path / "clients")
    c.tmp.mkdir()
    _, target = c.pip_install(server.index_url("root/devpi-stage"), "demo-pkg")
    assert c.import_from(target, "demo_pkg") == "1.0.0"


def test_devpi_wrong_password_is_refused(server, devpi):
    devpi("use", server.url)
    res = devpi("login", "root", "--password", "not-the-password", check=False)
    assert shows_status(res.output, 401) and "invalid user name or password" in res.output, res


# --------------------------------------------------------------------------
# The whole devpi workflow, scripted: users, indexes, upload with docs,
# list, test (tox), remove, getjson; and the refusals a user must understand.
# --------------------------------------------------------------------------

import io
import json
import os
import tarfile
import textwrap
import zipfile
from pathlib import Path

import requests

from conftest import unique

# A PEP 517 backend inside the sdist, so tox/pip can build it with no
# index at all (build-system.requires is empty): tests stay offline.
BACKEND = textwrap.dedent(
    '''
    import base64, hashlib, os, zipfile

    NAME, VERSION = "{name}", "{version}"
    META = "Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n" % (NAME, VERSION)

    def get_requires_for_build_wheel(config_settings=None):
        return []

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        dist = "%s-%s" % (NAME, VERSION)
        fn = "%s-py3-none-any.whl" % dist
        files = {{
            "{module}.py": open("{module}.py", "rb").read(),
            dist + ".dist-info/METADATA": META.encode(),
            dist + ".dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
        }}
        record = []
        with zipfile.ZipFile(os.path.join(wheel_directory, fn), "w") as z:
            for name, data in files.items():
                z.writestr(name, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
            record.append(dist + ".dist-info/RECORD,,")
            z.writestr(dist + ".dist-info/RECORD", "\\n".join(record) + "\\n")
        return fn
    '''
)


def make_tested_sdist(out: Path, name: str, version: str, test_passes: bool = True) -> Path:
    """An sdist with a tox.ini whose test checks the installed module, and
    an in-tree build backend (no build dependencies)."""
    module = name.replace("-", "_")
    root = f"{name}-{version}"
    files = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: tested by devpi test\n",
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        "backend.py": BACKEND.format(name=name, version=version, module=module),
        f"{module}.py": "VALUE = 42\n",
        "tox.ini": textwrap.dedent(
            f"""
            [tox]
            envlist = py
            [testenv]
            commands = python -c "import {module}, sys; sys.exit(0 if {module}.VALUE == {42 if test_passes else 43} else 1)"
            """
        ),
    }
    path = out / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{rel}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def make_doc_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def tree_listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def devpi_env(server) -> dict[str, str]:
    """tox (run by `devpi test`) must find nothing but the server under test,
    and virtualenv must not try to update its seed wheels."""
    return {
        "PATH": f"{Path(venv_tool('tox')).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
        "VIRTUALENV_OFFLINE": "1",
        "PIP_NO_INPUT": "1",
    }


class DevpiSession(Devpi):
    def __init__(self, clientdir, env):
        super().__init__(clientdir)
        self.env = env

    def __call__(self, *args, check=True):
        return run([venv_tool("devpi"), "--clientdir", self.clientdir, *args], check=check, env_extra=self.env)


def test_devpi_full_session(server, tmp_path):
    devpi = DevpiSession(tmp_path / "devpi-client", devpi_env(server))
    alice, bob = unique("alice"), unique("bob")
    name = unique("tinytest")
    dists = tmp_path / "dists"
    dists.mkdir()
    sdist = make_tested_sdist(dists, name, "1.0")
    make_doc_zip(
        dists / f"{name}-1.0.doc.zip",
        {"index.html": b"<html><body>tiny docs</body></html>", "_static/style.css": b"body{}", "api/index.html": b"api"},
    )

    # use, login as root, user management
    res = devpi("use", server.url)
    assert server.url in res.output, res
    devpi("login", "root", "--password", ROOT_PASSWORD)
    res = devpi("user", "-c", alice, "password=alice-pw", f"email={alice}@example.org")
    assert alice in res.output, res
    devpi("user", "-c", bob, "password=bob-pw")
    res = devpi("user", "-l")
    assert alice in res.output and bob in res.output and "root" in res.output, res
    devpi("user", "-m", alice, f"email=new-{alice}@example.org")
    res = devpi("getjson", f"/{alice}")
    assert json.loads(res.output)["result"]["email"] == f"new-{alice}@example.org", res

    # wrong password; then alice
    res = devpi("login", alice, "--password", "wrong", check=False)
    assert shows_status(res.output, 401) and "invalid user name or password" in res.output, res
    res = devpi("login", alice, "--password", "alice-pw")
    assert alice in res.output, res
    # only root creates users: the client shows why
    res = devpi("user", "-c", unique("carol"), "password=x", check=False)
    assert shows_status(res.output, 403) and "only root creates accounts" in res.output, res

    # indexes: create (non-volatile), modify with =, +=, -=, list, delete
    devpi("index", "-c", "dev", "volatile=False")
    devpi("index", "-c", "scratch", f"bases={alice}/dev")
    devpi("index", "dev", f"acl_upload+={bob}", "title=Alice's dev")
    res = devpi("getjson", f"/{alice}/dev")
    cfg = json.loads(res.output)["result"]
    assert cfg["acl_upload"] == [alice, bob] and cfg["title"] == "Alice's dev" and cfg["volatile"] is False, cfg
    devpi("index", "dev", f"acl_upload-={bob}")
    assert json.loads(devpi("getjson", f"/{alice}/dev").output)["result"]["acl_upload"] == [alice]
    res = devpi("index", "-l")
    assert f"{alice}/dev" in res.output and f"{alice}/scratch" in res.output, res
    devpi("index", "-y", "--delete", f"{alice}/scratch")
    assert f"{alice}/scratch" not in devpi("index", "-l").output

    # upload the sdist and its docs from a folder
    devpi("use", f"{alice}/dev")
    res = devpi("upload", "--from-dir", dists)
    assert sdist.name in res.output and f"{name}-1.0.doc.zip" in res.output, res
    res = devpi("list", name)
    assert f"/{alice}/dev/+f/" in res.output and sdist.name in res.output, res
    res = devpi("list")
    assert name in res.output, res

    # the docs: a doczip link, pages served from the zip with a strict CSP
    versiondata = json.loads(devpi("getjson", f"/{alice}/dev/{name}/1.0").output)["result"]
    rels = sorted(link["rel"] for link in versiondata["+links"])
    assert rels == ["doczip", "releasefile"], versiondata
    for alias in ("1.0", "latest", "stable"):
        r = requests.get(f"{server.url}/{alice}/dev/{name}/{alias}/+doc/index.html", timeout=30)
        assert r.status_code == 200 and "tiny docs" in r.text, (alias, r.status_code, r.text)
        assert r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        # framed only by airlock's own documentation page (web UI), never by another site
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'self'" in csp and "sandbox" in csp, csp
        assert r.headers["x-content-type-options"] == "nosniff"
    r = requests.get(f"{server.url}/{alice}/dev/{name}/1.0/+doc/api/", timeout=30)
    assert r.status_code == 200 and r.text == "api", r.text
    r = requests.get(f"{server.url}/{alice}/dev/{name}/1.0/+doc/../../../etc/passwd", timeout=30)
    assert r.status_code == 404
    doczip = next(link for link in versiondata["+links"] if link["rel"] == "doczip")
    assert requests.get(doczip["href"], timeout=30).content == (dists / f"{name}-1.0.doc.zip").read_bytes()

    # devpi test: tox runs against the release, the result is attached
    res = devpi("test", name)
    assert "posting tox result data" in res.output and "could not post" not in res.output, res
    res = devpi("list", "-t", name)
    assert "tests passed" in res.output, res
    r = requests.get(f"{server.url}/{alice}/dev/{name}/", headers={"Accept": "application/json"}, timeout=30)
    # exactly this: devpi-client compares the content type
    assert r.headers["content-type"] == "application/json" and r.headers["x-devpi-api-version"] == "2", r.headers
    project = r.json()["result"]
    links = project["1.0"]["+links"]
    release = next(link for link in links if link["rel"] == "releasefile")
    tox = [link for link in links if link["rel"] == "toxresult"]
    assert len(tox) == 1 and tox[0]["for_href"] == release["href"], links
    assert tox[0]["toxresult"]["passed"] is True, tox[0]["toxresult"]
    assert any(env["env"] == "py" and env["outcome"] == "passed" and env["python"] for env in tox[0]["toxresult"]["envs"]), tox
    report = requests.get(tox[0]["href"], timeout=30)
    assert report.status_code == 200 and report.headers["content-type"] == "application/json", report
    assert "testenvs" in report.json()

    # only who acl_toxresult_upload names may post results
    devpi("index", "dev", f"acl_toxresult_upload={alice}")
    r = requests.post(release["href"], json=report.json(), timeout=30)
    # devpi's answer to an anonymous caller: 403, "no permission to upload tox results"
    assert r.status_code == 403 and "no permission to upload tox results" in r.text, r.text
    r = requests.post(release["href"], data=b"{not json", headers={"Content-Type": "application/json"},
                      auth=(alice, server.token(alice, "alice-pw")), timeout=30)
    assert r.status_code == 400, r.text

    # bob may not upload to alice/dev
    devpi("login", bob, "--password", "bob-pw")
    res = devpi("upload", sdist, check=False)
    assert shows_status(res.output, 403) and "not in its acl_upload" in res.output, res

    # malicious doc zips: refused with a clear message, nothing written
    devpi("login", alice, "--password", "alice-pw")
    outside = tmp_path / "outside"
    outside.mkdir()
    before_outside = tree_listing(tmp_path)
    before_data = server.data_listing()
    abs_target = outside / "absolute.html"
    for label, members in [
        ("zip-slip", {"index.html": b"ok", "../../../../../../escaped.html": b"evil"}),
        ("absolute", {"index.html": b"ok", str(abs_target): b"evil"}),
    ]:
        evil_dir = tmp_path / f"evil-{label}"
        evil_dir.mkdir()
        evil = make_doc_zip(evil_dir / f"{name}-1.0.doc.zip", members)
        res = devpi("upload", "--only-docs", evil, check=False)
        assert shows_status(res.output, 400) and "unsafe path" in res.output, (label, res)
        before_outside |= {str(p.relative_to(tmp_path)) for p in evil_dir.rglob("*")} | {str(evil_dir.relative_to(tmp_path))}
    assert server.data_listing() == before_data
    assert not abs_target.exists()
    assert not (server.data.parent / "escaped.html").exists()
    after = tree_listing(tmp_path) - {p for p in tree_listing(tmp_path) if p.startswith("devpi-client")}
    assert after - before_outside == set(), after - before_outside

    # remove: refused on a non-volatile index without --force
    res = devpi("remove", "-y", f"{name}==1.0", check=False)
    assert shows_status(res.output, 403) and "not volatile" in res.output and "--force" in res.output, res
    assert server.project_json(f"{alice}/dev", name), "nothing may be removed without --force"
    devpi("remove", "-y", "--force", f"{name}==1.0")
    assert server.project_json(f"{alice}/dev", name) == {}

    # logout; root deletes bob
    res = devpi("logout")
    assert "login information deleted" in res.output or "logged out" in res.output.lower(), res
    devpi("login", "root", "--password", ROOT_PASSWORD)
    devpi("user", "-y", "--delete", bob)
    assert bob not in devpi("user", "-l").output


def test_devpi_empty_root_password_for_throwaway_servers(make_server, tmp_path):
    srv = make_server(env={"AIRLOCK_ROOT_PASSWORD": ""})
    devpi = Devpi(tmp_path / "devpi-client")
    devpi("use", srv.url)
    res = devpi("login", "root", "--password", "")
    assert "logged in" in res.output, res
    assert "empty" in srv.log().lower(), "the server must warn loudly about an empty root password"

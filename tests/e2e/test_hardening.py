"""Hostile input driven by the real clients (twine, pip, requests) against
the real binary: archives whose members escape, digests that lie, another
spelling of a stored release, forged test results. Each is refused with a
message that says why, and nothing changes on the server.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import zipfile

import pytest
import requests

from conftest import ROOT_PASSWORD, Server, shows_status, unique

ROOT = ("root", ROOT_PASSWORD)


@pytest.fixture(scope="module")
def alice(server: Server) -> tuple[str, str]:
    return server.create_user(unique("alice"), "alice-pw")


def state(server: Server, index: str, project: str):
    return server.data_listing(), server.project_json(index, project), server.project_names(index)


def pkg_info(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n".encode()


def hostile_sdist(path, name: str, version: str) -> None:
    """The review's example: a clean PKG-INFO, then a symlink out of the
    tree, then a file written through it."""
    top = f"{name}-{version}"
    with tarfile.open(path, "w:gz") as t:
        data = pkg_info(name, version)
        info = tarfile.TarInfo(f"{top}/PKG-INFO")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(f"{top}/escape")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../../outside"
        t.addfile(link)
        payload = b"pwned\n"
        evil = tarfile.TarInfo(f"{top}/escape/pwned.txt")
        evil.size = len(payload)
        t.addfile(evil, io.BytesIO(payload))


def test_twine_upload_of_an_escaping_sdist_is_refused_and_would_have_escaped(server, clients, alice, tmp_path):
    index = server.create_index(alice, unique("dev"), acl_upload=[alice[0]])
    name = unique("escapee").replace("-", "_")
    sdist = tmp_path / f"{name}-1.0.tar.gz"
    hostile_sdist(sdist, name, "1.0")
    before = state(server, index, name)
    res = clients.twine_upload(server.upload_url(index), [sdist], *alice, check=False)
    out = res.output
    assert res.returncode != 0 and shows_status(out, 400), res
    assert "escape" in out and "symbolic link" in out, res
    assert state(server, index, name) == before
    # what that sdist does to an installer that unpacks it without checks
    # (Python 3.11's tarfile.extractall): it writes outside the target
    target = tmp_path / "a" / "b" / "c" / "unpack"
    target.mkdir(parents=True)
    (tmp_path / "a" / "b" / "outside").mkdir()  # where ../../../outside lands
    with tarfile.open(sdist) as t:
        kwargs = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
        try:
            t.extractall(target, **kwargs)
        except Exception:
            pass
    escaped = [p for p in tmp_path.rglob("pwned.txt") if target.resolve() not in p.resolve().parents]
    assert escaped, "the hostile sdist should escape an unchecked extraction (it is a real attack)"


def test_hostile_wheels_are_refused(server, alice, tmp_path):
    index = server.create_index(alice, unique("dev"), acl_upload=[alice[0]])
    name = unique("wheely").replace("-", "_")
    info = f"{name}-1.0.dist-info"
    cases = {
        "symlink member": ([(f"{info}/METADATA", pkg_info(name, "1.0"))], (f"{name}/link", "/etc/passwd"),
                           "it is a symbolic link"),
        "escaping member": ([(f"{info}/METADATA", pkg_info(name, "1.0")), ("../../evil.pth", b"import os")], None,
                            "unsafe path"),
        "bomb member": ([(f"{info}/METADATA", pkg_info(name, "1.0")), (f"{name}/zeros", b"\0" * (40 << 20))], None,
                        "compression bomb"),
    }
    before = state(server, index, name)
    for what, (members, symlink, needle) in cases.items():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for n, d in members:
                z.writestr(n, d)
            if symlink:
                zi = zipfile.ZipInfo(symlink[0])
                zi.create_system = 3
                zi.external_attr = (0o120777 << 16)
                z.writestr(zi, symlink[1])
        r = requests.post(server.upload_url(index), auth=alice, timeout=60,
                          data={":action": "file_upload"},
                          files={"content": (f"{name}-1.0-py3-none-any.whl", buf.getvalue())})
        assert r.status_code == 400 and needle in r.text, (what, r.status_code, r.text)
        assert needle.split()[0] in (r.reason or ""), (what, r.reason)
        assert state(server, index, name) == before, what


def test_lying_md5_and_blake2_digests_are_refused(server, dists, alice):
    index = server.create_index(alice, unique("dev"), acl_upload=[alice[0]])
    wheel = dists.app.wheel
    good_md5 = hashlib.md5(wheel.data).hexdigest()
    good_blake = hashlib.blake2b(wheel.data, digest_size=32).hexdigest()
    before = state(server, index, "demo-app")
    for field, value in [("md5_digest", "0" * 32), ("blake2_256_digest", "f" * 64), ("md5_digest", "nothex")]:
        r = requests.post(server.upload_url(index), auth=alice, timeout=60,
                          data={":action": "file_upload", field: value},
                          files={"content": (wheel.name, wheel.data)})
        assert r.status_code == 400 and field in r.text, (field, r.text)
        assert state(server, index, "demo-app") == before
    r = requests.post(server.upload_url(index), auth=alice, timeout=60,
                      data={":action": "file_upload", "md5_digest": good_md5, "blake2_256_digest": good_blake},
                      files={"content": (wheel.name, wheel.data)})
    assert r.status_code == 200, r.text


def test_another_spelling_of_a_stored_release_is_409_for_twine(server, dists, clients, alice, tmp_path):
    index = server.create_index(alice, unique("prod"), volatile=False, acl_upload=[alice[0]])
    clients.twine_upload(server.upload_url(index), [dists.demo.wheel.path], *alice)
    before = state(server, index, "demo-pkg")
    # the other build of demo-pkg 1.0.0, renamed: other case, equal version
    for new_name in ["Demo_Pkg-1.0.0-py3-none-any.whl", "demo_pkg-1.0-py3-none-any.whl"]:
        renamed = tmp_path / new_name
        renamed.write_bytes(dists.demo_alt.wheel.data)
        res = clients.twine_upload(server.upload_url(index), [renamed], *alice, check=False)
        assert res.returncode != 0 and shows_status(res.output, 409), res
        assert "already exists" in res.output, res
        assert state(server, index, "demo-pkg") == before
    # pip still installs the stored file under its canonical name
    names = [f["filename"] for f in requests.get(
        f"{server.url}/{index}/+simple/demo-pkg/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30).json()["files"]]
    assert names == [dists.demo.wheel.name], names


def test_unreadable_credentials_are_401(server):
    for value in [b"Basic \xff\xfe", b"Basic !!!", b"Bearer x"]:
        r = requests.get(f"{server.url}/root/dev", headers={"Authorization": value}, timeout=30)
        assert r.status_code == 401, (value, r.status_code, r.text)

"""End-to-end tests of the core index server, driven by the real clients
(twine, pip, uv) against the real airlock binary.

Tests share one server per module but each works on indexes of its own
(fresh names), so they do not depend on each other or on their order.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile

import pytest
import requests

from conftest import ROOT_PASSWORD, Clients, Dist, Server, run, shows_status, unique, wheel_metadata

ROOT = ("root", ROOT_PASSWORD)
JSON_SIMPLE = "application/vnd.pypi.simple.v1+json"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alice(server: Server) -> tuple[str, str]:
    return server.create_user("alice", "alice-pw")


@pytest.fixture(scope="module")
def bob(server: Server) -> tuple[str, str]:
    return server.create_user("bob", "bob-pw")


@pytest.fixture(scope="module")
def root_prod_has_demo(server: Server, dists, tmp_path_factory) -> str:
    """demo-pkg 1.0.0 (wheel + sdist) on root/prod, uploaded once."""
    c = Clients(tmp_path_factory.mktemp("root-prod"))
    c.twine_upload(server.upload_url("root/prod"), [dists.demo.wheel.path, dists.demo.sdist.path], *ROOT)
    return "root/prod"


def links(server: Server, index: str, project: str) -> dict[str, str]:
    """filename -> sha256 of every file of a project, via devpi's JSON view."""
    out = {}
    for version in server.project_json(index, project).values():
        for link in version.get("+links", []):
            out[link["href"].rsplit("/", 1)[-1]] = link["hashes"]["sha256"]
    return out


def simple_files(server: Server, index: str, project: str) -> list[dict]:
    r = requests.get(f"{server.index_url(index)}{project}/", headers={"Accept": JSON_SIMPLE}, timeout=30)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    return r.json()["files"]


def state(server: Server, index: str, projects=("demo-pkg",)) -> dict:
    """What a rejected request must not change: the files in the data folder
    and what the index reports (projects, files and their hashes)."""
    return {
        "data": server.data_listing(),
        "projects": server.project_names(index),
        "links": {p: links(server, index, p) for p in projects},
    }


def raw_upload(server: Server, index: str, filename: str, content: bytes, *, auth=None, fields=None) -> requests.Response:
    """A hand-made legacy upload (what twine sends), for inputs twine refuses
    to produce."""
    data = {":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1"}
    data.update(fields or {})
    return requests.post(
        server.upload_url(index),
        data=data,
        files={"content": (filename, content, "application/octet-stream")},
        auth=auth,
        timeout=60,
    )


def craft_wheel(path, *, dist: str, version: str, meta_name: str | None = None, meta_version: str | None = None) -> Dist:
    """A minimal wheel written with zipfile; METADATA may disagree with the filename."""
    meta_name = meta_name or dist
    meta_version = meta_version or version
    stem = f"{dist.replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    files = {
        f"{dist.replace('-', '_')}/__init__.py": b'VERSION = "crafted"\n',
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {meta_name}\nVersion: {meta_version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: airlock-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{n},sha256={hashlib.sha256(d).hexdigest()},{len(d)}\n" for n, d in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out = path / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)
    return Dist(out)


def assert_rejected(res, status: int, *words: str) -> None:
    """twine failed, showing the HTTP status and the server's message."""
    assert res.returncode != 0, f"twine should have failed:\n{res}"
    out = " ".join(res.output.split())  # undo any line wrapping
    assert shows_status(out, status), f"twine output does not show HTTP {status}:\n{res}"
    for w in words:
        assert w.lower() in out.lower(), f"twine output does not say {w!r}:\n{res}"


def assert_response(r: requests.Response, status: int, *words: str) -> None:
    assert r.status_code == status, f"expected {status}, got {r.status_code} {r.reason!r}: {r.text}"
    for w in words:
        assert w.lower() in r.text.lower(), f"response does not say {w!r}: {r.text}"
        assert w.lower() in (r.reason or "").lower(), f"reason phrase does not say {w!r}: {r.reason!r}"


# --------------------------------------------------------------------------
# upload and install
# --------------------------------------------------------------------------


def test_twine_upload_then_pip_and_uv_install_from_root_dev(server, dists, clients):
    files = [dists.demo.wheel.path, dists.demo.sdist.path]
    res = clients.twine_upload(server.upload_url("root/dev"), files, *ROOT)
    assert dists.demo.wheel.name in res.output and dists.demo.sdist.name in res.output

    assert links(server, "root/dev", "demo-pkg") == {
        dists.demo.wheel.name: dists.demo.wheel.sha256,
        dists.demo.sdist.name: dists.demo.sdist.sha256,
    }
    assert "demo-pkg" in server.project_names("root/dev")

    res, target = clients.pip_install(server.index_url("root/dev"), "demo-pkg==1.0.0")
    assert "Successfully installed demo-pkg-1.0.0" in res.output, res
    assert clients.import_from(target, "demo_pkg") == "1.0.0"

    res, target = clients.uv_install(server.index_url("root/dev"), "demo-pkg==1.0.0")
    assert re.search(r"\+ demo-pkg==1\.0\.0", res.output), res
    assert clients.import_from(target, "demo_pkg") == "1.0.0"


def test_files_served_are_the_uploaded_bytes(server, dists, clients, alice):
    index = server.create_index(alice, unique("files"), volatile=False)
    clients.twine_upload(server.upload_url(index), [dists.demo.wheel.path, dists.demo.sdist.path], *alice)
    by_name = {f["filename"]: f for f in simple_files(server, index, "demo-pkg")}
    for dist in (dists.demo.wheel, dists.demo.sdist):
        f = by_name[dist.name]
        assert f["hashes"]["sha256"] == dist.sha256
        url = requests.compat.urljoin(f"{server.index_url(index)}demo-pkg/", f["url"])
        r = requests.get(url, timeout=30)
        assert r.status_code == 200 and r.content == dist.data, f"{url}: {r.status_code}"
    # An HTML client (old pip) sees the same files with the hash fragment.
    html = requests.get(f"{server.index_url(index)}demo-pkg/", timeout=30).text
    assert f"{dists.demo.wheel.name}#sha256={dists.demo.wheel.sha256}" in html


def test_curl_gets_compressed_pages_and_304_for_a_known_etag(server, dists, clients, alice, tmp_path):
    index = server.create_index(alice, unique("gz"), volatile=False)
    clients.twine_upload(server.upload_url(index), [dists.demo.wheel.path, dists.demo.sdist.path], *alice)
    url = f"{server.index_url(index)}demo-pkg/"
    plain = run(["curl", "-sS", "--fail", url]).output
    assert f"{dists.demo.wheel.name}#sha256={dists.demo.wheel.sha256}" in plain

    # --compressed asks for gzip/br and decodes: same page; the headers show
    # what travelled.
    headers = tmp_path / "headers.txt"
    body = run(["curl", "-sS", "--fail", "--compressed", "-D", headers, url]).output
    assert body == plain
    sent = headers.read_text().lower()
    assert re.search(r"^content-encoding: (gzip|br)", sent, re.M), sent
    assert re.search(r"^x-airlock-cache: (hit|miss)", sent, re.M), sent
    etag = re.search(r"^etag: (.+?)\r?$", sent, re.M).group(1)

    # A client that has the page already is told so, with no body.
    res = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--compressed",
               "-H", f"If-None-Match: {etag}", url])
    assert res.output == "304", res
    # A new project changes the project list, and so its ETag.
    list_url = server.index_url(index)
    run(["curl", "-sS", "--fail", "-D", headers, "-o", "/dev/null", list_url])
    list_etag = re.search(r"^etag: (.+?)\r?$", headers.read_text().lower(), re.M).group(1)
    check = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-None-Match: {list_etag}", list_url]
    assert run(check).output == "304"
    clients.twine_upload(server.upload_url(index), [dists.app.wheel.path], *alice)
    assert run(check).output == "200"


def test_install_from_non_volatile_root_prod(server, dists, clients, root_prod_has_demo):
    res, target = clients.pip_install(server.index_url("root/prod"), "demo-pkg")
    assert "Successfully installed demo-pkg-1.0.0" in res.output, res
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    res, target = clients.uv_install(server.index_url("root/prod"), "demo-pkg")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"


def test_install_from_user_prod_index(server, dists, clients, alice):
    index = server.create_index(alice, unique("prod"), volatile=False, bases="")
    cfg = server.api("GET", index, expect=200).json()["result"]
    assert cfg["volatile"] is False and cfg["bases"] == []
    clients.twine_upload(server.upload_url(index), [dists.demo.wheel.path, dists.demo.sdist.path], *alice)
    res, target = clients.pip_install(server.index_url(index), "demo-pkg")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"


def test_stage_index_inherits_from_its_base(server, dists, clients, alice, root_prod_has_demo):
    child = server.create_index(alice, unique("dev"), bases="root/prod", volatile=True)
    # Nothing uploaded to the child, yet the base's project is visible ...
    assert "demo-pkg" in server.project_names(child)
    inherited = {f["filename"]: f["hashes"]["sha256"] for f in simple_files(server, child, "demo-pkg")}
    assert inherited == {dists.demo.wheel.name: dists.demo.wheel.sha256, dists.demo.sdist.name: dists.demo.sdist.sha256}
    # ... and installable through the child.
    res, target = clients.pip_install(server.index_url(child), "demo-pkg")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"

    # A project on the child whose dependency lives only on the base resolves
    # through the child's URL alone.
    clients.twine_upload(server.upload_url(child), [dists.app.wheel.path], *alice)
    assert "demo-app" not in server.project_names("root/prod")
    res, target = clients.pip_install(server.index_url(child), "demo-app")
    assert "demo-app-2.0.0" in res.output and "demo-pkg-1.0.0" in res.output, res
    assert clients.import_from(target, "demo_app") == "2.0.0"
    res, target = clients.uv_install(server.index_url(child), "demo-app")
    assert clients.import_from(target, "demo_app") == "2.0.0"
    # The base does not see what was uploaded to the child.
    clients.pip_install(server.index_url("root/prod"), "demo-app", check=False)


def test_pip_uses_pep658_metadata(server, dists, clients, alice):
    index = server.create_index(alice, unique("meta"))
    clients.twine_upload(server.upload_url(index), [dists.demo.wheel.path, dists.demo.sdist.path], *alice)

    files = {f["filename"]: f for f in simple_files(server, index, "demo-pkg")}
    expected = wheel_metadata(dists.demo.wheel.path)
    meta = files[dists.demo.wheel.name]["core-metadata"]
    assert meta == {"sha256": hashlib.sha256(expected).hexdigest()}
    assert not files[dists.demo.sdist.name].get("core-metadata"), "sdists have no PEP 658 metadata"

    res, _ = clients.pip_install(server.index_url(index), "demo-pkg", extra=("-v",))
    metadata_path = f"/{index}/+f/{dists.demo.wheel.sha256[:3]}/{dists.demo.wheel.sha256[3:16]}/{dists.demo.wheel.name}.metadata"
    assert re.search(r"Obtaining dependency information .*\.whl\.metadata", res.output), res
    log = server.log()
    assert metadata_path in log or metadata_path.replace("+", "%2B") in log, (
        f"{metadata_path} was not requested; server log:\n{log[-4000:]}"
    )
    r = requests.get(server.url + metadata_path, timeout=30)
    assert r.status_code == 200 and r.content == expected


def test_pip_download_require_hashes(server, dists, clients, alice):
    index = server.create_index(alice, unique("hashes"))
    clients.twine_upload(server.upload_url(index), [dists.demo.wheel.path], *alice)

    req = clients.fresh_dir("req") / "req.txt"
    req.write_text(f"demo-pkg==1.0.0 --hash=sha256:{dists.demo.wheel.sha256}\n")
    dest = clients.fresh_dir("dl")
    clients.pip("download", "--require-hashes", "--index-url", server.index_url(index), "-d", dest, "-r", req)
    assert (dest / dists.demo.wheel.name).read_bytes() == dists.demo.wheel.data

    wrong = "0" * 64
    req.write_text(f"demo-pkg==1.0.0 --hash=sha256:{wrong}\n")
    dest = clients.fresh_dir("dl")
    res = clients.pip("download", "--require-hashes", "--index-url", server.index_url(index), "-d", dest, "-r", req,
                      check=False)
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in res.output, res
    assert dists.demo.wheel.sha256 in res.output, res
    assert not any(dest.iterdir())


# --------------------------------------------------------------------------
# re-uploads
# --------------------------------------------------------------------------


def test_reupload_of_identical_bytes_succeeds_and_changes_nothing(server, dists, clients, alice):
    index = server.create_index(alice, unique("idem"), volatile=False)
    files = [dists.demo.wheel.path, dists.demo.sdist.path]
    clients.twine_upload(server.upload_url(index), files, *alice)
    before = state(server, index)
    res = clients.twine_upload(server.upload_url(index), files, *alice)
    assert "already" in res.output and "identical" in res.output, res
    assert state(server, index) == before


def test_reupload_with_different_bytes_to_non_volatile_index_is_409(server, dists, clients, alice):
    index = server.create_index(alice, unique("prod"), volatile=False)
    clients.twine_upload(server.upload_url(index), [dists.demo.wheel.path], *alice)
    before = state(server, index)
    res = clients.twine_upload(server.upload_url(index), [dists.demo_alt.wheel.path], *alice, check=False)
    assert_rejected(res, 409, "already exists", "non-volatile", "new version")
    assert state(server, index) == before
    res, target = clients.pip_install(server.index_url(index), "demo-pkg")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"


def test_reupload_with_different_bytes_to_volatile_root_dev_replaces(server, dists, clients):
    # A project of its own on root/dev, so other tests' uploads do not interfere.
    tmp = dists.root / unique("volatile")
    tmp.mkdir()
    first = craft_wheel(tmp, dist="replace-me", version="1.0")
    clients.twine_upload(server.upload_url("root/dev"), [first.path], *ROOT)
    assert links(server, "root/dev", "replace-me") == {first.name: first.sha256}

    second_dir = tmp / "second"
    second_dir.mkdir()
    second = craft_wheel(second_dir, dist="replace-me", version="1.0", meta_version="1.0.0")
    assert second.name == first.name and second.sha256 != first.sha256
    clients.twine_upload(server.upload_url("root/dev"), [second.path], *ROOT)

    assert links(server, "root/dev", "replace-me") == {second.name: second.sha256}
    (f,) = simple_files(server, "root/dev", "replace-me")
    url = requests.compat.urljoin(f"{server.index_url('root/dev')}replace-me/", f["url"])
    assert requests.get(url, timeout=30).content == second.data
    blobs = server.stored_blob_digests()
    assert second.sha256 in blobs
    assert first.sha256 not in blobs, "the replaced file's blob was left behind"


# --------------------------------------------------------------------------
# bad input: the right 4xx, a clear message, and nothing stored
# --------------------------------------------------------------------------


@pytest.fixture
def victim(server, dists, clients, alice):
    """A non-volatile index holding demo-pkg 1.0.0; returns (index, state before)."""
    index = server.create_index(alice, unique("victim"), volatile=False, acl_upload=["alice"])
    clients.twine_upload(server.upload_url(index), [dists.demo.wheel.path], *alice)
    return index, state(server, index, projects=("demo-pkg", "evil", "other-pkg", "demo-app"))


def unchanged(server, victim_fixture) -> None:
    index, before = victim_fixture
    after = state(server, index, projects=("demo-pkg", "evil", "other-pkg", "demo-app"))
    assert after == before, "a rejected upload changed the index or the data folder"


def corruptions(wheel: bytes) -> dict[str, bytes]:
    z = zipfile.ZipFile(io.BytesIO(wheel))
    meta = next(i for i in z.infolist() if i.filename.endswith("METADATA"))
    # Garble METADATA's compressed bytes in place (after its local header:
    # 30 bytes plus name and extra field); the zip's directory stays intact.
    start = meta.header_offset + 30 + len(meta.filename.encode()) + len(meta.extra)
    garbled = bytearray(wheel)
    for i in range(start, start + meta.compress_size):
        garbled[i] ^= 0xA5
    return {
        "truncated": wheel[: len(wheel) // 2],
        "garbled-metadata": bytes(garbled),
        "not-a-zip": b"this is not a zip file\n" * 100,
    }


@pytest.mark.parametrize(
    ("kind", "says"),
    [("truncated", "not a valid zip"), ("garbled-metadata", "METADATA"), ("not-a-zip", "not a valid zip")],
)
def test_corrupted_wheel_is_rejected(server, dists, alice, victim, kind, says):
    # A wheel that would be accepted if it were intact: new version, name and
    # dist-info that agree with the filename.
    tmp = dists.root / unique("corrupt")
    tmp.mkdir()
    intact = craft_wheel(tmp, dist="demo-pkg", version="1.0.1")
    content = corruptions(intact.data)[kind]
    assert content != intact.data
    r = raw_upload(server, victim[0], intact.name, content, auth=alice,
                   fields={"name": "demo-pkg", "version": "1.0.1", "sha256_digest": hashlib.sha256(content).hexdigest()})
    assert_response(r, 400, intact.name, says)
    unchanged(server, victim)
    # Control: the intact file is accepted (so the corruption was the reason),
    # and an accepted upload does show up in what `unchanged` compares.
    r = raw_upload(server, victim[0], intact.name, intact.data, auth=alice)
    assert r.status_code == 200, r.text
    with pytest.raises(AssertionError):
        unchanged(server, victim)


def test_wheel_whose_metadata_names_another_project_is_rejected(server, dists, clients, alice, victim):
    crafted = craft_wheel(dists.root, dist="demo-pkg", version="3.0", meta_name="other-pkg")
    res = clients.twine_upload(server.upload_url(victim[0]), [crafted.path], *alice, check=False)
    if shows_status(res.output, 400):
        assert_rejected(res, 400, "other-pkg", "demo-pkg")
    else:
        # twine refused locally; the server must refuse too.
        r = raw_upload(server, victim[0], crafted.name, crafted.data, auth=alice,
                       fields={"name": "other-pkg", "version": "3.0"})
        assert_response(r, 400, "other-pkg")
        r = raw_upload(server, victim[0], crafted.name, crafted.data, auth=alice,
                       fields={"name": "demo-pkg", "version": "3.0"})
        assert_response(r, 400, "other-pkg")
    unchanged(server, victim)


@pytest.mark.parametrize("filename", [
    "../demo_pkg-1.0.2-py3-none-any.whl",
    "..%2Fdemo_pkg-1.0.2-py3-none-any.whl",
    "sub/../../demo_pkg-1.0.2-py3-none-any.whl",
    "..\\demo_pkg-1.0.2-py3-none-any.whl",
    "/etc/demo_pkg-1.0.2-py3-none-any.whl",
])
def test_filename_with_path_components_is_rejected(server, alice, victim, dists, filename):
    tmp = dists.root / unique("traversal")
    tmp.mkdir()
    wheel = craft_wheel(tmp, dist="demo-pkg", version="1.0.2")
    r = raw_upload(server, victim[0], filename, wheel.data, auth=alice)
    assert r.status_code == 400, f"{filename!r}: {r.status_code} {r.text}"
    assert "filename" in r.text.lower() or "file name" in r.text.lower(), f"{filename!r}: unclear message {r.text}"
    unchanged(server, victim)
    assert not list(server.data.parent.glob("demo_pkg-*")), "a file escaped the data folder"


def test_non_pep440_version_is_rejected(server, dists, clients, alice, victim):
    tmp = dists.root / unique("badversion")
    tmp.mkdir()
    wheel = craft_wheel(tmp, dist="demo-pkg", version="banana")
    res = clients.twine_upload(server.upload_url(victim[0]), [wheel.path], *alice, check=False)
    if shows_status(res.output, 400):
        assert_rejected(res, 400, "banana")
    r = raw_upload(server, victim[0], wheel.name, wheel.data, auth=alice, fields={"name": "demo-pkg", "version": "banana"})
    assert_response(r, 400, "banana")
    unchanged(server, victim)


def test_wrong_sha256_digest_is_rejected(server, dists, alice, victim):
    wheel = craft_wheel(dists.root, dist="demo-pkg", version="1.0.3")
    wrong = hashlib.sha256(b"something else").hexdigest()
    r = raw_upload(server, victim[0], wheel.name, wheel.data, auth=alice,
                   fields={"name": "demo-pkg", "version": "1.0.3", "sha256_digest": wrong})
    assert_response(r, 400, "sha256", wrong)
    unchanged(server, victim)
    r = raw_upload(server, victim[0], wheel.name, wheel.data, auth=alice,
                   fields={"name": "demo-pkg", "version": "1.0.3", "sha256_digest": "not-hex"})
    assert_response(r, 400, "sha256_digest")
    unchanged(server, victim)
    r = raw_upload(server, victim[0], wheel.name, wheel.data, auth=alice,
                   fields={"name": "demo-pkg", "version": "1.0.3", "sha256_digest": wheel.sha256})
    assert r.status_code == 200, r.text


def test_upload_without_credentials_is_401(server, dists, clients, victim):
    r = raw_upload(server, victim[0], dists.app.wheel.name, dists.app.wheel.data)
    assert_response(r, 401, "log in")
    assert r.headers.get("www-authenticate", "").lower().startswith("basic")
    unchanged(server, victim)


def test_upload_with_wrong_password_is_401(server, dists, clients, alice, victim):
    res = clients.twine_upload(server.upload_url(victim[0]), [dists.app.wheel.path], "alice", "wrong-password",
                               check=False)
    assert_rejected(res, 401)
    unchanged(server, victim)


def test_upload_by_user_not_in_acl_upload_is_403(server, dists, clients, alice, bob, victim):
    index = victim[0]
    cfg = server.api("GET", index, expect=200).json()["result"]
    assert cfg["acl_upload"] == ["alice"]
    res = clients.twine_upload(server.upload_url(index), [dists.app.wheel.path], *bob, check=False)
    assert_rejected(res, 403, "bob")
    unchanged(server, victim)


def test_oversized_upload_is_413(make_server, dists, clients):
    srv = make_server("--max-upload-mb", "1")
    alice = srv.create_user("alice", "alice-pw")
    index = srv.create_index(alice, "big", volatile=False)
    clients.twine_upload(srv.upload_url(index), [dists.demo.wheel.path], *alice)
    before = state(srv, index, projects=("demo-pkg", "bigdemo"))

    res = clients.twine_upload(srv.upload_url(index), [dists.big_wheel.path], *alice, check=False)
    assert_rejected(res, 413, "1 MiB")
    assert state(srv, index, projects=("demo-pkg", "bigdemo")) == before
    assert not any((srv.data / "tmp").iterdir()), "the rejected upload left a temp file"


# --------------------------------------------------------------------------
# persistence
# --------------------------------------------------------------------------


def test_uploads_survive_a_restart(make_server, dists, clients):
    srv = make_server()
    alice = srv.create_user("alice", "alice-pw")
    index = srv.create_index(alice, "prod", volatile=False)
    clients.twine_upload(srv.upload_url(index), [dists.demo.wheel.path, dists.demo.sdist.path], *alice)
    before = state(srv, index)

    srv.restart()  # SIGTERM must exit 0; the new process may get another port
    assert state(srv, index) == before
    res, target = clients.pip_install(srv.index_url(index), "demo-pkg")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    # The user and its password survived too.
    clients.twine_upload(srv.upload_url(index), [dists.app.wheel.path], *alice)
    res, target = clients.uv_install(srv.index_url(index), "demo-app")
    assert clients.import_from(target, "demo_app") == "2.0.0"

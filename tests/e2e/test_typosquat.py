"""Typosquat detection as people meet it: pip and uv asking airlock for a
look-alike of a popular project are refused before anything is fetched
upstream, and the message they print names the project they probably meant
and how to allow the name; `airlock typo allow` then lets it through.
Also: an upload of a look-alike private name, and `airlock typo check -r`.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import ROOT_PASSWORD, build_project, run, write_project
from fake_upstream import FakeUpstream


@pytest.fixture(scope="module")
def lookalike(tmp_path_factory):
    """A real project named `reqeusts` (a look-alike of requests)."""
    root = tmp_path_factory.mktemp("lookalike")
    proj = write_project(root / "src", "reqeusts", "1.0.0", "reqeusts", 'VERSION = "1.0.0"\n')
    out = root / "dist"
    proc = build_project(proj, out)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture
def upstream(lookalike):
    up = FakeUpstream()
    up.add("reqeusts", lookalike)
    up.start()
    try:
        yield up
    finally:
        up.stop()


def airlock(airlock_bin, *args, check=True):
    return run([str(airlock_bin), *args], check=check)


def test_pip_and_uv_are_refused_with_the_reason_then_allowed(make_server, clients, upstream, airlock_bin, tmp_path):
    srv = make_server("--upstream", upstream.simple_url)
    index_url = srv.index_url("root/dev")

    # pip: refused, and the terminal output says why and what to do
    res, _ = clients.pip_install(index_url, "reqeusts", check=False)
    assert res.returncode != 0, res
    out = res.output
    assert "ERROR" in out and 'looks like a typo of "requests"' in out, out
    assert "airlock typo allow reqeusts --index root/dev" in out, out

    # uv: refused too, and the same sentence is visible
    res, _ = clients.uv_install(index_url, "reqeusts", check=False)
    assert res.returncode != 0, res
    assert "400" in res.output and "looks like a typo of" in res.output, res.output
    assert "requests" in res.output and "airlock typo allow reqeusts --index root/dev" in res.output, res.output

    # not one request for it reached upstream
    assert upstream.hits["/simple/reqeusts/"] == 0, upstream.hits
    assert "suspicious project name" in srv.log()

    # an admin allows it on root/dev with the CLI; now it installs
    cfg = tmp_path / "client.json"
    env = {"AIRLOCK_CLIENT_CONFIG": str(cfg)}
    run([str(airlock_bin), "typo", "allow", "reqeusts", "--index", "root/dev",
         "--url", srv.url, "--user", "root", "--password", ROOT_PASSWORD], env_extra=env)
    _, target = clients.pip_install(index_url, "reqeusts")
    assert clients.import_from(target, "reqeusts") == "1.0.0"
    assert upstream.hits["/simple/reqeusts/"] == 1, upstream.hits
    # the rule is scoped: root/pypi directly still refuses it
    res, _ = clients.pip_install(srv.index_url("root/pypi"), "reqeusts", check=False)
    assert res.returncode != 0 and "looks like a typo" in res.output


def first_problem_line(output: str) -> str | None:
    """The first line pip prints as a WARNING or an ERROR."""
    for line in output.splitlines():
        line = line.strip()
        if line.startswith(("WARNING:", "ERROR:")):
            return line
    return None


class AcceptRewriter:
    """A relay in front of airlock that asks for the HTML form of every page
    (as an airlock behind a proxy that drops PEP 691 negotiation would
    answer pip), passing status, reason phrase and body back unchanged."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.page_types: list[str] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                req = urllib.request.Request(relay.target + self.path, headers={
                    "Accept": "text/html", "User-Agent": self.headers.get("User-Agent", ""),
                })
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        status, reason, headers, body = r.status, r.reason, r.headers, r.read()
                except urllib.error.HTTPError as e:
                    status, reason, headers, body = e.code, e.reason, e.headers, e.read()
                if "/+simple/" in self.path and self.path.endswith("/"):
                    relay.page_types.append(headers.get("Content-Type", ""))
                self.send_response(status, reason)
                for name in ("Content-Type", "Cache-Control"):
                    if headers.get(name):
                        self.send_header(name, headers[name])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_pip_leads_with_the_refusal_however_it_is_asked(make_server, clients, upstream, tmp_path):
    """Issue 15: the first problem line pip prints names airlock and the
    project the name looks like, for a bare name, a pinned version and a
    requirements file, from the JSON and from the HTML page; nothing is
    installed though upstream has exactly the version asked for."""
    srv = make_server("--upstream", upstream.simple_url)
    req = tmp_path / "requirements.txt"
    req.write_text("reqeusts==1.0.0\n")
    asks = {"bare name": ["reqeusts"], "pinned": ["reqeusts==1.0.0"], "requirements file": ["-r", str(req)]}
    relay = AcceptRewriter(srv.url)
    try:
        forms = {"json": srv.index_url("root/dev"), "html": relay.url("/root/dev/+simple/")}
        for form, index_url in forms.items():
            for how, args in asks.items():
                res, target = clients.pip_install(index_url, *args, check=False)
                first = first_problem_line(res.output)
                assert first is not None, (form, how, res.output)
                assert "airlock" in first and "requests" in first, (form, how, first, res.output)
                assert "Content-Type" not in res.output, (form, how, res.output)
                assert list(target.iterdir()) == [], (form, how, res.output)
            # the bare name is the one pip tries to download: the refusal's
            # whole sentence, with what to do, comes back as the HTTP error
            res, _ = clients.pip_install(index_url, "reqeusts", check=False)
            assert 'HTTP error 403 Client Error: "reqeusts" looks like a typo of "requests"' in res.output, res.output
            assert "airlock typo allow reqeusts --index root/dev" in res.output, res.output
        assert relay.page_types and all(t.startswith("text/html") for t in relay.page_types), relay.page_types
    finally:
        relay.stop()

    # the decoy files never serve a byte, to pip or to anyone else
    page = requests.get(srv.index_url("root/dev") + "reqeusts/",
                        headers={"User-Agent": "pip/26.3", "Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store", page.headers
    files = page.json()["files"]
    assert len(files) == 2 and all("+airlock.refused.looks.like.requests" in f["filename"] for f in files), files
    for f in files:
        for ua in ("pip/26.3", "curl/8.5.0"):
            got = requests.get(srv.index_url("root/dev") + "reqeusts/" + f["url"], headers={"User-Agent": ua}, timeout=30)
            assert got.status_code == 403, (ua, f, got.status_code)
            assert "looks like a typo of" in got.reason and "PK" not in got.text, (ua, got.reason, got.text)
    # uv keeps its 400 with the sentence as reason phrase
    res, _ = clients.uv_install(srv.index_url("root/dev"), "reqeusts", check=False)
    assert "400" in res.output and "airlock typo allow reqeusts --index root/dev" in res.output, res.output
    # not one request for it reached upstream
    assert upstream.hits["/simple/reqeusts/"] == 0, upstream.hits
    assert not [p for p in upstream.hits if "reqeusts" in p], upstream.hits


def test_upload_of_a_lookalike_private_name_is_refused(make_server, clients, tmp_path, dists):
    srv = make_server()
    # the private project demo-app exists; a look-alike of it is refused
    clients.twine_upload(srv.upload_url("root/dev"), [dists.demo.wheel.path], "root", ROOT_PASSWORD)
    proj = write_project(tmp_path / "src", "dem0-pkg", "1.0.0", "dem0_pkg", "X = 1\n")
    proc = build_project(proj, tmp_path / "out")
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    (wheel,) = (tmp_path / "out").glob("*.whl")
    before = srv.data_listing()
    res = clients.twine_upload(srv.upload_url("root/dev"), [wheel], "root", ROOT_PASSWORD, check=False)
    assert res.returncode != 0
    assert "403" in res.output and "looks like a typo" in res.output and "demo-pkg" in res.output, res.output
    assert srv.data_listing() == before


def test_typo_check_on_a_requirements_file(airlock_bin, tmp_path):
    inc = tmp_path / "more.txt"
    inc.write_text("urllib3>=2\n")
    req = tmp_path / "requirements.txt"
    req.write_text("# deps\nrequests==2.32.3\nnumpy\npandsa>=2 ; python_version > '3.8'\n-r more.txt\n")
    res = airlock(airlock_bin, "typo", "check", "-r", str(req), check=None)
    assert res.returncode == 1, res
    assert "pandsa" in res.output and "pandas" in res.output, res.output
    for ok in ("requests", "numpy", "urllib3"):
        assert f"{ok}\tok" in res.output, res.output
    clean = tmp_path / "clean.txt"
    clean.write_text("requests\nnumpy\n")
    assert airlock(airlock_bin, "typo", "check", "-r", str(clean), check=None).returncode == 0


# One look-alike per class the detector learned for issue 19, each of a
# top-500 project; none is on the fake upstream, so anything airlock asked
# for would show up in its hit counter.
NEW_CLASSES = {
    "numpi": "numpy",                  # a letter replaced by one that sounds alike
    "ettrs": "attrs",                  # the first letter of a short name
    "ric": "rich",                     # a letter dropped from a four-letter name
    "setuptool": "setuptools",         # a plural made singular
    "pandasx": "pandas",               # a letter added at the end
    "google-apis-core": "google-api-core",  # a word made plural inside the name
    "reqeustss": "requests",           # a swap plus a letter at the end
    "setoptuols": "setuptools",        # letters swapped across others
    "scikits-learns": "scikit-learn",  # every word made plural
    "python-requests": "requests",     # an affix in front of a top-200 name
    "requests-official": "requests",   # padding no real project adds (any rank)
    "cryptografy": "cryptography",     # another spelling that reads the same
    "tenserflow": "tensorflow",        # a vowel for a vowel in a long name (#908)
    "pygames": "pygame",               # a plural whose `s` is a neighbouring key
    "scarpy": "scrapy",                # a swap next to a crowded short name
    "flsk": "flask",                   # four letters left of a top-300 name
    "pycyrptodomne": "pycryptodome",   # two slips in a long single word
    "jupyterlad": "jupyterlab",       # another letter inside a long single word (#512)
    # session 9
    "python-dateutij": "python-dateutil",  # another letter inside a word of a multi-word name
    "conneptorx": "connectorx",        # ...and inside a long single word at any rank (#4029)
    "langchain-ollamac": "langchain-ollama",  # a letter after a long name at any rank (#2294)
    "litelm-lib": "litellm",           # a slip plus an affix
    "reqeutss": "requests",            # two separate swaps
    "numpyy3": "numpy",                # a doubled letter plus a digit, short name
    "djanjo": "django",                # g for j, a consonant that sounds alike (#528)
    "psulit": "psutil",                # letters swapped across one in a six-letter name
    # session 10
    "grq": "groq",                     # a letter from the middle of a four-letter name at any rank (#1023)
    "pytests-vcr": "pytest-vcr",       # the family word made plural at any rank (#3089)
    "dccker": "docker",                # a letter making three no popular name has
    "kwscli": "awscli",                # a first letter making an opening no popular name has
    "qrrow": "arrow",                  # a first letter making three no popular name has
    "opentelemetrys-exporters-otlps-protos-https": "opentelemetry-exporter-otlp-proto-http",  # five words made plural
    # session 11
    "icramp": "scramp",                # a first letter, no other protected name near (#465)
    "mypy-boto3-ssos": "mypy-boto3-sso",  # a family member's shared last word made plural (#3316)
}


def test_pip_and_uv_refuse_a_lookalike_of_each_new_class(make_server, clients):
    up = FakeUpstream().start()
    try:
        srv = make_server("--upstream", up.simple_url)
        index_url = srv.index_url("root/dev")
        for name, target in NEW_CLASSES.items():
            res, _ = clients.pip_install(index_url, name, check=False)
            assert res.returncode != 0, (name, res.output)
            assert f'looks like a typo of "{target}"' in res.output, (name, res.output)
            res, _ = clients.uv_install(index_url, name, check=False)
            assert res.returncode != 0, (name, res.output)
            assert "400" in res.output and target in res.output, (name, res.output)
        # nothing about any of them was asked of upstream
        asked = [p for p in up.hits if any(n in p for n in NEW_CLASSES)]
        assert asked == [], up.hits
    finally:
        up.stop()


@pytest.fixture(scope="module")
def setuptool_wheel(tmp_path_factory):
    """A real project named `setuptool` (a weak look-alike of setuptools)."""
    root = tmp_path_factory.mktemp("setuptool")
    proj = write_project(root / "src", "setuptool", "1.0.0", "setuptool", 'VERSION = "1.0.0"\n')
    proc = build_project(proj, root / "dist")
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    (wheel,) = (root / "dist").glob("*.whl")
    return wheel


def test_upstream_evidence_clears_an_established_weak_lookalike_only(make_server, clients, setuptool_wheel):
    up = FakeUpstream()
    up.add("setuptool", setuptool_wheel)
    # an old project with many releases of its own: let through
    up.facts("setuptool", "2014-03-01T10:00:00Z", 40, "https://github.com/someone/setuptool")
    # brand new, one release, claiming numpy's repository: refused
    up.facts("numpi", "2026-11-30T10:00:00Z", 1, "https://github.com/numpy/numpy")
    up.facts("numpy", "2006-01-01T00:00:00Z", 100, "https://github.com/numpy/numpy")
    up.start()
    try:
        srv = make_server("--upstream", up.simple_url, "--typo-evidence")
        index_url = srv.index_url("root/dev")

        _, target = clients.pip_install(index_url, "setuptool")
        assert clients.import_from(target, "setuptool") == "1.0.0"
        assert up.hits["/pypi/setuptool/json"] == 1, up.hits
        assert "let through on upstream evidence" in srv.log()

        res, _ = clients.uv_install(index_url, "numpi", check=False)
        assert res.returncode != 0 and "numpy" in res.output, res.output
        assert up.hits["/pypi/numpi/json"] >= 1, up.hits
        assert up.hits["/simple/numpi/"] == 0, up.hits

        # a strong look-alike is refused without asking upstream anything
        res, _ = clients.pip_install(index_url, "reqeustss", check=False)
        assert res.returncode != 0 and 'looks like a typo of "requests"' in res.output, res.output
        assert not [p for p in up.hits if "reqeustss" in p], up.hits
    finally:
        up.stop()

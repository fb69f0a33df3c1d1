#!/usr/bin/env python3
"""Web pages: airlock's HTML pages against devpi-web's, side by side in one run.

The issue's targets (issue 16): with the same 1,000-project workload in both
servers, airlock's project page, version page and search answer at least 30x
devpi-web's req/s, with a p99 under 10 ms at 32 connections; and the first
page after start with 100,000 projects in under 1 s.

What one run does:

1. devpi-server 6.20.3 + devpi-web (pinned below) are installed once into a
   venv under target/bench/ (kept there; a stamp file names the pins);
   airlock and the gen_index example are built in release mode (unless
   AIRLOCK_BIN is set, then only gen_index).
2. A workload is generated once (cached under target/bench/): N projects
   (default 1,000) x V versions (default 2), each version a wheel and an
   sdist whose metadata carry a summary made of searchable words, keywords,
   classifiers and a Markdown README (heading, list, table, fenced code).
3. Both servers start on 127.0.0.1 with empty data folders, get user
   `bench` and a private index `bench/dev` through their HTTP APIs, and every
   file is uploaded with the legacy upload API (multipart, like twine; 4 at
   a time; devpi with a login token, so its argon2 password check is not
   what is measured). For devpi, the run then waits for devpi-web's indexer
   (`/+status` serial = event-serial, then the last project found by search,
   then every query's answer unchanged for 3 s). The loaded devpi folder is
   cached under target/bench/ (keyed by workload and pins): its upload and
   indexing take minutes and are not what is measured.
4. Every page is checked once (status 200, Content-Type text/html, the
   project's name or a hit in the body) on both servers; then wrk -t2 -c32
   (--duration s after a 2 s warm-up, --reps times, servers interleaved)
   on: the project page `/bench/dev/<project>`, the version page
   `/bench/dev/<project>/<version>` (each spread over 200 projects by
   wrk_paths.lua) and search (`/+search?q=` on airlock, `?query=` on
   devpi-web, over a few query words), all with `Accept: text/html`. It
   prints req/s, p50, p99, the server's CPU ms per request and the ratio
   airlock/devpi-web per scenario.
   If airlock does not answer a page as HTML (the pages are not on the
   commit measured), that scenario is measured on what it does answer (the
   JSON API) and marked "JSON" in the table and the results.
5. First page after start: a data folder written by gen_index (default
   100,000 projects x 2 versions) is copied, airlock is started on it, and
   the time from spawn to the first 200 HTML project page and to the first
   search answer with the expected hit is taken, on the first start (which
   also stores the typosquat index of every name in the background) and on
   a restart. devpi-web is measured the same way at the workload's size:
   restarted with its Whoosh index in place, and with the index removed
   (it re-indexes every project before search finds anything). 100,000
   projects are not attempted for devpi (the output says why, with the
   upload and indexing rate this run saw).

The results JSON goes to bench/results/web-<time>.json (or --out). Every
process started here is stopped by PID (also on ctrl-c / SIGTERM); servers
listen on 127.0.0.1 only. Needs wrk (apt) and cargo; pip reaches PyPI once
to install the devpi venv.

    python3 bench/web_bench.py [--projects 1000] [--versions 2] [--duration 10] [--reps 1]
                               [--big-projects 100000] [--skip-first-page] [--out FILE]
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
if not TARGET.is_absolute():
    TARGET = REPO / TARGET
CACHE = TARGET / "bench"
WRK_LUA = REPO / "bench" / "wrk_paths.lua"
RESULTS = REPO / "bench" / "results"

# devpi-web 5.1.1 is the newest release on PyPI and requires
# devpi-server>=6.13.0 (its Requires-Dist), so it runs on 6.20.3.
DEVPI_PINS = ["devpi-server==6.20.3", "devpi-web==5.1.1"]
DEVPI_VENV = CACHE / "devpi-web-venv"

ROOT_PW = "web-bench-root"
USER, PW, INDEX = "bench", "web-bench-pw", "bench/dev"
GEN_INDEX, GEN_PW = "bench/big", "bench"
UPLOAD_THREADS = 4
PAGES_PER_SCENARIO = 200

# Searchable words: each summary takes three of them, so every word is in
# roughly 3/len(WORDS) of the projects.
WORDS = ["async", "parser", "crypto", "matrix", "render", "queue", "socket", "schema", "vector",
         "graph", "token", "stream", "cache", "shell", "image", "audio", "sensor", "ledger",
         "tensor", "widget", "plugin", "beacon", "cipher", "lambda", "kernel", "pixel",
         "router", "signal", "sketch", "tunnel", "vault", "weaver", "yaml", "zipper",
         "orbit", "prism", "quartz", "falcon", "harbor", "meadow"]
QUERIES = ["crypto", "matrix parser", "stream", "falcon", "tensor cache"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_NO_REDIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def log(msg: str) -> None:
    print(f"[web] {msg}", file=sys.stderr, flush=True)


def clean_env() -> dict:
    """The environment without pip/uv settings (a machine-wide find-links
    folder must not stand in for PyPI)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


# ---------------------------------------------------------------- processes

class Procs:
    """Processes this run started; stopped by PID, last first."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv, logfile: Path, env=None) -> subprocess.Popen:
        out = open(logfile, "ab")
        p = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=out, env=env)
        out.close()
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self) -> None:
        for p in reversed(list(self.procs)):
            self.stop(p)


PROCS = Procs()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(url: str, data: bytes | None = None, method: str | None = None,
            headers: dict | None = None, timeout: float = 60,
            follow: bool = True) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = _OPENER if follow else _NO_REDIRECT
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def wait_until(what: str, check, timeout: float, proc: subprocess.Popen | None = None,
               interval: float = 0.005) -> float:
    """Poll `check()` until it is true; the seconds it took."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the server exited with {proc.returncode}")
        try:
            if check():
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(interval)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


def wait_idle(pid: int, timeout: float, quiet_s: float = 3.0) -> float:
    """Seconds until the process burns at most one 10 ms CPU tick per 0.1 s
    for quiet_s in a row (the quiet stretch itself not counted)."""
    t0 = time.perf_counter()
    last, still, need = cpu_s(pid), 0, int(quiet_s * 10)
    while still < need:
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"pid {pid} still busy after {timeout:.0f} s")
        time.sleep(0.1)
        now = cpu_s(pid)
        still = still + 1 if now - last <= 0.011 else 0
        last = now
    return max(0.0, time.perf_counter() - t0 - quiet_s)


# ---------------------------------------------------------------- installs

def devpi_venv() -> Path:
    """devpi-server + devpi-web, pinned, installed once."""
    stamp = DEVPI_VENV / "web-bench-pins.txt"
    want = "\n".join(DEVPI_PINS) + "\n"
    if stamp.exists() and stamp.read_text() == want:
        return DEVPI_VENV
    log(f"installing {' '.join(DEVPI_PINS)} into {DEVPI_VENV}")
    shutil.rmtree(DEVPI_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(DEVPI_VENV)], check=True, timeout=300)
    subprocess.run([str(DEVPI_VENV / "bin" / "pip"), "--isolated", "install", "--quiet", *DEVPI_PINS],
                   check=True, timeout=900, env=clean_env())
    stamp.write_text(want)
    return DEVPI_VENV


def devpi_versions() -> str:
    out = subprocess.run([str(DEVPI_VENV / "bin" / "pip"), "--isolated", "list", "--format", "json"],
                         capture_output=True, text=True, check=True, timeout=120, env=clean_env()).stdout
    have = {p["name"].lower(): p["version"] for p in json.loads(out)}
    return ", ".join(f"{n} {have.get(n, '?')}" for n in ("devpi-server", "devpi-web", "whoosh", "waitress"))


def build(no_build: bool) -> tuple[Path, Path]:
    args = ["cargo", "build", "--release", "--locked", "--example", "gen_index"]
    if not os.environ.get("AIRLOCK_BIN"):
        args += ["--bin", "airlock"]
    if not no_build:
        log(" ".join(args))
        subprocess.run(args, cwd=REPO, check=True)
    airlock = Path(os.environ.get("AIRLOCK_BIN", TARGET / "release" / "airlock"))
    gen = TARGET / "release" / "examples" / "gen_index"
    for p in (airlock, gen):
        if not os.access(p, os.X_OK):
            raise SystemExit(f"web_bench: {p} is missing (cargo build --release --example gen_index)")
    return airlock, gen


def commit_measured() -> str:
    try:
        c = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src",
                                "Cargo.toml", "Cargo.lock"], capture_output=True, text=True).stdout
        return c + ("+uncommitted changes" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ---------------------------------------------------------------- workload

def project_name(i: int) -> str:
    return f"webproj-{i:04d}"


def project_words(i: int) -> list[str]:
    rng = random.Random(i)
    return rng.sample(WORDS, 3)


def readme(name: str, version: str, words: list[str]) -> str:
    a, b, c = words
    return f"""# {name}

`{name}` is a small **{a}** library with {b} and {c} helpers, generated
for airlock's web benchmark (version {version}).

## Features

- fast {a} handling, with *no* dependencies
- a {b} layer on top of the {c} primitives
- see [the documentation](https://example.invalid/{name}/) for more

## Usage

```python
import {name.replace('-', '_')}
{name.replace('-', '_')}.run("{a}", mode="{b}")
```

| option | default | meaning |
|--------|---------|---------|
| `{a}`  | `on`    | enables {a} |
| `{b}`  | `off`   | enables {b} |

> Released under the MIT license.
"""


def metadata(name: str, version: str, words: list[str]) -> dict:
    a, b, c = words
    return {
        "metadata_version": "2.1",
        "name": name,
        "version": version,
        "summary": f"A {a} toolkit with {b} and {c} support",
        "keywords": f"{a},{b},{c},benchmark",
        "author": "Web Bench",
        "license": "MIT",
        "requires_python": ">=3.8",
        "classifiers": ["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License",
                        "Topic :: Software Development :: Libraries"],
        "description_content_type": "text/markdown",
        "description": readme(name, version, words),
    }


def metadata_text(m: dict) -> str:
    lines = [f"Metadata-Version: {m['metadata_version']}", f"Name: {m['name']}", f"Version: {m['version']}",
             f"Summary: {m['summary']}", f"Keywords: {m['keywords']}", f"Author: {m['author']}",
             f"License: {m['license']}", f"Requires-Python: {m['requires_python']}"]
    lines += [f"Classifier: {c}" for c in m["classifiers"]]
    lines.append(f"Description-Content-Type: {m['description_content_type']}")
    return "\n".join(lines) + "\n\n" + m["description"]


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(m: dict) -> tuple[str, bytes]:
    dist = m["name"].replace("-", "_")
    info = f"{dist}-{m['version']}.dist-info"
    files = [(f"{dist}/__init__.py", f"VERSION = {m['version']!r}\n".encode()),
             (f"{info}/METADATA", metadata_text(m).encode()),
             (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: web_bench\nRoot-Is-Purelib: true\n"
                               b"Tag: py3-none-any\n")]
    record = "\n".join(record_line(p, d) for p, d in files) + f"\n{info}/RECORD,,\n"
    files.append((f"{info}/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files:
            zi = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return f"{dist}-{m['version']}-py3-none-any.whl", buf.getvalue()


def build_sdist(m: dict) -> tuple[str, bytes]:
    dist = m["name"].replace("-", "_")
    root = f"{dist}-{m['version']}"
    files = [(f"{root}/PKG-INFO", metadata_text(m).encode()),
             (f"{root}/pyproject.toml", f'[project]\nname = "{m["name"]}"\nversion = "{m["version"]}"\n'.encode()),
             (f"{root}/{dist}/__init__.py", f"VERSION = {m['version']!r}\n".encode())]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as t:
        for path, data in files:
            ti = tarfile.TarInfo(path)
            ti.size, ti.mtime, ti.mode = len(data), 1704067200, 0o644
            t.addfile(ti, io.BytesIO(data))
    return f"{root}.tar.gz", buf.getvalue()


def versions_of(n: int) -> list[str]:
    return [f"1.{v}.0" for v in range(n)]


def workload(projects: int, versions: int) -> Path:
    """The workload folder (files + manifest.json), generated once."""
    folder = CACHE / f"web-workload-p{projects}-v{versions}"
    if (folder / "manifest.json").exists():
        return folder
    log(f"generating {projects} projects x {versions} versions into {folder}")
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "files").mkdir(parents=True)
    manifest = []
    for i in range(projects):
        name, words = project_name(i), project_words(i)
        for version in versions_of(versions):
            m = metadata(name, version, words)
            for fname, data in (build_wheel(m), build_sdist(m)):
                (folder / "files" / fname).write_bytes(data)
                manifest.append({"project": name, "version": version, "file": fname,
                                 "sha256": hashlib.sha256(data).hexdigest(), "words": words})
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def multipart(fields: list[tuple[str, str]], filename: str, data: bytes) -> tuple[str, bytes]:
    boundary = "webbench" + hashlib.sha256(data).hexdigest()[:24]
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def upload_all(url: str, auth: str, folder: Path, manifest: list[dict]) -> float:
    """Every file of the workload, posted like twine (metadata in the form
    too: devpi keeps what the form says). Returns the seconds it took."""

    def one(entry: dict) -> None:
        data = (folder / "files" / entry["file"]).read_bytes()
        m = metadata(entry["project"], entry["version"], entry["words"])
        fields = [(":action", "file_upload"), ("protocol_version", "1"),
                  ("filetype", "bdist_wheel" if entry["file"].endswith(".whl") else "sdist"),
                  ("pyversion", "py3" if entry["file"].endswith(".whl") else "source"),
                  ("sha256_digest", entry["sha256"])]
        fields += [(k, v) for k, v in m.items() if k != "classifiers"]
        fields += [("classifiers", c) for c in m["classifiers"]]
        ctype, body = multipart(fields, entry["file"], data)
        status, _, text = request(url, data=body, method="POST", timeout=120,
                                  headers={"Content-Type": ctype, "Authorization": auth})
        if status != 200:
            raise RuntimeError(f"upload of {entry['file']} to {url}: {status} {text[:300]!r}")

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for i, _ in enumerate(pool.map(one, manifest), 1):
            if i % 500 == 0:
                log(f"  {i}/{len(manifest)} files uploaded ({time.perf_counter() - t0:.0f} s)")
    return time.perf_counter() - t0


# ---------------------------------------------------------------- servers

class Airlock:
    name = "airlock"
    search_param = "q"

    def __init__(self, binary: Path, data: Path, logfile: Path, index: str = INDEX):
        self.binary, self.data, self.logfile, self.index = binary, data, logfile, index
        self.proc: subprocess.Popen | None = None

    def spawn(self) -> float:
        """Start the server; returns perf_counter() at spawn."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        policies = self.data.parent / "no-policies"
        policies.mkdir(parents=True, exist_ok=True)
        env = dict(clean_env(), AIRLOCK_ROOT_PASSWORD=ROOT_PW, AIRLOCK_LOG="warn")
        t0 = time.perf_counter()
        self.proc = PROCS.start([self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data",
                                 self.data, "--offline", "--policies", policies, "--log-format", "json"],
                                self.logfile, env=env)
        return t0

    def start(self) -> None:
        self.spawn()
        wait_until("airlock /+api", lambda: request(f"{self.base}/+api", timeout=2)[0] == 200, 300, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            PROCS.stop(self.proc)
            self.proc = None

    def setup(self) -> None:
        status, _, body = request(f"{self.base}/{USER}", json.dumps({"password": PW}).encode(), "PUT",
                                  {"Content-Type": "application/json", "Accept": "application/json",
                                   "Authorization": basic("root", ROOT_PW)})
        if status not in (200, 201):
            raise RuntimeError(f"airlock: creating {USER}: {status} {body[:300]!r}")
        status, _, body = request(f"{self.base}/{INDEX}", json.dumps({"volatile": True}).encode(), "PUT",
                                  {"Content-Type": "application/json", "Accept": "application/json",
                                   "Authorization": basic(USER, PW)})
        if status not in (200, 201):
            raise RuntimeError(f"airlock: creating {INDEX}: {status} {body[:300]!r}")

    def allow_names(self, names: list[str]) -> None:
        """The workload's names differ by a digit or two, so airlock's
        typosquat gate takes them for look-alikes of each other; allow them
        on the index, as an operator would (setup, not measured)."""
        for name in names:
            status, _, body = request(f"{self.base}/{INDEX}/+typo/{name}", json.dumps({"verdict": "allow"}).encode(),
                                      "PUT", {"Content-Type": "application/json", "Accept": "application/json",
                                              "Authorization": basic(USER, PW)})
            if status not in (200, 201):
                raise RuntimeError(f"airlock: allowing {name}: {status} {body[:300]!r}")

    def upload_auth(self) -> str:
        return basic(USER, PW)


class Devpi:
    name = "devpi-web"
    search_param = "query"

    def __init__(self, serverdir: Path, logfile: Path):
        self.serverdir, self.logfile = serverdir, logfile
        self.proc: subprocess.Popen | None = None
        self.bin = DEVPI_VENV / "bin"

    def init(self) -> None:
        # No root/pypi: devpi-web would index PyPI's names, and nothing here
        # may reach outside the machine.
        subprocess.run([self.bin / "devpi-init", "--serverdir", self.serverdir, "--root-passwd", ROOT_PW,
                        "--no-root-pypi"], check=True, capture_output=True, timeout=300, env=clean_env())

    def spawn(self) -> float:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        t0 = time.perf_counter()
        self.proc = PROCS.start([self.bin / "devpi-server", "--serverdir", self.serverdir, "--host",
                                 "127.0.0.1", "--port", self.port, "--offline-mode"],
                                self.logfile, env=clean_env())
        return t0

    def start(self) -> None:
        self.spawn()
        wait_until("devpi /+api", lambda: request(f"{self.base}/+api", timeout=2)[0] == 200, 600, self.proc,
                   interval=0.05)

    def stop(self) -> None:
        if self.proc is not None:
            PROCS.stop(self.proc)
            self.proc = None

    def setup(self) -> None:
        status, _, body = request(f"{self.base}/{USER}", json.dumps({"password": PW}).encode(), "PUT",
                                  {"Content-Type": "application/json", "Accept": "application/json"})
        if status not in (200, 201):
            raise RuntimeError(f"devpi: creating {USER}: {status} {body[:300]!r}")
        status, _, body = request(f"{self.base}/{INDEX}",
                                  json.dumps({"type": "stage", "bases": [], "volatile": True}).encode(), "PUT",
                                  {"Content-Type": "application/json", "Accept": "application/json",
                                   "Authorization": self.upload_auth()})
        if status not in (200, 201):
            raise RuntimeError(f"devpi: creating {INDEX}: {status} {body[:300]!r}")

    def upload_auth(self) -> str:
        # A login token: what devpi-client sends; the password itself would
        # cost an argon2 hash per upload.
        if not getattr(self, "_token", None):
            status, _, body = request(f"{self.base}/+login", json.dumps({"user": USER, "password": PW}).encode(),
                                      "POST", {"Content-Type": "application/json", "Accept": "application/json"})
            if status != 200:
                raise RuntimeError(f"devpi: login: {status} {body[:300]!r}")
            self._token = json.loads(body)["result"]["password"]
        return basic(USER, self._token)

    def status(self) -> dict:
        return json.loads(request(f"{self.base}/+status", headers={"Accept": "application/json"})[2])["result"]


# ---------------------------------------------------------------- pages

def html_get(url: str, needle: str | list[str], accept: str = "text/html") -> tuple[bool, str]:
    """(is it a 200 answer of the type asked for, containing needle (or one
    of a list of them); what it was)."""
    status, headers, body = request(url, headers={"Accept": accept}, follow=False, timeout=30)
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    found = any(n.encode() in body for n in ([needle] if isinstance(needle, str) else needle))
    ok = status == 200 and ctype.startswith(accept) and found
    return ok, f"{status} {ctype or '-'} {len(body)} bytes{'' if found else ', needle missing'}"


def search_path(server, query: str, index: str | None = None) -> str:
    q = urllib.parse.urlencode({server.search_param: query})
    return f"/+search?{q}"


def expected_hits(manifest: list[dict], query: str) -> list[str]:
    """The projects whose summary has every word of the query (a first page
    of results holds some of them, in the server's own order)."""
    words = query.split()
    hits = sorted({e["project"] for e in manifest if all(w in e["words"] for w in words)})
    if not hits:
        raise SystemExit(f"web_bench: no project matches the query {query!r}; change QUERIES")
    # A link to the project in HTML, its name as a JSON string otherwise.
    return [f"/{INDEX}/{h}" for h in hits] + [f'"{h}"' for h in hits]


def scenario_paths(manifest: list[dict], server, versions: int) -> dict[str, tuple[list[str], list[str]]]:
    """Per scenario: the paths wrk walks through and, for each, the text the
    page must contain."""
    projects = sorted({e["project"] for e in manifest})
    step = max(1, len(projects) // PAGES_PER_SCENARIO)
    chosen = projects[::step][:PAGES_PER_SCENARIO]
    last = versions_of(versions)
    project = ([f"/{INDEX}/{p}" for p in chosen], chosen)
    version = ([f"/{INDEX}/{p}/{last[i % len(last)]}" for i, p in enumerate(chosen)], chosen)
    search = ([search_path(server, q) for q in QUERIES], [expected_hits(manifest, q) for q in QUERIES])
    return {"project_page": project, "version_page": version, "search": search}


def check_pages(server, paths: list[str], needles: list[str]) -> tuple[str, str]:
    """Every path answered as HTML with its needle? Returns (accept header to
    measure with, note). airlock falls back to JSON when it has no page."""
    bad = []
    for p, n in zip(paths, needles):
        ok, what = html_get(server.base + p, n)
        if not ok:
            bad.append((p, what))
    if not bad:
        return "text/html", "html"
    if server.name != "airlock":
        raise RuntimeError(f"{server.name}: {len(bad)} of {len(paths)} pages are not right, e.g. {bad[0]}")
    # No HTML page on this commit: measure what airlock does answer.
    p = paths[0]
    status, headers, body = request(server.base + p, headers={"Accept": "application/json"}, follow=False)
    if status != 200:
        log(f"airlock has no page and no JSON at {p} ({bad[0][1]}; JSON: {status}): not measured")
        return "", f"no page, no JSON: {bad[0][1].split(';')[0]}"
    log(f"airlock: {p} is not an HTML page ({bad[0][1]}): measuring the JSON answer instead")
    return "application/json", f"JSON (no HTML page: {bad[0][1]})"


def wrk(base: str, paths: list[str], accept: str, duration: int, pid: int, scratch: Path) -> dict:
    plist = scratch / f"paths-{hashlib.sha256(''.join(paths).encode()).hexdigest()[:12]}.txt"
    plist.write_text("\n".join(paths) + "\n")
    args = ["wrk", "-t2", "-c32", f"-d{duration}s", "--timeout", "10s", "-s", str(WRK_LUA),
            "-H", f"Accept: {accept}", base, "--", str(plist)]
    c0 = cpu_s(pid)
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    c1 = cpu_s(pid)
    line = next(l for l in out.splitlines() if l.startswith("WRK_JSON "))
    r = json.loads(line[len("WRK_JSON "):])
    secs = r["duration_us"] / 1e6
    return {"rps": r["requests"] / secs, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "max_ms": r["max_us"] / 1000, "requests": r["requests"], "errors": r["errors"],
            "cpu_ms_per_req": (c1 - c0) * 1000 / max(1, r["requests"]),
            "load1": os.getloadavg()[0]}


# ---------------------------------------------------------------- devpi load

def devpi_wait_indexed(d: Devpi, manifest: list[dict], timeout: float) -> float:
    """Until devpi-web has indexed everything: serial caught up, the last
    project found, and every query's page unchanged for 3 s."""
    t0 = time.perf_counter()
    wait_until("devpi event-serial", lambda: (lambda s: s["serial"] <= s["event-serial"])(d.status()),
               timeout, d.proc, interval=0.5)
    last = manifest[-1]["project"]
    wait_until("devpi-web: last project searchable",
               lambda: html_get(d.base + search_path(d, last), f"/{INDEX}/{last}")[0],
               timeout, d.proc, interval=0.5)

    def pages() -> list[list[bytes]]:
        # The projects each answer links to (devpi-web's snippets differ
        # from one request to the next, its hits do not).
        return [sorted(set(re.findall(rb"/bench/dev/([A-Za-z0-9._-]+)/", request(
            d.base + search_path(d, q), headers={"Accept": "text/html"})[2]))) for q in QUERIES]

    before, still = pages(), 0
    while still < 3:
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError("devpi-web: search answers still changing")
        time.sleep(1)
        now = pages()
        still = still + 1 if now == before else 0
        before = now
    return time.perf_counter() - t0


def devpi_loaded(folder: Path, manifest: list[dict], scratch: Path, timeout: float) -> tuple[Path, dict]:
    """A devpi serverdir holding the workload, indexed; built once and cached."""
    key = hashlib.sha256((json.dumps(DEVPI_PINS) + (folder / "manifest.json").read_text()).encode()).hexdigest()[:16]
    cached = CACHE / f"devpi-loaded-{folder.name}-{key}"
    facts_file = cached / "web-bench-load.json"
    if facts_file.exists():
        log(f"devpi: using the loaded server folder cached at {cached}")
        return cached / "server", json.loads(facts_file.read_text())
    partial = cached.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    d = Devpi(partial / "server", scratch / "devpi-load.log")
    d.init()
    d.start()
    try:
        d.setup()
        log(f"devpi: uploading {len(manifest)} files")
        upload_s = upload_all(f"{d.base}/{INDEX}/", d.upload_auth(), folder, manifest)
        log(f"devpi: uploaded in {upload_s:.0f} s; waiting for devpi-web's indexer")
        index_s = devpi_wait_indexed(d, manifest, timeout)
        index_s += wait_idle(d.proc.pid, timeout)
        log(f"devpi: indexed {index_s:.0f} s after the last upload")
    finally:
        d.stop()
    facts = {"upload_s": upload_s, "indexed_after_upload_s": index_s, "files": len(manifest)}
    (partial / "web-bench-load.json").write_text(json.dumps(facts))
    partial.rename(cached)
    return cached / "server", facts


# ---------------------------------------------------------------- first page

def first_page(server, project_path: str, project: str, search: str, hit: str, timeout: float,
               accept: tuple[str, str | None] = ("text/html", "text/html")) -> dict:
    """Spawn the server; seconds until the first 200 HTML project page and
    the first search answer naming `hit` (each polled every 5 ms). `accept`:
    what to ask the page and the search for (airlock without pages: JSON)."""
    t0 = server.spawn()
    try:
        page_s = search_s = None
        try:
            wait_until(f"{server.name} first project page",
                       lambda: html_get(server.base + project_path, project, accept[0])[0], timeout, server.proc)
            page_s = time.perf_counter() - t0
        except RuntimeError as e:
            log(str(e))
        try:
            if accept[1]:  # None: the server has no search to ask
                wait_until(f"{server.name} first search answer",
                           lambda: html_get(server.base + search, hit, accept[1])[0], timeout, server.proc)
                search_s = time.perf_counter() - t0
        except RuntimeError as e:
            log(str(e))
        # Background work after start (devpi-web re-indexes every project
        # on start; airlock's first start stores the typosquat index).
        began = time.perf_counter()
        idle_s = (began - t0) + wait_idle(server.proc.pid, 3600)
        return {"project_page_s": page_s, "search_s": search_s, "idle_s": idle_s}
    finally:
        server.stop()


def airlock_first_page(airlock: Path, gen: Path, projects: int, versions: int, scratch: Path,
                       timeout: float, accept: tuple[str, str | None]) -> dict:
    source = CACHE / f"web-gen-p{projects}-v{versions}"
    if not (source / ".generated").exists():
        shutil.rmtree(source, ignore_errors=True)
        partial = source.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        log(f"gen_index: {projects} projects x {versions} versions into {source}")
        subprocess.run([gen, "--data", partial, "--projects", str(projects), "--versions", str(versions),
                        "--index", GEN_INDEX, "--password", GEN_PW], check=True)
        partial.rename(source)
        (source / ".generated").write_text(f"{projects} {versions}\n")
    data = scratch / f"airlock-first-{projects}"
    shutil.copytree(source, data)
    os.sync()
    middle = f"scale-{projects // 2:06d}"
    srv = Airlock(airlock, data, scratch / "airlock-first.log", GEN_INDEX)
    path = f"/{GEN_INDEX}/{middle}"
    search = f"/+search?{urllib.parse.urlencode({'q': middle})}"
    res = {"projects": projects, "files": projects * versions * 2, "accept": list(accept)}
    res["first_start"] = first_page(srv, path, middle, search, middle, timeout, accept)
    time.sleep(3)
    # Let the first start's background work (the typosquat index of every
    # name) finish, so the restart is what a running site sees.
    srv.spawn()
    try:
        wait_until("airlock /+api", lambda: request(f"{srv.base}/+api", timeout=2)[0] == 200, timeout, srv.proc)
        last, still = cpu_s(srv.proc.pid), 0
        deadline = time.perf_counter() + timeout
        while still < 10 and time.perf_counter() < deadline:
            time.sleep(0.1)
            now = cpu_s(srv.proc.pid)
            still = still + 1 if now - last <= 0.011 else 0
            last = now
    finally:
        srv.stop()
    os.sync()
    res["restart"] = first_page(srv, path, middle, search, middle, timeout, accept)
    shutil.rmtree(data, ignore_errors=True)
    return res


def devpi_first_page(serverdir: Path, manifest: list[dict], scratch: Path, timeout: float) -> dict:
    project = manifest[len(manifest) // 2]["project"]
    query = QUERIES[0]
    hits = expected_hits(manifest, query)
    res = {"projects": len({e["project"] for e in manifest})}
    for label, drop_index in (("restart", False), ("index_removed", True)):
        copy = scratch / f"devpi-first-{label}"
        shutil.copytree(serverdir, copy)
        if drop_index:
            shutil.rmtree(copy / ".indices", ignore_errors=True)
        os.sync()
        d = Devpi(copy, scratch / f"devpi-first-{label}.log")
        res[label] = first_page(d, f"/{INDEX}/{project}", project, search_path(d, query), hits, timeout)
        shutil.rmtree(copy, ignore_errors=True)
    return res


# ---------------------------------------------------------------- report

def devpi_note(res: dict, big: int) -> str:
    """Why devpi-web is not measured at `big` projects, from this run's
    figures: its loading rate and its re-index (start with .indices/
    removed until idle; its search answers with partial hits long before)."""
    facts, d = res["devpi_load"], res["first_page"]["devpi-web"]
    rate = facts["files"] / (facts["upload_s"] + facts["indexed_after_upload_s"])
    scale = big / max(1, d["projects"])
    reindex = d["index_removed"]["idle_s"]
    return (f"devpi-web at {big:,} projects was not attempted: loading took {facts['upload_s']:.0f} s of "
            f"uploads + {facts['indexed_after_upload_s']:.0f} s of indexing for {facts['files']:,} files "
            f"({rate:.1f} files/s), about {scale * facts['files'] / rate / 3600:.1f} h at {big:,} projects; "
            f"its re-index on a start without its index took {reindex:.0f} s at {d['projects']:,} projects "
            f"(spawn to idle; x{scale:.0f} would be ~{reindex * scale / 3600:.1f} h), and its searches "
            f"meanwhile answer from the part already indexed.")


def fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def report(res: dict) -> str:
    lines = [f"airlock {res['airlock_version']} (commit {res['commit']}) vs {res['devpi_versions']}; "
             f"{res['projects']:,} projects x {res['versions']} versions, wrk -t2 -c32, "
             f"{res['duration_s']} s x {res['reps']} (medians)", "",
             "| scenario | airlock req/s | p50 ms | p99 ms | CPU ms/req | devpi-web req/s | p50 ms | p99 ms "
             "| CPU ms/req | airlock / devpi-web | target ≥30x, p99 < 10 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, sc in res["scenarios"].items():
        a, d = sc.get("airlock"), sc.get("devpi-web")
        mode = sc.get("airlock_mode", "html")
        acells = (f"{fmt(a['rps'])} | {fmt(a['p50_ms'])} | {fmt(a['p99_ms'])} | {a['cpu_ms_per_req']:.3f}"
                  if a else f"{mode} | | |")
        dcells = (f"{fmt(d['rps'])} | {fmt(d['p50_ms'])} | {fmt(d['p99_ms'])} | {d['cpu_ms_per_req']:.2f}"
                  if d else "- | | |")
        if a and d:
            ratio = a["rps"] / d["rps"] if d["rps"] else float("inf")
            met = ("ratio met" if ratio >= 30 else "**ratio not met**") + (
                ", p99 met" if a["p99_ms"] < 10 else ", **p99 not met**")
            if mode != "html":
                met += " (but not on an HTML page)"
            rcell = f"{ratio:.1f}x | {met}"
        else:
            rcell = "- | not measured"
        label = name if mode == "html" or not a else f"{name} (airlock: JSON, no HTML page)"
        lines.append(f"| {label} | {acells} | {dcells} | {rcell} |")
    fp = res.get("first_page")
    if fp:
        lines += ["", "| first page after start (from spawn) | projects | project page s | search answer s "
                      "| idle s | ", "|---|---|---|---|---|"]
        a = fp.get("airlock")
        if a:
            for label in ("first_start", "restart"):
                r = a[label]
                lines.append(f"| airlock, {label.replace('_', ' ')} | {a['projects']:,} | "
                             f"{fmt(r['project_page_s'])} | {fmt(r['search_s'])} | {fmt(r['idle_s'])} |")
        d = fp.get("devpi-web")
        if d:
            for label in ("restart", "index_removed"):
                r = d[label]
                lines.append(f"| devpi-web, {label.replace('_', ' ')} | {d['projects']:,} | "
                             f"{fmt(r['project_page_s'])} | {fmt(r['search_s'])} | {fmt(r['idle_s'])} |")
        if a and a.get("accept", ["text/html"] * 2) != ["text/html"] * 2:
            page, search = a["accept"]
            lines += ["", f"airlock's first project page was asked for as {page}; "
                      + (f"its search as {search}" if search else "its search not at all (none on the commit measured)")
                      + "."]
        if fp.get("devpi_100k_note"):
            lines += ["", fp["devpi_100k_note"]]
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, default=1000, help="projects in the workload (default 1000)")
    ap.add_argument("--versions", type=int, default=2, help="versions per project, each a wheel and an sdist")
    ap.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (default 10)")
    ap.add_argument("--reps", type=int, default=1, help="wrk runs per scenario and server (median reported)")
    ap.add_argument("--big-projects", type=int, default=100_000,
                    help="projects in airlock's first-page-after-start folder (gen_index; default 100000)")
    ap.add_argument("--skip-first-page", action="store_true", help="skip the first-page-after-start figures")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo (binaries must exist)")
    ap.add_argument("--index-timeout", type=float, default=3600, help="seconds to wait for devpi-web's indexer")
    ap.add_argument("--out", type=Path, help="results JSON (default bench/results/web-<time>.json)")
    ap.add_argument("--report", type=Path, help="only print the table of an earlier results JSON")
    args = ap.parse_args()
    if args.report:
        res = json.loads(args.report.read_text())
        if res.get("first_page", {}).get("devpi-web") and res.get("devpi_load"):
            res["first_page"]["devpi_100k_note"] = devpi_note(res, res["first_page"]["airlock"]["projects"])
        print(report(res))
        return 0
    if not shutil.which("wrk"):
        print("web_bench: wrk is missing (apt-get install -y wrk)", file=sys.stderr)
        return 2

    def on_signal(signum, _frame):
        PROCS.stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    devpi_venv()
    airlock_bin, gen = build(args.no_build)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    scratch = CACHE / f"web-run-{stamp}"
    scratch.mkdir(parents=True)
    folder = workload(args.projects, args.versions)
    manifest = json.loads((folder / "manifest.json").read_text())
    version = subprocess.run([str(airlock_bin), "--version"], capture_output=True, text=True).stdout.strip()
    res: dict = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "commit": commit_measured(),
                 "airlock_version": version, "devpi_versions": devpi_versions(), "projects": args.projects,
                 "versions": args.versions, "files": len(manifest), "duration_s": args.duration,
                 "reps": args.reps, "queries": QUERIES, "scenarios": {}}
    try:
        serverdir, devpi_facts = devpi_loaded(folder, manifest, scratch, args.index_timeout)
        res["devpi_load"] = devpi_facts

        a = Airlock(airlock_bin, scratch / "airlock-data", scratch / "airlock.log")
        a.start()
        a.setup()
        a.allow_names(sorted({e["project"] for e in manifest}))
        log(f"airlock: uploading {len(manifest)} files")
        res["airlock_upload_s"] = upload_all(f"{a.base}/{INDEX}/", a.upload_auth(), folder, manifest)
        log(f"airlock: uploaded in {res['airlock_upload_s']:.0f} s")
        dcopy = scratch / "devpi-server"
        shutil.copytree(serverdir, dcopy)
        d = Devpi(dcopy, scratch / "devpi.log")
        d.start()
        # devpi-web re-indexes every project on start (and answers searches
        # from a half-written index meanwhile): measure once it is done.
        log("devpi: waiting for devpi-web's re-index after start")
        res["devpi_reindex_on_start_s"] = wait_idle(d.proc.pid, args.index_timeout)
        log(f"devpi: idle after {res['devpi_reindex_on_start_s']:.0f} s")
        res["airlock_idle_after_upload_s"] = wait_idle(a.proc.pid, 600)
        servers = [a, d]

        plans = {}
        for s in servers:
            for name, (paths, needles) in scenario_paths(manifest, s, args.versions).items():
                accept, mode = check_pages(s, paths, needles)
                plans[(s.name, name)] = (paths, accept)
                sc = res["scenarios"].setdefault(name, {})
                if s.name == "airlock":
                    sc["airlock_mode"] = mode
                sc.setdefault("runs", {}).setdefault(s.name, [])
        for rep in range(args.reps):
            for name in res["scenarios"]:
                for s in servers:
                    paths, accept = plans[(s.name, name)]
                    if not accept:
                        continue
                    wrk(s.base, paths, accept, 2, s.proc.pid, scratch)  # warm-up, discarded
                    r = wrk(s.base, paths, accept, args.duration, s.proc.pid, scratch)
                    log(f"rep {rep + 1} {name} {s.name}: {r['rps']:,.0f} req/s, p99 {r['p99_ms']:.2f} ms, "
                        f"{r['errors']} errors")
                    if r["errors"]:
                        raise RuntimeError(f"{s.name} {name}: wrk saw {r['errors']} errors")
                    res["scenarios"][name]["runs"][s.name].append(r)
        for sc in res["scenarios"].values():
            for sname, runs in sc["runs"].items():
                if runs:
                    sc[sname] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        a.stop()
        d.stop()

        if not args.skip_first_page:
            fp = res["first_page"] = {}
            fp["devpi-web"] = devpi_first_page(serverdir, manifest, scratch, args.index_timeout)
            accept = (plans[("airlock", "project_page")][1] or "text/html", plans[("airlock", "search")][1] or None)
            fp["airlock"] = airlock_first_page(airlock_bin, gen, args.big_projects, 2, scratch, 120, accept)
            fp["devpi_100k_note"] = devpi_note(res, args.big_projects)
    except BaseException as e:
        res["error"] = repr(e)
        raise
    finally:
        PROCS.stop_all()
        RESULTS.mkdir(exist_ok=True)
        out = args.out or RESULTS / f"web-{stamp}.json"
        out.write_text(json.dumps(res, indent=2))
    print(report(res))
    print(f"\nresults JSON: {out}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

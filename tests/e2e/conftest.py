"""Fixtures for the end-to-end tests: the real airlock binary, real clients.

* ``dists``: fixture distributions built once per session with
  ``python -m build`` from tiny generated projects (nothing binary is
  committed).
* ``server`` (one per test module) and ``make_server`` (per test): a running
  ``airlock serve`` on 127.0.0.1 with a fresh data folder.
* ``Clients``: pip, uv and twine run as subprocesses in an environment
  scrubbed of every PIP_*/UV_*/TWINE_* variable, so that nothing but the
  server under test can satisfy an install.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
ROOT_PASSWORD = "secret-root-pw"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CLIENT_TIMEOUT = 180.0
LISTENING = re.compile(r"airlock listening on (https?://127\.0\.0\.1:\d+)")
# Files of the data folder that change on every start or every read (the
# database and its journal); everything else is compared byte for byte.
VOLATILE_DATA_FILES = re.compile(r"\.(sqlite3?|db)(-wal|-shm|-journal)?$|-(wal|shm|journal)$")


# --------------------------------------------------------------------------
# The binary and the server process
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def airlock_bin() -> Path:
    path = Path(os.environ.get("AIRLOCK_BIN", REPO / "target" / "debug" / "airlock"))
    if not path.is_file():
        pytest.exit(f"airlock binary not found at {path}: run `cargo build` (or bash tests/run.sh)", 2)
    return path


_unique = itertools.count(1)


def unique(prefix: str) -> str:
    """A fresh name (for users and indexes), unique within this session."""
    return f"{prefix}{next(_unique)}"


def on_postgres() -> bool:
    """`AIRLOCK_E2E_DATABASE=postgres`: every server this suite starts keeps
    its metadata in a private PostgreSQL cluster and its files in a private
    S3 bucket (tests/e2e/engines.py) instead of its data folder."""
    return os.environ.get("AIRLOCK_E2E_DATABASE") == "postgres"


class Server:
    """One `airlock serve` process. Start, stop (SIGTERM) and restart it on
    the same data folder; talk to its JSON API with requests."""

    def __init__(self, binary: Path, data: Path, logdir: Path, args=(), env=None):
        self.binary = binary
        self.data = data
        self.logdir = logdir
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.starts = 0
        self._tokens: dict[str, str] = {}
        # (PgCluster, S3) when the suite runs on PostgreSQL + S3
        self.engines = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "Server":
        assert self.proc is None, "server already running"
        if on_postgres() and self.engines is None and "--database" not in self.args:
            # the metadata in a private PostgreSQL, the files in a private
            # bucket; both kept for restarts, stopped with the pool (or at exit)
            from engines import S3, PgCluster
            pg = PgCluster()
            s3 = S3(self.binary.parent / "examples" / "s3_server")
            self.engines = (pg, s3)
            self.args += ["--database", pg.url, "--blobs", s3.blobs("e2e")]
            self.extra_env.update({"AIRLOCK_DATABASE_PASSWORD": pg.password, **s3.env()})
        self.starts += 1
        self.logdir.mkdir(parents=True, exist_ok=True)
        stdout_path = self.logdir / f"stdout-{self.starts}.log"
        self.stderr_path = self.logdir / f"stderr-{self.starts}.log"
        env = scrubbed_env()
        env["AIRLOCK_ROOT_PASSWORD"] = ROOT_PASSWORD
        env.setdefault("AIRLOCK_LOG", "info,tower_http=debug")
        for key, value in self.extra_env.items():  # None: unset (e.g. AIRLOCK_ROOT_PASSWORD)
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        with open(stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(self.binary), "serve", "--listen", "127.0.0.1:0", "--data", str(self.data), *self.args,
                 # tests never reach the internet: without an explicit upstream
                 # the root/pypi mirror runs offline
                 *([] if {"--upstream", "--offline"} & set(self.args) else ["--offline"]),
                 # core tests run without policies; policy tests pass --policies
                 *([] if "--policies" in self.args else ["--policies", str(self._no_policies())])],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            m = LISTENING.search(stdout_path.read_text(errors="replace"))
            if m:
                self.url = m.group(1)
                self._tokens.clear()
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        code = self.proc.poll()
        self._kill()
        raise RuntimeError(
            f"airlock did not start (exit code {code}).\nstdout:\n{stdout_path.read_text()}\n"
            f"stderr:\n{self.stderr_path.read_text()}"
        )

    def _no_policies(self) -> Path:
        empty = self.data.parent / "no-policies"
        empty.mkdir(parents=True, exist_ok=True)
        return empty

    def stop(self) -> int:
        """SIGTERM, wait; SIGKILL after a timeout. Returns the exit code."""
        if self.proc is None:
            return 0
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
                raise AssertionError(f"airlock (pid {proc.pid}) ignored SIGTERM for {STOP_TIMEOUT}s; killed")
        self.proc = None
        return proc.returncode

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        self.proc = None

    def restart(self) -> "Server":
        code = self.stop()
        assert code == 0, f"airlock exited with {code} on SIGTERM; log:\n{self.log()}"
        return self.start()

    def stdout(self) -> str:
        """What the server printed on standard output, over all its starts."""
        return "".join(
            (self.logdir / f"stdout-{n}.log").read_text(errors="replace") for n in range(1, self.starts + 1)
        )

    def log(self) -> str:
        """Everything the server wrote to stderr, over all its starts."""
        return "".join(
            (self.logdir / f"stderr-{n}.log").read_text(errors="replace") for n in range(1, self.starts + 1)
        )

    # -- URLs ----------------------------------------------------------------

    def index_url(self, index: str) -> str:
        """The simple index URL pip and uv use (`--index-url`)."""
        return f"{self.url}/{index}/+simple/"

    def upload_url(self, index: str) -> str:
        """The URL twine uploads to."""
        return f"{self.url}/{index}/"

    # -- JSON API --------------------------------------------------------------

    def token(self, user: str, password: str) -> str:
        if user not in self._tokens:
            r = requests.post(f"{self.url}/+login", json={"user": user, "password": password}, timeout=30)
            assert r.status_code == 200, f"login {user}: {r.status_code} {r.text}"
            self._tokens[user] = r.json()["result"]["password"]
        return self._tokens[user]

    def api(self, method: str, path: str, *, as_user=None, json=None, expect=None) -> requests.Response:
        """A JSON API call, optionally authenticated as ``(user, password)``."""
        headers = {"Accept": "application/json"}
        auth = None
        if as_user is not None:
            user, password = as_user
            auth = (user, self.token(user, password))
        r = requests.request(method, f"{self.url}/{path.lstrip('/')}", json=json, headers=headers, auth=auth, timeout=30)
        if expect is not None:
            assert r.status_code == expect, f"{method} /{path}: expected {expect}, got {r.status_code}: {r.text}"
        return r

    def create_user(self, name: str, password: str) -> tuple[str, str]:
        self.api(
            "PUT",
            name,
            as_user=("root", ROOT_PASSWORD),
            json={"password": password, "email": f"{name}@example.org"},
            expect=201,
        )
        return (name, password)

    def create_index(self, owner: tuple[str, str], name: str, **config) -> str:
        path = f"{owner[0]}/{name}"
        r = self.api("PUT", path, as_user=owner, json=config)
        assert r.status_code in (200, 201), f"PUT /{path}: {r.status_code} {r.text}"
        return path

    def project_json(self, index: str, project: str) -> dict:
        r = self.api("GET", f"{index}/{project}")
        if r.status_code == 404:
            return {}
        assert r.status_code == 200, r.text
        return r.json()["result"]

    def project_names(self, index: str) -> list[str]:
        r = requests.get(self.index_url(index), headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30)
        assert r.status_code == 200, r.text
        return sorted(p["name"] for p in r.json()["projects"])

    # -- the data folder -------------------------------------------------------

    def stored_blob_digests(self) -> set[str]:
        """The sha256 of every stored file's bytes: the data folder's blobs, or
        the objects in the bucket when the suite runs on PostgreSQL + S3."""
        if self.engines is not None:
            root = self.engines[1].home
            return {hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")
                    if p.is_file() and len(p.name) == 64}
        return set(self.data_listing().values())

    def data_listing(self) -> dict[str, str]:
        """Every file under the data folder except the database files, with
        its sha256: what a failed request must leave untouched."""
        out = {}
        for p in sorted(self.data.rglob("*")):
            if p.is_file() and not VOLATILE_DATA_FILES.search(p.name):
                out[str(p.relative_to(self.data))] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out


class ServerPool:
    def __init__(self, binary: Path, base: Path):
        self.binary = binary
        self.base = base
        self.servers: list[Server] = []

    def start(self, *args: str, env=None, data: Path | None = None) -> Server:
        n = len(self.servers) + 1
        home = self.base / f"server{n}"
        srv = Server(self.binary, data or home / "data", home / "logs", args, env)
        self.servers.append(srv)
        return srv.start()

    def stop_all(self) -> None:
        errors = []
        for srv in self.servers:
            try:
                srv.stop()
            except AssertionError as e:  # still stop the others
                errors.append(str(e))
            if srv.engines is not None:
                pg, s3 = srv.engines
                s3.stop()
                pg.remove()
                srv.engines = None
        if errors:
            raise AssertionError("; ".join(errors))


@pytest.fixture(scope="module")
def server(airlock_bin, tmp_path_factory) -> Server:
    """One server shared by the tests of a module (tests use fresh indexes)."""
    pool = ServerPool(airlock_bin, tmp_path_factory.mktemp("airlock"))
    try:
        yield pool.start()
    finally:
        pool.stop_all()


@pytest.fixture
def make_server(airlock_bin, tmp_path):
    """Factory for servers private to one test: ``make_server("--max-upload-mb", "1")``."""
    pool = ServerPool(airlock_bin, tmp_path / "airlock")
    try:
        yield pool.start
    finally:
        pool.stop_all()


# --------------------------------------------------------------------------
# Clients: pip, uv, twine as subprocesses with a scrubbed environment
# --------------------------------------------------------------------------


def scrubbed_env() -> dict[str, str]:
    """The environment for clients and the server: no PIP_*, UV_*, TWINE_*
    or AIRLOCK_* settings (PIP_FIND_LINKS would let pip install from a local
    wheel folder and a broken server pass), no proxy for the loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TWINE_", "AIRLOCK_"))}
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = "127.0.0.1,localhost"
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    # Plain, unwrapped output (twine uses rich) so assertions see whole messages.
    env["NO_COLOR"] = "1"
    env["TERM"] = "dumb"
    env["COLUMNS"] = "300"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass
class Result:
    args: list[str]
    returncode: int
    output: str  # stdout and stderr interleaved, as a user sees them

    def __str__(self) -> str:
        return f"$ {' '.join(self.args)}\n(exit code {self.returncode})\n{self.output}"


def run(args, *, check: bool | None = True, cwd=None, env_extra=None) -> Result:
    """Run a client. ``check=True``: must succeed; ``False``: must fail;
    ``None``: either."""
    env = scrubbed_env()
    env.update(env_extra or {})
    proc = subprocess.run(
        [str(a) for a in args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        timeout=CLIENT_TIMEOUT,
        text=True,
        errors="replace",
    )
    res = Result([str(a) for a in args], proc.returncode, proc.stdout)
    if check is True:
        assert res.returncode == 0, f"command failed:\n{res}"
    elif check is False:
        assert res.returncode != 0, f"command unexpectedly succeeded:\n{res}"
    return res


def shows_status(output: str, status: int) -> bool:
    """The output shows this HTTP status code (not as part of a port number
    or a hash)."""
    return re.search(rf"(?<![\w:]){status}(?!\w)", output) is not None


def venv_tool(name: str) -> str:
    """A console script installed next to the interpreter running pytest."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else shutil.which(name) or name


class Clients:
    """The real clients, pointed at one server and nothing else."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self._n = itertools.count(1)

    def fresh_dir(self, prefix: str) -> Path:
        d = self.tmp / f"{prefix}{next(self._n)}"
        d.mkdir(parents=True)
        return d

    def twine_upload(self, url: str, files, user: str, password: str, *, check: bool | None = True) -> Result:
        return run(
            [
                sys.executable, "-m", "twine", "upload",
                "--non-interactive", "--disable-progress-bar", "--verbose",
                "--repository-url", url, "-u", user, "-p", password,
                *[str(f) for f in files],
            ],
            check=check,
            cwd=self.tmp,
        )

    def pip(self, *args, check: bool | None = True, env_extra=None) -> Result:
        return run(
            [sys.executable, "-m", "pip", "--isolated", "--no-cache-dir", "--disable-pip-version-check", *args],
            check=check,
            cwd=self.tmp,
            env_extra=env_extra,
        )

    def pip_install(self, index_url: str, *reqs, extra=(), check: bool | None = True) -> tuple[Result, Path]:
        target = self.fresh_dir("pip-target")
        res = self.pip(
            "install", "--index-url", index_url, "--target", target, "--no-compile", *extra, *reqs, check=check
        )
        return res, target

    def uv_install(self, index_url: str, *reqs, check: bool | None = True) -> tuple[Result, Path]:
        target = self.fresh_dir("uv-target")
        res = run(
            [
                venv_tool("uv"), "pip", "install", "--no-cache", "--no-config",
                "--python", sys.executable, "--index-url", index_url, "--target", target, *reqs,
            ],
            check=check,
            cwd=self.tmp,
        )
        return res, target

    @staticmethod
    def import_from(target: Path, module: str) -> str:
        """Import ``module`` from an install target in a fresh interpreter;
        returns its VERSION attribute."""
        res = run(
            [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); "
             f"import {module}; print({module}.VERSION)"],
        )
        return res.output.strip()


@pytest.fixture
def clients(tmp_path) -> Clients:
    return Clients(tmp_path)


# --------------------------------------------------------------------------
# Fixture distributions
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Project:
    wheel: Dist
    sdist: Dist


@dataclass(frozen=True)
class Dists:
    demo: Project  # demo-pkg 1.0.0 (module demo_pkg)
    demo_alt: Project  # demo-pkg 1.0.0 again, different content: same filenames, other bytes
    app: Project  # demo-app 2.0.0, requires demo-pkg>=1.0
    big_wheel: Dist  # bigdemo 1.0.0, a ~2 MiB wheel (over a 1 MiB upload limit)
    root: Path  # where crafted files may be written


def write_project(root: Path, dist_name: str, version: str, module: str, body: str, deps=(), extra_files=None) -> Path:
    proj = root / f"{dist_name}-{version}-{abs(hash(body)) % 10**8}"
    (proj / module).mkdir(parents=True)
    deps_toml = ", ".join(f'"{d}"' for d in deps)
    (proj / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist_name}"
            version = "{version}"
            description = "airlock end-to-end fixture"
            requires-python = ">=3.8"
            dependencies = [{deps_toml}]

            [tool.setuptools]
            packages = ["{module}"]
            """
        )
    )
    (proj / module / "__init__.py").write_text(body)
    for rel, data in (extra_files or {}).items():
        (proj / module / rel).write_bytes(data)
    return proj


def build_project(proj: Path, out: Path) -> subprocess.Popen:
    # --no-isolation: build with the setuptools/wheel of the test venv, so no
    # index (and no network) is needed to build the fixtures.
    return subprocess.Popen(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(out), str(proj)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=scrubbed_env(),
        text=True,
    )


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> Dists:
    root = tmp_path_factory.mktemp("dists")
    src = root / "src"
    specs = {
        "demo": ("demo-pkg", "1.0.0", "demo_pkg", 'VERSION = "1.0.0"\n', ()),
        "demo_alt": ("demo-pkg", "1.0.0", "demo_pkg", 'VERSION = "1.0.0-alt"\nALT = True\n', ()),
        "app": ("demo-app", "2.0.0", "demo_app", 'import demo_pkg\nVERSION = "2.0.0"\n', ("demo-pkg>=1.0",)),
    }
    builds = {}
    for key, (name, version, module, body, deps) in specs.items():
        out = root / key
        builds[key] = (out, build_project(write_project(src, name, version, module, body, deps), out))
    # Incompressible payload so the wheel really is ~2 MiB.
    big = write_project(src, "bigdemo", "1.0.0", "bigdemo", 'VERSION = "1.0.0"\n',
                        extra_files={"payload.bin": os.urandom(2 * 1024 * 1024)})
    (big / "MANIFEST.in").write_text("include bigdemo/payload.bin\n")
    (big / "pyproject.toml").write_text(
        (big / "pyproject.toml").read_text() + '\n[tool.setuptools.package-data]\nbigdemo = ["payload.bin"]\n'
    )
    builds["big"] = (root / "big", build_project(big, root / "big"))

    projects = {}
    for key, (out, proc) in builds.items():
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"building fixture {key} failed:\n{output}"
        wheels = list(out.glob("*.whl"))
        sdists = list(out.glob("*.tar.gz"))
        assert len(wheels) == 1 and len(sdists) == 1, f"{key}: unexpected build output {list(out.iterdir())}"
        projects[key] = Project(Dist(wheels[0]), Dist(sdists[0]))

    big_wheel = projects["big"].wheel
    assert big_wheel.path.stat().st_size > 2 * 1024 * 1024, "the big fixture wheel is not over 2 MiB"
    assert projects["demo"].wheel.name == projects["demo_alt"].wheel.name
    assert projects["demo"].wheel.sha256 != projects["demo_alt"].wheel.sha256
    crafted = root / "crafted"
    crafted.mkdir()
    return Dists(projects["demo"], projects["demo_alt"], projects["app"], big_wheel, crafted)


def wheel_metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return z.read(name)

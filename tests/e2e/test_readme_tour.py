"""The README's tour, run as written: the commands are read out of
README.md itself (the "A five-minute tour" and "The pipeline" sections), so
the two cannot drift apart, and run against the real binary with real
twine, pip, uv and curl. PyPI is a fake upstream served over HTTPS by a CA
that only a test trust store knows, handed over the way a company machine
does it (``SSL_CERT_FILE``): the situation behind a TLS-intercepting proxy.

The only translations: the server listens on an ephemeral port with its
own data folder (its URL replaces ``http://127.0.0.1:3141``), pip and uv
install into a throwaway ``--target``, ``airlock login`` reads the
password from standard input, and ``dist/*`` is expanded.
"""

from __future__ import annotations

import glob
import hashlib
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO, Clients, build_project, run, scrubbed_env, venv_tool, write_project
from fake_upstream import FakeUpstream

POLICIES = str(REPO / "policies")
README = REPO / "README.md"
TOUR_SECTIONS = ("## A five-minute tour", "## The pipeline")
DATA_SECTION = "## Keeping and moving data"
DEFAULT_URL = "http://127.0.0.1:3141"

# The fake PyPI: requests 2.32.3 with what it needs (as the real one says
# it), a second idna, and dependencies that markers rule out.
UPSTREAM = {
    "requests": ("2.32.3", [
        "charset-normalizer<4,>=2", "idna<4,>=2.5", "urllib3<3,>=1.21.1", "certifi>=2017.4.17",
        "PySocks!=1.5.7,>=1.5.6; extra == 'socks'", "chardet<6,>=3.0.2; extra == 'use-chardet-on-py3'",
        "importlib-metadata; python_version < '3.8'",
    ]),
    "idna": ("3.10", []),
    "idna-old": ("3.7", []),  # idna 3.7: the higher 3.10 must be chosen
    "urllib3": ("2.2.3", []),
    "certifi": ("2024.8.30", []),
    "charset-normalizer": ("3.4.0", []),
}


def tour_commands() -> list[str]:
    """Every shell command of the first block of each tour section, in order."""
    return section_commands(TOUR_SECTIONS)


def section_commands(headings) -> list[str]:
    """Every shell command of the first block of each of these README sections, in order
    (comments and continuation lines handled, `&&` and `;` split)."""
    text = README.read_text()
    commands: list[str] = []
    for heading in headings:
        start = text.index(heading)
        nxt = text.find("\n## ", start + len(heading))
        section = text[start: nxt if nxt != -1 else len(text)]
        for block in re.findall(r"```sh\n(.*?)```", section, re.S)[:1]:  # the section's first block
            block = block.replace("\\\n", " ")
            for line in block.splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                if not line or line.startswith("#"):
                    continue
                for part in re.split(r"\s*(?:&&|;)\s*", line):
                    if part:
                        commands.append(part)
    return commands


@pytest.fixture
def tour_upstream(airlock_bin, tmp_path):
    pki = tmp_path / "proxy-ca"
    run([str(airlock_bin), "certs", "init", str(pki)])
    src, out = tmp_path / "upstream-src", tmp_path / "upstream-dist"
    builds = []
    for key, (version, deps) in UPSTREAM.items():
        name = "idna" if key == "idna-old" else key
        module = name.replace("-", "_")
        proj = write_project(src, name, version, module, f'VERSION = "{version}"\n', deps)
        builds.append((name, build_project(proj, out / key)))
    up = FakeUpstream()
    for name, proc in builds:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output
    for key in UPSTREAM:
        name = "idna" if key == "idna-old" else key
        for wheel in (out / key).glob("*.whl"):
            up.add(name, wheel)
    up.start(tls=(pki / "server.pem", pki / "server.key"))
    try:
        yield up, pki / "ca.pem"
    finally:
        up.stop()


@pytest.fixture
def tour_package(tmp_path) -> Path:
    """The folder the user runs the tour in: dist/ holds airlock-tour-demo 1.0."""
    home = tmp_path / "tour"
    proj = write_project(tmp_path / "tour-src", "airlock-tour-demo", "1.0", "airlock_tour_demo",
                         'import requests\nVERSION = "1.0"\n', ("requests>=2.31",))
    proc = build_project(proj, home / "dist")
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    return home


def test_the_commands_are_found():
    cmds = tour_commands()
    assert any(c.endswith("airlock serve") for c in cmds), cmds
    assert any("--with-deps" in c and "root/prod" in c and "--dry-run" not in c for c in cmds), cmds
    assert cmds[-1].startswith("pip install --index-url http://127.0.0.1:3141/root/prod/+simple/"), cmds
    # the README says where `airlock` comes from before the first bare `airlock`
    text = README.read_text()
    assert text.index("cargo install --path .") < text.index("airlock serve")


def test_readme_tour(make_server, airlock_bin, tmp_path, tour_upstream, tour_package):
    up, ca = tour_upstream
    clients = Clients(tmp_path / "clients")
    client_env = {"AIRLOCK_CLIENT_CONFIG": str(tmp_path / "client.json")}
    srv = None
    targets: list[Path] = []
    outputs: list[str] = []

    transcript = tmp_path / "tour-transcript.txt"  # what the user would have seen, for a failing run
    for command in tour_commands():
        with transcript.open("a") as t:
            t.write("".join(outputs[-1:]))
        argv = shlex.split(command)
        env = {}
        while argv and re.match(r"^[A-Z_]+=", argv[0]):
            k, v = argv.pop(0).split("=", 1)
            env[k] = v
        if srv is not None:
            argv = [a.replace(DEFAULT_URL, srv.url) for a in argv]
        tool, args = argv[0], argv[1:]
        if tool == "airlock" and args[:1] == ["serve"]:
            assert srv is None, "the tour starts one server"
            srv = make_server("--upstream", up.simple_url, "--policies", POLICIES,
                              env={**env, "SSL_CERT_FILE": str(ca)})
            continue
        assert srv is not None, f"{command!r} runs before the server is started"
        if tool == "airlock":
            stdin = None
            if args[:1] == ["login"]:
                stdin = srv.extra_env["AIRLOCK_ROOT_PASSWORD"] + "\n"
            full = scrubbed_env()
            full.update(client_env)
            proc = subprocess.run([str(airlock_bin), *args], input=stdin or "", stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=full, text=True, timeout=600, cwd=tour_package)
            out = proc.stdout
            expect_ok = args[:2] != ["typo", "check"]  # a suspicious name exits 1
            assert not expect_ok or proc.returncode == 0, f"$ {command}\n{out}\nserver log:\n{srv.log()[-4000:]}"
        elif tool == "twine":
            files = [f for a in args for f in (sorted(glob.glob(str(tour_package / a))) if "*" in a else [a])]
            out = run([sys.executable, "-m", "twine", *files[:1], "--non-interactive", "--disable-progress-bar",
                       *files[1:]], cwd=tour_package).output
        elif tool == "pip":
            res, target = clients.pip_install(*_index_and_reqs(args))
            targets.append(target)
            out = res.output
        elif tool == "uv":
            assert args[:2] == ["pip", "install"], command
            res, target = clients.uv_install(*_index_and_reqs(args[1:]))
            targets.append(target)
            out = res.output
        elif tool == "curl":
            out = run(["curl", "-sS", "--fail", *args]).output
        else:
            pytest.fail(f"the tour runs {tool!r}, which this test does not know: {command}")
        outputs.append(f"$ {command}\n{out}")

    log = "\n".join(outputs)
    # what the user sees along the way
    assert "SUSPICIOUS" in log and "looks like requests" in log, log
    assert "airlock-tour-demo" in log and '"type"' in log, log  # the JSON of step 4
    assert "push with dependencies  root/pypi -> root/dev: 5 release(s)" in log, log
    assert "idna==3.10" in log, log  # the highest fitting version, not 3.7
    # markers ruled out the extras and the old-Python dependency: not in the set
    assert not re.search(r"(?i)push (pysocks|chardet|importlib-metadata)==", log), log
    assert "missing after the push" not in log.split("$ airlock push airlock-tour-demo==1.0")[-1], log
    assert "would be pushed root/dev -> root/prod" in log, log  # the dry run says it did nothing
    assert "no open alerts" in log, log
    assert re.search(r"#\d+ landed\s+airlock-tour-demo==1\.0\s+root/dev -> root/prod", log), log
    assert "SHADOWED" not in log, log
    # the last command installed from prod: the package and requests' tree
    last = targets[-1]
    assert Clients.import_from(last, "airlock_tour_demo") == "1.0"
    for module, version in [("requests", "2.32.3"), ("idna", "3.10"), ("urllib3", "2.2.3"),
                            ("certifi", "2024.8.30"), ("charset_normalizer", "3.4.0")]:
        assert Clients.import_from(last, module) == version
    # no false alert appears later either (the watch runs in the background)
    time.sleep(1.0)
    r = requests.get(f"{srv.url}/+alerts", auth=("root", srv.extra_env["AIRLOCK_ROOT_PASSWORD"]),
                     headers={"Accept": "application/json"}, timeout=30)
    assert r.json()["result"] == [], r.text


def _index_and_reqs(args: list[str]) -> tuple[str, ...]:
    assert args[0] == "install" and args[1] == "--index-url", args
    return (args[2], *args[3:])


def test_readme_data_commands(make_server, airlock_bin, dists, clients: Clients, tmp_path):
    """The "Keeping and moving data" block, run as written in a folder whose
    ./airlock-data is a serving server's data folder: backup, restore, fsck,
    export, import and gc; then servers started on the restored and the
    imported folder serve the uploaded bytes to pip. (Its `--from-devpi`
    line needs a devpi-server export: tests/e2e/test_devpi_import.py runs
    that command against a real devpi-server 6.20.3.)"""
    src = make_server()
    alice = src.create_user("alice", "alice-pw")
    index = src.create_index(alice, "dev", bases=[], volatile=False)
    clients.twine_upload(src.upload_url(index), [dists.demo.wheel.path, dists.demo.sdist.path], *alice)
    home = tmp_path / "ops"
    home.mkdir()
    (home / "airlock-data").symlink_to(src.data)

    commands = section_commands([DATA_SECTION])
    verbs = [shlex.split(c)[1] for c in commands]
    assert verbs == ["backup", "restore", "fsck", "export", "import", "gc", "import"], commands
    outputs = []
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "airlock", command
        if "--from-devpi" in argv:
            continue
        outputs.append(f"$ {command}\n" + run([airlock_bin, *argv[1:]], cwd=home).output)
    log = "\n".join(outputs)
    assert "is sound" in log, log  # fsck of the live folder
    assert "audit chain" in log, log  # the import verified it
    src.stop()

    for copy in ("restored", "imported"):
        assert "is sound" in run([airlock_bin, "fsck", "--data", home / copy]).output
        dst = make_server(data=home / copy)
        dl = clients.fresh_dir(f"dl-{copy}")
        clients.pip("download", "--no-deps", "--index-url", dst.index_url(index), "demo-pkg==1.0.0",
                    "--only-binary", ":all:", "-d", dl)
        got = dl / dists.demo.wheel.name
        assert hashlib.sha256(got.read_bytes()).hexdigest() == dists.demo.wheel.sha256, copy
        dst.stop()

"""Real engines for the end-to-end tests and the benchmarks, started on
loopback and stopped by their PIDs: a private PostgreSQL cluster (Debian's
`initdb`/`pg_ctl`, as `nobody` when run as root, as PostgreSQL requires)
and the S3 protocol server `s3s-fs` (the `s3_server` example cargo builds
with the tests, signatures checked). No pytest here: bench/ imports it too.
"""

from __future__ import annotations

import atexit
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

S3_KEY, S3_SECRET = "airlock-e2e-access", "airlock-e2e-secret-0123456789"
BUCKET = "airlock-files"


class Missing(RuntimeError):
    """An engine is not installed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise Missing("PostgreSQL is not installed (tests/run.sh installs Debian's postgresql)")
    return Path(found[-1]).parent


class PgCluster:
    """A private PostgreSQL cluster in a temporary folder, stopped by its PID."""

    def __init__(self, durable: bool = False):
        """`durable`: fsync on (benchmarks); tests run without it."""
        self.durable = durable
        self.bin = pg_bin()
        self.home = Path(tempfile.mkdtemp(prefix="airlock-pg-", dir="/tmp"))
        self.password = secrets.token_hex(16)
        self.port = free_port()
        self.as_nobody = os.geteuid() == 0
        if self.as_nobody:
            shutil.chown(self.home, "nobody")
        pwfile = self.home / "pwfile"
        pwfile.write_text(self.password)
        if self.as_nobody:
            shutil.chown(pwfile, "nobody")
        self._run([self.bin / "initdb", "-D", self.home / "data", "-U", "airlock", "-A", "scram-sha-256",
                   "-E", "UTF8", "--no-sync", f"--pwfile={pwfile}"])
        self.start()
        env = {**os.environ, "PGPASSWORD": self.password}
        subprocess.run([self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "airlock", "airlock"],
                       check=True, env=env, capture_output=True, timeout=60)
        self.url = f"postgres://airlock@127.0.0.1:{self.port}/airlock"
        # whatever happens to the test that started it, it ends with the run
        atexit.register(self.remove)

    def _run(self, args, check=True):
        prefix = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "--"] if self.as_nobody else []
        return subprocess.run([*prefix, *map(str, args)], check=check, capture_output=True, timeout=120, cwd="/")

    def start(self):
        sync = "" if self.durable else "-c fsync=off -c full_page_writes=off "
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.home} {sync}"
                "-c synchronous_commit=off -c max_connections=200")
        self._run([self.bin / "pg_ctl", "-D", self.home / "data", "-l", self.home / "log", "-w", "-t", "60",
                   "-o", opts, "start"])

    def stop(self):
        pid_file = self.home / "data" / "postmaster.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown: the postmaster ends its children
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def remove(self):
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


class S3:
    """The `s3_server` example (s3s-fs) on a loopback port."""

    def __init__(self, binary: Path):
        if not binary.is_file():
            raise Missing(f"{binary} not found: `cargo test` (or bash tests/run.sh) builds it")
        self.home = Path(tempfile.mkdtemp(prefix="airlock-s3-"))
        env = {**os.environ, "S3_ACCESS_KEY": S3_KEY, "S3_SECRET_KEY": S3_SECRET}
        self.proc = subprocess.Popen([str(binary), str(self.home), BUCKET], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True)
        atexit.register(self.stop)
        line = self.proc.stdout.readline()
        assert line.startswith("s3 listening on "), line
        self.endpoint = line.removeprefix("s3 listening on ").strip()

    def blobs(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}?endpoint={self.endpoint}&region=us-east-1"

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_ALLOW_HTTP": "true"}

    def stop(self):
        if self.proc.poll() is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)

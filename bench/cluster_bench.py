#!/usr/bin/env python3
"""Scale-out benchmark (issue 20): PostgreSQL + S3 against the embedded mode,
and one node against three behind nginx, in one run on this machine.

Servers, side by side, each filled the same way over HTTP (`--projects`
projects, one ~10 KB wheel each, uploaded one after another: each upload's
latency is recorded):

- **embedded**: one airlock, SQLite + local folder (the default);
- **pg+s3**: one airlock with `--database postgres://` (a private
  PostgreSQL cluster, Debian's server, with fsync on and
  `synchronous_commit=off`: durable and consistent like SQLite's WAL with
  `synchronous=NORMAL`, which may lose the last commits on a power cut)
  and `--blobs s3://` (the
  `s3_server` example: s3s-fs, signatures checked);
- **pg+s3 notify**: one more airlock on that same database and bucket with
  `--cluster-sync notify` (no serial read per request);
- **3 nodes**: three airlock processes on that same database and bucket,
  Debian's nginx round-robin in front (one worker), on loopback.

Then `--reps` rounds, the order rotated each round, of wrk (-t2 -c32,
`--duration` s) over (a) the simple pages of every project (wrk_paths.lua,
PEP 503 HTML) and (b) every wheel's download. Medians per target; the
ratios the issue sets: pg+s3 pages >= 80% of embedded, downloads >= 50%,
upload median <= 2x; and 3 nodes against 1 (2 cores bound it: reported,
not a target). All on 2 cores with wrk, nginx, PostgreSQL and s3s-fs
sharing them: the absolute figures are this machine's, the ratios the
point.

    python3 bench/cluster_bench.py [--projects 300] [--duration 15] [--reps 3]

Every process it starts is stopped by its PID at the end (also on ctrl-c).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from engines import S3, PgCluster, free_port  # noqa: E402

LUA = REPO / "bench" / "wrk_paths.lua"
ROOT_PW = "bench-root"
USER, PW = "bench", "bench-pw"
INDEX = "bench/dev"
NGINX = "/usr/sbin/nginx"


def log(msg: str) -> None:
    print(f"[cluster-bench] {msg}", file=sys.stderr, flush=True)


def build() -> Path:
    log("cargo build --release (airlock, s3_server)")
    subprocess.run(["cargo", "build", "--release", "--bin", "airlock", "--example", "s3_server"],
                   cwd=REPO, check=True)
    return REPO / "target" / "release"


def request(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
            auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Node:
    def __init__(self, binary: Path, data: Path, args: list[str], env: dict[str, str]):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        policies = data.parent / "no-policies"
        policies.mkdir(parents=True, exist_ok=True)
        self.logfile = open(data.parent / f"{data.name}.log", "ab")
        full_env = dict(os.environ, AIRLOCK_ROOT_PASSWORD=ROOT_PW, AIRLOCK_LOG=os.environ.get("AIRLOCK_BENCH_LOG", "warn"), **env)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--listen", f"127.0.0.1:{self.port}", "--data", str(data), "--offline",
             "--policies", str(policies), "--log-format", "json", *args],
            env=full_env, stdout=subprocess.DEVNULL, stderr=self.logfile)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airlock exited with {self.proc.returncode}; see {self.logfile.name}")
            try:
                if request("GET", f"{self.base}/+api")[0] == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() - t0 > 120:
                raise RuntimeError("airlock did not answer within 120 s")
            time.sleep(0.02)
        self.startup_s = time.perf_counter() - t0

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logfile.close()


def wheel(name: str, size: int) -> tuple[str, bytes]:
    dist = name.replace("-", "_")
    buf = io.BytesIO()
    noise = random.Random(name).randbytes(size)
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{dist}/__init__.py", "VERSION = '1.0'\n")
        z.writestr(f"{dist}/data.bin", noise)
        z.writestr(f"{dist}-1.0.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n\n")
        z.writestr(f"{dist}-1.0.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nGenerator: cluster_bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}-1.0.dist-info/RECORD", "")
    return f"{dist}-1.0-py3-none-any.whl", buf.getvalue()


def upload(base: str, filename: str, data: bytes) -> float:
    boundary = "clusterbench" + hashlib.sha256(data).hexdigest()[:16]
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="sha256_digest"\r\n\r\n'
            f'{hashlib.sha256(data).hexdigest()}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    t0 = time.perf_counter()
    status, text = request("POST", f"{base}/{INDEX}/", body,
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"}, (USER, PW))
    if status != 200:
        raise RuntimeError(f"upload of {filename}: {status} {text[:200]!r}")
    return time.perf_counter() - t0


def project(i: int) -> str:
    """Names nothing else looks like (the typosquat gate sees every one)."""
    return "cb-" + hashlib.sha256(str(i).encode()).hexdigest()[:12]


def fill(node: Node, projects: int, size: int) -> list[float]:
    status, text = request("PUT", f"{node.base}/{USER}", json.dumps({"password": PW}).encode(),
                           {"Content-Type": "application/json"}, ("root", ROOT_PW))
    assert status == 201, text
    status, text = request("PUT", f"{node.base}/{INDEX}",
                           json.dumps({"type": "stage", "bases": [], "volatile": False}).encode(),
                           {"Content-Type": "application/json"}, (USER, PW))
    assert status in (200, 201), text
    return [upload(node.base, *wheel(project(i), size)) for i in range(projects)]


def paths(node: Node, projects: int, work: Path) -> tuple[Path, Path]:
    pages, files = [], []
    for i in range(projects):
        page = f"/{INDEX}/+simple/{project(i)}/"
        status, body = request("GET", node.base + page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        assert status == 200, body
        href = json.loads(body)["files"][0]["url"]
        url = urllib.parse.urljoin(node.base + page, href)
        pages.append(page)
        files.append(urllib.parse.urlsplit(url).path)
    p, f = work / "pages.txt", work / "files.txt"
    p.write_text("\n".join(pages) + "\n")
    f.write_text("\n".join(files) + "\n")
    return p, f


def wrk(base: str, paths_file: Path, duration: int) -> dict:
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{duration}s", "--timeout", "10s", "-s", str(LUA),
                          base, "--", str(paths_file)], capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRK_JSON "))
    r = json.loads(line[len("WRK_JSON "):])
    if r["errors"]:
        raise RuntimeError(f"wrk saw {r['errors']} errors on {base}")
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "p99_ms": r["p99_us"] / 1000}


def nginx_front(home: Path, nodes: list[Node]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    upstreams = "\n".join(f"        server 127.0.0.1:{n.port};" for n in nodes)
    temp = "\n".join(f"    {k}_temp_path {home / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = home / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes 1;
user nobody root;
pid {home / "nginx.pid"};
error_log {home / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}
    upstream airlock {{
{upstreams}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://airlock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }}
    }}
}}
""")
    proc = subprocess.Popen([NGINX, "-p", str(home), "-e", str(home / "error.log"), "-c", str(conf)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if request("GET", f"{base}/+api")[0] == 200:
                return proc, base
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"nginx did not start: {(home / 'error.log').read_text()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, default=300)
    ap.add_argument("--size", type=int, default=10 * 1024, help="bytes of incompressible data per wheel")
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    release = build()
    work = Path(tempfile.mkdtemp(prefix="airlock-cluster-bench-", dir="/tmp"))
    os.chmod(work, 0o710)
    started: list = []
    try:
        pg = PgCluster(durable=True)
        started.append(pg)
        s3 = S3(release / "examples" / "s3_server")
        started.append(s3)
        shared = ["--database", pg.url, "--blobs", s3.blobs("bench")]
        shared_env = {"AIRLOCK_DATABASE_PASSWORD": pg.password, **s3.env()}
        embedded = Node(release / "airlock", work / "embedded", [], {})
        started.append(embedded)
        pgnode = Node(release / "airlock", work / "pg0", shared, shared_env)
        started.append(pgnode)
        log(f"filling both with {args.projects} projects (one {args.size} B wheel each), one upload at a time")
        uploads = {"embedded": fill(embedded, args.projects, args.size), "pg+s3": fill(pgnode, args.projects, args.size)}
        others = [Node(release / "airlock", work / f"pg{i}", shared, shared_env) for i in (1, 2)]
        started.extend(others)
        # the same database and bucket, answering without the per-request
        # serial read (--cluster-sync notify)
        notify = Node(release / "airlock", work / "pg-notify", [*shared, "--cluster-sync", "notify"], shared_env)
        started.append(notify)
        front, front_base = nginx_front(work, [pgnode, *others])
        started.append(front)
        targets = {"embedded": embedded.base, "pg+s3": pgnode.base, "pg+s3 notify": notify.base,
                   "3 nodes + nginx": front_base}
        page_paths, file_paths = paths(embedded, args.projects, work)
        (work / "pg-lists").mkdir()
        pg_pages, pg_files = paths(pgnode, args.projects, work / "pg-lists")
        assert pg_pages.read_text() == page_paths.read_text()
        lists = {"embedded": (page_paths, file_paths), "pg+s3": (pg_pages, pg_files),
                 "pg+s3 notify": (pg_pages, pg_files), "3 nodes + nginx": (pg_pages, pg_files)}
        results: dict[str, dict[str, list[dict]]] = {t: {"pages": [], "downloads": []} for t in targets}
        order = list(targets)
        for rep in range(args.reps):
            for name in order[rep % len(order):] + order[: rep % len(order)]:
                for kind, idx in (("pages", 0), ("downloads", 1)):
                    r = wrk(targets[name], lists[name][idx], args.duration)
                    results[name][kind].append(r)
                    log(f"round {rep + 1}/{args.reps}: {name} {kind}: {r['rps']:,.0f} req/s, p99 {r['p99_ms']:.1f} ms")
        med = {t: {k: statistics.median(r["rps"] for r in v) for k, v in kinds.items()}
               for t, kinds in results.items()}
        up = {k: statistics.median(v) * 1000 for k, v in uploads.items()}
        rows = [
            ("simple pages, req/s", "pages", 0.80),
            ("10 KB downloads, req/s", "downloads", 0.50),
        ]
        print(f"\nairlock cluster bench: {args.projects} projects, wrk -t2 -c32 {args.duration} s x {args.reps}, "
              f"medians; 2 cores shared by every process\n")
        print("| measure | embedded | pg+s3 | pg+s3 / embedded | target | pg+s3 notify | notify / embedded "
              "| 3 nodes + nginx | 3 nodes / pg+s3 |")
        print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
        verdicts = []
        for label, kind, target in rows:
            e, p, c = med["embedded"][kind], med["pg+s3"][kind], med["3 nodes + nginx"][kind]
            n = med["pg+s3 notify"][kind]
            ok = p / e >= target
            verdicts.append(ok)
            print(f"| {label} | {e:,.0f} | {p:,.0f} | {p / e:.2f}x | >= {target:.2f}x {'MET' if ok else 'MISSED'} "
                  f"| {n:,.0f} | {n / e:.2f}x | {c:,.0f} | {c / p:.2f}x |")
        ok = up["pg+s3"] / up["embedded"] <= 2.0
        verdicts.append(ok)
        print(f"| upload median, ms | {up['embedded']:.1f} | {up['pg+s3']:.1f} | {up['pg+s3'] / up['embedded']:.2f}x "
              f"| <= 2.00x {'MET' if ok else 'MISSED'} | | | | |")
        print(f"| start-up, s | {embedded.startup_s:.2f} | {pgnode.startup_s:.2f} | | | {notify.startup_s:.2f} | | | |")
        print(f"| RSS after the run, MiB | {embedded.rss_mib():.0f} | {pgnode.rss_mib():.0f} | | | "
              f"{notify.rss_mib():.0f} | | | |")
        out = args.out or Path(os.environ.get("BENCH_WORK", "/tmp/airlock-bench-work")) / \
            f"cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"args": vars(args) | {"out": str(out)}, "results": results,
                                   "uploads_ms": {k: [x * 1000 for x in v] for k, v in uploads.items()}},
                                  indent=1, default=str))
        print(f"\nraw results: {out}")
        return 0 if all(verdicts) else 1
    finally:
        for thing in reversed(started):
            try:
                if isinstance(thing, subprocess.Popen):
                    thing.send_signal(signal.SIGQUIT)
                    thing.wait(timeout=10)
                elif isinstance(thing, PgCluster):
                    thing.remove()
                else:
                    thing.stop()
            except Exception as e:  # stop the rest regardless
                log(f"stopping {thing}: {e}")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

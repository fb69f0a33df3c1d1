#!/usr/bin/env python3
"""Scale benchmark: does airlock stay as fast with 100,000 projects as with 1,000?

For each size (default 1k, 10k, 100k projects, 5 versions each, a wheel and an
sdist per version: 10k, 100k, 1M file rows) it writes an index straight into a
data folder with the `gen_index` example (cached per size under $BENCH_WORK),
copies it to a scratch folder, starts the release `airlock` on it and measures:

- start-up: the first start on a fresh data folder stores the typosquat
  index of all private names (in the background; reported, it grows with
  the number of names); then, on a restart, spawn until `GET /+api`
  answers and until the server is idle, and idle RSS then;
- a project page (HTML and PEP 691 JSON) with wrk -t2 -c32: req/s, p50, p99
  (each wrk figure is the median of --reps runs of --duration seconds);
- the index's project list (HTML): req/s, p50 (grows with the index by
  nature: a 100k-project page is ~5 MB; reported, not held to the target);
- a ~2 KiB file download: req/s, p99;
- a typosquat check of a look-alike of a private name (`/+typo/check`,
  the lookup uploads and installs of new names pay): req/s, p99;
- upload latency: the median of 50 sequential uploads of distinct small
  wheels, each a multipart POST shaped like twine's (twine itself would add
  ~0.3 s of Python start-up per file, drowning the server's share);
- RSS after the load.

It prints a table with the growth from the smallest to the largest size and
flags figures that grow by more than 20% (the issue's target), and writes the
raw numbers as JSON. Needs wrk (apt) and cargo. Every process it starts is
stopped by PID.

    python3 bench/scale_bench.py [--sizes 1000,10000,100000] [--duration 5] [--reps 3]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/airlock-bench-work"))
LUA = REPO / "bench" / "wrk_json.lua"
ROOT_PW = "scale-bench-root"
BENCH_USER, BENCH_PW, INDEX = "bench", "bench", "bench/big"
GROWTH_LIMIT = 0.20
# Sequential uploads per size: their median is a few ms, so take enough.
UPLOADS = 50


def log(msg: str) -> None:
    print(f"[scale] {msg}", file=sys.stderr, flush=True)


def build() -> tuple[Path, Path]:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    if not os.environ.get("AIRLOCK_BIN"):
        log("cargo build --release (airlock, gen_index)")
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "airlock",
                        "--example", "gen_index"], cwd=REPO, check=True)
    else:
        subprocess.run(["cargo", "build", "--release", "--locked", "--example", "gen_index"],
                       cwd=REPO, check=True)
    airlock = Path(os.environ.get("AIRLOCK_BIN", target / "release" / "airlock"))
    return airlock, target / "release" / "examples" / "gen_index"


def generated(gen: Path, projects: int, versions: int) -> Path:
    """The cached generated data folder for this size."""
    folder = WORK / f"scale-p{projects}-v{versions}"
    stamp = folder / ".generated"
    if stamp.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    partial = folder.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    log(f"generating {projects} projects x {versions} versions into {folder}")
    subprocess.run([str(gen), "--data", str(partial), "--projects", str(projects),
                    "--versions", str(versions), "--index", INDEX, "--password", BENCH_PW], check=True)
    partial.rename(folder)
    stamp.write_text(f"{projects} {versions}\n")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get(url: str, headers: dict | None = None, timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    def __init__(self, airlock: Path, data: Path, logfile: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        policies = data.parent / "no-policies"
        policies.mkdir(exist_ok=True)
        env = dict(os.environ, AIRLOCK_ROOT_PASSWORD=ROOT_PW, AIRLOCK_LOG="warn")
        self.log = open(logfile, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(airlock), "serve", "--listen", f"127.0.0.1:{self.port}", "--data", str(data),
             "--offline", "--policies", str(policies), "--log-format", "json"],
            env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = t0 + 300
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airlock exited with {self.proc.returncode}; see {logfile}")
            try:
                if get(f"{self.base}/+api", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.01)
        else:
            self.stop()
            raise RuntimeError("airlock did not answer within 300 s")
        self.startup_s = time.perf_counter() - t0
        # The typosquat index of every private name is built in the
        # background after start-up; wait until the server is idle so the
        # load runs measure serving, not that build.
        # Idle = at most one 10 ms CPU tick per 0.1 s, ten polls in a row;
        # the idle second itself is not counted.
        last, still = cpu_s(self.proc.pid), 0
        while time.perf_counter() < deadline and still < 10:
            time.sleep(0.1)
            now = cpu_s(self.proc.pid)
            still = still + 1 if now - last <= 0.011 else 0
            last = now
        self.settled_s = max(time.perf_counter() - t0 - 1.0, self.startup_s)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def wrk_median(url: str, duration: int, reps: int, headers: dict | None = None) -> dict:
    """`reps` wrk runs; each figure is the median over the runs (a p99 of a
    ms or two moves by a fifth from one 10 s run to the next)."""
    runs = [wrk(url, duration, headers) for _ in range(reps)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"runs": runs}


def wrk(url: str, duration: int, headers: dict | None = None) -> dict:
    args = ["wrk", "-t2", "-c32", f"-d{duration}s", "--timeout", "10s", "-s", str(LUA)]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRK_JSON "))
    r = json.loads(line[len("WRK_JSON "):])
    if r["errors"]:
        raise RuntimeError(f"wrk saw {r['errors']} errors on {url}")
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000}


def small_wheel(name: str, version: str) -> tuple[str, bytes]:
    dist = name.replace("-", "_")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{dist}/__init__.py", f"VERSION = {version!r}\n")
        z.writestr(f"{dist}-{version}.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
        z.writestr(f"{dist}-{version}.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nGenerator: scale_bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}-{version}.dist-info/RECORD", "")
    return f"{dist}-{version}-py3-none-any.whl", buf.getvalue()


def upload(base: str, filename: str, data: bytes) -> float:
    boundary = "scalebench" + hashlib.sha256(data).hexdigest()[:16]
    parts = []
    for k, v in ((":action", "file_upload"), ("protocol_version", "1"),
                 ("sha256_digest", hashlib.sha256(data).hexdigest())):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    body = b"".join(parts)
    auth = base64.b64encode(f"{BENCH_USER}:{BENCH_PW}".encode()).decode()
    req = urllib.request.Request(f"{base}/{INDEX}/", data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Basic {auth}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
        if r.status != 200:
            raise RuntimeError(f"upload of {filename}: {r.status}")
    return time.perf_counter() - t0


def measure(airlock: Path, gen: Path, projects: int, versions: int, duration: int, reps: int,
            run: Path) -> dict:
    source = generated(gen, projects, versions)
    data = run / f"data-{projects}"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(source, data)
    # Flush the copy (and below, the index the first start wrote) to disk
    # now: the kernel's writeback of a few hundred MB otherwise lands in
    # the middle of the measured runs at 100k (25 s at -20% req/s).
    os.sync()
    first = Server(airlock, data, run / f"airlock-{projects}.log")
    first.stop()
    os.sync()
    time.sleep(1)
    srv = Server(airlock, data, run / f"airlock-{projects}.log")
    try:
        res: dict = {"projects": projects, "files": projects * versions * 2,
                     "first_settled_s": first.settled_s,
                     "startup_s": srv.startup_s, "settled_s": srv.settled_s}
        res["rss_idle_mib"] = rss_mib(srv.proc.pid)
        middle = f"scale-{projects // 2:06d}"
        page = f"{srv.base}/{INDEX}/+simple/{middle}/"
        status, body = get(page)
        assert status == 200 and f"scale_{projects // 2:06d}-1.0.0-py3-none-any.whl" in body.decode(), status
        _, j = get(page, {"Accept": "application/vnd.pypi.simple.v1+json"})
        files = json.loads(j)["files"]
        assert len(files) == versions * 2, len(files)
        whl = next(f for f in files if f["filename"].endswith(".whl"))
        file_url = urllib.request.urljoin(page, whl["url"])
        status, blob = get(file_url)
        assert status == 200 and hashlib.sha256(blob).hexdigest() == whl["hashes"]["sha256"]

        # Warm-up, then the measured runs.
        wrk(page, 2)
        phases = res["rss_after_phase_mib"] = {}
        res["page_html"] = wrk_median(page, duration, reps)
        phases["page_html"] = rss_mib(srv.proc.pid)
        res["page_json"] = wrk_median(page, duration, reps, {"Accept": "application/vnd.pypi.simple.v1+json"})
        phases["page_json"] = rss_mib(srv.proc.pid)
        res["download_2k"] = wrk_median(file_url, duration, reps)
        phases["download_2k"] = rss_mib(srv.proc.pid)
        # A transposed look-alike of a private name: a store-backed check.
        lookalike = "sacle" + middle[len("scale"):]
        check = f"{srv.base}/+typo/check?name={lookalike}"
        status, body = get(check)
        v = json.loads(body)["result"][0]
        assert status == 200 and v["suspicious"] and v["target"] == middle, body
        res["typo_check"] = wrk_median(check, duration, reps)
        phases["typo_check"] = rss_mib(srv.proc.pid)
        res["rss_held_mib"] = rss_mib(srv.proc.pid)
        listing = f"{srv.base}/{INDEX}/+simple/"
        status, body = get(listing)
        assert status == 200 and body.count(b"<a ") == projects, status
        res["project_list_bytes"] = len(body)
        res["project_list"] = wrk_median(listing, duration, reps)
        phases["project_list"] = rss_mib(srv.proc.pid)

        times = []
        for i in range(UPLOADS):
            name, data_ = small_wheel(f"scale-upload-{i:03d}", "1.0")
            times.append(upload(srv.base, name, data_))
        res["upload_ms_median"] = statistics.median(times) * 1000
        res["upload_ms_max"] = max(times) * 1000
        res["rss_after_mib"] = rss_mib(srv.proc.pid)
        return res
    finally:
        srv.stop()
        shutil.rmtree(data, ignore_errors=True)


ROWS = [
    ("first start: idle (typosquat index stored)", "s", lambda r: r["first_settled_s"], False),
    ("restart: first answer", "s", lambda r: r["startup_s"], True),
    ("restart: idle", "s", lambda r: r["settled_s"], True),
    ("idle RSS", "MiB", lambda r: r["rss_idle_mib"], True),
    ("project page HTML", "req/s", lambda r: r["page_html"]["rps"], True),
    ("project page HTML p50", "ms", lambda r: r["page_html"]["p50_ms"], True),
    ("project page HTML p99", "ms", lambda r: r["page_html"]["p99_ms"], True),
    ("project page JSON", "req/s", lambda r: r["page_json"]["rps"], True),
    ("project page JSON p99", "ms", lambda r: r["page_json"]["p99_ms"], True),
    ("2 KiB file download", "req/s", lambda r: r["download_2k"]["rps"], True),
    ("2 KiB file download p99", "ms", lambda r: r["download_2k"]["p99_ms"], True),
    ("typosquat check, look-alike of a private name", "req/s", lambda r: r["typo_check"]["rps"], True),
    ("typosquat check p99", "ms", lambda r: r["typo_check"]["p99_ms"], True),
    (f"upload, median of {UPLOADS}", "ms", lambda r: r["upload_ms_median"], True),
    ("RSS after page, download and check load", "MiB", lambda r: r["rss_held_mib"], True),
    ("RSS after all load (incl. uploads, project list)", "MiB", lambda r: r["rss_after_mib"], False),
    ("project list (whole index)", "req/s", lambda r: r["project_list"]["rps"], False),
    ("project list p50", "ms", lambda r: r["project_list"]["p50_ms"], False),
    ("project list size", "KiB", lambda r: r["project_list_bytes"] / 1024, False),
]
HIGHER_IS_BETTER = {"req/s"}


def fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def table(results: list[dict]) -> str:
    first, last = results[0], results[-1]
    head = " | ".join(f"{r['projects']:,} projects" for r in results)
    lines = [f"| figure | unit | {head} | growth {first['projects']:,}→{last['projects']:,} |",
             "|---|---|" + "---|" * len(results) + "---|"]
    for label, unit, get_, held in ROWS:
        vals = [get_(r) for r in results]
        a, b = vals[0], vals[-1]
        # growth = how much worse the largest index is than the smallest
        worse = (a / b - 1) if unit in HIGHER_IS_BETTER else (b / a - 1)
        mark = ""
        if held and worse > GROWTH_LIMIT:
            mark = " **over 20%**"
        elif not held:
            mark = " (grows by nature)"
        lines.append(f"| {label} | {unit} | " + " | ".join(fmt(v) for v in vals)
                     + f" | {worse * 100:+.0f}%{mark} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000", help="projects per run, comma-separated")
    ap.add_argument("--versions", type=int, default=5, help="versions per project (2 files each)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--reps", type=int, default=3, help="wrk runs per figure (the median is reported)")
    ap.add_argument("--out", type=Path, help="results JSON (default $BENCH_WORK/scale-<time>.json)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("scale_bench: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 2
    airlock, gen = build()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = WORK / f"scale-run-{stamp}"
    run.mkdir(parents=True, exist_ok=True)
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        log(f"{n} projects")
        r = measure(airlock, gen, n, args.versions, args.duration, args.reps, run)
        log(json.dumps(r))
        results.append(r)
    out = args.out or WORK / f"scale-{stamp}.json"
    out.write_text(json.dumps({"versions": args.versions, "duration_s": args.duration, "reps": args.reps,
                               "results": results}, indent=2))
    print(table(results))
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Transfers and installs: the figures of issue 8 that compare airlock with a
floor rather than with another index.

1. **50 MB download vs the loopback limit.** One ~50 MB wheel of random
   (incompressible) bytes, uploaded to airlock, to devpi-server and placed in
   pypiserver's package folder, and served by nginx as a plain static file
   (`sendfile on`): the fastest this machine moves the file over loopback
   from the page cache. wrk with 4 connections for MB/s, and one `curl` at a
   time (median of 5) for what a single client sees. Target: airlock ≥ 80%
   of nginx.
2. **`pip install` of 50 packages vs `--find-links`.** 50 small distinct
   wheels uploaded to airlock and copied into a local folder; hyperfine times
   `pip --isolated install --no-deps --no-cache-dir --target DIR <50 names>`
   against airlock's index and with `--no-index --find-links FOLDER`, and
   the same with `uv pip install --no-cache`, and both against the same
   wheels as a static index behind nginx (pages + PEP 658 metadata files:
   the client's cost of any HTTP index). Target: pip through airlock ≤
   1.15× pip from the folder.

    python3 bench/transfer_bench.py [--duration 10] [--runs 10]

Needs wrk, nginx, curl, hyperfine (apt); the peer venvs of bench/run.sh
($BENCH_PEERS, default /tmp/peers: devpi, pypiserver, tools with pip and
twine); uv on PATH or in .venv-test (optional). Every process it starts is
stopped by PID.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/airlock-bench-work"))
PEERS = Path(os.environ.get("BENCH_PEERS", "/tmp/peers"))
PW = "transfer-bench-pw"
BIG_MB = 50
N_PACKAGES = 50

sys.path.insert(0, str(REPO / "bench"))
from scale_bench import free_port, small_wheel  # noqa: E402
from tls_bench import Procs  # noqa: E402


def log(msg: str) -> None:
    print(f"[transfer] {msg}", file=sys.stderr, flush=True)


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TWINE_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def big_wheel(path: Path) -> Path:
    """A reproducible ~50 MB wheel whose payload does not compress."""
    name = path / f"acme_huge-1.0-py3-none-any.whl"
    if name.exists():
        return name
    rng = random.Random(50)
    with zipfile.ZipFile(name, "w", zipfile.ZIP_STORED) as z:
        z.writestr("acme_huge/__init__.py", "")
        z.writestr("acme_huge/blob.bin", rng.randbytes(BIG_MB * 1000 * 1000))
        z.writestr("acme_huge-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: acme-huge\nVersion: 1.0\n\n")
        z.writestr("acme_huge-1.0.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nGenerator: transfer_bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("acme_huge-1.0.dist-info/RECORD", "")
    return name


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def sh(argv, **kw) -> str:
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True, **kw).stdout


def wrk_mbps(url: str, duration: int, size: int) -> dict:
    out = sh(["wrk", "-t2", "-c4", f"-d{duration}s", "--timeout", "30s", "-s",
              REPO / "bench" / "wrk_json.lua", url])
    r = json.loads(next(l for l in out.splitlines() if l.startswith("WRK_JSON "))[9:])
    if r["errors"] or r["requests"] == 0:
        raise RuntimeError(f"wrk on {url}: {r}")
    secs = r["duration_us"] / 1e6
    return {"MBps": r["bytes"] / secs / 1e6, "rps": r["requests"] / secs, "p99_ms": r["p99_us"] / 1000}


def curl_mbps(url: str, size: int, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        out = sh(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", url])
        t, n = out.split()
        assert int(float(n)) == size, out
        times.append(float(t))
    return size / statistics.median(times) / 1e6


def static_index(root: Path, wheels: Path) -> None:
    """A PEP 503 index of `wheels` under root/simple/, files and their PEP 658
    metadata under root/pkgs/ (served by nginx as plain files)."""
    pkgs = root / "pkgs"
    pkgs.mkdir(exist_ok=True)
    for w in sorted(wheels.iterdir()):
        shutil.copy(w, pkgs / w.name)
        with zipfile.ZipFile(w) as z:
            meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA")))
        (pkgs / f"{w.name}.metadata").write_bytes(meta)
        project = w.name.split("-")[0].replace("_", "-")
        page = root / "simple" / project
        page.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(w.read_bytes()).hexdigest()
        mdigest = hashlib.sha256(meta).hexdigest()
        (page / "index.html").write_text(
            "<!DOCTYPE html><html><body>"
            f'<a href="../../pkgs/{w.name}#sha256={digest}" data-dist-info-metadata="sha256={mdigest}" '
            f'data-core-metadata="sha256={mdigest}">{w.name}</a></body></html>\n')


def hyperfine(commands: dict[str, str], runs: int, prepare: str, out: Path) -> dict:
    args = ["hyperfine", "--runs", str(runs), "--warmup", "1", "--prepare", prepare, "--export-json", out]
    for name, cmd in commands.items():
        args += ["-n", name, cmd]
    subprocess.run([str(a) for a in args], check=True, env=clean_env(), stdout=sys.stderr)
    data = json.loads(out.read_text())
    return {r["command"]: {"median_s": r["median"], "mean_s": r["mean"], "min_s": r["min"]} for r in data["results"]}


def upload(base: str, index: str, user: str, filename: Path) -> None:
    data = filename.read_bytes()
    boundary = "transfer" + hashlib.sha256(data[:4096]).hexdigest()[:16]
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in ((":action", "file_upload"), ("sha256_digest", hashlib.sha256(data).hexdigest())))
    body = (head.encode() + f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
            f'filename="{filename.name}"\r\n\r\n'.encode() + data + f"\r\n--{boundary}--\r\n".encode())
    req = urllib.request.Request(f"{base}/{index}/", data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Authorization": "Basic " + base64.b64encode(f"{user}:{PW}".encode()).decode()})
    with urllib.request.urlopen(req, timeout=300) as r:
        assert r.status == 200, r.status


def put_json(url: str, body: dict, auth: str) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT", headers={
        "Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(auth.encode()).decode()})
    urllib.request.urlopen(req, timeout=30).read()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--runs", type=int, default=10, help="hyperfine runs per install command")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    airlock = Path(os.environ.get("AIRLOCK_BIN", REPO / "target" / "release" / "airlock"))
    if not os.environ.get("AIRLOCK_BIN"):
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "airlock"], cwd=REPO, check=True)
    pip = PEERS / "tools" / "bin" / "pip"
    twine = PEERS / "tools" / "bin" / "twine"
    uv = shutil.which("uv") or str(REPO / ".venv-test" / "bin" / "uv")
    has_uv = Path(uv).exists()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    scratch = WORK / f"transfer-run-{stamp}"
    scratch.mkdir(parents=True)
    cache = WORK / "transfer-files"
    cache.mkdir(exist_ok=True)
    big = big_wheel(cache)
    size = big.stat().st_size
    wheels = scratch / "wheels"
    wheels.mkdir()
    names = []
    for i in range(N_PACKAGES):
        name = f"xfer-pkg-{i:02d}"
        fn, data = small_wheel(name, "1.0")
        (wheels / fn).write_bytes(data)
        names.append(name)

    procs = Procs()
    results: dict = {"big_bytes": size}
    signal.signal(signal.SIGTERM, lambda *_: (procs.stop_all(), sys.exit(130)))
    try:
        # airlock
        a_port = free_port()
        (scratch / "no-policies").mkdir()
        procs.start([airlock, "serve", "--listen", f"127.0.0.1:{a_port}", "--data", scratch / "airlock-data",
                     "--offline", "--policies", scratch / "no-policies"], scratch / "airlock.log",
                    env=dict(os.environ, AIRLOCK_ROOT_PASSWORD=PW, AIRLOCK_LOG="warn"))
        a = f"http://127.0.0.1:{a_port}"
        wait_http(f"{a}/+api")
        put_json(f"{a}/bench", {"password": PW}, f"root:{PW}")
        put_json(f"{a}/bench/dev", {"bases": []}, f"bench:{PW}")
        upload(a, "bench/dev", "bench", big)
        for w in sorted(wheels.iterdir()):
            upload(a, "bench/dev", "bench", w)
        page = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"{a}/bench/dev/+simple/acme-huge/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})).read())
        a_big = urllib.request.urljoin(f"{a}/bench/dev/+simple/acme-huge/", page["files"][0]["url"])

        # nginx: the same file as a static file
        n_port = free_port()
        static = scratch / "static"
        static.mkdir()
        shutil.copy(big, static / big.name)
        (scratch / "nginx.conf").write_text(f"""
worker_processes auto; pid {scratch}/nginx.pid; error_log {scratch}/nginx-error.log warn; daemon off;
events {{ worker_connections 1024; }}
http {{ access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path {scratch}/cb; proxy_temp_path {scratch}/px; fastcgi_temp_path {scratch}/fc;
  uwsgi_temp_path {scratch}/uw; scgi_temp_path {scratch}/sc;
  server {{ listen 127.0.0.1:{n_port}; root {static}; }} }}
""")
        procs.start([shutil.which("nginx") or "/usr/sbin/nginx", "-c", scratch / "nginx.conf", "-p", scratch],
                    scratch / "nginx.log")
        n_big = f"http://127.0.0.1:{n_port}/{big.name}"
        wait_http(n_big)

        targets = {"airlock": a_big, "nginx (static, sendfile)": n_big}
        # pypiserver: the file in its folder
        ps_bin = PEERS / "pypiserver" / "bin" / "pypi-server"
        if ps_bin.exists():
            p_port = free_port()
            pkgs = scratch / "pypiserver-pkgs"
            pkgs.mkdir()
            shutil.copy(big, pkgs / big.name)
            procs.start([ps_bin, "run", "-i", "127.0.0.1", "-p", p_port, "-a", ".", "-P", ".", pkgs],
                        scratch / "pypiserver.log")
            targets["pypiserver"] = f"http://127.0.0.1:{p_port}/packages/{big.name}"
            wait_http(targets["pypiserver"])
        # devpi-server: uploaded with twine
        devpi_bin = PEERS / "devpi" / "bin"
        if (devpi_bin / "devpi-server").exists() and twine.exists():
            d_port = free_port()
            sh([devpi_bin / "devpi-init", "--serverdir", scratch / "devpi", "--root-passwd", PW])
            procs.start([devpi_bin / "devpi-server", "--serverdir", scratch / "devpi", "--host", "127.0.0.1",
                         "--port", d_port], scratch / "devpi.log")
            d = f"http://127.0.0.1:{d_port}"
            wait_http(f"{d}/+api")
            client = [devpi_bin / "devpi", "--clientdir", scratch / "devpi-client"]
            sh([*client, "use", f"{d}/"])
            sh([*client, "login", "root", "--password", PW])
            sh([*client, "user", "-c", "bench", f"password={PW}"])
            sh([*client, "login", "bench", "--password", PW])
            sh([*client, "index", "-c", "dev", "bases="])
            sh([twine, "upload", "--non-interactive", "--disable-progress-bar", "--repository-url",
                f"{d}/bench/dev/", "-u", "bench", "-p", PW, big], env=clean_env())
            dpage = json.loads(urllib.request.urlopen(urllib.request.Request(
                f"{d}/bench/dev/+simple/acme-huge/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            ).read())
            targets["devpi-server"] = urllib.request.urljoin(f"{d}/bench/dev/+simple/acme-huge/",
                                                             dpage["files"][0]["url"])

        big_res = {}
        for server, url in targets.items():
            log(f"50 MB from {server}")
            curl_mbps(url, size, runs=1)  # warm the page cache
            big_res[server] = {"wrk_c4": wrk_mbps(url, args.duration, size), "curl_MBps": curl_mbps(url, size)}
        results["big"] = big_res

        # The same 50 wheels as a static PEP 503 index behind nginx, with
        # PEP 658 metadata files like airlock's: what any HTTP index costs
        # the client (three requests per package), with no server work.
        static_index(static, wheels)
        static_url = f"http://127.0.0.1:{n_port}/simple/"

        # pip / uv install of 50 packages
        log("install of 50 packages")
        target = scratch / "target"
        index = f"{a}/bench/dev/+simple/"
        names_s = " ".join(names)
        pip_base = f"{pip} --isolated install --no-deps --no-cache-dir --disable-pip-version-check -q --target {target}"
        cmds = {
            "pip, airlock index": f"{pip_base} --index-url {index} {names_s}",
            "pip, --find-links folder": f"{pip_base} --no-index --find-links {wheels} {names_s}",
            "pip, nginx static index": f"{pip_base} --index-url {static_url} {names_s}",
        }
        if has_uv:
            py = sys.executable
            uv_base = f"{uv} pip install --no-cache --no-deps --no-config -q --python {py} --target {target}"
            cmds["uv, airlock index"] = f"{uv_base} --index-url {index} {names_s}"
            cmds["uv, --find-links folder"] = f"{uv_base} --no-index --find-links {wheels} {names_s}"
            cmds["uv, nginx static index"] = f"{uv_base} --index-url {static_url} {names_s}"
        results["install"] = hyperfine(cmds, args.runs, f"rm -rf {target}", scratch / "hyperfine.json")
        got = sorted(p.name for p in target.iterdir() if p.name.endswith(".dist-info"))
        assert len(got) == N_PACKAGES, got
    finally:
        procs.stop_all()

    out = args.out or WORK / f"transfer-{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    limit = results["big"]["nginx (static, sendfile)"]
    print(f"| {BIG_MB} MB download | MB/s, wrk -c4 | % of nginx | MB/s, one curl (median of 5) | % of nginx |")
    print("|---|---|---|---|---|")
    for server, r in results["big"].items():
        print(f"| {server} | {r['wrk_c4']['MBps']:,.0f} | {r['wrk_c4']['MBps'] / limit['wrk_c4']['MBps']:.0%} | "
              f"{r['curl_MBps']:,.0f} | {r['curl_MBps'] / limit['curl_MBps']:.0%} |")
    inst = results["install"]
    print("\n| install of 50 packages (cold cache) | median s | vs --find-links | vs nginx static index |")
    print("|---|---|---|---|")
    for tool in ("pip", "uv"):
        if f"{tool}, airlock index" not in inst:
            continue
        fl, st = inst[f"{tool}, --find-links folder"], inst[f"{tool}, nginx static index"]
        for where in ("airlock index", "--find-links folder", "nginx static index"):
            r = inst[f"{tool}, {where}"]
            print(f"| {tool}, {where} | {r['median_s']:.2f} | {r['median_s'] / fl['median_s']:.2f}× "
                  f"| {r['median_s'] / st['median_s']:.2f}× |")
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

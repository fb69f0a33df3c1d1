#!/usr/bin/env python3
"""Issue 3's benchmark: airlock's pypi.org mirror against devpi-server's, and
against going to pypi.org directly.

Starts airlock (release build) and devpi-server, each on a fresh data dir and
on 127.0.0.1 only, and times `pip download --no-deps --no-cache-dir` of the
pinned projects in bench/mirror-packages.txt (50 small pure-Python wheels):

  direct   pip straight at https://pypi.org/simple/ (the upstream), no server
  cold     pip through a server's root/pypi whose cache is empty: the server
           fetches every page and file from pypi.org while pip waits
  warm     pip through the same server again, with a new download dir and no
           pip cache: everything comes from the server's cache

Order of one run (interleaved so that network and machine drifts hit all alike):
  1. devpi-server: fresh data dir, cold pass (this warms its cache);
  2. --cold-runs times: a direct pass, then airlock on a fresh data dir and a
     cold pass through it (the last airlock keeps running: its cache is warm);
  3. --warm-runs times: a warm pass through airlock, then through devpi;
     then as many warm passes with uv (`uv pip install --target`), if found.
Both servers are warmed by exactly one cold pass of the same list, so their
cache state is the same when the warm passes start.

Targets (issue 3): warm path through airlock at least 3x faster than through
devpi-server; airlock's cold path within 10% of going to pypi.org directly.

Every pass checks that pip got exactly the pinned files and that their sha256
equals what pip got straight from pypi.org. Every subprocess has a timeout;
every server is stopped by its PID (SIGTERM, then SIGKILL), also on ctrl-c.
Only the servers and the direct pass talk to pypi.org; pip otherwise talks to
127.0.0.1 only.

Usage: bench/mirror_bench.py [--cold-runs 3] [--warm-runs 3] [--out FILE.json]
       bench/mirror_bench.py --help
Standard library only.
"""

import argparse
import hashlib
import http.client
import re
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEERS = os.environ.get("BENCH_PEERS", "/tmp/peers")
ROOT_PASSWORD = "bench-root-password"
# What both mirrors follow (devpi-init's root/pypi and airlock's default) and
# what the direct pass uses.
UPSTREAM = "https://pypi.org/simple/"

# No proxies: readiness polls go to 127.0.0.1 only.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(msg):
    print(f"[mirror_bench] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A pass or a server did not do what the benchmark needs; the message says what."""


# ---------------------------------------------------------------- inputs


def read_pins(path):
    """[(name, version)] from a `name==version` per line file."""
    pins = []
    with open(path, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            name, sep, version = line.partition("==")
            if not sep or not name.strip() or not version.strip():
                raise BenchError(f"{path}:{number}: expected name==version, got {line!r}")
            pins.append((name.strip(), version.strip()))
    if not pins:
        raise BenchError(f"{path}: no packages listed")
    return pins


def default_upstream_ca():
    """A CA bundle for the servers' upstream HTTPS (a proxy's CA), if the machine has one."""
    for var in ("AIRLOCK_UPSTREAM_CA", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT"):
        value = os.environ.get(var)
        if value and os.path.isfile(value):
            return value
    return None


def client_env():
    """pip's environment: no pip config (e.g. PIP_FIND_LINKS) serving files behind the
    server's back, loopback never proxied."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHONPATH"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def server_env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- servers


def proc_cpu_s(pid):
    """User + system CPU seconds of a process so far (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def proc_rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, IndexError, ValueError):
        pass
    return None


class Server:
    """One server process on 127.0.0.1, stopped by its PID."""

    def __init__(self, name, argv, env, base, mirror_path, log_path, start_timeout):
        self.name, self.argv, self.env = name, argv, env
        self.base, self.mirror_url = base, base + mirror_path
        self.log_path, self.start_timeout = log_path, start_timeout
        self.proc = None
        self.startup_s = None

    def start(self):
        with open(self.log_path, "wb") as out:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = t0 + self.start_timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} while starting; "
                                 f"see {self.log_path}")
            try:
                with _OPENER.open(self.base + "/+api", timeout=5) as resp:
                    if resp.status == 200:
                        self.startup_s = time.perf_counter() - t0
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer {self.base}/+api within "
                         f"{self.start_timeout} s; see {self.log_path}")

    def cpu_s(self):
        return proc_cpu_s(self.proc.pid) if self.proc else None

    def rss_mib(self):
        return proc_rss_mib(self.proc.pid) if self.proc else None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log(f"{self.name} (pid {self.proc.pid}) ignored SIGTERM for 15 s; SIGKILL")
            self.proc.kill()
            self.proc.wait(timeout=15)


def airlock_server(args, datadir):
    port = free_port()
    argv = [args.airlock_bin, "serve", "--listen", f"127.0.0.1:{port}",
            "--data", os.path.join(datadir, "airlock"), "--upstream", UPSTREAM]
    if args.upstream_ca:
        argv += ["--upstream-ca", args.upstream_ca]
    os.makedirs(datadir, exist_ok=True)
    return Server("airlock", argv, server_env({"AIRLOCK_ROOT_PASSWORD": ROOT_PASSWORD}),
                  f"http://127.0.0.1:{port}", "/root/pypi/+simple/",
                  os.path.join(datadir, "server.log"), start_timeout=60)


def devpi_server(args, datadir):
    port = free_port()
    serverdir = os.path.join(datadir, "server")
    os.makedirs(datadir, exist_ok=True)
    # devpi-init creates root/pypi, devpi's mirror of pypi.org, as it does by default.
    init = subprocess.run([os.path.join(args.devpi_venv, "bin", "devpi-init"),
                           "--serverdir", serverdir],
                          capture_output=True, text=True, timeout=300, env=server_env({}))
    if init.returncode != 0:
        raise BenchError(f"devpi-init failed ({init.returncode}): {init.stderr[-2000:]}")
    argv = [os.path.join(args.devpi_venv, "bin", "devpi-server"), "--serverdir", serverdir,
            "--host", "127.0.0.1", "--port", str(port)]
    extra = {}
    if args.upstream_ca:
        # devpi-server fetches with requests/httpx: both honour these.
        extra = {"REQUESTS_CA_BUNDLE": args.upstream_ca, "SSL_CERT_FILE": args.upstream_ca}
    return Server("devpi", argv, server_env(extra), f"http://127.0.0.1:{port}",
                  "/root/pypi/+simple/", os.path.join(datadir, "server.log"),
                  start_timeout=180)


def version_of(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


# ---------------------------------------------------------------- passes


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Passes:
    """Runs and checks the pip passes; remembers what pypi.org served."""

    def __init__(self, args, pins, workdir):
        self.args, self.pins, self.workdir = args, pins, workdir
        self.reference = None  # {filename: sha256} of the first direct pass
        self.count = 0

    def run(self, label, index_url, server=None):
        self.count += 1
        dest = os.path.join(self.workdir, f"{self.count:02d}-{label}")
        pip_log = dest + ".log"
        argv = [self.args.pip, "--isolated"]
        if self.args.pip_command == "install":
            argv += ["install", "--target", dest]
        else:
            argv += ["download", "-d", dest]
        # --timeout: a server's first contact with pypi.org can take longer than
        # pip's default 15 s read timeout, and a retry would hide it.
        argv += ["--quiet", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
                 "--timeout", "120", "--retries", "0", "--index-url", index_url]
        argv += [f"{name}=={version}" for name, version in self.pins]
        cpu0 = server.cpu_s() if server else None
        usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        with open(pip_log, "wb") as out:
            try:
                rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=client_env(),
                                    timeout=self.args.pass_timeout).returncode
            except subprocess.TimeoutExpired:
                raise BenchError(f"{label}: pip did not finish within "
                                 f"{self.args.pass_timeout} s; see {pip_log}") from None
        wall = time.perf_counter() - t0
        usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu1 = server.cpu_s() if server else None
        if rc != 0:
            raise BenchError(f"{label}: pip exited with {rc}; see {pip_log}")
        got = self.check(label, dest)
        # pip's own CPU time: a floor under every pass that no server can lower.
        pip_cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        result = {"label": label, "wall_s": wall, "pip_cpu_s": pip_cpu, "files": len(got),
                  "load1": os.getloadavg()[0]}
        if cpu0 is not None and cpu1 is not None:
            result["server_cpu_s"] = cpu1 - cpu0
        if server:
            result["server_rss_mib"] = server.rss_mib()
        log(f"{label}: {wall:.2f} s, pip CPU {pip_cpu:.2f} s" + (f", server CPU {result['server_cpu_s']:.2f} s"
                                       if "server_cpu_s" in result else ""))
        if self.args.pip_command == "download":
            shutil.rmtree(dest, ignore_errors=True)
        result["command"] = " ".join(argv[:argv.index("--index-url") + 2]) + " <pins>"
        return result

    def run_uv(self, label, index_url, server):
        """A warm pass with uv: `uv pip install --no-deps --no-cache --target`
        of the pins from the server's root/pypi (uv has no `download`)."""
        self.count += 1
        dest = os.path.join(self.workdir, f"{self.count:02d}-{label}")
        argv = [self.args.uv, "pip", "install", "--quiet", "--no-deps", "--no-cache",
                "--no-config", "--target", dest, "--index-url", index_url]
        argv += [f"{name}=={version}" for name, version in self.pins]
        env = dict(client_env(), UV_HTTP_TIMEOUT="120")
        cpu0 = server.cpu_s()
        t0 = time.perf_counter()
        with open(dest + ".log", "wb") as out:
            try:
                rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env,
                                    timeout=self.args.pass_timeout).returncode
            except subprocess.TimeoutExpired:
                raise BenchError(f"{label}: uv did not finish within "
                                 f"{self.args.pass_timeout} s") from None
        wall = time.perf_counter() - t0
        cpu1 = server.cpu_s()
        if rc != 0:
            raise BenchError(f"{label}: uv exited with {rc}; see {dest}.log")
        names = [d for d in os.listdir(dest) if d.endswith(".dist-info")]
        if len(names) != len(self.pins):
            raise BenchError(f"{label}: uv installed {len(names)} of {len(self.pins)}")
        shutil.rmtree(dest, ignore_errors=True)
        log(f"{label}: {wall:.2f} s, server CPU {cpu1 - cpu0:.2f} s")
        return {"label": label, "wall_s": wall, "server_cpu_s": cpu1 - cpu0,
                "files": len(names), "command": " ".join(argv[:argv.index("--index-url") + 2])
                + " <pins>"}

    def check(self, label, dest):
        if self.args.pip_command == "install":
            names = [d for d in os.listdir(dest) if d.endswith(".dist-info")]
            if len(names) != len(self.pins):
                raise BenchError(f"{label}: pip installed {len(names)} of {len(self.pins)}")
            return names
        files = {f: sha256_of(os.path.join(dest, f)) for f in os.listdir(dest)}
        if len(files) != len(self.pins):
            raise BenchError(f"{label}: pip downloaded {len(files)} files, want "
                             f"{len(self.pins)}: {sorted(files)}")
        not_wheels = [f for f in files if not f.endswith("-none-any.whl")]
        if not_wheels:
            raise BenchError(f"{label}: not pure-Python wheels: {not_wheels}; "
                             "fix bench/mirror-packages.txt")
        if self.reference is None:
            self.reference = files
        elif files != self.reference:
            differ = sorted(set(files.items()) ^ set(self.reference.items()))
            raise BenchError(f"{label}: files differ from what pypi.org served: {differ}")
        return sorted(files)


# ---------------------------------------------------------------- replay

PAGE_ACCEPT = ("application/vnd.pypi.simple.v1+json, "
               "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01")
_ANCHOR = re.compile(r'<a\s[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', re.IGNORECASE)


def replay(label, server, pins, wanted):
    """pip's requests of a warm pass without pip: one keep-alive connection, for each
    pin its project page (asking for PEP 691 JSON first, as pip does), then the
    wheel pip chose. Shows what the server itself costs, without pip's ~1 s of CPU."""
    parsed = urllib.parse.urlsplit(server.mirror_url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    by_project = {}
    for filename in wanted:
        by_project[filename.split("-", 1)[0].lower().replace("_", "-")] = filename
    cpu0 = server.cpu_s()
    t0 = time.perf_counter()
    n_bytes = 0
    try:
        for name, _version in pins:
            normal = re.sub(r"[-_.]+", "-", name).lower()
            filename = by_project.get(normal)
            if filename is None:
                raise BenchError(f"{label}: no reference wheel for {name}")
            page_url = f"{server.mirror_url}{normal}/"
            body, ctype = _get(conn, page_url, PAGE_ACCEPT)
            link = _find_link(body, ctype, filename)
            if link is None:
                raise BenchError(f"{label}: {page_url} does not list {filename}")
            file_url = urllib.parse.urljoin(page_url, link).split("#", 1)[0]
            data, _ = _get(conn, file_url, "*/*")
            n_bytes += len(data)
            if hashlib.sha256(data).hexdigest() != wanted[filename]:
                raise BenchError(f"{label}: {file_url} is not the file pypi.org served")
    finally:
        conn.close()
    wall = time.perf_counter() - t0
    cpu1 = server.cpu_s()
    result = {"label": label, "wall_s": wall, "requests": 2 * len(pins), "bytes": n_bytes,
              "load1": os.getloadavg()[0]}
    if cpu0 is not None and cpu1 is not None:
        result["server_cpu_s"] = cpu1 - cpu0
    log(f"{label}: {wall:.3f} s for {2 * len(pins)} requests")
    return result


def _get(conn, url, accept):
    parsed = urllib.parse.urlsplit(url)
    target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    if parsed.port != conn.port or parsed.hostname != conn.host:
        raise BenchError(f"replay: {url} points away from the server")
    conn.request("GET", target, headers={"Accept": accept})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise BenchError(f"replay: GET {url} answered {resp.status}")
    return data, resp.getheader("Content-Type", "")


def _find_link(body, ctype, filename):
    if "json" in ctype:
        for entry in json.loads(body).get("files", []):
            if entry.get("filename") == filename:
                return entry.get("url")
        return None
    for href, text in _ANCHOR.findall(body.decode("utf-8", "replace")):
        if text.strip() == filename:
            return href.replace("&amp;", "&")
    return None


# ---------------------------------------------------------------- report


def summary(results):
    """Medians and spreads of each pass kind."""
    def stats(label, key="wall_s"):
        values = [r[key] for r in results["passes"] if r["label"].startswith(label)
                  and r.get(key) is not None]
        if not values:
            return None
        return {"median": statistics.median(values), "min": min(values), "max": max(values),
                "n": len(values)}

    return {
        "direct": stats("direct"),
        "airlock_cold": stats("airlock-cold"),
        "devpi_cold": stats("devpi-cold"),
        "airlock_warm": stats("airlock-warm"),
        "devpi_warm": stats("devpi-warm"),
        "airlock_cold_cpu": stats("airlock-cold", "server_cpu_s"),
        "devpi_cold_cpu": stats("devpi-cold", "server_cpu_s"),
        "airlock_warm_cpu": stats("airlock-warm", "server_cpu_s"),
        "devpi_warm_cpu": stats("devpi-warm", "server_cpu_s"),
        "direct_pip": stats("direct", "pip_cpu_s"),
        "airlock_cold_pip": stats("airlock-cold", "pip_cpu_s"),
        "devpi_cold_pip": stats("devpi-cold", "pip_cpu_s"),
        "airlock_warm_pip": stats("airlock-warm", "pip_cpu_s"),
        "devpi_warm_pip": stats("devpi-warm", "pip_cpu_s"),
        "airlock_uv_warm": stats("airlock-uv-warm"),
        "devpi_uv_warm": stats("devpi-uv-warm"),
        "airlock_uv_warm_cpu": stats("airlock-uv-warm", "server_cpu_s"),
        "devpi_uv_warm_cpu": stats("devpi-uv-warm", "server_cpu_s"),
        "airlock_replay": stats("airlock-replay"),
        "devpi_replay": stats("devpi-replay"),
    }


def fmt_stat(stat):
    if not stat:
        return "–"
    if stat["n"] == 1:
        return f"{stat['median']:.2f}"
    return f"{stat['median']:.2f} ({stat['min']:.2f}–{stat['max']:.2f})"


def ratio(a, b):
    if not a or not b or not b["median"]:
        return None
    return a["median"] / b["median"]


def fmt_ratio(value):
    return "–" if value is None else f"{value:.2f}×"


def report(results):
    s = summary(results)
    n = results["meta"]["packages"]
    lines = [
        f"{n} pinned pure-Python wheels, `pip {results['meta']['pip_command']} --no-deps "
        "--no-cache-dir`; seconds of wall time per pass, median (min–max) when more "
        "than one; server CPU = CPU seconds the server process burnt during the pass; "
        "pip's own CPU = user+system seconds of the pip process, a floor under the "
        "wall time that no server can lower.",
        "",
        "| pass | airlock | devpi-server | pypi.org direct | airlock/devpi | airlock/direct |",
        "|---|---|---|---|---|---|",
        f"| cold: empty cache, server fetches from pypi.org | {fmt_stat(s['airlock_cold'])} "
        f"| {fmt_stat(s['devpi_cold'])} | {fmt_stat(s['direct'])} "
        f"| {fmt_ratio(ratio(s['airlock_cold'], s['devpi_cold']))} "
        f"| {fmt_ratio(ratio(s['airlock_cold'], s['direct']))} |",
        f"| warm: everything from the server's cache | {fmt_stat(s['airlock_warm'])} "
        f"| {fmt_stat(s['devpi_warm'])} | – "
        f"| {fmt_ratio(ratio(s['airlock_warm'], s['devpi_warm']))} "
        f"| {fmt_ratio(ratio(s['airlock_warm'], s['direct']))} |",
        f"| server CPU s, cold pass | {fmt_stat(s['airlock_cold_cpu'])} "
        f"| {fmt_stat(s['devpi_cold_cpu'])} | – "
        f"| {fmt_ratio(ratio(s['airlock_cold_cpu'], s['devpi_cold_cpu']))} | – |",
        f"| server CPU s, warm pass | {fmt_stat(s['airlock_warm_cpu'])} "
        f"| {fmt_stat(s['devpi_warm_cpu'])} | – "
        f"| {fmt_ratio(ratio(s['airlock_warm_cpu'], s['devpi_warm_cpu']))} | – |",
    ]
    lines += [
        f"| pip's own CPU s, cold pass | {fmt_stat(s['airlock_cold_pip'])} "
        f"| {fmt_stat(s['devpi_cold_pip'])} | {fmt_stat(s['direct_pip'])} | – | – |",
        f"| pip's own CPU s, warm pass | {fmt_stat(s['airlock_warm_pip'])} "
        f"| {fmt_stat(s['devpi_warm_pip'])} | – | – | – |",
    ]
    if s["airlock_uv_warm"]:
        lines += [
            f"| warm with uv (`uv pip install --no-deps --no-cache --target`) "
            f"| {fmt_stat(s['airlock_uv_warm'])} | {fmt_stat(s['devpi_uv_warm'])} | – "
            f"| {fmt_ratio(ratio(s['airlock_uv_warm'], s['devpi_uv_warm']))} | – |",
            f"| server CPU s, warm pass with uv | {fmt_stat(s['airlock_uv_warm_cpu'])} "
            f"| {fmt_stat(s['devpi_uv_warm_cpu'])} | – "
            f"| {fmt_ratio(ratio(s['airlock_uv_warm_cpu'], s['devpi_uv_warm_cpu']))} | – |",
        ]
    if s["airlock_replay"]:
        lines.append(
            f"| warm, pip's requests replayed without pip (page + wheel each) "
            f"| {fmt_stat(s['airlock_replay'])} | {fmt_stat(s['devpi_replay'])} | – "
            f"| {fmt_ratio(ratio(s['airlock_replay'], s['devpi_replay']))} | – |")
    servers = results["servers"]
    lines.append(
        f"| start-up s | {servers.get('airlock', {}).get('startup_s', 0):.2f} "
        f"| {servers.get('devpi', {}).get('startup_s', 0):.2f} | – | – | – |")
    lines.append(
        f"| RSS after the warm passes MiB | {servers.get('airlock', {}).get('rss_mib') or 0:.1f} "
        f"| {servers.get('devpi', {}).get('rss_mib') or 0:.1f} | – | – | – |")
    lines += ["", "Targets (issue 3):", ""]
    warm = ratio(s["devpi_warm"], s["airlock_warm"])
    cold = ratio(s["airlock_cold"], s["direct"])
    if warm is not None:
        verdict = "met" if warm >= 3 else "MISSED"
        lines.append(f"- warm path at least 3× faster than devpi-server: {warm:.2f}× — {verdict}")
    uv_warm = ratio(s["devpi_uv_warm"], s["airlock_uv_warm"])
    if uv_warm is not None:
        verdict = "met" if uv_warm >= 3 else "MISSED"
        lines.append(f"- the same with uv: {uv_warm:.2f}× — {verdict}")
    replayed = ratio(s["devpi_replay"], s["airlock_replay"])
    if replayed is not None:
        lines.append(f"- (without pip's own CPU: the replayed warm requests are {replayed:.2f}× "
                     "faster through airlock)")
    if cold is not None:
        verdict = "met" if cold <= 1.10 else "MISSED"
        lines.append(f"- cold path within 10% of pypi.org direct: {100 * (cold - 1):+.1f}% "
                     f"— {verdict}")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--packages", default=os.path.join(HERE, "mirror-packages.txt"),
                    help="name==version per line (default bench/mirror-packages.txt)")
    ap.add_argument("--cold-runs", type=int, default=3,
                    help="direct passes and airlock cold passes, each airlock on a fresh "
                         "data dir (default 3); devpi runs one cold pass")
    ap.add_argument("--warm-runs", type=int, default=3, help="warm passes per server (default 3)")
    ap.add_argument("--replay-runs", type=int, default=3,
                    help="warm passes per server that replay pip's requests without pip "
                         "(default 3; 0: none)")
    ap.add_argument("--pip-command", choices=["download", "install"], default="download",
                    help="`pip download -d` (default) or `pip install --target`")
    ap.add_argument("--upstream-ca", default=default_upstream_ca(),
                    help="PEM CA bundle the servers trust for upstream HTTPS (default: "
                         "AIRLOCK_UPSTREAM_CA, SSL_CERT_FILE, REQUESTS_CA_BUNDLE or PIP_CERT)")
    ap.add_argument("--airlock-bin", default=os.environ.get("AIRLOCK_BIN")
                    or os.path.join(REPO, "target", "release", "airlock"))
    ap.add_argument("--devpi-venv", default=os.environ.get("DEVPI_VENV")
                    or os.path.join(PEERS, "devpi"))
    ap.add_argument("--pip", default=os.path.join(os.environ.get("TOOLS_VENV")
                                                  or os.path.join(PEERS, "tools"), "bin", "pip"))
    ap.add_argument("--uv", default=shutil.which("uv") or os.path.join(
        os.environ.get("TOOLS_VENV") or os.path.join(PEERS, "tools"), "bin", "uv"),
        help="uv for warm passes with uv too (default: on PATH or in the tools venv; "
             "'' for none)")
    ap.add_argument("--pass-timeout", type=int, default=600, help="seconds per pip pass")
    ap.add_argument("--work", default=None,
                    help="scratch dir (default $BENCH_WORK/mirror-<time>, BENCH_WORK "
                         "defaults to /tmp/airlock-bench-work)")
    ap.add_argument("--out", default=None, help="results JSON (default WORK/results.json)")
    ap.add_argument("--keep", action="store_true", help="keep data dirs and logs")
    ap.add_argument("--report", metavar="RESULTS_JSON",
                    help="only print the table of an earlier run's results JSON")
    args = ap.parse_args(argv)
    if args.report:
        return args
    if not 1 <= args.cold_runs <= 20 or not 1 <= args.warm_runs <= 20:
        ap.error("--cold-runs and --warm-runs must be between 1 and 20")
    if not 0 <= args.replay_runs <= 20:
        ap.error("--replay-runs must be between 0 and 20")
    for path, what in ((args.airlock_bin, "airlock binary (cargo build --release, or --airlock-bin)"),
                       (os.path.join(args.devpi_venv, "bin", "devpi-server"),
                        "devpi-server (the peer harness' install_peers.sh, or --devpi-venv)"),
                       (args.pip, "pip (the peer harness' install_peers.sh, or --pip)")):
        if not os.access(path, os.X_OK):
            ap.error(f"no {what} at {path}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        with open(args.report, encoding="utf-8") as fh:
            print(report(json.load(fh)))
        return 0
    pins = read_pins(args.packages)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = args.work or os.path.join(os.environ.get("BENCH_WORK", "/tmp/airlock-bench-work"),
                                     f"mirror-{stamp}")
    os.makedirs(work, exist_ok=True)
    out = args.out or os.path.join(work, "results.json")

    # SIGTERM behaves like ctrl-c: the finally below stops the servers by PID.
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    results = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "packages": len(pins),
            "packages_file": os.path.relpath(args.packages, REPO),
            "pip_command": args.pip_command, "upstream": UPSTREAM,
            "upstream_ca": args.upstream_ca, "cold_runs": args.cold_runs,
            "warm_runs": args.warm_runs, "host": platform.node(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
            "versions": {
                "airlock": version_of([args.airlock_bin, "--version"]),
                "devpi-server": version_of([os.path.join(args.devpi_venv, "bin",
                                                         "devpi-server"), "--version"]),
                "pip": version_of([args.pip, "--version"]),
            },
        },
        "servers": {}, "passes": [],
    }
    passes = Passes(args, pins, os.path.join(work, "passes"))
    os.makedirs(passes.workdir, exist_ok=True)
    running = []

    def start(server):
        running.append(server)
        server.start()
        log(f"{server.name} answers on {server.base} after {server.startup_s:.2f} s "
            f"(pid {server.proc.pid})")
        return server

    try:
        devpi = start(devpi_server(args, os.path.join(work, "devpi")))
        results["servers"]["devpi"] = {"startup_s": devpi.startup_s}
        # The direct pass goes first: it is the reference for every file's sha256.
        results["passes"].append(passes.run("direct-1", UPSTREAM))
        results["passes"].append(passes.run("devpi-cold", devpi.mirror_url, devpi))
        airlock = None
        for run in range(1, args.cold_runs + 1):
            if run > 1:
                results["passes"].append(passes.run(f"direct-{run}", UPSTREAM))
            if airlock is not None:
                airlock.stop()
            airlock = start(airlock_server(args, os.path.join(work, f"airlock-{run}")))
            results["servers"]["airlock"] = {"startup_s": airlock.startup_s}
            results["passes"].append(passes.run(f"airlock-cold-{run}", airlock.mirror_url,
                                                airlock))
        for run in range(1, args.warm_runs + 1):
            results["passes"].append(passes.run(f"airlock-warm-{run}", airlock.mirror_url,
                                                airlock))
            results["passes"].append(passes.run(f"devpi-warm-{run}", devpi.mirror_url, devpi))
        for run in range(1, (args.warm_runs + 1) if args.uv else 1):
            for server, label in ((airlock, "airlock"), (devpi, "devpi")):
                results["passes"].append(passes.run_uv(f"{label}-uv-warm-{run}",
                                                       server.mirror_url, server))
        # Replays need the reference digests, which only `pip download` records.
        for run in range(1, args.replay_runs + 1 if passes.reference else 1):
            for server in (airlock, devpi):
                results["passes"].append(replay(f"{server.name}-replay-{run}", server, pins,
                                                passes.reference))
        results["servers"]["airlock"]["rss_mib"] = airlock.rss_mib()
        results["servers"]["devpi"]["rss_mib"] = devpi.rss_mib()
    except BenchError as err:
        log(f"error: {err}")
        results["error"] = str(err)
    except KeyboardInterrupt:
        log("interrupted")
        results["error"] = "interrupted"
    finally:
        for server in reversed(running):
            server.stop()
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["summary"] = summary(results)
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=2)
    print(report(results))
    log(f"results JSON: {out}")
    if not args.keep and "error" not in results:
        for name in os.listdir(work):
            path = os.path.join(work, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
    return 1 if "error" in results else 0


if __name__ == "__main__":
    sys.exit(main())

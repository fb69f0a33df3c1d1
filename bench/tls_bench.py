#!/usr/bin/env python3
"""TLS benchmark: airlock's own rustls listener against devpi-server behind
nginx (devpi's usual TLS deployment), in one run on this machine.

Steps: a throwaway PKI from `airlock certs init`; airlock serving HTTPS with
`--client-auth optional`; devpi-server on plain HTTP behind an nginx TLS
terminator (same server certificate, TLS 1.2/1.3, upstream keep-alive);
nginx alone answering a static page over TLS, as the ceiling of what a C TLS
terminator does on this machine; the same project (one wheel, one sdist)
uploaded to a private index without bases on both servers. Then, with wrk:

- TLS handshakes/s: `Connection: close`, so every request is a new TCP
  connection and a full TLS handshake (no session resumption: wrk does not
  resume), at 32 connections, on a small page (`/+api` on airlock, the same
  on devpi through nginx, a static 64-byte file on nginx alone);
- simple-page requests/s over TLS with keep-alive at 32 connections, p50 and
  p99, on the project's simple page.

wrk cannot present a client certificate, so requests run without one
(client auth is optional); what a handshake with a client certificate adds
is one signature verification on the server.

Also printed: the TLS version each server negotiates and whether it offers
HTTP/2 by ALPN (curl and openssl s_client).

    python3 bench/tls_bench.py [--duration 10]

Needs: wrk, nginx, curl, openssl (apt), devpi-server and twine (the peer
venvs of bench/run.sh under $BENCH_PEERS, default /tmp/peers), cargo.
Every process it starts is stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/airlock-bench-work"))
PEERS = Path(os.environ.get("BENCH_PEERS", "/tmp/peers"))
LUA = REPO / "bench" / "wrk_json.lua"
PW = "tls-bench-pw"

sys.path.insert(0, str(REPO / "bench"))
from scale_bench import small_wheel, wrk as wrk_run  # noqa: E402


def log(msg: str) -> None:
    print(f"[tls] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Procs:
    """Processes this run started; stopped by PID, last first."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv, logfile: Path, env=None) -> subprocess.Popen:
        out = open(logfile, "ab")
        p = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=out, env=env)
        self.procs.append(p)
        return p

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def wait_https(url: str, ca: Path, timeout: float = 120) -> None:
    ctx = ssl.create_default_context(cafile=str(ca))
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def run(argv, **kw) -> str:
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True, **kw).stdout


def tls_facts(host: str, port: int, ca: Path) -> dict:
    url = f"https://{host}:{port}/"
    version = run(["curl", "-sS", "-o", "/dev/null", "--cacert", ca, "--http2", "-w", "%{http_version}", url])
    brief = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", host,
                            "-brief", "-CAfile", str(ca)], input="", capture_output=True, text=True,
                           timeout=30).stderr
    proto = next((l.split(":", 1)[1].strip() for l in brief.splitlines() if "Protocol version" in l), "?")
    return {"http_version": version, "tls": proto}


def nginx_conf(path: Path, pki: Path, port_devpi_tls: int, port_static: int, devpi_port: int,
               static_root: Path) -> None:
    scratch = path.parent
    path.write_text(f"""
worker_processes auto;
pid {scratch}/nginx.pid;
error_log {scratch}/nginx-error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {scratch}/client_body;
    proxy_temp_path {scratch}/proxy;
    fastcgi_temp_path {scratch}/fastcgi;
    uwsgi_temp_path {scratch}/uwsgi;
    scgi_temp_path {scratch}/scgi;
    ssl_certificate {pki}/server.pem;
    ssl_certificate_key {pki}/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    upstream devpi {{ server 127.0.0.1:{devpi_port}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port_devpi_tls} ssl http2;
        server_name localhost;
        client_max_body_size 200m;
        location / {{
            proxy_pass http://devpi;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host:$server_port;
            proxy_set_header X-outside-url https://localhost:{port_devpi_tls};
            proxy_set_header X-Real-IP $remote_addr;
        }}
    }}
    server {{
        listen 127.0.0.1:{port_static} ssl http2;
        server_name localhost;
        root {static_root};
    }}
}}
""")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--out", type=Path, help="results JSON (default $BENCH_WORK/tls-<time>.json)")
    args = ap.parse_args()
    for tool in ("wrk", "nginx", "curl", "openssl"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"tls_bench: {tool} is missing (apt-get install {tool})", file=sys.stderr)
            return 2
    devpi_bin, twine = PEERS / "devpi" / "bin", PEERS / "tools" / "bin" / "twine"
    if not (devpi_bin / "devpi-server").exists() or not twine.exists():
        print(f"tls_bench: devpi-server/twine not under {PEERS} (run bench/run.sh once, or the harness' "
              "install_peers.sh)", file=sys.stderr)
        return 2
    airlock = Path(os.environ.get("AIRLOCK_BIN", REPO / "target" / "release" / "airlock"))
    if not os.environ.get("AIRLOCK_BIN"):
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "airlock"], cwd=REPO, check=True)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    scratch = WORK / f"tls-run-{stamp}"
    scratch.mkdir(parents=True)
    pki = scratch / "pki"
    run([airlock, "certs", "init", pki, "--server-name", "localhost", "--client", "bench"])
    ca = pki / "ca.pem"
    name, wheel = small_wheel("tls-bench-demo", "1.0")
    (scratch / name).write_bytes(wheel)

    procs = Procs()
    results: dict = {"duration_s": args.duration}

    def stop(*_):
        procs.stop_all()
        sys.exit(130)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        # airlock, HTTPS with optional client certificates
        a_port = free_port()
        (scratch / "no-policies").mkdir()
        procs.start([airlock, "serve", "--listen", f"127.0.0.1:{a_port}", "--data", scratch / "airlock-data",
                     "--offline", "--policies", scratch / "no-policies", "--tls-cert", pki / "server.pem",
                     "--tls-key", pki / "server.key", "--client-ca", ca, "--client-auth", "optional"],
                    scratch / "airlock.log", env=dict(os.environ, AIRLOCK_ROOT_PASSWORD=PW, AIRLOCK_LOG="warn"))
        a_url = f"https://localhost:{a_port}"
        wait_https(f"{a_url}/+api", ca)
        ctx = ssl.create_default_context(cafile=str(ca))
        for method, path, body in (("PUT", "/bench", {"password": PW}), ("PUT", "/bench/dev", {"bases": []})):
            req = urllib.request.Request(f"{a_url}{path}", data=json.dumps(body).encode(), method=method,
                                         headers={"Content-Type": "application/json"})
            import base64
            req.add_header("Authorization", "Basic " + base64.b64encode(f"root:{PW}".encode()).decode())
            urllib.request.urlopen(req, context=ctx, timeout=30).read()
        tw_env = dict(os.environ, REQUESTS_CA_BUNDLE="", CURL_CA_BUNDLE="")
        for k in [k for k in tw_env if k.startswith(("PIP_", "TWINE_"))]:
            del tw_env[k]
        run([twine, "upload", "--non-interactive", "--disable-progress-bar", "--cert", ca,
             "--repository-url", f"{a_url}/bench/dev/", "-u", "bench", "-p", PW, scratch / name], env=tw_env)

        # devpi-server behind nginx
        d_port, n_port, s_port = free_port(), free_port(), free_port()
        run([devpi_bin / "devpi-init", "--serverdir", scratch / "devpi", "--root-passwd", PW])
        procs.start([devpi_bin / "devpi-server", "--serverdir", scratch / "devpi", "--host", "127.0.0.1",
                     "--port", d_port], scratch / "devpi.log")
        static = scratch / "static"
        static.mkdir()
        (static / "ping").write_text("x" * 64)
        nginx_conf(scratch / "nginx.conf", pki, n_port, s_port, d_port, static)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        procs.start([nginx, "-c", scratch / "nginx.conf", "-p", scratch], scratch / "nginx.log")
        d_url = f"https://localhost:{n_port}"
        wait_https(f"{d_url}/+api", ca)
        client = [devpi_bin / "devpi", "--clientdir", scratch / "devpi-client"]
        denv = dict(os.environ, REQUESTS_CA_BUNDLE=str(ca))
        run([*client, "use", f"{d_url}/"], env=denv)
        run([*client, "login", "root", "--password", PW], env=denv)
        run([*client, "user", "-c", "bench", f"password={PW}"], env=denv)
        run([*client, "login", "bench", "--password", PW], env=denv)
        run([*client, "index", "-c", "dev", "bases="], env=denv)
        run([twine, "upload", "--non-interactive", "--disable-progress-bar", "--cert", ca,
             "--repository-url", f"{d_url}/bench/dev/", "-u", "bench", "-p", PW, scratch / name], env=tw_env)
        s_url = f"https://localhost:{s_port}"

        page = "/bench/dev/+simple/tls-bench-demo/"
        for url in (a_url, d_url):
            body = run(["curl", "-sS", "--fail", "--cacert", ca, f"{url}{page}"])
            assert name in body, body

        results["facts"] = {"airlock": tls_facts("localhost", a_port, ca),
                            "nginx+devpi": tls_facts("localhost", n_port, ca)}
        log(f"negotiated: {results['facts']}")
        targets = {
            "airlock": (f"{a_url}/+api", f"{a_url}{page}"),
            "nginx+devpi": (f"{d_url}/+api", f"{d_url}{page}"),
            "nginx static": (f"{s_url}/ping", None),
        }
        for server, (small, simple) in targets.items():
            log(f"{server}: handshakes")
            wrk_run(small, 2, {"Connection": "close"})
            hs = wrk_run(small, args.duration, {"Connection": "close"})
            results.setdefault(server, {})["handshakes"] = hs
            if simple:
                log(f"{server}: simple page, keep-alive")
                wrk_run(simple, 2)
                results[server]["page"] = wrk_run(simple, args.duration)
    finally:
        procs.stop_all()

    out = args.out or WORK / f"tls-{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    a, d, s = results["airlock"], results["nginx+devpi"], results["nginx static"]
    print("| figure | airlock | nginx + devpi-server | nginx alone (static) | airlock / nginx+devpi |")
    print("|---|---|---|---|---|")
    print(f"| TLS handshakes/s (new connection per request, -c32) | {a['handshakes']['rps']:,.0f} | "
          f"{d['handshakes']['rps']:,.0f} | {s['handshakes']['rps']:,.0f} | "
          f"{a['handshakes']['rps'] / d['handshakes']['rps']:.1f}× |")
    print(f"| handshake request p99 ms | {a['handshakes']['p99_ms']:.1f} | {d['handshakes']['p99_ms']:.1f} | "
          f"{s['handshakes']['p99_ms']:.1f} | |")
    print(f"| simple page req/s over TLS, keep-alive, -c32 | {a['page']['rps']:,.0f} | {d['page']['rps']:,.0f} | – | "
          f"{a['page']['rps'] / d['page']['rps']:.1f}× |")
    print(f"| simple page p50 / p99 ms | {a['page']['p50_ms']:.2f} / {a['page']['p99_ms']:.2f} | "
          f"{d['page']['p50_ms']:.2f} / {d['page']['p99_ms']:.2f} | – | |")
    f = results["facts"]
    print(f"| negotiated (curl --http2, openssl s_client) | {f['airlock']['tls']}, HTTP/{f['airlock']['http_version']} | "
          f"{f['nginx+devpi']['tls']}, HTTP/{f['nginx+devpi']['http_version']} | | |")
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

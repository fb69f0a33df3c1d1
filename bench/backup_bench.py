#!/usr/bin/env python3
"""Backup benchmark (issue 18): how much of a loaded server's throughput
survives `airlock backup` running beside it?

Target: with `airlock backup DIR` running throughout the measured window,
the server keeps >= 80% of the req/s it serves without one.

Data: the distinct-blob folder of fsck_bench.py (`gen_index
--distinct-blobs`; default 100,000 projects x 5 versions x a real wheel +
sdist of ~6 KiB, and a core metadata blob per release; cached under
$BENCH_WORK). Each run works on a copy: blobs hard-linked (`cp -al`, they
are immutable), the database and secret copied.

One run:

1. the release `airlock serve` on 127.0.0.1 (ephemeral port), waited for
   until idle (the first start stores the typosquat index of 100k names);
2. every kind of page checked once; the load is a mix, one line each for
   200 projects spread over the index (1,000 requests, round-robin):
   simple page HTML, simple page PEP 691 JSON, web project page HTML, web
   version page HTML, the project's JSON (devpi API); wrk -t2 -c32;
3. one backup with the server idle (timed: what a backup costs alone; it
   also warms the page cache the way the measured backups will find it);
4. `--reps` rounds (default 3), the order alternating (A B, B A, ...):
   * **baseline**: wrk for `--duration` s (default 60), no backup;
   * **with backup**: `airlock backup` started, then wrk for the same
     time; a backup that finishes inside the window is followed at once
     by another (so one is running throughout), the last one is waited for
     after the window; every backup must exit 0 (written and verified).
   Backups are removed and the disk synced between windows (unmeasured);
5. per window req/s, p50/p99 and the server's CPU ms per request; per
   backup its wall and CPU seconds. The ratio is the median req/s with a
   backup over the median without.

Prints a table and writes JSON to $BENCH_WORK/backup-<time>.json (or
--out). Every process it starts (server, wrk, backups) is stopped by its
PID, also on ctrl-c/SIGTERM.

    python3 bench/backup_bench.py [--projects 100000] [--duration 60] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fsck_bench  # noqa: E402
import scale_bench  # noqa: E402

WORK = scale_bench.WORK
LUA = Path(__file__).resolve().parent / "wrk_mix.lua"
TARGET = 0.80
INDEX = scale_bench.INDEX
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"

_running: list[subprocess.Popen] = []
_server: list[scale_bench.Server] = []


def log(msg: str) -> None:
    print(f"[backup-bench] {msg}", file=sys.stderr, flush=True)


def _stop_everything(signum, _frame) -> None:
    for p in list(_running):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for s in _server:
        s.stop()
    raise SystemExit(128 + signum)


def rm_tree(path: Path) -> float:
    t0 = time.monotonic()
    if path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)
    return time.monotonic() - t0


def copy_data(src: Path, dst: Path) -> float:
    """A working copy of a data folder: blobs hard-linked, the rest copied."""
    t0 = time.monotonic()
    dst.mkdir(parents=True)
    subprocess.run(["cp", "-al", str(src / "blobs"), str(dst / "blobs")], check=True)
    for p in src.iterdir():
        if p.is_file() and not p.name.startswith(".generated"):
            shutil.copy2(p, dst / p.name)
    os.sync()
    return time.monotonic() - t0


def paths_file(run: Path, projects: int, versions: int, sample: int = 200) -> tuple[Path, list]:
    lines = []
    for i in range(sample):
        p = (i * projects) // sample + (i % 7)
        p = min(p, projects - 1)
        name, version = f"scale-{p:06d}", f"1.{i % versions}.0"
        lines += [
            ("*/*", f"/{INDEX}/+simple/{name}/"),
            (SIMPLE_JSON, f"/{INDEX}/+simple/{name}/"),
            ("text/html", f"/{INDEX}/{name}"),
            ("text/html", f"/{INDEX}/{name}/{version}"),
            ("application/json", f"/{INDEX}/{name}"),
        ]
    f = run / "paths.txt"
    f.write_text("".join(f"{a}\t{p}\n" for a, p in lines))
    return f, lines


def check_pages(base: str, lines: list) -> dict:
    """Each kind of page once: 200 and the content type it should have."""
    kinds = {}
    for accept, path in lines[:5]:
        status, body = scale_bench.get(base + path, {"Accept": accept})
        assert status == 200, (path, accept, status, body[:300])
        kinds[f"{accept} {path}"] = len(body)
    return kinds


def wrk_start(url: str, duration: int, paths: Path) -> subprocess.Popen:
    args = ["wrk", "-t2", "-c32", f"-d{duration}s", "--timeout", "10s", "-s", str(LUA), url,
            "--", str(paths)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    _running.append(p)
    return p


def wrk_result(p: subprocess.Popen) -> dict:
    out, err = p.communicate()
    _running.remove(p)
    if p.returncode != 0:
        raise RuntimeError(f"wrk exited with {p.returncode}: {err}")
    line = next(l for l in out.splitlines() if l.startswith("WRK_JSON "))
    r = json.loads(line[len("WRK_JSON "):])
    if r["errors"]:
        raise RuntimeError(f"wrk saw {r['errors']} errors")
    return {"requests": r["requests"], "rps": r["requests"] / (r["duration_us"] / 1e6),
            "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000, "max_ms": r["max_us"] / 1000}


class Backup:
    """One `airlock backup` run in the background; reaped with wait4 so its
    own CPU time is known."""

    def __init__(self, airlock: Path, data: Path, dest: Path, extra: list[str]):
        self.dest = dest
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([str(airlock), "backup", str(dest), "--data", str(data), *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _running.append(self.proc)
        self.wall_s: float | None = None
        self.cpu_s: float | None = None
        self.output = ""

    def poll(self, block: bool = False) -> bool:
        """Has it finished? (Reaps it and records its figures.)"""
        if self.wall_s is not None:
            return True
        pid, status, ru = os.wait4(self.proc.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        self.wall_s = time.perf_counter() - self.t0
        self.cpu_s = ru.ru_utime + ru.ru_stime
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.output = self.proc.stdout.read().decode(errors="replace")
        self.proc.stdout.close()
        _running.remove(self.proc)
        if self.proc.returncode != 0:
            raise RuntimeError(f"airlock backup into {self.dest} failed ({self.proc.returncode}):\n"
                               f"{self.output[-3000:]}")
        return True

    def figures(self) -> dict:
        return {"wall_s": round(self.wall_s, 2), "cpu_s": round(self.cpu_s, 2),
                "output": self.output.strip()[-500:]}


def window(srv: scale_bench.Server, url: str, paths: Path, duration: int, backup_args=None) -> dict:
    """One measured wrk window; with `backup_args` (airlock, data, folder,
    extra, counter) backups run throughout."""
    os.sync()
    time.sleep(2)
    load = os.getloadavg()[0]
    backups: list[Backup] = []

    def start_backup():
        airlock, data, folder, extra, counter = backup_args
        counter[0] += 1
        backups.append(Backup(airlock, data, folder / f"backup-{counter[0]:03d}", extra))

    if backup_args:
        start_backup()
    cpu0 = scale_bench.cpu_s(srv.proc.pid)
    w = wrk_start(url, duration, paths)
    while w.poll() is None:
        time.sleep(0.1)
        if backup_args and backups[-1].poll():
            start_backup()
    cpu1 = scale_bench.cpu_s(srv.proc.pid)
    r = wrk_result(w)
    r["server_cpu_ms_per_req"] = (cpu1 - cpu0) * 1000 / max(r["requests"], 1)
    r["load1_before"] = load
    if backup_args:
        # The one still running when the window closed: let it finish.
        backups[-1].poll(block=True)
        r["backups"] = [b.figures() for b in backups]
        r["backups_finished_inside"] = len(backups) - 1
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, default=100_000)
    ap.add_argument("--versions", type=int, default=5)
    ap.add_argument("--blob-size", type=int, default=6144, help="average archive size in bytes")
    ap.add_argument("--duration", type=int, default=60, help="seconds per measured wrk window")
    ap.add_argument("--reps", type=int, default=3, help="rounds of (baseline, with backup)")
    ap.add_argument("--copy", action="store_true", help="run `airlock backup --copy` (no hard links)")
    ap.add_argument("--max-cpu", type=int, help="pass `--max-cpu N` to airlock backup (default: its own)")
    ap.add_argument("--keep", action="store_true", help="keep the run folder")
    ap.add_argument("--out", type=Path, help="results JSON (default $BENCH_WORK/backup-<time>.json)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("backup_bench: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop_everything)
    signal.signal(signal.SIGINT, _stop_everything)
    WORK.mkdir(parents=True, exist_ok=True)
    airlock, gen = scale_bench.build()
    version = subprocess.run([str(airlock), "--version"], capture_output=True, text=True).stdout.strip()
    source, info = fsck_bench.generated(gen, args.projects, args.versions, args.blob_size)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = WORK / f"backup-run-{stamp}"
    run.mkdir(parents=True)
    data = run / "data"
    log(f"copying {source} (blobs hard-linked)")
    copy_s = copy_data(source, data)
    log(f"copied in {copy_s:.0f} s; starting airlock serve")
    srv = scale_bench.Server(airlock, data, run / "airlock.log")
    _server.append(srv)
    extra = ["--copy"] if args.copy else []
    if args.max_cpu is not None:
        extra += ["--max-cpu", str(args.max_cpu)]
    result: dict = {"airlock": version, "machine": fsck_bench.machine(), "generated": info,
                    "duration_s": args.duration, "reps": args.reps, "backup_args": extra,
                    "copy_s": round(copy_s, 1), "server_settled_s": round(srv.settled_s, 2)}
    try:
        paths, lines = paths_file(run, args.projects, args.versions)
        result["pages"] = check_pages(srv.base, lines)
        url = srv.base + "/"
        wrk_result(wrk_start(url, 3, paths))  # warm-up

        log("one backup with the server idle")
        b = Backup(airlock, data, run / "backup-idle", extra)
        b.poll(block=True)
        result["idle_backup"] = b.figures()
        log(f"idle backup: {b.wall_s:.1f} s wall, {b.cpu_s:.1f} s CPU; {b.output.strip()}")
        result["rm_backup_s"] = round(rm_tree(run / "backup-idle"), 1)

        counter = [0]
        windows: dict[str, list[dict]] = {"baseline": [], "backup": []}
        for r in range(args.reps):
            order = ["baseline", "backup"] if r % 2 == 0 else ["backup", "baseline"]
            for kind in order:
                folder = run / f"round-{r}"
                folder.mkdir(exist_ok=True)
                bargs = (airlock, data, folder, extra, counter) if kind == "backup" else None
                w = window(srv, url, paths, args.duration, bargs)
                windows[kind].append(w)
                extra_msg = ""
                if kind == "backup":
                    bs = w["backups"]
                    extra_msg = (f", {len(bs)} backup(s): " +
                                 ", ".join(f"{x['wall_s']:.0f} s" for x in bs))
                log(f"round {r + 1}/{args.reps} {kind}: {w['rps']:,.0f} req/s, p99 {w['p99_ms']:.1f} ms, "
                    f"server {w['server_cpu_ms_per_req']:.3f} ms CPU/req{extra_msg}")
                rm_tree(folder)
        result["windows"] = windows
        result["rss_after_mib"] = scale_bench.rss_mib(srv.proc.pid)
    finally:
        srv.stop()
        for p in list(_running):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait()

    med = {k: {m: statistics.median(w[m] for w in v) for m in
               ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_req")} for k, v in windows.items()}
    ratio = med["backup"]["rps"] / med["baseline"]["rps"]
    all_backups = [b for w in windows["backup"] for b in w["backups"]]
    result.update({"medians": med, "ratio": ratio, "target": TARGET, "met": ratio >= TARGET})
    out = args.out or WORK / f"backup-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.keep:
        rm_tree(run)

    print(f"{version}; {info['projects']:,} projects x {info['versions']} versions, {info['files']:,} "
          f"release files with distinct blobs (~{args.blob_size} B); wrk -t2 -c32, mixed pages "
          f"(simple HTML/JSON, web project/version HTML, project JSON), {args.duration} s x {args.reps} "
          f"windows each (medians)\n")
    print("| window | req/s | p50 ms | p99 ms | server CPU ms/req |")
    print("|---|---:|---:|---:|---:|")
    for k, label in (("baseline", "no backup"), ("backup", "`airlock backup` running")):
        m = med[k]
        print(f"| {label} | {m['rps']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
              f"{m['server_cpu_ms_per_req']:.3f} |")
    ib = result["idle_backup"]
    print(f"\nbackups during the windows: {len(all_backups)}, wall "
          + ", ".join(f"{b['wall_s']:.0f}" for b in all_backups) + " s, CPU "
          + ", ".join(f"{b['cpu_s']:.0f}" for b in all_backups)
          + f" s; one backup with the server idle: {ib['wall_s']:.0f} s wall, {ib['cpu_s']:.0f} s CPU")
    print(f"\nTarget: req/s with a backup running >= {TARGET:.0%} of without: {ratio:.2f}x -> "
          f"{'MET' if ratio >= TARGET else 'NOT MET'}")
    print(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

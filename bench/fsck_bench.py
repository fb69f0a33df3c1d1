#!/usr/bin/env python3
"""fsck benchmark (issue 18): is `airlock fsck` about as fast as sha256sum?

Target: `airlock fsck` re-hashes a store at >= 80% of the throughput of
`find blobs -type f -print0 | xargs -0 sha256sum` on the same blobs, with
a warm page cache for both.

It builds (once, cached under $BENCH_WORK) a data folder whose every file
row has its own blob: `gen_index --distinct-blobs BYTES` writes N projects
x V versions x (a real wheel + a real sdist of ~BYTES, 2/3 to 4/3 of it)
plus one core metadata blob per release, all rows valid, so `airlock fsck`
must find it sound (checked before measuring). Then, on those blobs:

- warm-up: one run of each command (sha256sum's output is checked: every
  line's digest is its file's name), not measured;
- `--reps` rounds (default 3), the order rotated each round so drifts hit
  every command alike, of
    * `find blobs -type f -print0 | xargs -0 sha256sum > /dev/null` (the
      peer the target names),
    * the same with `xargs -0 -P2 -n 5000` (sha256sum on both cores, for
      reference),
    * `airlock fsck --data DIR --json` (every check on: re-hash, rows vs
      blobs, orphans, core metadata against each archive, audit chain,
      `PRAGMA quick_check`),
    * `airlock fsck --no-metadata` (for reference: what the metadata
      comparison costs);
- per command the median wall time, CPU seconds (user + system, from
  wait4), and bytes/s = the blobs' total size / wall time;
- the ratio fsck / sha256sum of bytes/s, and whether it is >= 0.80.

Prints a table and writes JSON to $BENCH_WORK/fsck-<time>.json (or --out).
Every process it starts is waited for; on SIGTERM/ctrl-c the running one is
stopped by its PID (process group).

    python3 bench/fsck_bench.py [--projects 100000] [--versions 5] [--blob-size 6144] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_bench  # noqa: E402

WORK = scale_bench.WORK
TARGET = 0.80
INDEX, PASSWORD = scale_bench.INDEX, scale_bench.BENCH_PW

_running: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(f"[fsck-bench] {msg}", file=sys.stderr, flush=True)


def _stop_running(signum, _frame) -> None:
    for p in _running:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    raise SystemExit(128 + signum)


def run_timed(args, cwd: Path, stdout=subprocess.DEVNULL) -> tuple[float, float, bytes]:
    """Run `args` (a list, or a shell string run by bash -o pipefail) and
    return (wall s, CPU s of it and everything it waited for, stdout if
    piped). One command at a time: RUSAGE_CHILDREN's growth is its use."""
    if isinstance(args, str):
        args = ["bash", "-o", "pipefail", "-c", args]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.Popen(args, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE,
                         start_new_session=True)
    _running.append(p)
    try:
        out, err = p.communicate()
    finally:
        _running.remove(p)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if p.returncode != 0:
        raise RuntimeError(f"{args} exited with {p.returncode}: {err.decode(errors='replace')[-2000:]}")
    return wall, cpu, out or b""


def generated(gen: Path, projects: int, versions: int, blob_size: int) -> tuple[Path, dict]:
    """The cached distinct-blob data folder of this shape, and its stamp."""
    folder = WORK / f"distinct-p{projects}-v{versions}-b{blob_size}"
    stamp = folder / ".generated.json"
    if stamp.exists():
        return folder, json.loads(stamp.read_text())
    partial = folder.with_suffix(".partial")
    for d in (folder, partial):
        if d.exists():
            subprocess.run(["rm", "-rf", "--one-file-system", str(d)], check=True)
    log(f"generating {projects:,} projects x {versions} versions, distinct blobs of ~{blob_size} B, "
        f"into {folder} (cached for later runs)")
    t0 = time.monotonic()
    subprocess.run([str(gen), "--data", str(partial), "--projects", str(projects), "--versions",
                    str(versions), "--index", INDEX, "--password", PASSWORD,
                    "--distinct-blobs", str(blob_size)], check=True)
    gen_s = time.monotonic() - t0
    os.sync()
    sync_s = time.monotonic() - t0 - gen_s
    partial.rename(folder)
    info = {"projects": projects, "versions": versions, "blob_size": blob_size,
            "files": projects * versions * 2, "generate_s": round(gen_s, 1),
            "sync_s": round(sync_s, 1), "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    stamp.write_text(json.dumps(info, indent=2) + "\n")
    log(f"generated in {gen_s:.0f} s (+{sync_s:.0f} s sync)")
    return folder, info


def fsck(airlock: Path, data: Path, *extra: str) -> tuple[float, float, dict]:
    wall, cpu, out = run_timed([str(airlock), "fsck", "--data", str(data), "--json", *extra],
                                  cwd=data, stdout=subprocess.PIPE)
    report = json.loads(out)
    if report["problems"] != 0:
        raise RuntimeError(f"fsck found {report['problems']} problem(s) in {data}: {out[:2000]!r}")
    return wall, cpu, report


SHA_PLAIN = "find blobs -type f -print0 | xargs -0 sha256sum > /dev/null"
SHA_P2 = "find blobs -type f -print0 | xargs -0 -P2 -n 5000 sha256sum > /dev/null"


def check_sha256sum(data: Path) -> int:
    """One sha256sum pass whose every line is checked (also the warm-up)."""
    _, _, out = run_timed("find blobs -type f -print0 | xargs -0 sha256sum", cwd=data,
                             stdout=subprocess.PIPE)
    n = 0
    for line in out.splitlines():
        digest, name = line.split(b"  ", 1)
        if not name.endswith(digest):
            raise RuntimeError(f"sha256sum: {line!r} does not hash to its name")
        n += 1
    return n


def disk_usage(data: Path) -> tuple[int, int]:
    """(bytes in the files, bytes allocated on disk for them) below blobs/:
    files only (`du --apparent-size` would add every folder's own size)."""
    out = subprocess.run(["find", str(data / "blobs"), "-type", "f", "-printf", "%s %b\n"],
                         capture_output=True, text=True, check=True).stdout
    apparent = allocated = 0
    for line in out.splitlines():
        size, blocks = line.split()
        apparent += int(size)
        allocated += int(blocks) * 512
    return apparent, allocated


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def machine() -> dict:
    sha_version = subprocess.run(["sha256sum", "--version"], capture_output=True, text=True).stdout
    return {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "mem_total_gib": round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1),
            "sha256sum": sha_version.splitlines()[0] if sha_version else "?",
            "sha_ni": " sha_ni " in Path("/proc/cpuinfo").read_text()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, default=100_000)
    ap.add_argument("--versions", type=int, default=5, help="versions per project (a wheel and an sdist each)")
    ap.add_argument("--blob-size", type=int, default=6144, help="average archive size in bytes")
    ap.add_argument("--reps", type=int, default=3, help="measured rounds (medians are reported)")
    ap.add_argument("--skip-no-metadata", action="store_true", help="do not time fsck --no-metadata")
    ap.add_argument("--out", type=Path, help="results JSON (default $BENCH_WORK/fsck-<time>.json)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _stop_running)
    signal.signal(signal.SIGINT, _stop_running)
    WORK.mkdir(parents=True, exist_ok=True)
    airlock, gen = scale_bench.build()
    version = subprocess.run([str(airlock), "--version"], capture_output=True, text=True).stdout.strip()
    data, info = generated(gen, args.projects, args.versions, args.blob_size)
    apparent, allocated = disk_usage(data)
    avail = mem_available()
    if allocated > avail * 0.9:
        log(f"warning: the blobs take {allocated / 2**30:.1f} GiB on disk, {avail / 2**30:.1f} GiB "
            "of memory is available: the page cache may not hold them all")

    log("warm-up: fsck (must report the folder sound), then sha256sum (every line checked)")
    _, _, report = fsck(airlock, data)
    files = info["files"]
    if report["metadata_checked"] != files or report["metadata_unreadable"]:
        raise RuntimeError(f"fsck checked the metadata of {report['metadata_checked']} of {files} "
                           f"files ({len(report['metadata_unreadable'])} unreadable)")
    n = check_sha256sum(data)
    if n != report["blobs"]:
        raise RuntimeError(f"sha256sum hashed {n} files, fsck {report['blobs']} blobs")
    total = report["bytes"]
    if total != apparent:
        raise RuntimeError(f"fsck hashed {total} bytes, du says the blobs hold {apparent}")

    commands = {
        "sha256sum": lambda: run_timed(SHA_PLAIN, cwd=data)[:2],
        "sha256sum -P2": lambda: run_timed(SHA_P2, cwd=data)[:2],
        "airlock fsck": lambda: fsck(airlock, data)[:2],
    }
    if not args.skip_no_metadata:
        commands["airlock fsck --no-metadata"] = lambda: fsck(airlock, data, "--no-metadata")[:2]
    names = list(commands)
    runs: dict[str, list[dict]] = {k: [] for k in names}
    for r in range(args.reps):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            load = os.getloadavg()[0]
            wall, cpu = commands[name]()
            runs[name].append({"wall_s": round(wall, 3), "cpu_s": round(cpu, 2), "load1": load})
            log(f"round {r + 1}/{args.reps}: {name}: {wall:.2f} s wall, {cpu:.1f} s CPU "
                f"({total / wall / 1e6:.0f} MB/s; load {load:.2f})")

    figures = {}
    for name in names:
        wall = statistics.median(x["wall_s"] for x in runs[name])
        figures[name] = {"wall_s": wall, "cpu_s": statistics.median(x["cpu_s"] for x in runs[name]),
                         "bytes_per_s": total / wall, "files_per_s": report["blobs"] / wall,
                         "runs": runs[name]}
    ratio = figures["airlock fsck"]["bytes_per_s"] / figures["sha256sum"]["bytes_per_s"]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or WORK / f"fsck-{stamp}.json"
    result = {"airlock": version, "machine": machine(), "data": str(data), "generated": info,
              "blobs": report["blobs"], "bytes": total, "bytes_on_disk": allocated,
              "metadata_checked": report["metadata_checked"], "reps": args.reps,
              "figures": figures, "ratio_fsck_to_sha256sum": ratio,
              "ratio_fsck_to_sha256sum_p2": figures["airlock fsck"]["bytes_per_s"]
              / figures["sha256sum -P2"]["bytes_per_s"],
              "target": TARGET, "met": ratio >= TARGET}
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"{version}; {info['projects']:,} projects x {info['versions']} versions: "
          f"{files:,} release files, {report['blobs']:,} blobs (archives + core metadata), "
          f"{total / 1e9:.2f} GB ({allocated / 1e9:.2f} GB on disk), mean {total / report['blobs']:,.0f} B; "
          f"warm page cache, medians of {args.reps}\n")
    print("| command | wall s | CPU s | MB/s | blobs/s | vs sha256sum |")
    print("|---|---:|---:|---:|---:|---:|")
    base = figures["sha256sum"]["bytes_per_s"]
    for name in names:
        f = figures[name]
        print(f"| {name} | {f['wall_s']:.2f} | {f['cpu_s']:.1f} | {f['bytes_per_s'] / 1e6:,.0f} | "
              f"{f['files_per_s']:,.0f} | {f['bytes_per_s'] / base:.2f}x |")
    print(f"\nTarget: airlock fsck >= {TARGET:.0%} of sha256sum's bytes/s: {ratio:.2f}x -> "
          f"{'MET' if ratio >= TARGET else 'NOT MET'}")
    print(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

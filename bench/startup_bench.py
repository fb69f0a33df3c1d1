#!/usr/bin/env python3
"""Start-up and idle memory of cluster nodes on a migrated database (issue 20).

Generates a single-node folder of N projects (bench/gen_index, 5 versions x
wheel + sdist each), moves it into a private PostgreSQL cluster and a real
S3 protocol server with `airlock store migrate`, then starts three nodes
on it one after another and prints, for each, the seconds from spawn to the
first answer of `/+api` and its RSS once idle. Target: < 2 s and < 40 MiB
per node at 100k projects.

    cargo build --release --bin airlock --example s3_server --example gen_index
    python3 bench/startup_bench.py --projects 100000

Set AIRLOCK_BENCH_LOG=info to keep the nodes' start-up logs (beside their
data folders, in the work folder printed at the end).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import cluster_bench as cb  # noqa: E402
from engines import S3, PgCluster  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, default=100_000)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    rel = REPO / "target" / "release"
    work = Path(tempfile.mkdtemp(prefix="airlock-startup-bench-", dir="/tmp"))
    os.chmod(work, 0o710)
    src = work / "single"
    t = time.perf_counter()
    subprocess.run([str(rel / "examples" / "gen_index"), "--data", str(src), "--projects", str(args.projects)],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"gen_index: {time.perf_counter() - t:.1f} s", flush=True)
    pg = PgCluster(durable=True)
    s3 = S3(rel / "examples" / "s3_server")
    try:
        env = dict(os.environ, AIRLOCK_DATABASE_PASSWORD=pg.password, **s3.env())
        t = time.perf_counter()
        subprocess.run([str(rel / "airlock"), "store", "migrate", "--from", str(src), "--to-database", pg.url,
                        "--to-blobs", s3.blobs("bench"), "--work", str(work / "migrate")],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        print(f"store migrate: {time.perf_counter() - t:.1f} s", flush=True)
        shared = ["--database", pg.url, "--blobs", s3.blobs("bench")]
        shared_env = {"AIRLOCK_DATABASE_PASSWORD": pg.password, **s3.env()}
        print("| node | start-up, s | idle RSS, MiB |\n|---:|---:|---:|")
        for i in range(args.nodes):
            node = cb.Node(rel / "airlock", work / f"node{i}", shared, shared_env)
            time.sleep(1)
            print(f"| {i + 1} | {node.startup_s:.2f} | {node.rss_mib():.1f} |", flush=True)
            node.stop()
    finally:
        s3.stop()
        pg.stop()
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

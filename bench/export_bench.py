#!/usr/bin/env python3
"""Export/import benchmark (issue 18): how long do `airlock export` and
`airlock import` take on a large data folder? Target: 100k projects export +
import in under 5 minutes.

It reuses scale_bench.py's generated data folders (`gen_index`: N projects x
V versions x a wheel and an sdist; cached under $BENCH_WORK), copies one to
a scratch folder, and times, with the release `airlock`:

- `airlock export` (hard-linked blobs, every blob re-hashed),
- `airlock import` into a new folder (every record checked, every blob
  re-hashed, the audit chain verified),
- a second `airlock export` of the imported folder, whose tables must equal
  the first's (the audit log: plus the one import entry).

Prints the figures and writes them as JSON. Every process it starts is
waited for (none runs in the background).

    python3 bench/export_bench.py [--sizes 1000,100000] [--versions 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_bench  # noqa: E402


def timed(args: list[str]) -> float:
    t = time.monotonic()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def tables(d: Path) -> dict[str, list[str]]:
    return {p.name: p.read_text().splitlines() for p in sorted((d / "tables").iterdir())}


def du(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--versions", type=int, default=5)
    ap.add_argument("--out", default=str(scale_bench.WORK / "export_bench.json"))
    a = ap.parse_args()
    airlock, gen = scale_bench.build()
    results = []
    for n in [int(s) for s in a.sizes.split(",")]:
        src = scale_bench.generated(gen, n, a.versions)
        scratch = scale_bench.WORK / f"export-p{n}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        data = scratch / "data"
        shutil.copytree(src, data, ignore=shutil.ignore_patterns(".generated"))
        ex1, data2, ex2 = scratch / "export1", scratch / "data2", scratch / "export2"
        export_s = timed([str(airlock), "export", str(ex1), "--data", str(data)])
        import_s = timed([str(airlock), "import", str(ex1), "--data", str(data2)])
        export2_s = timed([str(airlock), "export", str(ex2), "--data", str(data2)])
        t1, t2 = tables(ex1), tables(ex2)
        assert t1.keys() == t2.keys()
        for k in t1:
            if k == "audit_log.ndjson":
                assert t2[k][: len(t1[k])] == t1[k] and len(t2[k]) == len(t1[k]) + 1, k
            else:
                assert t1[k] == t2[k], f"{k} differs after the round trip"
        manifest = json.loads((ex1 / "airlock-export.json").read_text())
        records = sum(t["records"] for t in manifest["tables"])
        r = {
            "projects": n,
            "versions": a.versions,
            "records": records,
            "files": next(t["records"] for t in manifest["tables"] if t["name"] == "files"),
            "tables_bytes": du(ex1 / "tables"),
            "blobs": manifest["blobs"]["count"],
            "export_s": round(export_s, 2),
            "import_s": round(import_s, 2),
            "export_plus_import_s": round(export_s + import_s, 2),
            "second_export_s": round(export2_s, 2),
            "round_trip_identical": True,
        }
        scale_bench.log(json.dumps(r))
        results.append(r)
        shutil.rmtree(scratch, ignore_errors=True)
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    print("| projects | records | files | tables (MB) | export (s) | import (s) | export+import (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['projects']:,} | {r['records']:,} | {r['files']:,} | "
              f"{r['tables_bytes'] / 1e6:.0f} | {r['export_s']} | {r['import_s']} | "
              f"{r['export_plus_import_s']} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compare airlock with its peers from one run of the shared bench harness.

Reads the harness' results JSON (bench.py --out FILE) and prints Markdown:
one table with every figure for every server (median over repetitions), the
ratio airlock/peer for each peer, and a check of the issue-2 targets.

Usage: ratios.py RESULTS.json [--subject airlock] [--target 10]

A ratio is subject / peer of the two medians. Whether that is good depends on
the figure: the "better" column says if higher or lower wins (for req/s a
ratio of 12 means airlock served 12 times as many requests per second; for
p99 or CPU ms a ratio of 0.1 means airlock took a tenth).
"""

import argparse
import json
import math
import statistics
import sys

WRK_FIGURES = [
    ("simple_project", "(a) project page"),
    ("simple_root", "(b) root simple index"),
    ("download_small", "(c1) ~10 KiB wheel"),
    ("download_big", "(c2) ~5 MiB wheel"),
]

# issue 2: requests/s of a simple page and of a small file download.
TARGET_SCENARIOS = [("simple_project", "project page"), ("download_small", "10 KiB wheel")]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def figures(server):
    """[(figure name, unit, better, median value)] of one server's results."""
    reps = server.get("reps", [])
    out = []

    def add(name, unit, better, values):
        out.append((name, unit, better, median(values)))

    uploads = [r["upload"] for r in reps if "upload" in r]
    add("upload", "files/s", "higher", [u["files_per_s"] for u in uploads])
    add("upload server CPU", "ms/file", "lower",
        [u["server_cpu_s"] * 1000 / u["files"] for u in uploads if "server_cpu_s" in u])
    add("start-up", "s", "lower", [r.get("startup_s") for r in reps])
    add("RSS idle", "MiB", "lower", [r["rss_idle"]["rss_kib"] / 1024 for r in reps
                                     if "rss_idle" in r])
    for scenario, title in WRK_FIGURES:
        runs = [r["wrk"][scenario] for r in reps if scenario in r.get("wrk", {})]
        if not runs:
            continue
        add(f"{title}", "req/s", "higher", [w["rps"] for w in runs])
        add(f"{title} p50", "ms", "lower", [w["lat_p50_us"] / 1000 for w in runs])
        add(f"{title} p99", "ms", "lower", [w["lat_p99_us"] / 1000 for w in runs])
        add(f"{title} server CPU", "ms/req", "lower",
            [w["server_cpu_ms_per_req"] for w in runs])
        add(f"{title} RSS after load", "MiB", "lower", [w["rss_kib"] / 1024 for w in runs])
        # errors are summed, not a median: any error is worth seeing
        out.append((f"{title} errors", "count", "lower", sum(w["errors"] for w in runs)))
    pips = [r["pip_install"] for r in reps if "pip_install" in r]
    if pips:
        add(f"(d) pip install {pips[0]['packages']} pkgs", "s", "lower",
            [p["median_s"] for p in pips])
        add("(d) pip install server CPU", "s/run", "lower",
            [p.get("server_cpu_s_per_run") for p in pips])
    mirrors = server.get("mirror", [])
    if mirrors:
        add("(e) mirror cold", "s", "lower", [m["cold_s"] for m in mirrors])
        add("(e) mirror warm", "s", "lower", [m["warm_s"] for m in mirrors])
    return out


def fmt(value):
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        return None if a == 0 else math.inf
    return a / b


def fmt_ratio(r):
    if r is None:
        return "–"
    if math.isinf(r):
        return "∞"
    if r < 0.1:
        return f"{r:.3f}×"
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def render(results, subject, target):
    servers = results["servers"]
    if subject not in servers:
        sys.exit(f"ratios.py: no server named {subject!r} in the results "
                 f"(found: {', '.join(servers)})")
    peers = [n for n in servers if n != subject]
    names = [subject] + peers
    table = {n: {f[0]: f for f in figures(servers[n])} for n in names}
    order = [f[0] for f in figures(servers[subject])]
    for n in peers:  # figures only a peer has (the mirror), after ours
        order += [k for k in table[n] if k not in order]

    meta = results.get("meta", {})
    m = meta.get("machine", {})
    p = meta.get("params", {})
    wl = meta.get("workload", {})
    lines = [
        f"Run {meta.get('started', '?')}: {m.get('cpus')} CPUs ({m.get('cpu_model')}), "
        f"load average at start {', '.join(f'{x:.2f}' for x in m.get('loadavg_start', []))}, "
        f"at end {', '.join(f'{x:.2f}' for x in meta.get('loadavg_end', []))}.",
        f"Workload: {wl.get('projects')} projects, {wl.get('files')} files, "
        f"{wl.get('bytes', 0) / 1e6:.1f} MB; {p.get('reps')} rep(s); wrk -t{p.get('threads')} "
        f"-c{p.get('connections')} -d{p.get('duration')}s after a {p.get('warmup')}s warm-up.",
        "",
    ]
    for n in names:
        lines.append(f"* {n}: {servers[n].get('version', '?')}")
    lines.append("")
    head = (["figure", "unit", "better"] + names
            + [f"{subject}/{peer}" for peer in peers])
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for key in order:
        unit = better = None
        values = []
        for n in names:
            f = table[n].get(key)
            if f:
                unit, better = f[1], f[2]
            values.append(f[3] if f else None)
        ratios = [fmt_ratio(ratio(values[0], v)) for v in values[1:]]
        if key.endswith("errors"):
            ratios = ["" for _ in peers]
        row = [key, unit, better] + [fmt(v) for v in values] + ratios
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")

    lines.append(f"Issue-2 target: {subject} req/s at least {target:g}× devpi's "
                 "on a project page and on a ~10 KiB wheel.")
    lines.append("")
    verdicts = []
    if "devpi" not in servers:
        lines.append("(no devpi in this run: target not checked)")
    else:
        for scenario, what in TARGET_SCENARIOS:
            title = dict(WRK_FIGURES)[scenario]
            ours = table[subject].get(title, (None,) * 4)[3]
            theirs = table["devpi"].get(title, (None,) * 4)[3]
            r = ratio(ours, theirs)
            if r is None:
                lines.append(f"* {what}: not measured in this run")
                continue
            ok = r >= target
            verdicts.append(ok)
            p99 = table[subject].get(f"{title} p99", (None,) * 4)[3]
            lines.append(f"* {what}: {fmt(ours)} req/s vs devpi {fmt(theirs)} req/s = "
                         f"{fmt_ratio(r)} -> {'MET' if ok else 'NOT MET'} "
                         f"({subject} p99 {fmt(p99)} ms)")
    errors = sum(f[3] for k, f in table[subject].items() if k.endswith("errors"))
    if errors:
        lines.append("")
        lines.append(f"WARNING: {subject} had {errors} wrk errors (socket errors or non-2xx "
                     "answers); see its server.log under the harness' runs/ folder.")
    return "\n".join(lines), verdicts, errors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", help="results JSON written by the harness' bench.py")
    ap.add_argument("--subject", default="airlock", help="server compared with the others")
    ap.add_argument("--target", type=float, default=10.0,
                    help="required req/s ratio to devpi (issue 2: 10)")
    args = ap.parse_args(argv)
    try:
        with open(args.results) as fh:
            results = json.load(fh)
    except (OSError, ValueError) as err:
        sys.exit(f"ratios.py: cannot read {args.results}: {err}")
    text, _, _ = render(results, args.subject, args.target)
    print(text)


if __name__ == "__main__":
    main()

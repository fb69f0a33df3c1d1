"""Compare a junit XML report of the devpi client's suite with the tests
that pass against devpi-server (expected.txt).

    compare.py --write expected.txt results.xml       record the reference
    compare.py --expected expected.txt --deviations deviations.txt results.xml

Exit 1 when a test that passes against devpi-server does not pass here and
deviations.txt does not name it (one `test-id<TAB>reason` a line).
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def outcomes(report: Path) -> dict[str, str]:
    """test id (as pytest prints it) -> passed / failed / skipped"""
    out: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):
        parts = case.get("classname", "").split(".")
        # classname is testing.test_x[.Class]; the module is the first two
        test_id = "::".join(["/".join(parts[:2]) + ".py", *parts[2:], case.get("name", "")])
        state = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                state = "failed"
            elif child.tag == "skipped" and state == "passed":
                state = "skipped"
        out[test_id] = state
    return out


def read_list(path: Path) -> dict[str, str]:
    items: dict[str, str] = {}
    if not path.exists():
        return items
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        test_id, _, reason = line.partition("\t")
        items[test_id.strip()] = reason.strip()
    return items


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", type=Path)
    ap.add_argument("--expected", type=Path)
    ap.add_argument("--deviations", type=Path)
    ap.add_argument("report", type=Path)
    args = ap.parse_args()
    got = outcomes(args.report)
    passed = sorted(t for t, s in got.items() if s == "passed")
    if args.write:
        header = (
            "# Tests of the devpi-client 7.3.0 suite that pass against devpi-server 6.20.3\n"
            "# (recorded by `bash tests/devpi_suite.sh --reference`); each must pass against airlock.\n"
        )
        args.write.write_text(header + "".join(t + "\n" for t in passed))
        print(f"devpi suite reference: {len(passed)} passed of {len(got)}, written to {args.write}")
        return 0
    expected = read_list(args.expected)
    deviations = read_list(args.deviations) if args.deviations else {}
    missing = [t for t in expected if got.get(t) != "passed"]
    unexplained = [t for t in missing if t not in deviations]
    stale = [t for t in deviations if got.get(t) == "passed"]
    functional = [t for t in passed if t.startswith("testing/test_functional.py")]
    print(
        f"devpi suite: {len(passed)} passed in all ({len(functional)} in test_functional.py); "
        f"{len(expected) - len(missing)} of the {len(expected)} that pass against devpi-server"
    )
    for t in missing:
        why = deviations.get(t)
        print(f"  {'deviation' if why else 'FAILED   '} {t} [{got.get(t, 'not run')}]"
              + (f": {why}" if why else ""))
    for t in stale:
        print(f"  passes now, remove from deviations.txt: {t}")
    if unexplained:
        print(f"devpi suite: {len(unexplained)} test(s) that pass against devpi-server fail here")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

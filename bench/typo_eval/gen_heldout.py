#!/usr/bin/env python3
"""Seeded generator of synthetic typosquat attacks on the top-5,000 names,
one class per kind, plus the legitimate negatives (corpus ranks 5,001-15,000).

    python3 bench/typo_eval/gen_heldout.py [--seed 19] [--per-kind 120]

Writes bench/typo_eval/synth-tune.tsv and synth-test.tsv (same columns as the
dev set: name, expected, target, kind) and legit-5001-15000.tsv. Tune/test are
split by *target*: a target whose attacks are in one half never appears in
the other, so the test half measures names the rules were not tuned on.
Every generated name that is itself a corpus name (any rank) is dropped: it
is a real project, not an attack.
"""
from __future__ import annotations

import argparse
import hashlib
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
POS = {c: (r, i + off) for r, (row, off) in enumerate(zip(ROWS, (0, 0.25, 0.75))) for i, c in enumerate(row)}


def adjacent(a: str, b: str) -> bool:
    if a == b or a not in POS or b not in POS:
        return False
    (ra, xa), (rb, xb) = POS[a], POS[b]
    return (ra == rb and abs(xa - xb) <= 1) or (abs(ra - rb) == 1 and abs(xa - xb) <= 1.5)


LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOWELS = "aeiou"
# Affixes attackers add to popular names (from public write-ups of campaigns:
# "-python", "py-", "-lib", "-dev", "-sdk", "-api", "-utils", "-tools", "-core",
# "-client", "-plus", "-fix", "-new", version digits and so on).
PREFIXES = ["python-", "py-", "python3-", "py3-", "pip-", "lib-", "easy-", "fast-", "secure-", "auto-"]
SUFFIXES = ["-python", "-py", "-lib", "-dev", "-sdk", "-api", "-utils", "-tools", "-core", "-client",
            "-plus", "-fix", "-new", "-latest", "-pkg", "-module", "-package", "2", "3", "-3", "-helper",
            "-official", "-pro", "-toolkit", "-cli", "-update"]
# (American, British), each applied where it reads as a spelling variant:
# `or`/`er`/`og` only at the end of a word.
BRITISH = [("ize", "ise"), ("yze", "yse"), ("or", "our"), ("er", "re"), ("og", "ogue"), ("ization", "isation"),
           ("color", "colour"), ("center", "centre"), ("favor", "favour"), ("license", "licence")]
WORD_END_ONLY = {"or", "er", "og"}


def word_variants(w: str) -> list[str]:
    out = []
    if w.endswith("s") and len(w) > 3:
        out.append(w[:-1])
    else:
        out.append(w + "s")
    if w.endswith("y") and len(w) > 3:
        out.append(w[:-1] + "ies")
    return out


def gen(kind: str, t: str, r: random.Random) -> str | None:
    n = len(t)
    letters = [i for i, c in enumerate(t) if c.isalpha()]
    if kind == "nonadjacent-sub":
        cand = [i for i in letters if i > 0]
        if n < 5 or not cand:
            return None
        i = r.choice(cand)
        ch = r.choice([c for c in LETTERS if c != t[i] and not adjacent(c, t[i])])
        return t[:i] + ch + t[i + 1:]
    if kind == "first-letter":
        if not (4 <= n <= 6) or not t[0].isalpha():
            return None
        ch = r.choice([c for c in LETTERS if c != t[0]])
        return ch + t[1:]
    if kind == "omission-short":
        if n != 4 or "-" in t:
            return None
        i = r.randrange(n)
        return t[:i] + t[i + 1:]
    if kind == "trailing":
        if n < 4:
            return None
        op = r.choice(["plural", "single", "letter"])
        if op == "plural":
            return None if t.endswith("s") else t + "s"
        if op == "single":
            return t[:-1] if t.endswith("s") and t[-2:] != "ss" else None
        return t + r.choice(LETTERS)
    if kind == "word-plural":
        words = t.split("-")
        if len(words) < 2:
            return None
        i = r.randrange(len(words))
        if len(words[i]) < 3 or words[i].isdigit():
            return None
        words[i] = r.choice(word_variants(words[i]))
        return "-".join(words)
    if kind == "two-edit":
        if n < 6:
            return None
        op = r.choice(["rep+suffix", "swap+ins", "swap+plural", "omit+suffix"])
        inner = [i for i in letters if 0 < i < n - 1]
        if not inner:
            return None
        i = r.choice(inner)
        if op == "rep+suffix":
            return t[:i] + t[i] + t[i:] + r.choice(["s", "2", "3", "x"])
        if op == "swap+ins":
            if i + 1 >= n or t[i + 1] == "-" or t[i] == t[i + 1]:
                return None
            s = t[:i] + t[i + 1] + t[i] + t[i + 2:]
            return s + r.choice(["s", "2", "1", "3"])
        if op == "swap+plural":
            if i + 1 >= n or t[i + 1] == "-" or t[i] == t[i + 1]:
                return None
            s = t[:i] + t[i + 1] + t[i] + t[i + 2:]
            return s + "s" if not s.endswith("s") else s[:-1]
        return t[:i] + t[i + 1:] + r.choice(["s", "-py", "-lib", "2"])
    if kind == "british":
        import re
        for a, b in r.sample(BRITISH, len(BRITISH)):
            pat = re.escape(a) + (r"(?=-|$)" if a in WORD_END_ONLY else "")
            if re.search(pat, t):
                s = re.sub(pat, b, t, count=1)
                return s + ("s" if r.random() < 0.5 and not s.endswith("s") else "")
        return None
    if kind == "reorder":
        words = t.split("-")
        if len(words) >= 2 and r.random() < 0.3:
            r.shuffle(words)
            s = "-".join(words)
            return s if s != t else None
        # two letters swapped at distance 2 inside a word (setoptuols)
        cand = [i for i in range(1, n - 2) if t[i].isalpha() and t[i + 2].isalpha() and t[i] != t[i + 2] and "-" not in t[i:i + 3]]
        if n < 6 or not cand:
            return None
        i = r.choice(cand)
        return t[:i] + t[i + 2] + t[i + 1] + t[i] + t[i + 3:]
    if kind == "word-level":
        words = t.split("-")
        if len(words) < 2:
            return None
        # every word pluralised / singularised, or one word plural plus a typo elsewhere
        out = [r.choice(word_variants(w)) if len(w) >= 3 and not w.isdigit() else w for w in words]
        return "-".join(out)
    if kind == "affix":
        if n < 4:
            return None
        if r.random() < 0.35:
            return r.choice(PREFIXES) + t
        return t + r.choice(SUFFIXES)
    raise ValueError(kind)


KINDS = ["nonadjacent-sub", "first-letter", "omission-short", "trailing", "word-plural", "two-edit",
         "british", "reorder", "word-level", "affix"]


def normalize(name: str) -> str:
    import re
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--per-kind", type=int, default=120)
    ap.add_argument("--corpus", default=str(ROOT / "policies/popular-pypi.tsv"))
    args = ap.parse_args()
    rows = [l.split("\t") for l in Path(args.corpus).read_text().splitlines()[1:]]
    ranked = [(int(a), normalize(b)) for a, b in rows]
    all_names = {n for _, n in ranked}
    top = [n for rk, n in ranked if rk <= 5000]
    r = random.Random(args.seed)
    half = lambda t: "tune" if int(hashlib.sha256(t.encode()).hexdigest(), 16) % 2 == 0 else "test"
    out = {"tune": [], "test": []}
    for kind in KINDS:
        seen = set()
        tries = 0
        while len(seen) < args.per_kind and tries < 200000:
            tries += 1
            # attackers go for the most popular names: half the targets from the top 500
            pool = top[:500] if r.random() < 0.5 else top
            t = r.choice(pool)
            name = gen(kind, t, r)
            if not name:
                continue
            name = normalize(name).strip("-")
            if name in all_names or name == t or name in seen or len(name) < 2:
                continue
            seen.add(name)
            out[half(t)].append((name, "suspicious", t, kind))
    for part, cases in out.items():
        with open(HERE / f"synth-{part}.tsv", "w") as f:
            f.write("name\texpected\ttarget\tkind\n")
            for c in cases:
                f.write("\t".join(c) + "\n")
    # The negatives: every corpus name ranked 5,001-15,000, and the same
    # split in halves (by hash of the name) for tuning and reporting.
    legit = [n for rk, n in ranked if rk > 5000]
    for part, names in [("legit-5001-15000", legit),
                        ("legit-tune", [n for n in legit if half(n) == "tune"]),
                        ("legit-test", [n for n in legit if half(n) == "test"])]:
        with open(HERE / f"{part}.tsv", "w") as f:
            f.write("name\texpected\ttarget\tkind\n")
            for n in names:
                f.write(f"{n}\tok\t\tlegit\n")


if __name__ == "__main__":
    main()

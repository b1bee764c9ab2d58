"""Mutation run: plant each one-line bug of mutants.py in a scratch copy, run its narrowest tests, restore.

Never run in the shared work tree: make a clean scratch copy (it refuses a tree with uncommitted changes
outside tests/mutation and tests/test_bites_*):
    git worktree add /tmp/mut-a HEAD            # one per shard; --shard 1/4 etc. run side by side
    python tests/mutation/run_mutants.py --tree /tmp/mut-a --shard 0/4 --out /tmp/res/a.json
    python tests/mutation/run_mutants.py --tree /tmp/mut-a --summary /tmp/res/*.json
(with the project's venv active). A mutant is caught when its tests fail (or hang past --timeout), missed
when they pass; tests already failing without any mutant are deselected first (the baseline, cached in the
tree). tests/test_bites_<area>.py, when present, runs first. To measure without the new tests, delete
tests/test_bites_*.py in the scratch copy; `--after BEFORE.json...` re-runs only the mutants a run missed, on
the test_bites files alone. Not collected by pytest (no test_ prefix). RESULTS.md holds the last measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutants import MUTANTS  # noqa: E402


def check(tree: Path) -> list:
    """Each mutant's fragment is found exactly once in its file, and the replacement differs."""
    problems = []
    for index, (area, file, original, replacement, _tests) in enumerate(MUTANTS):
        text = (tree / file).read_text(encoding="utf-8")
        count = text.count(original)
        if count != 1 or original == replacement:
            problems.append(f"#{index} {area} {file}: fragment found {count} times: {original[:60]!r}")
    return problems


def baseline(tree: Path, timeout: float) -> list:
    """Tests that already fail without any mutant (someone else's work in progress): deselected, so that
    they cannot count as catching anything. Cached in <tree>/.mutation-baseline.json."""
    cache = tree / ".mutation-baseline.json"
    if cache.exists():
        return json.loads(cache.read_text())
    files = sorted({f for *_, tests in MUTANTS for f in tests if not f.startswith("-")} | {str(p.relative_to(tree)) for p in tree.glob("tests/test_bites_*.py")})
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    failing = []
    for file in files:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", file],
                              cwd=tree, env=env, capture_output=True, text=True, timeout=timeout * 3)
        found = re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", proc.stdout, re.M)
        print(f"baseline {file}: {len(found)} failing", flush=True)
        failing += found
    cache.write_text(json.dumps(failing))
    return failing


def bites_files(tree: Path, index: int) -> list:
    """The new tests (tests/test_bites_*.py) a mutant's run includes: its area's and any it names."""
    area, *_, tests = MUTANTS[index]
    named = [item for item in [f"tests/test_bites_{area}.py"] + tests if item.startswith("tests/test_bites_")]
    return [item for item in dict.fromkeys(named) if (tree / item).exists()]


def run_one(tree: Path, index: int, timeout: float, failing: list = (), only_bites: bool = False) -> dict:
    area, file, original, replacement, tests = MUTANTS[index]
    if only_bites:  # the rest of the mutant's tests already passed with it planted (the "before" run)
        tests = bites_files(tree, index) or ["tests/test_bites_none.py"]
    path = tree / file
    text = path.read_text(encoding="utf-8")
    bites = f"tests/test_bites_{area}.py"
    files = list(dict.fromkeys([bites] + tests if (tree / bites).exists() else tests))  # the new tests first
    files = [item for item in files if item.startswith("-") or (tree / item).exists()]
    if not any(not item.startswith("-") for item in files):
        return {"index": index, "area": area, "file": file, "original": original, "replacement": replacement,
                "outcome": "missed", "seconds": 0.0, "tail": "no test file to run", "failed": []}
    files = [part for item in files for part in (item.split("=", 1) if item.startswith("-k=") else [item])]
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    try:
        path.write_text(text.replace(original, replacement, 1), encoding="utf-8")
        for cache in tree.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
        try:
            proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *files,
                                   *[f"--deselect={node}" for node in failing]],
                                  cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
            outcome = {0: "missed", 1: "caught"}.get(proc.returncode, f"error{proc.returncode}")  # 2-5: no real run
            tail = (proc.stdout.strip().splitlines() or [""])[-1]
            failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED") or line.startswith("ERROR")]
        except subprocess.TimeoutExpired:
            outcome, tail, failed = "caught", f"timeout after {timeout:.0f}s", []
    finally:
        path.write_text(text, encoding="utf-8")
    return {"index": index, "area": area, "file": file, "original": original, "replacement": replacement,
            "outcome": outcome, "seconds": round(time.monotonic() - started, 1), "tail": tail,
            "failed": failed[:3]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", required=True, type=Path)
    parser.add_argument("--shard", default="0/1")
    parser.add_argument("--only", default=None, help="an area, or comma-separated mutant indexes")
    parser.add_argument("--timeout", type=float, default=420.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--after", type=Path, nargs="*", default=None,
                        help="results of a run without tests/test_bites_*.py: re-run its missed mutants on those only")
    parser.add_argument("--summary", nargs="*", default=None, help="before-run JSON files: print the table")
    parser.add_argument("--summary-after", nargs="*", default=[], help="after-run JSON files")
    args = parser.parse_args()
    if args.summary is not None:
        print(summary(args.summary, args.summary_after))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))  # a kill still restores the planted file
    tree = args.tree.resolve()
    dirty = [line for line in subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                                             capture_output=True, text=True).stdout.splitlines()
             if not line[3:].startswith(("tests/mutation/", "tests/test_bites_"))]  # the harness and its tests
    if dirty:  # a shared work tree holds others' edits: bugs are planted only in a clean scratch copy
        sys.exit(f"refusing: {tree} has uncommitted changes; make a clean scratch copy (git worktree add)")
    problems = check(tree)
    if problems:
        sys.exit("\n".join(problems))
    shard, shards = (int(part) for part in args.shard.split("/"))
    chosen = range(len(MUTANTS))
    if args.only:
        if args.only.replace(",", "").isdigit():
            chosen = [int(part) for part in args.only.split(",")]
        else:
            chosen = [i for i in chosen if MUTANTS[i][0] == args.only]
    if args.after is not None:
        before = [r for path in args.after for r in json.loads(path.read_text())]
        missed = {r["index"] for r in before if r["outcome"] == "missed"}
        chosen = [i for i in chosen if i in missed]
    chosen = [i for n, i in enumerate(chosen) if n % shards == shard]
    failing = baseline(tree, args.timeout)
    results = []
    for index in chosen:
        result = run_one(tree, index, args.timeout, failing, only_bites=args.after is not None)
        results.append(result)
        print(f"#{index:3d} {result['area']:9s} {result['outcome']:6s} {result['seconds']:6.1f}s "
              f"{result['file']}: {result['original'].strip()[:50]!r} -> {result['replacement'].strip()[:40]!r}",
              flush=True)
        if args.out:
            args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    score = Counter((r["area"], r["outcome"]) for r in results)
    for area in dict.fromkeys(r["area"] for r in results):
        caught, missed = score[(area, "caught")], score[(area, "missed")]
        print(f"{area:9s} {caught}/{caught + missed} caught")


def summary(before_files, after_files) -> str:
    """Per area: caught before (without tests/test_bites_*.py) and after (a mutant missed before and caught by
    the new tests), as a Markdown table."""
    before = {r["index"]: r for path in before_files for r in json.loads(Path(path).read_text())}
    after = {r["index"]: r for path in after_files for r in json.loads(Path(path).read_text())}
    rows = ["| area | mutants | caught before | caught after |", "|---|---|---|---|"]
    totals = [0, 0, 0]
    for area in dict.fromkeys(m[0] for m in MUTANTS):
        indexes = [i for i in before if MUTANTS[i][0] == area]
        caught = sum(before[i]["outcome"] == "caught" for i in indexes)
        later = caught + sum(before[i]["outcome"] == "missed" and after.get(i, {}).get("outcome") == "caught"
                             for i in indexes)
        if indexes:
            rows.append(f"| {area} | {len(indexes)} | {caught} ({100 * caught / len(indexes):.0f}%) | "
                        f"{later} ({100 * later / len(indexes):.0f}%) |")
        totals = [totals[0] + len(indexes), totals[1] + caught, totals[2] + later]
    n = max(totals[0], 1)
    rows.append(f"| all | {totals[0]} | {totals[1]} ({100 * totals[1] / n:.0f}%) | {totals[2]} ({100 * totals[2] / n:.0f}%) |")
    still = [f"#{i} {MUTANTS[i][0]} {MUTANTS[i][1]}: {MUTANTS[i][2].strip()[:70]!r} -> {MUTANTS[i][3].strip()[:50]!r}"
             for i in sorted(before) if before[i]["outcome"] != "caught" and after.get(i, {}).get("outcome") != "caught"]
    return "\n".join(rows + ["", "still missed:"] + still)


if __name__ == "__main__":
    main()

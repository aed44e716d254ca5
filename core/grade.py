"""Grading report of the tutorial's tasks: ``python -m core.grade [--json FILE] [--task N]``.

Runs the task tests (markers ``task1`` .. ``task4``, and the optional parts
``task1_optional``, ``task4_optional``) once, in this process, and prints one
row per task: tests passed / graded, points, and the first failure's message
(every failure of a task's test starts with "Task N:"). Skipped tests (the
Task 1 backend you did not write, the tests of a task that waits for an earlier
one) are not graded. ``--json FILE`` writes the same for a learning-management
system; ``--task N`` grades one task and exits 0 only when all its tests pass
(the command GitHub Classroom runs per task).

Points per task come from ``--points``, else from the starter's
``.github/classroom/autograding.json``, else 25 each.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
TASKS = ("task1", "task2", "task3", "task4")
OPTIONAL = ("task1_optional", "task4_optional")
AUTOGRADING = Path(".github") / "classroom" / "autograding.json"
DEFAULT_POINTS = 25


def row_name(marker: str) -> str:
    """``task3`` -> ``Task 3``; ``task4_optional`` -> ``Task 4 (optional)``."""
    return f"Task {marker[4]}" + (" (optional)" if marker.endswith("_optional") else "")


class Collector:
    """A pytest plugin that records each test's row, outcome and failure message."""

    def __init__(self):
        self.rowOf: Dict[str, str] = {}
        self.results: Dict[str, Dict[str, str]] = {}

    def pytest_collection_modifyitems(self, items):
        for item in items:
            names = {mark.name for mark in item.iter_markers()}
            marker = next((m for m in TASKS + OPTIONAL if m in names), None)
            if marker:
                self.rowOf[item.nodeid] = marker

    def pytest_runtest_logreport(self, report):
        marker = self.rowOf.get(report.nodeid)
        if marker is None:
            return
        if report.when == "call" or report.outcome != "passed":
            previous = self.results.get(report.nodeid, {}).get("outcome")
            if previous == "failed":
                return              # a teardown after a failed call keeps the call's message
            self.results[report.nodeid] = {"outcome": report.outcome, "message": failure_message(report)}


def failure_message(report) -> str:
    """The first line that says what went wrong ("Task N: ..." for the task tests)."""
    if report.outcome == "passed":
        return ""
    if report.outcome == "skipped":
        longrepr = report.longrepr
        return str(longrepr[2] if isinstance(longrepr, tuple) else longrepr).replace("Skipped: ", "", 1)
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    text = re.sub(r"^\w*(Error|Exception): ", "", text.strip())
    return text.splitlines()[0] if text else "failed"


def read_points(root: Path, override: Optional[str]) -> Dict[str, int]:
    """Points of Task 1-4: ``--points 30,20,20,30``, else the Classroom file, else 25 each.

    Raises:
        ValueError: a ``--points`` value that is not four non-negative integers.
    """
    if override:
        parts = override.split(",")
        if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"--points={override!r} must be four non-negative integers, e.g. 25,25,25,25")
        return {task: int(p) for task, p in zip(TASKS, parts)}
    points = {task: DEFAULT_POINTS for task in TASKS}
    path = root / AUTOGRADING
    if path.is_file():
        for test in json.loads(path.read_text()).get("tests", []):
            match = re.match(r"Task (\d)", test.get("name", ""))
            if match and f"task{match[1]}" in points:
                points[f"task{match[1]}"] = int(test.get("points", DEFAULT_POINTS))
    return points


def run_tests(root: Path, markers: Sequence[str], extra: Sequence[str] = ()) -> Collector:
    """Run the tests of ``markers`` (not the slow ones) in this process; returns what was recorded."""
    import pytest

    collector = Collector()
    expression = f"({' or '.join(markers)}) and not slow"
    previous = os.getcwd()
    os.chdir(root)
    try:
        pytest.main(["-qq", "-p", "no:cacheprovider", "-m", expression, "--no-header", "-rN", *extra,
                     str(root / "tests")], plugins=[collector])
    finally:
        os.chdir(previous)
    return collector


def summarize(collector: Collector, points: Dict[str, int], markers: Sequence[str]) -> List[dict]:
    """One row per marker: counts, points and the first failure."""
    rows = []
    for marker in markers:
        results = [r for nodeid, r in collector.results.items() if collector.rowOf[nodeid] == marker]
        counts = {key: sum(r["outcome"] == key for r in results) for key in ("passed", "failed", "skipped")}
        graded = counts["passed"] + counts["failed"]
        failures = [r["message"] for r in results if r["outcome"] == "failed"]
        skips = [r["message"] for r in results if r["outcome"] == "skipped"]
        maxPoints = points.get(marker, 0)
        rows.append({
            "task": row_name(marker), "optional": marker in OPTIONAL, **counts, "graded": graded,
            "points": round(maxPoints * counts["passed"] / graded) if graded else 0, "max_points": maxPoints,
            "first_failure": failures[0] if failures else "",
            "note": "" if graded else (skips[0] if skips else "no tests"),
        })
    return rows


def print_table(rows: List[dict], out=sys.stdout) -> None:
    print(f"\n{'task':<18} {'tests':>9} {'points':>9}  first failure", file=out)
    for row in rows:
        points = f"{row['points']}/{row['max_points']}" if not row["optional"] else "-"
        tests = f"{row['passed']}/{row['graded']}"
        detail = row["first_failure"] or (f"(not graded: {row['note']})" if row["note"] else "all passed")
        print(f"{row['task']:<18} {tests:>9} {points:>9}  {detail[:160]}", file=out)
    required = [r for r in rows if not r["optional"]]
    if required:
        total, top = sum(r["points"] for r in required), sum(r["max_points"] for r in required)
        print(f"{'total':<18} {'':>9} {f'{total}/{top}':>9}", file=out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.grade", description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--task", type=int, choices=[1, 2, 3, 4], help="grade one task; exit 0 only if it passes")
    parser.add_argument("--points", help="points of Tasks 1-4, e.g. 30,20,20,30 (default: the Classroom file)")
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failing test")
    args = parser.parse_args(argv)
    try:
        points = read_points(REPO_ROOT, args.points)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    markers = [f"task{args.task}"] if args.task else list(TASKS + OPTIONAL)
    rows = summarize(run_tests(REPO_ROOT, markers, ["-x"] if args.exitfirst else []), points, markers)
    print_table(rows)
    if args.json:
        required = [r for r in rows if not r["optional"]]
        report = {"tasks": rows, "total_points": sum(r["points"] for r in required),
                  "max_points": sum(r["max_points"] for r in required)}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.json}")
    if args.task:
        row = rows[0]
        return 0 if row["graded"] and not row["failed"] else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

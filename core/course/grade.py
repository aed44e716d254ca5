"""Grading report of the tasks: ``python -m core.grade [--task N] [--json FILE] [--summary FILE]``.

Runs the task tests (markers ``task1`` .. ``task4``, and the optional parts
``task1_optional``, ``task4_optional``; the table of tasks is ``core/course/tasks.py``) once and
prints one row per task: tests passed / graded, points, and the first failure's message (every failure of a
task's test starts with "Task N:"). The tests run in a judge process that holds
no student code; each task's regions run in a child process of their own
(``core/course/sandbox``), so no region can change another task's result, or its own
by anything but what it computes. ``--details`` also prints the tests' output.

The scoring rule, the same here, in the starter's feedback workflow and on
Gradescope (which runs this module on the instructor's copy of the tests):

    points of task N = round(max points of N x passed / graded)

where "graded" counts the task's tests that passed or failed. Skipped tests (the
Task 1 backend you did not write, the optional parts) are not graded; a task
with no graded test scores 0. The optional parts are reported without points.

Points per task come from ``--points``, else from ``tests/grading.json``, else
the table's (25 each). ``--task N`` grades one task (same points; repeat it for several) and
exits 0 only when all of their tests pass; without it the exit code is 0 when every required
task passes. ``--exitfirst`` stops each task at its first failing test (the rest of that task is
reported skipped); the other tasks still run. ``--json FILE`` writes the report for other tools, ``--summary FILE``
appends it as a Markdown table (``$GITHUB_STEP_SUMMARY`` in a workflow).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from core.files import atomic_write_text, output_problem
from core.course.sandbox.run import grade_in_sandbox
from core.course.tasks import DEFAULT_POINTS, MARKERS, NUMBERS, OPTIONAL_MARKERS, TASKS, number_of, task

REPO_ROOT = Path(__file__).resolve().parents[2]
GRADING_FILE = "tests/grading.json"
MAX_POINTS = 1000
ALL_TASKS = ", ".join(str(n) for n in NUMBERS)


def row_name(marker: str) -> str:
    """``task3`` -> ``Task 3``; ``task4_optional`` -> ``Task 4 (optional)``."""
    return f"Task {number_of(marker)}" + (" (optional)" if marker.endswith("_optional") else "")


def check_points(points: Sequence) -> tuple:
    """The points of the tasks (``core.course.tasks.TASKS``) as one integer in [0, 1000] each.

    Args:
        points: a number per task, or a string ``"30,20,20,30"``.

    Raises:
        ValueError: naming the value and what is allowed.
    """
    values = points.split(",") if isinstance(points, str) else list(points)
    try:
        parsed = tuple(int(v.strip()) if isinstance(v, str) else v for v in values)
    except ValueError:
        parsed = ()
    bad = any(isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= MAX_POINTS for p in parsed)
    if len(parsed) != len(TASKS) or bad:
        shown = points if isinstance(points, str) else list(points)
        raise ValueError(f"points={shown!r} must be {len(TASKS)} integers from 0 to {MAX_POINTS} (Tasks "
                         f"{ALL_TASKS}), e.g. {','.join(str(p) for p in DEFAULT_POINTS)}")
    return parsed


def read_points(root: Path, override: Optional[str] = None) -> Dict[str, int]:
    """Points per task marker: ``override`` ("30,20,20,30"), else ``tests/grading.json``, else the table's.

    Raises:
        ValueError: a bad override, or a grading file that is not ``{"points": {"task1": int, ...}}``.
    """
    if override:
        return dict(zip(MARKERS, check_points(override)))
    path = Path(root) / GRADING_FILE
    if not path.is_file():
        return dict(zip(MARKERS, DEFAULT_POINTS))
    try:
        stored = json.loads(path.read_text())["points"]
        return dict(zip(MARKERS, check_points([stored[marker] for marker in MARKERS])))
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{GRADING_FILE} must hold {{\"points\": {{\"task1\": 25, ..., \"task4\": 25}}}} "
                         f"with integers from 0 to {MAX_POINTS} ({err})") from None


def marker_of(item) -> Optional[str]:
    """The task marker of a collected test (the table's first that it carries), or None."""
    names = {mark.name for mark in item.iter_markers()}
    return next((m for m in MARKERS + OPTIONAL_MARKERS if m in names), None)


class Collector:
    """A pytest plugin that records each test's row, outcome and failure message, and import errors."""

    def __init__(self):
        self.rowOf: Dict[str, str] = {}
        self.results: Dict[str, Dict[str, str]] = {}
        self.importErrors: List[str] = []

    def pytest_collectreport(self, report):
        if report.failed:
            self.importErrors.append(f"{report.nodeid}: {collection_message(report)}")

    def pytest_collection_modifyitems(self, items):
        for item in items:
            marker = marker_of(item)
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


def collection_message(report) -> str:
    """The last line of an import error that says what it is (``SyntaxError: ...``, file and line)."""
    text = str(report.longrepr).strip().splitlines()
    errors = [line.lstrip("E ").strip() for line in text if re.match(r"^E\s+\S", line)]
    return " ".join(errors[-3:]) if errors else (text[-1] if text else "could not be imported")


def failure_message(report) -> str:
    """The first line that says what went wrong ("Task N: ..." for the task tests)."""
    if report.outcome == "passed":
        return ""
    if report.outcome == "skipped":
        longrepr = report.longrepr
        return str(longrepr[2] if isinstance(longrepr, tuple) else longrepr).replace("Skipped: ", "", 1)
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    text = re.sub(r"^[\w.]*(Error|Exception): ", "", text.strip())
    return text.splitlines()[0] if text else "failed"


def marked_test_files(tests: Path, markers: Sequence[str]) -> List[Path]:
    """The test modules whose text names one of ``markers``: the only ones a grade must import.

    Importing every test module costs seconds (torchvision, scikit-learn, TensorBoard) that a
    task's own tests do not need. A marker reaches a test through its module's text
    (``pytest.mark.task4``, ``pytestmark``, ``marks=``) unless a conftest adds it at collection:
    when a ``conftest.py`` has ``add_marker``, every module is collected (``[tests]``).
    """
    if any("add_marker" in path.read_text(errors="replace") for path in tests.rglob("conftest.py")):
        return [tests]
    names = re.compile(r"\b(" + "|".join(re.escape(m) for m in markers) + r")\b")
    candidates = sorted({*tests.rglob("test_*.py"), *tests.rglob("*_test.py")})   # pytest's own file patterns
    files = [path for path in candidates if names.search(path.read_text(errors="replace"))]
    return files or [tests]


def run_tests(root: Path, markers: Sequence[str], extra: Sequence[str] = (), plugins: Sequence = ()) -> Collector:
    """Run the tests of ``markers`` (not the slow ones) in this process; returns what was recorded.

    The judge (``core.course.sandbox.judge``) calls it in its own tree, where no student code is.
    """
    import pytest

    collector = Collector()
    expression = f"({' or '.join(markers)}) and not slow and not inprocess"
    previous = os.getcwd()
    os.chdir(root)
    try:
        pytest.main(["-qq", "-p", "no:cacheprovider", "-m", expression, "--no-header", "-rN",
                     "--continue-on-collection-errors", *extra,
                     *map(str, marked_test_files(root / "tests", markers))], plugins=[collector, *plugins])
    finally:
        os.chdir(previous)
    return collector


def score(maxPoints: int, passed: int, graded: int) -> int:
    """The scoring rule: ``round(maxPoints x passed / graded)``, 0 when nothing was graded."""
    return round(maxPoints * passed / graded) if graded else 0


MAX_MESSAGES = 20
MAX_MESSAGE = 1000


def summarize(collector: Collector, points: Dict[str, int], markers: Sequence[str]) -> List[dict]:
    """One row per marker: counts, points (never above the task's maximum) and the distinct failures.

    ``collector`` may also carry ``notes`` (per task number: a file not found, broken markers)
    and ``failure`` (why the run recorded nothing); both land in the rows.
    """
    rows = []
    notes = getattr(collector, "notes", {}) or {}
    failure = getattr(collector, "failure", "")
    for marker in markers:
        results = [r for nodeid, r in collector.results.items() if collector.rowOf[nodeid] == marker]
        counts = {key: sum(r["outcome"] == key for r in results) for key in ("passed", "failed", "skipped")}
        graded = counts["passed"] + counts["failed"]
        failures = list(dict.fromkeys(str(r["message"])[:MAX_MESSAGE] for r in results
                                      if r["outcome"] == "failed"))[:MAX_MESSAGES]
        skips = [r["message"] for r in results if r["outcome"] == "skipped"]
        optional = marker in OPTIONAL_MARKERS
        maxPoints = 0 if optional else points.get(marker, 0)
        note = ""
        if not graded:
            note = (failure if failure else skips[0] if skips else
                    f"tests could not be imported: {collector.importErrors[0]}" if collector.importErrors
                    else f"its tests observe the code from inside its process: run python -m pytest -m {marker}"
                    if optional else "no tests")
        rows.append({
            "task": row_name(marker), "title": task(number_of(marker)).title, "optional": optional,
            **counts, "graded": graded,
            "points": min(maxPoints, max(0, score(maxPoints, counts["passed"], graded))),
            "max_points": maxPoints, "first_failure": failures[0] if failures else "",
            "failures": failures, "note": note,
            "notes": [] if optional else list(notes.get(number_of(marker), [])),
        })
    return rows


def detail(row: dict) -> str:
    """What the row's last column says."""
    if row["first_failure"]:
        return row["first_failure"]
    return f"(not graded: {row['note']})" if row["note"] else "all passed"


def print_table(rows: List[dict], out=None) -> None:
    out = out or sys.stdout         # read at the call: a stream swapped in later (a test's capture) is used
    print(f"\n{'task':<18} {'tests':>9} {'points':>9}  first failure", file=out)
    for row in rows:
        points = f"{row['points']}/{row['max_points']}" if not row["optional"] else "-"
        tests = f"{row['passed']}/{row['graded']}"
        print(f"{row['task']:<18} {tests:>9} {points:>9}  {detail(row)[:300]}", file=out)
    required = [r for r in rows if not r["optional"]]
    if required:
        total, top = sum(r["points"] for r in required), sum(r["max_points"] for r in required)
        print(f"{'total':<18} {'':>9} {f'{total}/{top}':>9}", file=out)


def markdown(rows: List[dict]) -> str:
    """The report as a Markdown table (for a GitHub job summary)."""
    lines = ["| task | tests passed | points | first failure |", "|---|---|---|---|"]
    for row in rows:
        points = f"{row['points']}/{row['max_points']}" if not row["optional"] else "-"
        text = detail(row).replace("|", "\\|").replace("\n", " ")[:300]
        lines.append(f"| {row['task']}: {row['title']} | {row['passed']}/{row['graded']} | {points} | {text} |")
    required = [r for r in rows if not r["optional"]]
    total, top = sum(r["points"] for r in required), sum(r["max_points"] for r in required)
    lines.append(f"| **total** | | **{total}/{top}** | |")
    return "\n".join(lines) + "\n"


def report_of(rows: List[dict]) -> dict:
    required = [r for r in rows if not r["optional"]]
    return {"tasks": rows, "total_points": sum(r["points"] for r in required),
            "max_points": sum(r["max_points"] for r in required),
            "rule": "points of a task = round(max points x passed / graded)"}


def is_report(path: Path) -> bool:
    """Whether ``path`` holds a report this tool wrote (one it may replace without ``--force``)."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(stored, dict) and {"tasks", "total_points", "rule"} <= set(stored)


def check_output(path: str, option: str, force: bool = True) -> Path:
    """``path`` as a file this run may write; checked before any test runs.

    Args:
        force: an existing file that is not an earlier report may be replaced.

    Raises:
        ValueError: its folder is missing or not writable, the path is a folder, or (without
            ``force``) it is an existing file other than an earlier report.
    """
    target = Path(path)
    problem = output_problem(target, replace=True, makeFolders=False)
    if problem:
        raise ValueError(f"{option} {path}: {problem}")
    if not force and target.exists() and not is_report(target):
        raise ValueError(f"{option} {path}: exists and is not an earlier grading report; "
                         f"choose another name, or pass --force to replace it")
    return target


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.grade", description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE",
                        help="also write the report as JSON (replaces an earlier report, no other file)")
    parser.add_argument("--force", action="store_true", help="let --json replace a file that is not a report")
    parser.add_argument("--summary", metavar="FILE", help="append the report as a Markdown table to FILE")
    parser.add_argument("--task", type=int, choices=NUMBERS, action="append",
                        help="grade this task (repeat for several); exit 0 only if its tests all pass")
    parser.add_argument("--points", help=f"points of Tasks {ALL_TASKS}, e.g. 30,20,20,30 (default: {GRADING_FILE})")
    parser.add_argument("-x", "--exitfirst", action="store_true",
                        help="stop each task at its first failing test (the other tasks still run)")
    parser.add_argument("--details", action="store_true", help="also print the tests' output (tracebacks)")
    args = parser.parse_args(argv)
    try:
        points = read_points(REPO_ROOT, args.points)
        jsonPath = check_output(args.json, "--json", args.force) if args.json else None
        summaryPath = check_output(args.summary, "--summary") if args.summary else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    markers = [task(n).marker for n in sorted(set(args.task))] if args.task else list(MARKERS + OPTIONAL_MARKERS)
    recorded = grade_in_sandbox(REPO_ROOT, REPO_ROOT, markers, ["-x"] if args.exitfirst else [])
    rows = summarize(recorded, points, markers)
    if args.details:
        print(recorded.log)
    if recorded.warning:
        print(f"note: {recorded.warning}")
    print_table(rows)
    for row in rows:
        for note in row["notes"]:
            print(f"{row['task']}: {note}")
    if args.exitfirst and any(r["failed"] for r in rows):
        print("note: -x stopped each failing task at its first failing test: its points count only the tests "
              "that ran (run without -x for the full count)")
    if jsonPath:
        atomic_write_text(json.dumps(report_of(rows), indent=2) + "\n", jsonPath)
        print(f"report written to {jsonPath}")
    if summaryPath:
        with open(summaryPath, "a") as stream:
            stream.write(markdown(rows))
    required = [r for r in rows if not r["optional"]]
    return 0 if all(r["graded"] and not r["failed"] for r in required) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The judge process: ``python -m core.course.sandbox.judge REPORT MARKER [MARKER ...] [-x]``.

Started by ``core.course.grade`` in the judge tree (no line of the student's there). Runs the
tests of the markers with pytest, the task regions answered by the children
(``core.course.sandbox.remote``), and writes what it recorded to ``REPORT`` (JSON): each
test's row, outcome and first message, and the import errors. Tests run grouped by
task, so one child runs at a time. ``-x`` stops each task at its first failing test (the
task's other tests are reported skipped); the other tasks still run.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core.course.grade import marker_of, run_tests
from core.course.sandbox import remote
from core.course.tasks import MARKERS, number_of


def task_of(item) -> int:
    """The task number of a collected test (one past the last task for a test of none)."""
    marker = marker_of(item)
    return number_of(marker) if marker else len(MARKERS) + 1


class ByTask:
    """Orders the collected tests by task (stable), so each task's child starts once."""

    def pytest_collection_modifyitems(self, items):
        items.sort(key=task_of)


class FirstFailureOfEachTask:
    """``-x`` per task: after a task's first failing test (call or fixture), its other tests are skipped."""

    def __init__(self):
        self.taskOf = {}
        self.stopped = set()

    def pytest_collection_modifyitems(self, items):
        self.taskOf = {item.nodeid: task_of(item) for item in items}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        if self.taskOf.get(item.nodeid) in self.stopped:
            pytest.skip(f"not run: Task {self.taskOf[item.nodeid]} stopped at its first failing test (-x)")

    def pytest_runtest_logreport(self, report):
        if report.failed and report.nodeid in self.taskOf:
            self.stopped.add(self.taskOf[report.nodeid])


def main(argv) -> int:
    report, markers = Path(argv[0]), [m for m in argv[1:] if not m.startswith("-")]
    plugins = [ByTask(), *([FirstFailureOfEachTask()] if "-x" in argv[1:] else [])]
    remote.become_subreaper()
    root = Path(__file__).resolve().parents[3]
    try:
        collector = run_tests(root, markers, plugins=plugins)
    finally:
        remote.shutdown()
    report.write_text(json.dumps({"rowOf": collector.rowOf, "results": collector.results,
                                  "importErrors": collector.importErrors}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

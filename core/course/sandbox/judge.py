"""The judge process: ``python -m core.course.sandbox.judge REPORT MARKER [MARKER ...] [-x]``.

Started by ``core.course.grade`` in the judge tree (no line of the student's there). Runs the
tests of the markers with pytest, the task regions answered by the children
(``core.course.sandbox.remote``), and writes what it recorded to ``REPORT`` (JSON): each
test's row, outcome and first message, and the import errors. Tests run grouped by
task, so one child runs at a time.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from core.course.grade import run_tests
from core.course.sandbox import remote
from core.course.tasks import MARKERS, OPTIONAL_MARKERS, number_of


class ByTask:
    """Orders the collected tests by task (stable), so each task's child starts once."""

    def pytest_collection_modifyitems(self, items):
        def task(item):
            names = {mark.name for mark in item.iter_markers()}
            return next((number_of(m) for m in MARKERS + OPTIONAL_MARKERS if m in names), len(MARKERS) + 1)

        items.sort(key=task)


def main(argv) -> int:
    report, markers = Path(argv[0]), [m for m in argv[1:] if not m.startswith("-")]
    extra = ["-x"] if "-x" in argv[1:] else []
    remote.become_subreaper()
    root = Path(__file__).resolve().parents[3]
    try:
        collector = run_tests(root, markers, extra, plugins=[ByTask()])
    finally:
        remote.shutdown()
    report.write_text(json.dumps({"rowOf": collector.rowOf, "results": collector.results,
                                  "importErrors": collector.importErrors}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

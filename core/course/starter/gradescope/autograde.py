"""Gradescope's grading of one submission: only the student's task regions count.

Laid out by ``python -m core.starter OUT --autograder ZIP`` next to ``starter/``
(a pristine starter holding the instructor's tests, grader and points). For each
submission it:

1. makes ``/autograder/source`` and ``/autograder/submission`` readable by root alone;
2. grades with the starter's ``core.course.grade`` machinery (``core/course/sandbox``): the task
   regions of each file in ``/autograder/submission`` (at its place, one folder deeper,
   or the file alone; links never followed) go into a child process per task, run as
   an unprivileged user, while the tests and the scoring run in a separate judge
   process that holds no line of the student's;
3. writes ``/autograder/results/results.json`` in Gradescope's format, every score
   capped at its maximum and every text bounded.

Whatever goes wrong (no files, broken markers, a crash, a time-out) still ends in a
results file that says what happened. ``SIMCLR_GRADESCOPE_ROOT`` replaces
``/autograder`` (for tests); ``SIMCLR_AUTOGRADER_TIMEOUT`` is the limit of the whole
run in seconds (default 480, inside Gradescope's default 10 minutes) and
``SIMCLR_TASK_TIMEOUT`` each task's (default 100).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List

SOURCE = Path(__file__).resolve().parent
STARTER = SOURCE / "starter"
sys.path.insert(0, str(STARTER))

from core.files import atomic_write_text  # noqa: E402
from core.course.grade import read_points, summarize  # noqa: E402  (the pristine grader)
from core.course.tasks import MARKERS, NUMBERS, OPTIONAL_MARKERS, TASKS  # noqa: E402
from core.course.sandbox.run import STRICT_VARIABLE, TASK_SECONDS_VARIABLE, grade_in_sandbox  # noqa: E402

SETTINGS = json.loads((SOURCE / "settings.json").read_text()) if (SOURCE / "settings.json").is_file() else {}
MAX_LINES = 12
MAX_LINE = 400
MAX_OUTPUT = 8000


def protect(root: Path) -> None:
    """The instructor's files and the submission: readable by root alone (the children run as another user)."""
    if os.geteuid() != 0:
        return
    for folder in (root / "source", root / "submission"):
        if folder.is_dir() and not folder.is_symlink():
            folder.chmod(0o700)


def bounded(text: str, limit: int = MAX_LINE) -> str:
    text = str(text).replace("\x00", "")
    return text if len(text) <= limit else text[:limit] + " ..."


def results(rows: List[dict], notes: Dict[int, List[str]], points: Dict[str, int], log: str, seconds: float,
            visibility: str) -> dict:
    """Gradescope's ``results.json``: one test per task (and one per optional part, worth 0)."""
    tests = []
    for task in TASKS:
        number, title = task.number, task.title
        row = next((r for r in rows if r["task"] == f"Task {number}"), None)
        top = points[task.marker]
        lines = [bounded(n) for n in notes.get(number, [])][:MAX_LINES]
        if row is None:
            earned, status = 0, "failed"
            lines.append(bounded(log.strip().splitlines()[0]) if log.strip() else "not graded")
        else:
            earned = min(top, max(0, int(row["points"])))
            status = "passed" if row["graded"] and not row["failed"] and earned == top else "failed"
            lines.insert(0, f"{row['passed']} of {row['graded']} tests passed")
            lines += [f"- {bounded(m)}" for m in dict.fromkeys(row["failures"])][:MAX_LINES]
            if not row["graded"]:
                lines.append(f"not graded: {bounded(row['note'])}")
        tests.append({"name": f"Task {number}: {title}", "number": str(number), "score": earned, "max_score": top,
                      "status": status, "output": "\n".join(lines)[:MAX_OUTPUT], "visibility": visibility})
    for row in (r for r in rows if r["optional"]):
        summary = f"{row['passed']} of {row['graded']} tests passed (optional, no points)"
        extra = row["first_failure"] or row["note"]
        tests.append({"name": f"{row['task']}: {row['title']}", "score": 0, "max_score": 0,
                      "status": "passed" if row["graded"] and not row["failed"] else "failed",
                      "output": (summary + (f"\n- {bounded(extra)}" if extra else ""))[:MAX_OUTPUT],
                      "visibility": visibility})
    return {"score": sum(t["score"] for t in tests), "execution_time": round(seconds), "visibility": visibility,
            "stdout_visibility": visibility, "tests": tests,
            "output": ("Only the lines between the task markers were graded, each task in a process of its own, "
                       "with the instructor's tests. Points of a task = round(max points x tests passed / tests "
                       "graded).")}


def main() -> int:
    start = time.monotonic()
    root = Path(os.environ.get("SIMCLR_GRADESCOPE_ROOT", "/autograder"))
    visibility = SETTINGS.get("visibility", "visible")
    points = read_points(STARTER)
    out = root / "results" / "results.json"
    markers = list(MARKERS + OPTIONAL_MARKERS)
    os.environ.setdefault(STRICT_VARIABLE, "1")
    os.environ.setdefault(TASK_SECONDS_VARIABLE, "100")
    payload, log = None, ""
    try:
        timeout = float(os.environ.get("SIMCLR_AUTOGRADER_TIMEOUT", "480"))
        protect(root)
        submission = root / "submission"
        if not submission.is_dir():
            rows, notes, log = [], {n: ["the submission is empty"] for n in NUMBERS}, ""
        else:
            recorded = grade_in_sandbox(STARTER, submission, markers, timeout=timeout)
            rows, notes, log = summarize(recorded, points, markers), recorded.notes, recorded.failure
        payload = results(rows, notes, points, log, time.monotonic() - start, visibility)
    except Exception as err:  # noqa: BLE001  (a results file must be written whatever happened)
        log = f"the autograder failed: {type(err).__name__}: {err}"
        payload = results([], {}, points, log, time.monotonic() - start, visibility)
    finally:
        if payload is None:
            payload = results([], {}, points, "the autograder was interrupted", time.monotonic() - start, visibility)
        atomic_write_text(json.dumps(payload, indent=2) + "\n", out)
    print(bounded(log, 2000))
    print(f"score {payload['score']} of {sum(points.values())}; results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

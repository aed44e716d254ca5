"""Gradescope's grading of one submission: only the student's task regions count.

Laid out by ``python -m core.starter OUT --autograder ZIP`` next to ``starter/``
(a pristine starter holding the instructor's tests, grader and points). For each
submission it:

1. copies ``starter/`` to a fresh folder;
2. finds each task file in ``/autograder/submission`` (the repository's layout, one
   folder deeper, or the file alone) and copies ONLY the lines between its task
   markers into the copy; tests, grader and code around the regions stay the
   instructor's;
3. runs ``python -m core.grade --json`` there (the rule students see locally);
4. writes ``/autograder/results/results.json`` in Gradescope's format.

Whatever goes wrong (no files, broken markers, a crash, a time-out) still ends
in a results file that says what happened. ``SIMCLR_GRADESCOPE_ROOT`` replaces
``/autograder`` (for tests); ``SIMCLR_AUTOGRADER_TIMEOUT`` is the grading limit in
seconds (default 480, inside Gradescope's default 10 minutes).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

SOURCE = Path(__file__).resolve().parent
STARTER = SOURCE / "starter"
sys.path.insert(0, str(STARTER))

from core.grade import TASK_TITLES, read_points  # noqa: E402  (the pristine starter's grader)
from core.task_regions import TASK_FILES, find_regions, replace_regions  # noqa: E402

MAX_FILE_BYTES = 2_000_000
SETTINGS = json.loads((SOURCE / "settings.json").read_text()) if (SOURCE / "settings.json").is_file() else {}


def locate(submission: Path, rel: str) -> Optional[Path]:
    """The submitted copy of ``rel``: at its place, under one top folder, or alone (when unique)."""
    exact = submission / rel
    if exact.is_file() and not exact.is_symlink():
        return exact
    files = [p for p in submission.rglob("*") if p.is_file() and not p.is_symlink()]
    nested = sorted((p for p in files if p.relative_to(submission).as_posix().endswith("/" + rel)),
                    key=lambda p: len(p.parts))
    if nested:
        return nested[0]
    named = [p for p in files if p.name == Path(rel).name]
    return named[0] if len(named) == 1 else None


def merge(submission: Path, work: Path) -> Dict[int, List[str]]:
    """Copy the submission's task regions into the pristine copy ``work``.

    Returns:
        Notes per task number (a missing file, markers that were changed).
    """
    notes: Dict[int, List[str]] = {}
    for rel in TASK_FILES:
        target = work / rel
        pristine = target.read_text()
        tasks = sorted({task for task, _, _ in find_regions(pristine.splitlines(keepends=True), rel)})
        found = locate(submission, rel)
        problem = None
        if found is None:
            problem = f"{rel} was not found in the submission, so its task regions are graded as not written"
        elif found.stat().st_size > MAX_FILE_BYTES:
            problem = f"{rel} is larger than {MAX_FILE_BYTES} bytes and was not graded"
        else:
            try:
                target.write_text(replace_regions(found.read_text(errors="replace"), pristine, rel))
            except ValueError as err:
                problem = (f"{err}; its task regions are graded as not written. Keep the marker lines "
                           "exactly as the starter has them and write between them")
        if problem:
            for task in tasks:
                notes.setdefault(task, []).append(problem)
    return notes


def grade(work: Path, timeout: float) -> Tuple[Optional[dict], str]:
    """Run the grader in ``work``; returns (its JSON report or None, what it printed or why it failed)."""
    report = work / "grade_report.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1",
               MPLBACKEND="Agg", PYTHONPATH=str(work))
    try:
        done = subprocess.run([sys.executable, "-m", "core.grade", "--json", str(report)], cwd=work, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, (f"grading did not finish within {timeout:.0f} s: is there an endless loop, or a solution "
                      "far slower than it needs to be?")
    output = done.stdout[-20000:]
    if report.is_file():
        return json.loads(report.read_text()), output
    why = ("the grader was killed (most likely out of memory)" if done.returncode in (-9, 137)
           else f"the grader stopped with exit code {done.returncode}")
    return None, f"{why}\n{output}\n{done.stderr[-4000:]}"


def results(report: Optional[dict], notes: Dict[int, List[str]], points: Dict[str, int], log: str,
            seconds: float, visibility: str) -> dict:
    """Gradescope's ``results.json``: one test per task (and one per optional part, worth 0)."""
    tests = []
    rows = report["tasks"] if report else []
    for number, title in enumerate(TASK_TITLES, start=1):
        row = next((r for r in rows if r["task"] == f"Task {number}"), None)
        lines = list(notes.get(number, []))
        if row is None:
            earned, status = 0, "failed"
            lines.append(log.strip().splitlines()[0] if log.strip() else "not graded")
        else:
            earned = row["points"]
            status = "passed" if row["graded"] and not row["failed"] else "failed"
            lines.insert(0, f"{row['passed']} of {row['graded']} tests passed")
            lines += [f"- {m}" for m in dict.fromkeys(row["failures"])][:12]
            if not row["graded"]:
                lines.append(f"not graded: {row['note']}")
        tests.append({"name": f"Task {number}: {title}", "number": str(number), "score": earned,
                      "max_score": points[f"task{number}"], "status": status, "output": "\n".join(lines),
                      "visibility": visibility})
    for row in (r for r in rows if r["optional"]):
        summary = f"{row['passed']} of {row['graded']} tests passed (optional, no points)"
        extra = row["first_failure"] or row["note"]
        tests.append({"name": f"{row['task']}: {row['title']}", "score": 0, "max_score": 0,
                      "status": "passed" if row["graded"] and not row["failed"] else "failed",
                      "output": summary + (f"\n- {extra}" if extra else ""), "visibility": visibility})
    total = sum(t["score"] for t in tests)
    return {"score": total, "execution_time": round(seconds), "visibility": visibility,
            "stdout_visibility": visibility, "tests": tests,
            "output": ("Only the lines between the task markers were graded, in the instructor's copy of the "
                       "starter. Points of a task = round(max points x tests passed / tests graded).")}


def main() -> int:
    start = time.monotonic()
    root = Path(os.environ.get("SIMCLR_GRADESCOPE_ROOT", "/autograder"))
    visibility = SETTINGS.get("visibility", "visible")
    timeout = float(os.environ.get("SIMCLR_AUTOGRADER_TIMEOUT", "480"))
    points = read_points(STARTER)
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="simclr-grade-") as temp:
        work = Path(temp) / "starter"
        try:
            shutil.copytree(STARTER, work, ignore=shutil.ignore_patterns("__pycache__"))
            submission = root / "submission"
            notes = merge(submission, work) if submission.is_dir() else {
                n: ["the submission is empty"] for n in range(1, 5)}
            report, log = grade(work, timeout)
        except Exception as err:  # noqa: BLE001  (a results file must be written whatever happened)
            notes, report, log = {}, None, f"the autograder failed: {type(err).__name__}: {err}"
        print(log)
        payload = results(report, notes, points, log, time.monotonic() - start, visibility)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"score {payload['score']} of {sum(points.values())}; results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Gradescope's results.json from a report: scores capped at their maximum, every text bounded, schema-valid."""
import importlib.util

import jsonschema

from core.course.starter.autograder import TEMPLATES
from tests.core.course.starter.test_autograder import RESULTS_SCHEMA


def autograde():
    spec = importlib.util.spec_from_file_location("autograde", TEMPLATES / "autograde.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(task, points, maxPoints, failures=(), optional=False):
    return {"task": f"Task {task}" + (" (optional)" if optional else ""), "title": "t", "optional": optional,
            "passed": 1, "failed": len(failures), "skipped": 0, "graded": 1 + len(failures), "points": points,
            "max_points": maxPoints, "first_failure": failures[0] if failures else "", "failures": list(failures),
            "note": "", "notes": []}


def test_scores_are_capped_and_texts_bounded():
    module = autograde()
    points = {"task1": 10, "task2": 10, "task3": 10, "task4": 1000}
    rows = [row(1, 4000, 10), row(2, -5, 10, ["Task 2: " + "x" * 10 ** 6]), row(3, 10, 10),
            row(4, 10 ** 9, 1000, [f"Task 4: message {i}" for i in range(500)])]
    notes = {3: ["n" * 10 ** 6] * 100}
    results = module.results(rows, notes, points, "", 1.0, "visible")
    jsonschema.validate(results, RESULTS_SCHEMA)
    scores = [t["score"] for t in results["tests"]]
    assert scores == [10, 0, 10, 1000] and results["score"] == 1020
    assert all(len(t["output"]) <= module.MAX_OUTPUT for t in results["tests"])
    assert results["tests"][3]["output"].count("\n- ") <= module.MAX_LINES


def test_a_missing_report_still_gives_every_task_a_row():
    module = autograde()
    results = module.results([], {}, {"task1": 25, "task2": 25, "task3": 25, "task4": 25},
                             "grading did not finish within 480 s", 480.0, "hidden")
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert [t["score"] for t in results["tests"]] == [0, 0, 0, 0]
    assert all("did not finish" in t["output"] for t in results["tests"])

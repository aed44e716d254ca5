"""The grading report (python -m core.grade)."""
import json

import pytest

from core.grade import failure_message, read_points, row_name


def test_points_from_the_command_line_the_classroom_file_or_the_default(tmp_path):
    assert read_points(tmp_path, None) == {"task1": 25, "task2": 25, "task3": 25, "task4": 25}
    assert read_points(tmp_path, "30,20,20,30")["task4"] == 30
    (tmp_path / ".github" / "classroom").mkdir(parents=True)
    (tmp_path / ".github" / "classroom" / "autograding.json").write_text(json.dumps(
        {"tests": [{"name": "Task 2: encoder", "points": 40}]}))
    assert read_points(tmp_path, None)["task2"] == 40
    for bad in ("10,20", "a,b,c,d", "1,2,3,-4"):
        with pytest.raises(ValueError, match="--points="):
            read_points(tmp_path, bad)


def test_row_names():
    assert row_name("task3") == "Task 3" and row_name("task4_optional") == "Task 4 (optional)"


def test_failure_message_keeps_the_first_line_without_the_exception_name():
    class Crash:
        message = "AssertionError: Task 4: got 2.773 = log(2B)\nassert False"

    class Report:
        outcome = "failed"
        longrepr = type("Repr", (), {"reprcrash": Crash()})()

    assert failure_message(Report()) == "Task 4: got 2.773 = log(2B)"


@pytest.mark.pipeline
def test_grading_one_task_writes_json_and_exits_zero_when_it_passes(tmp_path, cli):
    out = tmp_path / "report.json"
    result = cli("-m", "core.grade", "--task", "4", "--json", str(out), "--points", "10,10,10,40")
    assert result.returncode == 0, result.stdout[-2000:]
    report = json.loads(out.read_text())
    row = report["tasks"][0]
    assert row["task"] == "Task 4" and row["graded"] > 20 and row["failed"] == 0
    assert (row["points"], row["max_points"], report["total_points"]) == (40, 40, 40)
    assert "Task 4" in result.stdout and "all passed" in result.stdout

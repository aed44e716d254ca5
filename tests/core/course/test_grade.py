"""The grading report (python -m core.grade): points, the scoring rule, outputs, import errors."""
import json

import pytest

from core.course.grade import (GRADING_FILE, REPO_ROOT, Collector, check_output, check_points, failure_message,
                               marked_test_files, markdown, read_points, report_of, row_name, score, summarize)


def test_points_from_the_command_line_the_grading_file_or_the_default(tmp_path):
    assert read_points(tmp_path, None) == {"task1": 25, "task2": 25, "task3": 25, "task4": 25}
    assert read_points(tmp_path, "30,20,20,30")["task4"] == 30
    (tmp_path / "tests").mkdir()
    (tmp_path / GRADING_FILE).write_text(json.dumps({"points": {"task1": 10, "task2": 40, "task3": 20,
                                                                "task4": 30}}))
    assert read_points(tmp_path, None)["task2"] == 40
    for bad in ("10,20", "a,b,c,d", "1,2,3,-4", "1,2,3,1001", [1, 2, 3, True], [1.5, 2, 3, 4]):
        with pytest.raises(ValueError, match="points=.*must be 4 integers from 0 to 1000"):
            read_points(tmp_path, bad) if isinstance(bad, str) else check_points(bad)
    (tmp_path / GRADING_FILE).write_text(json.dumps({"points": {"task1": 10}}))
    with pytest.raises(ValueError, match="tests/grading.json must hold"):
        read_points(tmp_path, None)


def test_row_names():
    assert row_name("task3") == "Task 3" and row_name("task4_optional") == "Task 4 (optional)"


def test_failure_message_keeps_the_first_line_without_the_exception_name():
    class Crash:
        message = "AssertionError: Task 4: got 2.773 = log(2B)\nassert False"

    class Report:
        outcome = "failed"
        longrepr = type("Repr", (), {"reprcrash": Crash()})()

    assert failure_message(Report()) == "Task 4: got 2.773 = log(2B)"


def test_one_scoring_rule_partial_credit_and_optional_rows_without_points():
    assert score(25, 21, 25) == 21 and score(25, 0, 0) == 0 and score(30, 1, 3) == 10
    collector = Collector()
    outcomes = {"a": ("task4", "passed"), "b": ("task4", "failed"), "c": ("task4", "passed"),
                "d": ("task4", "passed"), "e": ("task1", "skipped"), "f": ("task4_optional", "passed")}
    for nodeid, (marker, outcome) in outcomes.items():
        collector.rowOf[nodeid] = marker
        collector.results[nodeid] = {"outcome": outcome, "message": "Task 4: wrong" if outcome == "failed" else
                                     "Task 1: the torchvision view is not written" if outcome == "skipped" else ""}
    rows = summarize(collector, {"task1": 25, "task4": 40}, ["task1", "task4", "task4_optional"])
    task1, task4, optional = rows
    assert (task4["points"], task4["max_points"], task4["graded"]) == (30, 40, 4)
    assert (task1["points"], task1["graded"]) == (0, 0) and "not written" in task1["note"]
    assert (optional["points"], optional["max_points"]) == (0, 0)
    table = markdown(rows)
    assert "| Task 4: NT-Xent loss | 3/4 | 30/40 | Task 4: wrong |" in table and "**30/65**" in table


def test_import_errors_are_reported_where_nothing_was_graded():
    collector = Collector()
    collector.importErrors.append("tests/core/nn/loss/test_nt_xent.py: SyntaxError: invalid syntax")
    row = summarize(collector, {"task4": 25}, ["task4"])[0]
    assert row["points"] == 0 and "could not be imported" in row["note"] and "SyntaxError" in row["note"]


@pytest.mark.parametrize("make, match", [
    (lambda tmp: tmp / "missing" / "r.json", "does not exist"),
    (lambda tmp: tmp, "is a folder"),
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "r.json", "does not exist"),
])
def test_outputs_are_checked_before_grading(tmp_path, make, match):
    with pytest.raises(ValueError, match=match):
        check_output(str(make(tmp_path)), "--json")


def test_json_replaces_an_earlier_report_but_no_other_file_without_force(tmp_path, cli):
    solution = tmp_path / "nt_xent.py"
    solution.write_text("def loss(): ...\n")
    with pytest.raises(ValueError, match="exists and is not an earlier grading report; .* --force"):
        check_output(str(solution), "--json", force=False)
    assert check_output(str(solution), "--json", force=True) == solution
    earlier = tmp_path / "report.json"
    earlier.write_text(json.dumps(report_of(summarize(Collector(), {"task1": 25}, ["task1"]))))
    assert check_output(str(earlier), "--json", force=False) == earlier
    result = cli("-m", "core.grade", "--json", str(solution))
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0 and "--force" in result.stderr
    assert solution.read_text() == "def loss(): ...\n" and "passed" not in result.stdout


def test_bad_output_is_one_line_and_nothing_runs(tmp_path, cli):
    result = cli("-m", "core.grade", "--json", str(tmp_path / "nowhere" / "r.json"))
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "--json" in result.stderr and "does not exist" in result.stderr and "passed" not in result.stdout


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
    assert not list(tmp_path.glob(".*.tmp"))
    lines = [line for line in result.stdout.splitlines() if line.strip() and not line.startswith("note:")]
    assert lines[0].startswith("task ") and len(lines) <= 4, result.stdout      # the table first, no test output


def test_a_grade_imports_only_the_modules_that_name_its_tasks(tmp_path):
    tests = tmp_path / "tests"
    (tests / "sub").mkdir(parents=True)
    (tests / "test_a.py").write_text("import pytest\npytestmark = pytest.mark.task4\n")
    (tests / "sub" / "test_b.py").write_text("import pytest\n@pytest.mark.task4_optional\ndef test_x(): ...\n")
    (tests / "test_c.py").write_text("import torchvision  # slow to import, no task\n")
    (tests / "hidden_task3_test.py").write_text("import pytest\n@pytest.mark.task3\ndef test_x(): ...\n")
    assert marked_test_files(tests, ["task3"]) == [tests / "hidden_task3_test.py"]     # pytest's *_test.py too
    assert marked_test_files(tests, ["task4"]) == [tests / "test_a.py"]
    assert marked_test_files(tests, ["task4", "task4_optional"]) == [tests / "sub" / "test_b.py", tests / "test_a.py"]
    assert marked_test_files(tests, ["task2"]) == [tests]                   # nothing names it: pytest decides
    (tests / "conftest.py").write_text("def pytest_itemcollected(item):\n    item.add_marker('task2')\n")
    assert marked_test_files(tests, ["task4"]) == [tests]                   # markers added at collection: all


def test_the_shipped_tests_lose_no_graded_test_to_that_shortcut(cli):
    """pytest's own selection over every module finds graded tests only in the modules the grade imports."""
    markers = ["task1", "task2", "task3", "task4", "task1_optional", "task4_optional"]
    result = cli("-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", "-m", " or ".join(markers), "tests")
    found = {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}
    shortcut = {path.relative_to(REPO_ROOT).as_posix() for path in marked_test_files(REPO_ROOT / "tests", markers)}
    assert len(found) >= 5 and found <= shortcut, sorted(found - shortcut)


def test_task_may_be_given_several_times_and_the_exit_code_covers_them_all(monkeypatch, capsys):
    """``--task 3 --task 1 --task 3 -x``: Tasks 1 and 3, once each, in order; exit 0 only when both pass."""
    from core.course import grade
    from core.course.sandbox.run import Recorded

    asked = []

    def fake_grade(root, submission, markers, extra):
        asked.append((list(markers), list(extra)))
        outcome = {"task1": "passed", "task3": outcomes["task3"]}
        return Recorded(rowOf={f"t{m}": m for m in markers},
                        results={f"t{m}": {"outcome": outcome[m], "message": "" if outcome[m] == "passed" else
                                           "Task 3: wrong"} for m in markers})

    monkeypatch.setattr(grade, "grade_in_sandbox", fake_grade)
    outcomes = {"task3": "passed"}
    assert grade.main(["--task", "3", "--task", "1", "--task", "3", "-x"]) == 0
    assert asked == [(["task1", "task3"], ["-x"])]
    table = capsys.readouterr().out
    assert "Task 1" in table and "Task 3" in table and "Task 2" not in table and "50/50" in table
    assert "-x stopped" not in table                        # nothing failed, nothing stopped
    outcomes["task3"] = "failed"
    assert grade.main(["--task", "1", "--task", "3"]) == 1
    table = capsys.readouterr().out
    assert "Task 3: wrong" in table and "-x stopped" not in table
    assert grade.main(["--task", "3", "-x"]) == 1
    assert "note: -x stopped each failing task at its first failing test" in capsys.readouterr().out

"""The judge's pytest plugins: tests grouped by task, and ``-x`` that stops each task on its own."""
from core.course.grade import run_tests
from core.course.sandbox.judge import ByTask, FirstFailureOfEachTask

TESTS = '''import pytest


@pytest.mark.task2
def test_b_first():
    assert False, "Task 2: wrong"


@pytest.mark.task1
def test_a_first():
    assert False, "Task 1: wrong"


@pytest.mark.task1
def test_a_second():
    pass


@pytest.mark.task2
def test_b_second():
    pass


@pytest.mark.task4
def test_d_first():
    pass


@pytest.fixture
def broken():
    raise RuntimeError("Task 4: the fixture broke")


@pytest.mark.task4
def test_d_second(broken):
    pass


@pytest.mark.task4
def test_d_third():
    pass
'''


def recorded(tmp_path, plugins, name):
    """Outcome per test of a run in this process (``name``: the module's, unique: modules stay imported)."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / f"test_{name}.py").write_text(TESTS)
    (tmp_path / "setup.cfg").write_text("[tool:pytest]\nmarkers =\n    task1: one\n    task2: two\n    task4: four\n")
    collector = run_tests(tmp_path, ["task1", "task2", "task4"], plugins=plugins)
    return {nodeid.split("::")[1]: result["outcome"] for nodeid, result in collector.results.items()}


def test_exit_first_stops_each_task_at_its_own_first_failure(tmp_path):
    outcomes = recorded(tmp_path, [ByTask(), FirstFailureOfEachTask()], "judge_exit_first")
    assert outcomes == {"test_a_first": "failed", "test_a_second": "skipped",
                        "test_b_first": "failed", "test_b_second": "skipped",
                        "test_d_first": "passed", "test_d_second": "failed", "test_d_third": "skipped"}


def test_without_it_every_test_runs(tmp_path):
    outcomes = recorded(tmp_path, [ByTask()], "judge_no_exit_first")
    assert outcomes == {"test_a_first": "failed", "test_a_second": "passed",
                        "test_b_first": "failed", "test_b_second": "passed",
                        "test_d_first": "passed", "test_d_second": "failed", "test_d_third": "passed"}

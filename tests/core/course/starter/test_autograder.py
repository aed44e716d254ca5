"""The Gradescope autograder, run in a folder laid out like Gradescope's ``/autograder``.

Only the lines between the task markers of a submission count: the instructor's tests,
grader and the code around the regions are the pristine starter's. ``results.json`` is
checked against Gradescope's documented format (as a JSON schema).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import jsonschema
import pytest

from core.course.starter import make_starter
from core.course.starter.autograder import make_autograder
from core.course.starter.generate import REPO_ROOT
from core.course.task_regions import TASK_FILES, replace_regions
from tests.conftest import TIMEOUT
from tests.core.course.starter.test_mutation_bank import BANK, apply, parse

VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
# Gradescope's results format ("Autograder Specifications": results.json), the parts this autograder writes.
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["score", "execution_time", "tests", "stdout_visibility"],
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "tests": {"type": "array", "minItems": 4, "items": {
            "type": "object", "required": ["name", "score", "max_score", "output", "visibility"],
            "properties": {"name": {"type": "string"}, "score": {"type": "number", "minimum": 0},
                           "max_score": {"type": "number", "minimum": 0}, "output": {"type": "string"},
                           "status": {"enum": ["passed", "failed"]}, "number": {"type": "string"},
                           "visibility": VISIBILITY},
            "additionalProperties": False}},
    },
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gradescope(tmp_path_factory):
    """The autograder archive unpacked as Gradescope does, and a runner for one submission."""
    base = tmp_path_factory.mktemp("gradescope")
    archive = make_autograder(base / "simclr_autograder.zip", points=(30, 20, 20, 30))
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        assert {"setup.sh", "run_autograder", "autograde.py", "starter/tests/grading.json"} <= set(names)
        assert (opened.getinfo("run_autograder").external_attr >> 16) & 0o111
        opened.extractall(base / "source")
    (base / "source" / "run_autograder").chmod(0o755)
    starter = base / "starter"
    make_starter(starter, points=(30, 20, 20, 30))

    def run(files):
        """Grade a submission given as ``{path: text}``; returns the parsed results.json."""
        for folder in ("submission", "results"):
            shutil.rmtree(base / folder, ignore_errors=True)
        (base / "submission").mkdir()
        for rel, text in files.items():
            (base / "submission" / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / "submission" / rel).write_text(text)
        env = dict(os.environ, SIMCLR_GRADESCOPE_ROOT=str(base), SIMCLR_AUTOGRADER_PYTHON=sys.executable)
        done = subprocess.run([str(base / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        results = json.loads((base / "results" / "results.json").read_text())
        jsonschema.validate(results, RESULTS_SCHEMA)
        return results

    return run, starter


def by_task(results):
    return {t["name"].split(":")[0]: t for t in results["tests"] if "optional" not in t["name"]}


def reference_files(prefix=""):
    return {prefix + rel: (REPO_ROOT / rel).read_text() for rel in TASK_FILES}


def test_the_reference_gets_full_marks_from_a_github_style_zip(gradescope):
    run, _ = gradescope
    results = run(reference_files("simclr-starter-main/"))
    assert results["score"] == 100
    assert {name: (t["score"], t["max_score"], t["status"]) for name, t in by_task(results).items()} == {
        "Task 1": (30, 30, "passed"), "Task 2": (20, 20, "passed"), "Task 3": (20, 20, "passed"),
        "Task 4": (30, 30, "passed")}


def test_only_the_regions_count_and_the_points_match_local_grading(gradescope, tmp_path):
    run, starter = gradescope
    # A student folder: Tasks 1-2 correct, Task 3 the tutorial's hint with its NameError, Task 4 a bug.
    student = tmp_path / "student"
    shutil.copytree(starter, student)
    for rel in ("core/data/data_augmentation.py", "core/nn/networks/simclr.py"):
        (student / rel).write_text(replace_regions((REPO_ROOT / rel).read_text(), (student / rel).read_text(), rel))
    simclr = (student / "core/nn/networks/simclr.py").read_text()
    (student / "core/nn/networks/simclr.py").write_text(
        simclr.replace("dropLayers=self.dropLayers,", "dropLayers=dropLayers,"))
    _, regions = parse(BANK / "task4_mean_over_b.solution")
    apply(student, regions, 4)
    local = tmp_path / "local.json"
    env = dict(os.environ, PYTHONPATH=str(student))
    subprocess.run([sys.executable, "-m", "core.grade", "--json", str(local)], cwd=student, env=env,
                   capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    want = {row["task"]: row["points"] for row in json.loads(local.read_text())["tasks"] if not row["optional"]}
    assert want["Task 2"] == 20 and want["Task 3"] == 0 and 0 < want["Task 4"] < 30, want

    # The same regions, with the tests, the grader and the code around the regions edited to pass.
    files = {str(p.relative_to(student)): p.read_text() for p in student.rglob("*.py")}
    files["tests/conftest.py"] += ("\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):"
                                   "\n    outcome = yield\n    outcome.get_result().outcome = 'passed'\n")
    files["core/course/grade.py"] = "print('total 100/100')\n"
    files["tests/grading.json"] = json.dumps({"points": {"task1": 0, "task2": 0, "task3": 0, "task4": 1000}})
    files["core/nn/loss/nt_xent.py"] = files["core/nn/loss/nt_xent.py"].replace(
        "        self.check_inputs(zA, zB)\n", "        return torch.tensor(float(0 * 0))\n")
    results = run(files)
    got = {name: t["score"] for name, t in by_task(results).items()}
    assert got == want and results["score"] == sum(want.values())
    assert re.search(r"Task 3: 'dropLayers' is not defined", by_task(results)["Task 3"]["output"])
    assert "divided by B" in by_task(results)["Task 4"]["output"]


def test_a_syntax_error_costs_only_its_task(gradescope):
    run, _ = gradescope
    files = reference_files()
    simclr, loss = "core/nn/networks/simclr.py", "core/nn/loss/nt_xent.py"
    files[simclr] = files[simclr].replace("                dropRate=self.dropRate,\n",
                                          "                dropRate=self.dropRate\n")       # a missing comma
    files[loss] = files[loss].replace("loss = F.cross_entropy(logits, self._cache[key])",
                                      "loss = F.cross_entropy(logits, self._cache[key]")
    line = next(i for i, text in enumerate(files[simclr].splitlines(), start=1) if "dropRate=self.dropRate" in text)
    results = by_task(run(files))
    assert [results[f"Task {n}"]["score"] for n in (1, 2, 3, 4)] == [30, 20, 0, 0]
    assert re.search(rf"Task 3: your code does not compile: SyntaxError in {simclr}, line {line}",
                     results["Task 3"]["output"]), results["Task 3"]["output"]
    assert re.search(rf"Task 4: .*SyntaxError in {loss}, line \d+", results["Task 4"]["output"])


def test_an_empty_submission_scores_zero_and_says_why(gradescope):
    run, _ = gradescope
    results = run({})
    assert results["score"] == 0 and len(results["tests"]) >= 4
    for task in by_task(results).values():
        assert task["score"] == 0 and "was not found in the submission" in task["output"]
        assert "not implemented yet" in task["output"]

"""The student starter: generated from the solution, free of solution text, graded by the tests."""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from core.starter import TASK_FILES, find_regions, make_starter, restore_regions
from core.starter.generate import REPO_ROOT, repository_files, stub_file


def region_lines(text):
    lines = text.splitlines(keepends=True)
    return [line for _, start, end in find_regions(lines) for line in lines[start:end]]


def distinctive_solution_lines():
    """Region lines (>= 12 chars) that occur nowhere else in the solution repository."""
    regionText = {rel: region_lines((REPO_ROOT / rel).read_text()) for rel in TASK_FILES}
    candidates = {line.strip() for lines in regionText.values() for line in lines if len(line.strip()) >= 12}
    outside = []
    for rel in repository_files(REPO_ROOT):
        text = (REPO_ROOT / rel).read_text(errors="ignore")
        if rel in TASK_FILES:
            lines = text.splitlines(keepends=True)
            kept, cursor = [], 0
            for _, start, end in find_regions(lines):
                kept += lines[cursor:start]
                cursor = end
            text = "".join(kept + lines[cursor:])
        outside.append(text)
    outside.append((REPO_ROOT / "core/starter/hints.py").read_text())  # the stubs' hints are meant to be there
    everywhere = "\n".join(outside)
    return sorted(line for line in candidates if line not in everywhere)


@pytest.fixture(scope="module")
def starter(tmp_path_factory):
    out = tmp_path_factory.mktemp("starter") / "simclr-starter"
    stubbed = make_starter(out)
    return out, stubbed


def test_every_task_region_is_stubbed(starter):
    out, stubbed = starter
    assert stubbed == {"core/data/data_augmentation.py": 2, "core/nn/networks/simclr.py": 2,
                       "core/nn/loss/nt_xent.py": 2, "core/nn/loss/nt_xent_distributed.py": 1}
    for rel in TASK_FILES:
        text = (out / rel).read_text()
        for task in re.findall(r"# --- Task (\d) begin", text):
            assert f'"Task {task}' in text
        assert text.count("raise NotImplementedError(") == stubbed[rel]
        compile(text, rel, "exec")  # the stubbed file is valid Python


def test_no_solution_text_anywhere_in_the_starter(starter):
    out, _ = starter
    lines = distinctive_solution_lines()
    assert len(lines) >= 15  # the check has teeth: the regions hold many unique lines
    assert any("cross_entropy" in line for line in lines)
    for path in out.rglob("*"):
        assert path.name not in (".git", "__pycache__", ".pytest_cache") and path.suffix not in (".pyc", ".pt")
        if path.is_file():
            text = path.read_text(errors="ignore")
            leaked = [line for line in lines if line in text]
            assert not leaked, f"{path.relative_to(out)} holds solution text: {leaked[:3]}"


def test_refuses_a_non_empty_folder_unless_forced(tmp_path, cli):
    (tmp_path / "keep.txt").write_text("user data")
    result = cli("-m", "core.starter", str(tmp_path))
    assert result.returncode == 2 and "is not empty" in result.stderr and "--force" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    forced = cli("-m", "core.starter", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "keep.txt").read_text() == "user data" and (tmp_path / "setup.cfg").is_file()
    with pytest.raises(ValueError, match="inside the repository"):
        make_starter(REPO_ROOT / "assets" / "starter-here")


def test_restore_is_the_inverse_of_stubbing():
    for rel in TASK_FILES:
        solution = (REPO_ROOT / rel).read_text()
        assert restore_regions(solution, stub_file(solution, rel), rel) == solution
    rel = "core/nn/networks/simclr.py"
    solution = (REPO_ROOT / rel).read_text()
    partial = restore_regions(solution, stub_file(solution, rel), rel, tasks=[2])
    assert "strides=self.encoderStrides," in partial and "layerCfg=self.mlpLayers," not in partial
    assert '"Task 3: build self.project' in partial and '"Task 2:' not in partial


def run_suite(folder, *args):
    env = dict(os.environ, PYTHONPATH=str(folder))
    report = folder / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                    f"--junitxml={report}", *args], cwd=folder, env=env, capture_output=True, text=True,
                   timeout=900, stdin=subprocess.DEVNULL)
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            results[name] = ("failed", failure.get("message", "") + (failure.text or ""))
        elif skipped is not None:
            results[name] = ("skipped", skipped.get("message", ""))
        else:
            results[name] = ("passed", "")
    return results


def task_test_ids(folder):
    env = dict(os.environ, PYTHONPATH=str(folder))
    listed = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
                             "-m", "task1 or task2 or task3 or task4"], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=300).stdout
    return {line.strip() for line in listed.splitlines() if "::" in line}


def junit_id(nodeid):
    path, _, name = nodeid.partition("::")
    return f"{path[:-3].replace('/', '.')}::{name}"


@pytest.mark.slow
def test_starter_suite_grades_each_task(starter):
    out, _ = starter
    taskTests = {junit_id(n) for n in task_test_ids(out)}
    assert len(taskTests) > 50

    before = run_suite(out)
    failed = {name: msg for name, (status, msg) in before.items() if status == "failed"}
    assert failed and set(failed) <= taskTests, sorted(set(failed) - taskTests)[:5]
    messages = {re.search(r"Task \d not implemented yet", msg).group(0) for msg in failed.values()
                if re.search(r"Task \d not implemented yet", msg)}
    assert len(messages) == 1 or messages == {f"Task {n} not implemented yet" for n in (1, 2, 4)}
    assert all(re.search(r"Task \d not implemented yet", msg) for msg in failed.values())
    for name, (status, msg) in before.items():
        if status == "skipped":
            assert ("not implemented yet" in msg or "optional part not written" in msg
                    or msg == "no CUDA device"), (name, msg)                  # the last: this machine
    pipelineSkips = [msg for status, msg in before.values() if "needs the whole pipeline" in msg]
    assert pipelineSkips

    # With Task 2 done, the Task 3 tests report Task 3.
    rel = "core/nn/networks/simclr.py"
    (out / rel).write_text(restore_regions((REPO_ROOT / rel).read_text(), (out / rel).read_text(), rel, tasks=[2]))
    middle = run_suite(out, "tests/core/nn/networks/test_simclr.py")
    msgs = " ".join(msg for status, msg in middle.values() if status == "failed")
    assert "Task 3 not implemented yet" in msgs and "Task 2 not implemented yet" not in msgs

    # All solution regions back: the whole fast suite passes, nothing skipped for missing tasks.
    for rel in TASK_FILES:
        (out / rel).write_text(restore_regions((REPO_ROOT / rel).read_text(), (out / rel).read_text(), rel))
    after = run_suite(out)
    assert all(status == "passed" or msg == "no CUDA device" for status, msg in after.values()), \
        [(n, m[:200]) for n, (s, m) in after.items() if s != "passed"][:5]
    assert len(after) == len(before)

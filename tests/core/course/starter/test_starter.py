"""The student starter: generated from the solution, free of solution text, graded by the tests."""
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from core.course.starter import make_starter
from core.course.starter.generate import REPO_ROOT, repository_files, stub_file
from core.course.task_regions import TASK_FILES, find_regions, replace_regions
from tests.conftest import TIMEOUT

OPTIONAL_REGIONS = {"core/data/batch_augmentation.py", "core/nn/loss/nt_xent_distributed.py"}


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
    outside.append((REPO_ROOT / "core/course/starter/hints.py").read_text())  # the stubs' hints are meant to be there
    everywhere = "\n".join(outside)
    return sorted(line for line in candidates if line not in everywhere)


@pytest.fixture(scope="module")
def starter(tmp_path_factory):
    out = tmp_path_factory.mktemp("starter") / "simclr-starter"
    stubbed = make_starter(out, points=(30, 20, 20, 30))
    return out, stubbed


def test_every_task_region_is_stubbed(starter):
    out, stubbed = starter
    assert stubbed == {"core/data/data_augmentation.py": 2, "core/data/batch_augmentation.py": 1,
                       "core/nn/networks/simclr.py": 2, "core/nn/loss/nt_xent.py": 1,
                       "core/nn/loss/nt_xent_distributed.py": 1}
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


def test_no_solution_bearing_code_travels(starter):
    out, _ = starter
    # The benchmarks time reference recipes and losses; the generator and the bank are the instructor's.
    for gone in ("benchmarks", ".ci", "core/course/starter", "tests/core/course/starter"):
        assert not (out / gone).exists(), gone
    # The batched augmentation travels without its recipe (a stub), so delegating to it is no solution.
    text = (out / "core/data/batch_augmentation.py").read_text()
    assert "raise NotImplementedError(" in text and "< 0.8" not in text
    # The Task 4 tests grade against stored numbers, not against a loss written in the tests.
    testText = (out / "tests/core/nn/loss/test_nt_xent.py").read_text()
    assert "logsumexp" not in testText and "math.exp" not in testText and "cross_entropy" not in testText


def test_no_file_outside_the_tests_is_a_loss_within_a_few_edits(starter):
    """No copy route to Task 4: no shipped module builds a similarity matrix with its diagonal masked.

    (The positive-pair monitor used to: NT-Xent minus a division by t and a cross-entropy.)
    """
    out, _ = starter
    similarity = re.compile(r"@ \w+\.t\(\)|\.mm\(|matmul|cosine_similarity|einsum")
    masked = re.compile(r"fill_diagonal_|-inf|float\(\"-inf\"\)|masked_fill|torch\.eye")
    softmax = re.compile(r"cross_entropy|logsumexp|log_softmax|softmax\(")
    near = []
    for path in out.rglob("*.py"):
        rel = path.relative_to(out).as_posix()
        if rel.startswith("tests/") or rel in TASK_FILES:
            continue
        text = path.read_text()
        if similarity.search(text) and (masked.search(text) or softmax.search(text)):
            near.append(rel)
    assert not near, f"these starter files hold most of an NT-Xent loss: {near}"
    monitor = (out / "core/eval/positive_pairs.py").read_text()
    assert not similarity.search(monitor) and not softmax.search(monitor)


def test_the_starter_speaks_to_students(starter):
    out, _ = starter
    readme = (out / "README.md").read_text()
    assert readme != (REPO_ROOT / "README.md").read_text()
    assert "python -m core.starter" not in readme and "python -m core.grade" in readme
    assert "either backend" in readme.lower() and "task4_optional" in readme
    assert "](docs/tasks.md)" in readme and "Only the lines between the markers are graded" in readme
    assert "feedback" in readme.lower() and "not your grade" in readme
    assert "Task 1 (augmentation) 30, Task 2 (encoder) 20, Task 3 (projection head) 20, " \
           "Task 4 (NT-Xent loss) 30; total 100" in readme
    # The task pages travel as they are in the solution: one source, they cannot drift.
    assert (out / "docs/tasks.md").read_text() == (REPO_ROOT / "docs/tasks.md").read_text()
    assert sorted(p.name for p in (out / "docs").iterdir()) == ["tasks.md"]
    from core.course.grade import read_points

    assert read_points(out, None) == {"task1": 30, "task2": 20, "task3": 20, "task4": 30}
    # No retired GitHub Classroom files; the feedback workflow is plain GitHub Actions.
    assert not (out / ".github/classroom").exists()
    assert sorted(p.name for p in (out / ".github/workflows").iterdir()) == ["feedback.yml"]
    workflow = (out / ".github/workflows/feedback.yml").read_text()
    assert "classroom" not in workflow and "python -m core.grade --summary" in workflow


def test_every_shipped_config_passes_its_tools_validator(starter):
    """Workflows against GitHub's workflow schema (check-jsonschema), YAML and JSON through their parsers."""
    import jsonschema
    import yaml

    out, _ = starter
    workflows = sorted((out / ".github" / "workflows").glob("*.yml"))
    assert workflows
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           *map(str, workflows)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = out.parent / "broken.yml"
    broken.write_text(workflows[0].read_text().replace("name: Check out", "name: Task 1: check out"))
    refused = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                              "vendor.github-workflows", str(broken)], capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0          # the validator has teeth: the old Classroom file's mistake fails
    for path in out.rglob("*"):
        if path.suffix in (".yml", ".yaml") and path.is_file():
            yaml.safe_load(path.read_text())
        elif path.suffix == ".json" and path.is_file():
            json.loads(path.read_text())
    schema = {"type": "object", "required": ["points"], "additionalProperties": False,
              "properties": {"points": {"type": "object", "additionalProperties": False,
                                        "required": [f"task{n}" for n in range(1, 5)],
                                        "patternProperties": {"^task[1-4]$": {"type": "integer", "minimum": 0,
                                                                              "maximum": 1000}}}}}
    jsonschema.validate(json.loads((out / "tests/grading.json").read_text()), schema)


def test_the_starter_names_only_files_it_has(starter):
    out, _ = starter
    pattern = re.compile(r"\b((?:core|train|tests|benchmarks|docs|assets|\.github)/[\w./-]*\w\.(?:py|md|yaml|yml|"
                         r"json|sh|txt))\b")
    missing = []
    for path in out.rglob("*"):
        if path.is_file() and (path.suffix in (".py", ".md", ".yaml", ".yml", ".cfg", ".txt")
                               or path.name == ".gitignore"):
            for name in pattern.findall(path.read_text(errors="ignore")):
                if not (out / name).exists() and "*" not in name:
                    missing.append(f"{path.relative_to(out)} names {name}")
    assert not missing, missing[:10]


def test_only_tracked_files_travel(tmp_path):
    repo = tmp_path / "repo"
    (repo / "core").mkdir(parents=True)
    (repo / "core" / "a.py").write_text("x = 1\n")
    (repo / ".gitignore").write_text("build/\n")
    (repo / "build" / "lib" / "core").mkdir(parents=True)
    (repo / "build" / "lib" / "core" / "nt_xent.py").write_text("solution\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "add", "core/a.py", ".gitignore"], cwd=repo, check=True)
    (repo / "tsne.png").write_bytes(b"stray output")          # untracked, not ignored
    assert repository_files(repo) == [".gitignore", "core/a.py"]
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ValueError, match="is not a git checkout"):
        repository_files(plain)


@pytest.mark.parametrize("points", [(25, 25, 25), (10, -1, 10, 10), (1.5, 2, 3, 4)])
def test_bad_points_are_named(tmp_path, points):
    with pytest.raises(ValueError, match="points="):
        make_starter(tmp_path / "out", points=points)
    assert not (tmp_path / "out").exists()


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


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, cli):
    import errno
    import shutil

    from core.course.starter import generate

    calls = []

    def disk_full(src, dst, *args, **kwargs):
        calls.append(dst)
        if len(calls) > 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return shutil.copyfile(src, dst)

    monkeypatch.setattr(generate.shutil, "copy2", disk_full)
    with pytest.raises(ValueError, match="No space left on device.*nothing was left behind"):
        make_starter(tmp_path / "new" / "starter")
    assert list(tmp_path.iterdir()) == []                 # not even the parent folder it created
    monkeypatch.undo()
    (tmp_path / "empty").mkdir()
    make_starter(tmp_path / "empty")                      # a rerun into the same (empty) place works
    assert (tmp_path / "empty" / "README.md").is_file() and not list(tmp_path.glob(".*"))
    (tmp_path / "afile").write_text("x")
    result = cli("-m", "core.starter", str(tmp_path / "afile" / "starter"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "afile" in result.stderr


def test_a_full_disk_for_the_autograder_leaves_neither_archive_nor_starter(tmp_path, monkeypatch, capsys):
    import errno

    from core.course.starter import __main__ as command
    from core.course.starter import autograder

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(autograder, "add_file", disk_full)
    out, archive = tmp_path / "starter", tmp_path / "ag.zip"
    assert command.main([str(out), "--autograder", str(archive)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(archive) in err and "No space left" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []               # no starter, no archive, no partial
    monkeypatch.undo()
    assert command.main([str(out), "--autograder", str(archive)]) == 0   # the rerun is not refused
    assert archive.is_file() and (out / "README.md").is_file()


def test_restore_is_the_inverse_of_stubbing():
    for rel in TASK_FILES:
        solution = (REPO_ROOT / rel).read_text()
        assert replace_regions(solution, stub_file(solution, rel), rel) == solution
    rel = "core/nn/networks/simclr.py"
    solution = (REPO_ROOT / rel).read_text()
    partial = replace_regions(solution, stub_file(solution, rel), rel, tasks=[2])
    assert "strides=self.encoderStrides," in partial and "layerCfg=self.mlpLayers," not in partial
    assert '"Task 3: build self.project' in partial and '"Task 2:' not in partial


def run_suite(folder, *args):
    env = dict(os.environ, PYTHONPATH=str(folder))
    report = folder / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                    f"--junitxml={report}", *args], cwd=folder, env=env, capture_output=True, text=True,
                   timeout=TIMEOUT, stdin=subprocess.DEVNULL)
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
                            capture_output=True, text=True, timeout=TIMEOUT).stdout
    return {line.strip() for line in listed.splitlines() if "::" in line}


def junit_id(nodeid):
    path, _, name = nodeid.partition("::")
    return f"{path[:-3].replace('/', '.')}::{name}"


ALLOWED_SKIPS = ("not implemented yet", "optional part not written", "needs Task",
                 "no CUDA device")                                      # the last: this machine


# Files the starter writes for the student (not copies of the reference's).
GENERATED_FILES = ["README.md"]


def shipped_files(out):
    """Every file of the starter, relative to it, except the test run's own outputs."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.name != "report.xml")


def restore(out, tasks=None, files=TASK_FILES):
    for rel in files:
        (out / rel).write_text(replace_regions((REPO_ROOT / rel).read_text(), (out / rel).read_text(), rel,
                                               tasks=tasks))


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
    assert messages == {f"Task {n} not implemented yet" for n in (1, 2, 3, 4)}   # each task graded on its own
    assert all(re.search(r"Task \d not implemented yet", msg) for msg in failed.values())
    for name, (status, msg) in before.items():
        if status == "skipped":
            assert any(text in msg for text in ALLOWED_SKIPS), (name, msg)
    pipeline = [msg for status, msg in before.values() if "needs the whole pipeline" in msg]
    assert pipeline and all("Task 1, Task 2, Task 3, Task 4" in msg for msg in pipeline), pipeline[:1]

    # Task 2 done, Task 3 not yet (the README's order): the Task 2 tests pass, Task 3's report Task 3.
    rel = "core/nn/networks/simclr.py"
    restore(out, tasks=[2], files=[rel])
    middle = run_suite(out, "tests/core/nn/networks/test_simclr.py")
    task2 = [name for name in middle if name in taskTests and "encoder" in name]
    assert task2 and all(middle[name][0] == "passed" for name in task2), \
        [(n, middle[n]) for n in task2 if middle[n][0] != "passed"][:3]
    msgs = " ".join(msg for status, msg in middle.values() if status == "failed")
    assert "Task 3 not implemented yet" in msgs and "Task 2 not implemented yet" not in msgs

    # Tasks 1-4 done, the optional parts not: nothing fails, the optional tests skip saying so. Restored, every
    # file the starter shares with the reference is the reference's, byte for byte, so the reference's own run of
    # the training pipeline's tests (tests/train, minutes) holds here too. What the stubs stopped runs here: the
    # task and pipeline tests of tests/core and of the tests with optional parts (the rest passed above already,
    # with the stubs in place, so the tasks cannot change them).
    restore(out, files=[f for f in TASK_FILES if f not in OPTIONAL_REGIONS])
    differ = [rel for rel in shipped_files(out) if rel not in OPTIONAL_REGIONS and (REPO_ROOT / rel).is_file()
              and (REPO_ROOT / rel).read_bytes() != (out / rel).read_bytes()]
    assert differ == GENERATED_FILES, differ
    stopped = "(task1 or task2 or task3 or task4 or task1_optional or task4_optional or pipeline) and not slow"
    required = run_suite(out, "-m", stopped, "tests/core", "tests/train/test_distributed.py",
                         "tests/train/test_augmentation_setup.py")
    assert all(status != "failed" for status, _ in required.values()), \
        [(n, m[:300]) for n, (s, m) in required.items() if s == "failed"][:5]
    optionalSkips = [n for n, (s, m) in required.items() if s == "skipped" and "optional part not written" in m]
    assert any("test_distributed" in n for n in optionalSkips) and any("batch_augmentation" in n
                                                                       for n in optionalSkips)
    assert all(s == "passed" or any(t in m for t in ALLOWED_SKIPS) for s, m in required.values())
    ran = ("tests.core.", "tests.train.test_distributed", "tests.train.test_augmentation")
    assert {n for n, (s, _) in before.items() if n.startswith(ran) and s != "passed"} <= set(required)

    # The optional parts written too: their tests pass.
    restore(out, files=sorted(OPTIONAL_REGIONS))
    optional = run_suite(out, "-m", "(task1_optional or task4_optional) and not slow")
    assert optional and all(status == "passed" or msg == "no CUDA device" for status, msg in optional.values())


@pytest.mark.slow
def test_a_broken_backend_never_errors_the_other_one(tmp_path):
    """Task 1: the torchvision view written, the albumentations one raising: only its own tests fail."""
    out = tmp_path / "starter"
    make_starter(out)
    rel = "core/data/data_augmentation.py"
    text = replace_regions((REPO_ROOT / rel).read_text(), (out / rel).read_text(), rel)
    lines = text.splitlines(keepends=True)
    _, start, end = find_regions(lines, rel)[1]                    # the albumentations region
    indent = re.match(r"\s*", lines[start - 1])[0]
    lines[start:end] = [f"{indent}self.pipeline = A.Compose([A.RandomResizedCrop(size=imgSize, scale=(2.0, 1.0))])\n"]
    (out / rel).write_text("".join(lines))
    results = run_suite(out, "tests/core/data/test_data_augmentation.py", "-m", "task1")
    torchvision = {n: r for n, r in results.items() if "torchvision" in n}
    albumentations = {n: r for n, r in results.items() if "albumentations" in n}
    assert torchvision and all(status == "passed" for status, _ in torchvision.values()), \
        [(n, m[:200]) for n, (s, m) in torchvision.items() if s != "passed"][:3]
    failed = [msg for status, msg in albumentations.values() if status == "failed"]
    assert len(failed) >= 10 and all(msg.startswith("Task 1:") for msg in failed), failed[:2]

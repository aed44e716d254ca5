"""Grades a submission cannot forge: attacks written into a task region, graded on the Gradescope layout.

Each run lays the autograder out as Gradescope does, in a folder every user can traverse
(like ``/autograder``), and grades one submission with ``run_autograder``. The forged task
must get what its honest content gets (0 here: every attack ends in an error or a NaN), the
other tasks their honest score, and nothing outside the results may change. Rows that rest
on the unprivileged user (reading or deleting the instructor's files) need the suite to run
as root with a Python that user can run (``.ci/run`` picks one); elsewhere they skip.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from core.course.starter.autograder import make_autograder
from core.course.starter.generate import REPO_ROOT
from core.course.task_regions import TASK_FILES, find_regions
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.slow
LOSS = "core/nn/loss/nt_xent.py"
LATE = Path(tempfile.gettempdir()) / f"simclr-late-{os.getpid()}.txt"


def separate_user():
    """Whether the children can run as another user here (root, and ``nobody`` can run this Python)."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return False
    done = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-E", "-s", "-c", "import torch"],
                          cwd="/", capture_output=True, timeout=300)
    return done.returncode == 0


SEPARATE = separate_user()
needs_user = pytest.mark.skipif(not SEPARATE, reason="needs root and a Python the user nobody can run")

# Run A, inside forward(): patch the checks, the grader, pytest's records and the report; read the expected values.
CALL_TIME = '''
import atexit, gc, json, math, os, sys
import torch as _t
math.isclose = lambda *a, **k: True
_t.allclose = lambda *a, **k: True
_t.testing.assert_close = lambda *a, **k: None
try:
    import pytest as _p
    _p.approx = lambda expected, *a, **k: expected
except Exception:
    pass
if sys.modules.get("__main__") is not None:
    sys.modules["__main__"].score = lambda *a, **k: 1000
for _name in list(sys.modules):
    if _name.endswith("grade"):
        sys.modules[_name].score = lambda *a, **k: 1000
for _o in gc.get_objects():
    if type(_o).__name__ == "Collector":
        for _r in _o.results.values():
            _r["outcome"] = "passed"
    if type(_o).__name__ == "PytestPluginManager":
        class _Pass:
            def pytest_runtest_call(self, item):
                return True
        _o.register(_Pass())
_forged = json.dumps({"score": 1000, "tests": []})
def _forge():
    for _path in [ROOT + "/results/results.json"] + [a for a in sys.argv if a.endswith(".json")]:
        try:
            open(_path, "w").write(_forged)
        except OSError:
            pass
_forge()
atexit.register(_forge)
stored = None
for _folder, _, _files in os.walk(ROOT) if READ else ():
    if "nt_xent_cases.json" in _files:
        try:
            stored = json.load(open(os.path.join(_folder, "nt_xent_cases.json")))
        except OSError:
            pass
if stored is not None:
    loss = _t.tensor(float("nan"))
    for _case in stored["cases"]:
        if (_case["batch"], _case["dim"], _case["temperature"]) == (zA.shape[0], zA.shape[1], self.temperature):
            loss = _t.tensor(_case["loss"])
else:
    _tests = [os.path.join(f, n) for f, _, ns in os.walk(ROOT) for n in ns if n.startswith("test_")]
    _sources = "".join(open(p).read() for p in _tests[:3] if os.access(p, os.R_OK))
    raise ValueError("Task 4: " + str(_tests) + _sources + "x" * 50_000_000)
'''

# Run B, at the region's left margin (runs at import): rewrite files, fork, flood stdout, delete, exit.
IMPORT_TIME = '''
import os as _os, sys as _sys, json as _json, time as _time, shutil as _sh
for _f, _, _ns in _os.walk(ROOT + "/source"):
    for _n in _ns:
        if _n.startswith("test_") and _n.endswith(".py"):
            try:
                open(_os.path.join(_f, _n), "w").write("def test_ok():\\n    pass\\n")
            except OSError:
                pass
try:
    open(ROOT + "/outside.txt", "w").write("written by the student")
except OSError:
    pass
if _os.fork() == 0:
    _os.setsid()
    _time.sleep(4)
    try:
        open(ROOT + "/results/results.json", "w").write(_json.dumps({"score": 1000, "tests": []}))
    except OSError:
        pass
    open(LATE, "w").write("the background process outlived the grading")
    _os._exit(0)
for _ in range(600):
    _sys.stdout.write("y" * 1_000_000)
for _d in ("results", "source", "submission"):
    _sh.rmtree(ROOT + "/" + _d, ignore_errors=True)
_os._exit(0)
class _Rest:  # the file must still compile: the lines after the region become this class's
    def forward(self, zA, zB):
        loss = None
'''


def with_region(rel, index, body, indent=True):
    """The reference ``rel`` with region ``index``'s body replaced by ``body`` (at 8 spaces, or the left margin)."""
    lines = (REPO_ROOT / rel).read_text().splitlines(keepends=True)
    _, start, end = find_regions(lines, rel)[index]
    pad = " " * 8 if indent else ""
    new = [pad + line if line.strip() else line for line in body.strip("\n").splitlines(keepends=True)]
    new[-1] = new[-1].rstrip("\n") + "\n"
    return "".join(lines[:start] + new + lines[end:])


def tree_hash(folder):
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            digest.update(path.as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


class Layout:
    """An autograder unpacked like Gradescope's /autograder, in a folder every user can traverse."""

    def __init__(self, archive):
        self.base = Path(tempfile.mkdtemp(prefix="simclr-gradescope-"))
        self.base.chmod(0o755)
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(self.base / "source")
        (self.base / "source" / "run_autograder").chmod(0o755)
        self.testsHash = tree_hash(self.base / "source" / "starter" / "tests")

    def run(self, files, links=()):
        for folder in ("submission", "results"):
            target = self.base / folder
            if target.is_symlink() or target.is_file():
                target.unlink()
            shutil.rmtree(target, ignore_errors=True)
        (self.base / "submission").mkdir(mode=0o755)
        (self.base / "results").mkdir(mode=0o755)
        for rel, text in files.items():
            path = self.base / "submission" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for rel, target in links:
            (self.base / "submission" / rel).symlink_to(target, target_is_directory=True)
        env = dict(os.environ, SIMCLR_GRADESCOPE_ROOT=str(self.base), SIMCLR_AUTOGRADER_PYTHON=sys.executable,
                   SIMCLR_TASK_TIMEOUT="100")
        if not SEPARATE:
            env["SIMCLR_SANDBOX_STRICT"] = ""
        start = time.monotonic()
        done = subprocess.run([str(self.base / "source" / "run_autograder")], env=env, capture_output=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        out = self.base / "results" / "results.json"
        return {"done": done, "seconds": time.monotonic() - start, "size": out.stat().st_size,
                "results": json.loads(out.read_text()), "text": out.read_text()}


def scores(run):
    return {t["name"].split(":")[0]: t["score"] for t in run["results"]["tests"] if "optional" not in t["name"]}


def task(run, number):
    return next(t for t in run["results"]["tests"] if t["name"].startswith(f"Task {number}:"))


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    archive = make_autograder(tmp_path_factory.mktemp("zip") / "simclr_autograder.zip", points=(30, 20, 20, 30))
    made = Layout(archive)
    yield made
    shutil.rmtree(made.base, ignore_errors=True)
    LATE.unlink(missing_ok=True)


def reference(rels):
    return {rel: (REPO_ROOT / rel).read_text() for rel in rels}


@pytest.fixture(scope="module")
def call_time_run(layout, tmp_path_factory):
    """The call-time attacks in Task 4; Tasks 1-2 the reference and Task 3 with a NUL byte in a comment, all one
    folder deeper; ``core/`` a link to a folder outside holding a correct loss (a followed link would give 30)."""
    outside = tmp_path_factory.mktemp("outside")
    for rel in (LOSS, "core/nn/loss/nt_xent_distributed.py"):
        (outside / rel).parent.mkdir(parents=True, exist_ok=True)
        (outside / rel).write_text((REPO_ROOT / rel).read_text())
    files = {f"sub/{rel}": text for rel, text in reference(set(TASK_FILES) - {LOSS}).items()}
    # reading the instructor's files is stopped by the unprivileged user: tried only where there is one
    attack = CALL_TIME.replace("ROOT", repr(str(layout.base))).replace("READ", repr(SEPARATE))
    files[f"sub/{LOSS}"] = with_region(LOSS, 0, attack)
    simclr = "sub/core/nn/networks/simclr.py"
    files[simclr] = files[simclr].replace("                lastActiv=None,\n",
                                          "                lastActiv=None,  # no activation on z \x00\n")
    return layout.run(files, links=[("core", outside / "core")])


@pytest.fixture(scope="module")
def import_time_run(layout):
    """Only Task 4 submitted: lines at the region's left margin that run when the file is imported."""
    body = IMPORT_TIME.replace("ROOT", repr(str(layout.base))).replace("LATE", repr(str(LATE)))
    run = layout.run({LOSS: with_region(LOSS, 0, body, indent=False)})
    time.sleep(6)                                     # longer than the background process waits
    run["after"] = (layout.base / "results" / "results.json").read_text()
    return run


def test_call_time_attacks_score_zero_and_the_other_tasks_their_honest_score(call_time_run):
    assert call_time_run["done"].returncode == 0
    assert scores(call_time_run) == {"Task 1": 30, "Task 2": 20, "Task 3": 0, "Task 4": 0}, scores(call_time_run)
    assert call_time_run["results"]["score"] == 50


@pytest.mark.parametrize("row", ["atexit rewrites the report", "the grader's scoring replaced through __main__",
                                 "pytest's records marked passed through gc", "a pytest plugin that passes every call",
                                 "pytest.approx, math.isclose, torch.allclose and assert_close replaced"])
def test_code_in_the_region_cannot_reach_the_judge(call_time_run, row):
    task4 = task(call_time_run, 4)
    assert task4["score"] == 0 and task4["status"] == "failed", row
    assert "0 of 33 tests passed" in task4["output"], task4["output"][:300]


@needs_user
def test_the_expected_values_and_the_tests_cannot_be_read(call_time_run):
    output = task(call_time_run, 4)["output"]
    assert task(call_time_run, 4)["score"] == 0
    assert "def test_" not in call_time_run["text"] and "test_nt_xent" not in call_time_run["text"], output[:500]


def test_a_huge_exception_message_leaves_a_small_bounded_report(call_time_run):
    assert "- Task 4: [" in task(call_time_run, 4)["output"]                  # the message is shown, clipped
    assert call_time_run["size"] < 200_000 and len(task(call_time_run, 4)["output"]) <= 8000


def test_import_time_attacks_score_zero_and_change_nothing(import_time_run, layout):
    run = import_time_run
    assert run["done"].returncode == 0 and scores(run)["Task 4"] == 0
    assert run["after"] == run["text"]                               # nothing rewrote the report afterwards
    assert not LATE.exists(), "a process the student's code started outlived the grading"
    assert run["size"] < 200_000 and run["seconds"] < 300


@needs_user
def test_import_time_attacks_cannot_touch_the_instructors_files(import_time_run, layout):
    assert tree_hash(layout.base / "source" / "starter" / "tests") == layout.testsHash
    assert not (layout.base / "outside.txt").exists()
    assert (layout.base / "source" / "starter").is_dir() and (layout.base / "submission").is_dir()


def test_a_linked_folder_is_not_followed_and_a_nul_byte_costs_only_its_task(call_time_run):
    assert scores(call_time_run)["Task 4"] == 0 and "0 of 33 tests passed" in task(call_time_run, 4)["output"]
    assert scores(call_time_run)["Task 2"] == 20
    output = task(call_time_run, 3)["output"]
    assert "NUL byte" in output and "tests/" not in output, output
